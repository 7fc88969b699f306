import type { ContainerInfo } from "../vm/backend.ts";
import type { Engine } from "./sandbox.ts";

/** Returns the Locki containers that belong to the current host user (the `user.locki.owner` label). */
export async function ownContainers(engine: Engine): Promise<ContainerInfo[]> {
  const uid = String(Deno.uid() ?? 0);
  return (await engine.backend.list()).filter((info) => info.labels.owner === uid);
}

/** Stops every running container of this user and returns their names. */
export async function stopAll(engine: Engine): Promise<string[]> {
  const stopped: string[] = [];
  for (const info of await ownContainers(engine)) {
    if (info.state === "Stopped") continue;
    engine.progress.step(`stopping ${info.name}`);
    await engine.backend.stop(info.name);
    stopped.push(info.name);
  }
  return stopped;
}

/**
 * Deletes every container of this user. Worktrees, records, the shared home
 * and settings stay, so the next command recreates each container.
 */
export async function deleteAll(engine: Engine): Promise<string[]> {
  const deleted: string[] = [];
  for (const info of await ownContainers(engine)) {
    engine.progress.step(`deleting ${info.name}`);
    await engine.backend.delete(info.name);
    deleted.push(info.name);
  }
  return deleted;
}
