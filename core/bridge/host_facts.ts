import { join } from "node:path";
import { runProcess } from "../../vm/process.ts";
import type { LockiPaths } from "../paths.ts";
import { sandboxFolder, type SandboxRecord } from "../sandbox_store.ts";
import type { HostGitSetup } from "./host_git.ts";
import type { RepositoryFacts } from "./policy.ts";

/** File listing the stash commits a sandbox made, one hash per line. */
export function stashListFile(paths: LockiPaths, id: string): string {
  return join(sandboxFolder(paths, id), "stashes");
}

/** Reads repository facts with host git, under the same hardened set-up as bridged commands. */
export function hostFacts(
  paths: LockiPaths,
  record: SandboxRecord,
  setup: HostGitSetup,
): RepositoryFacts {
  const git = async (...args: string[]) => {
    const result = await runProcess(["git", ...setup.configArgs, ...args], {
      cwd: record.worktree,
      env: setup.env,
      clearEnv: true,
    });
    return { ok: result.code === 0, out: result.stdout.trim() };
  };
  let current: Promise<string | undefined> | undefined;
  const currentBranch = () =>
    current ??= git("symbolic-ref", "--quiet", "--short", "HEAD").then((r) =>
      r.ok ? r.out : undefined
    );
  return {
    async isRevision(arg) {
      const sides = arg.split(/\.\.\.?/).map((side) => side.replace(/^\^/, "")).filter(Boolean);
      if (sides.length === 0) return false;
      for (const side of sides) {
        if (!(await git("rev-parse", "--verify", "--quiet", "--end-of-options", side)).ok) {
          return false;
        }
      }
      return true;
    },
    currentBranch,
    async remotes() {
      const result = await git("remote");
      return result.ok ? result.out.split("\n").filter(Boolean) : [];
    },
    async upstreamRemote() {
      const branch = await currentBranch();
      if (!branch) return undefined;
      const result = await git("config", "--get", `branch.${branch}.remote`);
      return result.ok && result.out !== "." ? result.out : undefined;
    },
    async headIsUnpushedOwnCommit() {
      if (!record.baseCommit) return false;
      const head = await git("rev-parse", "--verify", "HEAD");
      if (!head.ok) return false;
      if ((await git("merge-base", "--is-ancestor", "HEAD", record.baseCommit)).ok) return false;
      const pushed = await git(
        "for-each-ref",
        "--contains",
        "HEAD",
        "--format=%(refname)",
        "refs/remotes",
      );
      return pushed.ok && pushed.out === "";
    },
    async githubRepository() {
      const url = await git("remote", "get-url", "origin");
      if (!url.ok) return undefined;
      const match = url.out.match(
        /^(?:https:\/\/|ssh:\/\/git@|git@)github\.com[:/]([\w.-]+\/[\w.-]+?)(?:\.git)?\/?$/,
      );
      return match?.[1];
    },
    async ownsStash(entry) {
      const resolved = await git("rev-parse", "--verify", "--quiet", "--end-of-options", entry);
      if (!resolved.ok) return false;
      const owned = await Deno.readTextFile(stashListFile(paths, record.id)).catch(() => "");
      return owned.split("\n").includes(resolved.out);
    },
  };
}

/** Records the newest stash entry as made by this sandbox. */
export async function recordStash(
  paths: LockiPaths,
  record: SandboxRecord,
  setup: HostGitSetup,
): Promise<void> {
  const result = await runProcess([
    "git",
    ...setup.configArgs,
    "rev-parse",
    "--verify",
    "--quiet",
    "refs/stash",
  ], {
    cwd: record.worktree,
    env: setup.env,
    clearEnv: true,
  });
  if (result.code !== 0) return;
  await Deno.writeTextFile(stashListFile(paths, record.id), result.stdout.trim() + "\n", {
    append: true,
  });
}
