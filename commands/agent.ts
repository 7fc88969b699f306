import type { Command } from "commander";
import { join } from "node:path";
import { BUILTIN_AGENTS } from "../agents/mod.ts";
import type { SandboxContext } from "../plugins/api.ts";
import { type PluginEntry, PluginRegistry } from "../plugins/registry.ts";
import {
  forwardedEnvironment,
  installAgent,
  launchCommand,
  writeHomeFiles,
  writeInstructions,
} from "../core/agent_launch.ts";
import { SANDBOX_HOME } from "../core/container_spec.ts";
import { installMiseTools } from "../core/mise_tools.ts";
import { asSession } from "../core/activity.ts";
import { bold } from "../core/output.ts";
import type { LockiPaths } from "../core/paths.ts";
import { ensureSandbox, resolveTarget, sandboxDirectory } from "../core/sandbox.ts";
import { interruptible, openEngine } from "./engine.ts";

/** Terminal settings worth passing into the sandbox; the rest of the host environment stays out. */
const PASSED_VARIABLES = ["TERM", "COLORTERM", "LANG", "NO_COLOR"];

export function pluginRegistry(paths: LockiPaths): PluginRegistry {
  return new PluginRegistry(join(paths.root, "plugins"), BUILTIN_AGENTS);
}

/** Adds `locki <agent> [branch] [-- args]` for one plugin, from its listed entry (no plugin code runs). */
export function registerAgent(program: Command, entry: PluginEntry, trailing: string[]): void {
  const command = program
    .command(entry.name)
    .description(
      entry.builtin
        ? entry.description
        : `${entry.description} (plugin from ${entry.added?.source})`,
    )
    .argument(
      "[branch]",
      "branch to work on; created from HEAD if missing (default: the Locki worktree you are in)",
    )
    .usage(`[options] [branch] [-- ${entry.name === "shell" ? "command" : "agent arguments"}...]`)
    .action(async (branch: string | undefined) => {
      const engine = await openEngine();
      const plugin = await pluginRegistry(engine.paths).load(entry.name);
      const target = await resolveTarget(engine, Deno.cwd(), branch, entry.name);
      const record = await interruptible(engine, () => ensureSandbox(engine, target));
      const context: SandboxContext = {
        worktree: record.worktree,
        branch: record.branch,
        home: SANDBOX_HOME,
      };
      await writeHomeFiles(engine.paths.home, plugin, context);
      if (plugin.instructionsPath) await writeInstructions(engine, record, plugin.instructionsPath);
      await installAgent(engine, record, plugin);
      await installMiseTools(engine, record);
      engine.progress.done();

      const tty = Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
      if (tty && entry.name === "shell" && trailing.length === 0) {
        console.error(
          `${bold(record.branch)} in ${record.container} (${engine.backend.name} backend)`,
        );
      }
      const env: Record<string, string> = forwardedEnvironment(plugin);
      for (const name of PASSED_VARIABLES) {
        const value = Deno.env.get(name);
        if (value !== undefined) env[name] = value;
      }
      Deno.exitCode = await asSession(
        engine.paths,
        record.id,
        () =>
          engine.backend.execInteractive(
            record.container,
            launchCommand(plugin, trailing, context),
            { cwd: sandboxDirectory(record, Deno.cwd()), env, tty },
          ),
      );
    });
  for (const alias of entry.aliases) command.alias(alias);
  if (entry.name === "shell") {
    command.addHelpText(
      "after",
      `
Examples:
  locki shell fix-42                 interactive shell in a new or existing sandbox
  locki shell fix-42 -- make test    run a command there and exit with its exit code
  locki shell -- git status          inside a Locki worktree, the branch can be omitted`,
    );
  } else {
    command.addHelpText(
      "after",
      `\nExample:\n  locki ${entry.name} fix-42 -- "fix the failing test"`,
    );
  }
}
