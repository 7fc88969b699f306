import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from "node:path";
import {
  checkText,
  Denied,
  type ParsedCommand,
  parseGhCommand,
  parseGitCommand,
  renderOption,
} from "./command_parser.ts";
import type { ArgumentSpec, Rule, ValueKind } from "./rules.ts";

/** Identity of the calling sandbox: its branch and worktree as Locki recorded them, never as the client sends them. */
export interface SandboxIdentity {
  branch: string;
  worktree: string;
  /** Branches of the repository's other sandboxes, which this one never owns. */
  otherSandboxBranches: string[];
}

/** Facts about the repository that decisions need; the daemon reads them with host git. */
export interface RepositoryFacts {
  /** Whether `arg` names a revision or range (`git rev-parse --verify`). */
  isRevision(arg: string): Promise<boolean>;
  /** The branch checked out in the sandbox's worktree, or undefined when HEAD is detached. */
  currentBranch(): Promise<string | undefined>;
  remotes(): Promise<string[]>;
  /** Remote of the current branch's upstream, if it has one. */
  upstreamRemote(): Promise<string | undefined>;
  /** Whether HEAD is a commit this sandbox made that no remote-tracking ref contains. */
  headIsUnpushedOwnCommit(): Promise<boolean>;
  /** Whether the stash entry `stash@{n}` was made by this sandbox. */
  ownsStash(entry: string): Promise<boolean>;
  /** `owner/name` of the GitHub repository behind the `origin` remote, if it is one. */
  githubRepository(): Promise<string | undefined>;
}

/** Command line and directory the daemon runs once a command is allowed. */
export interface Decision {
  tool: "git" | "gh";
  /** Arguments after `git` or `gh`, rebuilt by Locki (kept `-c` settings first). */
  args: string[];
  /** The subcommand, such as `status` or `stash`. */
  subcommand: string;
  /** Absolute directory inside the worktree to run in. */
  cwd: string;
  /** Work to do after a successful run. */
  after?: "record-stash";
}

/**
 * Returns whether git runs with GIT_LITERAL_PATHSPECS for this subcommand. Not for
 * stash, whose internal `git clean :/` breaks under literal pathspecs, so
 * stash paths are checked for pathspec magic instead.
 */
export function literalPathspecs(subcommand: string): boolean {
  return subcommand !== "stash";
}

/** Settings `git config <key>` may read: none of them contains a secret or names a program. */
const READABLE_CONFIG = [
  "user.name",
  "user.email",
  "init.defaultbranch",
  "core.autocrlf",
  "core.ignorecase",
  "core.eol",
];

/** Subcommands whose parser understands `--end-of-options` in git 2.39. */
const END_OF_OPTIONS = new Set([
  "log",
  "show",
  "diff",
  "switch",
  "branch",
  "merge",
  "cherry-pick",
  "rebase",
]);

/** Subcommands that could run textconv or external diff programs. */
const DIFF_PROGRAMS = new Set(["diff", "log", "show"]);

/**
 * Decides whether the sandbox may run `tool args` from `clientCwd`, and
 * returns the command line to run. Raises `Denied` with the rule that
 * refused it. The client's directory is only a hint: it must lie inside the
 * sandbox's worktree, reached without symlinks.
 */
export async function decide(
  tool: string,
  args: string[],
  clientCwd: string,
  identity: SandboxIdentity,
  facts: RepositoryFacts,
  rules: Rule[],
): Promise<Decision> {
  if (tool !== "git" && tool !== "gh") {
    throw new Denied("tool", `'${tool}' is not a bridged command (git, gh)`);
  }
  for (const arg of args) checkText(arg, "an argument", true);
  const parsed = tool === "git" ? parseGitCommand(args, rules) : parseGhCommand(args, rules);
  // Only the final directory must lie in the worktree, so `git -C <worktree>`
  // works from anywhere in the sandbox.
  let target = normalize(clientCwd);
  for (const directory of parsed.directories) target = resolve(target, directory);
  const what = parsed.directories.length > 0
    ? `-C ${parsed.directories.join(" -C ")}`
    : "the current directory";
  const cwd = await checkDirectory(identity.worktree, target, what);
  const context: Context = {
    parsed,
    identity,
    facts,
    cwd,
    name: `${tool} ${parsed.rule.command.join(" ")}`,
  };
  for (const option of parsed.options) {
    if (option.spec.kind === "PATH" && option.value !== undefined && option.value !== "-") {
      await checkPath(context, option.value);
    }
    if (option.spec.kind === "OWN" && option.value !== undefined) checkOwned(context, option.value);
  }
  const assigned = await assignPositionals(context);
  const extra = await runCheck(context, assigned);

  const words = [...parsed.rule.command];
  const options = parsed.options.map(renderOption);
  if (tool === "git" && DIFF_PROGRAMS.has(words[0])) options.push("--no-ext-diff", "--no-textconv");
  if (tool === "git" && words[0] === "blame") options.push("--no-textconv");
  options.push(...extra.options);

  if (tool === "gh") {
    // Every gh call is pinned to the repository's own GitHub project.
    const repository = await facts.githubRepository();
    if (!repository) {
      throw new Denied(
        "gh-repository",
        `${context.name}: the origin remote is not a GitHub repository`,
      );
    }
    options.push(`--repo=${repository}`);
  }

  const rebuilt = [...parsed.config, ...words, ...options];
  const leading = extra.positionals ?? assigned.leading;
  if (leading.length > 0) {
    if (tool === "git" && END_OF_OPTIONS.has(words[0])) rebuilt.push("--end-of-options");
    rebuilt.push(...leading);
  }
  if (assigned.paths.length > 0 || (assigned.sawPaths && tool === "git")) {
    rebuilt.push("--", ...assigned.paths);
  }
  return { tool, args: rebuilt, subcommand: words[0], cwd, after: extra.after };
}

interface Context {
  parsed: ParsedCommand;
  identity: SandboxIdentity;
  facts: RepositoryFacts;
  cwd: string;
  name: string;
}

interface Assigned {
  /** Positionals before `--`, each with its kind, in order. */
  items: Array<{ kind: ValueKind; value: string }>;
  leading: string[];
  paths: string[];
  sawPaths: boolean;
}

async function assignPositionals(context: Context): Promise<Assigned> {
  const { parsed, name } = context;
  const rule = parsed.rule;
  let leadingArgs = parsed.positionals;
  let pathArgs: string[] = [];

  if (rule.afterDashDash) {
    pathArgs = parsed.afterDashDash;
    if (!parsed.sawDashDash && rule.positionals.some((spec) => spec.kind === "REV")) {
      // Like git: leading arguments are revisions until one is not, and that
      // one and the rest are paths.
      const revisions: string[] = [];
      for (const arg of leadingArgs) {
        if (pathArgs.length === 0 && !arg.startsWith("-") && await context.facts.isRevision(arg)) {
          revisions.push(arg);
        } else {
          pathArgs.push(arg);
        }
      }
      leadingArgs = revisions;
    } else if (!parsed.sawDashDash && rule.positionals.length === 0) {
      pathArgs = leadingArgs;
      leadingArgs = [];
    }
    if (rule.command[0] === "blame" && pathArgs.length !== 1) {
      throw new Denied(name, `${name}: name exactly one file to blame`);
    }
  } else if (parsed.sawDashDash) {
    const onlyPaths = rule.positionals.length === 1 && rule.positionals[0].kind === "PATH";
    if (!onlyPaths) throw new Denied(name, `${name}: '--' is not allowed here`);
    leadingArgs = [...leadingArgs, ...parsed.afterDashDash];
  }

  const items = assignItems(name, rule.positionals, leadingArgs);
  for (const item of items) await checkValue(context, item.kind, item.value);
  for (const path of pathArgs) await checkPath(context, path);

  const onlyPathItems = items.length > 0 && items.every((item) => item.kind === "PATH");
  return {
    items,
    leading: onlyPathItems ? [] : items.map((item) => item.value),
    paths: onlyPathItems ? items.map((item) => item.value) : pathArgs,
    sawPaths: onlyPathItems || pathArgs.length > 0,
  };
}

function assignItems(
  name: string,
  specs: ArgumentSpec[],
  args: string[],
): Array<{ kind: ValueKind; value: string }> {
  const items: Array<{ kind: ValueKind; value: string }> = [];
  let index = 0;
  for (const spec of specs) {
    if (spec.count === "many") {
      while (index < args.length) items.push({ kind: spec.kind, value: args[index++] });
    } else if (index < args.length) {
      items.push({ kind: spec.kind, value: args[index++] });
    } else if (spec.count === "one") {
      throw new Denied(name, `${name}: missing ${spec.kind.toLowerCase()} argument`);
    }
  }
  if (index < args.length) {
    throw new Denied(name, `${name}: unexpected argument '${args[index]}'`);
  }
  return items;
}

async function checkValue(context: Context, kind: ValueKind, value: string): Promise<void> {
  const { name } = context;
  if (value === "-") {
    throw new Denied(
      "leading-dash",
      `${name}: '-' (the previous branch or stdin) is not supported; name it`,
    );
  }
  if (value.startsWith("-")) {
    throw new Denied("leading-dash", `${name}: the argument '${value}' must not start with '-'`);
  }
  checkText(value, `${name} argument`);
  if (value.length > 4096) {
    throw new Denied("size", `${name}: an argument is longer than 4096 characters`);
  }
  switch (kind) {
    case "PATH":
      await checkPath(context, value);
      return;
    case "OWN":
      checkOwned(context, value);
      return;
    case "REMOTE":
      await checkRemote(context, value);
      return;
    case "STASH":
      if (!/^(stash@\{\d+\}|\d+)$/.test(value)) {
        throw new Denied(name, `${name}: '${value}' is not a stash entry such as stash@{0}`);
      }
      return;
    case "UPSTREAM": {
      const slash = value.indexOf("/");
      if (slash <= 0) {
        throw new Denied(name, `${name}: '${value}' is not of the form remote/branch`);
      }
      await checkRemote(context, value.slice(0, slash));
      return;
    }
    default:
      return;
  }
}

/** Branch names the sandbox owns: its own branch and `<branch>.<suffix>` that no other sandbox uses. */
export function ownsBranch(identity: SandboxIdentity, name: string): boolean {
  const short = name.startsWith("refs/heads/") ? name.slice("refs/heads/".length) : name;
  if (short === identity.branch) return true;
  return short.startsWith(identity.branch + ".") && short.length > identity.branch.length + 1 &&
    !identity.otherSandboxBranches.includes(short);
}

function checkOwned(context: Context, name: string): void {
  if (!ownsBranch(context.identity, name)) {
    const own = context.identity.branch;
    throw new Denied(
      "ownership",
      `${context.name}: branch '${name}' does not belong to this sandbox; it owns '${own}' and '${own}.<suffix>'`,
    );
  }
}

async function checkRemote(context: Context, remote: string): Promise<void> {
  const remotes = await context.facts.remotes();
  if (!remotes.includes(remote)) {
    throw new Denied(
      "remotes",
      `${context.name}: '${remote}' is not a configured remote (${
        remotes.join(", ") || "none"
      }); URLs are not allowed`,
    );
  }
}

async function checkPath(context: Context, path: string): Promise<void> {
  checkText(path, `${context.name} path`);
  if (path.startsWith("-")) {
    throw new Denied(
      "leading-dash",
      `${context.name}: the path '${path}' must not start with '-'; use ./${path}`,
    );
  }
  if (!literalPathspecs(context.parsed.rule.command[0]) && path.startsWith(":")) {
    throw new Denied(
      "pathspec-magic",
      `${context.name}: pathspec magic ('${path}') is not allowed; name the path`,
    );
  }
  const absolute = normalize(isAbsolute(path) ? path : join(context.cwd, path));
  if (!inside(context.identity.worktree, absolute)) {
    throw new Denied(
      "outside-worktree",
      `${context.name}: the path '${path}' is outside the sandbox's worktree`,
    );
  }
  await checkNoSymlinks(
    context.identity.worktree,
    dirname(absolute),
    `${context.name}: the path '${path}'`,
  );
}

async function checkDirectory(worktree: string, directory: string, what: string): Promise<string> {
  const absolute = normalize(directory);
  if (!isAbsolute(absolute) || !inside(worktree, absolute)) {
    throw new Denied(
      "outside-worktree",
      `${what} (${directory}) is outside the sandbox's worktree ${worktree}`,
    );
  }
  await checkNoSymlinks(worktree, absolute, what);
  return absolute;
}

/**
 * Walks from `root` to `target` one component at a time and rejects any
 * symlink on the way.
 * NOTE: the sandbox could swap a checked folder for a symlink between this
 * check and git's start. What then protects the host is git's own boundary: GIT_DIR and
 * GIT_WORK_TREE come from the record, and git refuses pathspecs outside the
 * work tree and paths "beyond a symbolic link", so the swap cannot make it
 * read or write outside the worktree.
 */
async function checkNoSymlinks(root: string, target: string, what: string): Promise<void> {
  let current = root;
  for (const part of relative(root, target).split(sep).filter(Boolean)) {
    current = join(current, part);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(current);
    } catch {
      return; // Missing folders cannot lead outside; git reports them itself.
    }
    if (info.isSymlink) throw new Denied("symlink", `${what} goes through the symlink ${current}`);
  }
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

interface CheckResult {
  options: string[];
  /** Replacement for the positional arguments, when the check spells them out. */
  positionals?: string[];
  after?: "record-stash";
}

async function runCheck(context: Context, assigned: Assigned): Promise<CheckResult> {
  const { parsed, facts, name } = context;
  const has = (canonical: string) =>
    parsed.options.some((option) => option.spec.canonical === canonical);
  const values = assigned.items;
  switch (parsed.rule.check) {
    case undefined:
      return { options: [] };
    case "commit": {
      await requireOwnHead(context);
      if (has("--amend") && !await facts.headIsUnpushedOwnCommit()) {
        throw new Denied(
          "amend",
          `${name}: --amend would rewrite a commit that was pushed or made before this sandbox; make a new commit instead`,
        );
      }
      return { options: [] };
    }
    case "own-head": {
      await requireOwnHead(context);
      const target = values.find((item) => item.kind === "OWN");
      if (target) checkOwned(context, target.value);
      return { options: [] };
    }
    case "push":
      return await checkPush(context, values.map((item) => item.value), has("--delete"));
    case "pull":
    case "fetch": {
      if (parsed.rule.check === "pull") await requireOwnHead(context);
      for (const item of values.filter((item) => item.kind === "REFSPEC")) {
        if (item.value.includes(":") || item.value.startsWith("+")) {
          throw new Denied(
            "refspec",
            `${name}: the refspec '${item.value}' would write a local ref; name only the remote branch`,
          );
        }
      }
      return { options: [] };
    }
    case "switch": {
      const creates = parsed.options.some((option) =>
        option.spec.canonical === "--create" ||
        option.spec.canonical === "--force-create"
      );
      if (!creates && !has("--detach")) {
        const target = values[0]?.value;
        if (!target) throw new Denied(name, `${name}: name the branch to switch to`);
        checkOwned(context, target);
      }
      return { options: [] };
    }
    case "branch":
      return checkBranch(context, values.map((item) => item.value), has);
    case "stash-push":
      return { options: [], after: "record-stash" };
    case "stash-own": {
      const entry = values[0]?.value ?? "stash@{0}";
      const normalized = /^\d+$/.test(entry) ? `stash@{${entry}}` : entry;
      if (!await facts.ownsStash(normalized)) {
        throw new Denied("stash", `${name}: ${normalized} was not made by this sandbox`);
      }
      return { options: [], positionals: [normalized] };
    }
    case "config-read": {
      const key = values[0]?.value.toLowerCase() ?? "";
      if (!READABLE_CONFIG.includes(key)) {
        throw new Denied(
          "config",
          `${name}: reading '${values[0]?.value}' is not allowed; readable: ${
            READABLE_CONFIG.join(", ")
          }`,
        );
      }
      return { options: [] };
    }
    case "gh-pr-create": {
      const current = await facts.currentBranch();
      if (!current || !ownsBranch(context.identity, current)) {
        throw new Denied("ownership", `${name}: the current branch must belong to this sandbox`);
      }
      return { options: [`--head=${current}`] };
    }
    default:
      throw new Denied("rules", `${name}: unknown check '${parsed.rule.check}' in the rules`);
  }
}

async function requireOwnHead(context: Context): Promise<void> {
  const current = await context.facts.currentBranch();
  if (current !== undefined && !ownsBranch(context.identity, current)) {
    throw new Denied(
      "ownership",
      `${context.name}: the checked-out branch '${current}' does not belong to this sandbox`,
    );
  }
}

async function checkPush(
  context: Context,
  positionals: string[],
  deleting: boolean,
): Promise<CheckResult> {
  const { facts, name } = context;
  const remotes = await facts.remotes();
  let remote: string;
  let refspecs: string[];
  if (positionals.length === 0) {
    remote = await facts.upstreamRemote() ?? (remotes.includes("origin") ? "origin" : "");
    if (!remote) throw new Denied("remotes", `${name}: name the remote to push to`);
    refspecs = [];
  } else {
    [remote, ...refspecs] = positionals;
  }
  if (!remotes.includes(remote)) {
    throw new Denied(
      "remotes",
      `${name}: '${remote}' is not a configured remote (${remotes.join(", ") || "none"})`,
    );
  }
  const current = await facts.currentBranch();
  if (refspecs.length === 0) {
    if (deleting) throw new Denied(name, `${name}: name the branch to delete`);
    if (!current || !ownsBranch(context.identity, current)) {
      throw new Denied("ownership", `${name}: the current branch does not belong to this sandbox`);
    }
    refspecs = ["HEAD"];
  }
  const rebuilt: string[] = [];
  for (const refspec of refspecs) {
    const force = refspec.startsWith("+") ? "+" : "";
    const body = force ? refspec.slice(1) : refspec;
    const colon = body.indexOf(":");
    const source = colon === -1 ? body : body.slice(0, colon);
    let destination = colon === -1 ? undefined : body.slice(colon + 1);
    if (deleting || source === "") {
      const target = deleting ? body : destination ?? "";
      if (!ownsBranch(context.identity, target)) {
        throw new Denied(
          "ownership",
          `${name}: deleting '${target}' on the remote is not allowed; it is not this sandbox's`,
        );
      }
      rebuilt.push(deleting ? `refs/heads/${strip(target)}` : `:refs/heads/${strip(target)}`);
      continue;
    }
    if (source !== "HEAD" && !ownsBranch(context.identity, source)) {
      throw new Denied(
        "ownership",
        `${name}: pushing '${source}' is not allowed; push HEAD or this sandbox's own branch`,
      );
    }
    if (destination === undefined) destination = source === "HEAD" ? current : source;
    if (!destination || !ownsBranch(context.identity, destination)) {
      throw new Denied(
        "ownership",
        destination?.startsWith("refs/") && !destination.startsWith("refs/heads/")
          ? `${name}: the remote ref '${destination}' is not a branch of this sandbox; only branches can be pushed`
          : `${name}: the remote branch '${
            destination ?? "(detached HEAD)"
          }' does not belong to this sandbox`,
      );
    }
    const sourceRef = source === "HEAD" ? "HEAD" : `refs/heads/${strip(source)}`;
    rebuilt.push(`${force}${sourceRef}:refs/heads/${strip(destination)}`);
  }
  return { options: [], positionals: [remote, ...rebuilt] };
}

function strip(name: string): string {
  return name.startsWith("refs/heads/") ? name.slice("refs/heads/".length) : name;
}

function checkBranch(
  context: Context,
  names: string[],
  has: (canonical: string) => boolean,
): CheckResult {
  const { name, identity } = context;
  const modifies = [
    "--delete",
    "-D",
    "--move",
    "-M",
    "--set-upstream-to",
    "--unset-upstream",
    "--force",
  ];
  const mode = modifies.find(has);
  const listing = [
    "--list",
    "--all",
    "--remotes",
    "--show-current",
    "--contains",
    "--no-contains",
    "--merged",
    "--no-merged",
    "--points-at",
  ].some(has);
  if (!mode && (listing || names.length === 0)) return { options: [] }; // listing reads only
  if (mode === "--delete" || mode === "-D") {
    if (names.length === 0) throw new Denied(name, `${name}: name the branch to delete`);
    for (const branch of names) checkOwned(context, branch);
    if (names.includes(identity.branch)) {
      throw new Denied(
        "ownership",
        `${name}: the sandbox's own branch '${identity.branch}' cannot be deleted`,
      );
    }
    return { options: [] };
  }
  if (mode === "--move" || mode === "-M") {
    if (names.length !== 2) throw new Denied(name, `${name}: give the old and the new branch name`);
    for (const branch of names) checkOwned(context, branch);
    if (names[0] === identity.branch) {
      throw new Denied(
        "ownership",
        `${name}: the sandbox's own branch '${identity.branch}' cannot be renamed`,
      );
    }
    return { options: [] };
  }
  if (mode === "--set-upstream-to" || mode === "--unset-upstream") {
    if (names.length > 1) throw new Denied(name, `${name}: name at most one branch`);
    if (names[0]) checkOwned(context, names[0]);
    return { options: [] };
  }
  // Creating a branch: `git branch <own-name> [<start>]`, with --force to reset one.
  if (names.length === 0 || names.length > 2) {
    throw new Denied(name, `${name}: give the new branch and an optional start`);
  }
  checkOwned(context, names[0]);
  return { options: [] };
}
