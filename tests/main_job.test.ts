import assert from "node:assert/strict";
import { join } from "node:path";
import { agentCacheReady, containersUnder, Fixture, git, loadAgentCache } from "./helpers.ts";
import { ModelServer } from "./model_server.ts";

/** Loopback port inside the sandbox where the scripted model server appears. */
const MODEL_PORT_IN_SANDBOX = 18080;

/** Commits a calculator whose test fails (it subtracts), plus `extra` files, to the fixture's repository. */
async function commitBuggyCalculator(
  fx: Fixture,
  extra: Record<string, string> = {},
): Promise<void> {
  await Deno.writeTextFile(join(fx.repo, "add.sh"), "#!/bin/sh\necho $(( $1 - $2 ))\n", {
    mode: 0o755,
  });
  await Deno.writeTextFile(
    join(fx.repo, "test.sh"),
    '#!/bin/sh\nresult=$(./add.sh 2 3)\n[ "$result" = 5 ] && echo "test passed" || { echo "test failed: got $result"; exit 1; }\n',
    { mode: 0o755 },
  );
  for (const [name, text] of Object.entries(extra)) {
    await Deno.writeTextFile(join(fx.repo, name), text);
  }
  await git(fx.repo, "add", ".");
  await git(fx.repo, "commit", "-q", "-m", "add calculator with a failing test");
}

Deno.test({
  name: "claude fixes a bug and commits through bridge",
  ignore: !agentCacheReady,
  fn: async () => {
    const fx = await Fixture.create();
    let server: ModelServer | undefined;
    try {
      // A small repository with a failing test, and a bare origin.
      await commitBuggyCalculator(fx, { ".gitignore": "*.log\n" });
      const origin = join(fx.root, "origin.git");
      await git(fx.root, "clone", "-q", "--bare", fx.repo, origin);
      await git(fx.repo, "remote", "add", "origin", origin);
      await git(fx.repo, "fetch", "-q", "origin");
      const refsBefore = await git(fx.repo, "for-each-ref", "--format=%(refname) %(objectname)");
      const mainBefore = await git(fx.repo, "rev-parse", "main");

      const worktree = (await fx.lockiOk(["shell", "fix-42", "--", "pwd"])).stdout.trim();
      const [container] = await containersUnder(fx.lockiHome);
      await loadAgentCache(container.name);

      server = new ModelServer([
        {
          blocks: [{
            type: "tool_use",
            name: "Read",
            input: { file_path: join(worktree, "add.sh") },
          }],
        },
        {
          blocks: [{
            type: "tool_use",
            name: "Bash",
            input: { command: "./test.sh", description: "Run the test" },
          }],
        },
        {
          blocks: [{
            type: "tool_use",
            name: "Edit",
            input: {
              file_path: join(worktree, "add.sh"),
              old_string: "$1 - $2",
              new_string: "$1 + $2",
            },
          }],
        },
        {
          blocks: [{
            type: "tool_use",
            name: "Bash",
            input: { command: "./test.sh", description: "Run the test" },
          }],
        },
        {
          blocks: [{
            type: "tool_use",
            name: "Bash",
            input: {
              command: "git add add.sh && git commit -m 'Fix add.sh to add'",
              description: "Commit",
            },
          }],
        },
        {
          blocks: [{
            type: "tool_use",
            name: "Bash",
            input: { command: "git reset --hard HEAD~1", description: "Undo" },
          }],
        },
        {
          blocks: [{
            type: "tool_use",
            name: "Bash",
            input: { command: "git push --force origin main", description: "Push" },
          }],
        },
        { blocks: [{ type: "text", text: "The test passes now and the fix is committed." }] },
      ]);
      await server.attachTo(container.name, MODEL_PORT_IN_SANDBOX);

      const result = await fx.locki(["claude", "fix-42", "--", "-p", "fix the failing test"], {
        env: {
          ANTHROPIC_BASE_URL: `http://127.0.0.1:${MODEL_PORT_IN_SANDBOX}`,
          ANTHROPIC_API_KEY: "sk-test-not-a-real-key",
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
          DISABLE_AUTOUPDATER: "1",
          DISABLE_TELEMETRY: "1",
          DISABLE_ERROR_REPORTING: "1",
          LOCKI_OFFLINE: "1",
        },
      });
      assert.equal(result.code, 0, `claude failed: ${result.stderr}\n${result.stdout}`);
      assert.match(result.stdout, /The test passes now and the fix is committed\./);
      assert.equal(server.turnsServed, 8, "the agent went through every scripted turn");

      // What the agent saw: the failing test, then the passing one, and the bridge's refusals.
      const results = server.toolResults();
      assert.equal(results.length, 7);
      assert.match(results[1].text, /test failed: got -1/);
      assert.match(results[3].text, /test passed/);
      assert.match(
        results[5].text,
        /locki bridge: denied by rule 'not-allowed': 'git reset' is not allowed/,
      );
      assert.match(results[6].text, /locki bridge: denied by rule 'ownership'/);

      // The host: one new commit on fix-42, by the user, with the fix; nothing else moved.
      assert.equal(await git(fx.repo, "rev-list", "--count", "main..fix-42"), "1");
      assert.equal(await git(fx.repo, "log", "-1", "--format=%s", "fix-42"), "Fix add.sh to add");
      assert.equal(
        await git(fx.repo, "log", "-1", "--format=%an <%ae>", "fix-42"),
        "Dev <dev@example.com>",
      );
      assert.equal(await git(fx.repo, "show", "fix-42:add.sh"), "#!/bin/sh\necho $(( $1 + $2 ))");
      assert.equal(await git(fx.repo, "rev-parse", "main"), mainBefore);
      const refsAfter = (await git(fx.repo, "for-each-ref", "--format=%(refname) %(objectname)"))
        .split("\n").filter((line) => !line.startsWith("refs/heads/fix-42 ")).join("\n");
      assert.equal(refsAfter, refsBefore, "no other ref changed");
      assert.equal(
        await git(origin, "rev-parse", "main"),
        mainBefore,
        "origin's main is unchanged",
      );
      assert.equal(
        await Deno.readTextFile(join(worktree, "add.sh")),
        "#!/bin/sh\necho $(( $1 + $2 ))\n",
      );

      const log = await Deno.readTextFile(join(fx.lockiHome, "state", "logs", "daemon.log"));
      assert.match(log, /denied sandbox app-fix-42-\w+: .*'reset' '--hard' 'HEAD~1'/);
      assert.match(log, /denied sandbox app-fix-42-\w+: .*'push' '--force' 'origin' 'main'/);
      // Claude Code's own background git calls pass the bridge, except the two reads Locki refuses
      // on purpose because they can reveal secrets: the whole config and the remote's URL.
      const others = log.split("\n").filter((line) =>
        line.includes(" denied sandbox ") &&
        !/'reset' '--hard' 'HEAD~1'|'push' '--force' 'origin' 'main'/.test(line)
      );
      for (const line of others) {
        assert.match(
          line,
          /'config' '--local' '--includes' '-z' '--list'|'remote' 'get-url' 'origin'/,
          line,
        );
      }

      const removed = await fx.locki(["rm", "fix-42"]);
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal((await containersUnder(fx.lockiHome)).length, 0);
    } finally {
      await server?.close();
      await fx.dispose();
    }
  },
});

Deno.test({
  name: "opencode fixes a bug and commits through bridge",
  ignore: !agentCacheReady,
  fn: async () => {
    const fx = await Fixture.create();
    let server: ModelServer | undefined;
    try {
      // The repository's own OpenCode settings name a provider that speaks the
      // Messages API at the scripted server.
      await commitBuggyCalculator(fx, {
        "opencode.json": JSON.stringify(
          {
            $schema: "https://opencode.ai/config.json",
            autoupdate: false,
            share: "disabled",
            provider: {
              scripted: {
                npm: "@ai-sdk/anthropic",
                name: "Scripted",
                options: {
                  baseURL: `http://127.0.0.1:${MODEL_PORT_IN_SANDBOX}/v1`,
                  apiKey: "sk-test",
                },
                models: { "scripted-model": { name: "Scripted model", tool_call: true } },
              },
            },
          },
          null,
          2,
        ),
      });
      const mainBefore = await git(fx.repo, "rev-parse", "main");

      const worktree = (await fx.lockiOk(["shell", "fix-7", "--", "pwd"])).stdout.trim();
      const [container] = await containersUnder(fx.lockiHome);
      await loadAgentCache(container.name);
      const bash = (command: string) => ({
        blocks: [{
          type: "tool_use" as const,
          name: "bash",
          input: { command, description: "run" },
        }],
      });
      server = new ModelServer([
        {
          blocks: [{
            type: "tool_use",
            name: "read",
            input: { filePath: join(worktree, "add.sh") },
          }],
        },
        bash("./test.sh"),
        {
          blocks: [{
            type: "tool_use",
            name: "edit",
            input: {
              filePath: join(worktree, "add.sh"),
              oldString: "$1 - $2",
              newString: "$1 + $2",
            },
          }],
        },
        bash("./test.sh"),
        bash("git add add.sh && git commit -m 'Fix add.sh to add'"),
        bash("git reset --hard HEAD~1"),
        { blocks: [{ type: "text", text: "Fixed and committed." }] },
      ]);
      await server.attachTo(container.name, MODEL_PORT_IN_SANDBOX);

      const result = await fx.locki(
        ["opencode", "fix-7", "--", "run", "-m", "scripted/scripted-model", "fix the failing test"],
        {
          env: {
            OPENCODE_DISABLE_AUTOUPDATE: "1",
            OPENCODE_DISABLE_MODELS_FETCH: "1",
            LOCKI_OFFLINE: "1",
          },
        },
      );
      assert.equal(result.code, 0, `opencode failed: ${result.stderr}\n${result.stdout}`);
      assert.equal(server.turnsServed, 7, `every scripted turn was used: ${result.stdout}`);

      const results = server.toolResults();
      assert.match(results[1].text, /test failed: got -1/);
      assert.match(results[3].text, /test passed/);
      assert.match(
        results[5].text,
        /locki bridge: denied by rule 'not-allowed': 'git reset' is not allowed/,
      );

      assert.equal(await git(fx.repo, "rev-list", "--count", "main..fix-7"), "1");
      assert.equal(
        await git(fx.repo, "log", "-1", "--format=%s%n%an <%ae>", "fix-7"),
        "Fix add.sh to add\nDev <dev@example.com>",
      );
      assert.equal(await git(fx.repo, "show", "fix-7:add.sh"), "#!/bin/sh\necho $(( $1 + $2 ))");
      assert.equal(await git(fx.repo, "rev-parse", "main"), mainBefore);
    } finally {
      await server?.close();
      await fx.dispose();
    }
  },
});
