import type { AgentPlugin } from "../plugins/api.ts";

/**
 * Gemini CLI. In yolo mode it still refuses tools in an untrusted folder, so
 * exactly the worktree is trusted (never `/`), and its own sandbox is off in
 * favour of Locki's.
 */
export default {
  name: "gemini",
  description: "Gemini CLI in yolo mode",
  forwardEnv: ["GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT"],
  install: { kind: "npm", package: "@google/gemini-cli", bin: "gemini" },
  command: (args) => ["gemini", "--yolo", ...args],
  homeFiles: (context) => [
    {
      path: ".gemini/settings.json",
      seed: JSON.stringify(
        { tools: { sandbox: false }, security: { folderTrust: { enabled: true } } },
        null,
        2,
      ) +
        "\n",
    },
    {
      path: ".gemini/trustedFolders.json",
      merge: (current) => {
        const folders = current ? JSON.parse(current) : {};
        folders[context.worktree] = "TRUST_FOLDER";
        return JSON.stringify(folders, null, 2) + "\n";
      },
    },
  ],
  instructionsPath: "/root/.gemini/GEMINI.md",
  versionArgs: ["gemini", "--version"],
} satisfies AgentPlugin;
