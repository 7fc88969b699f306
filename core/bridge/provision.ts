import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Backend, DeviceConfig } from "../../vm/backend.ts";
import { runProcess } from "../../vm/process.ts";
import type { LockiPaths } from "../paths.ts";
import { type SandboxRecord, writeRecord } from "../sandbox_store.ts";
import { createKeyPair, ensureHostKey } from "./daemon.ts";
import { ensureDaemon } from "./lifecycle.ts";
import { effectiveRules } from "./effective_rules.ts";
import {
  BRIDGE_PORT_IN_SANDBOX,
  bridgeInstructions,
  knownHosts,
  profileScript,
  shimScript,
  sshConfig,
} from "./sandbox_files.ts";

/** Config key holding a hash of the bridge files a container has, to push them again only when they change. */
const STAMP_KEY = "user.locki.bridge";

/**
 * Connects a sandbox's container to the bridge: starts the daemon if
 * needed, gives the container its own client key (kept only in the
 * container's filesystem, not in the shared home), the shims, the SSH
 * settings and a proxy device to the daemon. Cheap when nothing changed.
 */
export async function provisionBridge(
  paths: LockiPaths,
  backend: Backend,
  record: SandboxRecord,
  options: { newContainer: boolean },
): Promise<void> {
  const daemon = await ensureDaemon(paths);
  const hostKey = await ensureHostKey(paths);
  const rules = await effectiveRules(paths, record.repoRoot);
  const files: Record<string, [string, number]> = {
    "/etc/locki/ssh_config": [sshConfig(), 0o644],
    "/etc/locki/known_hosts": [knownHosts(hostKey), 0o644],
    "/etc/locki/BRIDGE.md": [
      bridgeInstructions(rules, record.branch, await remoteNames(record)),
      0o644,
    ],
    "/opt/locki/bin/git": [shimScript(), 0o755],
    "/opt/locki/bin/gh": [shimScript(), 0o755],
    "/etc/profile.d/00-locki.sh": [profileScript(), 0o644],
  };
  const stampOf = (key: string | undefined) =>
    createHash("sha256").update(JSON.stringify(files)).update(String(daemon.port)).update(key ?? "")
      .digest("hex").slice(0, 16);
  const current = await backend.getConfig(record.container);
  if (
    !options.newContainer && record.bridgeKey &&
    current?.config[STAMP_KEY] === stampOf(record.bridgeKey)
  ) return;

  if (options.newContainer || !record.bridgeKey) {
    const key = await generateKey(record.id);
    await backend.pushFile(record.container, "/etc/locki/id_ed25519", key.privateKey, 0o600);
    record.bridgeKey = key.publicKey;
    await writeRecord(paths, record);
  }
  await Promise.all(
    Object.entries(files).map(([path, [content, mode]]) =>
      backend.pushFile(record.container, path, content, mode)
    ),
  );
  const device = bridgeDevice(daemon.port);
  const attached = current?.devices[BRIDGE_DEVICE];
  if (!attached || Object.entries(device).some(([key, value]) => attached[key] !== value)) {
    await backend.addDevice(record.container, BRIDGE_DEVICE, device);
  }
  await backend.setConfig(record.container, { [STAMP_KEY]: stampOf(record.bridgeKey) });
}

/** Name of the proxy device that puts the daemon on the sandbox's loopback. */
export const BRIDGE_DEVICE = "locki-bridge";

/**
 * Returns the proxy device config for a daemon on `port`. It belongs in the
 * container's spec at creation: attached right after a start, Incus 6.0.4
 * took about 6 s here (until the container finished booting), against 1 s
 * as part of the start.
 */
export function bridgeDevice(port: number): DeviceConfig {
  return {
    type: "proxy",
    listen: `tcp:127.0.0.1:${BRIDGE_PORT_IN_SANDBOX}`,
    connect: `tcp:127.0.0.1:${port}`,
    bind: "instance",
  };
}

async function remoteNames(record: SandboxRecord): Promise<string[]> {
  const result = await runProcess(["git", "remote"], {
    cwd: record.repoRoot,
    env: { GIT_DIR: record.commonDir },
  });
  return result.code === 0 ? result.stdout.split("\n").filter(Boolean) : [];
}

async function generateKey(id: string): Promise<{ privateKey: string; publicKey: string }> {
  const folder = await Deno.makeTempDir({ prefix: "locki-key-" });
  try {
    const file = join(folder, "key");
    await createKeyPair(file, `locki-sandbox-${id}`);
    return {
      privateKey: await Deno.readTextFile(file),
      publicKey: (await Deno.readTextFile(`${file}.pub`)).trim(),
    };
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
}
