import type { Engine } from "./sandbox.ts";
import { integrityProblems } from "./hooks/integrity.ts";
import { listRecords } from "./sandbox_store.ts";
import { type WorktreeState, worktreeState } from "./worktree_status.ts";

/** One row of `locki ls`. */
export interface SandboxSummary {
  branch: string;
  id: string;
  /** Container state from the backend, "missing" when the container is gone, "unknown" when the backend is down. */
  state: string;
  worktree: string;
  changes: WorktreeState;
  /** Files and settings that differ from Locki's record (`.git` pointer, per-worktree config); empty when none do. */
  modified: string[];
  repository: string;
  container: string;
  image: string;
  createdAt: string;
}

/** Lists sandboxes of the repository whose `.git` folder is `commonDir`, or of every repository when undefined. */
export async function listSandboxes(
  engine: Engine,
  commonDir: string | undefined,
): Promise<SandboxSummary[]> {
  const records = (await listRecords(engine.paths)).filter((record) =>
    commonDir === undefined || record.commonDir === commonDir
  );
  if (records.length === 0) return [];
  // The worktrees and their changes are still worth showing when the backend is down.
  const listed = await engine.backend.list().catch(() => undefined);
  const containers = new Map((listed ?? []).map((info) => [info.name, info]));
  return await Promise.all(records.map(async (record) => ({
    branch: record.branch,
    id: record.id,
    state: listed === undefined ? "unknown" : containers.get(record.container)?.state ?? "missing",
    worktree: record.worktree,
    changes: await worktreeState(record),
    modified: (await integrityProblems(record, { full: true, paths: engine.paths })).map((
      problem,
    ) => problem.where),
    repository: record.repoRoot,
    container: record.container,
    image: record.image,
    createdAt: record.createdAt,
  })));
}
