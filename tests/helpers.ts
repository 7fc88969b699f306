/**
 * Helpers for the end-to-end tests: real git repositories in temporary
 * folders, the real `locki` CLI run as a subprocess, and clean-up of the
 * Incus containers each test made. Every test gets its own LOCKI_HOME.
 */
import { join } from "node:path";
import { runProcess } from "../vm/process.ts";

export const PROJECT_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
export const MAIN = join(PROJECT_ROOT, "main.ts");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program and captures its output; a non-zero exit (127 for a missing program) is returned, not thrown. */
export function run(
  argv: string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: string; clearEnv?: boolean } = {},
): Promise<RunResult> {
  return runProcess(argv, options);
}

/** Runs git and returns trimmed stdout; throws with git's message on failure. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const result = await run(["git", ...args], { cwd });
  if (result.code !== 0) throw new Error(`git ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** A temporary Locki home plus a repository with one commit, removed with its containers by `dispose`. */
export class Fixture {
  readonly root: string;
  readonly lockiHome: string;
  readonly repo: string;

  private constructor(root: string, repoName: string) {
    this.root = root;
    this.lockiHome = join(root, "locki-home");
    this.repo = join(root, repoName);
  }

  static async create(repoName = "app"): Promise<Fixture> {
    const root = await Deno.makeTempDir({ prefix: "locki-test-" });
    const fixture = new Fixture(root, repoName);
    await Deno.mkdir(fixture.repo);
    await initRepository(fixture.repo);
    return fixture;
  }

  /** Runs `locki` with this fixture's LOCKI_HOME and no colours. */
  locki(
    args: string[],
    options: { cwd?: string; stdin?: string; env?: Record<string, string> } = {},
  ) {
    return run(["deno", "run", "-A", "--quiet", MAIN, ...args], {
      cwd: options.cwd ?? this.repo,
      stdin: options.stdin,
      env: { LOCKI_HOME: this.lockiHome, NO_COLOR: "1", ...options.env },
    });
  }

  /** Runs `locki` and fails the test with its output when it exits non-zero. */
  async lockiOk(
    args: string[],
    options: { cwd?: string; stdin?: string; env?: Record<string, string> } = {},
  ) {
    const result = await this.locki(args, options);
    if (result.code !== 0) {
      throw new Error(
        `locki ${
          args.join(" ")
        } exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
      );
    }
    return result;
  }

  /** Parses `locki ls --all --json`. */
  async sandboxes(): Promise<Array<Record<string, string>>> {
    const result = await this.lockiOk(["ls", "--all", "--json"]);
    return JSON.parse(result.stdout);
  }

  /** Stops this fixture's daemon, deletes the containers whose worktree lies in it, then the folder. */
  async dispose(): Promise<void> {
    await this.locki(["daemon", "stop"]);
    await deleteContainersUnder(this.lockiHome);
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}

/** Creates a repository with an identity and one commit on `main`. */
export async function initRepository(path: string): Promise<void> {
  await git(path, "init", "-q", "-b", "main");
  await git(path, "config", "user.email", "dev@example.com");
  await git(path, "config", "user.name", "Dev");
  await Deno.writeTextFile(join(path, "README.md"), "# app\n");
  await git(path, "add", "README.md");
  await git(path, "commit", "-q", "-m", "initial commit");
}

interface IncusInstance {
  name: string;
  status: string;
  created_at: string;
  config: Record<string, string>;
  devices: Record<string, Record<string, string>>;
}

/** Lists every Incus container Locki labelled, through the CLI, independently of Locki's own code. */
export async function incusContainers(): Promise<IncusInstance[]> {
  const result = await run(["incus", "list", "--format", "json"]);
  if (result.code !== 0) throw new Error(`incus list failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as IncusInstance[]).filter((item) =>
    item.config?.["user.locki.id"]
  );
}

export async function containersUnder(lockiHome: string): Promise<IncusInstance[]> {
  return (await incusContainers()).filter((item) =>
    (item.config?.["user.locki.worktree"] ?? "").startsWith(lockiHome + "/")
  );
}

export async function deleteContainersUnder(lockiHome: string): Promise<void> {
  for (const item of await containersUnder(lockiHome)) {
    await run(["incus", "delete", "--force", item.name]);
  }
}

/** Runs a command in a container with the incus CLI, bypassing Locki. */
export function incusExec(container: string, ...argv: string[]): Promise<RunResult> {
  return run(["incus", "exec", container, "--", ...argv]);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Snapshot of a repository's refs, HEAD and worktree list, to prove a refused command changed nothing. */
export async function repositoryState(repo: string): Promise<string> {
  const refs = await git(repo, "for-each-ref", "--format=%(refname) %(objectname)");
  const head = await git(repo, "rev-parse", "HEAD");
  const worktrees = await git(repo, "worktree", "list", "--porcelain");
  const status = await git(repo, "status", "--porcelain");
  return [refs, head, worktrees, status].join("\n--\n");
}

/** npm cache filled by tests/prefetch-agents.sh (tests/run.sh runs it during set-up). */
export const AGENT_NPM_CACHE = Deno.env.get("LOCKI_TEST_NPM_CACHE") ?? "/var/cache/locki-test-npm";

export const agentCacheReady = await Deno.stat(`${AGENT_NPM_CACHE}/.locki-prefetched`).then(
  () => true,
  () => false,
);

/**
 * Copies the prefetched npm cache into the shared cache volume through a
 * container, as if an earlier sandbox had downloaded the agents; test
 * containers have no network.
 */
export async function loadAgentCache(container: string): Promise<void> {
  const copy = await run([
    "sh",
    "-c",
    `tar -C ${AGENT_NPM_CACHE} -cf - . | incus exec ${container} -- sh -c 'mkdir -p /var/cache/locki/npm && tar -xf - -C /var/cache/locki/npm'`,
  ]);
  if (copy.code !== 0) {
    throw new Error(`copying the npm cache into ${container} failed: ${copy.stderr}`);
  }
}

/**
 * Puts the STAND-IN `limactl` (tests/standins/limactl.ts) first on PATH for
 * this fixture, and returns the environment that selects the lima backend
 * with its own LIMA_HOME.
 */
export async function useStandinLimactl(fx: Fixture) {
  const bin = join(fx.root, "standin-bin");
  await Deno.mkdir(bin, { recursive: true });
  const standin = join(PROJECT_ROOT, "tests", "standins", "limactl.ts");
  await Deno.writeTextFile(
    join(bin, "limactl"),
    `#!/bin/sh\nexec deno run -A --quiet ${standin} "$@"\n`,
    { mode: 0o755 },
  );
  const limaHome = join(fx.root, "lima");
  const env = {
    LOCKI_BACKEND: "lima",
    LOCKI_LIMA_HOME: limaHome,
    PATH: `${bin}:${Deno.env.get("PATH")}`,
  };
  return { env, limaHome };
}

/**
 * Waits up to 10 seconds until a process whose command line contains
 * `command` runs in the container (`present`), or none does, and returns
 * whether that state was reached.
 */
export async function waitForProcess(
  container: string,
  command: string,
  present: boolean,
): Promise<boolean> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const listed = (await incusExec(container, "pgrep", "-a", "-f", command)).stdout;
    if (listed.includes(command) === present) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
