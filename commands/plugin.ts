import type { Command } from "commander";
import { green, renderTable } from "../core/output.ts";
import { ensureLockiFolders, lockiPaths } from "../core/paths.ts";
import { pluginRegistry } from "./agent.ts";

export function registerPlugin(program: Command): void {
  const plugin = program.command("plugin").description("add, list and remove agent plugins");

  plugin.command("add")
    .description(
      "validate an agent plugin and add it (a .ts/.js path, an https URL, or npm:package)",
    )
    .argument("<source>", "where the plugin module is")
    .option(
      "-f, --force",
      "replace an added plugin of the same name, or take a built-in agent's name",
    )
    .option("--json", "print the added plugin's record as JSON")
    .action(async (source: string, options: { force?: boolean; json?: boolean }) => {
      const paths = lockiPaths();
      await ensureLockiFolders(paths);
      const added = await pluginRegistry(paths).add(source, {
        force: options.force ?? false,
        cwd: Deno.cwd(),
      });
      if (options.json) console.log(JSON.stringify(added, null, 2));
      else {console.error(
          `${green("added")} plugin '${added.name}' (sha256 ${
            added.sha256.slice(0, 12)
          }); run it with: locki ${added.name} <branch>`,
        );}
    });

  plugin.command("list")
    .alias("ls")
    .description("list built-in and added agent plugins")
    .option("--json", "print a JSON array instead of a table")
    .action(async (options: { json?: boolean }) => {
      const entries = await pluginRegistry(lockiPaths()).list();
      if (options.json) {
        console.log(JSON.stringify(
          entries.map((entry) => ({
            name: entry.name,
            aliases: entry.aliases,
            description: entry.description,
            builtin: entry.builtin,
            source: entry.added?.source ?? "built-in",
            sha256: entry.added?.sha256,
          })),
          null,
          2,
        ));
        return;
      }
      console.log(renderTable(
        ["NAME", "SOURCE", "SHA-256", "DESCRIPTION"],
        entries.map((entry) => [
          entry.name,
          entry.added?.source ?? "built-in",
          entry.added?.sha256.slice(0, 12) ?? "",
          entry.description,
        ]),
      ));
    });

  plugin.command("remove")
    .alias("rm")
    .description("remove an added agent plugin")
    .argument("<name>", "name of the plugin")
    .action(async (name: string) => {
      const removed = await pluginRegistry(lockiPaths()).remove(name);
      console.error(`removed plugin '${removed.name}' (added from ${removed.source})`);
    });
}
