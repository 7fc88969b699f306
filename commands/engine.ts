import { chooseBackend } from "../core/backend_choice.ts";
import { Progress } from "../core/output.ts";
import { ensureLockiFolders, lockiPaths } from "../core/paths.ts";
import type { Engine } from "../core/sandbox.ts";

/** Builds the engine for one command: Locki's folders, the chosen backend and a progress display. */
export async function openEngine(): Promise<Engine> {
  const paths = lockiPaths();
  await ensureLockiFolders(paths);
  const backend = await chooseBackend(paths);
  return { paths, backend, progress: new Progress() };
}

/**
 * Runs `action` with `engine.signal` aborted on Ctrl-C or SIGTERM, so long
 * steps stop at the next safe point and roll back instead of leaving a
 * half-made sandbox.
 */
export async function interruptible<T>(engine: Engine, action: () => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const abort = () => controller.abort(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", abort);
  Deno.addSignalListener("SIGTERM", abort);
  engine.signal = controller.signal;
  try {
    return await action();
  } finally {
    Deno.removeSignalListener("SIGINT", abort);
    Deno.removeSignalListener("SIGTERM", abort);
    engine.signal = undefined;
  }
}
