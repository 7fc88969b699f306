import { join } from "node:path";
import type { LockiPaths } from "./paths.ts";

/**
 * Runs `action` while holding an exclusive `flock` on `state/locks/<name>.lock`,
 * so concurrent Locki processes working on the same sandbox take turns. The
 * kernel drops the lock when the process dies, so a crash never leaves a
 * stale lock behind.
 */
export async function withLock<T>(
  paths: LockiPaths,
  name: string,
  action: () => Promise<T>,
): Promise<T> {
  await Deno.mkdir(paths.locks, { recursive: true, mode: 0o700 });
  const file = await Deno.open(join(paths.locks, `${name}.lock`), { create: true, write: true });
  try {
    await file.lock(true);
    return await action();
  } finally {
    file.close();
  }
}
