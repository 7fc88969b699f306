import type { Command } from "commander";
import { runHook } from "../core/hooks/run.ts";
import { openEngine } from "./engine.ts";

/**
 * `locki hook run <id> <name> -- <git's arguments>`: what the wrapper hooks
 * call. Hidden from help, because only git runs it.
 */
export function registerHook(program: Command, trailing: string[]): void {
  const hook = program
    .command("hook", { hidden: true })
    .description("run a repository hook inside its sandbox (called by Locki's wrapper hooks)");
  hook
    .command("run")
    .description("run the repository's hook <name> in sandbox <id> with git's arguments after --")
    .argument("<id>", "sandbox id")
    .argument("<name>", "hook name, such as pre-commit")
    .action(async (id: string, name: string) => {
      const engine = await openEngine();
      Deno.exitCode = await runHook(engine, id, name, trailing);
    });
}
