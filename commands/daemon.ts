import type { Command } from "commander";
import { serveDaemon } from "../core/bridge/daemon.ts";
import { daemonFiles } from "../core/bridge/daemon.ts";
import { ensureDaemon, runningDaemon, stopDaemon } from "../core/bridge/lifecycle.ts";
import { LockiError } from "../core/errors.ts";
import { ensureLockiFolders, lockiPaths } from "../core/paths.ts";

export function registerDaemon(program: Command): void {
  const daemon = program
    .command("daemon")
    .description(
      "the host daemon that runs allowlisted git and gh commands for sandboxes (started on demand)",
    );

  daemon.command("run")
    .description("serve in the foreground (one per user; exits at once when one already runs)")
    .option(
      "--port <port>",
      "loopback TCP port to listen on (default: the last one, else any free one)",
    )
    .action(async (options: { port?: string }) => {
      const paths = lockiPaths();
      await ensureLockiFolders(paths);
      const files = daemonFiles(paths);
      await Deno.mkdir(files.folder, { recursive: true, mode: 0o700 });
      const lock = await Deno.open(files.lock, { create: true, write: true });
      const locked = await Promise.race([
        lock.lock(true).then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 300)),
      ]);
      if (!locked) {
        console.error("locki daemon: another daemon already runs for this user");
        Deno.exit(0);
      }
      const port = options.port === undefined ? 0 : Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new LockiError(
          `invalid --port '${options.port}'`,
          "give a TCP port number from 1 to 65535",
        );
      }
      await serveDaemon(paths, port);
      Deno.exit(0);
    });

  daemon.command("start")
    .description("start the daemon in the background if it is not running")
    .action(async () => {
      const paths = lockiPaths();
      await ensureLockiFolders(paths);
      const info = await ensureDaemon(paths);
      console.error(`locki daemon running: pid ${info.pid}, 127.0.0.1:${info.port}`);
    });

  daemon.command("status")
    .description("show whether the daemon runs, its pid, port and log")
    .option("--json", "print the status as JSON")
    .action(async (options: { json?: boolean }) => {
      const paths = lockiPaths();
      const info = await runningDaemon(paths);
      const log = daemonFiles(paths).log;
      if (options.json) {
        console.log(
          JSON.stringify(
            { running: Boolean(info), pid: info?.pid, port: info?.port, log },
            null,
            2,
          ),
        );
      } else {
        console.log(info ? `running: pid ${info.pid}, 127.0.0.1:${info.port}` : "not running");
        console.log(`log: ${log}`);
      }
      if (!info) Deno.exitCode = 1;
    });

  daemon.command("stop")
    .description("stop the daemon (sandboxes start it again when they need it)")
    .action(async () => {
      const stopped = await stopDaemon(lockiPaths());
      console.error(stopped ? "locki daemon stopped" : "locki daemon was not running");
    });
}
