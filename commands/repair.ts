import type { Command } from "commander";
import { realpath } from "node:fs/promises";
import { isInside } from "../core/config.ts";
import { UsageError } from "../core/errors.ts";
import { integrityProblems, repairWorktree } from "../core/hooks/integrity.ts";
import { bold, dim, green } from "../core/output.ts";
import { findRepository } from "../core/repository.ts";
import { listRecords, type SandboxRecord, writeRecord } from "../core/sandbox_store.ts";
import type { LockiPaths } from "../core/paths.ts";
import { openEngine } from "./engine.ts";

export function registerRepair(program: Command): void {
  program
    .command("repair")
    .description(
      "show how a sandbox's worktree differs from what Locki recorded (.git pointer, per-worktree config), then restore it",
    )
    .argument("[branch]", "branch of the sandbox (default: the Locki worktree you are in)")
    .option("-n, --dry-run", "only show the differences")
    .option("--json", "print the differences and what was done as JSON")
    .action(async (branch: string | undefined, options: { dryRun?: boolean; json?: boolean }) => {
      const engine = await openEngine();
      const record = await findRecord(engine.paths, Deno.cwd(), branch);
      const problems = await integrityProblems(record, { full: true, paths: engine.paths });
      let keptCopies: string[] = [];
      if (!options.dryRun) {
        const repaired = await repairWorktree(engine.paths, record);
        keptCopies = repaired.keptCopies;
        await writeRecord(engine.paths, repaired.record);
      }
      // Like `git diff --exit-code`, a dry run exits 1 when anything differs, for scripts.
      if (options.dryRun && problems.length > 0) Deno.exitCode = 1;
      if (options.json) {
        console.log(JSON.stringify(
          { branch: record.branch, id: record.id, problems, repaired: !options.dryRun, keptCopies },
          null,
          2,
        ));
        return;
      }
      if (problems.length === 0) {
        console.error(
          `${green("unchanged")}: the worktree of ${bold(record.branch)} matches the record`,
        );
        return;
      }
      for (const problem of problems) {
        console.log(
          `${bold(problem.where)}\n  recorded: ${indent(problem.recorded)}\n  found:    ${
            indent(problem.found)
          }`,
        );
      }
      if (options.dryRun) {
        console.error(dim(`run without --dry-run to restore the recorded values`));
        return;
      }
      for (const copy of keptCopies) console.error(dim(`kept the modified copy as ${copy}`));
      console.error(`${green("restored")} the recorded values for ${bold(record.branch)}`);
    });
}

function indent(text: string): string {
  return text.trimEnd().replaceAll("\n", "\n            ");
}

/**
 * Finds the sandbox without trusting the worktree: a forged `.git` pointer
 * would send `git rev-parse` elsewhere, so a folder inside a Locki worktree
 * is matched by path first.
 */
async function findRecord(
  paths: LockiPaths,
  cwd: string,
  branch: string | undefined,
): Promise<SandboxRecord> {
  const records = await listRecords(paths);
  const folder = await realpath(cwd).catch(() => cwd);
  const inside = records.find((record) => isInside(record.worktree, folder));
  if (inside && (branch === undefined || branch === inside.branch)) return inside;
  let commonDir = inside?.commonDir;
  if (!commonDir) commonDir = (await findRepository(cwd)).commonDir;
  if (branch === undefined) {
    throw new UsageError(
      `no branch given, and ${cwd} is not inside a Locki worktree`,
      "name the branch, for example: locki repair fix-42",
    );
  }
  const match = records.find((record) =>
    record.commonDir === commonDir && record.branch === branch
  );
  if (!match) {
    throw new UsageError(
      `no sandbox for branch '${branch}' in this repository`,
      "see the sandboxes with: locki ls",
    );
  }
  return match;
}
