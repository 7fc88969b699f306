/**
 * Measures sandbox start-up against raw Incus on the same machine and image,
 * in one run, and prints a Markdown report for docs/BENCHMARKS.md.
 *
 * Usage: deno run -A bench/sandbox_start.ts [--runs N]
 * Needs the incus backend set up (vm/setup-debian-host.sh) and root, or a
 * user in the incus-admin group.
 */
import { join } from "node:path";
import { sh, timed } from "./measure.ts";

const runs = Number(Deno.args[Deno.args.indexOf("--runs") + 1]) || 7;
const main = new URL("../main.ts", import.meta.url).pathname;
const image = "locki-debian-12";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function poolUsedBytes(): Promise<number> {
  const profile = JSON.parse(await sh(["incus", "query", "/1.0/profiles/default"]));
  const pool = profile.devices.root.pool;
  const resources = JSON.parse(
    await sh(["incus", "query", `/1.0/storage-pools/${pool}/resources`]),
  );
  return resources.space.used;
}

const root = await Deno.makeTempDir({ prefix: "locki-bench-" });
const repo = join(root, "repo");
const lockiHome = join(root, "locki-home");
const env = { LOCKI_HOME: lockiHome, NO_COLOR: "1" };
const raw: string[] = [];
try {
  await Deno.mkdir(repo);
  await sh(["git", "init", "-q", "-b", "main"], { cwd: repo });
  await Deno.writeTextFile(join(repo, "README.md"), "bench\n");
  await sh(["git", "add", "."], { cwd: repo });
  await sh(["git", "-c", "user.email=b@e", "-c", "user.name=b", "commit", "-q", "-m", "init"], {
    cwd: repo,
  });
  const locki = (...args: string[]) =>
    sh(["deno", "run", "-A", "--quiet", main, ...args], { cwd: repo, env });

  // Warm-up: the first container unpacks the image on the pool, and Deno
  // caches its compiled modules; neither is what a user sees each time.
  await locki("shell", "warm-up", "--", "true");
  await sh(["incus", "launch", image, "locki-bench-warm-up"]);
  raw.push("locki-bench-warm-up");

  const cold: number[] = [];
  const launch: number[] = [];
  for (let i = 0; i < runs; i++) {
    const name = `locki-bench-raw-${i}`;
    raw.push(name);
    launch.push(
      await timed(async () => {
        await sh(["incus", "launch", image, name]);
        await sh(["incus", "exec", name, "--", "true"]);
      }),
    );
    cold.push(await timed(() => locki("shell", `cold-${i}`, "--", "true")));
  }

  const warm: number[] = [];
  const exec: number[] = [];
  for (let i = 0; i < runs; i++) {
    exec.push(await timed(() => sh(["incus", "exec", raw[1], "--", "true"])));
    warm.push(await timed(() => locki("shell", "cold-0", "--", "true")));
  }

  const help: number[] = [];
  const bare: number[] = [];
  const empty = join(root, "empty.ts");
  await Deno.writeTextFile(empty, "");
  for (let i = 0; i < runs; i++) {
    bare.push(await timed(() => sh(["deno", "run", "-A", "--quiet", empty])));
    help.push(await timed(() => locki("--help")));
  }

  const before = await poolUsedBytes();
  const extra = 5;
  for (let i = 0; i < extra; i++) await locki("shell", `disk-${i}`, "--", "true");
  const perSandbox = (await poolUsedBytes() - before) / extra;
  const worktreeBytes =
    Number((await sh(["du", "-sb", join(lockiHome, "worktrees")])).split("\t")[0]) /
    (runs + extra + 1);

  const ms = (value: number) => `${value.toFixed(0)} ms`;
  console.log(`| Measurement | Locki | Baseline | Ratio / overhead |`);
  console.log(`|---|---|---|---|`);
  console.log(
    `| cold \`locki shell B -- true\` vs \`incus launch\` + \`incus exec true\` | ${
      ms(median(cold))
    } | ${ms(median(launch))} | ${(median(cold) / median(launch)).toFixed(2)}x |`,
  );
  console.log(
    `| warm \`locki shell B -- true\` vs \`incus exec C -- true\` | ${ms(median(warm))} | ${
      ms(median(exec))
    } | +${ms(median(warm) - median(exec))} |`,
  );
  console.log(
    `| \`locki --help\` vs \`deno run\` of an empty file | ${ms(median(help))} | ${
      ms(median(bare))
    } | +${ms(median(help) - median(bare))} |`,
  );
  console.log(
    `| storage pool growth per extra sandbox | ${(perSandbox / 1024 / 1024).toFixed(1)} MiB | | |`,
  );
  console.log(
    `| worktree size per sandbox (host) | ${(worktreeBytes / 1024).toFixed(0)} KiB | | |`,
  );
  console.log(`\nmedians of ${runs} runs; ${new Date().toISOString()}; ${Deno.build.target}`);
} finally {
  for (const name of raw) await sh(["incus", "delete", "--force", name]).catch(() => {});
  const list = JSON.parse(await sh(["incus", "list", "--format", "json"]));
  for (const item of list) {
    if ((item.config?.["user.locki.worktree"] ?? "").startsWith(lockiHome)) {
      await sh(["incus", "delete", "--force", item.name]).catch(() => {});
    }
  }
  await Deno.remove(root, { recursive: true });
}
