/**
 * Measures `git commit` on the host in a Locki worktree, where every hook
 * goes through Locki's wrappers, against `git commit` in a plain worktree of
 * the same repository, in one run. Two cases: no repository hook (the
 * wrappers' fast path) and one pre-commit hook (run in the sandbox with
 * Locki, on the host without). Prints a Markdown table.
 *
 * Usage: deno run -A bench/hooks.ts [--runs N]
 * Needs the incus backend set up (vm/setup-debian-host.sh).
 */
import { join } from "node:path";
import { sh, timed } from "./measure.ts";

const runs = Number(Deno.args[Deno.args.indexOf("--runs") + 1]) || 20;
const main = new URL("../main.ts", import.meta.url).pathname;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const root = await Deno.makeTempDir({ prefix: "locki-bench-hooks-" });
const repo = join(root, "repo");
const plain = join(root, "plain");
const lockiHome = join(root, "locki-home");
const env = { LOCKI_HOME: lockiHome, NO_COLOR: "1" };
try {
  await Deno.mkdir(repo);
  await sh(["git", "init", "-q", "-b", "main"], { cwd: repo });
  await sh(["git", "config", "user.email", "bench@example.com"], { cwd: repo });
  await sh(["git", "config", "user.name", "Bench"], { cwd: repo });
  await sh(["git", "commit", "-q", "--allow-empty", "-m", "init"], { cwd: repo });
  await sh(["git", "worktree", "add", "-q", "-b", "plain", plain], { cwd: repo });
  const worktree = (await sh(
    ["deno", "run", "-A", "--quiet", main, "shell", "bench-hooks", "--", "pwd"],
    { cwd: repo, env },
  )).trim();

  const hook = join(repo, ".git", "hooks", "pre-commit");
  const commit = (folder: string, index: number) =>
    sh(["git", "commit", "-q", "--allow-empty", "-m", `commit ${index}`], { cwd: folder });
  const rows: string[] = [];
  for (const withHook of [false, true]) {
    if (withHook) {
      await Deno.writeTextFile(hook, "#!/bin/sh\ntrue\n", { mode: 0o755 });
    } else {
      await Deno.remove(hook).catch(() => {});
    }
    await commit(worktree, -1);
    await commit(plain, -1);
    const locki: number[] = [];
    const direct: number[] = [];
    for (let index = 0; index < runs; index++) {
      locki.push(await timed(() => commit(worktree, index)));
      direct.push(await timed(() => commit(plain, index)));
    }
    const label = withHook ? "one pre-commit hook" : "no repository hook";
    rows.push(
      `| ${label} | ${median(locki).toFixed(1)} | ${median(direct).toFixed(1)} | ${
        (median(locki) / median(direct)).toFixed(2)
      }x |`,
    );
  }
  console.log(`Median of ${runs} host \`git commit --allow-empty\` runs, in ms:\n`);
  console.log("| case | Locki worktree | plain worktree | ratio |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const row of rows) console.log(row);
} finally {
  await sh(["deno", "run", "-A", "--quiet", main, "rm", "--force", "bench-hooks"], {
    cwd: repo,
    env,
  }).catch(() => {});
  await sh(["deno", "run", "-A", "--quiet", main, "daemon", "stop"], { env }).catch(() => {});
  await Deno.remove(root, { recursive: true });
}
