import { basename, dirname } from "node:path";
import { LockiError } from "./errors.ts";
import { git, gitOk } from "./git.ts";

/** A non-bare git repository and the checkout Locki was started in. */
export interface Repository {
  /** Main worktree: the checkout the user cloned, never a Locki worktree. */
  root: string;
  /** The shared `.git` folder (`git rev-parse --git-common-dir`), which identifies the repository. */
  commonDir: string;
  /** Top of the checkout that contains the current directory (may be a Locki worktree). */
  currentTop: string;
  /** Short name used in worktree and container names. */
  name: string;
}

/** Finds the repository containing `cwd`, or explains why there is none. */
export async function findRepository(cwd: string): Promise<Repository> {
  const probe = await git(
    [
      "rev-parse",
      "--path-format=absolute",
      "--git-common-dir",
      "--is-bare-repository",
      "--show-toplevel",
    ],
    cwd,
  );
  if (probe.code !== 0) {
    if (/not a git repository/i.test(probe.stderr)) {
      throw new LockiError(
        `not a git repository: ${cwd}`,
        "run locki inside a git checkout, or create one with `git init` and a first commit",
      );
    }
    if (/must be run in a work tree/i.test(probe.stderr)) {
      throw bareRepositoryError(cwd);
    }
    throw new LockiError(`cannot read the git repository at ${cwd}: ${probe.stderr.trim()}`);
  }
  const [commonDir, isBare, currentTop] = probe.stdout.trim().split("\n");
  if (isBare === "true" || !currentTop) throw bareRepositoryError(cwd);

  const listing = await gitOk(["worktree", "list", "--porcelain"], cwd, "listing worktrees");
  const firstEntry = listing.split("\n\n")[0].split("\n");
  if (firstEntry.includes("bare")) throw bareRepositoryError(cwd);
  const root = firstEntry[0].replace(/^worktree /, "");
  const name = basename(root) || basename(dirname(commonDir)) || "repo";
  return { root, commonDir, currentTop, name };
}

function bareRepositoryError(cwd: string): LockiError {
  return new LockiError(
    `${cwd} is in a bare repository, which has no checkout to branch a sandbox from`,
    "clone it into a normal checkout (git clone <bare-path> <folder>) and run locki there",
  );
}

/** Returns the commit that HEAD points to, or raises when the repository has no commits. */
export async function headCommit(repo: Repository): Promise<string> {
  const result = await git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], repo.root);
  if (result.code !== 0) {
    throw new LockiError(
      `the repository at ${repo.root} has no commits yet, so there is nothing to branch from`,
      "make a first commit, then run locki again",
    );
  }
  return result.stdout.trim();
}

/** Returns whether `refs/heads/<branch>` exists. */
export async function branchExists(repo: Repository, branch: string): Promise<boolean> {
  const result = await git(["show-ref", "--verify", "--quiet", `refs/heads/${branch}`], repo.root);
  return result.code === 0;
}

/** Returns the worktree path where `branch` is checked out, if any. */
export async function worktreeOfBranch(
  repo: Repository,
  branch: string,
): Promise<string | undefined> {
  const listing = await gitOk(["worktree", "list", "--porcelain"], repo.root, "listing worktrees");
  for (const entry of listing.split("\n\n")) {
    const lines = entry.split("\n");
    if (lines.includes(`branch refs/heads/${branch}`)) {
      return lines[0].replace(/^worktree /, "");
    }
  }
  return undefined;
}
