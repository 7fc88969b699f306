import { join } from "node:path";
import { runProcess } from "../../vm/process.ts";
import type { LockiPaths } from "../paths.ts";
import type { SandboxRecord } from "../sandbox_store.ts";
import { sandboxFolder } from "../sandbox_store.ts";
import { quoteWord } from "./wire.ts";
import { literalPathspecs } from "./policy.ts";
import { HOOK_NAMES, wrapperFolder, writeWrappers } from "../hooks/wrappers.ts";

/**
 * Repository config keys that make git start a program. Keys of this kind
 * that the repository gains after a sandbox was created are blanked for that
 * sandbox's commands, so a later change cannot make bridged git run them.
 */
export const PROGRAM_CONFIG_KEYS =
  /^(filter\..+\.(clean|smudge|process)|diff\..+\.(textconv|command)|merge\..+\.driver|core\.(fsmonitor|sshcommand|pager|editor|askpass|alternaterefscommand|gitproxy|hookspath)|credential\.helper|credential\..+\.helper|gpg\.program|gpg\..+\.program|sequence\.editor|pager\..+|uploadpack\..+|remote\..+\.(uploadpack|receivepack|vcs)|ssh\.variant|url\..+\.insteadof)$/;

/**
 * Keys of the user's global config that bridged git keeps on purpose: the
 * identity, signing and credential set-up, and harmless preferences. The
 * rest, and the whole system config, is left out.
 */
const KEPT_GLOBAL_KEYS =
  /^(user\.|author\.|committer\.|gpg\.|commit\.gpgsign$|core\.hookspath$|tag\.gpgsign$|credential\.|url\..+\.insteadof$|core\.sshcommand$|http\.|init\.defaultbranch$|push\.default$|push\.autosetupremote$|pull\.rebase$|pull\.ff$|merge\.conflictstyle$|rebase\.autostash$|diff\.algorithm$|log\.date$|format\.pretty$|color\.)/;

/**
 * Results the daemon reuses between commands while the files behind them
 * are unchanged (by modification time), to keep each bridged command cheap.
 */
export class HostGitCache {
  readonly globalConfig = new Map<string, { stamp: string; path: string }>();
  readonly programConfig = new Map<string, { stamp: string; lines: string[] }>();
  readonly guardHooks = new Map<string, string>();
}

async function modificationStamp(...files: string[]): Promise<string> {
  const parts: string[] = [];
  for (const file of files) {
    const info = await Deno.stat(file).catch(() => undefined);
    parts.push(`${info?.mtime?.getTime() ?? "-"}:${info?.size ?? "-"}`);
  }
  return parts.join("|");
}

/** Folder with the hooks git runs for bridged commands: ref-ownership guards. */
export function bridgeHooksFolder(paths: LockiPaths, id: string): string {
  return join(sandboxFolder(paths, id), "bridge-hooks");
}

/** Reads the repository's program-launching config keys, as `key=value` lines. */
export async function programConfig(commonDir: string): Promise<string[]> {
  const result = await runProcess(
    ["git", "config", "--file", join(commonDir, "config"), "--list"],
    {
      env: { GIT_CONFIG_NOSYSTEM: "1", LC_ALL: "C" },
    },
  );
  if (result.code !== 0) return [];
  return result.stdout.split("\n").filter((line) => PROGRAM_CONFIG_KEYS.test(line.split("=")[0]));
}

/**
 * Writes the curated global config for bridged git (kept keys of the user's
 * own global config) and returns its path. Rewritten only when the user's
 * config changed.
 */
export async function curatedGlobalConfig(paths: LockiPaths): Promise<string> {
  const target = join(paths.state, "bridge", "gitconfig");
  const listing = await runProcess(["git", "config", "--global", "--list", "-z"], {
    env: { LC_ALL: "C" },
  });
  const lines: string[] = [];
  for (const entry of listing.stdout.split("\0").filter(Boolean)) {
    const newline = entry.indexOf("\n");
    const key = newline === -1 ? entry : entry.slice(0, newline);
    const value = newline === -1 ? "true" : entry.slice(newline + 1);
    if (!KEPT_GLOBAL_KEYS.test(key.toLowerCase())) continue;
    const dot = key.lastIndexOf(".");
    const firstDot = key.indexOf(".");
    const section = key.slice(0, firstDot);
    const subsection = firstDot === dot
      ? ""
      : ` "${key.slice(firstDot + 1, dot).replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
    const escaped = value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
    lines.push(`[${section}${subsection}]\n\t${key.slice(dot + 1)} = "${escaped}"`);
  }
  const text = lines.join("\n") + "\n";
  const current = await Deno.readTextFile(target).catch(() => undefined);
  if (current !== text) {
    await Deno.mkdir(join(paths.state, "bridge"), { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(`${target}.tmp`, text, { mode: 0o600 });
    await Deno.rename(`${target}.tmp`, target);
  }
  return target;
}

/**
 * Writes the hooks folder bridged git uses for a sandbox. Every hook hands
 * over to the sandbox's wrapper, which runs the repository's hook in the
 * sandbox. Two of them check first. `reference-transaction` rejects any
 * update of a ref the sandbox does not own, and `pre-push` rejects a push to
 * any remote ref it does not own. So a mistake in the command parser still
 * cannot move `main`, a tag or another sandbox's branch.
 */
export async function writeGuardHooks(paths: LockiPaths, record: SandboxRecord): Promise<string> {
  const folder = bridgeHooksFolder(paths, record.id);
  await Deno.mkdir(folder, { recursive: true, mode: 0o700 });
  // Written here too, so a hook never goes missing because Locki's state
  // folder lost the wrappers.
  await writeWrappers(paths, record);
  const own = quoteWord(record.branch);
  const wrapper = (name: string) => quoteWord(join(wrapperFolder(paths, record.id), name));
  // The guards read stdin, so they keep it (up to its last byte) for the wrapper.
  const guard = (name: string, purpose: string, check: string) =>
    `#!/bin/sh
# Written by Locki. ${purpose}
input=$(cat; echo .)
input=\${input%.}
own=${own}
status=0
${check}
[ "$status" = 0 ] || exit "$status"
printf '%s' "$input" | exec ${wrapper(name)} "$@"
`;
  const transaction = guard(
    "reference-transaction",
    "Rejects updates of refs this sandbox does not own.",
    `if [ "$1" = prepared ]; then
  while read -r old new ref; do
    case "$ref" in
      HEAD|ORIG_HEAD|FETCH_HEAD|MERGE_HEAD|CHERRY_PICK_HEAD|REVERT_HEAD|REBASE_HEAD|AUTO_MERGE|BISECT_HEAD) ;;
      refs/heads/"$own"|refs/heads/"$own".?*) ;;
      refs/remotes/*|refs/stash|refs/rewritten/*|refs/worktree/*|refs/bisect/*) ;;
      "") ;;
      *) echo "locki: this sandbox may not update $ref" >&2; status=1 ;;
    esac
  done <<LOCKI_INPUT
$input
LOCKI_INPUT
fi`,
  );
  const prePush = guard(
    "pre-push",
    "Rejects pushes to remote refs this sandbox does not own.",
    `while read -r local_ref local_sha remote_ref remote_sha; do
  case "$remote_ref" in
    refs/heads/"$own"|refs/heads/"$own".?*) ;;
    "") ;;
    *) echo "locki: this sandbox may not push to $remote_ref" >&2; status=1 ;;
  esac
done <<LOCKI_INPUT
$input
LOCKI_INPUT`,
  );
  for (const name of HOOK_NAMES) {
    const file = join(folder, name);
    let text = `#!/bin/sh\n# Written by Locki: hands over to the sandbox's wrapper hook.\nexec ${
      wrapper(name)
    } "$@"\n`;
    if (name === "reference-transaction") text = transaction;
    if (name === "pre-push") text = prePush;
    const current = await Deno.readTextFile(file).catch(() => undefined);
    if (current !== text) await Deno.writeTextFile(file, text, { mode: 0o700 });
  }
  return folder;
}

export interface HostGitSetup {
  env: Record<string, string>;
  /** `-c` options placed before the subcommand. */
  configArgs: string[];
}

/**
 * Builds the environment and config overrides every bridged git command
 * runs with: a fixed environment (nothing from the sandbox), the
 * repository and worktree from Locki's record, no system config, the
 * curated global config, guard hooks, and every program that config or
 * attributes could start turned off unless the repository had it before the
 * sandbox existed.
 */
async function cachedGlobalConfig(paths: LockiPaths, cache?: HostGitCache): Promise<string> {
  const home = Deno.env.get("HOME") ?? "/";
  const xdg = Deno.env.get("XDG_CONFIG_HOME") ?? join(home, ".config");
  const stamp = await modificationStamp(join(home, ".gitconfig"), join(xdg, "git", "config"));
  const hit = cache?.globalConfig.get(paths.state);
  if (hit && hit.stamp === stamp) return hit.path;
  const path = await curatedGlobalConfig(paths);
  cache?.globalConfig.set(paths.state, { stamp, path });
  return path;
}

async function cachedProgramConfig(commonDir: string, cache?: HostGitCache): Promise<string[]> {
  const stamp = await modificationStamp(join(commonDir, "config"));
  const hit = cache?.programConfig.get(commonDir);
  if (hit && hit.stamp === stamp) return hit.lines;
  const lines = await programConfig(commonDir);
  cache?.programConfig.set(commonDir, { stamp, lines });
  return lines;
}

export async function hostGitSetup(
  paths: LockiPaths,
  record: SandboxRecord,
  color: boolean,
  cache?: HostGitCache,
): Promise<HostGitSetup> {
  const inherited = (name: string) => Deno.env.get(name);
  const env: Record<string, string> = {
    PATH: inherited("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: inherited("HOME") ?? "/",
    LANG: "C.UTF-8",
    GIT_DIR: record.gitDir!,
    GIT_WORK_TREE: record.worktree,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: await cachedGlobalConfig(paths, cache),
    GIT_TERMINAL_PROMPT: "0",
    GIT_PAGER: "cat",
    PAGER: "cat",
    // Editors cannot run over the bridge: default messages are kept, and a
    // commit without -m or -F stops with an empty message.
    GIT_EDITOR: "true",
    GIT_SEQUENCE_EDITOR: "true",
    GIT_ALLOW_PROTOCOL: "file:git:http:https:ssh",
  };
  for (const name of ["SSH_AUTH_SOCK", "GNUPGHOME", "GPG_AGENT_INFO"]) {
    const value = inherited(name);
    if (value) env[name] = value;
  }
  // A cached hook folder is used only while its guard hook is still there.
  const hookKey = `${record.id}\0${record.branch}`;
  let hooks = cache?.guardHooks.get(hookKey);
  if (
    !hooks || !await Deno.stat(join(hooks, "reference-transaction")).then(() => true, () => false)
  ) {
    hooks = await writeGuardHooks(paths, record);
    cache?.guardHooks.set(hookKey, hooks);
  }
  const overrides: Record<string, string> = {
    "core.hooksPath": hooks,
    "core.fsmonitor": "false",
    "core.pager": "cat",
    "core.alternateRefsCommand": "",
    "diff.external": "",
    "diff.ignoreSubmodules": "all",
    "status.submoduleSummary": "false",
    "submodule.recurse": "false",
    "fetch.recurseSubmodules": "false",
    "push.recurseSubmodules": "no",
    "protocol.ext.allow": "never",
    "protocol.fd.allow": "never",
    "gc.auto": "0",
    "maintenance.auto": "false",
    "color.ui": color ? "always" : "never",
  };
  const known = new Set(record.programConfig ?? []);
  const overridden = new Set(Object.keys(overrides).map((key) => key.toLowerCase()));
  for (const line of await cachedProgramConfig(record.commonDir, cache)) {
    const key = line.split("=")[0];
    // Config keys are case-insensitive, and `git config --list` prints them
    // in lower case: a blank for `core.hookspath` would undo the hooks folder.
    if (!known.has(line) && !overridden.has(key.toLowerCase())) overrides[key] = "";
  }
  const configArgs: string[] = [];
  for (const [key, value] of Object.entries(overrides)) configArgs.push("-c", `${key}=${value}`);
  return { env, configArgs };
}

/** Environment for one bridged subcommand: literal pathspecs except where git needs its magic. */
export function commandEnv(setup: HostGitSetup, subcommand: string): Record<string, string> {
  return literalPathspecs(subcommand) ? { ...setup.env, GIT_LITERAL_PATHSPECS: "1" } : setup.env;
}
