import { createHash } from "node:crypto";
import { join } from "node:path";
import { warn } from "./output.ts";
import type { Engine } from "./sandbox.ts";
import { sandboxFolder, type SandboxRecord } from "./sandbox_store.ts";

/** Config files of mise that a repository may ship at its top, in mise's own order of precedence. */
export const MISE_CONFIG_FILES = [
  "mise.toml",
  ".mise.toml",
  "mise/config.toml",
  ".mise/config.toml",
];

/**
 * Runs `mise install` in the sandbox when the worktree ships a mise config
 * that changed since the last successful install (the first entry, too).
 * Only that file is trusted. mise's own output shows the progress. A failure
 * is reported and the sandbox starts anyway; the next entry tries again.
 * Returns whether an install ran.
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
  const marker = join(sandboxFolder(engine.paths, record.id), "mise-installed");
  const stamp = createHash("sha256").update(file).update("\0").update(text).digest("hex");
  if ((await Deno.readTextFile(marker).catch(() => "")) === stamp) return false;

  engine.progress.step(
    `installing the tools of ${file.slice(record.worktree.length + 1)} (mise install)`,
  );
  engine.progress.done();
  const code = await engine.backend.execInteractive(
    record.container,
    // stdout goes to stderr, because the command run after this one owns stdout.
    ["sh", "-c", 'mise trust --quiet "$1" && mise install --yes 1>&2', "sh", file],
    { cwd: record.worktree, tty: false, noStdin: true, env: { MISE_YES: "1" } },
  );
  if (code !== 0) {
    warn(
      `mise install failed with exit code ${code}, so the sandbox starts without some tools of ${file}; ` +
        "fix the file or run `mise install` in the sandbox to retry",
    );
    return true;
  }
  await Deno.writeTextFile(marker, stamp);
  return true;
}
