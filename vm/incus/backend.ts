import { createHash } from "node:crypto";
import { runInteractive, runProcess } from "../process.ts";
import {
  type Backend,
  BackendError,
  type BackendStatus,
  type ContainerInfo,
  type ContainerSpec,
  type DeviceConfig,
  type ExecOptions,
  type ImageRequest,
  type ProgressReporter,
} from "../backend.ts";
import { IncusApiError, IncusClient } from "./client.ts";

/** Socket paths of the Incus daemon in Debian's and upstream's packages. */
export const DEFAULT_INCUS_SOCKETS = ["/var/lib/incus/unix.socket", "/run/incus/unix.socket"];

/** Config key prefix of the labels Locki puts on its containers. */
export const LABEL_PREFIX = "user.locki.";

const SETUP_HINT = "on Debian 12 run `sudo vm/setup-debian-host.sh` from a Locki checkout; " +
  "elsewhere install Incus (https://linuxcontainers.org/incus/docs/main/installing/) and run `incus admin init`";

/**
 * Runs sandboxes as containers on an Incus server reached through its unix
 * socket. Lifecycle steps use the REST API; `exec` and image imports use the
 * `incus` CLI pointed at the same socket, for terminal handling and progress.
 */
export class IncusBackend implements Backend {
  readonly name = "incus";
  #client: IncusClient;

  /**
   * `cliConfigDir` becomes INCUS_CONF for `incus exec`: the CLI prints a
   * first-run banner on stderr when its config.yml is missing, which would
   * mix into the output of the sandbox's command.
   */
  constructor(
    readonly socketPath: string,
    readonly cliConfigDir?: string,
    readonly isolation = "containers share this host's kernel (no VM)",
  ) {
    this.#client = new IncusClient(socketPath);
  }

  /** Picks the socket: `INCUS_SOCKET`, then the first default path that exists. */
  static findSocket(env: { get(key: string): string | undefined } = Deno.env): string {
    const fromEnv = env.get("INCUS_SOCKET");
    if (fromEnv) return fromEnv;
    for (const candidate of DEFAULT_INCUS_SOCKETS) {
      try {
        if (Deno.statSync(candidate).isSocket) return candidate;
      } catch {
        // try the next candidate
      }
    }
    return DEFAULT_INCUS_SOCKETS[0];
  }

  async status(): Promise<BackendStatus> {
    const status: BackendStatus = {
      backend: this.name,
      ready: false,
      details: { socket: this.socketPath },
      problems: [],
      isolation: this.isolation,
    };
    let server: any;
    try {
      await Deno.stat(this.socketPath);
    } catch (error) {
      status.problems.push(describeConnectError(this.socketPath, error));
      return status;
    }
    try {
      server = await this.#client.request("GET", "/1.0");
    } catch (error) {
      status.problems.push(describeConnectError(this.socketPath, error));
      return status;
    }
    status.details["server version"] = server.environment?.server_version ?? "unknown";
    status.details["trusted"] = String(server.auth === "trusted");
    if (server.auth !== "trusted") {
      status.problems.push(
        `the Incus server at ${this.socketPath} does not trust this user; ${GROUP_HINT}`,
      );
      return status;
    }
    const pool = await this.#rootPool().catch(() => undefined);
    if (!pool) {
      status.problems.push(
        "the default Incus profile has no root disk, so containers cannot be created; " +
          "add one with `incus profile device add default root disk path=/ pool=<pool>` or " +
          SETUP_HINT,
      );
    } else {
      status.details["storage pool"] = pool;
    }
    status.ready = status.problems.length === 0;
    return status;
  }

  async ensureReady(_progress: ProgressReporter): Promise<void> {
    const status = await this.status();
    if (!status.ready) {
      throw new BackendError(`the incus backend is not ready: ${status.problems.join("; ")}`);
    }
  }

  async ensureImage(request: ImageRequest, progress: ProgressReporter): Promise<string> {
    if (request.kind === "alias") {
      if (!await this.#client.find(`/1.0/images/aliases/${encodeURIComponent(request.alias)}`)) {
        throw new BackendError(
          `image '${request.alias}' not found on the Incus server`,
          request.alias.startsWith("locki-")
            ? "build it with `sudo vm/build-base-image.sh` from a Locki checkout"
            : `import it (incus image import ...) or fix incus_image in locki.toml`,
        );
      }
      return request.alias;
    }
    if (request.kind === "remote") {
      const alias = `locki-remote/${request.remote}/${request.image}`.replace(
        /[^A-Za-z0-9._/-]/g,
        "-",
      );
      if (await this.#client.find(`/1.0/images/aliases/${encodeURIComponent(alias)}`)) return alias;
      progress(`downloading image ${request.remote}:${request.image}`);
      await this.#cli([
        "image",
        "copy",
        `${request.remote}:${request.image}`,
        "local:",
        "--alias",
        alias,
      ], {
        // The user's own CLI config names the remotes, so no INCUS_CONF here.
        userConfig: true,
        what: `copying image ${request.remote}:${request.image}`,
        hint:
          `check that the remote '${request.remote}' exists (incus remote list) and is reachable`,
      });
      return alias;
    }
    // A local tarball is imported once under an alias derived from its
    // content, so a changed file is imported again and an unchanged one reused.
    const digest = await sha256File(request.path);
    const alias = `locki-file-${digest.slice(0, 16)}`;
    if (await this.#client.find(`/1.0/images/aliases/${alias}`)) return alias;
    // A unified tarball's fingerprint is the SHA-256 of the file, so the same
    // image imported earlier under another name only needs the alias.
    if (await this.#client.find(`/1.0/images/${digest}`)) {
      await this.#wrap(
        `naming image ${digest.slice(0, 12)}`,
        () => this.#client.request("POST", "/1.0/images/aliases", { name: alias, target: digest }),
      );
      return alias;
    }
    progress(`importing image ${request.path}`);
    await this.#cli(["image", "import", request.path, "--alias", alias], {
      what: `importing image ${request.path}`,
      hint:
        "check that the file is an Incus image tarball (unified, with metadata.yaml and rootfs/)",
    });
    return alias;
  }

  async create(spec: ContainerSpec, signal?: AbortSignal): Promise<void> {
    const source = /^[0-9a-f]{64}$/.test(spec.image)
      ? { type: "image", fingerprint: spec.image }
      : { type: "image", alias: spec.image };
    await this.#wrap(
      `creating container ${spec.name}`,
      () =>
        this.#client.request("POST", "/1.0/instances", {
          name: spec.name,
          type: "container",
          source,
          profiles: ["default"],
          config: spec.config,
          devices: spec.devices,
        }, signal),
    );
  }

  async start(name: string, signal?: AbortSignal): Promise<void> {
    const info = await this.get(name);
    if (!info) throw new BackendError(`cannot start container ${name}: it does not exist`);
    if (info.state === "Running") return;
    if (info.state === "Frozen") {
      await this.#changeState(name, "unfreeze", signal);
      return;
    }
    await this.#changeState(name, "start", signal);
    await this.#waitUntilExecutable(name);
  }

  /**
   * Confirms that a container just started is still running with an init
   * process. A container whose init dies at boot (a kernel limit, a broken
   * image) otherwise shows up later as a puzzling `exec` failure.
   */
  async #waitUntilExecutable(name: string): Promise<void> {
    const state = await this.#wrap(
      `reading the state of ${name}`,
      () => this.#client.request("GET", `/1.0/instances/${encodeURIComponent(name)}/state`),
    );
    if (state?.status !== "Running" || !(state?.pid > 0)) {
      throw new BackendError(
        `container ${name} stopped right after it started (state ${state?.status ?? "unknown"})`,
        `look at its log (incus info --show-log ${name}); on hosts with many containers, raise ` +
          "fs.inotify.max_user_instances (vm/setup-debian-host.sh does)",
      );
    }
    // NOTE: right after a start, while systemd boots (Docker with it), Incus
    // 6.0.4 sometimes failed an exec with "Failed to retrieve PID of
    // executing child process". A harmless exec, retried for up to 3 seconds
    // on that error, runs first so the caller's own exec comes later. This
    // made the failure go away in the tests here; its cause is not known.
    for (let attempt = 0; attempt < 30; attempt++) {
      const probe = await this.execCapture(name, ["true"]).catch(() => undefined);
      if (probe?.code === 0 || (probe && !/Failed to retrieve PID/.test(probe.stderr))) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(name: string): Promise<void> {
    const info = await this.get(name);
    if (!info || info.state === "Stopped") return;
    await this.#changeState(name, "stop", undefined, true);
  }

  async delete(name: string): Promise<void> {
    const info = await this.get(name);
    if (!info) return;
    if (info.state !== "Stopped") await this.#changeState(name, "stop", undefined, true);
    await this.#wrap(`deleting container ${name}`, async () => {
      // Another client's operation on the container (a start, say) makes the
      // server refuse with "busy" until it ends, so wait for that briefly.
      for (let attempt = 0;; attempt++) {
        try {
          await this.#client.request("DELETE", `/1.0/instances/${encodeURIComponent(name)}`);
          return;
        } catch (error) {
          if (error instanceof IncusApiError && error.status === 404) return;
          const busy = error instanceof IncusApiError && /busy|running/i.test(error.message);
          if (!busy || attempt >= 20) throw error;
          await new Promise((resolve) => setTimeout(resolve, 500));
          if ((await this.get(name))?.state === "Running") {
            await this.#changeState(name, "stop", undefined, true);
          }
        }
      }
    });
  }

  async get(name: string): Promise<ContainerInfo | undefined> {
    const instance = await this.#wrap(
      `reading container ${name}`,
      () => this.#client.find(`/1.0/instances/${encodeURIComponent(name)}`),
    );
    return instance ? toInfo(instance) : undefined;
  }

  async list(): Promise<ContainerInfo[]> {
    const instances: any[] = await this.#wrap(
      "listing containers",
      () => this.#client.request("GET", "/1.0/instances?recursion=1"),
    );
    return instances.filter((instance) => instance.config?.[`${LABEL_PREFIX}id`]).map(toInfo);
  }

  async addDevice(name: string, device: string, config: DeviceConfig): Promise<void> {
    const path = `/1.0/instances/${encodeURIComponent(name)}`;
    await this.#wrap(`adding device ${device} to ${name}`, async () => {
      const instance = await this.#client.request("GET", path);
      const devices = { ...(instance.devices ?? {}), [device]: config };
      await this.#client.request("PATCH", path, { devices });
    });
  }

  async pushFile(
    name: string,
    path: string,
    content: string | Uint8Array,
    mode: number,
  ): Promise<void> {
    const base = `/1.0/instances/${encodeURIComponent(name)}/files`;
    await this.#wrap(`writing ${path} in ${name}`, async () => {
      const parts = path.split("/").filter(Boolean);
      for (let depth = 1; depth < parts.length; depth++) {
        const folder = "/" + parts.slice(0, depth).join("/");
        await this.#client.upload(`${base}?path=${encodeURIComponent(folder)}`, new Uint8Array(), {
          "X-Incus-type": "directory",
          "X-Incus-uid": "0",
          "X-Incus-gid": "0",
          "X-Incus-mode": "0755",
        }).catch((error) => {
          // An existing folder is fine.
          if (!(error instanceof IncusApiError && /exists/i.test(error.message))) throw error;
        });
      }
      await this.#client.upload(
        `${base}?path=${encodeURIComponent(path)}`,
        typeof content === "string" ? new TextEncoder().encode(content) : new Uint8Array(content),
        {
          "X-Incus-type": "file",
          "X-Incus-uid": "0",
          "X-Incus-gid": "0",
          "X-Incus-mode": mode.toString(8).padStart(4, "0"),
          "X-Incus-write": "overwrite",
        },
      );
    });
  }

  async setConfig(name: string, config: Record<string, string>): Promise<void> {
    await this.#wrap(
      `updating the config of ${name}`,
      () => this.#client.request("PATCH", `/1.0/instances/${encodeURIComponent(name)}`, { config }),
    );
  }

  async getConfig(name: string) {
    const instance = await this.#wrap(
      `reading container ${name}`,
      () => this.#client.find(`/1.0/instances/${encodeURIComponent(name)}`),
    );
    return instance
      ? { config: instance.config ?? {}, devices: instance.devices ?? {} }
      : undefined;
  }

  /** Creates a custom storage volume on the default pool if missing and returns the disk device that mounts it. */
  async sharedVolumeDevice(volume: string, mountPath: string): Promise<DeviceConfig> {
    const pool = await this.#rootPool();
    const path = `/1.0/storage-pools/${encodeURIComponent(pool)}/volumes/custom/${
      encodeURIComponent(volume)
    }`;
    await this.#wrap(`creating storage volume ${volume}`, async () => {
      if (await this.#client.find(path)) return;
      try {
        await this.#client.request(
          "POST",
          `/1.0/storage-pools/${encodeURIComponent(pool)}/volumes/custom`,
          {
            name: volume,
            type: "custom",
            content_type: "filesystem",
            config: {},
          },
        );
      } catch (error) {
        // Another Locki process may have created it a moment ago.
        if (
          !(error instanceof IncusApiError && error.status === 409) &&
          !await this.#client.find(path)
        ) throw error;
      }
    });
    return { type: "disk", pool, source: volume, path: mountPath };
  }

  execInteractive(name: string, argv: string[], options: ExecOptions): Promise<number> {
    return runInteractive(["incus", ...execArguments(name, argv, options)], {
      env: this.#cliEnv(),
      stdinNull: options.noStdin,
    });
  }

  execCapture(
    name: string,
    argv: string[],
    options: Omit<ExecOptions, "tty"> & { stdin?: string } = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return runProcess(["incus", ...execArguments(name, argv, { ...options, tty: false })], {
      env: this.#cliEnv(),
      stdin: options.stdin,
    });
  }

  async #rootPool(): Promise<string> {
    const profile = await this.#client.request("GET", "/1.0/profiles/default");
    const pool = profile.devices?.root?.pool;
    if (!pool) throw new BackendError("the default Incus profile has no root disk", SETUP_HINT);
    return pool;
  }

  async #changeState(
    name: string,
    action: string,
    signal?: AbortSignal,
    force = false,
  ): Promise<void> {
    await this.#wrap(
      `${action === "stop" ? "stopping" : action + "ing"} container ${name}`,
      () =>
        this.#client.request(
          "PUT",
          `/1.0/instances/${encodeURIComponent(name)}/state`,
          { action, timeout: 30, force },
          signal,
        ),
    );
  }

  #cliEnv(): Record<string, string> {
    if (!this.cliConfigDir) return { INCUS_SOCKET: this.socketPath };
    Deno.mkdirSync(this.cliConfigDir, { recursive: true, mode: 0o700 });
    const file = `${this.cliConfigDir}/config.yml`;
    try {
      Deno.statSync(file);
    } catch {
      // The CLI prints its first-run banner whenever config.yml is missing.
      Deno.writeTextFileSync(file, LOCAL_ONLY_CLI_CONFIG, { mode: 0o600 });
    }
    return { INCUS_SOCKET: this.socketPath, INCUS_CONF: this.cliConfigDir };
  }

  async #cli(
    args: string[],
    context: { what: string; hint: string; userConfig?: boolean },
  ): Promise<void> {
    const env = context.userConfig ? { INCUS_SOCKET: this.socketPath } : this.#cliEnv();
    const code = await runInteractive(["incus", ...args], { env, stdinNull: true });
    if (code !== 0) {
      throw new BackendError(
        `${context.what} failed (incus exited with code ${code})`,
        context.hint,
      );
    }
  }

  /** Turns socket and API failures into `BackendError`s that name the step that failed. */
  async #wrap<T>(what: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      if (error instanceof BackendError) throw error;
      if (error instanceof IncusApiError) {
        throw new BackendError(`${what} failed: ${error.message}`, hintFor(error.message));
      }
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw new BackendError(`${what} failed: ${describeConnectError(this.socketPath, error)}`);
    }
  }
}

/** `incus` CLI settings with only the local server, so `exec` finds no remote and prints no banner. */
const LOCAL_ONLY_CLI_CONFIG = `default-remote: local
remotes:
  local:
    addr: unix://
    protocol: incus
    public: false
aliases: {}
`;

const GROUP_HINT =
  "add the user to the incus-admin group (sudo usermod -aG incus-admin $USER) and log in again";

function describeConnectError(socket: string, error: unknown): string {
  let message = error instanceof Error ? error.message : String(error);
  // fetch wraps socket errors in a TypeError whose cause has the detail.
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause instanceof Error) message += `: ${cause.message}`;
  if (/No such file|not found|ENOENT|Connection refused|ECONNREFUSED/i.test(message)) {
    return `Incus is not installed or its daemon is not running (no server at ${socket}); ${SETUP_HINT}; ` +
      "if the server uses another socket, set INCUS_SOCKET or `socket` under [incus] in ~/.locki/config.toml";
  }
  if (/Permission denied|EACCES/i.test(message)) {
    return `permission denied on the Incus socket ${socket}; ${GROUP_HINT}`;
  }
  return `cannot reach the Incus server at ${socket}: ${message}`;
}

function hintFor(message: string): string | undefined {
  if (/no space left|quota/i.test(message)) {
    return "free disk space (or grow the storage pool: incus storage set <pool> size=...) and retry";
  }
  if (/idmap|subuid|subgid/i.test(message)) {
    return "map your uid for Incus: add 'root:<uid>:1' to /etc/subuid and /etc/subgid and restart incusd " +
      "(vm/setup-debian-host.sh --user $USER does this)";
  }
  return undefined;
}

function toInfo(instance: any): ContainerInfo {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(instance.config ?? {})) {
    if (key.startsWith(LABEL_PREFIX)) labels[key.slice(LABEL_PREFIX.length)] = String(value);
  }
  return { name: instance.name, state: instance.status, labels, createdAt: instance.created_at };
}

function execArguments(name: string, argv: string[], options: ExecOptions): string[] {
  const args = ["exec", name, options.tty ? "--force-interactive" : "--force-noninteractive"];
  if (options.cwd) args.push("--cwd", options.cwd);
  for (const [key, value] of Object.entries(options.env ?? {})) {
    args.push("--env", `${key}=${value}`);
  }
  return [...args, "--", ...argv];
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}
