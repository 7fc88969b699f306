import assert from "node:assert/strict";
import { parse } from "yaml";
import { runProcess } from "../process.ts";
import {
  BASE_TEMPLATE,
  buildLimaConfig,
  defaultSizing,
  GUEST_INCUS_SOCKET,
  type LimaConfig,
  MINIMUM_LIMA_VERSION,
  renderLimaConfig,
} from "./config.ts";
import { compareVersions, findLimactl, type HostProbe, qemuProblems } from "./limactl.ts";

const input = {
  worktrees: "/home/dev/.locki/worktrees",
  home: "/home/dev/.locki/home",
  sizing: { cpus: 4, memoryGiB: 8, diskGiB: 100 },
  imageScript: "#!/bin/sh\necho image\n",
  mirrorScript: "#!/bin/sh\necho mirror\n",
  imageAlias: "locki-debian-12",
};

function rendered(): LimaConfig {
  return parse(renderLimaConfig(buildLimaConfig(input))) as LimaConfig;
}

Deno.test("lima config mounts exactly the two Locki folders", () => {
  const config = rendered();
  assert.deepEqual(config.mounts, [
    { location: input.worktrees, mountPoint: input.worktrees, writable: true },
    { location: input.home, mountPoint: input.home, writable: true },
  ]);
  // An image-only base: the OS templates add a mount of the whole home folder.
  assert.deepEqual(config.base, [BASE_TEMPLATE]);
  assert.match(BASE_TEMPLATE, /^template:_images\//);
});

Deno.test("lima config forwards the Incus socket and no port", () => {
  const config = rendered();
  assert.deepEqual(config.portForwards[0], {
    guestSocket: GUEST_INCUS_SOCKET,
    hostSocket: "{{.Dir}}/sock/incus.sock",
  });
  const ignored = config.portForwards.filter((rule) => "ignore" in rule);
  assert.deepEqual(ignored.map((rule) => "guestIP" in rule && rule.guestIP).sort(), [
    "0.0.0.0",
    "127.0.0.1",
  ]);
  for (const rule of ignored) assert.equal("proto" in rule && rule.proto, "any");
  assert.deepEqual(config.containerd, { system: false, user: false });
  assert.equal(config.ssh.forwardAgent, false);
  assert.equal(config.minimumLimaVersion, MINIMUM_LIMA_VERSION);
  assert.equal(config.cpus, 4);
  assert.equal(config.memory, "8GiB");
  assert.equal(config.disk, "100GiB");
});

Deno.test("lima provisioning scripts pass bash -n and shellcheck", async () => {
  const config = rendered();
  const scripts = [
    ...config.provision.filter((step) => step.mode === "system").map((step) => step.script!),
    ...config.probes.map((probe) => probe.script),
  ];
  assert.equal(config.probes.length, 1);
  assert.equal(config.probes[0].mode, "readiness");
  assert.match(config.probes[0].script, /incus image info locki-debian-12/);
  assert.equal(scripts.length, 2);
  for (const script of scripts) {
    assert.match(script, /^#!\/bin\/bash\n/);
    // Lima fills in {{.User}} and {{.UID}} before the script runs.
    const filled = script.replaceAll("{{.User}}", "dev").replaceAll("{{.UID}}", "501");
    const syntax = await runProcess(["bash", "-n"], { stdin: filled });
    assert.equal(syntax.code, 0, syntax.stderr);
    const lint = await runProcess(["shellcheck", "-s", "bash", "-"], { stdin: filled });
    assert.equal(lint.code, 0, lint.stdout);
  }
  const files = config.provision.filter((step) => step.mode === "data").map((step) => step.path);
  assert.deepEqual(files, [
    "/usr/local/lib/locki/build-base-image.sh",
    "/usr/local/lib/locki/debian-mirror.sh",
  ]);
});

Deno.test("lima sizing follows the host within limits", () => {
  assert.deepEqual(defaultSizing(16, 64 * 1024 ** 3), { cpus: 8, memoryGiB: 16, diskGiB: 100 });
  assert.deepEqual(defaultSizing(2, 8 * 1024 ** 3), { cpus: 2, memoryGiB: 4, diskGiB: 100 });
  assert.deepEqual(defaultSizing(8, 32 * 1024 ** 3), { cpus: 4, memoryGiB: 8, diskGiB: 100 });
});

async function fakeLimactl(folder: string, version: string): Promise<string> {
  await Deno.mkdir(folder, { recursive: true });
  const path = `${folder}/limactl`;
  await Deno.writeTextFile(path, `#!/bin/sh\necho "limactl version ${version}"\n`, { mode: 0o755 });
  return path;
}

Deno.test("limactl is found beside locki first, then on PATH, and its version checked", async () => {
  const root = await Deno.makeTempDir({ prefix: "locki-limactl-" });
  try {
    const onPath = await fakeLimactl(`${root}/path`, "2.2.0");
    const probe = (selfFolder: string, path: string): HostProbe => ({
      env: { get: (key) => key === "PATH" ? path : undefined },
      selfFolder,
      os: "linux",
      arch: "x86_64",
    });
    assert.equal((await findLimactl(probe(`${root}/none`, `${root}/path`))).path, onPath);
    const beside = await fakeLimactl(`${root}/self`, "2.1.2");
    const found = await findLimactl(probe(`${root}/self`, `${root}/path`));
    assert.deepEqual(found, { path: beside, version: "2.1.2" });

    await fakeLimactl(`${root}/old`, "1.2.1");
    await assert.rejects(
      findLimactl(probe(`${root}/old`, "")),
      /Lima 1\.2\.1 .* is too old; Locki needs 2\.1\.2/,
    );
    await assert.rejects(findLimactl(probe(`${root}/none`, "")), /limactl was not found/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("qemu problems name the package to install", () => {
  const probe: HostProbe = {
    env: { get: () => "/nowhere" },
    selfFolder: "/nowhere",
    os: "linux",
    arch: "x86_64",
  };
  const problems = qemuProblems(probe, () => false).join("\n");
  assert.match(problems, /qemu-system-x86_64 is missing: sudo apt-get install qemu-system-x86/);
  assert.match(problems, /qemu-img is missing: sudo apt-get install qemu-utils/);
  assert.deepEqual(qemuProblems({ ...probe, os: "darwin" }), []);
  assert.equal(compareVersions("2.10.0", "2.9.9") > 0, true);
  assert.equal(compareVersions("2.1.2", "2.1.2"), 0);
});
