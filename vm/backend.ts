/**
 * The contract between Locki's sandbox engine and a place that runs system
 * containers. The `incus` backend talks to an Incus server; the `lima`
 * backend wraps it with a VM that hosts that server. Nothing here imports
 * from `core/`, so backends can be tested on their own.
 */

/** Incus device configuration: `type` plus its keys, all strings. */
export type DeviceConfig = Record<string, string>;

/** Container to create: everything except the image is plain Incus configuration. */
export interface ContainerSpec {
  name: string;
  /** Local alias or fingerprint of the image, as returned by `ensureImage`. */
  image: string;
  /** Instance config keys (`raw.idmap`, `environment.*`, `user.locki.*` labels, ...). */
  config: Record<string, string>;
  devices: Record<string, DeviceConfig>;
}

/** Container state as the backend reports it. */
export type ContainerState = "Running" | "Stopped" | "Frozen" | "Error" | string;

export interface ContainerInfo {
  name: string;
  state: ContainerState;
  /** `user.locki.*` config keys, without the prefix. */
  labels: Record<string, string>;
  createdAt?: string;
}

export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Allocate a pseudo-terminal; only when the caller's stdin and stdout are terminals. */
  tty: boolean;
  /** Give the command no stdin, so it cannot consume input meant for a later command. */
  noStdin?: boolean;
}

/** Image source, resolved by the engine from `locki.toml`. */
export type ImageRequest =
  | { kind: "alias"; alias: string }
  | { kind: "remote"; remote: string; image: string }
  | { kind: "file"; path: string };

/** A line-oriented progress sink; backends report long steps through it. */
export type ProgressReporter = (message: string) => void;

export interface BackendStatus {
  backend: string;
  ready: boolean;
  /** Human-readable facts (server version, socket, storage pool, ...). */
  details: Record<string, string>;
  /** Missing parts and the commands that fix them, when not ready. */
  problems: string[];
  /** Isolation of sandboxes from the host, in plain words. */
  isolation: string;
}

export interface Backend {
  readonly name: string;
  /** Reports whether the backend can run sandboxes, without changing anything. */
  status(): Promise<BackendStatus>;
  /** Starts what the backend needs (a VM, a daemon) or raises with the fix. */
  ensureReady(progress: ProgressReporter): Promise<void>;
  /** Makes the image available locally and returns the alias or fingerprint to create from. */
  ensureImage(request: ImageRequest, progress: ProgressReporter): Promise<string>;
  /** Creates a container named `spec.name`; it must not exist yet. */
  create(spec: ContainerSpec, signal?: AbortSignal): Promise<void>;
  start(name: string, signal?: AbortSignal): Promise<void>;
  stop(name: string): Promise<void>;
  /** Deletes the container, stopping it first; a missing container is not an error. */
  delete(name: string): Promise<void>;
  get(name: string): Promise<ContainerInfo | undefined>;
  /** Lists the containers Locki created (those with a `user.locki.id` label), for every repository. */
  list(): Promise<ContainerInfo[]>;
  addDevice(name: string, device: string, config: DeviceConfig): Promise<void>;
  /** Creates a storage volume shared by sandboxes if missing, and returns the disk device that mounts it at `mountPath`. */
  sharedVolumeDevice(volume: string, mountPath: string): Promise<DeviceConfig>;
  /** Writes a file into the container (running or stopped), creating missing parent folders, owned by root. */
  pushFile(name: string, path: string, content: string | Uint8Array, mode: number): Promise<void>;
  /** Sets instance config keys, leaving the others as they are. */
  setConfig(name: string, config: Record<string, string>): Promise<void>;
  /** Returns an instance's config and devices as stored. */
  getConfig(
    name: string,
  ): Promise<{ config: Record<string, string>; devices: Record<string, DeviceConfig> } | undefined>;
  /** Runs `argv` with the caller's stdin, stdout and stderr, and returns its exit code. */
  execInteractive(name: string, argv: string[], options: ExecOptions): Promise<number>;
  /** Starts the machine that hosts the containers (a VM), creating it when missing; absent when there is none. */
  startHost?(progress: ProgressReporter): Promise<void>;
  /** Stops that machine; containers restart with it on their next use. */
  stopHost?(): Promise<void>;
  /** Deletes that machine and every container in it, keeping the host folders it mounted. */
  deleteHost?(): Promise<void>;
  /** Runs `argv` with captured output. */
  execCapture(
    name: string,
    argv: string[],
    options?: Omit<ExecOptions, "tty"> & { stdin?: string },
  ): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Raised by backends for failures the user can act on; `hint` is the fix. */
export class BackendError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = "BackendError";
  }
}
