import { git, WORKTREE_SAFE_OPTIONS } from "./git.ts";
import { pathExists } from "./sandbox.ts";
import type { SandboxRecord } from "./sandbox_store.ts";

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
export async function worktreeChanges(
  record: Pick<SandboxRecord, "worktree" | "gitDir">,
): Promise<string[] | undefined> {
  const { worktree, gitDir } = record;
  if (!await pathExists(worktree)) return undefined;
  // The recorded git folder, not the `.git` file in the worktree, which a
  // modified worktree could point anywhere.
  const location = gitDir ? [`--git-dir=${gitDir}`, `--work-tree=${worktree}`] : [];
  const result = await git(
    [
      ...location,
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

export async function worktreeState(
  record: Pick<SandboxRecord, "worktree" | "gitDir">,
): Promise<WorktreeState> {
  try {
    const changes = await worktreeChanges(record);
    if (changes === undefined) return "missing";
    return changes.length === 0 ? "clean" : "dirty";
  } catch {
    return "unknown";
  }
}
