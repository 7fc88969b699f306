import { createHash } from "node:crypto";
import { basename, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { AgentPlugin } from "./api.ts";
import { PluginError, RESERVED_NAMES, validatePlugin } from "./validate.ts";

/** One plugin added with `locki plugin add`, as recorded in `plugins/registry.json`. */
export interface AddedPlugin {
  name: string;
  aliases: string[];
  description: string;
  /** Source the user gave: a path, an https URL or npm:package. */
  source: string;
  /** SHA-256 of the copied module; a file that no longer matches is not run. */
  sha256: string;
  /** The copy Locki runs, under `~/.locki/plugins/`. */
  file: string;
  addedAt: string;
}

/** A plugin as listed: built in, or added with its record. */
export interface PluginEntry {
  name: string;
  aliases: string[];
  description: string;
  builtin: boolean;
  added?: AddedPlugin;
}

export class PluginRegistry {
  constructor(readonly folder: string, readonly builtins: AgentPlugin[]) {}

  get file(): string {
    return join(this.folder, "registry.json");
  }

  async added(): Promise<AddedPlugin[]> {
    try {
      return JSON.parse(await Deno.readTextFile(this.file)) as AddedPlugin[];
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw new PluginError(
        `cannot read ${this.file}: ${(error as Error).message}`,
        "fix or delete that file",
      );
    }
  }

  /** Lists built-in and added plugins, from the registry file only: no plugin code runs. */
  async list(): Promise<PluginEntry[]> {
    const added = await this.added();
    const takenByAdded = new Set(added.flatMap((entry) => [entry.name, ...entry.aliases]));
    // An added plugin may replace a built-in (plugin add --force); the built-in then steps aside.
    const entries: PluginEntry[] = this.builtins
      .filter((plugin) => !takenByAdded.has(plugin.name))
      .map((plugin) => ({
        name: plugin.name,
        aliases: (plugin.aliases ?? []).filter((alias) => !takenByAdded.has(alias)),
        description: plugin.description,
        builtin: true,
      }));
    for (const entry of added) {
      entries.push({
        name: entry.name,
        aliases: entry.aliases,
        description: entry.description,
        builtin: false,
        added: entry,
      });
    }
    return entries;
  }

  /** Finds a plugin by name or alias and loads it; an added plugin whose file changed is refused. */
  async load(name: string): Promise<AgentPlugin> {
    const added = (await this.added()).find((entry) =>
      entry.name === name || entry.aliases.includes(name)
    );
    if (!added) {
      const builtin = this.builtins.find((plugin) =>
        plugin.name === name || plugin.aliases?.includes(name)
      );
      if (builtin) return builtin;
      throw new PluginError(
        `no agent plugin named '${name}'`,
        "see the installed ones with `locki plugin list`",
      );
    }
    const digest = await sha256OfFile(added.file).catch(() => "missing");
    if (digest !== added.sha256) {
      throw new PluginError(
        `plugin '${added.name}' changed since it was added (${added.file} ${
          digest === "missing" ? "is missing" : "has another SHA-256"
        }), so it is not run`,
        `review the change, then add it again: locki plugin add --force ${added.file} (keeps the edit) ` +
          `or locki plugin add --force ${added.source} (the original)`,
      );
    }
    return await importPlugin(added.file, added.source);
  }

  /**
   * Validates a plugin module and copies it into the plugins folder. Sources:
   * a local path, an https URL, or npm:package (its `main` file).
   */
  async add(source: string, options: { force: boolean; cwd: string }): Promise<AddedPlugin> {
    await Deno.mkdir(this.folder, { recursive: true, mode: 0o700 });
    const staging = await Deno.makeTempDir({ dir: this.folder, prefix: ".adding-" });
    try {
      const fetched = await fetchSource(source, staging, options.cwd);
      const plugin = await importPlugin(fetched, source);
      const names = [plugin.name, ...(plugin.aliases ?? [])];
      const clash = names.find((name) => RESERVED_NAMES.includes(name));
      if (clash) {
        throw new PluginError(
          `plugin ${source} takes the name '${clash}', which is a Locki command`,
          "rename the plugin",
        );
      }
      const builtinClash = names.find((name) =>
        this.builtins.some((builtin) => builtin.name === name || builtin.aliases?.includes(name))
      );
      if (builtinClash && !options.force) {
        throw new PluginError(
          `plugin ${source} takes the name '${builtinClash}' of a built-in agent`,
          "rename it, or pass --force to use it in place of the built-in",
        );
      }
      const existing = await this.added();
      const otherNames = existing.filter((entry) => entry.name !== plugin.name)
        .flatMap((entry) => [entry.name, ...entry.aliases]);
      const taken = names.find((name) => otherNames.includes(name));
      if (taken) {
        throw new PluginError(
          `plugin ${source} takes the name '${taken}', which an added plugin already uses`,
          "rename it or change its aliases, or remove the other plugin first (locki plugin remove)",
        );
      }
      const replaced = existing.find((entry) => entry.name === plugin.name);
      if (replaced && !options.force) {
        throw new PluginError(
          `a plugin named '${plugin.name}' is already added from ${replaced.source}`,
          "pass --force to replace it",
        );
      }
      const file = join(this.folder, `${plugin.name}.ts`);
      await Deno.copyFile(fetched, file);
      const record: AddedPlugin = {
        name: plugin.name,
        aliases: plugin.aliases ?? [],
        description: plugin.description,
        source: /^(https:\/\/|npm:)/.test(source) ? source : resolve(options.cwd, source),
        sha256: await sha256OfFile(file),
        file,
        addedAt: new Date().toISOString(),
      };
      const others = existing.filter((entry) => entry.name !== plugin.name);
      await this.#save([...others, record]);
      return record;
    } finally {
      await Deno.remove(staging, { recursive: true }).catch(() => {});
    }
  }

  async remove(name: string): Promise<AddedPlugin> {
    const existing = await this.added();
    const entry = existing.find((candidate) => candidate.name === name);
    if (!entry) {
      const builtin = this.builtins.some((plugin) => plugin.name === name);
      throw new PluginError(
        builtin
          ? `'${name}' is a built-in agent and cannot be removed`
          : `no added plugin named '${name}'`,
        "see the added ones with `locki plugin list`",
      );
    }
    await this.#save(existing.filter((candidate) => candidate !== entry));
    await Deno.remove(entry.file).catch(() => {});
    return entry;
  }

  async #save(entries: AddedPlugin[]): Promise<void> {
    const temporary = `${this.file}.${Deno.pid}.tmp`;
    await Deno.writeTextFile(temporary, JSON.stringify(entries, null, 2) + "\n", { mode: 0o600 });
    await Deno.rename(temporary, this.file);
  }
}

async function fetchSource(source: string, staging: string, cwd: string): Promise<string> {
  if (source.startsWith("https://")) {
    const response = await fetch(source).catch((error) => {
      throw new PluginError(`cannot download plugin ${source}: ${error.message}`);
    });
    if (!response.ok) {
      throw new PluginError(`cannot download plugin ${source}: HTTP ${response.status}`);
    }
    const file = join(staging, basename(new URL(source).pathname) || "plugin.ts");
    await Deno.writeTextFile(file, await response.text());
    return file;
  }
  if (source.startsWith("npm:")) {
    const spec = source.slice(4);
    const pack = await new Deno.Command("npm", {
      args: ["pack", "--silent", "--pack-destination", staging, spec],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!pack.success) {
      throw new PluginError(
        `npm pack ${spec} failed: ${new TextDecoder().decode(pack.stderr).trim()}`,
      );
    }
    const tarball = join(staging, new TextDecoder().decode(pack.stdout).trim().split("\n").pop()!);
    const unpack = await new Deno.Command("tar", { args: ["-xzf", tarball, "-C", staging] })
      .output();
    if (!unpack.success) throw new PluginError(`cannot unpack ${tarball}`);
    const manifest = JSON.parse(await Deno.readTextFile(join(staging, "package", "package.json")));
    const main = manifest.main ?? "mod.ts";
    return join(staging, "package", main);
  }
  const path = isAbsolute(source) ? source : resolve(cwd, source);
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new PluginError(`plugin ${path} is not a file`);
  } catch (error) {
    if (error instanceof PluginError) throw error;
    throw new PluginError(`plugin file not found: ${path}`, "give the path of a .ts or .js module");
  }
  const file = join(staging, basename(path));
  await Deno.copyFile(path, file);
  return file;
}

/** Imports a plugin module from its absolute path and validates its default export. */
export async function importPlugin(file: string, source: string): Promise<AgentPlugin> {
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(file).href);
  } catch (error) {
    throw new PluginError(
      `plugin ${source} failed to load: ${(error as Error).message.split("\n")[0]}`,
      "check that it parses and that it imports nothing at run time except type-only imports",
    );
  }
  return validatePlugin(module.default, source);
}

export async function sha256OfFile(file: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(file)).digest("hex");
}
