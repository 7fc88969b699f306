import { join } from "node:path";
import type { Backend } from "../vm/backend.ts";
import { IncusBackend } from "../vm/incus/backend.ts";
import { loadUserConfig } from "./config.ts";
import { LockiError } from "./errors.ts";
import type { LockiPaths } from "./paths.ts";

/**
 * Picks the backend: `LOCKI_BACKEND`, else `backend` in `~/.locki/config.toml`,
 * else `incus` on Linux. A backend that was asked for and is missing raises;
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
  const choice = (fromEnv as "incus" | "lima" | undefined) ?? config.backend ??
    (Deno.build.os === "linux" ? "incus" : "lima");
  if (choice === "lima") {
    const where = fromEnv
      ? "unset LOCKI_BACKEND or set it to incus"
      : `set backend = "incus" in ${paths.config}`;
    throw new LockiError(
      "the lima backend is not available in this version of Locki",
      Deno.build.os === "linux"
        ? `on a Linux host with Incus, ${where}`
        : "run Locki on a Linux host with Incus for now",
    );
  }
  return new IncusBackend(
    config.incusSocket ?? IncusBackend.findSocket(env),
    join(paths.state, "incus-cli"),
  );
}
