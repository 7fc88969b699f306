import assert from "node:assert/strict";
import { join } from "node:path";
import { Denied } from "./command_parser.ts";
import { decide, ownsBranch, type RepositoryFacts } from "./policy.ts";
import { loadBuiltinRules, parseRules, RulesError } from "./rules.ts";

const rules = await loadBuiltinRules();
const worktree = await Deno.makeTempDir({ prefix: "locki-policy-" });
await Deno.mkdir(join(worktree, "src"));
const identity = { branch: "fix-42", worktree, otherSandboxBranches: ["fix-42.taken"] };
const facts: RepositoryFacts = {
  isRevision: (arg) =>
    Promise.resolve(/^(HEAD|main|fix-42)([~^]\d*)*$/.test(arg) || arg.includes("..")),
  currentBranch: () => Promise.resolve("fix-42"),
  remotes: () => Promise.resolve(["origin"]),
  upstreamRemote: () => Promise.resolve("origin"),
  headIsUnpushedOwnCommit: () => Promise.resolve(true),
  ownsStash: (entry) => Promise.resolve(entry === "stash@{0}"),
  githubRepository: () => Promise.resolve("octo/app"),
};

function git(...args: string[]) {
  return decide("git", args, worktree, identity, facts, rules);
}

Deno.test("decide() rebuilds argv with full option names", async () => {
  assert.deepEqual((await git("commit", "-am", "msg")).args, ["commit", "--all", "--message=msg"]);
  assert.deepEqual((await git("commit", "--mess=hi")).args, ["commit", "--message=hi"]);
  assert.deepEqual((await git("log", "-20")).args, [
    "log",
    "--max-count=20",
    "--no-ext-diff",
    "--no-textconv",
  ]);
  assert.deepEqual((await git("log", "-n5", "--oneline")).args, [
    "log",
    "--max-count=5",
    "--oneline",
    "--no-ext-diff",
    "--no-textconv",
  ]);
  assert.deepEqual((await git("diff", "HEAD~1", "--", "src/")).args, [
    "diff",
    "--no-ext-diff",
    "--no-textconv",
    "--end-of-options",
    "HEAD~1",
    "--",
    "src/",
  ]);
  assert.deepEqual(
    (await git("log", "src")).args.slice(-2),
    ["--", "src"],
    "a non-revision is a path",
  );
  assert.deepEqual((await git("add", "--", "src")).args, ["add", "--", "src"]);
  assert.deepEqual((await git("push")).args, ["push", "origin", "HEAD:refs/heads/fix-42"]);
  assert.deepEqual((await git("push", "-u", "origin", "fix-42.alt")).args, [
    "push",
    "--set-upstream",
    "origin",
    "refs/heads/fix-42.alt:refs/heads/fix-42.alt",
  ]);
  assert.equal((await git("-C", "src", "status")).cwd, join(worktree, "src"));
  assert.equal((await git("stash")).after, "record-stash");
  const pr = await decide(
    "gh",
    ["pr", "create", "--title", "Fix", "--draft"],
    worktree,
    identity,
    facts,
    rules,
  );
  assert.deepEqual(pr.args, [
    "pr",
    "create",
    "--title=Fix",
    "--draft",
    "--head=fix-42",
    "--repo=octo/app",
  ]);
});

Deno.test("decide() denies smuggled options", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["log", "--out=/tmp/x"], /option '--out' is not allowed/],
    [["commit", "-amx", "--te=/etc/passwd"], /option '--te' is not allowed/],
    [["commit", "-a", "-c", "HEAD"], /option '-c' is not allowed/],
    [["log", "--end-of-options", "--output=x"], /must not start with '-'/],
    [["diff", "--s"], /ambiguous/],
    [["status", "--porcelain=v2\u0007"], /control characters/],
    [["push", "origin", "HEAD:main"], /does not belong to this sandbox/],
    [["push", "origin", "fix-42.taken"], /not allowed/],
    [["switch", "fix-42.taken"], /does not belong/],
    [["branch", "-D", "fix-42"], /cannot be deleted/],
    [["stash", "pop", "stash@{1}"], /was not made by this sandbox/],
    [["add", "../x"], /outside the sandbox's worktree/],
    [["fetch", "origin", "+main:main"], /would write a local ref/],
    [["-c", "x=y", "status"], /setting config/],
    [["--exec-path", "status"], /not allowed/],
  ];
  for (const [args, message] of cases) {
    const outcome = await git(...args).then((decision) => decision.args, (error) => error);
    assert.ok(
      outcome instanceof Denied,
      `${args.join(" ")} is denied, got ${JSON.stringify(outcome)}`,
    );
    await assert.rejects(() => git(...args), (error: unknown) => {
      if (!(error instanceof Denied)) throw error;
      assert.ok(error instanceof Denied, `${args.join(" ")} raises Denied`);
      assert.match(error.message, message, args.join(" "));
      return true;
    });
  }
});

Deno.test("ownsBranch() covers branch and suffixes only", () => {
  assert.equal(ownsBranch(identity, "fix-42"), true);
  assert.equal(ownsBranch(identity, "refs/heads/fix-42.try"), true);
  assert.equal(ownsBranch(identity, "fix-42."), false);
  assert.equal(ownsBranch(identity, "fix-42.taken"), false, "another sandbox's branch");
  assert.equal(ownsBranch(identity, "fix-420"), false);
  assert.equal(ownsBranch(identity, "main"), false);
});

Deno.test("parseRules() names the line of a mistake", () => {
  assert.throws(
    () => parseRules("git status: x\n  options: --bad=WHAT\n", "t.rules"),
    RulesError,
    "t.rules:2",
  );
  assert.throws(
    () => parseRules("git status: x\n  args: THING\n", "t.rules"),
    /t\.rules:2: 'THING'/,
  );
  assert.throws(() => parseRules("  options: -s\n", "t.rules"), /t\.rules:1/);
  assert.throws(() => parseRules("git a: x\ngit a: y\n", "t.rules"), /defined twice/);
});
