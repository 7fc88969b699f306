import assert from "node:assert/strict";
import { join } from "node:path";
import { BUILTIN_AGENTS } from "../agents/mod.ts";
import { PluginRegistry } from "./registry.ts";
import { PluginError, validatePlugin } from "./validate.ts";

const fixture = new URL("../tests/fixtures/hello-agent.ts", import.meta.url).pathname;

async function withRegistry(action: (registry: PluginRegistry, folder: string) => Promise<void>) {
  const folder = await Deno.makeTempDir({ prefix: "locki-plugins-" });
  try {
    await action(new PluginRegistry(join(folder, "plugins"), BUILTIN_AGENTS), folder);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
}

Deno.test("validatePlugin() names every wrong field", () => {
  assert.throws(() => validatePlugin(undefined, "x.ts"), /x\.ts has no default export object/);
  try {
    validatePlugin({
      name: "Bad Name",
      description: "two\nlines",
      install: { kind: "apt" },
      forwardEnv: ["lower"],
    }, "x.ts");
    assert.fail("expected a PluginError");
  } catch (error) {
    assert.ok(error instanceof PluginError);
    assert.match(error.message, /name: expected lowercase letters/);
    assert.match(error.message, /description: expected one non-empty line/);
    assert.match(error.message, /install: kind: expected "none", "npm" or "script", got "apt"/);
    assert.match(error.message, /forwardEnv: expected a list of environment variable names/);
    assert.match(error.message, /command: expected a function/);
  }
  for (const builtin of BUILTIN_AGENTS) {
    assert.equal(validatePlugin(builtin, builtin.name), builtin);
  }
});

Deno.test("registry adds, lists and removes plugins", async () => {
  await withRegistry(async (registry, folder) => {
    const added = await registry.add(fixture, { force: false, cwd: folder });
    assert.equal(added.name, "hello");
    assert.match(added.sha256, /^[0-9a-f]{64}$/);
    const listed = await registry.list();
    assert.deepEqual(listed.map((entry) => entry.name), [
      "shell",
      "claude",
      "gemini",
      "codex",
      "opencode",
      "hello",
    ]);
    assert.equal((await registry.load("hi")).name, "hello", "aliases find the plugin");

    await assert.rejects(
      () => registry.add(fixture, { force: false, cwd: folder }),
      /already added/,
    );
    await registry.add(fixture, { force: true, cwd: folder });

    await Deno.writeTextFile(added.file, "\n// changed\n", { append: true });
    await assert.rejects(
      () => registry.load("hello"),
      /changed since it was added.*so it is not run/s,
    );

    const removed = await registry.remove("hello");
    assert.equal(removed.name, "hello");
    assert.equal((await registry.list()).length, BUILTIN_AGENTS.length);
    await assert.rejects(() => registry.remove("claude"), /built-in agent and cannot be removed/);
  });
});

Deno.test("registry rejects broken and clashing plugins", async () => {
  await withRegistry(async (registry, folder) => {
    const write = async (name: string, text: string) => {
      const file = join(folder, name);
      await Deno.writeTextFile(file, text);
      return file;
    };
    await assert.rejects(
      () => registry.add(join(folder, "missing.ts"), { force: false, cwd: folder }),
      /plugin file not found/,
    );
    await assert.rejects(
      async () =>
        registry.add(await write("syntax.ts", "export default {"), { force: false, cwd: folder }),
      /failed to load/,
    );
    await assert.rejects(
      async () =>
        registry.add(await write("throws.ts", "throw new Error('boom');"), {
          force: false,
          cwd: folder,
        }),
      /failed to load: boom/,
    );
    await assert.rejects(
      async () =>
        registry.add(await write("shape.ts", "export default { name: 'x' };"), {
          force: false,
          cwd: folder,
        }),
      /description: expected one non-empty line/,
    );
    const body = (name: string) =>
      `export default { name: "${name}", description: "d", install: { kind: "none" }, command: (a) => a };`;
    await assert.rejects(
      async () => registry.add(await write("ls.ts", body("ls")), { force: false, cwd: folder }),
      /is a Locki command/,
    );
    await assert.rejects(
      async () =>
        registry.add(await write("claude.ts", body("claude")), { force: false, cwd: folder }),
      /name 'claude' of a built-in agent/,
    );
    assert.deepEqual(await registry.added(), [], "nothing was recorded");
  });
});

Deno.test("registry keeps names unique and lets --force replace a built-in", async () => {
  await withRegistry(async (registry, folder) => {
    const write = async (name: string, text: string) => {
      const file = join(folder, name);
      await Deno.writeTextFile(file, text);
      return file;
    };
    const body = (name: string, aliases: string[] = []) =>
      `export default { name: "${name}", aliases: ${
        JSON.stringify(aliases)
      }, description: "d", install: { kind: "none" }, command: (a) => ["x", ...a] };`;
    await registry.add(await write("first.ts", body("first")), { force: false, cwd: folder });
    await assert.rejects(
      async () =>
        registry.add(await write("second.ts", body("second", ["first"])), {
          force: false,
          cwd: folder,
        }),
      /takes the name 'first', which an added plugin already uses/,
    );
    await assert.rejects(
      async () =>
        registry.add(await write("self.ts", body("self", ["self"])), { force: false, cwd: folder }),
      /aliases: 'self' repeats the name/,
    );

    const replacement = await registry.add(await write("claude.ts", body("claude")), {
      force: true,
      cwd: folder,
    });
    assert.equal(
      replacement.source,
      join(folder, "claude.ts"),
      "local sources are recorded as absolute paths",
    );
    const names = (await registry.list()).map((entry) => entry.name);
    assert.equal(names.filter((name) => name === "claude").length, 1, "the built-in steps aside");
    assert.equal((await registry.list()).find((entry) => entry.name === "claude")?.builtin, false);
    assert.deepEqual(
      (await registry.load("claude")).command([], { worktree: "/w", branch: "b", home: "/root" }),
      [
        "x",
      ],
    );
  });
});
