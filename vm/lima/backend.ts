/**
 * The `lima` backend: one Lima VM named `locki` hosts an Incus server, and
 * the VM is the security boundary. Locki reaches that Incus server through
 * the socket Lima forwards to the host, with the same code as the `incus`
 * backend. Only the VM's life cycle goes through `limactl`.
 *
 * NOTE: Lima cannot run on the machines that test Locki. The tests drive
 * this backend with a stand-in `limactl` (tests/standins/limactl.ts) that
 * records its calls and hands container work to the local Incus server, so
 * the command sequences are tested but a real VM never booted under it.
 */
import { join } from "node:path";
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
import { IncusBackend } from "../incus/backend.ts";
import { runProcess } from "../process.ts";
import {
  buildLimaConfig,
  FORWARDED_SOCKET,
  INSTANCE,
  type LimaSizing,
  renderLimaConfig,
} from "./config.ts";
import { findLimactl, type HostProbe, type LimactlFound, qemuProblems } from "./limactl.ts";

/** Maximum unix socket path on macOS: 104 bytes, including the final NUL. */
const MAX_SOCKET_PATH = 103;

export interface LimaBackendOptions {
  /** LIMA_HOME for Locki's own instance, apart from the user's other Lima VMs. */
  limaHome: string;
  /** The two host folders the VM may see. */
  worktrees: string;
  home: string;
  sizing: LimaSizing;
  /** INCUS_CONF folder for the `incus` client, as for the incus backend. */
  cliConfigDir: string;
  imageAlias: string;
  /** Texts of vm/build-base-image.sh and vm/debian-mirror.sh, provisioned into the VM. */
  imageScript: string;
  mirrorScript: string;
  probe: HostProbe;
  /** Seconds `limactl start` may take before Locki gives up (the first start builds the image). */
  startTimeoutSeconds?: number;
}

export class LimaBackend implements Backend {
  readonly name = "lima";
  readonly isolation: string;
  #inner: IncusBackend;
  #limactl?: LimactlFound;
  #hostAddress?: string;

  constructor(readonly options: LimaBackendOptions) {
    this.isolation =
      `one Lima VM hosts every sandbox; the VM sees only ${options.worktrees} and ${options.home}`;
    this.#inner = new IncusBackend(this.socketPath, options.cliConfigDir, this.isolation);
  }

  /** The VM's Incus socket as Lima forwards it to the host. */
  get socketPath(): string {
    return join(this.options.limaHome, INSTANCE, FORWARDED_SOCKET);
  }

  get configFile(): string {
    return join(this.options.limaHome, "_locki", `${INSTANCE}.yaml`);
  }

  /**
   * Problems that stop the VM from being created, each with its fix. QEMU's
   * are only reported, because Lima may find firmware or a VM type that
   * these checks do not know, and it gives its own error when it cannot.
   */
  async #hostProblems(): Promise<string[]> {
    const problems: string[] = [];
    try {
      this.#limactl ??= await findLimactl(this.options.probe);
    } catch (error) {
      const hint = (error as BackendError).hint;
      problems.push(`${(error as Error).message}${hint ? `; ${hint}` : ""}`);
    }
    if (this.socketPath.length > MAX_SOCKET_PATH) {
      problems.push(
        `the forwarded Incus socket ${this.socketPath} is longer than ${MAX_SOCKET_PATH} characters, ` +
          "which unix sockets do not allow; set LOCKI_LIMA_HOME to a shorter folder such as ~/.locki-lima",
      );
    }
    const client = await runProcess(["sh", "-c", "command -v incus"]);
    if (client.code !== 0) {
      problems.push(
        "the incus client is missing, which Locki uses for `exec` in sandboxes: " +
          (this.options.probe.os === "darwin"
            ? "brew install incus"
            : "sudo apt-get install incus-client"),
      );
    }
    return problems;
  }

  async #run(args: string[], timeoutSeconds?: number, progress?: ProgressReporter) {
    const limactl = this.#limactl ?? await findLimactl(this.options.probe);
    this.#limactl = limactl;
    const command = new Deno.Command(limactl.path, {
      args,
      env: { LIMA_HOME: this.options.limaHome },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const child = command.spawn();
    const timer = timeoutSeconds
      ? setTimeout(() => child.kill("SIGTERM"), timeoutSeconds * 1000)
      : undefined;
    const decoder = new TextDecoder();
    let stderr = "";
    const readErrors = (async () => {
      for await (const chunk of child.stderr) {
        const text = decoder.decode(chunk, { stream: true });
        stderr += text;
        // limactl logs each step on stderr; the last line is the progress.
        const line = text.trim().split("\n").at(-1);
        if (progress && line) progress(`lima: ${line.replace(/^time="[^"]*" level=\w+ msg=/, "")}`);
      }
    })();
    const stdout = new Response(child.stdout).text();
    const status = await child.status;
    clearTimeout(timer);
    await readErrors;
    return {
      code: status.code,
      stdout: await stdout,
      stderr,
      timedOut: status.signal === "SIGTERM",
    };
  }

  /** Returns the VM's state as Lima reports it ("Running", "Stopped", ...), or "missing". */
  async vmState(): Promise<string> {
    const result = await this.#run(["list", "--json"]);
    if (result.code !== 0) {
      throw new BackendError(
        `limactl list failed: ${result.stderr.trim()}`,
        "check your Lima installation",
      );
    }
    for (const line of result.stdout.split("\n").filter(Boolean)) {
      const instance = JSON.parse(line);
      if (instance.name === INSTANCE) return instance.status ?? "unknown";
    }
    return "missing";
  }

  async status(): Promise<BackendStatus> {
    const status: BackendStatus = {
      backend: this.name,
      ready: false,
      details: { "LIMA_HOME": this.options.limaHome, socket: this.socketPath },
      problems: await this.#hostProblems(),
      isolation: this.isolation,
    };
    if (this.#limactl) {
      status.details.limactl = `${this.#limactl.path} (${this.#limactl.version})`;
      const state = await this.vmState().catch((error) => `unknown (${error.message})`);
      status.details.vm = state;
      const qemu = qemuProblems(this.options.probe);
      if (qemu.length > 0) status.details.qemu = qemu.join("; ");
      if (state === "missing") {
        status.problems.push("the Lima VM does not exist yet; any sandbox command creates it");
      } else if (state !== "Running") {
        status.problems.push(
          `the Lima VM is ${state}; locki vm start or any sandbox command starts it`,
        );
      } else {
        const inner = await this.#inner.status();
        Object.assign(status.details, inner.details);
        status.problems.push(...inner.problems);
      }
    }
    status.ready = status.problems.length === 0;
    return status;
  }

  /** Creates the VM when missing and starts it when stopped, then waits for its Incus server. */
  async ensureReady(progress: ProgressReporter): Promise<void> {
    const problems = await this.#hostProblems();
    if (problems.length > 0) {
      throw new BackendError(`the lima backend cannot start: ${problems.join("; ")}`);
    }
    const state = await this.vmState();
    if (state !== "Running") {
      for (const problem of qemuProblems(this.options.probe)) progress(`warning: ${problem}`);
    }
    if (state === "missing") {
      await Deno.mkdir(join(this.options.limaHome, "_locki"), { recursive: true });
      await Deno.writeTextFile(this.configFile, renderLimaConfig(buildLimaConfig(this.options)));
      progress(
        "creating the Lima VM 'locki' (the first time downloads a Debian image and builds the sandbox image)",
      );
      await this.#start(["start", `--name=${INSTANCE}`, "--tty=false", this.configFile], progress);
    } else if (state !== "Running") {
      progress(`starting the Lima VM '${INSTANCE}'`);
      await this.#start(["start", "--tty=false", INSTANCE], progress);
    }
    await this.#inner.ensureReady(progress);
  }

  async #start(args: string[], progress: ProgressReporter): Promise<void> {
    const timeout = this.options.startTimeoutSeconds ?? 1800;
    const result = await this.#run(args, timeout, progress);
    if (result.code === 0 && !result.timedOut) return;
    const folder = join(this.options.limaHome, INSTANCE);
    const qemu = qemuProblems(this.options.probe);
    const reason =
      (result.timedOut
        ? `the Lima VM did not come up within ${timeout} seconds`
        : `limactl ${args[0]} failed: ${result.stderr.trim().split("\n").slice(-3).join(" ")}`) +
      (qemu.length > 0 ? ` (QEMU set-up: ${qemu.join("; ")})` : "");
    throw new BackendError(
      `${reason}; see Lima's logs ${join(folder, "ha.stderr.log")} and ${
        join(folder, "serial.log")
      }`,
      "your worktrees and the shared home are untouched; to start the VM over, run: locki vm delete --yes",
    );
  }

  /** Starts the VM (creating it when missing); for `locki vm start`. */
  startHost(progress: ProgressReporter): Promise<void> {
    return this.ensureReady(progress);
  }

  /** Stops the VM; sandboxes restart with it on their next use. */
  async stopHost(): Promise<void> {
    if ((await this.vmState()) !== "Running") return;
    const result = await this.#run(["stop", INSTANCE], 300);
    if (result.code !== 0) {
      throw new BackendError(
        `limactl stop failed: ${result.stderr.trim()}`,
        "run: limactl stop --force locki",
      );
    }
  }

  /** Deletes the VM with every container in it; the host folders it mounted stay. */
  async deleteHost(): Promise<void> {
    if ((await this.vmState()) === "missing") return;
    const result = await this.#run(["delete", "--force", INSTANCE], 300);
    if (result.code !== 0) {
      throw new BackendError(`limactl delete failed: ${result.stderr.trim()}`, "check Lima's logs");
    }
    this.#hostAddress = undefined;
  }

  /**
   * Returns the address at which containers in the VM reach the host's loopback:
   * Lima's `host.lima.internal`, resolved in the VM because names from the
   * VM's hosts file do not resolve inside nested containers.
   */
  async hostAddress(): Promise<string> {
    if (this.#hostAddress) return this.#hostAddress;
    const result = await this.#run(["shell", INSTANCE, "getent", "ahostsv4", "host.lima.internal"]);
    const address = result.stdout.trim().split(/\s+/)[0];
    if (result.code !== 0 || !/^\d+\.\d+\.\d+\.\d+$/.test(address ?? "")) {
      throw new BackendError(
        `the VM cannot resolve host.lima.internal: ${result.stderr.trim() || result.stdout.trim()}`,
        "recreate the VM with: locki vm delete --yes",
      );
    }
    this.#hostAddress = address;
    return address;
  }

  /**
   * Returns `config` with a proxy to the host's loopback (the bridge daemon)
   * pointed at the host's address as seen from the VM; other devices stay as they are.
   */
  async #throughHost(config: DeviceConfig): Promise<DeviceConfig> {
    const port = config.type === "proxy"
      ? config.connect?.match(/^tcp:127\.0\.0\.1:(\d+)$/)?.[1]
      : undefined;
    if (!port) return config;
    return { ...config, connect: `tcp:${await this.hostAddress()}:${port}` };
  }

  async create(spec: ContainerSpec, signal?: AbortSignal): Promise<void> {
    const devices: Record<string, DeviceConfig> = {};
    for (const [name, device] of Object.entries(spec.devices)) {
      devices[name] = await this.#throughHost(device);
    }
    await this.#inner.create({ ...spec, devices }, signal);
  }

  async addDevice(name: string, device: string, config: DeviceConfig): Promise<void> {
    await this.#inner.addDevice(name, device, await this.#throughHost(config));
  }

  ensureImage(request: ImageRequest, progress: ProgressReporter): Promise<string> {
    return this.#inner.ensureImage(request, progress);
  }
  start(name: string, signal?: AbortSignal): Promise<void> {
    return this.#inner.start(name, signal);
  }
  stop(name: string): Promise<void> {
    return this.#inner.stop(name);
  }
  delete(name: string): Promise<void> {
    return this.#inner.delete(name);
  }
  get(name: string): Promise<ContainerInfo | undefined> {
    return this.#inner.get(name);
  }
  list(): Promise<ContainerInfo[]> {
    return this.#inner.list();
  }
  sharedVolumeDevice(volume: string, mountPath: string): Promise<DeviceConfig> {
    return this.#inner.sharedVolumeDevice(volume, mountPath);
  }
  pushFile(name: string, path: string, content: string | Uint8Array, mode: number): Promise<void> {
    return this.#inner.pushFile(name, path, content, mode);
  }
  setConfig(name: string, config: Record<string, string>): Promise<void> {
    return this.#inner.setConfig(name, config);
  }
  getConfig(name: string) {
    return this.#inner.getConfig(name);
  }
  execInteractive(name: string, argv: string[], options: ExecOptions): Promise<number> {
    return this.#inner.execInteractive(name, argv, options);
  }
  execCapture(
    name: string,
    argv: string[],
    options?: Omit<ExecOptions, "tty"> & { stdin?: string },
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.#inner.execCapture(name, argv, options);
  }
}
