import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { containersUnder, Fixture, git, run } from "./helpers.ts";

/**
 * One sandbox with a bare `origin`, shared by the cases below. Commands run
 * inside the container with the real OpenSSH client behind the git shim,
 * against the real daemon.
 */
interface BridgeSetup {
  fx: Fixture;
  container: string;
  worktree: string;
  origin: string;
  branch: string;
}

async function setUp(branch: string): Promise<BridgeSetup> {
  const fx = await Fixture.create();
  await Deno.mkdir(join(fx.repo, "src"));
  await Deno.writeTextFile(join(fx.repo, "src", "app.ts"), "export const answer = 41;\n");
  await git(fx.repo, "add", ".");
  await git(fx.repo, "commit", "-q", "-m", "add app");
  const origin = join(fx.root, "origin.git");
  await git(fx.root, "clone", "-q", "--bare", fx.repo, origin);
  await git(fx.repo, "remote", "add", "origin", origin);
  await git(fx.repo, "fetch", "-q", "origin");
  const created = await fx.lockiOk(["shell", branch, "--", "pwd"]);
  const worktree = created.stdout.trim();
  const [container] = await containersUnder(fx.lockiHome);
  return { fx, container: container.name, worktree, origin, branch };
}

/** Runs a command in the sandbox through `incus exec`, in the worktree or a folder below it. */
function inSandbox(
  setup: BridgeSetup,
  argv: string[],
  options: { cwd?: string; stdin?: string } = {},
) {
  return run([
    "incus",
    "exec",
    setup.container,
    "--cwd",
    options.cwd ?? setup.worktree,
    "--",
    ...argv,
  ], {
    stdin: options.stdin,
  });
}

/** Everything on the host that a refused command must leave byte-for-byte as it was. */
async function hostSnapshot(setup: BridgeSetup): Promise<string> {
  const { fx, worktree, origin } = setup;
  const parts = [
    await git(fx.repo, "for-each-ref", "--format=%(refname) %(objectname)"),
    await git(origin, "for-each-ref", "--format=%(refname) %(objectname)"),
    await Deno.readTextFile(join(fx.repo, ".git", "config")),
    await git(fx.repo, "worktree", "list", "--porcelain"),
    await git(fx.repo, "stash", "list", "--format=%H"),
    await git(fx.repo, "status", "--porcelain"),
    await git(worktree, "status", "--porcelain", "--untracked-files=all"),
    await git(worktree, "rev-parse", "HEAD"),
  ];
  for (const file of ["src/app.ts", "README.md"]) {
    parts.push(await Deno.readTextFile(join(worktree, file)).catch(() => "(missing)"));
  }
  const hooks = await Array.fromAsync(Deno.readDir(join(fx.repo, ".git", "hooks")));
  parts.push(hooks.map((entry) => entry.name).sort().join(","));
  return createHash("sha256").update(parts.join("\n\0")).digest("hex");
}

Deno.test("bridge refuses hostile commands", async () => {
  const setup = await setUp("fix-42");
  const { fx, worktree, origin } = setup;
  try {
    // Context for some cases: a stash the sandbox did not make, a tag, a
    // symlink out of the worktree, a file outside it.
    await Deno.writeTextFile(join(fx.repo, "README.md"), "host change\n");
    await git(fx.repo, "stash", "push", "-q", "-m", "host stash");
    await git(fx.repo, "tag", "v1");
    await Deno.symlink("/etc", join(worktree, "escape"));
    await Deno.writeTextFile(join(worktree, ".gitignore"), "escape\n");
    await git(worktree, "add", ".gitignore");
    await git(
      worktree,
      "-c",
      "user.email=a@b",
      "-c",
      "user.name=a",
      "commit",
      "-q",
      "-m",
      "ignore escape",
    );
    // Pushed, so --amend must be refused.
    await git(worktree, "push", "-q", "origin", "fix-42");
    await Deno.writeTextFile(join(fx.root, "outside.txt"), "outside\n");
    await Deno.writeTextFile(join(worktree, "src", "app.ts"), "export const answer = 42;\n");

    const hostile: string[][] = [
      ["reset", "--hard"],
      ["reset", "--hard", "HEAD~1"],
      ["checkout", "."],
      ["checkout", "main"],
      ["checkout", "--", "src/app.ts"],
      ["clean", "-fdx"],
      ["config", "user.name", "evil"],
      ["config", "--global", "core.pager", "touch /tmp/pwned"],
      ["-c", "core.pager=touch /tmp/pwned", "log"],
      ["-ccore.pager=touch /tmp/pwned", "log"],
      ["--config-env=core.pager=HOME", "log"],
      ["--git-dir=/tmp", "status"],
      ["--work-tree=/", "status"],
      ["--exec-path=/tmp", "status"],
      ["-p", "log"],
      ["-C", "/", "status"],
      ["-C", "..", "status"],
      ["-C", fx.repo, "status"],
      ["-C", "escape", "status"],
      ["log", "--output=/tmp/pwned"],
      ["log", "--outp=/tmp/pwned"],
      ["diff", "--ext-diff"],
      ["diff", "--textconv"],
      ["diff", "--no-index", "/etc/passwd", "/etc/hostname"],
      ["show", "--ext"],
      ["worktree", "add", "/tmp/other"],
      ["worktree", "list"],
      ["remote", "add", "evil", "/tmp/evil"],
      ["remote", "set-url", "origin", "/tmp/evil"],
      ["update-ref", "refs/heads/main", "HEAD"],
      ["symbolic-ref", "HEAD", "refs/heads/main"],
      ["filter-branch", "--force", "HEAD"],
      ["push", "--force", "origin", "main"],
      ["push", "origin", "HEAD:main"],
      ["push", "origin", "+HEAD:refs/heads/main"],
      ["push", "origin", ":main"],
      ["push", "--delete", "origin", "main"],
      ["push", "--mirror", "origin"],
      ["push", "--all", "origin"],
      ["push", "--tags", "origin"],
      ["push", "origin", "refs/tags/v1"],
      ["push", origin, "HEAD"],
      ["push", "--receive-pack=touch /tmp/pwned", "origin", "HEAD"],
      ["push", "--rec=touch /tmp/pwned", "origin", "HEAD"],
      ["push", "--exec=touch /tmp/pwned", "origin", "HEAD"],
      ["push", "origin", "main:fix-42"],
      ["fetch", "--upload-pack=touch /tmp/pwned", "origin"],
      ["fetch", "origin", "main:main"],
      ["fetch", "ext::sh -c touch% /tmp/pwned", "main"],
      ["pull", "--upload-pack=touch /tmp/pwned"],
      ["commit", "--amend", "-m", "rewrite the base commit"],
      ["commit", "--no-verify", "-am", "skip hooks"],
      ["commit", "-F", "/etc/passwd"],
      ["commit", "--template=/etc/passwd"],
      ["switch", "main"],
      ["switch", "-c", "other-branch"],
      ["switch", "-"],
      ["branch", "-D", "main"],
      ["branch", "-f", "main", "HEAD"],
      ["branch", "-m", "main", "fix-42.stolen"],
      ["branch", "--set-upstream-to=origin/main", "main"],
      ["branch", "--end-of-options", "-rf"],
      ["stash", "drop", "stash@{0}"],
      ["stash", "pop"],
      ["stash", "clear"],
      ["rebase", "-i", "HEAD~1"],
      ["rebase", "--exec=touch /tmp/pwned", "HEAD~1"],
      ["rebase", "HEAD", "main"],
      ["add", "../outside.txt"],
      ["add", "/etc/passwd"],
      ["add", "escape/passwd"],
      ["tag", "v2"],
      ["tag", "-d", "v1"],
      ["notes", "add", "-m", "x"],
      ["apply", "/tmp/x.patch"],
      ["am", "/tmp/x.mbox"],
      ["bundle", "create", "/tmp/x.bundle", "HEAD"],
      ["submodule", "update", "--init"],
      ["gc"],
      ["replace", "HEAD", "HEAD~1"],
      ["archive", "--output=/tmp/x.tar", "HEAD"],
      ["rev-parse", "--git-path", "hooks"],
      ["log", "--format=\x1b[31m"],
      ["status", "--porcelain", "--untracked-files=\x07"],
    ];
    assert.ok(hostile.length >= 60, `${hostile.length} hostile cases`);
    const before = await hostSnapshot(setup);
    for (const args of hostile) {
      const result = await inSandbox(setup, ["git", ...args]);
      const shown = JSON.stringify(args);
      assert.equal(
        result.code,
        126,
        `${shown} must be denied, got ${result.code}: ${result.stderr}`,
      );
      assert.match(
        result.stderr,
        /locki bridge: denied by rule '[^']+': /,
        `${shown}: ${result.stderr}`,
      );
      assert.equal(
        await hostSnapshot(setup),
        before,
        `${shown} left the host repository unchanged`,
      );
    }
    assert.equal(
      await run(["test", "-e", "/tmp/pwned"]).then((r) => r.code),
      1,
      "no program ran on the host",
    );

    // From a folder reached through a symlink, even an allowed command is refused.
    const throughLink = await inSandbox(setup, ["git", "status"], {
      cwd: join(worktree, "escape"),
    });
    assert.equal(throughLink.code, 126);
    assert.match(throughLink.stderr, /symlink|outside/);

    // gh is pinned to its own allowlist too.
    for (
      const args of [["api", "/user"], ["auth", "token"], ["alias", "set", "x", "y"], [
        "pr",
        "merge",
        "1",
      ]]
    ) {
      const result = await inSandbox(setup, ["gh", ...args]);
      assert.equal(result.code, 126, `gh ${args.join(" ")}: ${result.stderr}`);
    }

    const log = await Deno.readTextFile(join(fx.lockiHome, "state", "logs", "daemon.log"));
    assert.match(log, /denied sandbox app-fix-42-\w+: .*'reset' '--hard'/);
    assert.match(log, /daemon started/);
  } finally {
    await setup.fx.dispose();
  }
});

/** Runs git directly on the host in the worktree, as the reference for read-only commands. */
function hostGit(setup: BridgeSetup, args: string[], cwd = setup.worktree) {
  return run(["git", "-c", "core.pager=cat", ...args], {
    cwd,
    env: { GIT_PAGER: "cat", NO_COLOR: "1" },
  });
}

Deno.test("bridge runs everyday agent commands", async () => {
  const setup = await setUp("feature");
  const { fx, worktree, origin } = setup;
  const ok = async (args: string[], options: { cwd?: string; stdin?: string } = {}) => {
    const result = await inSandbox(setup, ["git", ...args], options);
    assert.equal(result.code, 0, `git ${args.join(" ").slice(0, 200)} failed: ${result.stderr}`);
    return result;
  };
  const sameAsHost = async (args: string[], cwd?: string) => {
    const through = await ok(args, { cwd });
    const direct = await hostGit(setup, args, cwd);
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(
      through.stdout,
      direct.stdout,
      `git ${args.join(" ")} prints what host git prints`,
    );
  };
  let count = 0;
  try {
    await Deno.writeTextFile(join(worktree, "src", "app.ts"), "export const answer = 42;\n");
    await Deno.writeTextFile(join(worktree, "notes.md"), "notes\n");
    for (
      const args of [
        ["status"],
        ["status", "-s"],
        ["status", "--porcelain"],
        ["status", "--porc"],
        ["diff"],
        [
          "diff",
          "--stat",
        ],
        ["log", "--oneline", "-n", "20"],
        ["log", "-20"],
        ["log", "--oneline", "--graph", "--all"],
        [
          "log",
          "-1",
          "--format=%H %s",
        ],
        ["show", "HEAD"],
        ["show", "HEAD:README.md"],
        ["show", "--stat", "HEAD"],
        ["blame", "README.md"],
        [
          "diff",
          "HEAD~1",
          "--",
          "src/",
        ],
        ["log", "src/"],
        ["rev-parse", "HEAD"],
        ["rev-parse", "--abbrev-ref", "HEAD"],
        [
          "rev-parse",
          "--show-toplevel",
        ],
        ["ls-files"],
        ["branch"],
        ["branch", "--show-current"],
        ["reflog", "-3"],
      ]
    ) {
      await sameAsHost(args);
      count++;
    }
    await sameAsHost(["status", "-s"], join(worktree, "src"));
    await sameAsHost(["-C", worktree, "status"]);
    await sameAsHost(["-C", "src", "status", "--short"]);
    const noPager = await ok(["--no-pager", "log", "--oneline"]);
    assert.match(noPager.stdout, /add app/);
    count += 4;

    await ok(["add", "src/app.ts"]);
    assert.match((await ok(["diff", "--cached", "--name-only"])).stdout, /src\/app\.ts/);
    await ok(["restore", "--staged", "src/app.ts"]);
    assert.equal((await ok(["diff", "--cached", "--name-only"])).stdout, "");
    await ok(["commit", "-am", "answer 42"]);
    assert.equal(await git(worktree, "log", "-1", "--format=%s"), "answer 42");
    assert.equal(
      await git(worktree, "log", "-1", "--format=%ae"),
      "dev@example.com",
      "the user's identity is kept",
    );
    await ok(["add", "notes.md"]);
    await ok(["commit", "-m", "subject line", "-m", "body paragraph"]);
    assert.equal(await git(worktree, "log", "-1", "--format=%B"), "subject line\n\nbody paragraph");
    await ok(["commit", "--amend", "-m", "notes"]);
    await ok(["commit", "--amend", "--no-edit"]);
    assert.equal(await git(worktree, "log", "-1", "--format=%s"), "notes");
    await ok(["commit", "-F", "-", "--allow-empty"], { stdin: "message from stdin\n" });
    assert.equal(await git(worktree, "log", "-1", "--format=%s"), "message from stdin");
    count += 10;

    // Thousands of paths in one git add.
    const many = join(worktree, "many");
    await Deno.mkdir(many);
    const names = Array.from(
      { length: 3000 },
      (_, i) => `many/file-${String(i).padStart(4, "0")}.txt`,
    );
    for (const name of names) await Deno.writeTextFile(join(worktree, name), `${name}\n`);
    await ok(["add", ...names]);
    assert.equal((await git(worktree, "diff", "--cached", "--name-only")).split("\n").length, 3000);
    await ok(["commit", "-q", "-m", "many files"]);
    await ok(["rm", "-q", "--cached", "many/file-0000.txt"]);
    await ok(["mv", "many/file-0001.txt", "many/renamed.txt"]);
    await ok(["restore", "--staged", "many/file-0000.txt"]);
    await ok(["restore", "many/renamed.txt"]);
    count += 5;

    await ok(["branch", "feature.alt"]);
    await ok(["switch", "feature.alt"]);
    assert.equal((await ok(["branch", "--show-current"])).stdout.trim(), "feature.alt");
    await ok(["switch", "feature"]);
    await ok(["switch", "-c", "feature.new"]);
    await ok(["switch", "feature"]);
    await ok(["branch", "-d", "feature.new"]);
    count += 7;

    await Deno.writeTextFile(join(worktree, "README.md"), "stashed change\n");
    await ok(["stash"]);
    assert.match((await ok(["stash", "list"])).stdout, /stash@\{0\}/);
    await ok(["stash", "pop"]);
    assert.equal(await Deno.readTextFile(join(worktree, "README.md")), "stashed change\n");
    await ok(["stash", "push", "-m", "second"]);
    await ok(["stash", "drop"]);
    await Deno.writeTextFile(join(worktree, "untracked.txt"), "new\n");
    await ok(["stash", "-u", "-m", "with untracked"]);
    assert.equal(
      await Deno.readTextFile(join(worktree, "untracked.txt")).catch(() => "gone"),
      "gone",
    );
    await ok(["stash", "pop"]);
    assert.equal(await Deno.readTextFile(join(worktree, "untracked.txt")), "new\n");
    await Deno.remove(join(worktree, "untracked.txt"));
    count += 7;

    // From outside the worktree with -C, and from a login shell, whose
    // /etc/profile resets PATH.
    const fromRoot = await inSandbox(setup, ["git", "-C", worktree, "status", "--short"], {
      cwd: "/",
    });
    assert.equal(fromRoot.code, 0, fromRoot.stderr);
    const login = await inSandbox(setup, [
      "bash",
      "-lc",
      "command -v git; git rev-parse --abbrev-ref HEAD",
    ]);
    assert.equal(login.stdout, "/opt/locki/bin/git\nfeature\n", login.stderr);
    assert.match((await ok(["remote", "-v"])).stdout, /^origin\t/);
    count += 3;

    await ok(["push", "-u", "origin", "HEAD"]);
    assert.equal(
      await git(origin, "rev-parse", "feature"),
      await git(worktree, "rev-parse", "HEAD"),
    );
    await ok(["commit", "--allow-empty", "-m", "after push"]);
    await ok(["push"]);
    await ok(["push", "origin", "feature"]);
    await ok(["push", "--force-with-lease", "origin", "HEAD"]);
    await ok(["fetch", "origin"]);
    await ok(["pull", "--ff-only"]);
    await ok(["pull", "origin", "main"]);
    count += 7;

    // Upstream moves on with a conflicting change; rebase, resolve, continue.
    await Deno.writeTextFile(join(fx.repo, "src", "app.ts"), "export const answer = 40;\n");
    await git(fx.repo, "commit", "-q", "-am", "main changes the answer");
    const mainHead = await git(fx.repo, "rev-parse", "main");
    const rebase = await inSandbox(setup, ["git", "rebase", "main"]);
    assert.notEqual(rebase.code, 0, "the rebase stops at the conflict");
    await Deno.writeTextFile(join(worktree, "src", "app.ts"), "export const answer = 42;\n");
    await ok(["add", "src/app.ts"]);
    await ok(["rebase", "--continue"]);
    assert.equal(await git(worktree, "merge-base", "HEAD", "main"), mainHead);
    await ok(["merge", "--no-edit", "main"]);
    await git(fx.repo, "checkout", "-q", "-b", "side");
    await Deno.writeTextFile(join(fx.repo, "side.txt"), "side\n");
    await git(fx.repo, "add", "side.txt");
    await git(fx.repo, "commit", "-q", "-m", "side change");
    await git(fx.repo, "checkout", "-q", "main");
    await ok(["cherry-pick", await git(fx.repo, "rev-parse", "side")]);
    assert.equal(await Deno.readTextFile(join(worktree, "side.txt")), "side\n");
    count += 5;

    assert.ok(count >= 40, `${count} everyday commands`);
    assert.equal(await git(fx.repo, "rev-parse", "main"), mainHead, "main is unchanged");
  } finally {
    await fx.dispose();
  }
});
