import { LockiError } from "./errors.ts";
import { type ProcessResult, runProcess } from "../vm/process.ts";

/**
 * Variables that redirect git to another repository, index or config. They
 * are set inside git hooks, and inherited they would make Locki act on the
 * wrong repository, so every git call drops them.
 */
const REDIRECTING_GIT_VARIABLES = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_INDEX_FILE",
  "GIT_COMMON_DIR",
  "GIT_OBJECT_DIRECTORY",
  "GIT_ALTERNATE_OBJECT_DIRECTORIES",
  "GIT_NAMESPACE",
  "GIT_CEILING_DIRECTORIES",
  "GIT_CONFIG",
  "GIT_CONFIG_PARAMETERS",
  "GIT_CONFIG_COUNT",
  "GIT_PREFIX",
];

/**
 * Options that keep host git from running programs named by files a sandbox
 * can write: a nested repository's config (fsmonitor, hooks) or submodule
 * recursion, and no hooks (a status may write the index and run
 * post-index-change). Used for every command that reads a sandbox's worktree.
 */
export const WORKTREE_SAFE_OPTIONS = [
  "-c",
  "core.fsmonitor=false",
  "-c",
  "core.hooksPath=/dev/null",
  "-c",
  "submodule.recurse=false",
  "-c",
  "core.untrackedCache=false",
];

/** Runs git with `args` and returns its result, whatever the exit code. */
export function git(args: string[], cwd?: string): Promise<ProcessResult> {
  const env: Record<string, string | undefined> = { GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" };
  for (const name of REDIRECTING_GIT_VARIABLES) env[name] = undefined;
  return runProcess(["git", ...args], { cwd, env });
}

/** Runs git with `args` and returns stdout; a non-zero exit raises `LockiError` with `what` and git's message. */
export async function gitOk(
  args: string[],
  cwd: string | undefined,
  what: string,
): Promise<string> {
  const result = await git(args, cwd);
  if (result.code !== 0) {
    const detail = (result.stderr || result.stdout).trim();
    throw new LockiError(`${what} failed: ${detail || `git exited with code ${result.code}`}`);
  }
  return result.stdout;
}
