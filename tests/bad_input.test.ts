import assert from "node:assert/strict";
import { join } from "node:path";
import { containersUnder, exists, Fixture, git, MAIN, repositoryState, run } from "./helpers.ts";

/** Asserts that a refused command left no branch, worktree, record or container behind. */
async function assertNothingMade(fx: Fixture, before: string) {
  assert.equal(await repositoryState(fx.repo), before, "the repository is unchanged");
  assert.equal((await containersUnder(fx.lockiHome)).length, 0, "no container is left");
  const records = await Array.fromAsync(Deno.readDir(join(fx.lockiHome, "state", "sandboxes")))
    .catch(() => []);
  assert.equal(records.length, 0, "no sandbox record is left");
  const worktrees = await Array.fromAsync(Deno.readDir(join(fx.lockiHome, "worktrees"))).catch(
    () => [],
  );
  assert.equal(worktrees.length, 0, "no worktree folder is left");
}

Deno.test("outside a repository is refused", async () => {
  const fx = await Fixture.create();
  try {
    const plain = join(fx.root, "plain");
    await Deno.mkdir(plain);
    const result = await fx.locki(["shell", "x", "--", "true"], { cwd: plain });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /not a git repository: .*plain/);
    assert.match(result.stderr, /hint: run locki inside a git checkout/);

    const bare = join(fx.root, "bare.git");
    await run(["git", "init", "-q", "--bare", bare]);
    const inBare = await fx.locki(["shell", "x", "--", "true"], { cwd: bare });
    assert.equal(inBare.code, 1);
    assert.match(inBare.stderr, /bare repository/);
    assert.match(inBare.stderr, /git clone/);

    const empty = join(fx.root, "empty");
    await run(["git", "init", "-q", empty]);
    const noCommits = await fx.locki(["shell", "x", "--", "true"], { cwd: empty });
    assert.equal(noCommits.code, 1);
    assert.match(noCommits.stderr, /has no commits yet/);
    assert.equal(await git(empty, "branch", "--list"), "");
    assert.equal((await containersUnder(fx.lockiHome)).length, 0);
  } finally {
    await fx.dispose();
  }
});

Deno.test("invalid branch names are refused", async () => {
  const fx = await Fixture.create();
  try {
    const before = await repositoryState(fx.repo);
    const cases: Array<[string[], RegExp]> = [
      [["shell", "..", "--", "true"], /invalid branch name "\.\."/],
      [["shell", "a b", "--", "true"], /invalid branch name "a b"/],
      [["shell", "x".repeat(300), "--", "true"], /300 bytes long, and the maximum is 200/],
      [["shell", "feature..x", "--", "true"], /git does not accept it/],
      [["shell", "bad~name", "--", "true"], /git does not accept it/],
      [["shell", "tab\tname", "--", "true"], /control characters/],
      [["shell", "HEAD", "--", "true"], /invalid branch name "HEAD"/],
      [["rm", "a:b"], /invalid branch name "a:b"/],
    ];
    for (const [args, message] of cases) {
      const result = await fx.locki(args);
      assert.equal(result.code, 2, `${JSON.stringify(args[1])} exits 2: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /hint: /);
    }
    // A leading dash is taken as an option, so it can never reach git as a branch.
    const dash = await fx.locki(["shell", "-rf", "--", "true"]);
    assert.equal(dash.code, 2);
    assert.match(dash.stderr, /unknown option '-rf'/);
    await assertNothingMade(fx, before);
  } finally {
    await fx.dispose();
  }
});

Deno.test("unicode and colliding slugs get distinct sandboxes", async () => {
  const fx = await Fixture.create();
  try {
    const unicode = await fx.lockiOk(["shell", "fïx/ünïcode-日本", "--", "pwd"]);
    assert.match(unicode.stdout.trim(), /\/app-fix-unicode-[0-9a-f]{6}$/);
    assert.equal(
      await git(fx.repo, "for-each-ref", "--format=%(refname)", "refs/heads/fïx/"),
      "refs/heads/fïx/ünïcode-日本",
    );

    const a = (await fx.lockiOk(["shell", "feature/login", "--", "pwd"])).stdout.trim();
    const b = (await fx.lockiOk(["shell", "feature-login", "--", "pwd"])).stdout.trim();
    assert.notEqual(a, b);
    assert.match(a, /app-feature-login-[0-9a-f]{6}$/);
    assert.match(b, /app-feature-login-[0-9a-f]{6}$/);
    const names = (await containersUnder(fx.lockiHome)).map((item) => item.name);
    assert.equal(new Set(names).size, 3);

    const long = "a-very-long-branch-name-".repeat(7).slice(0, 150);
    await fx.lockiOk(["shell", long, "--", "true"]);
    for (const item of await containersUnder(fx.lockiHome)) {
      assert.ok(item.name.length <= 63, `${item.name} fits a hostname label`);
      assert.match(item.name, /^[a-z][a-z0-9-]*[a-z0-9]$/);
    }
  } finally {
    await fx.dispose();
  }
});

Deno.test("detached HEAD branches from the commit", async () => {
  const fx = await Fixture.create();
  try {
    await Deno.writeTextFile(join(fx.repo, "second.txt"), "2\n");
    await git(fx.repo, "add", "second.txt");
    await git(fx.repo, "commit", "-q", "-m", "second");
    await git(fx.repo, "checkout", "-q", "--detach", "HEAD~1");
    const result = await fx.lockiOk(["shell", "from-detached", "--", "ls"]);
    assert.equal(result.stdout, "README.md\n");
    assert.equal(
      await git(fx.repo, "rev-parse", "from-detached"),
      await git(fx.repo, "rev-parse", "HEAD"),
    );
  } finally {
    await fx.dispose();
  }
});

Deno.test("branch checked out elsewhere is refused", async () => {
  const fx = await Fixture.create();
  try {
    const before = await repositoryState(fx.repo);
    const main = await fx.locki(["shell", "main", "--", "true"]);
    assert.equal(main.code, 1);
    assert.match(main.stderr, /branch 'main' is already checked out at /);
    assert.match(main.stderr, /git switch/);
    await assertNothingMade(fx, before);

    await git(fx.repo, "worktree", "add", "-q", join(fx.root, "manual"), "-b", "manual");
    const manual = await fx.locki(["shell", "manual", "--", "true"]);
    assert.equal(manual.code, 1);
    assert.match(manual.stderr, /already checked out at .*manual/);
    assert.match(manual.stderr, /git worktree remove/);
  } finally {
    await fx.dispose();
  }
});

Deno.test("submodules are initialised, failures only warn", async () => {
  const fx = await Fixture.create();
  try {
    const library = join(fx.root, "library");
    await Deno.mkdir(library);
    await run([
      "sh",
      "-c",
      "git init -q -b main && echo lib > lib.txt && git add . && " +
      "git -c user.email=a@b -c user.name=a commit -q -m lib",
    ], { cwd: library });
    await git(
      fx.repo,
      "-c",
      "protocol.file.allow=always",
      "submodule",
      "add",
      "-q",
      library,
      "vendor/lib",
    );
    await git(fx.repo, "commit", "-q", "-m", "add submodule");

    // git refuses local file transports for submodules by default, so this fails and only warns.
    const warned = await fx.lockiOk([
      "shell",
      "sub-fail",
      "--",
      "sh",
      "-c",
      "ls vendor/lib | wc -l",
    ]);
    assert.match(warned.stderr, /warning: submodules were not initialised/);
    assert.equal(warned.stdout.trim(), "0");

    // With a user config that allows file transports, the same submodule is cloned.
    const userConfig = join(fx.root, "gitconfig");
    await Deno.writeTextFile(userConfig, '[protocol "file"]\n\tallow = always\n');
    const ok = await fx.lockiOk(["shell", "sub-ok", "--", "cat", "vendor/lib/lib.txt"], {
      env: { GIT_CONFIG_GLOBAL: userConfig },
    });
    assert.equal(ok.stdout, "lib\n");
    assert.doesNotMatch(ok.stderr, /warning/);
  } finally {
    await fx.dispose();
  }
});

Deno.test("unreachable Incus and missing image are explained", async () => {
  const fx = await Fixture.create();
  try {
    const before = await repositoryState(fx.repo);
    const down = await fx.locki(["shell", "x", "--", "true"], {
      env: { INCUS_SOCKET: join(fx.root, "no-such.socket") },
    });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /Incus is not installed or its daemon is not running/);
    assert.match(down.stderr, /setup-debian-host\.sh/);
    await assertNothingMade(fx, before);

    assert.match(down.stderr, /set INCUS_SOCKET/);

    await fx.lockiOk(["shell", "listed", "--", "true"]);
    const listing = await fx.lockiOk(["ls", "--json"], {
      env: { INCUS_SOCKET: join(fx.root, "no-such.socket") },
    });
    assert.equal(
      JSON.parse(listing.stdout)[0].state,
      "unknown",
      "ls still lists worktrees without Incus",
    );
    await fx.lockiOk(["rm", "listed", "--branch"]);

    const status = await fx.locki(["vm", "status"], {
      env: { INCUS_SOCKET: join(fx.root, "no-such.socket") },
    });
    assert.equal(status.code, 1);
    assert.match(status.stdout, /not ready/);

    await Deno.writeTextFile(join(fx.repo, "locki.toml"), 'incus_image = "no-such-image"\n');
    await git(fx.repo, "add", "locki.toml");
    await git(fx.repo, "commit", "-q", "-m", "image");
    const withImage = await repositoryState(fx.repo);
    const missing = await fx.locki(["shell", "x", "--", "true"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /image 'no-such-image' not found on the Incus server/);
    await assertNothingMade(fx, withImage);

    const lima = await fx.locki(["shell", "x", "--", "true"], { env: { LOCKI_BACKEND: "lima" } });
    assert.equal(lima.code, 1);
    assert.match(lima.stderr, /limactl was not found beside locki or on PATH/);
    assert.match(lima.stderr, /install Lima 2\.1\.2 or later/);

    const file = join(fx.root, "a-file");
    await Deno.writeTextFile(file, "");
    const notFolder = await fx.locki(["ls"], { env: { LOCKI_HOME: file } });
    assert.equal(notFolder.code, 1);
    assert.match(notFolder.stderr, /cannot create .*a-file\/worktrees/);
    assert.match(notFolder.stderr, /point LOCKI_HOME at a folder/);
    await assertNothingMade(fx, withImage);
  } finally {
    await fx.dispose();
  }
});

Deno.test("disk full during creation leaves nothing", async () => {
  const fx = await Fixture.create();
  const small = join(fx.root, "small");
  await Deno.mkdir(small);
  const mounted = await run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small]);
  assert.equal(mounted.code, 0, `mounting a small tmpfs needs root: ${mounted.stderr}`);
  try {
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7919) % 251);
    await Deno.writeFile(join(fx.repo, "big.bin"), big);
    await git(fx.repo, "add", "big.bin");
    await git(fx.repo, "commit", "-q", "-m", "big file");
    const before = await repositoryState(fx.repo);
    const lockiHome = join(small, "locki");

    const full = await run(["deno", "run", "-A", "--quiet", MAIN, "shell", "big", "--", "true"], {
      cwd: fx.repo,
      env: { LOCKI_HOME: lockiHome, NO_COLOR: "1" },
    });
    assert.equal(full.code, 1);
    assert.match(
      full.stderr,
      /creating the worktree for 'big' .* failed: .*unable to write file big\.bin/,
    );
    assert.match(full.stderr, /free disk space/);
    assert.equal(await repositoryState(fx.repo), before);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(join(lockiHome, "worktrees"))), []);

    await run(["mount", "-o", "remount,size=64m", small]);
    const retry = await run(["deno", "run", "-A", "--quiet", MAIN, "shell", "big", "--", "ls"], {
      cwd: fx.repo,
      env: { LOCKI_HOME: lockiHome, NO_COLOR: "1" },
    });
    assert.equal(retry.code, 0, retry.stderr);
    assert.equal(retry.stdout, "README.md\nbig.bin\n");
  } finally {
    // Containers hold the tmpfs folder open, so delete them before unmounting.
    for (const item of await containersUnder(small)) {
      await run(["incus", "delete", "--force", item.name]);
    }
    await run(["umount", small]);
    await fx.dispose();
  }
});

Deno.test("Ctrl-C during creation rolls back", async () => {
  const fx = await Fixture.create();
  try {
    let interrupted = 0;
    for (const delay of [150, 200, 250, 300, 350, 400]) {
      const branch = `interrupted-${delay}`;
      const child = new Deno.Command("deno", {
        args: ["run", "-A", "--quiet", MAIN, "shell", branch, "--", "true"],
        cwd: fx.repo,
        env: { LOCKI_HOME: fx.lockiHome, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await new Promise((resolve) => setTimeout(resolve, delay));
      try {
        child.kill("SIGINT");
      } catch {
        // The sandbox was ready before the signal; the retry below still checks it.
      }
      const output = await child.output();
      const stderr = new TextDecoder().decode(output.stderr);
      const rows = (await fx.sandboxes()).filter((row) => row.branch === branch);
      if (output.code === 130) {
        interrupted++;
        assert.match(stderr, /interrupted while creating the sandbox/, stderr);
        assert.equal(rows.length, 0, `no record is left after an interrupt at ${delay} ms`);
        assert.equal(
          await git(fx.repo, "branch", "--list", branch),
          "",
          "the new branch is rolled back",
        );
        assert.equal(
          (await containersUnder(fx.lockiHome)).filter((item) =>
            item.config?.["user.locki.branch"] === branch
          ).length,
          0,
        );
      } else {
        // The signal came before Locki listened for it, or after the sandbox was ready.
        assert.ok(
          [0, 130].includes(output.code) || output.signal === "SIGINT",
          `exit ${output.code}: ${stderr}`,
        );
      }
      const retry = await fx.lockiOk(["shell", branch, "--", "echo", "ready"]);
      assert.equal(retry.stdout, "ready\n", "a retry after the interrupt succeeds");
    }
    assert.ok(interrupted > 0, "at least one run was interrupted during creation");
  } finally {
    await fx.dispose();
  }
});

Deno.test("concurrent runs make one sandbox", async () => {
  const fx = await Fixture.create();
  try {
    const runs = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        fx.locki(["shell", "race", "--", "sh", "-c", `echo ${n} >> runs.txt; pwd`])
      ),
    );
    for (const result of runs) assert.equal(result.code, 0, result.stderr);
    assert.equal(new Set(runs.map((result) => result.stdout)).size, 1);
    assert.equal((await containersUnder(fx.lockiHome)).length, 1);
    const worktree = runs[0].stdout.trim();
    const lines = (await Deno.readTextFile(join(worktree, "runs.txt"))).trim().split("\n").sort();
    assert.deepEqual(lines, ["1", "2", "3", "4"]);
    assert.ok(await exists(join(worktree, "README.md")));
  } finally {
    await fx.dispose();
  }
});
