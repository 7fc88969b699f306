import type { AgentPlugin } from "../plugins/api.ts";

/** A login shell, or the command given after `--`: the sandbox without an agent. */
export default {
  name: "shell",
  description: "open a shell (or run a command) in the sandbox of a branch, creating it if needed",
  install: { kind: "none" },
  command: (args) => args.length > 0 ? args : ["/bin/bash", "-l"],
} satisfies AgentPlugin;
