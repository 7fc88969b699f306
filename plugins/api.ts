/**
 * The contract every agent plugin's default export satisfies. Built-in
 * agents in `agents/` use only this file's types, exactly as a third-party
 * plugin does. See docs/PLUGINS.md for a complete example.
 */

/** Facts about the sandbox an agent is about to run in. */
export interface SandboxContext {
  /** Absolute path of the worktree, the same inside the sandbox and on the host. */
  worktree: string;
  branch: string;
  /** Home folder inside the sandbox (backed by the shared `~/.locki/home`). */
  home: string;
}

/** Install step that brings the agent's CLI into the sandbox. */
export type InstallStep =
  /** Nothing to install (a shell, a tool in the image). */
  | { kind: "none" }
  /**
   * An npm package installed with npm inside the sandbox, under the shared
   * cache volume, so the next sandbox finds it without downloading again.
   */
  | { kind: "npm"; package: string; bin: string }
  /** A shell script run as root inside the sandbox; `check` exits 0 when the agent is already installed. */
  | { kind: "script"; script: string; check: string[] };

/** A file in the shared home that the agent needs. */
export type HomeFile =
  /** Written only when missing, so a user's own settings are never overwritten. */
  | { path: string; seed: string }
  /** Read, changed and written back on every start, such as a list of trusted folders. */
  | { path: string; merge: (current: string | undefined, context: SandboxContext) => string };

export interface AgentPlugin {
  /** Command name: lowercase letters, digits and dashes, starting with a letter. */
  name: string;
  aliases?: string[];
  /** One line for `locki --help`. */
  description: string;
  /** Names of host environment variables to pass into the sandbox (API keys). Values are never stored. */
  forwardEnv?: string[];
  install: InstallStep;
  /** The command line that starts the agent with its permission prompts bypassed, with the user's arguments appended. */
  command: (args: string[], context: SandboxContext) => string[];
  /** Settings files in the shared home. Paths are relative to the home folder. */
  homeFiles?: (context: SandboxContext) => HomeFile[];
  /**
   * Absolute path inside the sandbox where the agent reads system-wide
   * instructions; Locki writes its sandbox instructions there.
   */
  instructionsPath?: string;
  /** Arguments that make the agent print its version, for checks. */
  versionArgs?: string[];
}
