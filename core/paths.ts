import { isAbsolute, join } from "node:path";
import { LockiError } from "./errors.ts";

/** The folders under Locki's home (`~/.locki`, or `LOCKI_HOME`). */
export interface LockiPaths {
  root: string;
  /** Worktrees of every sandbox; the only host folder besides `home` that a VM mounts. */
  worktrees: string;
  /** Shared home folder of every sandbox, so agent logins persist. */
  home: string;
  /** User settings (`config.toml`). */
  config: string;
  /** Locki's own state: sandbox records, locks and logs. Never mounted into a sandbox. */
  state: string;
  sandboxes: string;
  locks: string;
  logs: string;
}

/** Resolves Locki's folders from `LOCKI_HOME` or the user's home folder. */
export function lockiPaths(env: { get(key: string): string | undefined } = Deno.env): LockiPaths {
  const override = env.get("LOCKI_HOME");
  let root: string;
  if (override !== undefined && override !== "") {
    if (!isAbsolute(override)) {
      throw new LockiError(
        `LOCKI_HOME must be an absolute path, got '${override}'`,
        `set it to a full path, for example LOCKI_HOME="$PWD/${override}"`,
      );
    }
    root = override;
  } else {
    const home = env.get("HOME");
    if (!home) {
      throw new LockiError(
        "HOME is not set, so Locki cannot find ~/.locki",
        "set HOME or LOCKI_HOME",
      );
    }
    root = join(home, ".locki");
  }
  const state = join(root, "state");
  return {
    root,
    worktrees: join(root, "worktrees"),
    home: join(root, "home"),
    config: join(root, "config.toml"),
    state,
    sandboxes: join(state, "sandboxes"),
    locks: join(state, "locks"),
    logs: join(state, "logs"),
  };
}

/** Creates the folders that must exist before any sandbox is made. */
export async function ensureLockiFolders(paths: LockiPaths): Promise<void> {
  for (const dir of [paths.worktrees, paths.home, paths.sandboxes, paths.locks, paths.logs]) {
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      const expected = error instanceof Deno.errors.NotADirectory ||
        error instanceof Deno.errors.AlreadyExists ||
        error instanceof Deno.errors.PermissionDenied;
      if (!expected) throw error;
      throw new LockiError(
        `cannot create ${dir}: ${(error as Error).message}`,
        `Locki keeps its files in ${paths.root}; point LOCKI_HOME at a folder you can write, or fix that path`,
      );
    }
  }
}
