import assert from "node:assert/strict";
import { join } from "node:path";
import { runProcess } from "../../vm/process.ts";
import { lockiPaths } from "../paths.ts";
import type { SandboxRecord } from "../sandbox_store.ts";
import { commandEnv, hostGitSetup } from "./host_git.ts";

async function git(cwd: string, ...args: string[]) {
  const result = await runProcess(["git", ...args], { cwd });
  if (result.code !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr}`);
  return result.stdout.trim();
}

Deno.test("guard hooks stop ref updates the parser let through", async () => {
  const root = await Deno.makeTempDir({ prefix: "locki-guard-" });
  try {
    const repo = join(root, "repo");
    await Deno.mkdir(repo);
    await git(repo, "init", "-q", "-b", "main");
    await git(repo, "config", "user.email", "dev@example.com");
    await git(repo, "config", "user.name", "Dev");
    await git(
      repo,
      "-c",
      "user.email=a@b",
      "-c",
      "user.name=a",
      "commit",
      "-q",
      "--allow-empty",
      "-m",
      "one",
    );
    await git(repo, "tag", "v1");
    const worktree = join(root, "wt");
    await git(repo, "worktree", "add", "-q", "-b", "own", worktree);
    const gitDir = (await Deno.readTextFile(join(worktree, ".git"))).trim().slice(
      "gitdir: ".length,
    );
    const record: SandboxRecord = {
      version: 1,
      id: "repo-own-000000",
      branch: "own",
      repoRoot: repo,
      commonDir: join(repo, ".git"),
      worktree,
      container: "unused",
      backend: "incus",
      image: "unused",
      createdBranch: true,
      createdAt: new Date().toISOString(),
      gitDir,
    };
    const paths = lockiPaths({
      get: (key) => key === "LOCKI_HOME" ? join(root, "locki") : undefined,
    });
    const setup = await hostGitSetup(paths, record, false);
    // Commands the parser would never pass, run straight with the bridge's set-up.
    const bridged = (...args: string[]) =>
      runProcess(["git", ...setup.configArgs, ...args], {
        cwd: worktree,
        env: commandEnv(setup, args[0]),
        clearEnv: true,
      });
    const mainBefore = await git(repo, "rev-parse", "main");
    for (
      const args of [
        ["update-ref", "refs/heads/main", "HEAD~0"],
        ["branch", "-f", "other", "HEAD"],
        ["tag", "-d", "v1"],
        [
          "update-ref",
          "-d",
          "refs/heads/main",
        ],
      ]
    ) {
      const result = await bridged(...args);
      assert.notEqual(result.code, 0, `${args.join(" ")} must fail`);
      assert.match(result.stderr, /locki: this sandbox may not update refs\//, args.join(" "));
    }
    assert.equal(await git(repo, "rev-parse", "main"), mainBefore);
    assert.equal(await git(repo, "tag", "--list"), "v1");

    const own = await bridged("commit", "-q", "--allow-empty", "-m", "two");
    assert.equal(own.code, 0, own.stderr);
    const ownBranch = await bridged("branch", "own.extra");
    assert.equal(ownBranch.code, 0, ownBranch.stderr);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
