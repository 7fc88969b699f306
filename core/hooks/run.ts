import { basename, isAbsolute, join, resolve } from "node:path";
import { isInside } from "../config.ts";
import { LockiError } from "../errors.ts";
import { git } from "../git.ts";
import { findRepository } from "../repository.ts";
import { type Engine, ensureSandbox, sandboxDirectory } from "../sandbox.ts";
import { readRecord, type SandboxRecord } from "../sandbox_store.ts";
import { asSession } from "../activity.ts";
import { ensureDaemon } from "../bridge/lifecycle.ts";
import { describeProblems, integrityProblems, repairHint } from "./integrity.ts";

/**
 * Variables git sets for hooks, or that users set to steer hook frameworks
 * (husky, lefthook, pre-commit), recreated inside the sandbox. The rest of
 * the host environment stays out. `GIT_INDEX_FILE` keeps its host path:
 * inside, only the git shim uses it, and the daemon accepts it only for
 * this worktree's own index files.
 */
const HOOK_VARIABLES =
  /^(GIT_INDEX_FILE|GIT_AUTHOR_(NAME|EMAIL|DATE)|GIT_COMMITTER_(NAME|EMAIL|DATE)|GIT_PREFIX|GIT_REFLOG_ACTION|GIT_PUSH_OPTION_COUNT|GIT_PUSH_OPTION_[0-9]+|HUSKY|LEFTHOOK|LEFTHOOK_EXCLUDE|SKIP|TERM|COLORTERM|NO_COLOR|LANG)$/;

/**
 * Runs the hook in its own process group inside the sandbox and passes
 * Ctrl-C and other stop signals to the whole group, as a terminal would:
 * `incus exec` signals only the process it started, and the hook's children
 * would outlive it. Perl, because the git shim needs it in every image.
 */
const SUPERVISOR = `use strict;
my $pid = fork() // die "locki: fork: $!\\n";
if ($pid == 0) {
  setpgrp(0, 0);
  exec { $ARGV[0] } @ARGV;
  print STDERR "locki: cannot run hook $ARGV[0] in the sandbox: $!\\n";
  exit($!{ENOENT} ? 127 : 126);
}
for my $signal (qw(INT TERM HUP QUIT)) { $SIG{$signal} = sub { kill $signal, -$pid; }; }
while (waitpid($pid, 0) == -1 && $!{EINTR}) {}
my $status = $?;
exit($status & 127 ? 128 + ($status & 127) : $status >> 8);
`;

/** Folder inside the sandbox for hooks and file arguments that live outside the worktree. */
const SANDBOX_HOOK_FOLDER = "/run/locki/hooks";

/**
 * Finds the repository's own hook `name` as git would without Locki: the
 * repository's `core.hooksPath`, else the user's, else the common `hooks`
 * folder. Relative paths count from `cwd`, where git runs hooks.
 */
export async function findRepositoryHook(
  record: SandboxRecord,
  name: string,
  cwd: string,
): Promise<string | undefined> {
  const local = await git([
    "config",
    "--includes",
    "--file",
    join(record.commonDir, "config"),
    "--get",
    "core.hooksPath",
  ]);
  let folder = local.code === 0 ? local.stdout.trim() : "";
  if (!folder) {
    const global = await git(["config", "--includes", "--global", "--get", "core.hooksPath"]);
    folder = global.code === 0 ? global.stdout.trim() : "";
  }
  if (!folder) folder = join(record.commonDir, "hooks");
  if (folder.startsWith("~/")) folder = join(Deno.env.get("HOME") ?? "/", folder.slice(2));
  const hook = resolve(cwd, folder, name);
  try {
    const info = await Deno.stat(hook);
    return info.isFile && (info.mode ?? 0o755) & 0o111 ? hook : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs the repository's hook `name` for sandbox `id` inside its container
 * and returns the hook's exit code. Called by the wrapper hooks, with git's
 * arguments, stdin, and working folder.
 */
export async function runHook(
  engine: Engine,
  id: string,
  name: string,
  args: string[],
): Promise<number> {
  const record = await readRecord(engine.paths, id);
  if (!record) {
    throw new LockiError(
      `the ${name} hook belongs to sandbox ${id}, which Locki no longer knows`,
      "if the sandbox was removed, remove this worktree too: git worktree remove <path>",
    );
  }
  const problems = await integrityProblems(record, { full: false });
  if (problems.length > 0) {
    throw new LockiError(
      `the ${name} hook was not run: ${describeProblems(record, problems)}`,
      repairHint(record),
    );
  }
  const cwd = Deno.cwd();
  const hook = await findRepositoryHook(record, name, cwd);
  if (!hook) return 0;

  const container = await engine.backend.get(record.container).catch(() => undefined);
  if (container?.state !== "Running") {
    const repo = await findRepository(record.repoRoot);
    await ensureSandbox(engine, { repo, branch: record.branch });
    engine.progress.done();
  }

  const run = `${SANDBOX_HOOK_FOLDER}/${crypto.randomUUID()}`;
  let hookInSandbox = hook;
  if (!isInside(record.worktree, hook)) {
    hookInSandbox = `${run}/${name}`;
    await engine.backend.pushFile(
      record.container,
      hookInSandbox,
      await Deno.readFile(hook),
      0o755,
    );
  }
  // File arguments outside the worktree (COMMIT_EDITMSG lives in the git
  // folder) are copied in, and their new content copied back afterwards.
  const copied: Array<{ host: string; inside: string; before: string }> = [];
  const argsInSandbox: string[] = [];
  for (const [index, arg] of args.entries()) {
    const host = isAbsolute(arg) ? arg : resolve(cwd, arg);
    const info = arg === "" ? undefined : await Deno.stat(host).catch(() => undefined);
    if (!info?.isFile || isInside(record.worktree, host)) {
      argsInSandbox.push(arg);
      continue;
    }
    const inside = `${run}/files/${index}/${basename(host)}`;
    const before = await Deno.readTextFile(host);
    await engine.backend.pushFile(record.container, inside, before, 0o644);
    copied.push({ host, inside, before });
    argsInSandbox.push(inside);
  }

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(Deno.env.toObject())) {
    if (HOOK_VARIABLES.test(key)) env[key] = value;
  }
  env.LOCKI_HOOK = name;
  const tty = Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
  // With a terminal, the hook stays in the terminal's foreground group instead.
  const argv = tty
    ? [hookInSandbox, ...argsInSandbox]
    : ["perl", "-e", SUPERVISOR, "--", hookInSandbox, ...argsInSandbox];
  // Git inside the hook goes through the bridge, which needs the daemon.
  await ensureDaemon(engine.paths);
  let code: number;
  try {
    code = await asSession(
      engine.paths,
      record.id,
      () =>
        engine.backend.execInteractive(record.container, argv, {
          cwd: sandboxDirectory(record, cwd),
          env,
          tty,
        }),
    );
    for (const file of copied) {
      const after = await engine.backend.execCapture(record.container, ["cat", "--", file.inside]);
      if (after.code === 0 && after.stdout !== file.before) {
        await Deno.writeTextFile(file.host, after.stdout);
      }
    }
  } finally {
    if (hookInSandbox !== hook || copied.length > 0) {
      await engine.backend.execCapture(record.container, ["rm", "-rf", "--", run]).catch(() => {});
    }
  }
  return code;
}
