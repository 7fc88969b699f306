import assert from "node:assert/strict";
import { join } from "node:path";
import { containersUnder, deleteContainersUnder, PROJECT_ROOT, run } from "./helpers.ts";

/** Non-root account that tests/run.sh creates and maps into Incus (vm/setup-debian-host.sh --user). */
const TEST_USER = "locki-tester";

async function userIds(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const uid = await run(["id", "-u", name]);
  const gid = await run(["id", "-g", name]);
  if (uid.code !== 0 || gid.code !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

const ids = await userIds(TEST_USER);

Deno.test({
  name: "non-root user owns sandbox writes",
  ignore: ids === undefined || Deno.uid() !== 0,
  fn: async () => {
    const { uid, gid } = ids!;
    const root = await Deno.makeTempDir({ prefix: "locki-nonroot-" });
    const home = join(root, "home");
    const project = join(root, "locki");
    const repo = join(home, "repo");
    const lockiHome = join(home, ".locki");
    try {
      // The checkout may sit in a folder the test user cannot read (/root),
      // so the user runs a copy of it.
      await Deno.mkdir(project);
      for (
        const entry of [
          "main.ts",
          "deno.json",
          "deno.lock",
          "core",
          "vm",
          "commands",
          "plugins",
          "agents",
          "node_modules",
        ]
      ) {
        const copied = await run(["cp", "-a", join(PROJECT_ROOT, entry), project]);
        assert.equal(copied.code, 0, copied.stderr);
      }
      // Give the user a copy of the npm package cache, so that its Deno runs
      // with --cached-only and never reaches the registry during the test.
      const info = JSON.parse((await run(["deno", "info", "--json"])).stdout);
      await Deno.mkdir(join(home, ".deno"), { recursive: true });
      const cache = await run(["cp", "-a", join(info.denoDir, "npm"), join(home, ".deno", "npm")]);
      assert.equal(cache.code, 0, cache.stderr);
      await Deno.mkdir(repo, { recursive: true });
      await Deno.chmod(root, 0o755);
      assert.equal((await run(["chown", "-R", `${uid}:${gid}`, home, project])).code, 0);

      const asUser = (script: string) =>
        // runuser resets HOME to the account's own, so set it again inside.
        run(["runuser", "-u", TEST_USER, "--", "env", `HOME=${home}`, "sh", "-c", script], {
          cwd: repo,
          clearEnv: true,
          env: {
            PATH: Deno.env.get("PATH")!,
            HOME: home,
            DENO_DIR: join(home, ".deno"),
            NO_COLOR: "1",
          },
        });
      const setup = await asUser(
        "git init -q -b main && git -c user.email=u@e -c user.name=u commit -q --allow-empty -m init",
      );
      assert.equal(setup.code, 0, setup.stderr);

      const result = await asUser(
        `deno run -A --quiet --cached-only ${project}/main.ts shell user-branch -- sh -c 'echo hi > by-sandbox.txt; id -u; pwd'`,
      );
      assert.equal(result.code, 0, result.stderr);
      const [insideUid, worktree] = result.stdout.trim().split("\n");
      assert.equal(insideUid, "0", "the sandbox user is container root");
      assert.ok(
        worktree.startsWith(join(lockiHome, "worktrees") + "/"),
        `LOCKI_HOME defaults to ~/.locki: ${result.stdout}`,
      );

      const file = await Deno.stat(join(worktree, "by-sandbox.txt"));
      assert.equal(file.uid, uid, "the file belongs to the host user");
      assert.equal(file.gid, gid);
      const containers = await containersUnder(lockiHome);
      assert.equal(containers.length, 1);
      assert.equal(containers[0].config["user.locki.owner"], String(uid));
    } finally {
      await deleteContainersUnder(lockiHome);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
