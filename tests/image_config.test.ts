import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { containersUnder, Fixture, git, repositoryState, run } from "./helpers.ts";

async function commitConfig(fx: Fixture, text: string) {
  await Deno.writeTextFile(join(fx.repo, "locki.toml"), text);
  await git(fx.repo, "add", "locki.toml");
  await git(fx.repo, "commit", "-q", "-m", "configure image");
}

async function imageOf(fx: Fixture, branch: string): Promise<string> {
  const container = (await containersUnder(fx.lockiHome)).find((item) =>
    item.config?.["user.locki.branch"] === branch
  );
  assert.ok(container, `a container exists for ${branch}`);
  return container.config["volatile.base_image"];
}

async function fingerprint(alias: string): Promise<string> {
  const result = await run(["incus", "image", "info", alias]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.match(/Fingerprint: ([0-9a-f]{64})/)![1];
}

Deno.test("locki.toml picks an alias or a per-architecture alias", async () => {
  const fx = await Fixture.create();
  try {
    const base = await fingerprint("locki-debian-12");
    await commitConfig(fx, 'incus_image = "locki-debian-12"\n');
    await fx.lockiOk(["shell", "alias", "--", "true"]);
    assert.equal(await imageOf(fx, "alias"), base);

    await commitConfig(
      fx,
      '[incus_image]\nx86_64 = "locki-debian-12"\naarch64 = "locki-debian-12"\n',
    );
    await fx.lockiOk(["shell", "per-arch", "--", "true"]);
    assert.equal(await imageOf(fx, "per-arch"), base);
    const row = (await fx.sandboxes()).find((item) => item.branch === "per-arch");
    assert.equal(row?.image, "locki-debian-12");
  } finally {
    await fx.dispose();
  }
});

Deno.test("locki.toml imports a local image tarball once", async () => {
  const fx = await Fixture.create();
  let importedAlias = "";
  try {
    const images = join(fx.repo, "images");
    await Deno.mkdir(images);
    const exported = await run([
      "incus",
      "image",
      "export",
      "locki-debian-12",
      join(fx.root, "exported"),
    ]);
    assert.equal(exported.code, 0, exported.stderr);
    const tarball = (await Array.fromAsync(Deno.readDir(fx.root))).find((entry) =>
      entry.name.startsWith("exported")
    );
    assert.ok(tarball, "incus image export wrote a tarball");
    await Deno.rename(join(fx.root, tarball.name), join(images, "base-x86_64.tar.gz"));
    // An empty gzip member at the end leaves the content the same but changes
    // the file's SHA-256, so Incus takes it for a new image and Locki must import it.
    await Deno.writeFile(join(images, "base-x86_64.tar.gz"), gzipSync(new Uint8Array()), {
      append: true,
    });
    // The aarch64 file is never read on this machine; only its name has to differ.
    await Deno.writeTextFile(join(images, "base-aarch64.tar.gz"), "not an image\n");
    await Deno.writeTextFile(join(fx.repo, ".gitignore"), "images/\n");
    await commitConfig(fx, 'incus_image = "images/base-*.tar.gz"\n');

    const first = await fx.lockiOk(["shell", "from-file", "--", "cat", "/etc/os-release"]);
    assert.match(first.stdout, /bookworm/);
    assert.match(first.stderr, /importing image .*base-x86_64\.tar\.gz/);
    const aliases = JSON.parse(
      (await run(["incus", "image", "alias", "list", "--format", "json"])).stdout,
    );
    const imported = aliases.find((alias: { name: string }) =>
      alias.name.startsWith("locki-file-")
    );
    assert.ok(imported, "the tarball is imported under a locki-file- alias");
    importedAlias = imported.name;
    assert.equal(await imageOf(fx, "from-file"), imported.target);

    const second = await fx.lockiOk(["shell", "from-file-2", "--", "true"]);
    assert.doesNotMatch(
      second.stderr,
      /importing image|naming image/,
      "the second sandbox reuses the image",
    );
    assert.equal(await imageOf(fx, "from-file-2"), imported.target);
  } finally {
    await fx.dispose();
    // Delete the imported image, but never the base image it might share a fingerprint with.
    if (
      importedAlias && await fingerprint(importedAlias) !== await fingerprint("locki-debian-12")
    ) {
      await run(["incus", "image", "delete", importedAlias]);
    }
  }
});

Deno.test("invalid locki.toml is refused before anything is made", async () => {
  const fx = await Fixture.create();
  try {
    const cases: Array<[string, RegExp]> = [
      [
        "incus_image = [1, 2]\n",
        /invalid incus_image in .*locki\.toml: expected a non-empty string/,
      ],
      ["incus_image = \n", /invalid TOML in .*locki\.toml at line 1, column/],
      ['incus_image = "images/*.tar.gz"\n', /no file matches 'images\/\*\.tar\.gz'/],
      ['incus_image = "../elsewhere.tar.gz"\n', /must stay inside the repository/],
      ['imgae = "typo"\n', /unknown key in .*locki\.toml: imgae/],
    ];
    for (const [text, message] of cases) {
      await commitConfig(fx, text);
      const before = await repositoryState(fx.repo);
      const result = await fx.locki(["shell", "configured", "--", "true"]);
      assert.equal(result.code, 1, text);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /hint: /);
      assert.equal(
        await repositoryState(fx.repo),
        before,
        `nothing changed for ${JSON.stringify(text)}`,
      );
      assert.equal((await containersUnder(fx.lockiHome)).length, 0);
    }

    await Deno.mkdir(join(fx.repo, "images"));
    await Deno.writeTextFile(join(fx.repo, "images", "one.tar.gz"), "x");
    await Deno.writeTextFile(join(fx.repo, "images", "two.tar.gz"), "x");
    await commitConfig(fx, 'incus_image = "images/*.tar.gz"\n');
    const ambiguous = await fx.locki(["shell", "configured", "--", "true"]);
    assert.equal(ambiguous.code, 1);
    assert.match(
      ambiguous.stderr,
      /matches 2 files \(one\.tar\.gz, two\.tar\.gz\) and none names x86_64/,
    );
  } finally {
    await fx.dispose();
  }
});
