import { InterruptedError, LockiError } from "./errors.ts";
import { git, gitOk } from "./git.ts";
import { withLock } from "./lock.ts";
import { sandboxId } from "./naming.ts";
import { branchExists, type Repository } from "./repository.ts";
import { type Engine, pathExists } from "./sandbox.ts";
import { deleteRecord, readRecord } from "./sandbox_store.ts";
import { worktreeChanges } from "./worktree_status.ts";

export interface RemoveOptions {
  /** Discard uncommitted changes, and with `deleteBranch`, delete an unmerged branch. */
  force: boolean;
  deleteBranch: boolean;
}

/** Outcome of `removeSandbox`, for the summary line and `--json`. */
export interface RemoveResult {
  id: string;
  branch: string;
  container: string;
  worktree: string;
  worktreeWasMissing: boolean;
  branchDeleted: boolean;
}

/**
 * Deletes a sandbox's container, worktree and record, and with
 * `deleteBranch` the branch. Every check runs before anything is deleted, so
 * a refusal changes nothing.
 */
export async function removeSandbox(
  engine: Engine,
  repo: Repository,
  branch: string,
  options: RemoveOptions,
): Promise<RemoveResult> {
  const id = sandboxId(repo.name, repo.commonDir, branch);
  return await withLock(engine.paths, id, async () => {
    const record = await readRecord(engine.paths, id);
    if (!record) {
      throw new LockiError(
        `no sandbox for branch '${branch}' in ${repo.root}`,
        "see the existing ones with `locki ls`",
      );
    }

    const changes = await worktreeChanges(record).catch((error) => {
      if (options.force) return [];
      throw new LockiError(
        `cannot tell whether ${record.worktree} has uncommitted changes: ${error.message}`,
        "inspect it with git status, then retry with --force to remove it anyway",
      );
    });
    if (changes && changes.length > 0 && !options.force) {
      const shown = changes.slice(0, 10).map((line) => `  ${line}`).join("\n");
      const more = changes.length > 10 ? `\n  ... and ${changes.length - 10} more` : "";
      throw new LockiError(
        `the worktree of '${branch}' has uncommitted changes, so nothing was removed:\n${shown}${more}`,
        `commit or stash them (cd ${record.worktree}), or pass --force to discard them`,
      );
    }

    const deleteBranch = options.deleteBranch && await branchExists(repo, branch);
    if (deleteBranch && !options.force && !await isMerged(repo, branch)) {
      throw new LockiError(
        `branch '${branch}' is not fully merged into ${await currentBranchName(
          repo,
        )}, so nothing was removed`,
        "merge it first, or pass --force to delete the branch and its unmerged commits",
      );
    }

    if (engine.signal?.aborted) throw new InterruptedError(`removing the sandbox for '${branch}'`);
    // Stop the container first, so that nothing in the sandbox writes to the
    // worktree between the last check for changes and its removal.
    engine.progress.step(`stopping container ${record.container}`);
    await engine.backend.stop(record.container);
    if (!options.force) {
      const late = await worktreeChanges(record);
      if (late && late.length > 0) {
        throw new LockiError(
          `the sandbox of '${branch}' changed its worktree while it was being removed, so nothing was removed:\n` +
            late.slice(0, 10).map((line) => `  ${line}`).join("\n"),
          `its container is stopped now; review the changes (cd ${record.worktree}), then run locki rm again`,
        );
      }
    }
    engine.progress.step(`deleting container ${record.container}`);
    await engine.backend.delete(record.container);

    const worktreeWasMissing = !await pathExists(record.worktree);
    engine.progress.step(`removing worktree ${record.worktree}`);
    if (!worktreeWasMissing) {
      // The changes check above already ran; `--force` twice also removes
      // worktrees with submodules, which git refuses otherwise.
      await gitOk(
        ["worktree", "remove", "--force", "--force", record.worktree],
        repo.root,
        "removing the worktree",
      );
    }
    await git(["worktree", "prune"], repo.root);

    let branchDeleted = false;
    if (deleteBranch) {
      engine.progress.step(`deleting branch ${branch}`);
      await gitOk(["branch", "-D", "--", branch], repo.root, `deleting branch '${branch}'`);
      branchDeleted = true;
    }
    await deleteRecord(engine.paths, id);
    return {
      id,
      branch,
      container: record.container,
      worktree: record.worktree,
      worktreeWasMissing,
      branchDeleted,
    };
  });
}

/** Returns whether every commit of `branch` is in the main checkout's HEAD or in the branch's upstream. */
async function isMerged(repo: Repository, branch: string): Promise<boolean> {
  const intoHead = await git(
    ["merge-base", "--is-ancestor", `refs/heads/${branch}`, "HEAD"],
    repo.root,
  );
  if (intoHead.code === 0) return true;
  const upstream = await git([
    "rev-parse",
    "--verify",
    "--quiet",
    `refs/heads/${branch}@{upstream}`,
  ], repo.root);
  if (upstream.code !== 0) return false;
  const intoUpstream = await git(
    ["merge-base", "--is-ancestor", `refs/heads/${branch}`, upstream.stdout.trim()],
    repo.root,
  );
  return intoUpstream.code === 0;
}

async function currentBranchName(repo: Repository): Promise<string> {
  const result = await git(["symbolic-ref", "--quiet", "--short", "HEAD"], repo.root);
  return result.code === 0 ? result.stdout.trim() : "HEAD";
}
