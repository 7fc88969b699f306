import { dirname, isAbsolute, join, relative } from "node:path";
import type { AgentPlugin, InstallStep, SandboxContext } from "../plugins/api.ts";
import { PluginError } from "../plugins/validate.ts";
import { CACHE_PATH, SANDBOX_HOME } from "./container_spec.ts";
import { LockiError } from "./errors.ts";
import type { Engine } from "./sandbox.ts";
import type { SandboxRecord } from "./sandbox_store.ts";

/** Folder in the shared cache volume where npm-installed agents live; its bin is on PATH. */
export const AGENT_PREFIX = `${CACHE_PATH}/agents`;

const INSTRUCTIONS_BEGIN =
  "<!-- locki:begin (written by Locki; edits inside this block are replaced) -->";
const INSTRUCTIONS_END = "<!-- locki:end -->";

/** Returns the sandbox description every agent gets; the bridge rules are in /etc/locki/BRIDGE.md. */
export function sandboxInstructions(): string {
  return `# You are working in a Locki sandbox

- This is a full Linux system container (systemd; root inside). Your changes to the worktree
  appear on the host at once. Nothing outside the worktree and your home folder is shared.
- \`git\` and \`gh\` go through the Locki bridge to the host: only allowlisted commands run, on this
  sandbox's own branch. Read /etc/locki/BRIDGE.md for the rules, your branch and the remotes; a
  denied command exits with 126 and names the rule.
- Servers you start listen inside the sandbox only; other sandboxes may use the same ports.
- Package and tool caches are shared between sandboxes under ${CACHE_PATH}.
`;
}

/** Writes the plugin's settings into the shared home: seeds only when missing, merges every time. */
export async function writeHomeFiles(
  sharedHome: string,
  plugin: AgentPlugin,
  context: SandboxContext,
): Promise<void> {
  let files;
  try {
    files = plugin.homeFiles?.(context) ?? [];
  } catch (error) {
    throw new PluginError(
      `plugin '${plugin.name}': homeFiles() failed: ${(error as Error).message}`,
    );
  }
  for (const file of files) {
    const target = join(sharedHome, file.path);
    if (isAbsolute(file.path) || relative(sharedHome, target).startsWith("..")) {
      throw new PluginError(
        `plugin '${plugin.name}': home file '${file.path}' lies outside the home folder`,
        "give a path relative to the home folder, such as .my-agent/settings.json",
      );
    }
    if (!("seed" in file) && typeof (file as { merge?: unknown }).merge !== "function") {
      throw new PluginError(
        `plugin '${plugin.name}': home file '${file.path}' has neither seed nor merge`,
      );
    }
    await Deno.mkdir(dirname(target), { recursive: true });
    const current = await Deno.readTextFile(target).catch(() => undefined);
    if ("seed" in file) {
      if (current === undefined) await Deno.writeTextFile(target, file.seed);
    } else {
      let next: string;
      try {
        next = file.merge(current, context);
      } catch (error) {
        throw new PluginError(
          `plugin '${plugin.name}': cannot update ${target}: ${(error as Error).message}`,
          "fix or move that file; Locki changes only the entries it needs",
        );
      }
      if (next !== current) await Deno.writeTextFile(target, next);
    }
  }
}

/**
 * Places Locki's instructions where the agent reads them. In the shared
 * home they go inside a marked block, so the user's own text stays; other
 * paths belong to the container and are written whole.
 */
export async function writeInstructions(
  engine: Engine,
  record: SandboxRecord,
  path: string,
): Promise<void> {
  const text = sandboxInstructions();
  if (path === SANDBOX_HOME || path.startsWith(SANDBOX_HOME + "/")) {
    const target = join(engine.paths.home, relative(SANDBOX_HOME, path));
    await Deno.mkdir(dirname(target), { recursive: true });
    const current = await Deno.readTextFile(target).catch(() => "");
    const block = `${INSTRUCTIONS_BEGIN}\n${text}${INSTRUCTIONS_END}\n`;
    const start = current.indexOf(INSTRUCTIONS_BEGIN);
    const end = current.indexOf(INSTRUCTIONS_END);
    const next = start !== -1 && end > start
      ? current.slice(0, start) + block + current.slice(end + INSTRUCTIONS_END.length + 1)
      : (current ? current.trimEnd() + "\n\n" : "") + block;
    if (next !== current) await Deno.writeTextFile(target, next);
    return;
  }
  await engine.backend.pushFile(record.container, path, text, 0o644);
}

/** Installs the agent inside the sandbox when it is missing; idempotent and cached in the shared volume. */
export async function installAgent(
  engine: Engine,
  record: SandboxRecord,
  plugin: AgentPlugin,
): Promise<void> {
  const step: InstallStep = plugin.install;
  if (step.kind === "none") return;
  const check = step.kind === "npm"
    ? ["test", "-x", `${AGENT_PREFIX}/bin/${step.bin}`]
    : step.check;
  if ((await engine.backend.execCapture(record.container, check)).code === 0) return;

  engine.progress.step(`installing ${plugin.name} in the sandbox`);
  // Offline, npm uses only the shared cache and fails at once on a missing
  // package; with --prefer-offline and no network it retries for minutes.
  const offline = Deno.env.get("LOCKI_OFFLINE") === "1";
  const npmMode = offline ? "--offline" : "--prefer-offline";
  const script = step.kind === "npm"
    ? `set -e
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is not installed in this sandbox's image, so ${step.package} cannot be installed" >&2
  exit 3
fi
# Packages already in the shared npm cache are not downloaded again.
npm install --global --prefix "${AGENT_PREFIX}" ${npmMode} --no-fund --no-audit --no-update-notifier "${step.package}"
test -x "${AGENT_PREFIX}/bin/${step.bin}"`
    : step.script;
  const result = await engine.backend.execCapture(record.container, ["sh", "-c", script]);
  const output = `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-8).join("\n  ");
  if (result.code !== 0) {
    engine.progress.fail();
    throw new LockiError(
      `installing plugin '${plugin.name}' in the sandbox failed (exit code ${result.code}):\n  ${output}`,
      step.kind === "npm" && output.includes("npm is not installed in this sandbox's image")
        ? "use an image with Node.js and npm (incus_image in locki.toml), or give the sandbox network access"
        : `fix the plugin's install step, or install it by hand: locki shell ${record.branch}`,
    );
  }
  if ((await engine.backend.execCapture(record.container, check)).code !== 0) {
    engine.progress.fail();
    throw new LockiError(
      `the install step of plugin '${plugin.name}' finished, but its check (${
        check.join(" ")
      }) still fails`,
      "make the install step produce what the check looks for",
    );
  }
}

/** Calls the plugin's `command` and checks that it returns a command line. */
export function launchCommand(
  plugin: AgentPlugin,
  args: string[],
  context: SandboxContext,
): string[] {
  let argv: unknown;
  try {
    argv = plugin.command(args, context);
  } catch (error) {
    throw new PluginError(`plugin '${plugin.name}': command() failed: ${(error as Error).message}`);
  }
  if (
    !Array.isArray(argv) || argv.length === 0 ||
    argv.some((word) => typeof word !== "string" || word === "")
  ) {
    throw new PluginError(
      `plugin '${plugin.name}': command() returned ${JSON.stringify(argv)}, not a command line`,
      'return a non-empty list of strings, for example ["my-agent", "--yes", ...args]',
    );
  }
  return argv as string[];
}

/** Host environment variables the plugin may forward, for those that are set. */
export function forwardedEnvironment(plugin: AgentPlugin): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of plugin.forwardEnv ?? []) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}
