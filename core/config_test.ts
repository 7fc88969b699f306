import assert from "node:assert/strict";
import { DEFAULT_IMAGE_ALIAS, parseRepositoryConfig } from "./config.ts";
import { LockiError } from "./errors.ts";

function parse(text: string) {
  return parseRepositoryConfig(text, "/repo/locki.toml", "x86_64");
}

function problem(text: string): LockiError {
  try {
    parse(text);
  } catch (error) {
    assert.ok(error instanceof LockiError);
    return error;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

Deno.test("parseRepositoryConfig() reads each image form", () => {
  assert.deepEqual(parse("").image, { kind: "alias", alias: DEFAULT_IMAGE_ALIAS });
  assert.deepEqual(parse('incus_image = "my-image"').image, { kind: "alias", alias: "my-image" });
  assert.deepEqual(parse('incus_image = "images:debian/12"').image, {
    kind: "remote",
    remote: "images",
    image: "debian/12",
  });
  assert.deepEqual(parse('incus_image = "build/*.tar.gz"').image, {
    kind: "file",
    pattern: "build/*.tar.gz",
  });
  assert.deepEqual(parse('incus_image = "./img.tar.xz"').image, {
    kind: "file",
    pattern: "img.tar.xz",
  });
  const table = parse('[incus_image]\nx86_64 = "amd-image"\naarch64 = "arm-image"\n');
  assert.deepEqual(table.image, { kind: "alias", alias: "amd-image" });
  assert.equal(table.imageText, "amd-image");
});

Deno.test("parseRepositoryConfig() names key and allowed forms", () => {
  const syntax = problem('incus_image = "unclosed\n');
  assert.match(syntax.message, /invalid TOML in \/repo\/locki\.toml at line 1, column \d+/);

  const unknown = problem('image = "x"\n');
  assert.match(unknown.message, /unknown key in \/repo\/locki\.toml: image/);
  assert.match(unknown.hint!, /incus_image/);

  const number = problem("incus_image = 12\n");
  assert.match(
    number.message,
    /invalid incus_image in \/repo\/locki\.toml: expected a non-empty string, got 12/,
  );
  assert.match(number.hint!, /remote:image/);
  assert.match(number.hint!, /x86_64 = /);

  const arch = problem('[incus_image]\naarch64 = "arm"\n');
  assert.match(
    arch.message,
    /incus_image\.x86_64 .* no image is set for this machine's architecture \(x86_64\)/,
  );

  const wrongArch = problem('[incus_image]\nx86_64 = "a"\nriscv = "b"\n');
  assert.match(wrongArch.message, /incus_image\.riscv .* 'riscv' is not an architecture/);

  const escape = problem('incus_image = "../outside.tar.gz"\n');
  assert.match(escape.message, /must stay inside the repository/);
  const absolute = problem('incus_image = "/etc/image.tar.gz"\n');
  assert.match(absolute.message, /must stay inside the repository/);

  const badAlias = problem('incus_image = "bad alias"\n');
  assert.match(badAlias.message, /'bad alias' is not a valid image alias/);
  const badRemote = problem('incus_image = "remote:"\n');
  assert.match(badRemote.message, /not of the form remote:image/);
});
