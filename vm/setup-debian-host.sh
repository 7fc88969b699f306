#!/usr/bin/env bash
# Prepare a Debian 12 host for Locki's `incus` backend: Incus from
# bookworm-backports, a daemon started without systemd when needed, a btrfs
# storage pool on a loop file, the default profile, uid mappings for the users
# who run Locki, and the default base image.
#
# Idempotent: every step checks its own state first, so a second run on a
# ready machine takes a few seconds.
#
# Usage: vm/setup-debian-host.sh [--user NAME]... [--skip-image] [--deno]
#   --user NAME   also let NAME use Incus and map NAME's uid into sandboxes
#                 (the invoking user, or $SUDO_USER, is always included)
#   --skip-image  do not build the default base image
#   --deno        also install the pinned Deno from npm
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
deno_version=2.9.6
pool_name=locki
pool_size=${LOCKI_POOL_SIZE:-30GiB}
users=()
build_image=1
install_deno=0

while [ $# -gt 0 ]; do
  case "$1" in
    --user) users+=("$2"); shift 2 ;;
    --skip-image) build_image=0; shift ;;
    --deno) install_deno=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

step() { printf '==> %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: must run as root (try: sudo $0 $*)" >&2
  exit 1
fi

if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  users+=("$SUDO_USER")
fi
users+=(root)

install_packages() {
  local mirror need=()
  mirror=$("$here/debian-mirror.sh")
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    step "adding bookworm-backports from $mirror"
    cat >/etc/apt/sources.list.d/locki-backports.sources <<EOF
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -qq
  fi
  command -v incus >/dev/null || need+=(incus)
  for pkg in debootstrap btrfs-progs openssh-client git; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    step "installing ${need[*]}"
    [ -n "$(ls /var/lib/apt/lists/*backports* 2>/dev/null)" ] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -t bookworm-backports "${need[@]}" >/dev/null
  fi
}

install_deno() {
  if command -v deno >/dev/null && deno --version | grep -q "^deno $deno_version "; then
    return
  fi
  step "installing deno $deno_version from npm"
  npm install -g --no-fund --no-audit "deno@$deno_version" >/dev/null
}

# Each user that runs Locki needs its uid mapped one-to-one into containers
# (raw.idmap "both UID 0"), which Incus allows only when root's subordinate
# ranges in /etc/subuid and /etc/subgid contain that uid. Returns 0 when a
# file changed, so the daemon must be restarted to read it.
ensure_subids() {
  local changed=1 file uid name
  for file in /etc/subuid /etc/subgid; do
    touch "$file"
    if ! grep -q '^root:1000000:1000000000$' "$file"; then
      echo 'root:1000000:1000000000' >>"$file"
      changed=0
    fi
    for name in "${users[@]}"; do
      if [ "$file" = /etc/subuid ]; then uid=$(id -u "$name"); else uid=$(id -g "$name"); fi
      if ! grep -q "^root:$uid:1\$" "$file"; then
        echo "root:$uid:1" >>"$file"
        changed=0
      fi
    done
  done
  return $changed
}

daemon_running() { incus info >/dev/null 2>&1; }

start_daemon() {
  if [ -d /run/systemd/system ]; then
    systemctl restart incus.socket incus.service
  else
    if pgrep -x incusd >/dev/null; then
      step "stopping incusd to reload uid maps"
      incus admin shutdown --timeout 30 >/dev/null 2>&1 || pkill -x incusd || true
      for _ in $(seq 1 50); do pgrep -x incusd >/dev/null || break; sleep 0.2; done
    fi
    step "starting incusd (no systemd on this host)"
    mkdir -p /var/log/incus
    # lxcfs gives containers a correct /proc view; optional.
    if command -v lxcfs >/dev/null && ! pgrep -x lxcfs >/dev/null; then
      # A killed lxcfs leaves its FUSE mount behind, and every access to it
      # then fails with "Transport endpoint is not connected".
      if grep -q ' /var/lib/incus-lxcfs ' /proc/mounts; then
        umount -l /var/lib/incus-lxcfs
      fi
      mkdir -p /var/lib/incus-lxcfs
      setsid lxcfs /var/lib/incus-lxcfs >/var/log/incus/lxcfs.log 2>&1 </dev/null &
    fi
    export PATH="/opt/incus/bin:$PATH"
    setsid /usr/libexec/incus/incusd --group incus-admin \
      >>/var/log/incus/incusd.log 2>&1 </dev/null &
  fi
  incus admin waitready --timeout 60
}

# Every unprivileged container maps to the same host uid range, so per-user
# kernel limits are shared by all sandboxes. With the defaults (128 inotify
# instances), systemd in the 17th or so container dies at boot. Values follow
# Incus's production set-up guide.
tune_kernel() {
  local file=/etc/sysctl.d/90-locki-incus.conf
  local wanted='fs.inotify.max_user_instances = 1048576
fs.inotify.max_user_watches = 1048576
fs.inotify.max_queued_events = 1048576
kernel.keys.maxkeys = 2000
kernel.keys.maxbytes = 2000000
vm.max_map_count = 262144'
  if [ "$(cat "$file" 2>/dev/null)" != "$wanted" ]; then
    step "raising kernel limits for many containers ($file)"
    printf '%s\n' "$wanted" >"$file"
  fi
  sysctl -q -p "$file" >/dev/null
}

init_daemon() {
  if ! incus storage show "$pool_name" >/dev/null 2>&1; then
    step "creating btrfs storage pool '$pool_name' ($pool_size loop file)"
    incus storage create "$pool_name" btrfs size="$pool_size" >/dev/null
  fi
  if ! incus profile device show default | grep -q '^root:'; then
    step "adding a root disk on '$pool_name' to the default profile"
    incus profile device add default root disk path=/ pool="$pool_name" >/dev/null
  fi
  # NOTE: no network is created. This script targets offline hosts, and
  # `incus admin init --minimal` cannot pick a free subnet on them; sandboxes
  # still get their own network namespace with loopback. On a host with
  # internet, add a bridge: incus network create locki0 && incus profile
  # device add default eth0 nic network=locki0 name=eth0
}

main() {
  install_packages
  if [ "$install_deno" = 1 ]; then install_deno; fi
  tune_kernel
  getent group incus-admin >/dev/null || groupadd --system incus-admin
  for name in "${users[@]}"; do
    [ "$name" = root ] || usermod -aG incus-admin "$name"
  done
  if ensure_subids || ! daemon_running; then
    start_daemon
  fi
  init_daemon
  if [ "$build_image" = 1 ]; then
    "$here/build-base-image.sh"
  fi
  step "incus backend ready"
}

main
