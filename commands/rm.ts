import type { Command } from "commander";
import { green } from "../core/output.ts";
import { removeSandbox } from "../core/removal.ts";
import { resolveTarget } from "../core/sandbox.ts";
import { interruptible, openEngine } from "./engine.ts";

export function registerRm(program: Command): void {
  program
    .command("rm")
    .alias("remove")
    .description(
      "delete a sandbox: its container, worktree and record (the branch stays unless --branch)",
    )
    .argument("[branch]", "branch of the sandbox (default: the Locki worktree you are in)")
    .option(
      "-f, --force",
      "discard uncommitted changes; with --branch, also delete an unmerged branch",
    )
    .option("-b, --branch", "also delete the git branch when it is fully merged")
    .option("--json", "print what was removed as JSON")
    .action(
      async (
        branch: string | undefined,
        options: { force?: boolean; branch?: boolean; json?: boolean },
      ) => {
        const engine = await openEngine();
        const target = await resolveTarget(engine, Deno.cwd(), branch, "rm");
        const result = await interruptible(
          engine,
          () =>
            removeSandbox(engine, target.repo, target.branch, {
              force: options.force ?? false,
              deleteBranch: options.branch ?? false,
            }),
        );
        engine.progress.done();
        if (options.json) {
          console.log(JSON.stringify(result, null, 2));
          return;
        }
        const extra = [
          result.worktreeWasMissing ? "its worktree had already been deleted" : "",
          result.branchDeleted ? `branch ${result.branch} deleted` : `branch ${result.branch} kept`,
        ].filter(Boolean).join("; ");
        console.error(`${green("removed")} sandbox ${result.id} (${extra})`);
      },
    );
}
