import assert from "node:assert/strict";
import { containersUnder, Fixture, run } from "./helpers.ts";

/** npm cache filled by tests/prefetch-agents.sh (tests/run.sh runs it). */
const NPM_CACHE = Deno.env.get("LOCKI_TEST_NPM_CACHE") ?? "/var/cache/locki-test-npm";

const prefetched = await Deno.stat(`${NPM_CACHE}/.locki-prefetched`).then(() => true, () => false);

Deno.test({
  name: "built-in agents install and start",
  ignore: !prefetched,
  fn: async () => {
    const fx = await Fixture.create();
    try {
      await fx.lockiOk(["shell", "agents", "--", "true"]);
      const [container] = await containersUnder(fx.lockiHome);
      // The sandboxes' shared npm cache gets the prefetched packages, as if an
      // earlier sandbox had downloaded them; test containers have no network.
      const copy = await run([
        "sh",
        "-c",
        `tar -C ${NPM_CACHE} -cf - . | incus exec ${container.name} -- sh -c 'mkdir -p /var/cache/locki/npm && tar -xf - -C /var/cache/locki/npm'`,
      ]);
      assert.equal(copy.code, 0, copy.stderr);
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
