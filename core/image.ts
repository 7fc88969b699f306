import { basename, dirname, join } from "node:path";
import type { ImageRequest } from "../vm/backend.ts";
import { type Architecture, type ImageSource, isInside } from "./config.ts";
import { LockiError } from "./errors.ts";
import type { Repository } from "./repository.ts";

/** Names an architecture goes by in image file names. */
const ARCHITECTURE_NAMES: Record<Architecture, string[]> = {
  x86_64: ["x86_64", "amd64", "x64"],
  aarch64: ["aarch64", "arm64"],
};

/**
 * Turns the image setting of `locki.toml` into a request the backend can
 * serve. A file pattern is matched against the repository; when it matches
 * several files, the one naming this machine's architecture is taken.
 * NOTE: wildcards are supported in the file name only, not in folder names.
 */
export async function resolveImage(
  repo: Repository,
  source: ImageSource,
  arch: Architecture,
): Promise<ImageRequest> {
  if (source.kind !== "file") return source;
  const folder = join(repo.root, dirname(source.pattern));
  const matcher = globToRegExp(basename(source.pattern));
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(folder)))
      .filter((entry) => !entry.isDirectory && matcher.test(entry.name))
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    names = [];
  }
  if (names.length === 0) {
    throw new LockiError(
      `incus_image in ${
        join(repo.root, "locki.toml")
      }: no file matches '${source.pattern}' in ${repo.root}`,
      "build or download the image tarball there, or point incus_image at another file or alias",
    );
  }
  let chosen = names[0];
  if (names.length > 1) {
    const forArch = names.filter((name) => mentionsArchitecture(name, arch));
    if (forArch.length !== 1) {
      throw new LockiError(
        `incus_image in ${
          join(repo.root, "locki.toml")
        }: '${source.pattern}' matches ${names.length} files ` +
          `(${names.join(", ")}) and ${
            forArch.length === 0 ? "none" : "more than one"
          } names ${arch}`,
        `put the architecture (${
          ARCHITECTURE_NAMES[arch].join(" or ")
        }) in exactly one file name, ` +
          'or use a table: [incus_image] x86_64 = "..." aarch64 = "..."',
      );
    }
    chosen = forArch[0];
  }
  const path = join(folder, chosen);
  const real = await Deno.realPath(path);
  if (!isInside(await Deno.realPath(repo.root), real)) {
    throw new LockiError(`incus_image: ${path} resolves to ${real}, outside the repository`);
  }
  return { kind: "file", path: real };
}

function mentionsArchitecture(name: string, arch: Architecture): boolean {
  const words = name.toLowerCase().split(/[^a-z0-9_]+/);
  return ARCHITECTURE_NAMES[arch].some((alias) =>
    words.includes(alias) || name.toLowerCase().includes(alias)
  );
}

/** Compiles a shell-style file-name pattern (`*`, `?`, `[...]`) to a regular expression. */
export function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else if (char === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end === -1) source += "\\[";
      else {
        const body = pattern.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\");
        source += `[${body}]`;
        i = end;
      }
    } else source += char.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}
