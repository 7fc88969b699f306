import { basename, dirname, join } from "node:path";
import type { LockiPaths } from "../paths.ts";
import { sandboxFolder, type SandboxRecord } from "../sandbox_store.ts";
import {
  HOOK_NAMES,
  installWrappers,
  worktreeConfigFile,
  worktreeConfigSetting,
  wrapperFolder,
  writeWrappers,
} from "./wrappers.ts";

/** One way a worktree differs from what Locki recorded when it made it. */
export interface IntegrityProblem {
  part: "pointer" | "worktree-config" | "extension" | "wrappers" | "record";
  /** The file or setting, for the user. */
  where: string;
  recorded: string;
  found: string;
}

/**
 * Compares the worktree's `.git` pointer and its per-worktree config with
 * the recorded values. `full` also reads the repository config, which costs
 * a `git` process. The daemon skips that, because bridged git sets the
 * hooks folder on its own command line anyway.
 */
export async function integrityProblems(
  record: SandboxRecord,
  options: { full: boolean; paths?: LockiPaths },
): Promise<IntegrityProblem[]> {
  if (!record.gitDir || record.worktreeConfig === undefined) {
    return [{
      part: "record",
      where: `sandbox record ${record.id}`,
      recorded: "a git folder and a per-worktree config",
      found: "nothing (the sandbox predates hook wrappers)",
    }];
  }

  const problems: IntegrityProblem[] = [];
  const pointer = join(record.worktree, ".git");
  const expected = `gitdir: ${record.gitDir}`;
  const found = await readPointer(pointer);
  if (found !== expected) {
    problems.push({ part: "pointer", where: pointer, recorded: expected, found });
  }

  const configFile = worktreeConfigFile(record);
  const config = await Deno.readTextFile(configFile).catch(() => "(missing)");
  if (config !== record.worktreeConfig) {
    problems.push({
      part: "worktree-config",
      where: configFile,
      recorded: record.worktreeConfig,
      found: config,
    });
  }

  if (options.paths) {
    const folder = wrapperFolder(options.paths, record.id);
    const missing: string[] = [];
    for (const name of HOOK_NAMES) {
      const info = await Deno.stat(join(folder, name)).catch(() => undefined);
      if (!info?.isFile || !((info.mode ?? 0) & 0o100)) missing.push(name);
    }
    if (missing.length > 0) {
      problems.push({
        part: "wrappers",
        where: folder,
        recorded: "a wrapper for every hook",
        found: `missing or not executable: ${missing.join(", ")}`,
      });
    }
  }

  if (options.full) {
    const value = await worktreeConfigSetting(record.commonDir);
    if (value !== "true") {
      problems.push({
        part: "extension",
        where: `extensions.worktreeConfig in ${join(record.commonDir, "config")}`,
        recorded: "true",
        found: value,
      });
    }
  }
  return problems;
}

async function readPointer(file: string): Promise<string> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(file);
  } catch {
    return "(missing)";
  }
  if (info.isSymlink) return `(a symbolic link to ${await Deno.readLink(file)})`;
  if (info.isDirectory) return "(a folder)";
  if (!info.isFile) return "(not a plain file)";
  if (info.size > 4096) return `(a file of ${info.size} bytes)`;
  return (await Deno.readTextFile(file)).trim();
}

/** Describes the problems, one line per changed file or setting. */
export function describeProblems(record: SandboxRecord, problems: IntegrityProblem[]): string {
  const lines = [`the worktree of '${record.branch}' was modified after Locki made it:`];
  for (const problem of problems) {
    lines.push(
      `  ${problem.where}: recorded ${summarise(problem.recorded)}, found ${
        summarise(problem.found)
      }`,
    );
  }
  if (problems.some((problem) => problem.part === "worktree-config")) {
    lines.push(
      "  (host git commands such as `git sparse-checkout` or `git config --worktree` also write that file)",
    );
  }
  return lines.join("\n");
}

export function repairHint(record: SandboxRecord): string {
  return `look at what changed, then restore the recorded values with: locki repair ${record.branch}`;
}

function summarise(text: string): string {
  const flat = text.trim().replaceAll(/\s*\n\s*/g, "; ");
  return `'${flat.length > 160 ? flat.slice(0, 159) + "…" : flat}'`;
}

/**
 * Restores the recorded pointer, per-worktree config and repository
 * setting, and rewrites the wrappers. Whatever stood in their place is
 * kept with a `.locki-modified-<time>` suffix, never deleted: in the git
 * folder for the config, and in Locki's folder for the sandbox for the
 * `.git` pointer, where `git add -A` in the worktree cannot pick it up.
 * Returns the paths of those copies.
 */
export async function repairWorktree(
  paths: LockiPaths,
  record: SandboxRecord,
): Promise<{ record: SandboxRecord; keptCopies: string[] }> {
  const keptCopies: string[] = [];
  const stamp = new Date().toISOString().replaceAll(/[:.]/g, "-");
  const moveAside = async (file: string, folder = dirname(file)) => {
    try {
      await Deno.lstat(file);
    } catch {
      return;
    }
    const copy = join(folder, `${basename(file)}.locki-modified-${stamp}`);
    await Deno.mkdir(folder, { recursive: true });
    await Deno.rename(file, copy);
    keptCopies.push(copy);
  };
  const keptFolder = sandboxFolder(paths, record.id);
  const problems = await integrityProblems(record, { full: true, paths });
  if (problems.some((problem) => problem.part === "pointer")) {
    const pointer = join(record.worktree, ".git");
    const info = await Deno.lstat(pointer).catch(() => undefined);
    if (info?.isFile && !info.isSymlink) {
      // Rewritten in place: a running sandbox has this very file mounted
      // read-only, and a renamed-over file would leave it the old one.
      const copy = join(keptFolder, `.git.locki-modified-${stamp}`);
      await Deno.copyFile(pointer, copy);
      keptCopies.push(copy);
      await Deno.writeTextFile(pointer, `gitdir: ${record.gitDir}\n`);
    } else {
      await moveAside(pointer, keptFolder);
      await Deno.writeTextFile(pointer, `gitdir: ${record.gitDir}\n`);
    }
  }
  if (problems.some((problem) => problem.part === "worktree-config")) {
    await moveAside(worktreeConfigFile(record));
  }
  if (
    problems.some((problem) => problem.part !== "pointer" || record.worktreeConfig === undefined)
  ) {
    record.worktreeConfig = await installWrappers(paths, record);
  } else {
    await writeWrappers(paths, record);
  }
  return { record, keptCopies };
}
