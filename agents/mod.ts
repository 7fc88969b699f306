import type { AgentPlugin } from "../plugins/api.ts";
import claude from "./claude.ts";
import codex from "./codex.ts";
import gemini from "./gemini.ts";
import opencode from "./opencode.ts";
import shell from "./shell.ts";

/** The agents compiled into Locki. */
export const BUILTIN_AGENTS: AgentPlugin[] = [shell, claude, gemini, codex, opencode];
