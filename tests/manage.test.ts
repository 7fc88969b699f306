import assert from "node:assert/strict";
import { join } from "node:path";
import { containersUnder, exists, Fixture, git, repositoryState, run } from "./helpers.ts";

Deno.test("ls lists this repository or all", async () => {
  const fx = await Fixture.create();
  const other = join(fx.root, "other");
  try {
    await Deno.mkdir(other);
    await run([
      "sh",
      "-c",
      "git init -q -b main && git -c user.email=a@b -c user.name=a commit -q --allow-empty -m x",
    ], {
      cwd: other,
    });
    await fx.lockiOk(["shell", "alpha", "--", "touch", "untracked.txt"]);
    await fx.lockiOk(["shell", "beta", "--", "true"]);
    await fx.lockiOk(["shell", "gamma", "--", "true"], { cwd: other });

    const mine = JSON.parse((await fx.lockiOk(["ls", "--json"])).stdout);
    assert.deepEqual(mine.map((row: { branch: string }) => row.branch), ["alpha", "beta"]);
    const alpha = mine[0];
    assert.equal(alpha.state, "Running");
    assert.equal(alpha.changes, "dirty");
    assert.equal(mine[1].changes, "clean");
    assert.match(alpha.id, /^app-alpha-[0-9a-f]{6}$/);
    assert.equal(alpha.worktree, join(fx.lockiHome, "worktrees", alpha.id));
    assert.equal(alpha.repository, fx.repo);

    const all = JSON.parse((await fx.lockiOk(["ls", "--all", "--json"])).stdout);
    assert.equal(all.length, 3);
    assert.ok(
      all.some((row: { branch: string; repository: string }) =>
        row.branch === "gamma" && row.repository === other
      ),
    );

    const table = (await fx.lockiOk(["ls"])).stdout;
    assert.match(table, /^BRANCH\s+ID\s+STATE\s+CHANGES\s+WORKTREE/);
    assert.match(table, /alpha\s+app-alpha-\w+\s+Running\s+dirty/);
    assert.doesNotMatch(table, /gamma/);
  } finally {
    await fx.dispose();
  }
});

Deno.test("rm refuses dirty worktree, changing nothing", async () => {
  const fx = await Fixture.create();
  try {
    const created = await fx.lockiOk([
      "shell",
      "wip",
      "--",
      "sh",
      "-c",
      "echo work > new-file.txt; pwd",
    ]);
    const worktree = created.stdout.trim();
    const before = await repositoryState(fx.repo);

    const refused = await fx.locki(["rm", "wip"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /uncommitted changes, so nothing was removed/);
    assert.match(refused.stderr, /\?\? new-file\.txt/);
    assert.match(refused.stderr, /--force/);
    assert.equal(await Deno.readTextFile(join(worktree, "new-file.txt")), "work\n");
    assert.equal(await repositoryState(fx.repo), before);
    assert.equal((await containersUnder(fx.lockiHome)).length, 1);

    // A modified tracked file counts too.
    await Deno.remove(join(worktree, "new-file.txt"));
    await Deno.writeTextFile(join(worktree, "README.md"), "changed\n");
    assert.equal((await fx.locki(["rm", "wip"])).code, 1);

    const forced = await fx.lockiOk(["rm", "wip", "--force"]);
    assert.match(forced.stderr, /removed sandbox app-wip-\w+ \(branch wip kept\)/);
    assert.equal(await exists(worktree), false);
    assert.equal((await containersUnder(fx.lockiHome)).length, 0);
    assert.equal(await git(fx.repo, "branch", "--list", "wip"), "wip");
    assert.deepEqual(await fx.sandboxes(), []);
  } finally {
    await fx.dispose();
  }
});

Deno.test("rm --branch deletes only merged branches", async () => {
  const fx = await Fixture.create();
  try {
    await fx.lockiOk(["shell", "merged", "--", "true"]);
    const clean = await fx.lockiOk(["rm", "merged", "--branch", "--json"]);
    assert.equal(JSON.parse(clean.stdout).branchDeleted, true);
    assert.equal(await git(fx.repo, "branch", "--list", "merged"), "");

    const created = await fx.lockiOk(["shell", "ahead", "--", "pwd"]);
    const worktree = created.stdout.trim();
    await Deno.writeTextFile(join(worktree, "feature.txt"), "x\n");
    await git(worktree, "add", "feature.txt");
    await git(
      worktree,
      "-c",
      "user.email=a@b",
      "-c",
      "user.name=a",
      "commit",
      "-q",
      "-m",
      "feature",
    );
    const before = await repositoryState(fx.repo);

    const refused = await fx.locki(["rm", "ahead", "--branch"]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /branch 'ahead' is not fully merged into main, so nothing was removed/,
    );
    assert.equal(await repositoryState(fx.repo), before);
    assert.ok(await exists(worktree));
    assert.equal((await containersUnder(fx.lockiHome)).length, 1);

    await fx.lockiOk(["rm", "ahead", "--branch", "--force"]);
    assert.equal(await git(fx.repo, "branch", "--list", "ahead"), "");
    assert.equal((await containersUnder(fx.lockiHome)).length, 0);
  } finally {
    await fx.dispose();
  }
});

Deno.test("rm cleans up a hand-deleted worktree", async () => {
  const fx = await Fixture.create();
  try {
    const created = await fx.lockiOk(["shell", "gone", "--", "pwd"]);
    await Deno.remove(created.stdout.trim(), { recursive: true });
    const removed = await fx.lockiOk(["rm", "gone"]);
    assert.match(removed.stderr, /worktree had already been deleted/);
    assert.equal((await containersUnder(fx.lockiHome)).length, 0);
    assert.equal((await git(fx.repo, "worktree", "list")).split("\n").length, 1);

    const missing = await fx.locki(["rm", "never-made"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no sandbox for branch 'never-made'/);
  } finally {
    await fx.dispose();
  }
});

Deno.test("vm status, stop and delete", async () => {
  const fx = await Fixture.create();
  try {
    const created = await fx.lockiOk([
      "shell",
      "vm-a",
      "--",
      "sh",
      "-c",
      "echo keep > kept.txt; pwd",
    ]);
    const worktree = created.stdout.trim();
    const status = JSON.parse((await fx.lockiOk(["vm", "status", "--json"])).stdout);
    assert.equal(status.backend, "incus");
    assert.equal(status.ready, true);
    assert.match(status.details["server version"], /^\d+\.\d+/);
    assert.match(status.isolation, /share this host's kernel/);
    assert.ok(
      status.containers.some((item: { labels: { branch: string } }) =>
        item.labels.branch === "vm-a"
      ),
    );

    await fx.lockiOk(["vm", "stop"]);
    assert.equal((await containersUnder(fx.lockiHome))[0].status, "Stopped");

    const unconfirmed = await fx.locki(["vm", "delete"]);
    assert.equal(unconfirmed.code, 2);
    assert.match(unconfirmed.stderr, /pass --yes/);
    assert.equal((await containersUnder(fx.lockiHome)).length, 1);

    await fx.lockiOk(["vm", "delete", "--yes"]);
    assert.equal((await containersUnder(fx.lockiHome)).length, 0);
    assert.equal(
      await Deno.readTextFile(join(worktree, "kept.txt")),
      "keep\n",
      "worktrees are kept",
    );
    assert.equal((await fx.sandboxes())[0].state, "missing");

    const back = await fx.lockiOk(["shell", "vm-a", "--", "cat", "kept.txt"]);
    assert.equal(back.stdout, "keep\n", "the next command recreates the container");
  } finally {
    await fx.dispose();
  }
});

Deno.test("rm never deletes writes racing it", async () => {
  const fx = await Fixture.create();
  try {
    await fx.lockiOk(["shell", "racing", "--", "true"]);
    const [container] = await containersUnder(fx.lockiHome);
    // A session that starts writing shortly after rm begins; each write is
    // logged in the shared home, which rm never deletes.
    const writer = "sleep 0.3; i=0; while true; do i=$((i+1)); echo $i > work-$i.txt; " +
      "echo work-$i.txt >> /root/racing.log; sleep 0.05; done";
    const session = new Deno.Command("incus", {
      args: [
        "exec",
        container.name,
        "--cwd",
        container.config["user.locki.worktree"],
        "--",
        "sh",
        "-c",
        writer,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const removed = await fx.locki(["rm", "racing"]);
    await session.status;
    const log = await Deno.readTextFile(join(fx.lockiHome, "home", "racing.log")).catch(() => "");
    if (removed.code === 0) {
      assert.equal(
        log,
        "",
        `rm succeeded although the sandbox wrote ${log.trim().split("\n").length} files`,
      );
    } else {
      assert.match(removed.stderr, /nothing was removed/);
      assert.ok(log.length > 0);
      const first = log.split("\n")[0];
      assert.ok(
        await exists(join(container.config["user.locki.worktree"], first)),
        `${first} is still there`,
      );
    }
    assert.equal(
      (await containersUnder(fx.lockiHome))[0]?.status ?? "Stopped",
      "Stopped",
      "rm stops the sandbox",
    );
  } finally {
    await fx.dispose();
  }
});
