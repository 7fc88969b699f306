import assert from "node:assert/strict";
import { join } from "node:path";
import {
  containersUnder,
  Fixture,
  git,
  incusExec,
  repositoryState,
  run,
  type RunResult,
  waitForProcess,
} from "./helpers.ts";

/**
 * Repository hooks run in the sandbox whether git runs on the host or
 * through the bridge. Each hook writes where it ran into `hook.log` in the
 * worktree: `uname -n` (the container's name inside a sandbox) and whether
 * `/etc/locki/BRIDGE.md`, which exists only inside sandboxes, is there.
 */
const WHERE = `$(uname -n) inside=$(test -e /etc/locki/BRIDGE.md && echo yes || echo no)`;

interface HookSetup {
  fx: Fixture;
  container: string;
  worktree: string;
  origin: string;
  hooks: string;
}

async function setUp(branch: string): Promise<HookSetup> {
  const fx = await Fixture.create();
  await Deno.writeTextFile(join(fx.repo, ".gitignore"), "hook.log\n");
  await git(fx.repo, "add", ".gitignore");
  await git(fx.repo, "commit", "-q", "-m", "ignore the hook log");
  const origin = join(fx.root, "origin.git");
  await git(fx.root, "clone", "-q", "--bare", fx.repo, origin);
  await git(fx.repo, "remote", "add", "origin", origin);
  const hooks = join(fx.repo, ".git", "hooks");
  await writeHook(
    hooks,
    "pre-commit",
    `echo "pre-commit ${WHERE}" >> hook.log
if git diff --cached --name-only | grep -q '^BAD'; then
  echo "pre-commit: BAD files may not be committed" >&2
  exit 1
fi`,
  );
  await writeHook(
    hooks,
    "commit-msg",
    `sed -i 's/^/[checked] /' "$1"
echo "commit-msg ${WHERE}" >> hook.log`,
  );
  await writeHook(
    hooks,
    "pre-push",
    `echo "pre-push ${WHERE} remote=$1" >> hook.log
while read -r local_ref local_sha remote_ref remote_sha; do
  echo "pushing $local_ref to $remote_ref" >> hook.log
done`,
  );
  const created = await fx.lockiOk(["shell", branch, "--", "pwd"]);
  const [container] = await containersUnder(fx.lockiHome);
  return { fx, container: container.name, worktree: created.stdout.trim(), origin, hooks };
}

async function writeHook(folder: string, name: string, body: string, mode = 0o755) {
  await Deno.mkdir(folder, { recursive: true });
  await Deno.writeTextFile(join(folder, name), `#!/bin/sh\n${body}\n`, { mode });
  await Deno.chmod(join(folder, name), mode);
}

function hostGit(setup: HookSetup, ...args: string[]): Promise<RunResult> {
  return run(["git", ...args], { cwd: setup.worktree });
}

function bridgedGit(setup: HookSetup, ...args: string[]): Promise<RunResult> {
  return run(["incus", "exec", setup.container, "--cwd", setup.worktree, "--", "git", ...args]);
}

async function hookLog(setup: HookSetup): Promise<string> {
  return await Deno.readTextFile(join(setup.worktree, "hook.log")).catch(() => "");
}

function assertOk(result: RunResult, what: string) {
  assert.equal(result.code, 0, `${what} failed:\n${result.stdout}\n${result.stderr}`);
}

for (const via of ["host", "bridge"] as const) {
  Deno.test(`hooks run inside the sandbox when git runs on the ${via}`, async () => {
    const setup = await setUp(`hooks-${via}`);
    const runGit = via === "host" ? hostGit : bridgedGit;
    try {
      const inside = `${setup.container} inside=yes`;
      await Deno.writeTextFile(join(setup.worktree, "feature.txt"), "feature\n");
      assertOk(await runGit(setup, "add", "feature.txt"), "git add");
      assertOk(await runGit(setup, "commit", "-q", "-m", "add feature"), "git commit");
      assert.equal(
        await git(setup.worktree, "log", "-1", "--format=%s"),
        "[checked] add feature",
        "the commit-msg hook's rewrite of the message is kept",
      );
      const log = await hookLog(setup);
      assert.match(log, new RegExp(`^pre-commit ${inside}$`, "m"));
      assert.match(log, new RegExp(`^commit-msg ${inside}$`, "m"));
      assert.doesNotMatch(log, /inside=no/);

      // The pre-commit hook lists the staged files with git (through the
      // bridge, on the index git is committing) and rejects a BAD one.
      const head = await git(setup.worktree, "rev-parse", "HEAD");
      await Deno.writeTextFile(join(setup.worktree, "BAD.txt"), "bad\n");
      assertOk(await runGit(setup, "add", "BAD.txt"), "git add");
      const refused = await runGit(setup, "commit", "-q", "-m", "add a bad file");
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /BAD files may not be committed/);
      assert.equal(await git(setup.worktree, "rev-parse", "HEAD"), head);
      assertOk(await runGit(setup, "restore", "--staged", "BAD.txt"), "git restore");
      await Deno.remove(join(setup.worktree, "BAD.txt"));

      assertOk(await runGit(setup, "push", "-q", "origin", `hooks-${via}`), "git push");
      const pushed = await hookLog(setup);
      assert.match(pushed, new RegExp(`^pre-push ${inside} remote=origin$`, "m"));
      assert.match(
        pushed,
        new RegExp(`^pushing refs/heads/hooks-${via} to refs/heads/hooks-${via}$`, "m"),
      );
      assert.equal(
        await git(setup.origin, "rev-parse", `refs/heads/hooks-${via}`),
        await git(setup.worktree, "rev-parse", "HEAD"),
      );
    } finally {
      await setup.fx.dispose();
    }
  });
}

Deno.test("the repository's core.hooksPath is honoured, and a stopped sandbox is started for a hook", async () => {
  const setup = await setUp("hooks-path");
  try {
    // With no hook, a host commit leaves the stopped sandbox alone.
    await Deno.remove(setup.hooks, { recursive: true });
    assertOk(await run(["incus", "stop", setup.container]), "incus stop");
    await Deno.writeTextFile(join(setup.worktree, "one.txt"), "1\n");
    assertOk(await hostGit(setup, "add", "one.txt"), "git add");
    assertOk(await hostGit(setup, "commit", "-q", "-m", "one"), "git commit without hooks");
    const [stopped] = await containersUnder(setup.fx.lockiHome);
    assert.equal(stopped.status, "Stopped");

    // A hooks folder inside the worktree, like husky's, runs in place.
    await git(setup.fx.repo, "config", "core.hooksPath", ".githooks");
    await writeHook(
      join(setup.worktree, ".githooks"),
      "pre-commit",
      `echo "githooks ${WHERE} in=$(pwd)" >> hook.log`,
    );
    assertOk(await hostGit(setup, "add", ".githooks"), "git add");
    const committed = await hostGit(setup, "commit", "-q", "-m", "add hooks");
    assertOk(committed, "git commit with a hook");
    const [running] = await containersUnder(setup.fx.lockiHome);
    assert.equal(running.status, "Running");
    assert.match(
      await hookLog(setup),
      new RegExp(`^githooks ${setup.container} inside=yes in=${setup.worktree}$`, "m"),
    );

    // Set after the sandbox was made, the repository's hooks folder also
    // serves commits through the bridge, and the guard hooks stay on.
    await Deno.writeTextFile(join(setup.worktree, "two.txt"), "2\n");
    assertOk(await bridgedGit(setup, "add", "two.txt"), "git add");
    assertOk(await bridgedGit(setup, "commit", "-q", "-m", "two"), "bridged commit with a hook");
    const log = await hookLog(setup);
    assert.equal(log.match(/^githooks /gm)?.length, 2, "the hook ran for the bridged commit too");
  } finally {
    await setup.fx.dispose();
  }
});

Deno.test("hooks that misbehave behave as they would under plain git", async () => {
  const setup = await setUp("hooks-bad");
  const commit = async (name: string) => {
    await Deno.writeTextFile(join(setup.worktree, name), `${name}\n`);
    assertOk(await hostGit(setup, "add", name), "git add");
    return await hostGit(setup, "commit", "-q", "-m", name);
  };
  try {
    await Deno.remove(join(setup.hooks, "commit-msg"));

    // Not executable: skipped with git's own hint.
    await writeHook(setup.hooks, "pre-commit", "exit 1", 0o644);
    const skipped = await commit("a.txt");
    assertOk(skipped, "commit with a non-executable hook");
    assert.match(skipped.stderr, /hook was ignored because it's not set as executable/);

    // CRLF line endings: the interpreter is not found, and the commit fails.
    await Deno.writeTextFile(join(setup.hooks, "pre-commit"), "#!/bin/sh\r\nexit 0\r\n", {
      mode: 0o755,
    });
    const crlf = await commit("b.txt");
    assert.notEqual(crlf.code, 0, "plain git refuses a CRLF hook too");

    // Reading stdin: git gives pre-commit no input, so the hook does not hang.
    await writeHook(setup.hooks, "pre-commit", `cat >/dev/null\necho read-stdin >> hook.log`);
    assertOk(await commit("c.txt"), "commit with a hook reading stdin");
    assert.match(await hookLog(setup), /^read-stdin$/m);

    // A lot of output arrives whole.
    await writeHook(setup.hooks, "pre-commit", `seq 1 200000`);
    const loud = await commit("d.txt");
    assertOk(loud, "commit with a loud hook");
    // git sends a hook's stdout to its own stderr.
    const lines = loud.stderr.split("\n").filter((line) => /^[0-9]+$/.test(line));
    assert.equal(lines.length, 200000);
    assert.equal(lines.at(-1), "200000");

    // Ctrl-C on the host stops the hook in the sandbox too.
    // sleep is the hook's child, not the hook itself: Ctrl-C stops both.
    await writeHook(setup.hooks, "pre-commit", `echo started >> hook.log\nsleep 300\necho after`);
    await Deno.writeTextFile(join(setup.worktree, "e.txt"), "e\n");
    assertOk(await hostGit(setup, "add", "e.txt"), "git add");
    const child = new Deno.Command("setsid", {
      args: ["git", "commit", "-q", "-m", "e"],
      cwd: setup.worktree,
      stdout: "null",
      stderr: "null",
    }).spawn();
    assert.ok(
      await waitForProcess(setup.container, "sleep 300", true),
      "the command started in the sandbox",
    );
    // As Ctrl-C does: SIGINT to git's whole process group.
    assertOk(await run(["kill", "-INT", "--", `-${child.pid}`]), "kill");
    const status = await child.status;
    assert.notEqual(status.code, 0);
    assert.ok(
      await waitForProcess(setup.container, "sleep 300", false),
      "the hook was stopped in the sandbox",
    );
  } finally {
    await setup.fx.dispose();
  }
});

Deno.test("a modified worktree is refused, shown by ls, and restored by repair", async () => {
  const setup = await setUp("hooks-tamper");
  const { fx, worktree } = setup;
  try {
    const gitDir = (await Deno.readTextFile(join(worktree, ".git"))).trim().slice(8);
    const configFile = join(gitDir, "config.worktree");
    const recordedConfig = await Deno.readTextFile(configFile);
    await Deno.writeTextFile(join(worktree, "x.txt"), "x\n");

    // The sandbox cannot rewrite its `.git` pointer at all.
    const forge = await incusExec(
      setup.container,
      "sh",
      "-c",
      `echo 'gitdir: ${fx.repo}/.git' > ${worktree}/.git`,
    );
    assert.notEqual(forge.code, 0);
    assert.match(forge.stderr, /Read-only file system/);

    // Changed on the host: a pointer to the main repository's git folder.
    const before = await repositoryState(fx.repo);
    await Deno.writeTextFile(join(worktree, ".git"), `gitdir: ${fx.repo}/.git\n`);
    const denied = await bridgedGit(setup, "commit", "-q", "-m", "x");
    assert.equal(denied.code, 126, denied.stderr);
    assert.match(denied.stderr, /was modified/);
    assert.match(denied.stderr, /locki repair hooks-tamper/);
    const listed = await fx.sandboxes();
    assert.deepEqual(listed[0].modified, [join(worktree, ".git")]);
    const repaired = await fx.lockiOk(["repair", "hooks-tamper", "--json"]);
    const report = JSON.parse(repaired.stdout);
    assert.equal(report.problems[0].part, "pointer");
    assert.equal(report.problems[0].found, `gitdir: ${fx.repo}/.git`);
    assert.equal((await Deno.readTextFile(join(worktree, ".git"))).trim(), `gitdir: ${gitDir}`);
    assert.equal(await repositoryState(fx.repo), before);

    // A per-worktree core.hooksPath forged to run a host script.
    const marker = join(fx.root, "evil-ran");
    const evil = join(fx.root, "evil-hooks");
    await writeHook(evil, "pre-commit", `touch ${marker}`);
    await git(fx.root, "config", "--file", configFile, "core.hooksPath", evil);
    const refused = await bridgedGit(setup, "commit", "-q", "-m", "x");
    assert.equal(refused.code, 126, refused.stderr);
    assert.match(refused.stderr, /config\.worktree/);
    assert.equal(await Deno.stat(marker).then(() => true, () => false), false);
    assert.equal(await repositoryState(fx.repo), before);
    const dryRun = await fx.locki(["repair", "--dry-run"], { cwd: worktree });
    assert.equal(dryRun.code, 1, "a dry run that finds differences exits 1");
    assert.match(dryRun.stdout, new RegExp(evil));
    assertOk(await fx.locki(["repair"], { cwd: worktree }), "locki repair");
    assert.equal(await Deno.readTextFile(configFile), recordedConfig);

    // Another key added next to Locki's: the wrapper refuses the host commit.
    await git(fx.root, "config", "--file", configFile, "user.name", "Someone Else");
    assertOk(await hostGit(setup, "add", "x.txt"), "git add");
    const wrapped = await hostGit(setup, "commit", "-q", "-m", "x");
    assert.notEqual(wrapped.code, 0);
    assert.match(wrapped.stderr, /was modified/);
    assert.match(wrapped.stderr, /locki repair hooks-tamper/);
    assert.equal(
      await git(fx.repo, "rev-parse", "refs/heads/hooks-tamper"),
      await git(fx.repo, "rev-parse", "main"),
    );
    assertOk(await fx.locki(["repair", "hooks-tamper"]), "locki repair");

    assertOk(await bridgedGit(setup, "commit", "-q", "-m", "x"), "commit after repair");
    assert.match(
      await hookLog(setup),
      new RegExp(`^pre-commit ${setup.container} inside=yes$`, "m"),
    );
    assert.deepEqual((await fx.sandboxes())[0].modified, []);
  } finally {
    await setup.fx.dispose();
  }
});

Deno.test("interrupting a commit in the sandbox cancels it and its hook", async () => {
  const setup = await setUp("hooks-cancel");
  try {
    await writeHook(setup.hooks, "pre-commit", `sleep 300\necho finished >> hook.log`);
    await Deno.writeTextFile(join(setup.worktree, "late.txt"), "late\n");
    assertOk(await bridgedGit(setup, "add", "late.txt"), "git add");
    const head = await git(setup.worktree, "rev-parse", "HEAD");
    const client = new Deno.Command("incus", {
      args: [
        "exec",
        setup.container,
        "--cwd",
        setup.worktree,
        "--",
        "git",
        "commit",
        "-q",
        "-m",
        "late",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    assert.ok(
      await waitForProcess(setup.container, "sleep 300", true),
      "the command started in the sandbox",
    );
    // As Ctrl-C in the sandbox does: the git shim's client goes away.
    assertOk(await incusExec(setup.container, "pkill", "-INT", "-x", "ssh"), "pkill ssh");
    await client.status;
    assert.ok(await waitForProcess(setup.container, "sleep 300", false), "the hook was stopped");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(await git(setup.worktree, "rev-parse", "HEAD"), head, "no commit was made");
    assert.doesNotMatch(await hookLog(setup), /finished/);
  } finally {
    await setup.fx.dispose();
  }
});
