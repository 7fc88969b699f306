import { join } from "node:path";
import type { ContainerSpec, DeviceConfig } from "../vm/backend.ts";
import type { LockiPaths } from "./paths.ts";
import type { SandboxRecord } from "./sandbox_store.ts";

/** Where the shared cache volume is mounted in every sandbox. */
export const CACHE_PATH = "/var/cache/locki";

/** Home folder of the sandbox user (container root), backed by `~/.locki/home`. */
export const SANDBOX_HOME = "/root";

/** First entry of PATH inside a sandbox; the git and gh shims live there. */
export const SHIM_PATH = "/opt/locki/bin";

/** Environment every process in a sandbox gets, through the container's `environment.*` config. */
export function sandboxEnvironment(record: SandboxRecord): Record<string, string> {
  return {
    PATH:
      `${SHIM_PATH}:${CACHE_PATH}/agents/bin:${CACHE_PATH}/mise/shims:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: SANDBOX_HOME,
    IS_SANDBOX: "1",
    LOCKI_SANDBOX: record.id,
    LOCKI_BRANCH: record.branch,
    LOCKI_WORKTREE: record.worktree,
    // Package and tool caches go to the volume every sandbox shares, so the
    // second sandbox does not download what the first one already did.
    XDG_CACHE_HOME: `${CACHE_PATH}/xdg`,
    npm_config_cache: `${CACHE_PATH}/npm`,
    npm_config_store_dir: `${CACHE_PATH}/pnpm-store`,
    YARN_CACHE_FOLDER: `${CACHE_PATH}/yarn`,
    YARN_GLOBAL_FOLDER: `${CACHE_PATH}/yarn-berry`,
    BUN_INSTALL_CACHE_DIR: `${CACHE_PATH}/bun`,
    DENO_DIR: `${CACHE_PATH}/deno`,
    PIP_CACHE_DIR: `${CACHE_PATH}/pip`,
    UV_CACHE_DIR: `${CACHE_PATH}/uv`,
    CARGO_HOME: `${CACHE_PATH}/cargo`,
    GOMODCACHE: `${CACHE_PATH}/go/mod`,
    GOCACHE: `${CACHE_PATH}/go/build`,
    GRADLE_USER_HOME: `${CACHE_PATH}/gradle`,
    MAVEN_OPTS: `-Dmaven.repo.local=${CACHE_PATH}/m2/repository`,
    COMPOSER_CACHE_DIR: `${CACHE_PATH}/composer`,
    // mise installs tools once for every sandbox, while the global tool
    // selection and the list of trusted config files stay in each
    // container's own filesystem.
    MISE_DATA_DIR: `${CACHE_PATH}/mise`,
    MISE_CACHE_DIR: `${CACHE_PATH}/mise-cache`,
    MISE_GLOBAL_CONFIG_FILE: "/var/lib/locki/mise/config.toml",
    MISE_STATE_DIR: "/var/lib/locki/mise/state",
  };
}

/**
 * Builds the container for a sandbox: unprivileged, with the host user's uid
 * and gid mapped to container root so files written in the worktree belong
 * to that user on the host, the worktree at its host path, the shared home,
 * and the shared cache volume.
 */
export function buildContainerSpec(
  record: SandboxRecord,
  paths: LockiPaths,
  image: string,
  cacheDevice: DeviceConfig,
  host: { uid: number; gid: number },
): ContainerSpec {
  const config: Record<string, string> = {
    "raw.idmap": `uid ${host.uid} 0\ngid ${host.gid} 0`,
    // Nesting lets Docker and other container tools run inside the sandbox.
    // NOTE: the mknod and setxattr intercepts, which some image layers need,
    // are left off: with them, about 1 in 40 concurrent `incus exec` calls
    // failed with "Failed to retrieve PID of executing child process" on
    // Incus 6.0.4.
    "security.nesting": "true",
    "user.locki.id": record.id,
    "user.locki.branch": record.branch,
    "user.locki.repo": record.repoRoot,
    "user.locki.worktree": record.worktree,
    "user.locki.owner": String(host.uid),
  };
  for (const [key, value] of Object.entries(sandboxEnvironment(record))) {
    config[`environment.${key}`] = value;
  }
  // NOTE: when the worktree lies under the host's /root (Locki run as root
  // without LOCKI_HOME), its mount point nests inside the shared home, and
  // Incus creates the empty mount-point folders in ~/.locki/home.
  return {
    name: record.container,
    image,
    config,
    devices: {
      "locki-worktree": { type: "disk", source: record.worktree, path: record.worktree },
      // The `.git` pointer is mounted read-only over itself: a sandbox that
      // could rewrite it would send the user's next host git command to a
      // git folder of its choosing.
      "locki-git-pointer": {
        type: "disk",
        source: join(record.worktree, ".git"),
        path: join(record.worktree, ".git"),
        readonly: "true",
      },
      "locki-home": { type: "disk", source: paths.home, path: SANDBOX_HOME },
      "locki-cache": cacheDevice,
    },
  };
}
