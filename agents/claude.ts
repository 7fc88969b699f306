import type { AgentPlugin } from "../plugins/api.ts";

/**
 * Claude Code. Its bypass flag is refused as root unless IS_SANDBOX=1, which
 * every sandbox sets. Logins live in ~/.claude/ and ~/.claude.json, both in
 * the shared home.
 */
export default {
  name: "claude",
  description: "Claude Code with permission prompts bypassed",
  forwardEnv: [
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_MODEL",
    // A gateway or proxy in front of the API, and switches for traffic other than the model's.
    "ANTHROPIC_BASE_URL",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "DISABLE_AUTOUPDATER",
    "DISABLE_TELEMETRY",
    "DISABLE_ERROR_REPORTING",
  ],
  install: { kind: "npm", package: "@anthropic-ai/claude-code", bin: "claude" },
  command: (args) => ["claude", "--dangerously-skip-permissions", ...args],
  homeFiles: (context) => [
    {
      path: ".claude/settings.json",
      seed: JSON.stringify({ permissions: { defaultMode: "bypassPermissions" } }, null, 2) + "\n",
    },
    {
      // Trust is kept per folder, so each new worktree is added to the user's file.
      path: ".claude.json",
      merge: (current) => {
        const state = current ? JSON.parse(current) : {};
        state.hasCompletedOnboarding ??= true;
        state.bypassPermissionsModeAccepted = true;
        state.projects ??= {};
        state.projects[context.worktree] = {
          ...state.projects[context.worktree],
          hasTrustDialogAccepted: true,
        };
        return JSON.stringify(state, null, 2) + "\n";
      },
    },
  ],
  // Claude Code reads managed instructions from this path on Linux.
  instructionsPath: "/etc/claude-code/CLAUDE.md",
  versionArgs: ["claude", "--version"],
} satisfies AgentPlugin;
