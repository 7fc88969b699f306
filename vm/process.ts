/** Output of a finished child process. */
export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** Variables to set; `undefined` removes one from the inherited environment. */
  env?: Record<string, string | undefined>;
  stdin?: string;
  /** Start from an empty environment instead of this process's. */
  clearEnv?: boolean;
}

/**
 * Runs `argv` without a shell, with stdin closed unless given, and returns its
 * exit code and captured output. A missing program is reported as exit code
 * 127 with the error in `stderr`, as a shell would.
 */
export async function runProcess(argv: string[], options: RunOptions = {}): Promise<ProcessResult> {
  const env: Record<string, string> = {};
  const removed: string[] = [];
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) removed.push(key);
    else env[key] = value;
  }
  const inherited = removed.length > 0 && !options.clearEnv ? Deno.env.toObject() : undefined;
  if (inherited) { for (const key of removed) delete inherited[key]; }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: options.cwd,
      env: inherited ? { ...inherited, ...env } : env,
      clearEnv: inherited !== undefined || options.clearEnv,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    return {
      code: 127,
      stdout: "",
      stderr: error instanceof Error ? error.message : String(error),
    };
  }
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
    await writer.close().catch(() => {});
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Runs `argv` with the caller's stdin, stdout and stderr, for interactive
 * programs, and returns its exit code. Signals such as Ctrl-C reach the child
 * directly because it shares the terminal's process group.
 */
export async function runInteractive(
  argv: string[],
  options: { cwd?: string; env?: Record<string, string>; stdinNull?: boolean } = {},
): Promise<number> {
  const command = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdinNull ? "null" : "inherit",
    stdout: "inherit",
    stderr: "inherit",
  });
  // Ctrl-C reaches the child through the terminal's process group, so it is
  // ignored here and Locki waits for the child's exit code. SIGTERM and
  // SIGHUP sent to Locki alone (kill PID, a process manager) are passed on.
  const ignore = () => {};
  let child: Deno.ChildProcess | undefined;
  const forward = (signal: Deno.Signal) => () => {
    try {
      child?.kill(signal);
    } catch {
      // the child has exited
    }
  };
  const forwarders = [["SIGTERM", forward("SIGTERM")], ["SIGHUP", forward("SIGHUP")]] as const;
  Deno.addSignalListener("SIGINT", ignore);
  for (const [signal, listener] of forwarders) Deno.addSignalListener(signal, listener);
  try {
    try {
      child = command.spawn();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return 127;
      throw error;
    }
    const status = await child.status;
    return status.signal ? 128 + signalNumber(status.signal) : status.code;
  } finally {
    Deno.removeSignalListener("SIGINT", ignore);
    for (const [signal, listener] of forwarders) Deno.removeSignalListener(signal, listener);
  }
}

function signalNumber(signal: Deno.Signal): number {
  const numbers: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGTERM: 15,
  };
  return numbers[signal] ?? 1;
}

/**
 * Reports whether a process with this pid exists, without signalling it:
 * through /proc on Linux, and `ps -p` elsewhere (macOS has no /proc).
 */
export function processAlive(pid: number): boolean {
  if (Deno.build.os === "linux") {
    try {
      Deno.statSync(`/proc/${pid}`);
      return true;
    } catch {
      return false;
    }
  }
  return new Deno.Command("ps", { args: ["-p", String(pid)], stdout: "null", stderr: "null" })
    .outputSync().success;
}
