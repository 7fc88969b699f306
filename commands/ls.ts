import type { Command } from "commander";
import { findRepository } from "../core/repository.ts";
import { listSandboxes } from "../core/listing.ts";
import { dim, red, renderTable } from "../core/output.ts";
import { openEngine } from "./engine.ts";

export function registerLs(program: Command): void {
  program
    .command("ls")
    .alias("list")
    .description("list the sandboxes of this repository")
    .option("-a, --all", "list the sandboxes of every repository")
    .option("--json", "print a JSON array instead of a table")
    .action(async (options: { all?: boolean; json?: boolean }) => {
      const engine = await openEngine();
      const commonDir = options.all ? undefined : (await findRepository(Deno.cwd())).commonDir;
      const rows = await listSandboxes(engine, commonDir);
      if (options.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      if (rows.length === 0) {
        console.error(
          dim(options.all ? "no sandboxes" : "no sandboxes in this repository (try --all)"),
        );
        return;
      }
      const head = ["BRANCH", "ID", "STATE", "CHANGES", "WORKTREE"];
      if (options.all) head.push("REPOSITORY");
      console.log(renderTable(
        head,
        rows.map((row) => {
          const branch = row.branch.length > 40 ? row.branch.slice(0, 39) + "…" : row.branch;
          const changes = row.modified.length > 0
            ? red(`${row.changes}, MODIFIED (locki repair)`)
            : row.changes;
          const cells = [branch, row.id, row.state, changes, row.worktree];
          if (options.all) cells.push(row.repository);
          return cells;
        }),
      ));
    });
}
