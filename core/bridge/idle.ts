import { lastUsed, liveSessions } from "../activity.ts";
import { chooseBackend } from "../backend_choice.ts";
import { loadUserConfig } from "../config.ts";
import type { LockiPaths } from "../paths.ts";
import { listRecords } from "../sandbox_store.ts";

/** Default idle times, in minutes: containers, then the VM once no container runs. */
export const DEFAULT_IDLE = { containerMinutes: 60, vmMinutes: 120 };

interface Logger {
  write(line: string): void;
}

/**
 * Starts a timer in the daemon that stops what is idle. A running container
 * stops when it has no live session and its last use (a session, a bridged
 * command) is older than `[idle] container_minutes`. The lima VM stops when
 * no container has run for `[idle] vm_minutes`. Zero turns either off.
 * Returns a function that stops the timer.
 */
export function startIdleSweeper(paths: LockiPaths, log: Logger): () => void {
  let running = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let lastContainerSeen = Date.now();
  const sweep = async () => {
    if (running) return;
    running = true;
    let delay = 60_000;
    try {
      const config = await loadUserConfig(paths.config);
      const containerMs = (config.idle?.containerMinutes ?? DEFAULT_IDLE.containerMinutes) * 60_000;
      const vmMs = (config.idle?.vmMinutes ?? DEFAULT_IDLE.vmMinutes) * 60_000;
      // Check often enough to stop things close to their time.
      delay = Math.max(
        1000,
        Math.min(60_000, ...[containerMs, vmMs].filter((ms) => ms > 0).map((ms) => ms / 3)),
      );
      const backend = await chooseBackend(paths);
      if (!(await backend.status()).ready) return;
      const now = Date.now();
      let anyRunning = false;
      for (const record of await listRecords(paths)) {
        const info = await backend.get(record.container).catch(() => undefined);
        if (info?.state !== "Running") continue;
        const idleFor = now -
          Math.max(await lastUsed(paths, record.id), Date.parse(record.createdAt) || 0);
        if (
          containerMs > 0 && idleFor >= containerMs && await liveSessions(paths, record.id) === 0
        ) {
          await backend.stop(record.container);
          log.write(
            `stopped idle container ${record.container} (sandbox ${record.id}, unused for ${
              Math.round(idleFor / 1000)
            } s)`,
          );
        } else {
          anyRunning = true;
        }
      }
      if (anyRunning) lastContainerSeen = now;
      if (backend.stopHost && vmMs > 0 && !anyRunning && now - lastContainerSeen >= vmMs) {
        await backend.stopHost();
        log.write(
          `stopped the idle VM (no sandbox ran for ${
            Math.round((now - lastContainerSeen) / 1000)
          } s)`,
        );
        lastContainerSeen = now;
      }
    } catch (error) {
      log.write(`idle check failed: ${(error as Error).message}`);
    } finally {
      running = false;
      if (!stopped) timer = setTimeout(sweep, delay);
    }
  };
  timer = setTimeout(sweep, 1000);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
