import { join } from "node:path";
import type { Backend } from "../vm/backend.ts";
import { IncusBackend } from "../vm/incus/backend.ts";
import { DEFAULT_IMAGE_ALIAS, loadUserConfig } from "./config.ts";
import { LimaBackend } from "../vm/lima/backend.ts";
import { defaultSizing } from "../vm/lima/config.ts";
import { defaultProbe } from "../vm/lima/limactl.ts";
import { LockiError } from "./errors.ts";
import type { LockiPaths } from "./paths.ts";

/**
 * Picks the backend: `LOCKI_BACKEND`, else `backend` in `~/.locki/config.toml`,
 * else `incus` on a Linux host where Incus is installed, and `lima`
 * elsewhere. A backend that was asked for and is missing raises;
 * Locki never swaps in another one with weaker isolation.
 */
export async function chooseBackend(
  paths: LockiPaths,
  env: { get(key: string): string | undefined } = Deno.env,
): Promise<Backend> {
  const config = await loadUserConfig(paths.config);
  const fromEnv = env.get("LOCKI_BACKEND");
  if (fromEnv !== undefined && fromEnv !== "incus" && fromEnv !== "lima") {
    throw new LockiError(
      `invalid LOCKI_BACKEND '${fromEnv}'`,
      "set it to incus or lima, or unset it",
    );
  }
  // On Linux, a host with Incus installed (or a socket named) keeps the
  // incus backend even while its server is down, so the error names the fix: starting that server.
  const incusHere = env.get("INCUS_SOCKET") !== undefined || config.incusSocket !== undefined ||
    isSocket(IncusBackend.findSocket(env)) || exists("/var/lib/incus");
  const choice = (fromEnv as "incus" | "lima" | undefined) ?? config.backend ??
    (Deno.build.os === "linux" && incusHere ? "incus" : "lima");
  if (choice === "lima") {
    const host = defaultSizing(navigator.hardwareConcurrency, Deno.systemMemoryInfo().total);
    return new LimaBackend({
      limaHome: env.get("LOCKI_LIMA_HOME") ?? join(paths.root, "lima"),
      worktrees: paths.worktrees,
      home: paths.home,
      sizing: {
        cpus: config.lima?.cpus ?? host.cpus,
        memoryGiB: config.lima?.memoryGiB ?? host.memoryGiB,
        diskGiB: config.lima?.diskGiB ?? host.diskGiB,
      },
      cliConfigDir: join(paths.state, "incus-cli"),
      imageAlias: DEFAULT_IMAGE_ALIAS,
      imageScript: await Deno.readTextFile(new URL("../vm/build-base-image.sh", import.meta.url)),
      mirrorScript: await Deno.readTextFile(new URL("../vm/debian-mirror.sh", import.meta.url)),
      probe: { ...defaultProbe(), env },
      startTimeoutSeconds: config.lima?.startTimeoutSeconds,
    });
  }
  return new IncusBackend(
    config.incusSocket ?? IncusBackend.findSocket(env),
    join(paths.state, "incus-cli"),
  );
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function isSocket(path: string): boolean {
  try {
    return Deno.statSync(path).isSocket === true;
  } catch {
    return false;
  }
}
