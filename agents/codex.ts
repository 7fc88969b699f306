import type { AgentPlugin } from "../plugins/api.ts";

/**
 * OpenAI Codex CLI. Its own Linux sandbox cannot create namespaces inside a
 * container, so it is turned off and Locki's container is the sandbox.
 */
export default {
  name: "codex",
  description: "OpenAI Codex CLI with approvals and its own sandbox off",
  forwardEnv: ["OPENAI_API_KEY", "OPENAI_BASE_URL"],
  install: { kind: "npm", package: "@openai/codex", bin: "codex" },
  command: (args) => ["codex", "--dangerously-bypass-approvals-and-sandbox", ...args],
  homeFiles: () => [
    {
      path: ".codex/config.toml",
      seed: 'approval_policy = "never"\nsandbox_mode = "danger-full-access"\n',
    },
  ],
  instructionsPath: "/root/.codex/AGENTS.md",
  versionArgs: ["codex", "--version"],
} satisfies AgentPlugin;
