import type { Command } from "commander";
import { chooseBackend } from "../core/backend_choice.ts";
import { runningDaemon } from "../core/bridge/lifecycle.ts";
import { DEFAULT_IMAGE_ALIAS, loadRepositoryConfig } from "../core/config.ts";
import { resolveImage } from "../core/image.ts";
import { ensureLockiFolders, type LockiPaths, lockiPaths } from "../core/paths.ts";
import { findRepository } from "../core/repository.ts";
import { hostArchitecture } from "../core/sandbox.ts";
import { green, red, renderTable, yellow } from "../core/output.ts";
import { runProcess } from "../vm/process.ts";
import type { Backend } from "../vm/backend.ts";

/** Result of one check; `fix` is the command or step that resolves a warning or failure. */
export interface Check {
  check: string;
  status: "ok" | "warn" | "fail";
  detail: string;
  fix?: string;
}

/** Free space below which sandboxes are likely to fail (a base image is about 600 MB). */
const DISK_FAIL_BYTES = 1024 ** 3;
const DISK_WARN_BYTES = 5 * 1024 ** 3;

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description(
      "check what Locki needs (git, ssh-keygen, the backend, the image, the daemon, disk space) and say how to fix what is missing",
    )
    .option("--json", "print the checks as a JSON array")
    .action(async (options: { json?: boolean }) => {
      const paths = lockiPaths();
      await ensureLockiFolders(paths);
      const checks = await runChecks(paths);
      if (options.json) {
        console.log(JSON.stringify(checks, null, 2));
      } else {
        const mark = { ok: green("ok"), warn: yellow("warn"), fail: red("fail") };
        console.log(renderTable(
          ["CHECK", "STATUS", "DETAIL"],
          checks.map((check) => [check.check, mark[check.status], check.detail]),
        ));
        for (const check of checks.filter((item) => item.fix)) {
          console.log(`${check.check}: ${check.fix}`);
        }
      }
      if (checks.some((check) => check.status === "fail")) Deno.exitCode = 1;
    });
}

/** Runs every check; none of them changes anything. */
export async function runChecks(paths: LockiPaths): Promise<Check[]> {
  const checks: Check[] = [];
  checks.push(await programCheck("git", ["git", "--version"], gitFix()));
  checks.push(
    await programCheck(
      "ssh-keygen",
      // ssh-keygen has no version option; the OpenSSH client beside it does.
      ["ssh", "-V"],
      Deno.build.os === "darwin"
        ? "macOS ships it in /usr/bin; check your PATH"
        : "install the OpenSSH client: sudo apt-get install openssh-client",
    ),
  );

  let backend: Backend | undefined;
  try {
    backend = await chooseBackend(paths);
  } catch (error) {
    checks.push({
      check: "backend",
      status: "fail",
      detail: (error as Error).message,
      fix: (error as { hint?: string }).hint,
    });
  }
  if (backend) {
    const status = await backend.status();
    checks.push({
      check: `backend (${status.backend})`,
      status: status.ready ? "ok" : "fail",
      detail: status.ready
        ? Object.entries(status.details).map(([key, value]) => `${key}: ${value}`).join(", ")
        : status.problems[0] ?? "not ready",
      fix: status.ready ? undefined : status.problems.slice(1).join("; ") || undefined,
    });
    if (status.ready) {
      checks.push({ check: "isolation", status: "ok", detail: status.isolation });
      checks.push(await imageCheck(backend));
    }
  }

  const daemon = await runningDaemon(paths);
  checks.push({
    check: "daemon",
    status: "ok",
    detail: daemon
      ? `running (pid ${daemon.pid}, port ${daemon.port})`
      : "not running; sandbox commands start it on demand",
  });
  checks.push(await diskCheck(paths.root));
  return checks;
}

async function programCheck(name: string, argv: string[], fix: string): Promise<Check> {
  const result = await runProcess(argv);
  const present = await runProcess(["sh", "-c", 'command -v "$1"', "sh", name]);
  if (result.code === 127 || present.code !== 0) {
    return { check: name, status: "fail", detail: `${name} not found on PATH`, fix };
  }
  const version = (result.stdout || result.stderr).trim().split("\n")[0].trim();
  return { check: name, status: "ok", detail: version || "found" };
}

function gitFix(): string {
  return Deno.build.os === "darwin"
    ? "install the Xcode command line tools: xcode-select --install"
    : "install git: sudo apt-get install git";
}

/** Checks the image of the repository in the current folder, or the default one outside a repository. */
async function imageCheck(backend: Backend): Promise<Check> {
  let request: Awaited<ReturnType<typeof resolveImage>> = {
    kind: "alias",
    alias: DEFAULT_IMAGE_ALIAS,
  };
  let where = "default image";
  const repo = await findRepository(Deno.cwd()).catch(() => undefined);
  if (repo) {
    where = `image for ${repo.name}`;
    try {
      const config = await loadRepositoryConfig(repo.root, hostArchitecture());
      request = await resolveImage(repo, config.image, hostArchitecture());
    } catch (error) {
      return {
        check: where,
        status: "fail",
        detail: (error as Error).message,
        fix: (error as { hint?: string }).hint ?? "fix locki.toml",
      };
    }
  }
  if (request.kind !== "alias") {
    return {
      check: where,
      status: "ok",
      detail: request.kind === "file"
        ? `${request.path}, imported on first use`
        : `${request.remote}:${request.image}, downloaded on first use`,
    };
  }
  try {
    await backend.ensureImage(request, () => {});
    return { check: where, status: "ok", detail: request.alias };
  } catch (error) {
    return {
      check: where,
      status: "fail",
      detail: (error as Error).message,
      fix: (error as { hint?: string }).hint,
    };
  }
}

async function diskCheck(folder: string): Promise<Check> {
  const result = await runProcess(["df", "-Pk", folder]);
  const fields = result.stdout.trim().split("\n").at(-1)?.split(/\s+/) ?? [];
  const free = Number(fields[3]) * 1024;
  if (result.code !== 0 || !Number.isFinite(free)) {
    return {
      check: "disk space",
      status: "warn",
      detail: `could not read free space of ${folder}`,
    };
  }
  const text = `${(free / 1024 ** 3).toFixed(1)} GiB free in ${folder}`;
  if (free < DISK_FAIL_BYTES) {
    return {
      check: "disk space",
      status: "fail",
      detail: text,
      fix: "free some space, or move Locki's folder with LOCKI_HOME",
    };
  }
  if (free < DISK_WARN_BYTES) {
    return { check: "disk space", status: "warn", detail: text, fix: "sandboxes may fill it soon" };
  }
  return { check: "disk space", status: "ok", detail: text };
}
