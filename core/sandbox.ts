import { dirname, join, relative } from "node:path";
import type { Backend } from "../vm/backend.ts";
import { type Architecture, ARCHITECTURES, isInside, loadRepositoryConfig } from "./config.ts";
import { buildContainerSpec, CACHE_PATH } from "./container_spec.ts";
import { InterruptedError, LockiError, UsageError } from "./errors.ts";
import { git, gitOk } from "./git.ts";
import { withLock } from "./lock.ts";
import { containerName, sandboxId, validateBranchName } from "./naming.ts";
import { type Progress, warn } from "./output.ts";
import type { LockiPaths } from "./paths.ts";
import { resolveImage } from "./image.ts";
import { programConfig } from "./bridge/host_git.ts";
import { describeProblems, integrityProblems, repairHint } from "./hooks/integrity.ts";
import { installWrappers, writeWrappers } from "./hooks/wrappers.ts";
import { BRIDGE_DEVICE, bridgeDevice, provisionBridge } from "./bridge/provision.ts";
import { ensureDaemon } from "./bridge/lifecycle.ts";
import {
  branchExists,
  findRepository,
  headCommit,
  type Repository,
  worktreeOfBranch,
} from "./repository.ts";
import {
  deleteRecord,
  listRecords,
  readRecord,
  type SandboxRecord,
  writeRecord,
} from "./sandbox_store.ts";

/** Context of every engine operation: Locki's folders, the backend and the progress display. */
export interface Engine {
  paths: LockiPaths;
  backend: Backend;
  progress: Progress;
  /**
   * Aborted on Ctrl-C. Steps are not cut short, because Incus finishes an
   * operation whose client went away; creation checks the signal between
   * steps and rolls back what it made so far.
   */
  signal?: AbortSignal;
}

/** The repository and branch a command acts on. */
export interface Target {
  repo: Repository;
  branch: string;
  /** The record, when the branch was taken from the Locki worktree the user is in. */
  record?: SandboxRecord;
}

/**
 * Finds the repository containing `cwd` and the branch to act on: `branch`
 * when given, else the branch of the Locki worktree that contains `cwd`.
 */
export async function resolveTarget(
  engine: Engine,
  cwd: string,
  branch: string | undefined,
  command = "shell",
): Promise<Target> {
  const repo = await findRepository(cwd);
  if (branch !== undefined) {
    await validateBranchName(branch);
    return { repo, branch };
  }
  const record = (await listRecords(engine.paths)).find((candidate) =>
    candidate.worktree === repo.currentTop
  );
  if (!record) {
    throw new UsageError(
      `no branch given, and ${repo.currentTop} is not a Locki worktree`,
      `name the branch, for example: locki ${command} fix-42`,
    );
  }
  return { repo, branch: record.branch, record };
}

/** Returns the architecture name used in `locki.toml` for this machine. */
export function hostArchitecture(): Architecture {
  const arch = Deno.build.arch as string;
  if ((ARCHITECTURES as readonly string[]).includes(arch)) return arch as Architecture;
  throw new LockiError(
    `unsupported architecture ${arch}`,
    `Locki runs on ${ARCHITECTURES.join(" and ")}`,
  );
}

/**
 * Returns the sandbox for `target`, creating whatever is missing: branch,
 * worktree, record, container. A sandbox that exists is reused and its
 * container started. A failed or interrupted creation removes what this call
 * made, so a retry starts clean; a lock keeps concurrent calls apart.
 */
export async function ensureSandbox(engine: Engine, target: Target): Promise<SandboxRecord> {
  const { repo, branch } = target;
  const id = sandboxId(repo.name, repo.commonDir, branch);
  return await withLock(engine.paths, id, async () => {
    const existing = await readRecord(engine.paths, id);
    if (existing && (existing.commonDir !== repo.commonDir || existing.branch !== branch)) {
      throw new LockiError(
        `sandbox id ${id} is already used by branch '${existing.branch}' of ${existing.repoRoot}`,
        `remove that sandbox first (cd ${existing.repoRoot} && locki rm ${existing.branch})`,
      );
    }
    engine.progress.step(`checking the ${engine.backend.name} backend`);
    await engine.backend.ensureReady((message) => engine.progress.step(message));
    if (existing) return await reuseSandbox(engine, repo, existing);
    return await createSandbox(engine, repo, branch, id);
  });
}

async function createSandbox(
  engine: Engine,
  repo: Repository,
  branch: string,
  id: string,
): Promise<SandboxRecord> {
  const { paths, backend, progress } = engine;
  const undo: Array<{ what: string; run: () => Promise<unknown> }> = [];
  const checkpoint = () => {
    if (engine.signal?.aborted) throw new InterruptedError(`creating the sandbox for '${branch}'`);
  };
  try {
    const config = await loadRepositoryConfig(repo.root, hostArchitecture());
    const worktree = join(paths.worktrees, id);
    const record: SandboxRecord = {
      version: 1,
      id,
      branch,
      repoRoot: repo.root,
      commonDir: repo.commonDir,
      worktree,
      container: containerName(id),
      backend: backend.name,
      image: config.imageText,
      createdBranch: false,
      createdAt: new Date().toISOString(),
    };

    if (await branchExists(repo, branch)) {
      const checkedOut = await worktreeOfBranch(repo, branch);
      if (checkedOut) {
        throw new LockiError(
          `branch '${branch}' is already checked out at ${checkedOut}`,
          checkedOut === repo.root
            ? `switch that checkout to another branch (git switch -), or pick another branch name`
            : `remove that worktree (git worktree remove ${checkedOut}) or pick another branch name`,
        );
      }
    } else {
      const head = await headCommit(repo);
      progress.step(`creating branch ${branch}`);
      await gitOk(
        ["branch", "--no-track", "--", branch, head],
        repo.root,
        `creating branch '${branch}'`,
      );
      record.createdBranch = true;
      undo.push({ what: `branch ${branch}`, run: () => deleteBranchIfAt(repo, branch, head) });
    }
    checkpoint();

    progress.step(`creating worktree ${worktree}`);
    await prepareWorktreeFolder(worktree);
    await addWorktree(repo, worktree, branch);
    undo.push({ what: `worktree ${worktree}`, run: () => removeWorktree(repo, worktree) });
    await initSubmodules(engine, worktree);
    checkpoint();

    record.gitDir = await readGitDir(worktree);
    record.worktreeConfig = await installWrappers(paths, record);
    record.baseCommit = (await gitOk(
      ["rev-parse", "--verify", `refs/heads/${branch}`],
      repo.root,
      "reading the branch",
    )).trim();
    record.programConfig = await programConfig(repo.commonDir);
    await writeRecord(paths, record);
    undo.push({ what: "sandbox record", run: () => deleteRecord(paths, id) });

    await createContainer(engine, repo, record, config.image);
    undo.push({
      what: `container ${record.container}`,
      run: () => backend.delete(record.container),
    });
    checkpoint();

    progress.step(`starting container ${record.container}`);
    await backend.start(record.container);
    checkpoint();

    // NOTE: after start, because writing files into a stopped container made
    // its first start take about 5 s instead of 0.1 s on Incus 6.0.4.
    progress.step("connecting the git bridge");
    await provisionBridge(paths, backend, record, { newContainer: true });
    checkpoint();
    progress.step("sandbox ready");
    return record;
  } catch (error) {
    progress.fail();
    const failures: string[] = [];
    for (const step of undo.reverse()) {
      await step.run().catch((undoError) =>
        failures.push(`${step.what}: ${(undoError as Error).message}`)
      );
    }
    if (failures.length > 0) {
      throw new LockiError(
        `${(error as Error).message}\nrolling back also failed for ${failures.join("; ")}`,
        "fix the cause, then run `locki rm --force` on the branch to clean up",
      );
    }
    if (engine.signal?.aborted && !(error instanceof InterruptedError)) {
      throw new InterruptedError(`creating the sandbox for '${branch}'`);
    }
    throw error;
  }
}

async function reuseSandbox(
  engine: Engine,
  repo: Repository,
  record: SandboxRecord,
): Promise<SandboxRecord> {
  const { backend, progress } = engine;
  let recreatedWorktree = false;
  if (!await pathExists(record.worktree)) {
    progress.step(`worktree ${record.worktree} was deleted; recreating it`);
    await git(["worktree", "prune"], repo.root);
    if (!await branchExists(repo, record.branch)) {
      throw new LockiError(
        `the worktree of '${record.branch}' was deleted and the branch no longer exists`,
        `run \`locki rm ${record.branch}\` to clean up, then start again`,
      );
    }
    await prepareWorktreeFolder(record.worktree);
    await addWorktree(repo, record.worktree, record.branch);
    record.gitDir = await readGitDir(record.worktree);
    record.worktreeConfig = await installWrappers(engine.paths, record);
    await writeRecord(engine.paths, record);
    recreatedWorktree = true;
  } else if (record.worktreeConfig === undefined && record.gitDir) {
    // Made before Locki ran hooks in sandboxes; the pointer was checked by
    // the bridge since creation, so it is trusted here.
    record.worktreeConfig = await installWrappers(engine.paths, record);
    await writeRecord(engine.paths, record);
  } else {
    const problems = await integrityProblems(record, { full: false });
    if (problems.length > 0) {
      warn(`${describeProblems(record, problems)}
  ${repairHint(record)}`);
    }
    // Rewritten when Locki itself moved, since the wrappers name its path.
    await writeWrappers(engine.paths, record);
  }
  let container = await backend.get(record.container);
  if (container && recreatedWorktree && container.state !== "Stopped") {
    // The running container still has the deleted folder mounted; a restart
    // mounts the new one.
    progress.step(`restarting container ${record.container} to mount the new worktree`);
    await backend.stop(record.container);
    container = { ...container, state: "Stopped" };
  }
  if (!container) {
    const config = await loadRepositoryConfig(repo.root, hostArchitecture());
    await createContainer(engine, repo, record, config.image);
  }
  if (!container || container.state !== "Running") {
    progress.step(`starting container ${record.container}`);
    await backend.start(record.container);
  }
  await provisionBridge(engine.paths, backend, record, { newContainer: !container });
  return record;
}

async function createContainer(
  engine: Engine,
  repo: Repository,
  record: SandboxRecord,
  image: Parameters<typeof resolveImage>[1],
): Promise<void> {
  const { backend, progress, paths } = engine;
  const imageRef = await resolveImage(repo, image, hostArchitecture());
  const local = await backend.ensureImage(imageRef, (message) => progress.step(message));
  progress.step(`preparing the cache volume`);
  const cache = await backend.sharedVolumeDevice(`locki-cache-${Deno.uid() ?? 0}`, CACHE_PATH);
  progress.step(`creating container ${record.container} from ${local}`);
  const spec = buildContainerSpec(record, paths, local, cache, {
    uid: Deno.uid() ?? 0,
    gid: Deno.gid() ?? 0,
  });
  spec.devices[BRIDGE_DEVICE] = bridgeDevice((await ensureDaemon(paths)).port);
  await backend.create(spec);
}

/** Reads the worktree's git folder from its `.git` file, right after git wrote it and before any sandbox ran. */
async function readGitDir(worktree: string): Promise<string> {
  const text = (await Deno.readTextFile(join(worktree, ".git"))).trim();
  if (!text.startsWith("gitdir: ")) {
    throw new LockiError(`unexpected content in ${join(worktree, ".git")}: ${text}`);
  }
  return text.slice("gitdir: ".length);
}

/** Removes an empty leftover folder at `worktree`; refuses to touch one with content. */
async function prepareWorktreeFolder(worktree: string): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(worktree));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (entries.length > 0) {
    throw new LockiError(
      `${worktree} already exists and is not a worktree Locki knows about`,
      "move that folder away (it may hold work) and run the command again",
    );
  }
  await Deno.remove(worktree);
}

async function addWorktree(repo: Repository, worktree: string, branch: string): Promise<void> {
  // No hook runs here: post-checkout would run on the host, from a hooks
  // folder that may lie inside the branch's own (sandbox-written) files.
  const result = await git(
    ["-c", "core.hooksPath=/dev/null", "worktree", "add", "--quiet", worktree, branch],
    repo.root,
  );
  if (result.code !== 0) {
    await Deno.remove(worktree, { recursive: true }).catch(() => {});
    await git(["worktree", "prune"], repo.root);
    const detail = result.stderr.trim();
    throw new LockiError(
      `creating the worktree for '${branch}' at ${worktree} failed: ${detail}`,
      /No space left|unable to write|Could not reset index/i.test(detail)
        ? `check free disk space (df -h ${dirname(worktree)}), free some, and run the command again`
        : undefined,
    );
  }
}

async function removeWorktree(repo: Repository, worktree: string): Promise<void> {
  await git(["worktree", "remove", "--force", "--force", worktree], repo.root);
  await Deno.remove(worktree, { recursive: true }).catch(() => {});
  await git(["worktree", "prune"], repo.root);
}

/** Deletes `branch` only if it still points at `commit`, so no commit made meanwhile is lost. */
async function deleteBranchIfAt(repo: Repository, branch: string, commit: string): Promise<void> {
  await gitOk(
    ["update-ref", "-d", `refs/heads/${branch}`, commit],
    repo.root,
    `deleting branch '${branch}'`,
  );
}

/** Initialises submodules in a new worktree; a failure is reported but does not stop the sandbox. */
async function initSubmodules(engine: Engine, worktree: string): Promise<void> {
  if (!await pathExists(join(worktree, ".gitmodules"))) return;
  engine.progress.step("initialising submodules");
  const result = await git(["submodule", "update", "--init", "--recursive"], worktree);
  if (result.code !== 0) {
    engine.progress.fail();
    const reason = result.stderr.trim().split("\n").slice(-3).join("\n  ");
    warn(
      `submodules were not initialised in ${worktree}, so the sandbox starts without them:\n  ${reason}`,
    );
  }
}

/** Path of `cwd` inside the sandbox: the same path when it lies in the worktree, else the worktree root. */
export function sandboxDirectory(record: SandboxRecord, cwd: string): string {
  if (isInside(record.worktree, cwd)) return join(record.worktree, relative(record.worktree, cwd));
  return record.worktree;
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
