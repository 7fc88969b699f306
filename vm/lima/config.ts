/**
 * The Lima configuration of Locki's VM, built as a typed object and written
 * as YAML. The VM mounts exactly two host folders, forwards no ports, and
 * forwards its Incus socket to the host.
 *
 * NOTE: written from Lima's documented configuration (templates/default.yaml
 * of Lima 2.x). No Lima runs on the machines that test Locki, so this file
 * was never given to a real `limactl`.
 */
import { stringify } from "yaml";

/** Lowest Lima version the configuration relies on (base templates, socket forwarding, the port rule fields). */
export const MINIMUM_LIMA_VERSION = "2.1.2";

/** Name of the VM, and of its folder under LIMA_HOME. */
export const INSTANCE = "locki";

/** Path of the VM's Incus socket on the host, relative to the instance folder. */
export const FORWARDED_SOCKET = "sock/incus.sock";

/** Path of the Incus socket inside the VM (Debian's incus package). */
export const GUEST_INCUS_SOCKET = "/var/lib/incus/unix.socket";

/** Image template: image-only, so no mount of the home folder comes with it. */
export const BASE_TEMPLATE = "template:_images/debian-13";

export interface LimaSizing {
  cpus: number;
  memoryGiB: number;
  diskGiB: number;
}

export interface LimaMount {
  location: string;
  mountPoint: string;
  writable: boolean;
}

export type LimaPortForward =
  | { guestIP: string; guestIPMustBeZero?: boolean; proto: "any"; ignore: true }
  | { guestSocket: string; hostSocket: string };

export interface LimaProvision {
  mode: "system" | "data";
  script?: string;
  path?: string;
  content?: string;
  permissions?: number;
}

export interface LimaProbe {
  mode: "readiness";
  description: string;
  script: string;
  hint: string;
}

/** The subset of Lima's configuration that Locki sets. */
export interface LimaConfig {
  minimumLimaVersion: string;
  base: string[];
  cpus: number;
  memory: string;
  disk: string;
  mounts: LimaMount[];
  containerd: { system: boolean; user: boolean };
  ssh: { loadDotSSHPubKeys: boolean; forwardAgent: boolean };
  portForwards: LimaPortForward[];
  provision: LimaProvision[];
  probes: LimaProbe[];
}

export interface LimaConfigInput {
  /** `~/.locki/worktrees`: mounted writable at the same path. */
  worktrees: string;
  /** `~/.locki/home`: mounted writable at the same path. */
  home: string;
  sizing: LimaSizing;
  /** Text of the base-image build script, run inside the VM at provisioning. */
  imageScript: string;
  /** Text of the script that picks a Debian mirror, next to the build script. */
  mirrorScript: string;
  /** Alias of the base image the readiness probe waits for. */
  imageAlias: string;
}

/** Sizes the VM from the host: half the CPUs (2 to 8), a quarter of the memory (4 to 16 GiB), 100 GiB of sparse disk. */
export function defaultSizing(cpuCount: number, memoryBytes: number): LimaSizing {
  const cpus = Math.min(8, Math.max(2, Math.floor(cpuCount / 2)));
  const memoryGiB = Math.min(16, Math.max(4, Math.floor(memoryBytes / 1024 ** 3 / 4)));
  return { cpus, memoryGiB, diskGiB: 100 };
}

export function buildLimaConfig(input: LimaConfigInput): LimaConfig {
  return {
    minimumLimaVersion: MINIMUM_LIMA_VERSION,
    base: [BASE_TEMPLATE],
    cpus: input.sizing.cpus,
    memory: `${input.sizing.memoryGiB}GiB`,
    disk: `${input.sizing.diskGiB}GiB`,
    mounts: [
      { location: input.worktrees, mountPoint: input.worktrees, writable: true },
      { location: input.home, mountPoint: input.home, writable: true },
    ],
    containerd: { system: false, user: false },
    ssh: { loadDotSSHPubKeys: false, forwardAgent: false },
    portForwards: [
      { guestSocket: GUEST_INCUS_SOCKET, hostSocket: `{{.Dir}}/${FORWARDED_SOCKET}` },
      // Since Lima 2.0 one rule for 0.0.0.0 no longer covers 127.0.0.1:
      // both are ignored, for TCP and UDP, so no sandbox port reaches the host.
      { guestIP: "127.0.0.1", proto: "any", ignore: true },
      { guestIP: "0.0.0.0", guestIPMustBeZero: false, proto: "any", ignore: true },
    ],
    provision: [
      {
        mode: "data",
        path: "/usr/local/lib/locki/build-base-image.sh",
        content: input.imageScript,
        permissions: 755,
      },
      {
        mode: "data",
        path: "/usr/local/lib/locki/debian-mirror.sh",
        content: input.mirrorScript,
        permissions: 755,
      },
      { mode: "system", script: provisionScript() },
    ],
    probes: [{
      mode: "readiness",
      description: "Incus and the Locki base image to be ready",
      script: readinessScript(input.imageAlias),
      hint: `Incus or the image ${input.imageAlias} did not become ready in the VM.
See /var/log/cloud-init-output.log and /var/log/locki-provision.log in the VM
(limactl shell ${INSTANCE}), or start over with: locki vm delete`,
    }],
  };
}

/** Writes the configuration as YAML, with a header saying where it came from. */
export function renderLimaConfig(config: LimaConfig): string {
  return `# Written by Locki; it rewrites this file before creating the VM.\n${
    stringify(config, { lineWidth: 0 })
  }`;
}

/**
 * Returns the provisioning script. Lima runs it on every boot, so every step
 * checks before it changes anything. It sets up Incus from Debian's
 * packages, a btrfs pool, a NAT bridge for container internet, a default
 * profile with nesting, uid maps for the worktree mount, socket access for
 * the Lima user, and the image.
 */
export function provisionScript(): string {
  return `#!/bin/bash
set -eux -o pipefail
exec >>/var/log/locki-provision.log 2>&1
export DEBIAN_FRONTEND=noninteractive
if ! command -v incus >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update
  apt-get install -y --no-install-recommends incus btrfs-progs debootstrap npm
fi
# The Lima user owns the socket, so the forwarded socket works before the
# user's new group membership does (that needs a new login).
mkdir -p /etc/systemd/system/incus.socket.d
cat >/etc/systemd/system/incus.socket.d/locki.conf <<EOF
[Socket]
SocketUser={{.User}}
SocketGroup=incus-admin
SocketMode=0660
EOF
usermod -aG incus-admin "{{.User}}"
# Worktree files belong to the Lima user, whose uid matches the host user's;
# raw.idmap maps it to container root.
changed=0
for file in /etc/subuid /etc/subgid; do
  grep -q '^root:1000000:1000000000$' "$file" || { echo 'root:1000000:1000000000' >>"$file"; changed=1; }
  grep -q "^root:{{.UID}}:1\\$" "$file" || { echo "root:{{.UID}}:1" >>"$file"; changed=1; }
done
systemctl daemon-reload
systemctl enable incus.socket incus.service
if [ "$changed" = 1 ]; then systemctl restart incus.socket incus.service; fi
systemctl start incus.socket incus.service
incus admin waitready --timeout 120
if ! incus storage show locki >/dev/null 2>&1; then
  incus storage create locki btrfs size=60GiB
fi
if ! incus network show lockibr0 >/dev/null 2>&1; then
  incus network create lockibr0 ipv4.address=auto ipv4.nat=true ipv6.address=none
fi
incus profile device show default | grep -q '^root:' ||
  incus profile device add default root disk path=/ pool=locki
incus profile device show default | grep -q '^eth0:' ||
  incus profile device add default eth0 nic network=lockibr0 name=eth0
incus profile set default security.nesting=true
cat >/etc/sysctl.d/90-locki-incus.conf <<EOF
fs.inotify.max_user_instances = 1048576
fs.inotify.max_user_watches = 1048576
vm.max_map_count = 262144
EOF
sysctl -q -p /etc/sysctl.d/90-locki-incus.conf
/usr/local/lib/locki/build-base-image.sh
`;
}

/** Returns the readiness probe: it fails `limactl start` unless Incus serves the base image within 20 minutes (the first boot builds it). */
export function readinessScript(imageAlias: string): string {
  return `#!/bin/bash
set -eu -o pipefail
if ! timeout 1200s bash -c 'until sudo -n incus image info ${imageAlias} >/dev/null 2>&1; do sleep 5; done'; then
  echo "Incus or the image ${imageAlias} is not ready" >&2
  exit 1
fi
`;
}
