import type { OptionSpec, Rule } from "./rules.ts";

/** A command the bridge refuses; `rule` names the rule or policy that decided. */
export class Denied extends Error {
  constructor(readonly rule: string, message: string) {
    super(message);
    this.name = "Denied";
  }
}

export interface ParsedOption {
  spec: OptionSpec;
  value?: string;
}

/** A command line split the way git's option parser splits it, against one rule. */
export interface ParsedCommand {
  rule: Rule;
  /** Directories from `-C` options, in order, as given. */
  directories: string[];
  /** `-c key=value` pairs that are kept, ready to go before the subcommand. */
  config: string[];
  options: ParsedOption[];
  positionals: string[];
  afterDashDash: string[];
  sawDashDash: boolean;
}

/** Max size of one command line, all arguments together. */
export const MAX_COMMAND_BYTES = 4 * 1024 * 1024;
/** Max number of arguments, enough for `git add` of thousands of paths. */
export const MAX_ARGUMENTS = 50_000;

/** Global options that would change which repository, config or programs git uses. */
const DENIED_GLOBAL_OPTIONS: Record<string, string> = {
  "-c": "setting config on the command line is not allowed",
  "--config-env": "setting config on the command line is not allowed",
  "--git-dir": "the repository is fixed to the sandbox's own worktree",
  "--work-tree": "the repository is fixed to the sandbox's own worktree",
  "--namespace": "ref namespaces are not allowed",
  "--exec-path": "changing git's program folder is not allowed",
  "--super-prefix": "internal git option",
  "-p": "the pager runs inside the sandbox, not through the bridge",
  "--paginate": "the pager runs inside the sandbox, not through the bridge",
  "--bare": "the repository is fixed to the sandbox's own worktree",
  "--glob-pathspecs": "paths are always literal through the bridge",
  "--icase-pathspecs": "paths are always literal through the bridge",
  "--noglob-pathspecs": "paths are always literal through the bridge",
  "--no-replace-objects": "not needed through the bridge",
  "--list-cmds": "not needed through the bridge",
};

/**
 * Settings agents pass with `-c` to harden their own background git calls,
 * such as Claude Code turning hooks and helper programs off. Locki's fixed
 * settings already cover each one, so they are accepted and dropped;
 * refusing them left the agent without any git context.
 */
const DROPPED_CONFIG = [
  /^core\.(hookspath|fsmonitor|askpass|alternaterefscommand)$/,
  /^safe\.barerepository$/,
  /^protocol\.([a-z]+\.)?allow$/,
  /^(gc\.auto|maintenance\.auto|advice\.[a-z]+)$/,
  /^hook\.[a-z0-9-]+\.enabled$/,
];

/** Display settings an agent may pass with `-c`, kept when the value is one of these. */
const KEPT_CONFIG: Record<string, RegExp> = {
  // deno-lint-ignore no-control-regex
  "format.pretty": /^[^\x00-\x1f]*$/,
  "log.showsignature": /^false$/,
  "core.quotepath": /^(true|false)$/,
  "color.ui": /^(always|never|auto|true|false)$/,
  "diff.autorefreshindex": /^(true|false)$/,
  "submodule.recurse": /^false$/,
  "core.ignorecase": /^(true|false)$/,
};

/** Returns the `-c` setting to keep, undefined to drop it, or raises `Denied` for any other setting. */
function acceptConfigSetting(setting: string): string | undefined {
  const equals = setting.indexOf("=");
  const key = (equals === -1 ? setting : setting.slice(0, equals)).toLowerCase();
  const value = equals === -1 ? "true" : setting.slice(equals + 1);
  if (DROPPED_CONFIG.some((pattern) => pattern.test(key))) return undefined;
  if (KEPT_CONFIG[key]?.test(value)) return `${key}=${value}`;
  throw new Denied(
    "global-options",
    `git -c ${setting}: setting config on the command line is not allowed; accepted are settings that ` +
      `turn hooks, helpers and protocols off, and ${Object.keys(KEPT_CONFIG).join(", ")}`,
  );
}

const HARMLESS_GLOBAL_OPTIONS = new Set([
  "--no-pager",
  "-P",
  "--no-optional-locks",
  "--literal-pathspecs",
]);

/** Suggested replacements for common commands that are denied. */
const ALTERNATIVES: Record<string, string> = {
  reset: "drop changes with `git restore --staged --worktree --source=HEAD -- <paths>`, " +
    "or move your branch with `git switch -C <your branch> <commit>`",
  checkout:
    "use `git switch <your branch>` or `git restore <paths>`; read other branches with `git show <branch>:<path>`",
  clean: "delete untracked files with rm",
  worktree: "this sandbox is already a worktree of its own",
  tag: "tags cannot be created from a sandbox",
};

/** Commands whose `-<n>` means `-n <n>`, as in `git log -20`. */
const NUMERIC_SHORTHAND = new Set(["log", "show", "reflog"]);

/** Rejects NUL and control characters; `allowNewlines` permits line breaks and tabs (messages). */
export function checkText(value: string, what: string, allowNewlines = false): void {
  // deno-lint-ignore no-control-regex
  const pattern = allowNewlines ? /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/ : /[\x00-\x1f\x7f]/;
  if (pattern.test(value)) {
    throw new Denied(
      "control-characters",
      `${what} contains control characters: ${JSON.stringify(value)}`,
    );
  }
}

/**
 * Splits `args` (everything after `git`) into global options, the rule
 * that matches the subcommand, its options and its positional arguments.
 * Long options may be abbreviated to a unique prefix of an allowed option,
 * short options may be combined (`-am msg`), and options may follow
 * positionals, as in git. Anything not in the rule raises `Denied`.
 */
export function parseGitCommand(args: string[], rules: Rule[]): ParsedCommand {
  checkSize(args);
  const directories: string[] = [];
  const config: string[] = [];
  let index = 0;
  while (index < args.length && args[index].startsWith("-")) {
    const arg = args[index];
    const name = arg.split("=")[0];
    if (arg === "-c") {
      const setting = args[index + 1] ?? "";
      const kept = acceptConfigSetting(setting);
      if (kept) config.push("-c", kept);
      index += 2;
      continue;
    }
    if (arg === "-C") {
      const value = args[index + 1];
      if (value === undefined) throw new Denied("global-options", "-C needs a directory");
      checkText(value, "-C directory");
      directories.push(value);
      index += 2;
      continue;
    }
    if (HARMLESS_GLOBAL_OPTIONS.has(arg)) {
      index++;
      continue;
    }
    const reason = DENIED_GLOBAL_OPTIONS[name] ??
      (name.startsWith("-c")
        ? DENIED_GLOBAL_OPTIONS["-c"]
        : `the global option '${name}' is not allowed`);
    throw new Denied("global-options", `git ${name}: ${reason}`);
  }
  const subcommand = args[index];
  if (subcommand === undefined) throw new Denied("no-subcommand", "no git subcommand given");
  const candidates = rules.filter((rule) => rule.tool === "git" && rule.command[0] === subcommand);
  if (candidates.length === 0) {
    const hint = ALTERNATIVES[subcommand];
    throw new Denied(
      "not-allowed",
      `'git ${subcommand}' is not allowed through the bridge${hint ? `; instead, ${hint}` : ""}`,
    );
  }
  let rule = candidates.find((candidate) =>
    candidate.command.length === 2 && candidate.command[1] === args[index + 1]
  );
  if (rule) {
    index += 2;
  } else {
    rule = candidates.find((candidate) => candidate.command.length === 1);
    const next = args[index + 1];
    const looksLikeSubcommand = next !== undefined && !next.startsWith("-") &&
      candidates.length > 1;
    if (!rule || (looksLikeSubcommand && rule.positionals.length === 0)) {
      const allowed = candidates.map((candidate) => candidate.command.join(" ")).join(", ");
      throw new Denied(
        "not-allowed",
        `'git ${[subcommand, next].filter(Boolean).join(" ")}' is not allowed; allowed: ${allowed}`,
      );
    }
    index += 1;
  }
  const parsed = parseOptions(rule, args.slice(index), NUMERIC_SHORTHAND.has(subcommand));
  return { ...parsed, directories, config };
}

/** Parses the arguments of a `gh` call: `gh <command> <subcommand> ...`. */
export function parseGhCommand(args: string[], rules: Rule[]): ParsedCommand {
  checkSize(args);
  const [command, subcommand] = args;
  const rule = rules.find((candidate) =>
    candidate.tool === "gh" && candidate.command[0] === command &&
    candidate.command[1] === subcommand
  );
  if (!rule) {
    throw new Denied(
      "not-allowed",
      `'gh ${[command, subcommand].filter(Boolean).join(" ")}' is not allowed through the bridge`,
    );
  }
  return { ...parseOptions(rule, args.slice(2), false), directories: [], config: [] };
}

function checkSize(args: string[]): void {
  if (args.length > MAX_ARGUMENTS) {
    throw new Denied("size", `too many arguments (${args.length}, max ${MAX_ARGUMENTS})`);
  }
  const bytes = args.reduce((sum, arg) => sum + arg.length, 0);
  if (bytes > MAX_COMMAND_BYTES) {
    throw new Denied("size", `the command line is too long (${bytes} bytes)`);
  }
}

function parseOptions(
  rule: Rule,
  args: string[],
  numericShorthand: boolean,
): Omit<ParsedCommand, "directories" | "config"> {
  const name = `${rule.tool} ${rule.command.join(" ")}`;
  const options: ParsedOption[] = [];
  const positionals: string[] = [];
  const afterDashDash: string[] = [];
  let sawDashDash = false;
  let optionsEnded = false;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    if (sawDashDash) {
      afterDashDash.push(arg);
      continue;
    }
    if (arg === "--") {
      sawDashDash = true;
      continue;
    }
    if (!optionsEnded && arg === "--end-of-options") {
      optionsEnded = true;
      continue;
    }
    if (optionsEnded || !arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    if (arg.startsWith("--")) {
      const equals = arg.indexOf("=");
      const given = equals === -1 ? arg : arg.slice(0, equals);
      const spec = findLongOption(rule, given, name);
      if (spec.value === "none") {
        if (equals !== -1) throw new Denied(name, `${name}: ${spec.canonical} takes no value`);
        options.push({ spec });
      } else if (equals !== -1) {
        options.push({ spec, value: arg.slice(equals + 1) });
      } else if (spec.value === "required") {
        const value = args[++index];
        if (value === undefined) throw new Denied(name, `${name}: ${spec.canonical} needs a value`);
        options.push({ spec, value });
      } else {
        options.push({ spec });
      }
      continue;
    }
    if (numericShorthand && /^-\d+$/.test(arg)) {
      const spec = rule.options.find((option) => option.names.includes("-n"));
      if (!spec) throw new Denied(name, `${name}: '${arg}' is not allowed`);
      options.push({ spec, value: arg.slice(1) });
      continue;
    }
    // A cluster of short options, such as -am or -n20.
    for (let position = 1; position < arg.length; position++) {
      const letter = `-${arg[position]}`;
      const spec = rule.options.find((option) => option.names.includes(letter));
      if (!spec) {
        throw new Denied(name, `${name}: option '${letter}' is not allowed${suggestion(rule)}`);
      }
      const rest = arg.slice(position + 1);
      if (spec.value === "none") {
        options.push({ spec });
        continue;
      }
      if (rest !== "") {
        options.push({
          spec,
          value: rest.startsWith("=") && spec.names.every((n) => n.length === 2)
            ? rest.slice(1)
            : rest,
        });
      } else if (spec.value === "required") {
        const value = args[++index];
        if (value === undefined) throw new Denied(name, `${name}: ${letter} needs a value`);
        options.push({ spec, value });
      } else {
        options.push({ spec });
      }
      break;
    }
  }
  for (const option of options) checkOptionValue(name, option);
  return { rule, options, positionals, afterDashDash, sawDashDash };
}

function findLongOption(rule: Rule, given: string, name: string): OptionSpec {
  const exact = rule.options.find((option) => option.names.includes(given));
  if (exact) return exact;
  // git accepts any unique prefix of a long option. Prefixes are resolved
  // against the allowed options only, and the rebuilt command line uses the
  // full name, so an abbreviation can never reach an option not listed here.
  const matches = rule.options.filter((option) =>
    option.names.some((candidate) =>
      candidate.startsWith("--") && candidate.startsWith(given) && given.length > 2
    )
  );
  if (matches.length === 1) return matches[0];
  if (matches.length > 1) {
    const names = matches.map((option) => option.canonical).join(", ");
    throw new Denied(name, `${name}: '${given}' is ambiguous (${names})`);
  }
  throw new Denied(name, `${name}: option '${given}' is not allowed${suggestion(rule)}`);
}

function checkOptionValue(name: string, option: ParsedOption): void {
  const { spec, value } = option;
  if (value === undefined) return;
  checkText(value, `${name} ${spec.canonical}`, spec.kind === "TEXT");
  if (spec.choices && !spec.choices.includes(value)) {
    throw new Denied(
      name,
      `${name}: ${spec.canonical} must be one of ${spec.choices.join(", ")}, got '${value}'`,
    );
  }
  if (spec.kind === "N" && !/^\d+$/.test(value)) {
    throw new Denied(name, `${name}: ${spec.canonical} needs a number, got '${value}'`);
  }
  if (
    (spec.kind === "REV" || spec.kind === "OWN" || spec.kind === "UPSTREAM") &&
    value.startsWith("-")
  ) {
    throw new Denied(name, `${name}: the value of ${spec.canonical} must not start with '-'`);
  }
}

function suggestion(rule: Rule): string {
  const names = rule.options.map((option) => option.canonical);
  const shown = names.slice(0, 12).join(" ");
  return names.length === 0
    ? "; it takes no options"
    : `; allowed: ${shown}${names.length > 12 ? " ..." : ""}`;
}

/** Spells an option for the rebuilt command line, always with its value attached. */
export function renderOption(option: ParsedOption): string {
  const { spec, value } = option;
  if (value === undefined) return spec.canonical;
  if (spec.canonical.startsWith("--")) return `${spec.canonical}=${value}`;
  return `${spec.canonical}${value}`;
}
