import type { Command } from "commander";
import { bold } from "../core/output.ts";
import { ensureSandbox, resolveTarget, sandboxDirectory } from "../core/sandbox.ts";
import { interruptible, openEngine } from "./engine.ts";

/** Terminal settings worth passing into the sandbox; the rest of the host environment stays out. */
const PASSED_VARIABLES = ["TERM", "COLORTERM", "LANG", "NO_COLOR"];

export function registerShell(program: Command, trailing: string[]): void {
  program
    .command("shell")
    .description(
      "open a shell (or run a command) in the sandbox of a branch, creating it if needed",
    )
    .argument(
      "[branch]",
      "branch to work on; created from HEAD if missing (default: the Locki worktree you are in)",
    )
    .usage("[options] [branch] [-- command...]")
    .addHelpText(
      "after",
      `
Examples:
  locki shell fix-42                 interactive shell in a new or existing sandbox
  locki shell fix-42 -- make test    run a command there and exit with its exit code
  locki shell -- git status          inside a Locki worktree, the branch can be omitted`,
    )
    .action(async (branch: string | undefined) => {
      const engine = await openEngine();
      const target = await resolveTarget(engine, Deno.cwd(), branch);
      const record = await interruptible(engine, () => ensureSandbox(engine, target));
      engine.progress.done();
      const tty = Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
      if (trailing.length === 0 && tty) {
        console.error(
          `${bold(record.branch)} in ${record.container} (${engine.backend.name} backend)`,
        );
      }
      const env: Record<string, string> = {};
      for (const name of PASSED_VARIABLES) {
        const value = Deno.env.get(name);
        if (value !== undefined) env[name] = value;
      }
      const argv = trailing.length > 0 ? trailing : ["/bin/bash", "-l"];
      const code = await engine.backend.execInteractive(record.container, argv, {
        cwd: sandboxDirectory(record, Deno.cwd()),
        env,
        tty,
      });
      Deno.exitCode = code;
    });
}
