import { isAbsolute, join, normalize, relative } from "node:path";
import { parse, TomlError } from "smol-toml";
import { LockiError } from "./errors.ts";

/** Image alias that `vm/build-base-image.sh` imports and sandboxes use by default. */
export const DEFAULT_IMAGE_ALIAS = "locki-debian-12";

/** Machine architectures as `uname -m` prints them, which the `[incus_image]` table is keyed by. */
export const ARCHITECTURES = ["x86_64", "aarch64"] as const;
export type Architecture = typeof ARCHITECTURES[number];

/** Source of a sandbox's image. */
export type ImageSource =
  | { kind: "alias"; alias: string }
  | { kind: "remote"; remote: string; image: string }
  /** A glob or path of local image tarballs, relative to the repository root. */
  | { kind: "file"; pattern: string };

/** Settings read from a repository's `locki.toml`. */
export interface RepositoryConfig {
  image: ImageSource;
  /** Text of the setting as written, for messages and `locki ls`. */
  imageText: string;
  /** Bridge commands or options the repository turns off (`[bridge] deny`); it can only narrow. */
  bridgeDeny: string[];
}

const IMAGE_FORMS = [
  'incus_image = "alias"            (an image already on the Incus server)',
  'incus_image = "remote:image"     (for example "images:debian/12")',
  'incus_image = "images/*.tar.gz"  (local Incus image tarballs, relative to the repository root)',
  '[incus_image] x86_64 = "..."  aarch64 = "..."  (one of the above per architecture)',
].join("\n  ");

const ARCHIVE_SUFFIX = /\.(tar|tar\.gz|tgz|tar\.xz|tar\.zst|tar\.bz2|squashfs)$/;

/** Reads `locki.toml` at the repository root; a missing file gives the defaults. */
export async function loadRepositoryConfig(
  repoRoot: string,
  arch: Architecture,
): Promise<RepositoryConfig> {
  const file = join(repoRoot, "locki.toml");
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return {
        image: { kind: "alias", alias: DEFAULT_IMAGE_ALIAS },
        imageText: DEFAULT_IMAGE_ALIAS,
        bridgeDeny: [],
      };
    }
    throw new LockiError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return parseRepositoryConfig(text, file, arch);
}

/** Parses and validates the text of a `locki.toml`; `file` is only used in messages. */
export function parseRepositoryConfig(
  text: string,
  file: string,
  arch: Architecture,
): RepositoryConfig {
  const table = parseToml(
    text,
    file,
    "fix the syntax, or delete the file to use the default image",
  );

  const known = ["incus_image", "bridge"];
  const unknown = Object.keys(table).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    throw new LockiError(
      `unknown key${unknown.length > 1 ? "s" : ""} in ${file}: ${unknown.join(", ")}`,
      `the keys Locki reads are: ${known.join(", ")}`,
    );
  }

  const bridgeDeny = readBridgeSection(table["bridge"], file, ["deny"]).deny ?? [];
  const setting = table["incus_image"];
  if (setting === undefined) {
    return {
      image: { kind: "alias", alias: DEFAULT_IMAGE_ALIAS },
      imageText: DEFAULT_IMAGE_ALIAS,
      bridgeDeny,
    };
  }
  let chosen: unknown = setting;
  let keyPath = "incus_image";
  if (typeof setting === "object" && setting !== null && !Array.isArray(setting)) {
    const perArch = setting as Record<string, unknown>;
    const wrong = Object.keys(perArch).filter((key) =>
      !(ARCHITECTURES as readonly string[]).includes(key)
    );
    if (wrong.length > 0) {
      throw invalidImage(file, `incus_image.${wrong[0]}`, `'${wrong[0]}' is not an architecture`);
    }
    keyPath = `incus_image.${arch}`;
    chosen = perArch[arch];
    if (chosen === undefined) {
      throw invalidImage(
        file,
        keyPath,
        `no image is set for this machine's architecture (${arch})`,
      );
    }
  }
  if (typeof chosen !== "string" || chosen.trim() === "") {
    throw invalidImage(file, keyPath, `expected a non-empty string, got ${JSON.stringify(chosen)}`);
  }
  return { image: classifyImage(chosen, file, keyPath), imageText: chosen, bridgeDeny };
}

/** Decides whether an image setting is a local alias, a remote image or a tarball path. */
export function classifyImage(value: string, file: string, keyPath: string): ImageSource {
  const looksLikePath = value.startsWith("./") || value.startsWith("../") ||
    value.startsWith("/") ||
    ARCHIVE_SUFFIX.test(value) || /[*?[]/.test(value);
  if (looksLikePath) {
    if (isAbsolute(value) || normalize(value).startsWith("..")) {
      throw invalidImage(file, keyPath, `the path '${value}' must stay inside the repository`);
    }
    return { kind: "file", pattern: normalize(value) };
  }
  const colon = value.indexOf(":");
  if (colon > 0) {
    const remote = value.slice(0, colon);
    const image = value.slice(colon + 1);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(remote) || image === "" || /\s/.test(image)) {
      throw invalidImage(file, keyPath, `'${value}' is not of the form remote:image`);
    }
    return { kind: "remote", remote, image };
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(value)) {
    throw invalidImage(file, keyPath, `'${value}' is not a valid image alias`);
  }
  return { kind: "alias", alias: value };
}

/** Reads a `[bridge]` table: `deny` (a list of "git push"-style entries) and, where allowed, `rules` (rules text). */
export function readBridgeSection(
  value: unknown,
  file: string,
  allowedKeys: Array<"deny" | "rules">,
): { deny?: string[]; rules?: string } {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new LockiError(
      `invalid bridge in ${file}: expected a [bridge] table`,
      `allowed keys: ${allowedKeys.join(", ")}`,
    );
  }
  const result: { deny?: string[]; rules?: string } = {};
  for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
    if (key === "deny" && allowedKeys.includes("deny")) {
      if (!Array.isArray(entry) || entry.some((item) => typeof item !== "string")) {
        throw new LockiError(
          `invalid bridge.deny in ${file}: expected a list of strings`,
          'for example: deny = ["git push", "git commit --amend"]',
        );
      }
      result.deny = entry as string[];
    } else if (key === "rules" && allowedKeys.includes("rules")) {
      if (typeof entry !== "string") {
        throw new LockiError(`invalid bridge.rules in ${file}: expected a string of rule blocks`);
      }
      result.rules = entry;
    } else {
      throw new LockiError(
        `invalid bridge.${key} in ${file}: not allowed here`,
        allowedKeys.includes("rules")
          ? "allowed keys: deny, rules"
          : "a repository's locki.toml can only narrow the bridge, with deny = [...]",
      );
    }
  }
  return result;
}

function invalidImage(file: string, keyPath: string, problem: string): LockiError {
  return new LockiError(
    `invalid ${keyPath} in ${file}: ${problem}`,
    `allowed forms:\n  ${IMAGE_FORMS}`,
  );
}

/** Parses TOML text; a syntax error names the file, line and column. */
function parseToml(text: string, file: string, hint: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      const detail = error.message.split("\n")[0];
      throw new LockiError(
        `invalid TOML in ${file} at line ${error.line}, column ${error.column}: ${detail}`,
        hint,
      );
    }
    throw error;
  }
}

/** Returns whether `path` lies inside `root` after normalising `..` (symlinks are not followed). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** Settings read from `~/.locki/config.toml`. */
export interface UserConfig {
  /** Backend chosen by the user; undefined means pick the platform default. */
  backend?: "incus" | "lima";
  /** Unix socket of the Incus server for the `incus` backend. */
  incusSocket?: string;
  /** Bridge commands or options the user turns off. */
  bridgeDeny?: string[];
  /** Extra bridge rule blocks, in the grammar of core/bridge/policy.rules. */
  bridgeRules?: string;
  /** Size of the Lima VM; unset values are derived from the host. */
  lima?: { cpus?: number; memoryGiB?: number; diskGiB?: number; startTimeoutSeconds?: number };
  /** Minutes after which the daemon stops an unused container, and the lima VM; 0 turns it off. */
  idle?: { containerMinutes?: number; vmMinutes?: number };
}

/** Limits of the `[lima]` sizes: CPUs, and memory and disk in GiB. */
const LIMA_SIZES = {
  cpus: { field: "cpus", min: 1, max: 256 },
  memory: { field: "memoryGiB", min: 2, max: 1024 },
  disk: { field: "diskGiB", min: 20, max: 16384 },
  start_timeout: { field: "startTimeoutSeconds", min: 10, max: 86400 },
} as const;
const LIMA_UNITS = { cpus: "", memory: " (GiB)", disk: " (GiB)", start_timeout: " (seconds)" };

/** Reads `~/.locki/config.toml` (path given); a missing file gives an empty config. */
export async function loadUserConfig(file: string): Promise<UserConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new LockiError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const table = parseToml(text, file, "fix the syntax");
  const problems: string[] = [];
  const config: UserConfig = {};
  for (const [key, value] of Object.entries(table)) {
    if (key === "backend") {
      if (value === "incus" || value === "lima") config.backend = value;
      else problems.push(`backend: expected "incus" or "lima", got ${JSON.stringify(value)}`);
    } else if (key === "incus") {
      const section = (typeof value === "object" && value !== null ? value : {}) as Record<
        string,
        unknown
      >;
      for (const [subKey, subValue] of Object.entries(section)) {
        if (subKey === "socket" && typeof subValue === "string" && isAbsolute(subValue)) {
          config.incusSocket = subValue;
        } else {
          problems.push(`incus.${subKey}: expected socket = "/absolute/path/unix.socket"`);
        }
      }
    } else if (key === "lima") {
      const section = (typeof value === "object" && value !== null ? value : {}) as Record<
        string,
        unknown
      >;
      config.lima = {};
      for (const [subKey, subValue] of Object.entries(section)) {
        const size = LIMA_SIZES[subKey as keyof typeof LIMA_SIZES];
        if (
          size && typeof subValue === "number" && Number.isInteger(subValue) &&
          subValue >= size.min && subValue <= size.max
        ) {
          config.lima[size.field] = subValue;
        } else if (size) {
          problems.push(
            `lima.${subKey}: expected a whole number from ${size.min} to ${size.max}${
              LIMA_UNITS[subKey as keyof typeof LIMA_SIZES]
            }, got ${JSON.stringify(subValue)}`,
          );
        } else {
          problems.push(`lima.${subKey}: unknown key (known: cpus, memory, disk, start_timeout)`);
        }
      }
    } else if (key === "idle") {
      const section = (typeof value === "object" && value !== null ? value : {}) as Record<
        string,
        unknown
      >;
      config.idle = {};
      for (const [subKey, subValue] of Object.entries(section)) {
        const field = subKey === "container_minutes"
          ? "containerMinutes"
          : subKey === "vm_minutes"
          ? "vmMinutes"
          : undefined;
        if (!field) {
          problems.push(`idle.${subKey}: unknown key (known: container_minutes, vm_minutes)`);
        } else if (typeof subValue === "number" && subValue >= 0 && subValue <= 100_000) {
          config.idle[field] = subValue;
        } else {
          problems.push(
            `idle.${subKey}: expected minutes from 0 (never) to 100000, got ${
              JSON.stringify(subValue)
            }`,
          );
        }
      }
    } else if (key === "bridge") {
      const bridge = readBridgeSection(value, file, ["deny", "rules"]);
      config.bridgeDeny = bridge.deny;
      config.bridgeRules = bridge.rules;
    } else {
      problems.push(
        `${key}: unknown key (known: backend, incus.socket, lima.cpus, lima.memory, lima.disk, lima.start_timeout, idle.container_minutes, idle.vm_minutes, bridge.deny, bridge.rules)`,
      );
    }
  }
  if (problems.length > 0) {
    throw new LockiError(
      `invalid settings in ${file}:\n  ${problems.join("\n  ")}`,
      "fix or remove those keys",
    );
  }
  return config;
}
