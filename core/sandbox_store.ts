import { join } from "node:path";
import type { LockiPaths } from "./paths.ts";

/** Record of one sandbox, stored in `state/sandboxes/<id>/sandbox.json`. */
export interface SandboxRecord {
  version: 1;
  id: string;
  branch: string;
  /** Main worktree of the repository the sandbox branches from. */
  repoRoot: string;
  /** The repository's shared `.git` folder. */
  commonDir: string;
  worktree: string;
  container: string;
  backend: string;
  /** Image reference the container was created from, for `locki ls`. */
  image: string;
  /** True when this sandbox created the branch, so a rolled-back creation may delete it again. */
  createdBranch: boolean;
  /** The worktree's own git folder (`<common dir>/worktrees/<name>`), read when it was created. */
  gitDir?: string;
  /** The commit the branch pointed at when the sandbox was created. */
  baseCommit?: string;
  /** The sandbox's bridge key (OpenSSH public key line); its private half lives only in the container. */
  bridgeKey?: string;
  /** Program-launching repository config (`key=value`) when the sandbox was created, see PROGRAM_CONFIG_KEYS. */
  programConfig?: string[];
  /** Text of the worktree's own config (`config.worktree`) as Locki wrote it, pointing hooks at the wrappers. */
  worktreeConfig?: string;
  createdAt: string;
}

/** Returns the folder that contains a sandbox's record and, later, its hook wrappers. */
export function sandboxFolder(paths: LockiPaths, id: string): string {
  return join(paths.sandboxes, id);
}

/** Reads one record, or returns undefined when there is none. */
export async function readRecord(
  paths: LockiPaths,
  id: string,
): Promise<SandboxRecord | undefined> {
  try {
    const text = await Deno.readTextFile(join(sandboxFolder(paths, id), "sandbox.json"));
    return JSON.parse(text) as SandboxRecord;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Writes a record atomically (temporary file, then rename), so a crash never leaves half a file. */
export async function writeRecord(paths: LockiPaths, record: SandboxRecord): Promise<void> {
  const folder = sandboxFolder(paths, record.id);
  await Deno.mkdir(folder, { recursive: true, mode: 0o700 });
  const target = join(folder, "sandbox.json");
  const temporary = `${target}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(temporary, JSON.stringify(record, null, 2) + "\n", { mode: 0o600 });
  await Deno.rename(temporary, target);
}

export async function deleteRecord(paths: LockiPaths, id: string): Promise<void> {
  await Deno.remove(sandboxFolder(paths, id), { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** Lists every record, sorted by branch; unreadable records are skipped. */
export async function listRecords(paths: LockiPaths): Promise<SandboxRecord[]> {
  const records: SandboxRecord[] = [];
  try {
    for await (const entry of Deno.readDir(paths.sandboxes)) {
      if (!entry.isDirectory) continue;
      const record = await readRecord(paths, entry.name).catch(() => undefined);
      if (record) records.push(record);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return records.sort((a, b) =>
    a.repoRoot.localeCompare(b.repoRoot) || a.branch.localeCompare(b.branch)
  );
}
