import assert from "node:assert/strict";
import { join } from "node:path";
import { runProcess } from "../../vm/process.ts";
import { isHookIndex } from "../bridge/daemon.ts";
import type { LockiPaths } from "../paths.ts";
import type { SandboxRecord } from "../sandbox_store.ts";
import { wrapperScript } from "./wrappers.ts";

async function setUp() {
  const root = await Deno.makeTempDir({ prefix: "locki-wrapper-" });
  const commonDir = join(root, "repo.git");
  await Deno.mkdir(join(commonDir, "hooks"), { recursive: true });
  await Deno.writeTextFile(join(commonDir, "config"), "[core]\n\tbare = false\n");
  const record = {
    id: "repo-fix-000000",
    branch: "fix",
    commonDir,
    gitDir: join(commonDir, "worktrees", "repo-fix-000000"),
  } as SandboxRecord;
  const paths = { root: join(root, "home") } as LockiPaths;
  const wrapper = join(root, "pre-commit");
  await Deno.writeTextFile(
    wrapper,
    wrapperScript(paths, record, "pre-commit", [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      new URL("../../main.ts", import.meta.url).pathname,
    ]),
    { mode: 0o755 },
  );
  // A global config without core.hooksPath, so the user's own cannot interfere.
  const env = { HOME: root, GIT_CONFIG_GLOBAL: join(root, "gitconfig"), LOCKI_HOME: paths.root };
  const runWrapper = () => runProcess([wrapper], { cwd: root, env });
  return { root, commonDir, runWrapper };
}

Deno.test("wrapper without a hook exits 0 silently", async () => {
  const { root, runWrapper } = await setUp();
  const result = await runWrapper();
  assert.equal(result.code, 0);
  assert.equal(result.stdout + result.stderr, "");
  await Deno.remove(root, { recursive: true });
});

Deno.test("wrapper skips a non-executable hook with git's hint", async () => {
  const { root, commonDir, runWrapper } = await setUp();
  await Deno.writeTextFile(join(commonDir, "hooks", "pre-commit"), "#!/bin/sh\nexit 1\n", {
    mode: 0o644,
  });
  const result = await runWrapper();
  assert.equal(result.code, 0);
  assert.match(result.stderr, /hook was ignored because it's not set as executable/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("wrapper hands an executable hook to Locki", async () => {
  const { root, commonDir, runWrapper } = await setUp();
  await Deno.writeTextFile(join(commonDir, "hooks", "pre-commit"), "#!/bin/sh\nexit 0\n", {
    mode: 0o755,
  });
  // No record exists in this Locki home, so Locki rejects the run; the
  // message proves the wrapper reached it.
  const result = await runWrapper();
  assert.equal(result.code, 1);
  assert.match(result.stderr, /sandbox repo-fix-000000, which Locki no longer knows/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("hook index accepts only the worktree's own index files", () => {
  const record = { gitDir: "/repo/.git/worktrees/fix" } as SandboxRecord;
  assert.equal(isHookIndex(record, "/repo/.git/worktrees/fix/index.lock"), true);
  assert.equal(isHookIndex(record, "/repo/.git/worktrees/fix/next-index-123.lock"), true);
  assert.equal(isHookIndex(record, "/repo/.git/worktrees/fix/index"), true);
  assert.equal(isHookIndex(record, "/repo/.git/index.lock"), false);
  assert.equal(isHookIndex(record, "/repo/.git/worktrees/fix/../../index"), false);
  assert.equal(isHookIndex(record, "index.lock"), false);
  assert.equal(isHookIndex(record, "/repo/.git/worktrees/fix/config"), false);
});

Deno.test("wrapper follows the repository's core.hooksPath", async () => {
  const { root, commonDir, runWrapper } = await setUp();
  await Deno.writeTextFile(join(commonDir, "config"), "[core]\n\thooksPath = custom-hooks\n");
  await Deno.mkdir(join(root, "custom-hooks"));
  await Deno.writeTextFile(join(root, "custom-hooks", "pre-commit"), "exit 1\n", { mode: 0o644 });
  const result = await runWrapper();
  assert.equal(result.code, 0);
  assert.match(result.stderr, /custom-hooks\/pre-commit' hook was ignored/);
  await Deno.remove(root, { recursive: true });
});
