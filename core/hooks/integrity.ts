import { join } from "node:path";
import type { LockiPaths } from "../paths.ts";
import type { SandboxRecord } from "../sandbox_store.ts";
import {
  installWrappers,
  worktreeConfigFile,
  worktreeConfigSetting,
  writeWrappers,
} from "./wrappers.ts";

/** One way a worktree differs from what Locki recorded when it made it. */
export interface IntegrityProblem {
  part: "pointer" | "worktree-config" | "extension" | "record";
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
  options: { full: boolean },
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
 * moved aside with a `.locki-modified-<time>` suffix, never deleted.
 * Returns the paths of those moved-aside copies.
 */
export async function repairWorktree(
  paths: LockiPaths,
  record: SandboxRecord,
): Promise<{ record: SandboxRecord; keptCopies: string[] }> {
  const keptCopies: string[] = [];
  const stamp = new Date().toISOString().replaceAll(/[:.]/g, "-");
  const moveAside = async (file: string) => {
    try {
      await Deno.lstat(file);
    } catch {
      return;
    }
    const copy = `${file}.locki-modified-${stamp}`;
    await Deno.rename(file, copy);
    keptCopies.push(copy);
  };
  const problems = await integrityProblems(record, { full: true });
  if (problems.some((problem) => problem.part === "pointer")) {
    const pointer = join(record.worktree, ".git");
    const info = await Deno.lstat(pointer).catch(() => undefined);
    if (info?.isFile && !info.isSymlink) {
      // Rewritten in place: a running sandbox has this very file mounted
      // read-only, and a renamed-over file would leave it the old one.
      await Deno.copyFile(pointer, `${pointer}.locki-modified-${stamp}`);
      keptCopies.push(`${pointer}.locki-modified-${stamp}`);
      await Deno.writeTextFile(pointer, `gitdir: ${record.gitDir}\n`);
    } else {
      await moveAside(pointer);
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
