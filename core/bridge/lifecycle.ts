import { spawn } from "node:child_process";
import { connect } from "node:net";
import { closeSync, openSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { LockiError } from "../errors.ts";
import type { LockiPaths } from "../paths.ts";
import { daemonFiles } from "./daemon.ts";
import { processAlive } from "../../vm/process.ts";

export interface DaemonInfo {
  pid: number;
  port: number;
}

/** Returns the running daemon, or undefined when none accepts connections. */
export async function runningDaemon(paths: LockiPaths): Promise<DaemonInfo | undefined> {
  let info: DaemonInfo;
  try {
    info = JSON.parse(await Deno.readTextFile(daemonFiles(paths).info));
  } catch {
    return undefined;
  }
  if (!processAlive(info.pid) || !await portOpen(info.port)) return undefined;
  return info;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Command line that starts this same Locki again, as a compiled binary or under `deno run`. */
export function selfCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  return [Deno.execPath(), "run", "-A", "--quiet", fileURLToPath(Deno.mainModule)];
}

/** Starts the daemon in the background when none runs, and returns its port. */
export async function ensureDaemon(paths: LockiPaths): Promise<DaemonInfo> {
  const running = await runningDaemon(paths);
  if (running) return running;
  const files = daemonFiles(paths);
  await Deno.mkdir(files.folder, { recursive: true, mode: 0o700 });
  const log = openSync(files.log, "a");
  const [program, ...args] = selfCommand();
  const child = spawn(program, [...args, "daemon", "run"], {
    detached: true,
    stdio: ["ignore", log, log],
    env: { ...Deno.env.toObject(), LOCKI_HOME: paths.root, NO_COLOR: "1" },
  });
  child.unref();
  closeSync(log);
  for (let attempt = 0; attempt < 200; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = await runningDaemon(paths);
    if (started) return started;
  }
  throw new LockiError(
    "the Locki daemon did not start within 10 seconds",
    `look at its log (${files.log}) and start it by hand with: locki daemon run`,
  );
}

/** Stops the daemon when one runs; returns whether one was stopped. */
export async function stopDaemon(paths: LockiPaths): Promise<boolean> {
  const running = await runningDaemon(paths);
  if (!running) return false;
  Deno.kill(running.pid, "SIGTERM");
  for (let attempt = 0; attempt < 100 && processAlive(running.pid); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}
