import { renderRules, type Rule } from "./rules.ts";
import { STDIN_ARGUMENTS, STDIN_ARGUMENTS_THRESHOLD } from "./wire.ts";

/** Loopback port inside every sandbox where the proxy device exposes the daemon. */
export const BRIDGE_PORT_IN_SANDBOX = 7722;

/** OpenSSH client settings for the shims: only the daemon, only the sandbox's key, connection reuse. */
export function sshConfig(): string {
  return `# Written by Locki: how the git and gh shims reach the Locki daemon.
Host locki-bridge
  HostName 127.0.0.1
  Port ${BRIDGE_PORT_IN_SANDBOX}
  User locki
  IdentityFile /etc/locki/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile /etc/locki/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ControlMaster auto
  ControlPath /run/locki-bridge-%C
  ControlPersist 600
  ForwardAgent no
  ForwardX11 no
  ClearAllForwardings yes
  RequestTTY no
  # Set by git while it runs a hook; the daemon accepts only this worktree's index.
  SendEnv GIT_INDEX_FILE
  LogLevel ERROR
`;
}

export function knownHosts(hostPublicKey: string): string {
  const [type, key] = hostPublicKey.split(" ");
  return `[127.0.0.1]:${BRIDGE_PORT_IN_SANDBOX} ${type} ${key}\n`;
}

/**
 * The `git` and `gh` shim (one Perl script, which picks the tool from its
 * own file name). Perl is in every Debian base system, and it quotes arguments
 * without starting a process per argument, which matters for `git add` of
 * thousands of paths.
 */
export function shimScript(): string {
  return `#!/usr/bin/perl
# Written by Locki. Runs git or gh on the host through the Locki daemon,
# which checks each command against the bridge rules (/etc/locki/BRIDGE.md).
use strict;
use warnings;
use Cwd qw(getcwd);

my ($tool) = $0 =~ m{([^/]+)$};
my $tty = -t STDOUT ? "tty" : "notty";
sub quote { my $word = shift; $word =~ s/'/'\\\\''/g; return "'$word'"; }
my $cwd = getcwd() // "/";
my $request = join(" ", map { quote($_) } ("locki-bridge-1", $tty, $tool, $cwd, @ARGV));
my @ssh = ("/usr/bin/ssh", "-F", "/etc/locki/ssh_config", "-T", "locki-bridge");

# Long argument lists (git add of thousands of paths) go ahead of stdin,
# because an SSH exec request holds only about 32 KiB.
if (length($request) > ${STDIN_ARGUMENTS_THRESHOLD}) {
  my $arguments = join(" ", map { quote($_) } @ARGV);
  my @header = ("locki-bridge-1", $tty, $tool, $cwd, "${STDIN_ARGUMENTS}", length($arguments));
  my $header = join(" ", map { quote($_) } @header);
  pipe(my $reader, my $writer) or die "locki: pipe: $!\\n";
  my $feeder = fork() // die "locki: fork: $!\\n";
  if ($feeder == 0) {
    close $reader;
    binmode $writer;
    print $writer $arguments;
    my $buffer;
    while (sysread(STDIN, $buffer, 65536)) { print $writer $buffer; }
    close $writer;
    exit 0;
  }
  close $writer;
  my $client = fork() // die "locki: fork: $!\\n";
  if ($client == 0) {
    open(STDIN, "<&", $reader) or die "locki: $!\\n";
    exec { $ssh[0] } @ssh, $header or die "locki: cannot run ssh: $!\\n";
  }
  close $reader;
  waitpid($client, 0);
  my $status = $?;
  kill "TERM", $feeder;
  waitpid($feeder, 0);
  exit($status & 127 ? 128 + ($status & 127) : $status >> 8);
}
push @ssh, $request;

# Page long git output in the sandbox, as git would, unless told not to.
my %paged = map { $_ => 1 } qw(log diff show blame reflog);
my $first = (grep { !/^-/ } @ARGV)[0] // "";
my $page = $tool eq "git" && $tty eq "tty" && -t STDIN && $paged{$first}
  && !grep { $_ eq "--no-pager" || $_ eq "-P" } @ARGV;
exec { $ssh[0] } @ssh or die "locki: cannot run ssh: $!\\n" unless $page;

pipe(my $reader, my $writer) or die "locki: pipe: $!\\n";
my $client = fork() // die "locki: fork: $!\\n";
if ($client == 0) {
  close $reader;
  open(STDOUT, ">&", $writer) or die "locki: $!\\n";
  exec { $ssh[0] } @ssh or die "locki: cannot run ssh: $!\\n";
}
close $writer;
my $pager = fork() // die "locki: fork: $!\\n";
if ($pager == 0) {
  open(STDIN, "<&", $reader) or die "locki: $!\\n";
  $ENV{LESS} //= "FRX";
  exec("less") or exec("cat") or exit 1;
}
close $reader;
waitpid($client, 0);
my $status = $?;
waitpid($pager, 0);
exit($status & 127 ? 128 + ($status & 127) : $status >> 8);
`;
}

/**
 * Login shells read /etc/profile, which on Debian resets PATH; this puts the
 * shims first again.
 */
export function profileScript(): string {
  return `# Written by Locki: git and gh go through the Locki bridge.
case ":$PATH:" in
  *:/opt/locki/bin:*) ;;
  *) PATH="/opt/locki/bin:/var/cache/locki/agents/bin:/var/cache/locki/mise/shims:$PATH" ;;
esac
export PATH
`;
}

/** Instructions agents read about the bridge, rendered from the same rules the daemon enforces. */
export function bridgeInstructions(rules: Rule[], branch: string, remotes: string[]): string {
  return `# git and gh in this sandbox

This sandbox has no .git folder of its own. \`git\` and \`gh\` are Locki shims
that send each command to the Locki daemon on the host. The daemon runs it in
this sandbox's worktree only if the rules below allow it, and denies
anything else with exit code 126 and a message naming the rule.

This sandbox owns the branch \`${branch}\` and may create and use branches
named \`${branch}.<suffix>\`. It may read every ref (\`git show main:path\`,
\`git diff main...HEAD\`), and write only its own. Remotes: ${
    remotes.length > 0 ? remotes.map((name) => `\`${name}\``).join(", ") : "none"
  }. Paths must stay inside the worktree; config changes, hooks and pagers are
under Locki's control. Every git command also accepts \`-C <folder in the
worktree>\` and \`--no-pager\` before the subcommand.

Instead of commands that are denied:
- \`git reset --hard\`, \`git checkout -- .\`: \`git restore --staged --worktree --source=HEAD -- <paths>\`
- moving your branch to another commit: \`git switch -C ${branch} <commit>\`
- \`git checkout <branch>\`: \`git switch <your branch>\`; read others with \`git show <branch>:<path>\`
- \`git clean\`: delete the files with \`rm\`
- \`git commit -F <file outside the worktree>\`: \`git commit -F -\` with the message on stdin

${renderRules(rules)}
`;
}
