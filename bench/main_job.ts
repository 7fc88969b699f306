/**
 * Times the main job: Claude Code fixing a bug in a sandbox against the
 * scripted model server, split into sandbox creation, agent start and the
 * whole scripted session, each against the same step without Locki (raw
 * Incus, and the same Claude Code binary on the host with direct git).
 *
 * Usage: deno run -A bench/main_job.ts [--runs N]
 * Needs the incus backend and the npm cache from tests/prefetch-agents.sh.
 */
import { join } from "node:path";
import { ModelServer, type ScriptedTurn } from "../tests/model_server.ts";
import { sh, timed } from "./measure.ts";

const runs = Number(Deno.args[Deno.args.indexOf("--runs") + 1]) || 5;
const main = new URL("../main.ts", import.meta.url).pathname;
const npmCache = Deno.env.get("LOCKI_TEST_NPM_CACHE") ?? "/var/cache/locki-test-npm";
const modelPort = 18080;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Builds the scripted session without the refused commands, so both sides do the same work. */
function script(folder: string): ScriptedTurn[] {
  const bash = (command: string) => ({
    blocks: [{ type: "tool_use" as const, name: "Bash", input: { command } }],
  });
  return [
    { blocks: [{ type: "tool_use", name: "Read", input: { file_path: join(folder, "add.sh") } }] },
    bash("./test.sh || true"),
    {
      blocks: [{
        type: "tool_use",
        name: "Edit",
        input: { file_path: join(folder, "add.sh"), old_string: "$1 - $2", new_string: "$1 + $2" },
      }],
    },
    bash("./test.sh"),
    bash("git add add.sh && git commit -q -m 'Fix add.sh'"),
    { blocks: [{ type: "text", text: "Fixed." }] },
  ];
}

async function makeRepository(folder: string) {
  await Deno.mkdir(folder, { recursive: true });
  await sh(["git", "init", "-q", "-b", "main"], { cwd: folder });
  await sh(["git", "config", "user.email", "bench@example.com"], { cwd: folder });
  await sh(["git", "config", "user.name", "Bench"], { cwd: folder });
  await Deno.writeTextFile(join(folder, "add.sh"), "#!/bin/sh\necho $(( $1 - $2 ))\n", {
    mode: 0o755,
  });
  await Deno.writeTextFile(join(folder, "test.sh"), '#!/bin/sh\n[ "$(./add.sh 2 3)" = 5 ]\n', {
    mode: 0o755,
  });
  await sh(["git", "add", "."], { cwd: folder });
  await sh(["git", "commit", "-q", "-m", "init"], { cwd: folder });
}

const agentEnv = {
  ANTHROPIC_API_KEY: "sk-bench",
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  DISABLE_AUTOUPDATER: "1",
  DISABLE_TELEMETRY: "1",
  DISABLE_ERROR_REPORTING: "1",
  IS_SANDBOX: "1",
};

const root = await Deno.makeTempDir({ prefix: "locki-bench-job-" });
const lockiHome = join(root, "locki-home");
const containers: string[] = [];
try {
  // The same Claude Code binary on the host, from the same npm cache.
  await sh([
    "npm",
    "install",
    "--offline",
    "--cache",
    npmCache,
    "--prefix",
    join(root, "host-claude"),
    "--no-audit",
    "--no-fund",
    "@anthropic-ai/claude-code@2.1.332",
  ]);
  const hostClaude = join(root, "host-claude", "node_modules", ".bin", "claude");

  const creation: number[] = [];
  const rawCreation: number[] = [];
  const start: number[] = [];
  const hostStart: number[] = [];
  const session: number[] = [];
  const hostSession: number[] = [];
  for (let i = 0; i < runs; i++) {
    const repo = join(root, `repo-${i}`);
    await makeRepository(repo);
    const env = { LOCKI_HOME: lockiHome, NO_COLOR: "1", LOCKI_OFFLINE: "1", ...agentEnv };
    const locki = (...args: string[]) =>
      sh(["deno", "run", "-A", "--quiet", main, ...args], { cwd: repo, env });

    rawCreation.push(
      await timed(async () => {
        await sh(["incus", "launch", "locki-debian-12", `locki-bench-raw-${i}`]);
        await sh(["incus", "exec", `locki-bench-raw-${i}`, "--", "true"]);
      }),
    );
    containers.push(`locki-bench-raw-${i}`);
    let worktree = "";
    creation.push(
      await timed(async () => worktree = (await locki("shell", "fix", "--", "pwd")).trim()),
    );
    const container =
      JSON.parse(await sh(["incus", "list", "--format", "json"])).find((item: any) =>
        item.config?.["user.locki.worktree"] === worktree
      ).name;
    containers.push(container);
    await locki("claude", "fix", "--", "--version"); // installs on the first run; not counted
    start.push(await timed(() => locki("claude", "fix", "--", "--version")));
    hostStart.push(
      await timed(() =>
        sh([hostClaude, "--version"], { env: { HOME: join(root, "home"), ...agentEnv } })
      ),
    );

    const server = new ModelServer(script(worktree));
    await server.attachTo(container, modelPort);
    const lockiEnv = { ...env, ANTHROPIC_BASE_URL: `http://127.0.0.1:${modelPort}` };
    session.push(
      await timed(() =>
        sh(["deno", "run", "-A", "--quiet", main, "claude", "fix", "--", "-p", "fix the test"], {
          cwd: repo,
          env: lockiEnv,
        })
      ),
    );
    await server.close();

    const direct = join(root, `direct-${i}`);
    await makeRepository(direct);
    const hostServer = new ModelServer(script(direct));
    hostSession.push(
      await timed(() =>
        sh([hostClaude, "--dangerously-skip-permissions", "-p", "fix the test"], {
          cwd: direct,
          env: {
            HOME: join(root, "home"),
            PATH: Deno.env.get("PATH")!,
            ...agentEnv,
            ANTHROPIC_BASE_URL: `http://127.0.0.1:${hostServer.port}`,
          },
        })
      ),
    );
    await hostServer.close();
    if (
      await sh(["git", "log", "-1", "--format=%s"], { cwd: direct }).then((s) => s.trim()) !==
        "Fix add.sh"
    ) {
      throw new Error("the host session did not commit");
    }
    await locki("rm", "fix", "--force");
  }
  const ms = (value: number) => `${value.toFixed(0)} ms`;
  const row = (name: string, locki: number[], base: number[], baseName: string) =>
    console.log(
      `| ${name} | ${ms(median(locki))} | ${ms(median(base))} (${baseName}) | +${
        ms(median(locki) - median(base))
      } | ${(median(locki) / median(base)).toFixed(1)}x |`,
    );
  console.log("| Phase | Locki | Without Locki | Overhead | Ratio |");
  console.log("|---|---|---|---|---|");
  row(
    "sandbox creation (`locki shell fix -- true`)",
    creation,
    rawCreation,
    "`incus launch` + `incus exec true`",
  );
  row(
    "agent start (`locki claude fix -- --version`, warm)",
    start,
    hostStart,
    "`claude --version` on the host",
  );
  row(
    "scripted session: read, test, edit, test, commit (6 model turns)",
    session,
    hostSession,
    "Claude Code on the host, direct git",
  );
  console.log(`\nmedians of ${runs} runs; ${new Date().toISOString()}; ${Deno.build.target}`);
} finally {
  await sh(["deno", "run", "-A", "--quiet", main, "daemon", "stop"], {
    env: { LOCKI_HOME: lockiHome },
  }).catch(() => {});
  for (const name of containers) await sh(["incus", "delete", "--force", name]).catch(() => {});
  await Deno.remove(root, { recursive: true });
}
