import { createHash } from "node:crypto";
import { UsageError } from "./errors.ts";
import { git } from "./git.ts";

/** Max length of a branch name Locki accepts, in bytes; git's own limit is the file system's 255 per ref component. */
export const MAX_BRANCH_BYTES = 200;

/** Max length of an Incus container name, which must be a valid hostname label. */
const MAX_CONTAINER_NAME = 63;

/**
 * Checks `branch` with git's own rules (`git check-ref-format --branch`) plus
 * Locki's: no leading dash, no control characters, at most
 * `MAX_BRANCH_BYTES` bytes. Raises `UsageError` naming the value.
 */
export async function validateBranchName(branch: string): Promise<void> {
  const shown = JSON.stringify(branch.length > 80 ? branch.slice(0, 77) + "..." : branch);
  const fix = "pick a name such as fix-42 or feature/login";
  if (branch === "") throw new UsageError("the branch name is empty", fix);
  if (branch.startsWith("-")) {
    throw new UsageError(`invalid branch name ${shown}: it must not start with '-'`, fix);
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(branch)) {
    throw new UsageError(`invalid branch name ${shown}: it contains control characters`, fix);
  }
  const bytes = new TextEncoder().encode(branch).length;
  if (bytes > MAX_BRANCH_BYTES) {
    throw new UsageError(
      `invalid branch name ${shown}: it is ${bytes} bytes long, and the maximum is ${MAX_BRANCH_BYTES}`,
      "use a shorter name",
    );
  }
  const check = await git(["check-ref-format", "--branch", branch]);
  if (check.code !== 0 || branch === "HEAD") {
    throw new UsageError(
      `invalid branch name ${shown}: git does not accept it as a branch name`,
      "branch names cannot contain spaces, '..', '~', '^', ':', '?', '*', '[', '\\' or end with '.lock'; " +
        fix,
    );
  }
}

/**
 * Turns a branch name into lowercase ASCII letters, digits and dashes, for
 * folder and container names. Different branches can share a slug
 * (`feature/login`, `feature-login`), which is why ids add a hash.
 */
export function slugify(text: string): string {
  const ascii = text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "");
  return ascii.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
}

/** Returns 6 hex digits identifying `branch` within the repository at `commonDir`. */
export function shortHash(commonDir: string, branch: string): string {
  return createHash("sha256").update(`${commonDir}\0${branch}`).digest("hex").slice(0, 6);
}

/**
 * Builds the sandbox id `<repo>-<branch-slug>-<hash>`, which names the
 * worktree folder. Each slug is capped so the id stays readable.
 */
export function sandboxId(repoName: string, commonDir: string, branch: string): string {
  const repoSlug = slugify(repoName).slice(0, 24).replace(/-+$/, "") || "repo";
  const branchSlug = slugify(branch).slice(0, 40).replace(/-+$/, "") || "branch";
  return `${repoSlug}-${branchSlug}-${shortHash(commonDir, branch)}`;
}

/**
 * Builds the Incus container name for a sandbox id: `locki-<id>`, cut to a
 * 63-character hostname label that starts with a letter and keeps the hash.
 */
export function containerName(id: string): string {
  const hash = id.slice(-6);
  const body = id.slice(0, -7);
  const room = MAX_CONTAINER_NAME - "locki-".length - hash.length - 1;
  const trimmed = body.slice(0, room).replace(/-+$/, "");
  return `locki-${trimmed ? trimmed + "-" : ""}${hash}`;
}
