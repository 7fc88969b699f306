import type { AgentPlugin, InstallStep } from "./api.ts";

/** A plugin that cannot be used; the message names the plugin, the field and the fix. */
export class PluginError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = "PluginError";
  }
}

export const PLUGIN_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** Command names Locki itself uses, which no plugin may take. */
export const RESERVED_NAMES = [
  "shell",
  "ls",
  "list",
  "rm",
  "remove",
  "vm",
  "daemon",
  "plugin",
  "help",
  "completions",
  "doctor",
  "repair",
];

/** Checks every field of a plugin module's default export and returns it typed, or raises `PluginError`. */
export function validatePlugin(value: unknown, source: string): AgentPlugin {
  const problems: string[] = [];
  if (typeof value !== "object" || value === null) {
    throw new PluginError(
      `plugin ${source} has no default export object`,
      "end the module with `export default { name, description, install, command } satisfies AgentPlugin;`",
    );
  }
  const plugin = value as Record<string, unknown>;
  const label = typeof plugin.name === "string"
    ? `plugin '${plugin.name}' (${source})`
    : `plugin ${source}`;
  if (typeof plugin.name !== "string" || !PLUGIN_NAME.test(plugin.name)) {
    problems.push(
      `name: expected lowercase letters, digits and dashes starting with a letter (at most 32), got ${
        JSON.stringify(plugin.name)
      }`,
    );
  }
  if (Array.isArray(plugin.aliases)) {
    const seen = new Set([plugin.name]);
    for (const alias of plugin.aliases) {
      if (seen.has(alias)) problems.push(`aliases: '${alias}' repeats the name or another alias`);
      seen.add(alias);
    }
  }
  if (plugin.aliases !== undefined) {
    if (
      !Array.isArray(plugin.aliases) ||
      plugin.aliases.some((alias) => typeof alias !== "string" || !PLUGIN_NAME.test(alias))
    ) {
      problems.push("aliases: expected a list of names like the name");
    }
  }
  if (
    typeof plugin.description !== "string" || plugin.description.trim() === "" ||
    plugin.description.includes("\n")
  ) {
    problems.push("description: expected one non-empty line");
  }
  if (plugin.forwardEnv !== undefined) {
    const valid = Array.isArray(plugin.forwardEnv) &&
      plugin.forwardEnv.every((name) =>
        typeof name === "string" && /^[A-Z_][A-Z0-9_]*$/.test(name)
      );
    if (!valid) {
      problems.push(
        "forwardEnv: expected a list of environment variable names such as ANTHROPIC_API_KEY",
      );
    }
  }
  const installProblem = checkInstall(plugin.install);
  if (installProblem) problems.push(`install: ${installProblem}`);
  if (typeof plugin.command !== "function") {
    problems.push("command: expected a function (args, context) => string[]");
  }
  if (plugin.homeFiles !== undefined && typeof plugin.homeFiles !== "function") {
    problems.push("homeFiles: expected a function (context) => HomeFile[]");
  }
  if (plugin.instructionsPath !== undefined) {
    if (typeof plugin.instructionsPath !== "string" || !plugin.instructionsPath.startsWith("/")) {
      problems.push("instructionsPath: expected an absolute path inside the sandbox");
    }
  }
  if (plugin.versionArgs !== undefined) {
    if (
      !Array.isArray(plugin.versionArgs) ||
      plugin.versionArgs.some((arg) => typeof arg !== "string")
    ) {
      problems.push("versionArgs: expected a list of strings");
    }
  }
  if (problems.length > 0) {
    throw new PluginError(
      `${label} is invalid:\n  ${problems.join("\n  ")}`,
      "fix those fields; docs/PLUGINS.md describes each one",
    );
  }
  return value as AgentPlugin;
}

function checkInstall(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) {
    return 'expected { kind: "none" | "npm" | "script", ... }';
  }
  const step = value as Partial<InstallStep> & Record<string, unknown>;
  switch (step.kind) {
    case "none":
      return undefined;
    case "npm":
      if (
        typeof step.package !== "string" ||
        !/^(@[a-z0-9._-]+\/)?[a-z0-9._-]+(@[\w.^~<>=-]+)?$/.test(step.package)
      ) {
        return "package: expected an npm package name, optionally with @version";
      }
      if (typeof step.bin !== "string" || !/^[\w.-]+$/.test(step.bin)) {
        return "bin: expected the command the package installs";
      }
      return undefined;
    case "script":
      if (typeof step.script !== "string") return "script: expected shell script text";
      if (!Array.isArray(step.check) || step.check.length === 0) {
        return "check: expected a command line that exits 0 when installed";
      }
      return undefined;
    default:
      return `kind: expected "none", "npm" or "script", got ${JSON.stringify(step.kind)}`;
  }
}
