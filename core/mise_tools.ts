import { createHash } from "node:crypto";
import { join } from "node:path";
import { InterruptedError } from "./errors.ts";
import { note, warn } from "./output.ts";
import type { Engine } from "./sandbox.ts";
import { sandboxFolder, type SandboxRecord } from "./sandbox_store.ts";

/** Config files of mise that a repository may ship at its top, in mise's own order of precedence. */
export const MISE_CONFIG_FILES = [
  "mise.toml",
  ".mise.toml",
  "mise/config.toml",
  ".mise/config.toml",
  ".tool-versions",
];

/**
 * Runs `mise install` in the sandbox when the worktree ships a mise config
 * that changed since the last install (the first entry, too). Only that
 * file is trusted, and mise's own output shows the progress. A failure is
 * reported once and the sandbox starts anyway. Later entries mention it in
 * one line until the file changes. Ctrl-C stops the install and the
 * command. Returns whether an install ran.
 */
export async function installMiseTools(engine: Engine, record: SandboxRecord): Promise<boolean> {
  let file: string | undefined;
  let text = "";
  for (const name of MISE_CONFIG_FILES) {
    const path = join(record.worktree, name);
    const info = await Deno.lstat(path).catch(() => undefined);
    // A symbolic link could name a file outside the worktree; mise would
    // then trust that file instead.
    if (info?.isFile) {
      file = path;
      text = await Deno.readTextFile(path);
      break;
    }
  }
  if (!file) return false;
  const shortName = file.slice(record.worktree.length + 1);
  const marker = join(sandboxFolder(engine.paths, record.id), "mise-installed");
  const stamp = createHash("sha256").update(file).update("\0").update(text).digest("hex");
  const previous = await Deno.readTextFile(marker).catch(() => "");
  if (previous === stamp) return false;
  if (previous === `failed ${stamp}`) {
    note(
      `locki: mise install failed earlier for this ${shortName}; run \`mise install\` in the sandbox to retry`,
    );
    return false;
  }

  engine.progress.step(`installing the tools of ${shortName} (mise install)`);
  engine.progress.done();
  const code = await engine.backend.execInteractive(
    record.container,
    // stdout goes to stderr, because the command run after this one owns
    // stdout. `exec`, so that Ctrl-C reaches mise itself.
    ["sh", "-c", 'mise trust --quiet "$1" && exec mise install --yes 1>&2', "sh", file],
    { cwd: record.worktree, tty: false, noStdin: true, env: { MISE_YES: "1" } },
  );
  if (code === 130) throw new InterruptedError(`installing the tools of ${shortName}`);
  if (code !== 0) {
    warn(
      `mise install failed with exit code ${code}, so the sandbox starts without some tools of ${file}; ` +
        "fix the file or run `mise install` in the sandbox to retry",
    );
    await Deno.writeTextFile(marker, `failed ${stamp}`);
    return true;
  }
  await Deno.writeTextFile(marker, stamp);
  return true;
}
