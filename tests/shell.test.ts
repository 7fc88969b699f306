import assert from "node:assert/strict";
import { join } from "node:path";
import {
  containersUnder,
  exists,
  Fixture,
  git,
  incusExec,
  PROJECT_ROOT,
  run,
  waitForProcess,
} from "./helpers.ts";

Deno.test("shell creates branch, worktree and container", async () => {
  const fx = await Fixture.create();
  try {
    const result = await fx.lockiOk([
      "shell",
      "fix-42",
      "--",
      "sh",
      "-c",
      "pwd; echo $IS_SANDBOX; echo $PATH",
    ]);
    const [pwd, isSandbox, path] = result.stdout.trim().split("\n");
    const worktree = join(fx.lockiHome, "worktrees", pwd.split("/").pop()!);
    assert.equal(pwd, worktree, "the command runs in the worktree, at its host path");
    assert.match(pwd, /\/worktrees\/app-fix-42-[0-9a-f]{6}$/);
    assert.equal(isSandbox, "1");
    assert.ok(path.startsWith("/opt/locki/bin:"), `PATH starts with the shim folder: ${path}`);
    assert.equal(
      await git(fx.repo, "rev-parse", "fix-42"),
      await git(fx.repo, "rev-parse", "main"),
    );
    assert.equal(await git(worktree, "rev-parse", "--abbrev-ref", "HEAD"), "fix-42");

    const containers = await containersUnder(fx.lockiHome);
    assert.equal(containers.length, 1);
    assert.equal(containers[0].status, "Running");
    assert.equal(containers[0].config["user.locki.branch"], "fix-42");
    assert.equal(containers[0].config["user.locki.repo"], fx.repo);
    assert.ok(containers[0].name.length <= 63);
  } finally {
    await fx.dispose();
  }
});

Deno.test("shell passes exit code, stdin and stdout", async () => {
  const fx = await Fixture.create();
  try {
    const failing = await fx.locki([
      "shell",
      "b1",
      "--",
      "sh",
      "-c",
      "echo out; echo err >&2; exit 7",
    ]);
    assert.equal(failing.code, 7);
    assert.equal(failing.stdout, "out\n");
    assert.match(failing.stderr, /err\n/);

    const piped = await fx.lockiOk(["shell", "b1", "--", "tr", "a-z", "A-Z"], {
      stdin: "hello sandbox\n",
    });
    assert.equal(piped.stdout, "HELLO SANDBOX\n");

    const noTty = await fx.locki(["shell", "b1", "--", "tty"]);
    assert.equal(noTty.stdout.trim(), "not a tty", "no TTY is allocated when the caller has none");
  } finally {
    await fx.dispose();
  }
});

Deno.test("shell allocates a TTY when the caller has one", async () => {
  const fx = await Fixture.create();
  try {
    await fx.lockiOk(["shell", "tty-check", "--", "true"]);
    // `script` gives the command a pseudo-terminal, as an interactive user has.
    const command = `deno run -A --quiet ${join(Deno.cwd(), "main.ts")} shell tty-check -- tty`;
    const result = await run(["script", "-qec", command, "/dev/null"], {
      cwd: fx.repo,
      env: { LOCKI_HOME: fx.lockiHome, NO_COLOR: "1" },
    });
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /\/dev\/pts\/\d+/);
  } finally {
    await fx.dispose();
  }
});

Deno.test("shell reuses worktree and restarts container", async () => {
  const fx = await Fixture.create();
  try {
    await fx.lockiOk(["shell", "reuse", "--", "touch", "marker"]);
    const [first] = await containersUnder(fx.lockiHome);
    const stop = await run(["incus", "stop", "--force", first.name]);
    assert.equal(stop.code, 0, stop.stderr);

    const again = await fx.lockiOk(["shell", "reuse", "--", "ls", "marker"]);
    assert.equal(again.stdout.trim(), "marker");
    const after = await containersUnder(fx.lockiHome);
    assert.equal(after.length, 1);
    assert.equal(after[0].name, first.name);
    assert.equal(
      after[0].created_at,
      first.created_at,
      "the same container is reused, not recreated",
    );
    assert.equal(after[0].status, "Running");
  } finally {
    await fx.dispose();
  }
});

Deno.test("shell inside a worktree needs no branch", async () => {
  const fx = await Fixture.create();
  try {
    const created = await fx.lockiOk(["shell", "feature/nested", "--", "pwd"]);
    const worktree = created.stdout.trim();
    await Deno.mkdir(join(worktree, "src", "deep"), { recursive: true });
    const inside = await fx.lockiOk(["shell", "--", "sh", "-c", "pwd; echo $LOCKI_BRANCH"], {
      cwd: join(worktree, "src", "deep"),
    });
    assert.equal(inside.stdout, `${join(worktree, "src", "deep")}\nfeature/nested\n`);

    const outside = await fx.locki(["shell", "--", "true"]);
    assert.equal(outside.code, 2);
    assert.match(outside.stderr, /no branch given, and .* is not a Locki worktree/);
  } finally {
    await fx.dispose();
  }
});

Deno.test("sandbox writes appear on host, owned by host user", async () => {
  const fx = await Fixture.create();
  try {
    const result = await fx.lockiOk([
      "shell",
      "own",
      "--",
      "sh",
      "-c",
      "echo data > made.txt; mkdir -p d/e; pwd",
    ]);
    const worktree = result.stdout.trim();
    const file = await Deno.stat(join(worktree, "made.txt"));
    assert.equal(file.uid, Deno.uid());
    assert.equal(file.gid, Deno.gid());
    assert.equal(await Deno.readTextFile(join(worktree, "made.txt")), "data\n");
    assert.equal((await Deno.stat(join(worktree, "d", "e"))).uid, Deno.uid());

    // Host edits show up inside at once, and the rest of the host is not there.
    await Deno.writeTextFile(join(worktree, "from-host.txt"), "host\n");
    const view = await fx.lockiOk([
      "shell",
      "own",
      "--",
      "sh",
      "-c",
      `cat from-host.txt; ls ${fx.repo} 2>&1 || true`,
    ]);
    assert.match(view.stdout, /^host\n/);
    assert.match(
      view.stdout,
      /No such file or directory/,
      "the main checkout is not visible in the sandbox",
    );
  } finally {
    await fx.dispose();
  }
});

Deno.test("shared home persists across sandboxes", async () => {
  const fx = await Fixture.create();
  try {
    await fx.lockiOk(["shell", "one", "--", "sh", "-c", "echo token-123 > ~/.agent-login"]);
    const other = await fx.lockiOk([
      "shell",
      "two",
      "--",
      "sh",
      "-c",
      "cat ~/.agent-login; echo $HOME",
    ]);
    assert.equal(other.stdout, "token-123\n/root\n");
    assert.equal(
      await Deno.readTextFile(join(fx.lockiHome, "home", ".agent-login")),
      "token-123\n",
    );
  } finally {
    await fx.dispose();
  }
});

Deno.test("two sandboxes both listen on port 3000", async () => {
  const fx = await Fixture.create();
  try {
    const listen =
      'perl -MIO::Socket::INET -e \'$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:3000", ' +
      "Listen => 1, ReuseAddr => 0) or die \"bind: $!\"; sleep 60' >/dev/null 2>&1 & sleep 1; ss -ltnH 'sport = :3000'";
    await fx.lockiOk(["shell", "port-a", "--", "true"]);
    await fx.lockiOk(["shell", "port-b", "--", "true"]);
    const containers = await containersUnder(fx.lockiHome);
    assert.equal(containers.length, 2);
    for (const container of containers) {
      const result = await incusExec(container.name, "sh", "-c", listen);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /127\.0\.0\.1:3000/, `${container.name} listens on 3000`);
    }
  } finally {
    await fx.dispose();
  }
});

Deno.test("worktree deleted by hand is recreated", async () => {
  const fx = await Fixture.create();
  try {
    const created = await fx.lockiOk(["shell", "gone", "--", "pwd"]);
    const worktree = created.stdout.trim();
    await Deno.remove(worktree, { recursive: true });
    const listed = (await fx.sandboxes()).find((row) => row.branch === "gone");
    assert.equal(listed?.changes, "missing");

    const again = await fx.lockiOk(["shell", "gone", "--", "cat", "README.md"]);
    assert.equal(again.stdout, "# app\n");
    assert.ok(await exists(join(worktree, ".git")));
  } finally {
    await fx.dispose();
  }
});

Deno.test("shell passes SIGTERM sent to locki alone into the sandbox", async () => {
  const fx = await Fixture.create();
  try {
    await fx.lockiOk(["shell", "signals", "--", "true"]);
    const [container] = await containersUnder(fx.lockiHome);
    const child = new Deno.Command("deno", {
      args: [
        "run",
        "-A",
        "--quiet",
        join(PROJECT_ROOT, "main.ts"),
        "shell",
        "signals",
        "--",
        "sh",
        "-c",
        'trap "echo got-TERM; exit 143" TERM; sleep 40 & wait',
      ],
      cwd: fx.repo,
      env: { LOCKI_HOME: fx.lockiHome, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    assert.ok(
      await waitForProcess(container.name, "sleep 40", true),
      "the command started in the sandbox",
    );
    // Only Locki's own process, as `kill PID` or a process manager would.
    child.kill("SIGTERM");
    const output = await child.output();
    assert.equal(new TextDecoder().decode(output.stdout).trim(), "got-TERM");
    assert.equal(output.code, 143);
  } finally {
    await fx.dispose();
  }
});
