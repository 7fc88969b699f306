import type { AgentPlugin } from "../plugins/api.ts";

/** OpenCode, with every permission (including paths outside the project) set to allow. */
export default {
  name: "opencode",
  description: "OpenCode with all permissions allowed",
  forwardEnv: [
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
    "GEMINI_API_KEY",
    // Switches for traffic other than the model's: update checks and the model catalogue.
    "OPENCODE_DISABLE_AUTOUPDATE",
    "OPENCODE_DISABLE_MODELS_FETCH",
  ],
  install: { kind: "npm", package: "opencode-ai", bin: "opencode" },
  command: (args) => ["opencode", ...args],
  homeFiles: () => [
    {
      path: ".config/opencode/opencode.json",
      seed: JSON.stringify(
        {
          $schema: "https://opencode.ai/config.json",
          permission: {
            edit: "allow",
            bash: "allow",
            webfetch: "allow",
            external_directory: "allow",
          },
        },
        null,
        2,
      ) + "\n",
    },
  ],
  instructionsPath: "/root/.config/opencode/AGENTS.md",
  versionArgs: ["opencode", "--version"],
} satisfies AgentPlugin;
