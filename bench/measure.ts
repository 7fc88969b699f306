/** Helpers shared by the benchmarks: running a command and timing an action. */

/** Runs a program, returns its stdout, and throws with its stderr when it fails. */
export async function sh(
  argv: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const output = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`${argv.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/** Returns how long `action` took, in milliseconds. */
export async function timed(action: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await action();
  return performance.now() - start;
}
