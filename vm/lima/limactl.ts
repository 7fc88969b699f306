/**
 * Finding `limactl` and what it needs, and running it.
 *
 * NOTE: Lima is not packaged for the machines that test Locki, so the tests
 * drive this code with a stand-in `limactl` (tests/standins/limactl.ts)
 * that records its calls. The version and QEMU checks follow Lima's
 * documentation, not an observed run.
 */
import { dirname, join } from "node:path";
import { BackendError } from "../backend.ts";
import { runProcess } from "../process.ts";
import { MINIMUM_LIMA_VERSION } from "./config.ts";

export interface LimactlFound {
  path: string;
  version: string;
}

/** Environment access, for tests. */
export interface HostProbe {
  env: { get(key: string): string | undefined };
  /** Folder of the running Locki binary, searched first. */
  selfFolder: string;
  os: string;
  arch: string;
}

export function defaultProbe(): HostProbe {
  return {
    env: Deno.env,
    selfFolder: dirname(Deno.execPath()),
    os: Deno.build.os,
    arch: Deno.build.arch,
  };
}

/** Returns `limactl` beside the Locki binary, else on PATH, with its version checked. */
export async function findLimactl(probe: HostProbe): Promise<LimactlFound> {
  const candidates = [join(probe.selfFolder, "limactl")];
  for (const folder of (probe.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    candidates.push(join(folder, "limactl"));
  }
  const path = candidates.find((candidate) => isExecutable(candidate));
  if (!path) {
    throw new BackendError(
      "limactl was not found beside locki or on PATH",
      probe.os === "darwin"
        ? `install Lima ${MINIMUM_LIMA_VERSION} or later: brew install lima`
        : `install Lima ${MINIMUM_LIMA_VERSION} or later from its release archive, or choose the incus backend: backend = "incus" in ~/.locki/config.toml`,
    );
  }
  const result = await runProcess([path, "--version"]);
  const version = result.stdout.match(/(\d+\.\d+\.\d+)/)?.[1];
  if (result.code !== 0 || !version) {
    throw new BackendError(
      `${path} --version failed: ${
        (result.stderr || result.stdout).trim() || `exit code ${result.code}`
      }`,
      "reinstall Lima",
    );
  }
  if (compareVersions(version, MINIMUM_LIMA_VERSION) < 0) {
    throw new BackendError(
      `Lima ${version} at ${path} is too old; Locki needs ${MINIMUM_LIMA_VERSION} or later`,
      probe.os === "darwin" ? "upgrade it: brew upgrade lima" : "install a newer Lima release",
    );
  }
  return { path, version };
}

/** Lists what QEMU on Linux lacks, each with the package or step that provides it. */
export function qemuProblems(probe: HostProbe, exists = isExecutable): string[] {
  if (probe.os !== "linux") return [];
  const problems: string[] = [];
  const qemuArch = probe.arch === "aarch64" ? "aarch64" : "x86_64";
  const onPath = (name: string) =>
    (probe.env.get("PATH") ?? "").split(":").some((folder) => exists(join(folder, name)));
  if (!onPath(`qemu-system-${qemuArch}`)) {
    problems.push(
      `qemu-system-${qemuArch} is missing: sudo apt-get install ${
        qemuArch === "x86_64" ? "qemu-system-x86" : "qemu-system-arm"
      }`,
    );
  }
  if (!onPath("qemu-img")) problems.push("qemu-img is missing: sudo apt-get install qemu-utils");
  const firmware = qemuArch === "x86_64"
    ? ["/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/qemu/OVMF.fd"]
    : ["/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd"];
  if (!firmware.some((file) => fileExists(file))) {
    problems.push(
      `no UEFI firmware for QEMU: sudo apt-get install ${
        qemuArch === "x86_64" ? "ovmf" : "qemu-efi-aarch64"
      }`,
    );
  }
  try {
    const kvm = Deno.openSync("/dev/kvm", { read: true, write: true });
    kvm.close();
  } catch {
    problems.push(
      "/dev/kvm cannot be opened, so the VM would be very slow or not start: enable virtualisation, then add yourself to the kvm group (sudo usermod -aG kvm $USER) and log in again",
    );
  }
  return problems;
}

/** Compares dotted versions numerically: negative when `a` is older. */
export function compareVersions(a: string, b: string): number {
  const left = a.split(".").map(Number);
  const right = b.split(".").map(Number);
  for (let index = 0; index < Math.max(left.length, right.length); index++) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o755) & 0o111) !== 0;
  } catch {
    return false;
  }
}

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
