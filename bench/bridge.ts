/**
 * Measures `git status` and `git commit` through the bridge (shim, OpenSSH
 * with connection reuse, daemon, host git) against the same commands run
 * directly with git on the host, in one run, and prints a Markdown table.
 *
 * Usage: deno run -A bench/bridge.ts [--runs N]
 * Needs the incus backend set up (vm/setup-debian-host.sh).
 */
import { join } from "node:path";
import { sh, timed } from "./measure.ts";

const runs = Number(Deno.args[Deno.args.indexOf("--runs") + 1]) || 30;
const main = new URL("../main.ts", import.meta.url).pathname;

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

const root = await Deno.makeTempDir({ prefix: "locki-bench-bridge-" });
const repo = join(root, "repo");
const lockiHome = join(root, "locki-home");
const env = { LOCKI_HOME: lockiHome, NO_COLOR: "1" };
let container = "";
try {
  await Deno.mkdir(repo);
  await sh(["git", "init", "-q", "-b", "main"], { cwd: repo });
  for (let i = 0; i < 200; i++) {
    await Deno.writeTextFile(join(repo, `file-${i}.txt`), `line ${i}\n`);
  }
  await sh(["git", "add", "."], { cwd: repo });
  await sh(["git", "-c", "user.email=b@e", "-c", "user.name=b", "commit", "-q", "-m", "init"], {
    cwd: repo,
  });
  await sh(["git", "config", "user.email", "bench@example.com"], { cwd: repo });
  await sh(["git", "config", "user.name", "Bench"], { cwd: repo });
  const worktree =
    (await sh(["deno", "run", "-A", "--quiet", main, "shell", "bench", "--", "pwd"], {
      cwd: repo,
      env,
    }))
      .trim();
  container = JSON.parse(await sh(["incus", "list", "--format", "json"])).find((item: any) =>
    item.config?.["user.locki.worktree"] === worktree
  ).name;
  const inside = (script: string) =>
    sh(["incus", "exec", container, "--cwd", worktree, "--", "sh", "-c", script]);

  // Each sample runs the command `batch` times inside one `incus exec`, so
  // the time of `incus exec` itself is divided out; the first call opens the
  // reusable SSH connection and is not counted.
  const batch = 10;
  await inside("git status >/dev/null");
  const samples: Record<string, number[]> = {
    bridgeStatus: [],
    directStatus: [],
    bridgeCommit: [],
    directCommit: [],
  };
  const loop = (command: string) =>
    `i=0; while [ $i -lt ${batch} ]; do ${command} >/dev/null; i=$((i+1)); done`;
  const empty = await timed(() =>
    inside(loop("true"))
  );
  for (let i = 0; i < runs; i++) {
    samples.bridgeStatus.push((await timed(() => inside(loop("git status"))) - empty) / batch);
    samples.directStatus.push(
      (await timed(() => sh(["sh", "-c", loop("git status")], { cwd: worktree }))) / batch,
    );
    samples.bridgeCommit.push(
      (await timed(() => inside(loop("git commit -q --allow-empty -m bench"))) - empty) / batch,
    );
    samples.directCommit.push(
      (await timed(() =>
        sh(["sh", "-c", loop("git commit -q --allow-empty -m direct")], { cwd: worktree })
      )) / batch,
    );
  }
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  console.log(
    "| Command | Bridge median | Direct median | Overhead (median) | Ratio | Bridge p95 | Direct p95 |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (
    const [name, bridge, direct] of [
      ["git status", samples.bridgeStatus, samples.directStatus],
      ["git commit --allow-empty", samples.bridgeCommit, samples.directCommit],
    ] as const
  ) {
    const b = percentile(bridge, 0.5);
    const d = percentile(direct, 0.5);
    console.log(
      `| \`${name}\` | ${ms(b)} | ${ms(d)} | +${ms(b - d)} | ${(b / d).toFixed(1)}x | ${
        ms(percentile(bridge, 0.95))
      } | ${ms(percentile(direct, 0.95))} |`,
    );
  }
  console.log(
    `\n${runs} samples of ${batch} commands each; ${
      new Date().toISOString()
    }; ${Deno.build.target}`,
  );
} finally {
  await sh(["deno", "run", "-A", "--quiet", main, "daemon", "stop"], { env }).catch(() => {});
  if (container) await sh(["incus", "delete", "--force", container]).catch(() => {});
  await Deno.remove(root, { recursive: true });
}
