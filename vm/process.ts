import { CommandBuilder } from "dax";

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
}

/**
 * Runs `argv` without a shell, with stdin closed unless given, and returns its
 * exit code and captured output. A missing program is reported as exit code
 * 127 with the error in `stderr`, as a shell would.
 */
export async function runProcess(argv: string[], options: RunOptions = {}): Promise<ProcessResult> {
  let builder = new CommandBuilder()
    .command(argv)
    .noThrow()
    .stdout("piped")
    .stderr("piped")
    .stdin(options.stdin === undefined ? "null" : new TextEncoder().encode(options.stdin));
  if (options.cwd) builder = builder.cwd(options.cwd);
  if (options.env) builder = builder.env(options.env);
  try {
    const result = await builder;
    return { code: result.code, stdout: result.stdout, stderr: result.stderr };
  } catch (error) {
    return {
      code: 127,
      stdout: "",
      stderr: String(error instanceof Error ? error.message : error),
    };
  }
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
  // Ctrl-C is meant for the child; ignore it here so Locki waits for the
  // child to exit and passes its exit code on.
  const ignore = () => {};
  Deno.addSignalListener("SIGINT", ignore);
  try {
    let child: Deno.ChildProcess;
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
