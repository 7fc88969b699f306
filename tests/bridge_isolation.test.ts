import assert from "node:assert/strict";
import { join } from "node:path";
import { containersUnder, Fixture, git, run } from "./helpers.ts";

async function sandboxes(fx: Fixture, branches: string[]) {
  const result: Array<{ branch: string; container: string; worktree: string }> = [];
  for (const branch of branches) {
    const worktree = (await fx.lockiOk(["shell", branch, "--", "pwd"])).stdout.trim();
    const container = (await containersUnder(fx.lockiHome)).find((item) =>
      item.config?.["user.locki.branch"] === branch
    )!.name;
    result.push({ branch, container, worktree });
  }
  return result;
}

function exec(container: string, cwd: string, argv: string[]) {
  return run(["incus", "exec", container, "--cwd", cwd, "--", ...argv]);
}

/** Sends a hand-made bridge request with the sandbox's own key, bypassing the shim. */
function rawRequest(container: string, request: string, extra: string[] = []) {
  return run([
    "incus",
    "exec",
    container,
    "--",
    "ssh",
    "-F",
    "/etc/locki/ssh_config",
    ...extra,
    "locki-bridge",
    request,
  ]);
}

Deno.test("bridge keeps sandboxes apart", async () => {
  const fx = await Fixture.create();
  try {
    const [a, b] = await sandboxes(fx, ["iso-a", "iso-b"]);
    for (const cwd of [b.worktree, fx.repo, "/", join(a.worktree, "..")]) {
      const result = await rawRequest(
        a.container,
        `'locki-bridge-1' 'notty' 'git' '${cwd}' 'status'`,
      );
      assert.equal(result.code, 126, `sandbox A in ${cwd}: ${result.stderr}`);
      assert.match(result.stderr, /outside the sandbox's worktree/);
    }
    const other = await exec(a.container, a.worktree, ["git", "-C", b.worktree, "status"]);
    assert.equal(other.code, 126);

    // The key lives in the container, not in the shared home.
    const home = await Array.fromAsync(Deno.readDir(join(fx.lockiHome, "home")));
    assert.ok(!home.some((entry) => entry.name.includes("ed25519")));
    const mode = await exec(a.container, "/", ["stat", "-c", "%a", "/etc/locki/id_ed25519"]);
    assert.equal(mode.stdout.trim(), "600");

    // Shells, subsystems and forwarding are refused.
    const noCommand = ["-o", "ControlMaster=no", "-o", "ControlPath=none"];
    const shell = await run([
      "incus",
      "exec",
      a.container,
      "--",
      "ssh",
      "-F",
      "/etc/locki/ssh_config",
      ...noCommand,
      "locki-bridge",
    ]);
    assert.notEqual(shell.code, 0, "a shell request is refused");
    const subsystem = await run([
      "incus",
      "exec",
      a.container,
      "--",
      "ssh",
      "-F",
      "/etc/locki/ssh_config",
      ...noCommand,
      "-s",
      "locki-bridge",
      "sftp",
    ]);
    assert.notEqual(subsystem.code, 0, "a subsystem request is refused");
    const forward = await run([
      "incus",
      "exec",
      a.container,
      "--",
      "ssh",
      "-F",
      "/etc/locki/ssh_config",
      ...noCommand,
      "-W",
      "127.0.0.1:22",
      "locki-bridge",
    ]);
    assert.notEqual(forward.code, 0, "port forwarding is refused");
    assert.match(forward.stderr, /open failed|prohibited|refused|forwarding failed/i);

    // A client with a key the daemon does not know, from the host.
    const port = (await Deno.readTextFile(join(fx.lockiHome, "state", "bridge", "port"))).trim();
    const key = join(fx.root, "stranger");
    await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key]);
    const stranger = await run([
      "ssh",
      "-F",
      "/dev/null",
      "-i",
      key,
      "-p",
      port,
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "IdentitiesOnly=yes",
      "locki@127.0.0.1",
      "anything",
    ]);
    assert.equal(stranger.code, 255);
    assert.match(stranger.stderr, /Permission denied \(publickey\)/);
    const password = await run([
      "ssh",
      "-F",
      "/dev/null",
      "-p",
      port,
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "PreferredAuthentications=password,keyboard-interactive",
      "locki@127.0.0.1",
      "anything",
    ]);
    assert.equal(password.code, 255);

    const log = await Deno.readTextFile(join(fx.lockiHome, "state", "logs", "daemon.log"));
    assert.match(log, /rejected connection from 127\.0\.0\.1:\d+: unknown key/);
    assert.match(log, /rejected (shell|subsystem) request/);
    assert.match(log, /rejected port forwarding/);
  } finally {
    await fx.dispose();
  }
});

Deno.test("bridge refuses a tampered worktree pointer", async () => {
  const fx = await Fixture.create();
  try {
    const [a] = await sandboxes(fx, ["tamper"]);
    const pointer = join(a.worktree, ".git");
    const original = await Deno.readTextFile(pointer);
    await Deno.writeTextFile(pointer, `gitdir: ${join(fx.repo, ".git")}\n`);
    const refused = await exec(a.container, a.worktree, ["git", "status"]);
    assert.equal(refused.code, 126);
    assert.match(refused.stderr, /was modified after Locki made it:\n\s+\S+\/\.git: recorded/);
    await Deno.writeTextFile(pointer, original);
    assert.equal((await exec(a.container, a.worktree, ["git", "status", "--short"])).code, 0);
  } finally {
    await fx.dispose();
  }
});

Deno.test("bridge serves four sandboxes at once", async () => {
  const fx = await Fixture.create();
  try {
    const boxes = await sandboxes(fx, ["par-1", "par-2", "par-3", "par-4"]);
    for (const box of boxes) {
      const commit = await exec(box.container, box.worktree, [
        "sh",
        "-c",
        `echo ${box.branch} > ${box.branch}.txt && git add ${box.branch}.txt && git commit -q -m "work on ${box.branch}"`,
      ]);
      assert.equal(commit.code, 0, commit.stderr);
    }
    const jobs = boxes.flatMap((box) => [
      { box, argv: ["git", "log", "-1", "--format=%s"], expected: `work on ${box.branch}\n` },
      { box, argv: ["git", "rev-parse", "--abbrev-ref", "HEAD"], expected: `${box.branch}\n` },
      { box, argv: ["git", "status", "--porcelain"], expected: "" },
      {
        box,
        argv: ["git", "show", "--name-only", "--format=", "HEAD"],
        expected: `${box.branch}.txt\n`,
      },
      { box, argv: ["git", "branch", "--show-current"], expected: `${box.branch}\n` },
    ]);
    assert.equal(jobs.length, 20);
    const results = await Promise.all(
      jobs.map((job) => exec(job.box.container, job.box.worktree, job.argv)),
    );
    results.forEach((result, index) => {
      const job = jobs[index];
      assert.equal(result.code, 0, `${job.box.branch} ${job.argv.join(" ")}: ${result.stderr}`);
      assert.equal(result.stdout, job.expected, `${job.box.branch} ${job.argv.join(" ")}`);
    });
    assert.equal(await git(fx.repo, "log", "-1", "--format=%s", "main"), "initial commit");
  } finally {
    await fx.dispose();
  }
});

Deno.test("bridge rules follow user and repository settings", async () => {
  const fx = await Fixture.create();
  try {
    const [a] = await sandboxes(fx, ["narrow"]);
    await Deno.writeTextFile(
      join(fx.lockiHome, "config.toml"),
      '[bridge]\ndeny = ["git stash", "git commit --amend"]\nrules = """\ngit cherry: list commits not yet upstream\n  options: -v\n  args: REV...\n"""\n',
    );
    const stash = await exec(a.container, a.worktree, ["git", "stash"]);
    assert.equal(stash.code, 126);
    assert.match(stash.stderr, /'git stash' is not allowed/);
    const amend = await exec(a.container, a.worktree, ["git", "commit", "--amend", "-m", "x"]);
    assert.equal(amend.code, 126);
    assert.match(amend.stderr, /option '--amend' is not allowed/);
    const cherry = await exec(a.container, a.worktree, ["git", "cherry", "-v", "main"]);
    assert.equal(cherry.code, 0, cherry.stderr);

    await Deno.writeTextFile(join(fx.repo, "locki.toml"), '[bridge]\ndeny = ["git log"]\n');
    const log = await exec(a.container, a.worktree, ["git", "log", "-1"]);
    assert.equal(log.code, 126);
    assert.match(log.stderr, /'git log' is not allowed/);

    await Deno.writeTextFile(join(fx.repo, "locki.toml"), '[bridge]\nrules = "git config: x"\n');
    const widened = await exec(a.container, a.worktree, ["git", "status"]);
    assert.equal(widened.code, 126);
    assert.match(widened.stderr, /can only narrow the bridge/);
  } finally {
    await fx.dispose();
  }
});

Deno.test("planted nested repository runs nothing on host", async () => {
  const fx = await Fixture.create();
  const marker = join(fx.root, "nested-ran");
  try {
    const [a] = await sandboxes(fx, ["nested"]);
    // A repository planted in the worktree, whose config tells git to run a
    // program; host git must never read it.
    const script = `#!/bin/sh\ntouch ${marker}\n`;
    const nested = join(a.worktree, "vendor", "evil");
    await Deno.mkdir(nested, { recursive: true });
    await git(nested, "init", "-q");
    await Deno.writeTextFile(join(nested, "f"), "f\n");
    await git(nested, "add", "f");
    await git(nested, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "x");
    await Deno.writeTextFile(join(nested, "hook.sh"), script, { mode: 0o755 });
    await git(nested, "config", "core.fsmonitor", join(nested, "hook.sh"));
    await git(nested, "config", "core.pager", join(nested, "hook.sh"));
    await Deno.writeTextFile(join(nested, "f"), "changed\n");

    for (
      const argv of [
        ["git", "status"],
        ["git", "add", "vendor/evil"],
        ["git", "status"],
        ["git", "diff", "--cached"],
        [
          "git",
          "commit",
          "-q",
          "-m",
          "add nested",
        ],
        ["git", "show", "--stat"],
        ["git", "log", "-p", "-1"],
      ]
    ) {
      const result = await exec(a.container, a.worktree, argv);
      assert.ok(result.code === 0 || result.code === 1, `${argv.join(" ")}: ${result.stderr}`);
    }
    assert.equal(
      await run(["test", "-e", marker]).then((r) => r.code),
      1,
      "the planted config ran nothing",
    );
  } finally {
    await fx.dispose();
  }
});
