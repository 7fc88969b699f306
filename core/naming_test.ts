import assert from "node:assert/strict";
import { containerName, sandboxId, slugify, validateBranchName } from "./naming.ts";
import { UsageError } from "./errors.ts";

Deno.test("slugify() keeps ASCII letters and digits", () => {
  assert.equal(slugify("feature/Login_Page"), "feature-login-page");
  assert.equal(slugify("fïx-ünïcode"), "fix-unicode");
  assert.equal(slugify("日本"), "");
  assert.equal(slugify("--a--b--"), "a-b");
});

Deno.test("sandboxId() separates branches with one slug", () => {
  const a = sandboxId("app", "/r/.git", "feature/login");
  const b = sandboxId("app", "/r/.git", "feature-login");
  assert.notEqual(a, b);
  assert.match(a, /^app-feature-login-[0-9a-f]{6}$/);
  assert.equal(sandboxId("app", "/r/.git", "feature/login"), a, "ids are stable");
  assert.notEqual(
    sandboxId("app", "/other/.git", "feature/login"),
    a,
    "other repositories get other ids",
  );
  assert.match(sandboxId("My Repo", "/r/.git", "日本"), /^my-repo-branch-[0-9a-f]{6}$/);
});

Deno.test("containerName() is a hostname label of at most 63", () => {
  const cases = [
    sandboxId("app", "/r/.git", "fix-42"),
    sandboxId("a".repeat(60), "/r/.git", "b".repeat(150)),
    sandboxId("9lives", "/r/.git", "x"),
  ];
  for (const id of cases) {
    const name = containerName(id);
    assert.ok(name.length <= 63, name);
    assert.match(name, /^locki-[a-z0-9-]*[a-z0-9]$/);
    assert.ok(name.endsWith(id.slice(-6)), "the hash survives truncation");
  }
});

Deno.test("validateBranchName() rejects hostile names", async () => {
  for (
    const name of [
      "",
      "-rf",
      "..",
      "a b",
      "a..b",
      "x~1",
      "a:b",
      "HEAD",
      "ends.lock",
      "x".repeat(201),
      "a\nb",
    ]
  ) {
    await assert.rejects(() => validateBranchName(name), UsageError, JSON.stringify(name));
  }
  for (const name of ["fix-42", "feature/login", "fïx/日本", "x".repeat(200)]) {
    await validateBranchName(name);
  }
});
