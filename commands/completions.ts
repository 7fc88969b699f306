import type { Command, Option } from "commander";
import { git } from "../core/git.ts";
import { lockiPaths } from "../core/paths.ts";
import { listRecords } from "../core/sandbox_store.ts";
import { pluginRegistry } from "./agent.ts";

/** Commands whose first argument is a branch. */
const BRANCH_COMMANDS = new Set(["rm", "repair"]);

/**
 * Adds `locki completions <shell>`, which prints a completion script, and
 * the hidden `locki __complete <words...>` that the scripts call on every
 * Tab. Asking Locki each time keeps agents added later with
 * `locki plugin add`, and the repository's branches, in the candidates.
 */
export function registerCompletions(
  program: Command,
  agentNames: string[],
  trailing: string[],
): void {
  program
    .command("completions")
    .description("print a shell completion script (bash, zsh or fish)")
    .argument("<shell>", "bash, zsh or fish")
    .addHelpText(
      "after",
      `
Load it in the current shell, or add the line to your shell's start-up file:
  bash:  source <(locki completions bash)
  zsh:   source <(locki completions zsh)
  fish:  locki completions fish | source`,
    )
    .action((shell: string) => {
      const script = SCRIPTS[shell];
      if (!script) {
        program.error(`locki: error: unknown shell '${shell}'; use bash, zsh or fish`, {
          exitCode: 2,
        });
      }
      console.log(script);
    });

  program
    .command("__complete", { hidden: true })
    .description("print completion candidates for the words typed so far")
    .usage("-- <words after locki, the last one being completed>")
    .action(async () => {
      const candidates = await complete(program, new Set(agentNames), trailing);
      if (candidates.length > 0) console.log(candidates.join("\n"));
    });
}

/** Returns the candidates for the last word of `words`, given the words before it. */
export async function complete(
  program: Command,
  agents: Set<string>,
  words: string[],
): Promise<string[]> {
  const current = words.at(-1) ?? "";
  const before = words.slice(0, -1);
  const visible = program.commands.filter((command) => !isHidden(command));
  const match = (list: string[]) => list.filter((item) => item.startsWith(current)).sort();

  // Everything after `--` belongs to the program run in the sandbox.
  if (before.includes("--")) return [];
  const commandName = before.find((word) => !word.startsWith("-"));
  if (commandName === undefined) {
    if (current.startsWith("-")) return match(optionNames(program));
    return match(visible.flatMap((command) => [command.name()]));
  }
  let command = visible.find((candidate) =>
    candidate.name() === commandName || candidate.aliases().includes(commandName)
  );
  if (!command) return [];
  let positional = before.slice(before.indexOf(commandName) + 1).filter((word) =>
    !word.startsWith("-")
  );
  // A command with subcommands (vm, plugin, daemon): complete the
  // subcommand, then its own options and arguments.
  const subcommands = command.commands.filter((sub) => !isHidden(sub));
  if (subcommands.length > 0) {
    if (positional.length === 0) {
      return current.startsWith("-")
        ? match(optionNames(command))
        : match(subcommands.map((sub) => sub.name()));
    }
    const sub = subcommands.find((candidate) => candidate.name() === positional[0]);
    if (!sub) return [];
    command = sub;
    positional = positional.slice(1);
  }
  if (current.startsWith("-")) return match(optionNames(command));
  if (positional.length > 0) return [];
  const name = command.parent?.name() === "plugin" ? `plugin ${command.name()}` : command.name();
  if (name === "completions") return match(Object.keys(SCRIPTS));
  if (name === "plugin remove") return match(await addedPlugins());
  if (BRANCH_COMMANDS.has(name)) return match(await sandboxBranches());
  if (agents.has(name)) return match(await branchNames());
  return [];
}

function isHidden(command: Command): boolean {
  // commander keeps the hidden flag private; the help output leaves those out.
  return (command as unknown as { _hidden?: boolean })._hidden === true;
}

function optionNames(command: Command): string[] {
  const options = command.options as readonly Option[];
  return [
    ...options.flatMap((option) => [option.long, option.short].filter(Boolean) as string[]),
    "--help",
  ];
}

/** Branches that have a sandbox in the repository of the current folder (every repository outside one). */
async function sandboxBranches(): Promise<string[]> {
  const records = await listRecords(lockiPaths()).catch(() => []);
  const result = await git(["rev-parse", "--path-format=absolute", "--git-common-dir"], Deno.cwd());
  const commonDir = result.code === 0 ? result.stdout.trim() : undefined;
  return [
    ...new Set(
      records.filter((record) => !commonDir || record.commonDir === commonDir).map((record) =>
        record.branch
      ),
    ),
  ];
}

/** Names of the plugins added with `locki plugin add`. */
async function addedPlugins(): Promise<string[]> {
  const entries = await pluginRegistry(lockiPaths()).list().catch(() => []);
  return entries.filter((entry) => !entry.builtin).map((entry) => entry.name);
}

/** Branches of the repository in the current folder, and every sandbox's branch. */
async function branchNames(): Promise<string[]> {
  const names = new Set<string>();
  const result = await git(["for-each-ref", "--format=%(refname:short)", "refs/heads"], Deno.cwd());
  if (result.code === 0) {
    for (const line of result.stdout.split("\n")) if (line) names.add(line);
  }
  const records = await listRecords(lockiPaths()).catch(() => []);
  for (const record of records) names.add(record.branch);
  return [...names];
}

const SCRIPTS: Record<string, string> = {
  bash: `# locki completion for bash: source <(locki completions bash)
_locki() {
  local IFS=$'\\n'
  COMPREPLY=($(locki __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _locki locki`,
  zsh: `#compdef locki
# locki completion for zsh: source <(locki completions zsh)
_locki() {
  local -a candidates
  candidates=("\${(@f)$(locki __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  candidates=(\${candidates:#})
  if (( \${#candidates} )); then compadd -a candidates; else _files; fi
}
if (( $+functions[compdef] )); then compdef _locki locki; fi`,
  fish: `# locki completion for fish: locki completions fish | source
function __locki_complete
  set -l words (commandline -opc)[2..-1] (commandline -ct)
  locki __complete -- $words 2>/dev/null
end
complete -c locki -a '(__locki_complete)'`,
};
