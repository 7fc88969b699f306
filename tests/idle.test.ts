import assert from "node:assert/strict";
import { join } from "node:path";
import { containersUnder, Fixture, PROJECT_ROOT, useStandinLimactl } from "./helpers.ts";

async function waitFor(what: string, check: () => Promise<boolean>, seconds = 40) {
  for (let attempt = 0; attempt < seconds * 2; attempt++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
}

async function stateOf(fx: Fixture, branch: string): Promise<string | undefined> {
  return (await containersUnder(fx.lockiHome)).find((item) =>
    item.config["user.locki.branch"] === branch
  )?.status;
}

Deno.test("the daemon stops idle containers but not one in use", async () => {
  const fx = await Fixture.create();
  try {
    await Deno.mkdir(fx.lockiHome, { recursive: true });
    // 0.1 minutes: 6 seconds.
    await Deno.writeTextFile(
      join(fx.lockiHome, "config.toml"),
      "[idle]\ncontainer_minutes = 0.1\n",
    );
    await fx.lockiOk(["shell", "quiet", "--", "true"]);
    const busy = new Deno.Command("deno", {
      args: [
        "run",
        "-A",
        "--quiet",
        join(PROJECT_ROOT, "main.ts"),
        "shell",
        "busy",
        "--",
        "sleep",
        "25",
      ],
      cwd: fx.repo,
      env: { LOCKI_HOME: fx.lockiHome, NO_COLOR: "1" },
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor("the busy sandbox to run", async () => (await stateOf(fx, "busy")) === "Running");
    await waitFor(
      "the quiet sandbox to be stopped",
      async () => (await stateOf(fx, "quiet")) === "Stopped",
    );
    assert.equal(await stateOf(fx, "busy"), "Running", "a sandbox with a running session is kept");
    const log = await Deno.readTextFile(join(fx.lockiHome, "state", "logs", "daemon.log"));
    assert.match(
      log,
      /stopped idle container locki-app-quiet-[0-9a-f]{6} \(sandbox app-quiet-[0-9a-f]{6}/,
    );
    assert.equal((await busy.status).code, 0);

    // The next use starts the stopped sandbox again.
    const again = await fx.lockiOk(["shell", "quiet", "--", "echo", "back"]);
    assert.equal(again.stdout.trim(), "back");
  } finally {
    await fx.dispose();
  }
});

Deno.test("the daemon stops the idle lima VM (stand-in limactl)", async () => {
  const fx = await Fixture.create();
  try {
    const { env, limaHome } = await useStandinLimactl(fx);
    await Deno.mkdir(fx.lockiHome, { recursive: true });
    await Deno.writeTextFile(
      join(fx.lockiHome, "config.toml"),
      'backend = "lima"\n[idle]\ncontainer_minutes = 0.05\nvm_minutes = 0.05\n',
    );
    // The daemon inherits this environment from the first command that starts it.
    await fx.lockiOk(["shell", "vm-idle", "--", "true"], { env });
    await waitFor("the stand-in VM to be stopped", async () => {
      const calls = await Deno.readTextFile(join(limaHome, "standin-calls.jsonl")).catch(() => "");
      return calls.includes('["stop","locki"]');
    });
    assert.equal(await stateOf(fx, "vm-idle"), "Stopped");
    const log = await Deno.readTextFile(join(fx.lockiHome, "state", "logs", "daemon.log"));
    assert.match(log, /stopped the idle VM/);
  } finally {
    await fx.dispose();
  }
});
