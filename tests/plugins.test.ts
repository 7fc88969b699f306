import assert from "node:assert/strict";
import { join } from "node:path";
import { containersUnder, Fixture, PROJECT_ROOT, run } from "./helpers.ts";

const FIXTURE = join(PROJECT_ROOT, "tests", "fixtures", "hello-agent.ts");

Deno.test("third-party plugin runs in a sandbox", async () => {
  const fx = await Fixture.create();
  try {
    const added = await fx.lockiOk(["plugin", "add", FIXTURE]);
    assert.match(added.stderr, /added plugin 'hello'/);
    const help = await fx.lockiOk(["--help"]);
    assert.match(help.stdout, /hello\|hi \[branch\]\s+a greeting agent/);
    const listed = JSON.parse((await fx.lockiOk(["plugin", "list", "--json"])).stdout);
    assert.equal(listed.find((entry: { name: string }) => entry.name === "hello").source, FIXTURE);

    const result = await fx.lockiOk(["hello", "fix", "--", "world"], {
      env: { HELLO_TOKEN: "t-123", UNRELATED_SECRET: "s3cret" },
    });
    assert.match(
      result.stdout,
      /^hello from locki-app-fix-\w+ in .*\/worktrees\/app-fix-\w+, token=t-123/,
    );
    assert.match(result.stdout, /settings=\{"greeting":"hi"\}/);
    assert.match(result.stdout, /args: world/);
    assert.match(result.stderr, /installing hello in the sandbox/);

    const [container] = await containersUnder(fx.lockiHome);
    const env = await run(["incus", "exec", container.name, "--", "env"]);
    assert.doesNotMatch(env.stdout, /s3cret/, "only declared variables are forwarded");
    const instructions = await run([
      "incus",
      "exec",
      container.name,
      "--",
      "cat",
      "/etc/hello/INSTRUCTIONS.md",
    ]);
    assert.match(instructions.stdout, /You are working in a Locki sandbox/);

    // Seeds never overwrite the user's own settings, and the install step runs once.
    await Deno.writeTextFile(
      join(fx.lockiHome, "home", ".hello", "settings.json"),
      '{"greeting":"mine"}',
    );
    const again = await fx.lockiOk(["hi", "fix"]);
    assert.match(again.stdout, /settings=\{"greeting":"mine"\}/);
    assert.doesNotMatch(again.stderr, /installing/);

    // A plugin file changed after it was added is not run, and breaks nothing else.
    await Deno.writeTextFile(join(fx.lockiHome, "plugins", "hello.ts"), "\n// edited\n", {
      append: true,
    });
    const changed = await fx.locki(["hello", "fix"]);
    assert.equal(changed.code, 1);
    assert.match(changed.stderr, /plugin 'hello' changed since it was added/);
    assert.match(changed.stderr, /locki plugin add --force/);
    assert.equal((await fx.locki(["--help"])).code, 0);
    assert.equal((await fx.locki(["shell", "fix", "--", "true"])).code, 0);

    await fx.lockiOk(["plugin", "remove", "hello"]);
    assert.doesNotMatch((await fx.lockiOk(["--help"])).stdout, /hello/);
  } finally {
    await fx.dispose();
  }
});

Deno.test("built-in agents seed their settings", async () => {
  const fx = await Fixture.create();
  try {
    // Whether the install succeeds depends on the npm cache; the settings are written first either way.
    await fx.locki(["claude", "agent-b", "--", "--version"], { env: { LOCKI_OFFLINE: "1" } });

    const home = join(fx.lockiHome, "home");
    const worktree = (await fx.sandboxes())[0].worktree;
    const state = JSON.parse(await Deno.readTextFile(join(home, ".claude.json")));
    assert.equal(state.projects[worktree].hasTrustDialogAccepted, true);
    const settings = JSON.parse(await Deno.readTextFile(join(home, ".claude", "settings.json")));
    assert.equal(settings.permissions.defaultMode, "bypassPermissions");
    const [container] = await containersUnder(fx.lockiHome);
    const managed = await run([
      "incus",
      "exec",
      container.name,
      "--",
      "cat",
      "/etc/claude-code/CLAUDE.md",
    ]);
    assert.match(managed.stdout, /Locki sandbox/);

    await fx.locki(["gemini", "agent-b"]);
    const trusted = JSON.parse(
      await Deno.readTextFile(join(home, ".gemini", "trustedFolders.json")),
    );
    assert.deepEqual(Object.keys(trusted), [worktree], "exactly the worktree is trusted, never /");
    const geminiNotes = await Deno.readTextFile(join(home, ".gemini", "GEMINI.md"));
    assert.match(geminiNotes, /<!-- locki:begin/);

    await Deno.mkdir(join(home, ".codex"), { recursive: true });
    await Deno.writeTextFile(join(home, ".codex", "AGENTS.md"), "# My own notes\n");
    await fx.locki(["codex", "agent-b"]);
    assert.match(
      await Deno.readTextFile(join(home, ".codex", "config.toml")),
      /approval_policy = "never"/,
    );
    const notes = await Deno.readTextFile(join(home, ".codex", "AGENTS.md"));
    assert.match(notes, /^# My own notes\n\n<!-- locki:begin/, "the user's own instructions stay");
    await fx.locki(["codex", "agent-b"]);
    assert.equal(
      await Deno.readTextFile(join(home, ".codex", "AGENTS.md")),
      notes,
      "the block is replaced, not repeated",
    );
  } finally {
    await fx.dispose();
  }
});

Deno.test("failing install step names the plugin", async () => {
  const fx = await Fixture.create();
  try {
    const plugin = join(fx.root, "broken.ts");
    await Deno.writeTextFile(
      plugin,
      `export default {
  name: "broken",
  description: "an agent whose install step fails",
  install: { kind: "script", script: "echo 'cannot reach the mirror' >&2; exit 4", check: ["false"] },
  command: (args) => ["broken-agent", ...args],
};
`,
    );
    await fx.lockiOk(["plugin", "add", plugin]);
    const result = await fx.locki(["broken", "try"]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /installing plugin 'broken' in the sandbox failed \(exit code 4\):/,
    );
    assert.match(result.stderr, /cannot reach the mirror/);
    assert.match(
      result.stderr,
      /hint: fix the plugin's install step, or install it by hand: locki shell try/,
    );
    assert.equal((await fx.sandboxes()).length, 1, "the sandbox stays for a look");

    const empty = join(fx.root, "empty.ts");
    await Deno.writeTextFile(
      empty,
      'export default { name: "empty", description: "d", install: { kind: "none" }, command: () => [] };\n',
    );
    await fx.lockiOk(["plugin", "add", empty]);
    const noCommand = await fx.locki(["empty", "try"]);
    assert.equal(noCommand.code, 1);
    assert.match(noCommand.stderr, /plugin 'empty': command\(\) returned \[\], not a command line/);

    // Replacing a built-in keeps every command working.
    const claude = join(fx.root, "claude.ts");
    await Deno.writeTextFile(
      claude,
      'export default { name: "claude", description: "my claude", install: { kind: "none" }, command: (a) => ["echo", "mine", ...a] };\n',
    );
    await fx.lockiOk(["plugin", "add", "--force", claude]);
    assert.match((await fx.lockiOk(["--help"])).stdout, /claude \[branch\]\s+my claude/);
    assert.equal((await fx.lockiOk(["claude", "try", "--", "x"])).stdout, "mine x\n");
  } finally {
    await fx.dispose();
  }
});
