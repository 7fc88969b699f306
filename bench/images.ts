/**
 * Compares the default image (Docker, mise, tools) with a plain one
 * (systemd, git, Node.js) in one run. It measures cold sandbox creation
 * with Locki against raw `incus launch` of each image as the baseline, and
 * the disk space each extra sandbox uses on the btrfs pool once booted.
 * Prints a Markdown table.
 *
 * Usage: deno run -A bench/images.ts --plain ALIAS [--runs N]
 * The plain image is built from an older vm/build-base-image.sh with
 * `--alias ALIAS`; docs/BENCHMARKS.md gives the commands.
 */
import { join } from "node:path";
import { sh, timed } from "./measure.ts";

const option = (name: string) => {
  const index = Deno.args.indexOf(`--${name}`);
  return index === -1 ? undefined : Deno.args[index + 1];
};
const runs = Number(option("runs")) || 5;
const plain = option("plain");
if (!plain) {
  console.error("usage: bench/images.ts --plain ALIAS [--runs N]");
  Deno.exit(2);
}
const images = [plain, "locki-debian-12"];
const main = new URL("../main.ts", import.meta.url).pathname;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Bytes only this container's subvolume holds, beside what it shares with its image. */
async function exclusiveBytes(container: string): Promise<number> {
  const path = `/var/lib/incus/storage-pools/locki/containers/${container}`;
  const output = await sh(["btrfs", "filesystem", "du", "-s", "--raw", path]);
  const fields = output.trim().split("\n").at(-1)!.trim().split(/\s+/);
  return Number(fields[1]);
}

const root = await Deno.makeTempDir({ prefix: "locki-bench-images-" });
const lockiHome = join(root, "locki-home");
const env = { LOCKI_HOME: lockiHome, NO_COLOR: "1" };
const launched: string[] = [];
const results = new Map<string, { locki: number[]; raw: number[]; disk: number[] }>();
try {
  for (const image of images) results.set(image, { locki: [], raw: [], disk: [] });
  for (let run = 0; run < runs; run++) {
    for (const image of images) {
      const result = results.get(image)!;
      const name = `locki-bench-raw-${run}-${images.indexOf(image)}`;
      launched.push(name);
      result.raw.push(await timed(() => sh(["incus", "launch", image, name, "-q"])));

      const repo = join(root, `repo-${run}-${images.indexOf(image)}`);
      await Deno.mkdir(repo);
      await sh(["git", "init", "-q", "-b", "main"], { cwd: repo });
      await Deno.writeTextFile(join(repo, "locki.toml"), `incus_image = "${image}"\n`);
      await sh(["git", "add", "."], { cwd: repo });
      await sh(["git", "-c", "user.email=b@e", "-c", "user.name=b", "commit", "-q", "-m", "init"], {
        cwd: repo,
      });
      result.locki.push(
        await timed(() =>
          sh(["deno", "run", "-A", "--quiet", main, "shell", "bench", "--", "true"], {
            cwd: repo,
            env,
          })
        ),
      );
      // Booted services (Docker among them) write their state in the first seconds.
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const listed = JSON.parse(await sh(["incus", "list", "--format", "json"]));
      const container = listed.find((item: any) => item.config?.["user.locki.repo"] === repo).name;
      result.disk.push(await exclusiveBytes(container));
    }
  }
  console.log(`Medians of ${runs} runs per image, alternating, ${new Date().toISOString()}:\n`);
  console.log(
    "| image | raw `incus launch` | `locki shell` (cold) | Locki / raw | disk per extra sandbox |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const image of images) {
    const result = results.get(image)!;
    console.log(
      `| ${image} | ${median(result.raw).toFixed(0)} ms | ${median(result.locki).toFixed(0)} ms | ${
        (median(result.locki) / median(result.raw)).toFixed(2)
      }x | ${(median(result.disk) / 1024 ** 2).toFixed(1)} MiB |`,
    );
  }
  const [before, after] = images.map((image) => median(results.get(image)!.locki));
  console.log(`\nCold creation, default image / plain image: ${(after / before).toFixed(2)}x`);
} finally {
  for (const name of launched) await sh(["incus", "delete", "--force", name]).catch(() => {});
  const listed = JSON.parse(await sh(["incus", "list", "--format", "json"]));
  for (const item of listed) {
    if ((item.config?.["user.locki.worktree"] ?? "").startsWith(lockiHome)) {
      await sh(["incus", "delete", "--force", item.name]).catch(() => {});
    }
  }
  await sh(["deno", "run", "-A", "--quiet", main, "daemon", "stop"], { env }).catch(() => {});
  await Deno.remove(root, { recursive: true });
}
