import { join } from "node:path";
import { selfCommand } from "../bridge/lifecycle.ts";
import { quoteWord } from "../bridge/wire.ts";
import { git, gitOk } from "../git.ts";
import type { LockiPaths } from "../paths.ts";
import { sandboxFolder, type SandboxRecord } from "../sandbox_store.ts";

/**
 * The hooks git runs in a worktree on the client side. Server-side hooks
 * (pre-receive, update, ...) run in the receiving repository and never read
 * a worktree's config; fsmonitor-watchman is started through core.fsmonitor.
 */
export const HOOK_NAMES = [
  "applypatch-msg",
  "pre-applypatch",
  "post-applypatch",
  "pre-commit",
  "pre-merge-commit",
  "prepare-commit-msg",
  "commit-msg",
  "post-commit",
  "pre-rebase",
  "post-checkout",
  "post-merge",
  "pre-push",
  "reference-transaction",
  "pre-auto-gc",
  "post-rewrite",
  "sendemail-validate",
  "post-index-change",
  "p4-changelist",
  "p4-prepare-changelist",
  "p4-post-changelist",
  "p4-pre-submit",
] as const;

/** Folder of the wrapper hooks that the worktree's `core.hooksPath` points at. */
export function wrapperFolder(paths: LockiPaths, id: string): string {
  return join(sandboxFolder(paths, id), "hooks");
}

/**
 * Returns one wrapper hook. It looks for the repository's own hook the way
 * git would without Locki, and exits at once when there is none. So each of
 * the many hooks git calls per commit costs little more than starting `sh`. When
 * there is a hook, Locki checks the worktree and runs the hook in the sandbox.
 */
export function wrapperScript(
  paths: LockiPaths,
  record: SandboxRecord,
  name: string,
  lockiCommand = selfCommand(),
): string {
  const locki = [...lockiCommand, "hook", "run", record.id, name, "--"].map(quoteWord).join(" ");
  return `#!/bin/sh
# Written by Locki: runs the repository's ${name} hook inside the sandbox of
# branch ${record.branch.replaceAll("\n", " ")}. Rewrite with: locki repair
common=${quoteWord(record.commonDir)}
# Reading the config files with shell builtins first saves two git processes
# per hook when no file sets core.hooksPath or includes another.
mentions() {
  [ -f "$1" ] || return 1
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in *[hH][oO][oO][kK][sS][pP][aA][tT][hH]*|*[iI][nN][cC][lL][uU][dD][eE]*) return 0 ;; esac
  done <"$1"
  return 1
}
hooks="$common/hooks"
if mentions "$common/config" || mentions "\${GIT_CONFIG_GLOBAL:-$HOME/.gitconfig}" ||
  mentions "\${XDG_CONFIG_HOME:-$HOME/.config}/git/config"; then
  hooks=$(git config --file "$common/config" --get core.hooksPath 2>/dev/null) ||
    hooks=$(git config --global --get core.hooksPath 2>/dev/null) ||
    hooks="$common/hooks"
fi
case "$hooks" in "~/"*) hooks="$HOME/\${hooks#"~/"}" ;; esac
[ -e "$hooks/${name}" ] || exit 0
if [ ! -x "$hooks/${name}" ]; then
  if [ "$(git config --type=bool --get advice.ignoredHook 2>/dev/null)" != false ]; then
    echo "hint: The '$hooks/${name}' hook was ignored because it's not set as executable." >&2
    echo "hint: You can disable this warning with \\\`git config advice.ignoredHook false\\\`." >&2
  fi
  exit 0
fi
LOCKI_HOME=${quoteWord(paths.root)} exec ${locki} "$@"
`;
}

/** Writes every wrapper hook of a sandbox, rewriting only those that changed. */
export async function writeWrappers(paths: LockiPaths, record: SandboxRecord): Promise<string> {
  const folder = wrapperFolder(paths, record.id);
  await Deno.mkdir(folder, { recursive: true, mode: 0o700 });
  for (const name of HOOK_NAMES) {
    const file = join(folder, name);
    const text = wrapperScript(paths, record, name);
    const current = await Deno.readTextFile(file).catch(() => undefined);
    if (current !== text) {
      await Deno.writeTextFile(`${file}.tmp`, text, { mode: 0o700 });
      await Deno.rename(`${file}.tmp`, file);
    }
  }
  return folder;
}

/**
 * Points the worktree's hooks at the wrappers: turns on per-worktree config
 * in the repository (git reads it with any repository format version) and
 * sets `core.hooksPath` in the worktree's own config. Returns that config's
 * text, which Locki records and later compares.
 */
export async function installWrappers(paths: LockiPaths, record: SandboxRecord): Promise<string> {
  const folder = await writeWrappers(paths, record);
  if ((await worktreeConfigSetting(record.commonDir)) !== "true") {
    await gitOk(
      ["config", "--file", join(record.commonDir, "config"), "extensions.worktreeConfig", "true"],
      undefined,
      "turning on per-worktree config",
    );
  }
  await gitOk(
    ["config", "--file", worktreeConfigFile(record), "core.hooksPath", folder],
    undefined,
    "pointing the worktree's hooks at Locki's wrappers",
  );
  return await Deno.readTextFile(worktreeConfigFile(record));
}

/**
 * Reads `extensions.worktreeConfig` from the repository's config: "true",
 * "false", or why it could not be read.
 */
export async function worktreeConfigSetting(commonDir: string): Promise<string> {
  const result = await git([
    "config",
    "--file",
    join(commonDir, "config"),
    "--type=bool",
    "--default=false",
    "--get",
    "extensions.worktreeConfig",
  ]);
  return result.code === 0 ? result.stdout.trim() : `unreadable (${result.stderr.trim()})`;
}

/** Returns the worktree's own config file, which lies in its git folder outside the worktree. */
export function worktreeConfigFile(record: SandboxRecord): string {
  return join(record.gitDir!, "config.worktree");
}
