import { spawn } from "node:child_process";
import type { Socket } from "node:net";
import { basename, dirname, join, normalize } from "node:path";
import ssh2 from "ssh2";
import { runProcess } from "../../vm/process.ts";
import { LockiError } from "../errors.ts";
import type { LockiPaths } from "../paths.ts";
import { listRecords, type SandboxRecord } from "../sandbox_store.ts";
import { describeProblems, integrityProblems } from "../hooks/integrity.ts";
import { touchLastUsed } from "../activity.ts";
import { startIdleSweeper } from "./idle.ts";
import { Denied, MAX_COMMAND_BYTES } from "./command_parser.ts";
import { hostFacts, recordStash } from "./host_facts.ts";
import { commandEnv, HostGitCache, hostGitSetup } from "./host_git.ts";
import { decide } from "./policy.ts";
import { loadBuiltinRules, type Rule } from "./rules.ts";
import { effectiveRules } from "./effective_rules.ts";
import { decodeRequest, decodeWords, STDIN_ARGUMENTS } from "./wire.ts";

/** Exit code of a command the bridge denied, as a shell reports a command it cannot run. */
export const DENIED_EXIT_CODE = 126;

/** Files of the running daemon under `state/bridge/`. */
export function daemonFiles(paths: LockiPaths) {
  const folder = join(paths.state, "bridge");
  return {
    folder,
    hostKey: join(folder, "host_ed25519"),
    /** `{ "pid": ..., "port": ... }` of the running daemon. */
    info: join(folder, "daemon.json"),
    lock: join(folder, "daemon.lock"),
    /** Port of the last daemon, reused by the next one. */
    port: join(folder, "port"),
    log: join(paths.logs, "daemon.log"),
  };
}

/** Appends timestamped lines to the daemon log; never throws. */
export class DaemonLog {
  constructor(readonly file: string) {}
  write(message: string): void {
    try {
      Deno.writeTextFileSync(this.file, `${new Date().toISOString()} ${message}\n`, {
        append: true,
      });
    } catch {
      // A full disk must not stop the daemon from serving commands.
    }
  }
}

/** Writes a new ed25519 key pair without a passphrase to `file` and `file.pub`. */
export async function createKeyPair(file: string, comment: string): Promise<void> {
  // Written under a temporary name and renamed, public half first, so that
  // concurrent Locki processes never see a half-written pair.
  const temporary = `${file}.${Deno.pid}.tmp`;
  const argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", temporary];
  const result = await runProcess(argv);
  if (result.code !== 0) throw new Error(`ssh-keygen failed: ${result.stderr.trim()}`);
  await Deno.rename(`${temporary}.pub`, `${file}.pub`);
  await Deno.rename(temporary, file);
}

/** Creates the daemon's ed25519 host key once; sandboxes pin its public half in known_hosts. */
export async function ensureHostKey(paths: LockiPaths): Promise<string> {
  const files = daemonFiles(paths);
  await Deno.mkdir(files.folder, { recursive: true, mode: 0o700 });
  try {
    await Deno.stat(files.hostKey);
  } catch {
    await createKeyPair(files.hostKey, "locki-daemon");
  }
  return (await Deno.readTextFile(`${files.hostKey}.pub`)).trim();
}

/**
 * Serves the bridge until SIGTERM or SIGINT: SSH on a loopback port, public
 * keys only, one exec request per channel, each checked against the rules
 * and run with host git in the sandbox's own worktree.
 */
export async function serveDaemon(paths: LockiPaths, preferredPort = 0): Promise<void> {
  const files = daemonFiles(paths);
  const log = new DaemonLog(files.log);
  await ensureHostKey(paths);
  const rules = await loadBuiltinRules();
  const hostKey = await Deno.readTextFile(files.hostKey);
  const cache = new HostGitCache();

  const server = new ssh2.Server({ hostKeys: [hostKey] }, (client: any, info: any) => {
    handleClient(client, info, paths, rules, log, cache);
  });
  server.on("error", (error: Error) => log.write(`server error: ${error.message}`));
  // The same port as last time keeps existing containers' proxy devices valid.
  const remembered = Number(await Deno.readTextFile(files.port).catch(() => "0")) || 0;
  const port = await listen(server, preferredPort || remembered);
  await Deno.writeTextFile(files.port, `${port}\n`);
  await Deno.writeTextFile(files.info, JSON.stringify({ pid: Deno.pid, port }) + "\n", {
    mode: 0o600,
  });
  log.write(`daemon started: pid ${Deno.pid}, listening on 127.0.0.1:${port}`);
  const stopSweeper = startIdleSweeper(paths, log);

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    Deno.addSignalListener("SIGTERM", stop);
    Deno.addSignalListener("SIGINT", stop);
  });
  log.write(`daemon stopping: pid ${Deno.pid}`);
  stopSweeper();
  server.close();
  await Deno.remove(files.info).catch(() => {});
}

function listen(server: any, preferredPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const tryPort = (port: number) => {
      server.once("error", (error: NodeJS.ErrnoException) => {
        if (error.code === "EADDRINUSE" && port !== 0) tryPort(0);
        else reject(error);
      });
      // Loopback only: containers reach it through an Incus proxy device.
      server.listen(port, "127.0.0.1", () => resolve(server.address().port));
    };
    tryPort(preferredPort);
  });
}

function handleClient(
  client: any,
  info: any,
  paths: LockiPaths,
  rules: Rule[],
  log: DaemonLog,
  cache: HostGitCache,
): void {
  // NOTE: ssh2 keeps the TCP socket in a private field; without TCP_NODELAY
  // each command waits about 40 ms for delayed ACKs.
  (client._sock as Socket | undefined)?.setNoDelay?.(true);
  const peer = `${info.ip}:${info.port}`;
  let record: SandboxRecord | undefined;

  client.on("authentication", async (context: any) => {
    if (context.method !== "publickey") {
      // Clients try "none" first to learn the allowed methods; that attempt is not worth a line.
      if (context.method !== "none") {
        log.write(`rejected authentication from ${peer}: method ${context.method}`);
      }
      return context.reject(["publickey"]);
    }
    const match = await findSandboxByKey(paths, context.key);
    if (!match) {
      log.write(`rejected connection from ${peer}: unknown key ${context.key.algo}`);
      return context.reject(["publickey"]);
    }
    if (context.signature) {
      const parsed = ssh2.utils.parseKey(match.bridgeKey!);
      const key = Array.isArray(parsed) ? parsed[0] : parsed;
      if (
        key instanceof Error ||
        key.verify(context.blob, context.signature, context.hashAlgo) !== true
      ) {
        log.write(`rejected connection from ${peer}: bad signature for sandbox ${match.id}`);
        return context.reject(["publickey"]);
      }
    }
    record = match;
    context.accept();
  });

  client.on("ready", () => {
    client.on("session", (acceptSession: () => any) => {
      const session = acceptSession();
      // The one variable a shim may send: the index git uses while it runs a
      // hook (checked against the sandbox's own git folder in runRequest).
      let indexFile: string | undefined;
      session.on(
        "env",
        (accept: () => void, reject: () => void, info: { key: string; val: string }) => {
          if (info.key === "GIT_INDEX_FILE") {
            indexFile = info.val;
            accept?.();
            return;
          }
          log.write(`rejected env ${info.key.slice(0, 100)} from sandbox ${record?.id}`);
          reject?.();
        },
      );
      for (
        const kind of [
          "pty",
          "shell",
          "subsystem",
          "x11",
          "auth-agent",
          "window-change",
          "signal",
        ]
      ) {
        session.on(kind, (_accept: unknown, reject?: () => void) => {
          if (kind !== "window-change" && kind !== "signal") {
            log.write(`rejected ${kind} request from sandbox ${record?.id}`);
          }
          if (typeof reject === "function") reject();
        });
      }
      session.on("exec", (accept: () => any, _reject: () => void, request: { command: string }) => {
        const channel = accept();
        runRequest(channel, request.command, record!, paths, rules, log, cache, indexFile).catch(
          (error) => {
            log.write(
              `error in sandbox ${record?.id}: ${error instanceof Error ? error.message : error}`,
            );
            try {
              channel.stderr.write(
                `locki bridge: internal error: ${error instanceof Error ? error.message : error}\n`,
              );
              channel.exit(1);
              channel.end();
            } catch {
              // the client is gone
            }
          },
        );
      });
    });
  });
  client.on("request", (_accept: unknown, reject: (() => void) | undefined, name: string) => {
    log.write(`rejected ${name} request from sandbox ${record?.id}`);
    reject?.();
  });
  client.on("tcpip", (_accept: unknown, reject: () => void) => {
    log.write(`rejected port forwarding from sandbox ${record?.id}`);
    reject();
  });
  client.on("openssh.streamlocal", (_accept: unknown, reject: () => void) => reject());
  client.on(
    "error",
    (error: Error) => log.write(`connection error from ${peer}: ${error.message}`),
  );
}

async function findSandboxByKey(paths: LockiPaths, key: { algo: string; data: Uint8Array }) {
  for (const record of await listRecords(paths)) {
    if (!record.bridgeKey) continue;
    const parsed = ssh2.utils.parseKey(record.bridgeKey);
    const candidate = Array.isArray(parsed) ? parsed[0] : parsed;
    if (candidate instanceof Error) continue;
    const publicKey = candidate.getPublicSSH() as Uint8Array;
    if (candidate.type === key.algo && Buffer.from(publicKey).equals(Buffer.from(key.data))) {
      return record;
    }
  }
  return undefined;
}

async function runRequest(
  channel: any,
  command: string,
  record: SandboxRecord,
  paths: LockiPaths,
  builtinRules: Rule[],
  log: DaemonLog,
  cache: HostGitCache,
  indexFile?: string,
): Promise<void> {
  let rules = builtinRules;
  const deny = (rule: string, message: string) => {
    log.write(`denied sandbox ${record.id}: ${command.slice(0, 2000)} (rule ${rule}: ${message})`);
    // A modified worktree refuses every command, so the list of allowed ones would mislead.
    const summary = rule === "worktree-modified" ? "" : allowedSummary(rules);
    channel.stderr.write(`locki bridge: denied by rule '${rule}': ${message}\n${summary}`);
    channel.exit(DENIED_EXIT_CODE);
    channel.end();
  };

  let request;
  try {
    request = decodeRequest(command);
  } catch (error) {
    return deny("protocol", (error as Error).message);
  }
  if (request.args.length === 2 && request.args[0] === STDIN_ARGUMENTS) {
    const size = Number(request.args[1]);
    if (!Number.isInteger(size) || size < 0 || size > MAX_COMMAND_BYTES * 2) {
      return deny("protocol", `invalid argument size '${request.args[1]}'`);
    }
    try {
      request.args = decodeWords((await readExactly(channel, size)).toString("utf8"));
    } catch (error) {
      return deny("protocol", (error as Error).message);
    }
  }
  touchLastUsed(paths, record.id);
  const problems = await integrityProblems(record, { full: false });
  if (problems.length > 0) {
    return deny(
      "worktree-modified",
      `${
        describeProblems(record, problems)
      }\nthe user can restore it on the host with: locki repair ${record.branch}`,
    );
  }
  if (indexFile !== undefined && !isHookIndex(record, indexFile)) {
    return deny(
      "index-file",
      `GIT_INDEX_FILE may only name this worktree's index while git runs a hook, not '${indexFile}'`,
    );
  }

  try {
    rules = await effectiveRules(paths, record.repoRoot, builtinRules);
  } catch (error) {
    const hint = error instanceof LockiError && error.hint ? `; ${error.hint}` : "";
    return deny("settings", `${(error as Error).message}${hint}`);
  }
  const setup = await hostGitSetup(paths, record, request.tty, cache);
  const others = (await listRecords(paths))
    .filter((other) => other.commonDir === record.commonDir && other.id !== record.id)
    .map((other) => other.branch);
  let decision;
  try {
    decision = await decide(
      request.tool,
      request.args,
      request.cwd,
      { branch: record.branch, worktree: record.worktree, otherSandboxBranches: others },
      hostFacts(paths, record, setup),
      rules,
    );
  } catch (error) {
    if (error instanceof Denied) return deny(error.rule, error.message);
    throw error;
  }

  const argv = decision.tool === "git" ? [...setup.configArgs, ...decision.args] : decision.args;
  let env = decision.tool === "git" ? commandEnv(setup, decision.subcommand) : {
    PATH: setup.env.PATH,
    HOME: setup.env.HOME,
    GH_PROMPT_DISABLED: "1",
    GH_NO_UPDATE_NOTIFIER: "1",
  };
  if (indexFile !== undefined && decision.tool === "git") {
    env = { ...env, GIT_INDEX_FILE: indexFile };
  }
  const child = spawn(decision.tool, argv, {
    cwd: decision.cwd,
    env,
    stdio: ["pipe", "pipe", "pipe"],
    // Its own process group, so a client that goes away (Ctrl-C in the
    // sandbox) stops git and the hooks it started, as Ctrl-C would on a terminal.
    detached: true,
  });
  let finished = false;
  const stopGroup = (signal: "SIGINT" | "SIGTERM" | "SIGKILL") => {
    if (finished || !child.pid) return;
    try {
      Deno.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  channel.on("close", () => {
    if (finished) return;
    log.write(`client of sandbox ${record.id} went away; interrupting ${decision.tool}`);
    stopGroup("SIGINT");
    setTimeout(() => stopGroup("SIGTERM"), 3000);
    setTimeout(() => stopGroup("SIGKILL"), 10000);
  });
  channel.pipe(child.stdin);
  child.stdout.pipe(channel, { end: false });
  child.stderr.pipe(channel.stderr, { end: false });
  child.stdin.on("error", () => {}); // the command may exit before reading all input
  const code: number = await new Promise((resolve) => {
    child.on("error", (error: Error) => {
      channel.stderr.write(
        `locki bridge: cannot run ${decision.tool} on the host: ${error.message}\n`,
      );
      resolve(127);
    });
    child.on(
      "close",
      (exitCode: number | null, signal: string | null) => resolve(exitCode ?? (signal ? 129 : 1)),
    );
  });
  finished = true;
  if (code === 0 && decision.after === "record-stash") await recordStash(paths, record, setup);
  channel.exit(code);
  channel.end();
}

/** Reads exactly `size` bytes from a stream, leaving the rest for the command's stdin. */
function readExactly(stream: any, size: number): Promise<Buffer> {
  if (size === 0) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const ended = () => reject(new Error("the arguments ended early"));
    const attempt = () => {
      const chunk = stream.read(size);
      if (chunk === null) return;
      stream.off("readable", attempt);
      stream.off("end", ended);
      resolve(chunk);
    };
    stream.on("readable", attempt);
    stream.once("end", ended);
    attempt();
  });
}

/**
 * Whether `file` is an index git itself set for a hook in this worktree:
 * the index, its lock, or the temporary index of a partial commit, in the
 * worktree's own git folder.
 */
export function isHookIndex(record: SandboxRecord, file: string): boolean {
  if (!record.gitDir || !file.startsWith("/") || normalize(file) !== file) return false;
  return dirname(file) === record.gitDir &&
    /^(index|index\.lock|next-index-[0-9]+\.lock)$/.test(basename(file));
}

function allowedSummary(rules: Rule[]): string {
  const git = rules.filter((rule) => rule.tool === "git").map((rule) => rule.command.join(" "));
  const gh = rules.filter((rule) => rule.tool === "gh").map((rule) => rule.command.join(" "));
  return `allowed: git ${git.join(", ")}; gh ${gh.join(", ")} (details in /etc/locki/BRIDGE.md)\n`;
}
