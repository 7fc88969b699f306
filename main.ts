import { Command, CommanderError } from "commander";
import denoConfig from "./deno.json" with { type: "json" };
import { pluginRegistry, registerAgent } from "./commands/agent.ts";
import { registerDaemon } from "./commands/daemon.ts";
import { registerPlugin } from "./commands/plugin.ts";
import { BUILTIN_AGENTS } from "./agents/mod.ts";
import type { PluginEntry } from "./plugins/registry.ts";
import { PluginError } from "./plugins/validate.ts";
import { lockiPaths } from "./core/paths.ts";
import { registerCompletions } from "./commands/completions.ts";
import { registerDoctor } from "./commands/doctor.ts";
import { registerHook } from "./commands/hook.ts";
import { registerLs } from "./commands/ls.ts";
import { registerRepair } from "./commands/repair.ts";
import { registerRm } from "./commands/rm.ts";
import { registerVm } from "./commands/vm.ts";
import { LockiError } from "./core/errors.ts";
import { dim, red } from "./core/output.ts";
import { BackendError } from "./vm/backend.ts";

/**
 * Builds the CLI. Arguments after the first `--` are passed to the program
 * run in the sandbox untouched, so they are split off before commander
 * parses the rest.
 */
export function buildProgram(trailing: string[], agents: PluginEntry[]): Command {
  const program = new Command()
    .name("locki")
    .description(
      "Run AI coding agents in isolated sandboxes: one git worktree and one Incus container per branch.",
    )
    .version(`locki ${denoConfig.version} (deno ${Deno.version.deno})`, "-V, --version")
    .showSuggestionAfterError()
    .exitOverride();
  for (const entry of agents) {
    try {
      registerAgent(program, entry, trailing);
    } catch (error) {
      // One bad registry entry must not take every other command down with it.
      console.error(
        `locki: warning: plugin '${entry.name}' is skipped: ${(error as Error).message}`,
      );
    }
  }
  registerLs(program);
  registerRm(program);
  registerRepair(program);
  registerVm(program);
  registerDaemon(program);
  registerPlugin(program);
  registerDoctor(program);
  registerCompletions(program, agents.map((entry) => entry.name), trailing);
  registerHook(program, trailing);
  return program;
}

/**
 * Lists the agents to offer as commands. A broken registry file must not
 * break `locki --help` or the built-in agents, so it only prints a warning.
 */
async function agentEntries(): Promise<PluginEntry[]> {
  const builtins = BUILTIN_AGENTS.map((plugin) => ({
    name: plugin.name,
    aliases: plugin.aliases ?? [],
    description: plugin.description,
    builtin: true,
  }));
  try {
    return await pluginRegistry(lockiPaths()).list();
  } catch (error) {
    console.error(`locki: warning: added plugins are not available: ${(error as Error).message}`);
    return builtins;
  }
}

async function main(args: string[]): Promise<number> {
  const dash = args.indexOf("--");
  const own = dash === -1 ? args : args.slice(0, dash);
  const trailing = dash === -1 ? [] : args.slice(dash + 1);
  const program = buildProgram(trailing, await agentEntries());
  try {
    await program.parseAsync(own, { from: "user" });
    return typeof Deno.exitCode === "number" ? Deno.exitCode : 0;
  } catch (error) {
    return report(error);
  }
}

function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // commander has printed help, the version or its own usage error already.
    return error.exitCode === 0 ? 0 : 2;
  }
  if (
    error instanceof LockiError || error instanceof BackendError || error instanceof PluginError
  ) {
    console.error(`${red("locki: error:")} ${error.message}`);
    if (error.hint) console.error(`${dim("hint:")} ${error.hint}`);
    return error instanceof LockiError ? error.exitCode : 1;
  }
  console.error(
    `${red("locki: unexpected error:")} ${error instanceof Error ? error.stack : String(error)}`,
  );
  return 70;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
