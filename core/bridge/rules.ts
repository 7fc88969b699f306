/**
 * The bridge policy: a parser for the rules grammar described at the top of
 * `policy.rules`, and a renderer that turns the same rules into the text
 * agents read. One file is both what the daemon enforces and what agents read.
 */

export const VALUE_KINDS = [
  "TEXT",
  "N",
  "REV",
  "PATH",
  "OWN",
  "REMOTE",
  "REFSPEC",
  "UPSTREAM",
  "STASH",
  "DATE",
  "FORMAT",
  "MODE",
] as const;
export type ValueKind = typeof VALUE_KINDS[number];

export interface OptionSpec {
  /** Every spelling, such as `-m` and `--message`. */
  names: string[];
  value: "none" | "required" | "optional";
  kind?: ValueKind;
  /** Allowed words when the value is one of a fixed list. */
  choices?: string[];
  /** Spelling used when Locki rebuilds the command line: the first long name, else the short one. */
  canonical: string;
}

export interface ArgumentSpec {
  kind: ValueKind;
  count: "one" | "optional" | "many";
}

export interface Rule {
  tool: "git" | "gh";
  /** Subcommand words, such as `["status"]`, `["stash", "push"]` or `["pr", "create"]`. */
  command: string[];
  summary: string;
  options: OptionSpec[];
  /** Positional arguments before `--`. */
  positionals: ArgumentSpec[];
  /** Positional arguments after `--`; undefined when the command takes no `--`. */
  afterDashDash?: ArgumentSpec[];
  check?: string;
  notes: string[];
  /** Line of the block's header in the rules text, for messages. */
  line: number;
}

/** Raised for a malformed rules file; the message names the line. */
export class RulesError extends Error {
  constructor(source: string, line: number, problem: string) {
    super(`${source}:${line}: ${problem}`);
    this.name = "RulesError";
  }
}

const HEADER = /^(git|gh)((?: [a-z][a-z-]*)+):\s*(.*)$/;

/** Parses rules text; `source` names the file in messages. */
export function parseRules(text: string, source: string): Rule[] {
  const rules: Rule[] = [];
  let current: Rule | undefined;
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const raw = lines[index];
    if (raw.trim() === "" || raw.trimStart().startsWith("#")) continue;
    if (!raw.startsWith(" ")) {
      const header = raw.match(HEADER);
      if (!header) {
        throw new RulesError(
          source,
          lineNumber,
          `expected 'git <subcommand>: summary', got '${raw}'`,
        );
      }
      current = {
        tool: header[1] as "git" | "gh",
        command: header[2].trim().split(" "),
        summary: header[3].trim(),
        options: [],
        positionals: [],
        notes: [],
        line: lineNumber,
      };
      const name = `${current.tool} ${current.command.join(" ")}`;
      if (rules.some((rule) => `${rule.tool} ${rule.command.join(" ")}` === name)) {
        throw new RulesError(source, lineNumber, `'${name}' is defined twice`);
      }
      rules.push(current);
      continue;
    }
    if (!current) {
      throw new RulesError(source, lineNumber, "an indented line must follow a command header");
    }
    const field = raw.trim().match(/^(options|args|check|note):\s*(.*)$/);
    if (!field) {
      throw new RulesError(
        source,
        lineNumber,
        `expected 'options:', 'args:', 'check:' or 'note:', got '${raw.trim()}'`,
      );
    }
    const [, key, value] = field;
    if (key === "options") {
      for (const word of value.split(/\s+/).filter(Boolean)) {
        current.options.push(parseOption(word, source, lineNumber));
      }
    } else if (key === "args") {
      parseArguments(current, value, source, lineNumber);
    } else if (key === "check") {
      current.check = value.trim();
    } else {
      current.notes.push(value.trim());
    }
  }
  return rules;
}

function parseOption(word: string, source: string, line: number): OptionSpec {
  const match = word.match(/^([^=[]+)(\[=([^\]]+)\]|=(.+))?$/);
  if (!match) throw new RulesError(source, line, `cannot read option '${word}'`);
  const names = match[1].split(",");
  for (const name of names) {
    if (!/^(-[A-Za-z0-9]|--[a-z0-9][a-z0-9-]*)$/.test(name)) {
      throw new RulesError(source, line, `'${name}' in '${word}' is not an option name`);
    }
  }
  const valueText = match[3] ?? match[4];
  const spec: OptionSpec = {
    names,
    value: "none",
    canonical: names.find((name) => name.startsWith("--")) ?? names[0],
  };
  if (match[3]) spec.value = "optional";
  else if (match[4]) spec.value = "required";
  if (valueText !== undefined) {
    if ((VALUE_KINDS as readonly string[]).includes(valueText)) {
      spec.kind = valueText as ValueKind;
    } else if (/^[a-z0-9+-]+(\|[a-z0-9+-]+)+$/.test(valueText)) {
      spec.choices = valueText.split("|");
    } else {
      throw new RulesError(
        source,
        line,
        `'${valueText}' in '${word}' is neither a value kind nor a|b choices`,
      );
    }
  }
  return spec;
}

function parseArguments(rule: Rule, text: string, source: string, line: number): void {
  const [before, after] = text.includes("--") ? text.split("--") : [text, undefined];
  rule.positionals = parseArgumentList(before, source, line);
  rule.afterDashDash = after === undefined ? undefined : parseArgumentList(after, source, line);
}

function parseArgumentList(text: string, source: string, line: number): ArgumentSpec[] {
  return text.split(/\s+/).filter(Boolean).map((word) => {
    const match = word.match(/^([A-Z]+)(\.\.\.|\?)?$/);
    if (!match || !(VALUE_KINDS as readonly string[]).includes(match[1])) {
      throw new RulesError(
        source,
        line,
        `'${word}' is not an argument kind (${VALUE_KINDS.join(", ")})`,
      );
    }
    let count: ArgumentSpec["count"] = "one";
    if (match[2] === "...") count = "many";
    if (match[2] === "?") count = "optional";
    return { kind: match[1] as ValueKind, count };
  });
}

/** Renders the rules as the Markdown list agents read. */
export function renderRules(rules: Rule[]): string {
  const lines: string[] = [];
  for (const rule of rules) {
    const args = [
      ...rule.positionals.map(renderArgument),
      ...(rule.afterDashDash ? ["[--]", ...rule.afterDashDash.map(renderArgument)] : []),
    ].join(" ");
    lines.push(
      `- \`${rule.tool} ${rule.command.join(" ")}${args ? " " + args : ""}\`: ${rule.summary}.`,
    );
    if (rule.options.length > 0) {
      lines.push(`  Options: ${rule.options.map(renderOption).join(" ")}`);
    }
    for (const note of rule.notes) lines.push(`  ${note}`);
  }
  return lines.join("\n");
}

function renderArgument(spec: ArgumentSpec): string {
  const word = spec.kind.toLowerCase();
  if (spec.count === "many") return `[${word}...]`;
  if (spec.count === "optional") return `[${word}]`;
  return word;
}

function renderOption(spec: OptionSpec): string {
  const names = spec.names.join("/");
  const value = spec.choices ? spec.choices.join("|") : spec.kind?.toLowerCase();
  if (spec.value === "none") return `\`${names}\``;
  if (spec.value === "optional") return `\`${names}[=${value}]\``;
  return `\`${names}=${value}\``;
}

/** The rules shipped with Locki, read from `policy.rules` beside this file. */
export const BUILTIN_RULES_FILE = new URL("./policy.rules", import.meta.url);

export async function loadBuiltinRules(): Promise<Rule[]> {
  return parseRules(await Deno.readTextFile(BUILTIN_RULES_FILE), "core/bridge/policy.rules");
}
