import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { containersUnder, Fixture, git, incusExec, run, type RunResult } from "./helpers.ts";

/**
 * Sandboxes as dev boxes: Docker, systemd services and shared caches, with
 * nothing from the network. Docker images are made inside the test from the
 * host's static busybox (tests/run.sh installs busybox-static).
 */
const BUSYBOX = "/bin/busybox";

function sh(container: string, script: string, cwd?: string): Promise<RunResult> {
  const args = ["incus", "exec", container];
  if (cwd) args.push("--cwd", cwd);
  return run([...args, "--", "sh", "-c", script]);
}

function assertOk(result: RunResult, what: string) {
  assert.equal(result.code, 0, `${what} failed:\n${result.stdout}\n${result.stderr}`);
}

async function waitFor(what: string, check: () => Promise<boolean>, seconds = 60) {
  for (let attempt = 0; attempt < seconds * 4; attempt++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
}

/** Starts a sandbox for `branch` and returns its container. */
async function sandbox(fx: Fixture, branch: string): Promise<string> {
  await fx.lockiOk(["shell", branch, "--", "true"]);
  const container = (await containersUnder(fx.lockiHome)).find((item) =>
    item.config["user.locki.branch"] === branch
  );
  assert.ok(container, `no container for ${branch}`);
  return container.name;
}

/** Imports a one-binary Docker image `tiny` (busybox and a web root) into the sandbox's Docker. */
async function importTinyImage(container: string): Promise<void> {
  const pushed = await run(["incus", "file", "push", BUSYBOX, `${container}/tmp/busybox`]);
  assertOk(pushed, "pushing busybox");
  await waitFor(
    "Docker to start",
    async () =>
      (await incusExec(container, "docker", "info", "--format", "{{.ServerVersion}}")).code === 0,
  );
  assertOk(
    await sh(
      container,
      `set -e
rm -rf /tmp/tiny && mkdir -p /tmp/tiny/bin /tmp/tiny/www
cp /tmp/busybox /tmp/tiny/bin/busybox && chmod 755 /tmp/tiny/bin/busybox
ln -s busybox /tmp/tiny/bin/sh
echo "hello from $(hostname)" > /tmp/tiny/www/index.html
tar -C /tmp/tiny -c . | docker import - tiny:latest >/dev/null`,
    ),
    "docker import",
  );
}

Deno.test("docker, published ports and systemd units work in a sandbox", async () => {
  const fx = await Fixture.create();
  try {
    const container = await sandbox(fx, "devbox");
    await importTinyImage(container);

    const once = await incusExec(
      container,
      "docker",
      "run",
      "--rm",
      "tiny",
      "/bin/busybox",
      "echo",
      "ran in docker",
    );
    assertOk(once, "docker run --rm");
    assert.equal(once.stdout.trim(), "ran in docker");

    assertOk(
      await incusExec(
        container,
        "docker",
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "8080:80",
        "tiny",
        "/bin/busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
      ),
      "docker run -d -p 8080:80",
    );
    let page = "";
    await waitFor("the published port to answer", async () => {
      const result = await incusExec(container, "curl", "-fsS", "http://127.0.0.1:8080/");
      page = result.stdout;
      return result.code === 0;
    });
    assert.equal(page.trim(), `hello from ${container}`);

    assertOk(
      await sh(
        container,
        `printf '[Service]\\nExecStart=/bin/sleep infinity\\n' > /etc/systemd/system/locki-probe.service
systemctl daemon-reload && systemctl start locki-probe`,
      ),
      "systemctl start",
    );
    assert.equal(
      (await incusExec(container, "systemctl", "is-active", "locki-probe")).stdout.trim(),
      "active",
    );
    assertOk(await incusExec(container, "systemctl", "stop", "locki-probe"), "systemctl stop");
    assert.equal(
      (await incusExec(container, "systemctl", "is-active", "locki-probe")).stdout.trim(),
      "inactive",
    );
    assert.equal(
      (await incusExec(container, "systemctl", "is-enabled", "docker")).stdout.trim(),
      "enabled",
    );
  } finally {
    await fx.dispose();
  }
});

Deno.test("two sandboxes use the same image tag, container name and port apart", async () => {
  const fx = await Fixture.create();
  try {
    const boxes = [await sandbox(fx, "stack-a"), await sandbox(fx, "stack-b")];
    for (const container of boxes) {
      await importTinyImage(container);
      assertOk(
        await sh(
          container,
          `set -e
mkdir -p /tmp/app && cd /tmp/app
echo "db of $(hostname)" > index.html
printf 'FROM tiny\\nCOPY index.html /srv/index.html\\n' > Dockerfile
DOCKER_BUILDKIT=0 docker build -q -t app:local . >/dev/null
docker run -d --name db -p 5432:5432 app:local /bin/busybox httpd -f -p 5432 -h /srv >/dev/null`,
        ),
        `build and run in ${container}`,
      );
    }
    for (const container of boxes) {
      let body = "";
      await waitFor(`port 5432 in ${container}`, async () => {
        const result = await incusExec(container, "curl", "-fsS", "http://127.0.0.1:5432/");
        body = result.stdout;
        return result.code === 0;
      });
      assert.equal(body.trim(), `db of ${container}`, "each sandbox reaches its own db");
      const names = await incusExec(container, "docker", "ps", "--format", "{{.Names}}");
      assert.equal(names.stdout.trim(), "db", "each sandbox sees only its own containers");
      const images = await incusExec(
        container,
        "docker",
        "images",
        "app",
        "--format",
        "{{.Repository}}:{{.Tag}}",
      );
      assert.equal(images.stdout.trim(), "app:local");
    }
  } finally {
    await fx.dispose();
  }
});

/** Starts a one-package npm registry on host loopback that counts tarball downloads. */
async function startRegistry(root: string) {
  // A version no earlier run put in the shared cache, which outlives tests.
  const version = `1.0.${Date.now()}`;
  const source = join(root, "tiny-tool");
  await Deno.mkdir(join(source, "bin"), { recursive: true });
  await Deno.writeTextFile(
    join(source, "package.json"),
    JSON.stringify({
      name: "locki-tiny-tool",
      version,
      bin: { "tiny-tool": "bin/tiny-tool.js" },
    }),
  );
  await Deno.writeTextFile(
    join(source, "bin", "tiny-tool.js"),
    `#!/usr/bin/env node\nconsole.log('tiny tool ${version}');\n`,
  );

  const packed = await run(["npm", "pack", "--silent", "--pack-destination", root], {
    cwd: source,
  });
  assertOk(packed, "npm pack");
  const tarball = await Deno.readFile(join(root, packed.stdout.trim()));
  const integrity = "sha512-" + createHash("sha512").update(tarball).digest("base64");
  const shasum = createHash("sha1").update(tarball).digest("hex");

  let downloads = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request: Request): Response => {
      const url = new URL(request.url);
      // Tarball addresses use the address the client used, which is the
      // proxy port inside the sandbox.
      const base: string = `http://${request.headers.get("host")}`;
      if (url.pathname === "/locki-tiny-tool") {
        return Response.json({
          name: "locki-tiny-tool",
          "dist-tags": { latest: version },
          versions: {
            [version]: {
              name: "locki-tiny-tool",
              version,
              bin: { "tiny-tool": "bin/tiny-tool.js" },
              dist: {
                tarball: `${base}/locki-tiny-tool/-/locki-tiny-tool-${version}.tgz`,
                integrity,
                shasum,
              },
            },
          },
        });
      }
      if (url.pathname === `/locki-tiny-tool/-/locki-tiny-tool-${version}.tgz`) {
        downloads++;
        return new Response(tarball);
      }
      return new Response("not found", { status: 404 });
    },
  );

  return {
    port: server.addr.port,
    version,
    integrity,
    downloads: () => downloads,
    stop: () => server.shutdown(),
  };
}

Deno.test("a package one sandbox downloaded is installed offline in another", async () => {
  const fx = await Fixture.create();
  const registry = await startRegistry(fx.root);
  try {
    const first = await sandbox(fx, "cache-a");
    const second = await sandbox(fx, "cache-b");
    // Only the first sandbox can reach the registry, through a proxy on its loopback.
    const proxy = await run([
      "incus",
      "config",
      "device",
      "add",
      first,
      "registry",
      "proxy",
      "listen=tcp:127.0.0.1:4873",
      `connect=tcp:127.0.0.1:${registry.port}`,
      "bind=instance",
    ]);
    assertOk(proxy, "adding the registry proxy");
    const install = (container: string, extra: string) =>
      sh(
        container,
        `mkdir -p /tmp/p && cd /tmp/p && npm install --no-audit --no-fund --registry http://127.0.0.1:4873/ ${extra} locki-tiny-tool && ./node_modules/.bin/tiny-tool`,
      );
    const online = await install(first, "");
    assertOk(online, "npm install in the first sandbox");
    assert.equal(online.stdout.trim().split("\n").at(-1), `tiny tool ${registry.version}`);
    assert.equal(registry.downloads(), 1);

    // The shared cache now contains the tarball, under its integrity hash.
    const index = await sh(
      second,
      `grep -rl '${registry.integrity}' "$npm_config_cache/_cacache/index-v5"`,
    );
    assertOk(index, "finding the package in the shared npm cache from the second sandbox");

    const offline = await install(second, "--offline");
    assertOk(offline, "npm install --offline in the second sandbox");
    assert.equal(offline.stdout.trim().split("\n").at(-1), `tiny tool ${registry.version}`);
    assert.equal(registry.downloads(), 1, "the second sandbox did not download again");
  } finally {
    await registry.stop();
    await fx.dispose();
  }
});

Deno.test("mise shares installed tools, not the global selection, and runs for mise.toml", async () => {
  const fx = await Fixture.create();
  try {
    const first = await sandbox(fx, "mise-a");
    const second = await sandbox(fx, "mise-b");
    // A tool version installed by the first sandbox: mise links a folder of
    // that sandbox's (on the shared volume) as node 20.99.0.
    assertOk(
      await sh(
        first,
        `set -e
mkdir -p /var/cache/locki/test-tools/fake-node/bin
printf '#!/bin/sh\\necho fake node 20.99.0\\n' > /var/cache/locki/test-tools/fake-node/bin/node
chmod 755 /var/cache/locki/test-tools/fake-node/bin/node
mise link --force node@20.99.0 /var/cache/locki/test-tools/fake-node
mise use --global node@20.99.0`,
      ),
      "mise link and use in the first sandbox",
    );
    const listed = await sh(second, "mise ls --installed node");
    assertOk(listed, "mise ls in the second sandbox");
    assert.match(listed.stdout, /20\.99\.0/, "the second sandbox sees the installed version");
    const global = await sh(second, "mise ls --global 2>/dev/null || true");
    assert.doesNotMatch(global.stdout, /20\.99\.0/, "the global selection stays per sandbox");
    const selected = await sh(first, "mise exec -- node");
    assert.equal(selected.stdout.trim(), "fake node 20.99.0");

    // A repository with mise.toml: the tools are installed on first entry.
    await Deno.writeTextFile(join(fx.repo, "mise.toml"), '[tools]\nnode = "20.99.0"\n');
    await git(fx.repo, "add", "mise.toml");
    await git(fx.repo, "commit", "-q", "-m", "pin node");
    const entered = await fx.locki(["shell", "mise-c", "--", "node"]);
    assert.equal(entered.code, 0, entered.stderr);
    assert.match(entered.stderr, /installing the tools of mise\.toml \(mise install\)/);
    assert.equal(
      entered.stdout.trim(),
      "fake node 20.99.0",
      "stdout holds only the command's output",
    );
    const again = await fx.locki(["shell", "mise-c", "--", "true"]);
    assert.doesNotMatch(
      again.stderr,
      /mise install/,
      "an unchanged mise.toml is not installed again",
    );

    // A tool that cannot be installed: reported, and the command still runs.
    await Deno.writeTextFile(
      join(fx.repo, "mise.toml"),
      '[tools]\nnode = "20.99.0"\n"locki-no-such-tool" = "1"\n',
    );
    await git(fx.repo, "commit", "-q", "-am", "ask for a missing tool");
    const failing = await fx.locki([
      "shell",
      "mise-d",
      "--",
      "sh",
      "-c",
      "echo still here; exit 3",
    ]);
    assert.equal(failing.code, 3);
    assert.equal(failing.stdout.trim(), "still here");
    assert.match(failing.stderr, /mise install failed with exit code \d+/);
    const later = await fx.locki(["shell", "mise-d", "--", "true"]);
    assert.equal(later.code, 0, later.stderr);
    assert.match(later.stderr, /mise install failed earlier for this mise\.toml/);
    assert.doesNotMatch(later.stderr, /exit code/, "a known failure is not retried on every entry");
  } finally {
    // The cache volume outlives the test, so the fake tool leaves with it.
    const [any] = await containersUnder(fx.lockiHome);
    if (any) {
      await sh(
        any.name,
        "rm -rf /var/cache/locki/test-tools /var/cache/locki/mise/installs/node/20.99.0; mise reshim",
      );
    }
    await fx.dispose();
  }
});
