/**
 * STAND-IN for Lima's `limactl`, for tests only: Lima cannot run on the
 * machines that test Locki. It implements the few commands Locki calls and
 * records every call in `$LIMA_HOME/standin-calls.jsonl`. It plays a VM
 * whose Incus server is the local one. "Starting" the VM links the
 * forwarded socket to the local Incus socket. "Deleting" it deletes the
 * containers whose worktrees lie in the folders the configuration mounts.
 *
 * Settings, from the environment:
 *   STANDIN_LIMA_VERSION      version to report (default 2.1.2)
 *   STANDIN_INCUS_SOCKET      the local Incus socket (default /var/lib/incus/unix.socket)
 *   STANDIN_START_HANGS=1     `start` never finishes, like a VM that does not boot
 */
import { dirname, join } from "node:path";
import { parse } from "yaml";

if (Deno.args[0] === "--version") {
  console.log(`limactl version ${Deno.env.get("STANDIN_LIMA_VERSION") ?? "2.1.2"}`);
  Deno.exit(0);
}
const limaHome = Deno.env.get("LIMA_HOME");
if (!limaHome) {
  console.error("limactl stand-in: LIMA_HOME is not set");
  Deno.exit(1);
}
const args = Deno.args;
await Deno.mkdir(limaHome, { recursive: true });
await Deno.writeTextFile(join(limaHome, "standin-calls.jsonl"), JSON.stringify(args) + "\n", {
  append: true,
});

const instance = join(limaHome, "locki");
const stateFile = join(instance, "standin-state.json");
const socket = join(instance, "sock", "incus.sock");
const incusSocket = Deno.env.get("STANDIN_INCUS_SOCKET") ?? "/var/lib/incus/unix.socket";

async function state(): Promise<string | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(stateFile)).status;
  } catch {
    return undefined;
  }
}

async function boot() {
  if (Deno.env.get("STANDIN_START_HANGS") === "1") {
    console.error('time="0" level=info msg="[stand-in] waiting for the VM to boot"');
    await new Promise((resolve) => setTimeout(resolve, 2 ** 31 - 1));
  }
  await Deno.mkdir(dirname(socket), { recursive: true });
  await Deno.remove(socket).catch(() => {});
  await Deno.symlink(incusSocket, socket);
  await Deno.writeTextFile(stateFile, JSON.stringify({ status: "Running" }));
  console.error(
    'time="0" level=info msg="[stand-in] READY. Run `limactl shell locki` to open the shell."',
  );
}

function fail(message: string): never {
  console.error(`limactl stand-in: ${message}`);
  Deno.exit(1);
}

const [command, ...rest] = args;
if (command === "list" && rest[0] === "--json") {
  const status = await state();
  if (status) console.log(JSON.stringify({ name: "locki", status, dir: instance }));
} else if (command === "start") {
  const file = rest.find((arg) => arg.endsWith(".yaml"));
  if (file) {
    if (rest[0] !== "--name=locki") fail(`unexpected arguments ${rest.join(" ")}`);
    if (await state()) fail('instance "locki" already exists');
    // What real Lima would reject or need: a parsable file with the fields Locki sets.
    const config = parse(await Deno.readTextFile(file));
    for (
      const key of ["minimumLimaVersion", "base", "mounts", "portForwards", "provision", "probes"]
    ) {
      if (!(key in config)) fail(`${file} has no ${key}`);
    }
    await Deno.mkdir(instance, { recursive: true });
    await Deno.copyFile(file, join(instance, "lima.yaml"));
    await boot();
  } else {
    if (rest.at(-1) !== "locki") fail(`unexpected arguments ${rest.join(" ")}`);
    if (!await state()) fail('instance "locki" does not exist');
    await boot();
  }
} else if (command === "stop") {
  if (!await state()) fail('instance "locki" does not exist');
  await Deno.remove(socket).catch(() => {});
  await Deno.writeTextFile(stateFile, JSON.stringify({ status: "Stopped" }));
} else if (command === "delete") {
  if (!await state()) fail('instance "locki" does not exist');
  // The VM's containers go with it: those whose worktree lies in a mounted folder.
  const config = parse(await Deno.readTextFile(join(instance, "lima.yaml")));
  const mounted: string[] = config.mounts.map((mount: { location: string }) => mount.location);
  const listed = await new Deno.Command("incus", {
    args: ["list", "--format", "json"],
    env: { INCUS_SOCKET: incusSocket },
    stdout: "piped",
  }).output();
  for (const item of JSON.parse(new TextDecoder().decode(listed.stdout))) {
    const worktree: string = item.config?.["user.locki.worktree"] ?? "";
    if (mounted.some((folder) => worktree.startsWith(folder + "/"))) {
      await new Deno.Command("incus", {
        args: ["delete", "--force", item.name],
        env: { INCUS_SOCKET: incusSocket },
      }).output();
    }
  }
  await Deno.remove(instance, { recursive: true });
} else if (command === "shell" && rest[0] === "locki") {
  // The stand-in VM is this host, so the host's loopback is 127.0.0.1 from "inside".
  if (rest.slice(1).join(" ") === "getent ahostsv4 host.lima.internal") {
    console.log("127.0.0.1       STREAM host.lima.internal");
  } else {
    fail(`shell command not implemented: ${rest.slice(1).join(" ")}`);
  }
} else {
  fail(`command not implemented: ${args.join(" ")}`);
}
