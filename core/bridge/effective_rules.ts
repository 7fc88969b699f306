import { join } from "node:path";
import { loadRepositoryConfig, loadUserConfig } from "../config.ts";
import { LockiError } from "../errors.ts";
import type { LockiPaths } from "../paths.ts";
import { hostArchitecture } from "../sandbox.ts";
import { loadBuiltinRules, parseRules, type Rule } from "./rules.ts";

/**
 * Builds the rules for one repository: Locki's own, plus or minus the
 * user's `[bridge]` settings in `~/.locki/config.toml` (`rules` adds or
 * replaces blocks, `deny` removes commands or options), minus the
 * repository's `[bridge] deny` in its `locki.toml`, which can only narrow.
 */
export async function effectiveRules(
  paths: LockiPaths,
  repoRoot: string,
  builtin?: Rule[],
): Promise<Rule[]> {
  let rules = builtin ?? await loadBuiltinRules();
  const user = await loadUserConfig(paths.config);
  if (user.bridgeRules) {
    let extra: Rule[];
    try {
      extra = parseRules(user.bridgeRules, `${paths.config} [bridge] rules`);
    } catch (error) {
      throw new LockiError(
        (error as Error).message,
        "fix the rule block; the grammar is described in core/bridge/policy.rules",
      );
    }
    const names = new Set(extra.map(ruleName));
    rules = [...rules.filter((rule) => !names.has(ruleName(rule))), ...extra];
  }
  rules = applyDeny(rules, user.bridgeDeny ?? [], paths.config);
  const repository = await loadRepositoryConfig(repoRoot, hostArchitecture());
  return applyDeny(rules, repository.bridgeDeny, join(repoRoot, "locki.toml"));
}

function ruleName(rule: Rule): string {
  return `${rule.tool} ${rule.command.join(" ")}`;
}

/**
 * Removes what each entry names: `git push` drops the command, `git commit
 * --amend` drops one option (any of its spellings).
 */
export function applyDeny(rules: Rule[], entries: string[], source: string): Rule[] {
  let result = rules;
  for (const entry of entries) {
    const words = entry.trim().split(/\s+/);
    const optionAt = words.findIndex((word) => word.startsWith("-"));
    const name = (optionAt === -1 ? words : words.slice(0, optionAt)).join(" ");
    const option = optionAt === -1 ? undefined : words[optionAt];
    const target = result.find((rule) => ruleName(rule) === name);
    if (!target) {
      throw new LockiError(
        `invalid bridge.deny entry '${entry}' in ${source}: no bridge rule named '${name}'`,
        `name a command such as "git push" or an option such as "git commit --amend"`,
      );
    }
    if (option === undefined) {
      result = result.filter((rule) => rule !== target);
      continue;
    }
    if (!target.options.some((spec) => spec.names.includes(option))) {
      throw new LockiError(
        `invalid bridge.deny entry '${entry}' in ${source}: '${name}' has no option ${option}`,
      );
    }
    const narrowed = {
      ...target,
      options: target.options.filter((spec) => !spec.names.includes(option)),
    };
    result = result.map((rule) => rule === target ? narrowed : rule);
  }
  return result;
}
