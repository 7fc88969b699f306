import assert from "node:assert/strict";
import { agentCacheReady, containersUnder, Fixture, loadAgentCache, run } from "./helpers.ts";

Deno.test({
  name: "built-in agents install and start",
  ignore: !agentCacheReady,
  fn: async () => {
    const fx = await Fixture.create();
    try {
      await fx.lockiOk(["shell", "agents", "--", "true"]);
      const [container] = await containersUnder(fx.lockiHome);
      await loadAgentCache(container.name);
      // Start from no installed agents, so the install step really runs.
      const reset = await run([
        "incus",
        "exec",
        container.name,
        "--",
        "rm",
        "-rf",
        "/var/cache/locki/agents",
      ]);
      assert.equal(reset.code, 0, reset.stderr);

      const expected: Array<[string, RegExp]> = [
        ["claude", /^2\.1\.332 \(Claude Code\)/],
        ["gemini", /^0\.61\.0/],
        ["codex", /codex-cli 0\.171\.0/],
        ["opencode", /^1\.18\.33/],
      ];
      for (const [agent, version] of expected) {
        const result = await fx.locki([agent, "agents", "--", "--version"], {
          env: { LOCKI_OFFLINE: "1" },
        });
        assert.equal(result.code, 0, `${agent}: ${result.stderr}`);
        assert.match(result.stdout.trim(), version, `${agent} --version`);
        assert.match(result.stderr, new RegExp(`installing ${agent} in the sandbox`));
      }
      // A second sandbox finds the agents installed in the shared volume.
      const second = await fx.lockiOk(["claude", "agents-2", "--", "--version"], {
        env: { LOCKI_OFFLINE: "1" },
      });
      assert.doesNotMatch(second.stderr, /installing/);
      assert.match(second.stdout, /Claude Code/);
    } finally {
      await fx.dispose();
    }
  },
});
