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
      assert.match(result.stderr, /locki bridge: denied by rule '[^']+': /, shown);
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
