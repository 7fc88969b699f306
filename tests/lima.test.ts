import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { containersUnder, Fixture, repositoryState, useStandinLimactl } from "./helpers.ts";

/**
 * Tests of the lima backend, driven by a STAND-IN `limactl` (tests/standins/limactl.ts):
 * Lima cannot run here. The stand-in records its calls and plays a VM whose
 * Incus server is the local one, so these tests check the command sequence
 * and everything around the VM, never a real VM.
 */
async function limaFixture() {
  const fx = await Fixture.create();
  const { env, limaHome } = await useStandinLimactl(fx);
  const calls = async (): Promise<string[][]> => {
    const text = await Deno.readTextFile(join(limaHome, "standin-calls.jsonl")).catch(() => "");
    return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
  };
  const lifecycle = async () =>
    (await calls()).filter((call) => ["start", "stop", "delete"].includes(call[0]));
  return { fx, env, limaHome, calls, lifecycle };
}

Deno.test("lima backend creates, reuses, stops and deletes the VM", async () => {
  const { fx, env, limaHome, calls, lifecycle } = await limaFixture();
  try {
    const first = await fx.locki([
      "shell",
      "vm-one",
      "--",
      "sh",
      "-c",
      "pwd && git status --short && echo bridged",
    ], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /bridged/);
    assert.match(first.stderr, /creating the Lima VM 'locki'/);
    const configFile = join(limaHome, "_locki", "locki.yaml");
    assert.deepEqual(await lifecycle(), [["start", "--name=locki", "--tty=false", configFile]]);
    const config = parse(await Deno.readTextFile(configFile));
    assert.deepEqual(
      config.mounts.map((mount: { location: string }) => mount.location),
      [join(fx.lockiHome, "worktrees"), join(fx.lockiHome, "home")],
    );

    // The bridge's proxy connects to the host's address as resolved in the VM (127.0.0.1 for the stand-in).
    assert.ok(
      (await calls()).some((call) =>
        call.join(" ") === "shell locki getent ahostsv4 host.lima.internal"
      ),
    );
    const [container] = await containersUnder(fx.lockiHome);
    assert.match(container.devices["locki-bridge"].connect, /^tcp:127\.0\.0\.1:\d+$/);

    const status = await fx.locki(["vm", "status", "--json"], { env });
    assert.equal(status.code, 0, status.stdout + status.stderr);
    const parsed = JSON.parse(status.stdout);
    assert.equal(parsed.backend, "lima");
    assert.equal(parsed.details.vm, "Running");
    assert.match(parsed.isolation, /one Lima VM hosts every sandbox/);

    const second = await fx.locki(["shell", "vm-one", "--", "true"], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.equal((await lifecycle()).length, 1, "a running VM is reused");

    const stopped = await fx.locki(["vm", "stop"], { env });
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual((await lifecycle()).at(-1), ["stop", "locki"]);
    const restarted = await fx.locki(["shell", "vm-one", "--", "true"], { env });
    assert.equal(restarted.code, 0, restarted.stderr);
    assert.deepEqual((await lifecycle()).at(-1), ["start", "--tty=false", "locki"]);

    await Deno.writeTextFile(join(fx.lockiHome, "home", "login-token"), "kept\n");
    const before = await repositoryState(fx.repo);
    const deleted = await fx.locki(["vm", "delete", "--yes"], { env });
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual((await lifecycle()).at(-1), ["delete", "--force", "locki"]);
    assert.deepEqual(await containersUnder(fx.lockiHome), []);
    assert.equal(await Deno.readTextFile(join(fx.lockiHome, "home", "login-token")), "kept\n");
    assert.equal(await repositoryState(fx.repo), before, "worktrees and branches are kept");

    const recreated = await fx.locki(["shell", "vm-one", "--", "true"], { env });
    assert.equal(recreated.code, 0, recreated.stderr);
    assert.deepEqual((await lifecycle()).at(-1), [
      "start",
      "--name=locki",
      "--tty=false",
      configFile,
    ]);
  } finally {
    await fx.dispose();
  }
});

Deno.test("lima backend explains a VM that does not start, and keeps everything", async () => {
  const { fx, env, limaHome } = await limaFixture();
  try {
    await Deno.mkdir(fx.lockiHome, { recursive: true });
    await Deno.writeTextFile(join(fx.lockiHome, "config.toml"), "[lima]\nstart_timeout = 10\n");
    const before = await repositoryState(fx.repo);
    const hung = await fx.locki(["shell", "never", "--", "true"], {
      env: { ...env, STANDIN_START_HANGS: "1" },
    });
    assert.equal(hung.code, 1);
    assert.match(hung.stderr, /the Lima VM did not come up within 10 seconds/);
    assert.match(hung.stderr, new RegExp(`${join(limaHome, "locki", "ha.stderr.log")}`));
    assert.match(hung.stderr, /locki vm delete/);
    assert.equal(await repositoryState(fx.repo), before);

    const old = await fx.locki(["shell", "never", "--", "true"], {
      env: { ...env, STANDIN_LIMA_VERSION: "1.0.7" },
    });
    assert.equal(old.code, 1);
    assert.match(old.stderr, /Lima 1\.0\.7 .* is too old; Locki needs 2\.1\.2 or later/);

    const long = await fx.locki(["vm", "status"], {
      env: { ...env, LOCKI_LIMA_HOME: join(fx.root, "x".repeat(90)) },
    });
    assert.equal(long.code, 1);
    assert.match(long.stdout, /longer than 103 characters/);
    assert.match(long.stdout, /LOCKI_LIMA_HOME/);

    await Deno.writeTextFile(join(fx.lockiHome, "config.toml"), "[lima]\ncpus = 0\n");
    const invalid = await fx.locki(["vm", "status"], { env });
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /lima\.cpus: expected a whole number from 1 to 256, got 0/);
  } finally {
    await fx.dispose();
  }
});
