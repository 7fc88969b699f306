import { git, WORKTREE_SAFE_OPTIONS } from "./git.ts";
import { pathExists } from "./sandbox.ts";

/** Whether a sandbox's worktree has uncommitted or untracked changes. */
export type WorktreeState = "clean" | "dirty" | "missing" | "unknown";

/**
 * Lists the worktree's uncommitted and untracked changes as `git status
 * --porcelain` lines (ignored files are not changes). Runs host git with
 * fsmonitor and submodule recursion off, because the sandbox can write any
 * file in the worktree.
 * NOTE: uncommitted changes inside submodules are not reported, because
 * finding them would run git with the submodule's config, which the sandbox
 * can rewrite.
 */
export async function worktreeChanges(worktree: string): Promise<string[] | undefined> {
  if (!await pathExists(worktree)) return undefined;
  const result = await git(
    [
      ...WORKTREE_SAFE_OPTIONS,
      "status",
      "--porcelain",
      "--untracked-files=all",
      "--ignore-submodules=dirty",
    ],
    worktree,
  );
  if (result.code !== 0) {
    throw new Error(result.stderr.trim() || `git status exited with ${result.code}`);
  }
  return result.stdout.split("\n").filter((line) => line !== "");
}

export async function worktreeState(worktree: string): Promise<WorktreeState> {
  try {
    const changes = await worktreeChanges(worktree);
    if (changes === undefined) return "missing";
    return changes.length === 0 ? "clean" : "dirty";
  } catch {
    return "unknown";
  }
}
