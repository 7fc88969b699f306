import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { AGENT_NPM_CACHE, Fixture, git, PROJECT_ROOT, run } from "./helpers.ts";
import { parseSums, renderFormula } from "../release/formula.ts";

/** Tools that tests/run.sh installs for these checks. */
const ACTION_VALIDATOR = "/var/cache/locki-test-tools/node_modules/.bin/action-validator";
const INSTALL_SH = join(PROJECT_ROOT, "install.sh");
const TEST_USER = "locki-tester";

/** Deno's cache folder, so installs from source find every npm package without the network. */
async function denoDir(): Promise<string> {
  return JSON.parse((await run(["deno", "info", "--json"])).stdout).denoDir;
}

/**
 * Environment of a fresh user: a new HOME, and npm offline with the test
 * cache, so any attempt to reach the registry fails the test.
 */
async function freshEnv(root: string, path: string): Promise<Record<string, string>> {
  const home = join(root, "home");
  await Deno.mkdir(home, { recursive: true });
  return {
    HOME: home,
    PATH: path,
    DENO_DIR: await denoDir(),
    NO_COLOR: "1",
    npm_config_cache: AGENT_NPM_CACHE,
    npm_config_offline: "true",
  };
}

function installFromSource(root: string, prefix: string, env: Record<string, string>) {
  return run(["sh", INSTALL_SH, "--from-source", PROJECT_ROOT, "--prefix", prefix], {
    cwd: root,
    env,
    clearEnv: true,
  });
}

Deno.test("install.sh --from-source installs a working locki", async () => {
  const root = await Deno.makeTempDir({ prefix: "locki-install-" });
  try {
    const env = await freshEnv(root, Deno.env.get("PATH")!);
    // A quote in the path must survive into the launcher script.
    const prefix = join(root, "it's mine");
    const result = await installFromSource(root, prefix, env);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stderr.includes(`add ${prefix}/bin to your PATH`), result.stderr);
    const locki = join(prefix, "bin", "locki");
    const version = await run([locki, "--version"], { cwd: root, env, clearEnv: true });
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^locki \d+\.\d+\.\d+ \(deno \d+\.\d+\.\d+\)$/m);

    // The installed copy runs real commands, from any folder.
    const doctor = await run([locki, "doctor", "--json"], { cwd: "/", env, clearEnv: true });
    const checks = JSON.parse(doctor.stdout);
    assert.equal(checks.find((check: { check: string }) => check.check === "git").status, "ok");

    // A second install replaces the first and leaves no staging folder.
    const again = await run(["sh", INSTALL_SH, "--from-source", PROJECT_ROOT, "--prefix", prefix], {
      cwd: root,
      env,
      clearEnv: true,
    });
    assert.equal(again.code, 0, again.stderr);
    const leftovers = [...Deno.readDirSync(join(prefix, "lib"))].map((entry) => entry.name);
    assert.deepEqual(leftovers.sort(), ["locki"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("install.sh --from-source installs Deno from npm when missing", async () => {
  const root = await Deno.makeTempDir({ prefix: "locki-install-" });
  try {
    // A PATH with git, npm and the basic tools, but no deno.
    const tools = join(root, "tools");
    await Deno.mkdir(tools);
    for (
      const name of [
        "git",
        "npm",
        "node",
        "tar",
        "xargs",
        "mktemp",
        "cat",
        "chmod",
        "mkdir",
        "mv",
        "rm",
        "sh",
        "uname",
        "sed",
      ]
    ) {
      const found = await run(["sh", "-c", `command -v ${name}`]);
      assert.equal(found.code, 0, `${name} is needed for this test`);
      await Deno.symlink(found.stdout.trim(), join(tools, name));
    }
    const env = await freshEnv(root, tools);
    const deno = await run(["sh", "-c", "command -v deno"], { env, clearEnv: true });
    assert.notEqual(deno.code, 0, "deno must not be on this PATH");
    const prefix = join(root, "prefix");
    const result = await installFromSource(root, prefix, env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /installing Deno 2\.9\.6 from npm/);
    const launcher = await Deno.readTextFile(join(prefix, "bin", "locki"));
    assert.match(launcher, new RegExp(`${prefix}/lib/locki-deno/node_modules/.bin/deno`));
    const version = await run([join(prefix, "bin", "locki"), "--version"], { env, clearEnv: true });
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /\(deno 2\.9\.6\)/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** Serves fake release files on loopback; returns the address and a stop function. */
function serveRelease(files: Record<string, string>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const name = new URL(request.url).pathname.split("/").pop()!;
    return name in files ? new Response(files[name]) : new Response("not found", { status: 404 });
  });
  return { url: `http://127.0.0.1:${server.addr.port}/v9.9.9`, stop: () => server.shutdown() };
}

const FAKE_BINARY = "#!/bin/sh\necho 'locki 9.9.9 (deno 2.9.6)'\n";
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const hostAsset = `locki-linux-${Deno.build.arch}`;

Deno.test("install.sh downloads a release and checks its checksum", async () => {
  const root = await Deno.makeTempDir({ prefix: "locki-install-" });
  const release = serveRelease({
    [hostAsset]: FAKE_BINARY,
    "SHA256SUMS": `${sha256(FAKE_BINARY)}  ${hostAsset}\n${"0".repeat(64)}  locki-darwin-x86_64\n`,
  });
  try {
    const env = await freshEnv(root, Deno.env.get("PATH")!);
    const prefix = join(root, "prefix");
    const result = await run(["sh", INSTALL_SH, "--base-url", release.url, "--prefix", prefix], {
      env,
      clearEnv: true,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /installed .*\/bin\/locki \(locki 9\.9\.9/);
    assert.equal(await Deno.readTextFile(join(prefix, "bin", "locki")), FAKE_BINARY);
    assert.equal((await Deno.stat(join(prefix, "bin", "locki"))).mode! & 0o777, 0o755);
  } finally {
    await release.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("install.sh rejects a checksum mismatch and installs nothing", async () => {
  const root = await Deno.makeTempDir({ prefix: "locki-install-" });
  const wrong = "1".repeat(64);
  const release = serveRelease({
    [hostAsset]: FAKE_BINARY + "# tampered\n",
    "SHA256SUMS": `${wrong}  ${hostAsset}\n`,
  });
  try {
    const env = await freshEnv(root, Deno.env.get("PATH")!);
    const prefix = join(root, "prefix");
    const result = await run(["sh", INSTALL_SH, "--base-url", release.url, "--prefix", prefix], {
      env,
      clearEnv: true,
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`checksum mismatch for ${hostAsset}: expected ${wrong}`),
    );
    assert.match(result.stderr, /nothing was installed/);
    assert.deepEqual([...Deno.readDirSync(join(prefix, "bin"))], []);
  } finally {
    await release.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("install.sh rejects an unsupported platform", async () => {
  const root = await Deno.makeTempDir({ prefix: "locki-install-" });
  try {
    // A uname that reports another system, first on PATH.
    const fake = join(root, "fake-bin");
    await Deno.mkdir(fake);
    await Deno.writeTextFile(
      join(fake, "uname"),
      `#!/bin/sh\ncase "$1" in -s) echo SunOS ;; *) echo sparc64 ;; esac\n`,
      { mode: 0o755 },
    );
    const env = await freshEnv(root, `${fake}:${Deno.env.get("PATH")}`);
    const prefix = join(root, "prefix");
    const result = await run([
      "sh",
      INSTALL_SH,
      "--base-url",
      "http://127.0.0.1:9",
      "--prefix",
      prefix,
    ], {
      env,
      clearEnv: true,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /unsupported operating system 'SunOS'/);
    assert.match(result.stderr, /hint: Locki runs on Linux and macOS/);
    assert.equal(
      await Deno.stat(join(prefix, "bin", "locki")).then(() => true, () => false),
      false,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("install.sh rejects a prefix it cannot write", async () => {
  const root = await Deno.makeTempDir({ prefix: "locki-install-" });
  try {
    await Deno.chmod(root, 0o755);
    const prefix = join(root, "owned-by-root");
    await Deno.mkdir(join(prefix, "bin"), { recursive: true, mode: 0o755 });
    // Root may write anywhere, so the non-root test user runs the installer.
    const result = await run([
      "runuser",
      "-u",
      TEST_USER,
      "--",
      "sh",
      INSTALL_SH,
      "--base-url",
      "http://127.0.0.1:9",
      "--prefix",
      prefix,
    ], { cwd: "/tmp", env: { NO_COLOR: "1" } });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`cannot write to ${prefix}/bin`));
    assert.match(result.stderr, /--prefix/);
    assert.deepEqual([...Deno.readDirSync(join(prefix, "bin"))], []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("bash completion offers commands, agents and branches", async () => {
  const fx = await Fixture.create();
  try {
    await git(fx.repo, "branch", "feature-login");
    const bin = join(fx.root, "bin");
    await Deno.mkdir(bin);
    await Deno.writeTextFile(
      join(bin, "locki"),
      `#!/bin/sh\nexec deno run -A --quiet ${join(PROJECT_ROOT, "main.ts")} "$@"\n`,
      { mode: 0o755 },
    );
    const added = await fx.locki([
      "plugin",
      "add",
      join(PROJECT_ROOT, "tests", "fixtures", "hello-agent.ts"),
    ]);
    assert.equal(added.code, 0, added.stderr);
    const complete = async (...words: string[]) => {
      const script = `source <(locki completions bash)
COMP_WORDS=(locki ${words.map((word) => `'${word}'`).join(" ")})
COMP_CWORD=${words.length}
_locki
printf '%s\\n' "\${COMPREPLY[@]}"`;
      const result = await run(["bash", "-c", script], {
        cwd: fx.repo,
        env: { PATH: `${bin}:${Deno.env.get("PATH")}`, LOCKI_HOME: fx.lockiHome },
      });
      assert.equal(result.code, 0, result.stderr);
      return result.stdout.split("\n").filter(Boolean);
    };
    assert.deepEqual(await complete("sh"), ["shell"]);
    assert.deepEqual(await complete("he"), ["hello"], "agents added as plugins are offered");
    assert.deepEqual(await complete("shell", "feat"), ["feature-login"]);
    assert.deepEqual(await complete("hello", "ma"), ["main"]);
    assert.deepEqual(await complete("vm", ""), ["delete", "start", "status", "stop"]);
    assert.deepEqual(await complete("rm", "--f"), ["--force"]);
    assert.deepEqual(await complete("rm", ""), [], "rm offers only branches that have a sandbox");
    assert.deepEqual(await complete("vm", "delete", "--"), ["--help", "--yes"]);
    assert.deepEqual(await complete("plugin", "remove", ""), ["hello"]);
    assert.deepEqual(await complete("completions", ""), ["bash", "fish", "zsh"]);
    assert.deepEqual(await complete("shell", "main", "--", "ma"), []);
  } finally {
    await fx.dispose();
  }
});

Deno.test("doctor reports a missing backend with its fix", async () => {
  const fx = await Fixture.create();
  try {
    const present = await fx.locki(["doctor", "--json"]);
    assert.equal(present.code, 0, present.stdout + present.stderr);
    const checks = JSON.parse(present.stdout) as Array<{ check: string; status: string }>;
    assert.deepEqual(checks.filter((check) => check.status === "fail"), []);
    assert.ok(checks.some((check) => check.check === "backend (incus)" && check.status === "ok"));
    assert.ok(checks.some((check) => check.check.startsWith("image") && check.status === "ok"));

    const absent = await fx.locki(["doctor", "--json"], {
      env: { INCUS_SOCKET: join(fx.root, "no-such.socket") },
    });
    assert.equal(absent.code, 1);
    const failed =
      (JSON.parse(absent.stdout) as Array<{ check: string; status: string; detail: string }>)
        .filter((check) => check.status === "fail");
    assert.equal(failed.length, 1);
    assert.equal(failed[0].check, "backend (incus)");
    assert.match(failed[0].detail, /no-such\.socket/);
    assert.match(failed[0].detail, /INCUS_SOCKET/);

    const table = await fx.locki(["doctor"], {
      env: { INCUS_SOCKET: join(fx.root, "no-such.socket") },
    });
    assert.equal(table.code, 1);
    assert.match(table.stdout, /backend \(incus\)\s+fail/);
  } finally {
    await fx.dispose();
  }
});

Deno.test("release files are valid: workflow, build script, formula", async () => {
  const workflow = join(PROJECT_ROOT, ".github", "workflows", "release.yml");
  const validated = await run([ACTION_VALIDATOR, workflow]);
  assert.equal(validated.code, 0, validated.stdout + validated.stderr);
  const text = await Deno.readTextFile(workflow);
  assert.match(text, /sh release\/build\.sh --all/);
  assert.match(text, /release\/formula\.ts/);

  for (const script of ["install.sh", "release/build.sh"]) {
    const checked = await run(["shellcheck", "-s", "sh", join(PROJECT_ROOT, script)]);
    assert.equal(checked.code, 0, checked.stdout);
  }
  const config = JSON.parse(await Deno.readTextFile(join(PROJECT_ROOT, "deno.json")));
  assert.equal(config.tasks.compile, "sh release/build.sh");

  const sums = parseSums(
    ["linux-x86_64", "linux-aarch64", "darwin-x86_64", "darwin-aarch64"].map((name, index) =>
      `${String(index).repeat(64)}  locki-${name}`
    ).join("\n"),
  );
  const formula = renderFormula({ version: "1.2.3", url: "https://example.invalid/v1.2.3", sums });
  assert.match(formula, /version "1\.2\.3"/);
  assert.match(
    formula,
    /url "https:\/\/example\.invalid\/v1\.2\.3\/locki-darwin-aarch64"\n\s+sha256 "3{64}"/,
  );
  assert.match(
    formula,
    /url "https:\/\/example\.invalid\/v1\.2\.3\/locki-linux-x86_64"\n\s+sha256 "0{64}"/,
  );
  assert.match(formula, /depends_on "lima"/);
  assert.match(formula, /test do/);
  const file = await Deno.makeTempFile({ suffix: ".rb" });
  await Deno.writeTextFile(file, formula);
  const syntax = await run(["ruby", "-c", file]);
  await Deno.remove(file);
  assert.equal(syntax.code, 0, syntax.stderr);
  assert.throws(() => renderFormula({ version: "1.2.3", url: "x", sums: {} }), /no entry for/);
  assert.throws(() => renderFormula({ version: "v1", url: "x", sums }), /invalid version 'v1'/);

  const committed = await run(["ruby", "-c", join(PROJECT_ROOT, "Formula", "locki.rb")]);
  assert.equal(committed.code, 0, committed.stderr);
});
