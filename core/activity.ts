import { join } from "node:path";
import { processAlive } from "../vm/process.ts";
import type { LockiPaths } from "./paths.ts";
import { sandboxFolder } from "./sandbox_store.ts";

/**
 * Sandbox activity, for stopping idle containers: a file per running
 * session (named by the pid of the Locki process that runs it), and a
 * `last-used` file whose modification time is the last use.
 */
function sessionsFolder(paths: LockiPaths, id: string): string {
  return join(sandboxFolder(paths, id), "sessions");
}

/** Marks the sandbox as used now. */
export async function touchLastUsed(paths: LockiPaths, id: string): Promise<void> {
  const file = join(sandboxFolder(paths, id), "last-used");
  const now = new Date();
  try {
    await Deno.utime(file, now, now);
  } catch {
    await Deno.writeTextFile(file, "").catch(() => {});
  }
}

/** Runs `action` as a session of the sandbox, so it is not stopped as idle meanwhile. */
export async function asSession<T>(
  paths: LockiPaths,
  id: string,
  action: () => Promise<T>,
): Promise<T> {
  const folder = sessionsFolder(paths, id);
  await Deno.mkdir(folder, { recursive: true, mode: 0o700 });
  const file = join(folder, String(Deno.pid));
  await Deno.writeTextFile(file, "");
  await touchLastUsed(paths, id);
  try {
    return await action();
  } finally {
    await Deno.remove(file).catch(() => {});
    await touchLastUsed(paths, id);
  }
}

/** Counts the sessions whose Locki process is still alive; files of dead processes are removed. */
export async function liveSessions(paths: LockiPaths, id: string): Promise<number> {
  let count = 0;
  try {
    for await (const entry of Deno.readDir(sessionsFolder(paths, id))) {
      const pid = Number(entry.name);
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) {
        count++;
      } else {
        await Deno.remove(join(sessionsFolder(paths, id), entry.name)).catch(() => {});
      }
    }
  } catch {
    // no sessions folder: no session
  }
  return count;
}

/** Returns when the sandbox was last used, in milliseconds since the epoch (0 when never). */
export async function lastUsed(paths: LockiPaths, id: string): Promise<number> {
  const info = await Deno.stat(join(sandboxFolder(paths, id), "last-used")).catch(() => undefined);
  return info?.mtime?.getTime() ?? 0;
}
