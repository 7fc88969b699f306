#!/bin/sh
# Installs Locki.
#
#   curl -fsSL <release address>/latest/download/install.sh | sh
#   sh install.sh [--prefix DIR] [--version vX.Y.Z] [--base-url URL]
#   sh install.sh --from-source DIR [--prefix DIR]
#
# By default it downloads the release binary for this OS and architecture,
# checks it against the release's SHA256SUMS, and installs it as
# PREFIX/bin/locki (PREFIX defaults to ~/.local). With --from-source it
# installs the checkout DIR instead: the source goes to PREFIX/lib/locki and
# PREFIX/bin/locki runs it with Deno, which is installed from npm when
# missing. Nothing is left half-installed: files are written next to their
# target and moved into place only once complete.
set -eu

releases_url=${LOCKI_RELEASES_URL:-https://github.com/locki-dev/locki/releases}
deno_version=2.9.6
prefix="${HOME:-}/.local"
version=latest
source_dir=
base_url=

fail() {
  printf 'locki install: error: %s\n' "$1" >&2
  [ $# -gt 1 ] && printf 'hint: %s\n' "$2" >&2
  exit 1
}
say() { printf 'locki install: %s\n' "$1" >&2; }

usage() {
  cat <<'EOF'
Usage: sh install.sh [options]

  --prefix DIR         install into DIR/bin (default: ~/.local)
  --version vX.Y.Z     install this release (default: the latest)
  --base-url URL       download the binary and SHA256SUMS from URL
  --from-source DIR    install the Locki checkout DIR, run by Deno
  -h, --help           show this help

LOCKI_RELEASES_URL overrides the address releases are downloaded from.
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || fail "--prefix needs a folder"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --version) [ $# -ge 2 ] || fail "--version needs a version such as v0.1.0"; version=$2; shift 2 ;;
    --version=*) version=${1#--version=}; shift ;;
    --base-url) [ $# -ge 2 ] || fail "--base-url needs an address"; base_url=$2; shift 2 ;;
    --base-url=*) base_url=${1#--base-url=}; shift ;;
    --from-source) [ $# -ge 2 ] || fail "--from-source needs a Locki checkout"; source_dir=$2; shift 2 ;;
    --from-source=*) source_dir=${1#--from-source=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) fail "unknown option '$1'" "run: sh install.sh --help" ;;
  esac
done

if [ -z "${HOME:-}" ] && [ "$prefix" = /.local ]; then
  fail "HOME is not set, so there is no default folder to install into" "pass one with --prefix DIR"
fi
# A literal ~ arrives when the shell did not expand it (--prefix=~/...).
# shellcheck disable=SC2088
case "$prefix" in
  "") fail "--prefix is empty" "pass a folder, for example --prefix \"\$HOME/.local\"" ;;
  "~/"*) prefix="$HOME/${prefix#"~/"}" ;;
esac
case "$prefix" in
  /*) ;;
  *) prefix="$(pwd)/$prefix" ;;
esac
bin="$prefix/bin"

# Checks that the folder can be written before anything is downloaded.
ensure_writable() {
  if ! mkdir -p "$1" 2>/dev/null || [ ! -w "$1" ]; then
    fail "cannot write to $1" "pick a folder you own with --prefix, for example: --prefix \"\$HOME/.local\""
  fi
}

# Quotes a word for a shell script.
quote() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# Removes the staging folder however the script ends.
cleanup_on_exit() {
  trap 'rm -rf "$staging"' EXIT
  trap 'rm -rf "$staging"; exit 130' INT TERM
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    fail "neither sha256sum nor shasum is installed, so the download cannot be checked" \
      "install coreutils (Linux) or use the shasum that comes with macOS"
  fi
}

download() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    fail "neither curl nor wget is installed" "install one of them and run the installer again"
  fi
}

platform() {
  os=$(uname -s)
  arch=$(uname -m)
  case "$os" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) fail "unsupported operating system '$os'" "Locki runs on Linux and macOS; on another system, build from source with deno compile" ;;
  esac
  case "$arch" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) fail "unsupported architecture '$arch'" "Locki runs on x86_64 and aarch64" ;;
  esac
  echo "$os-$arch"
}

path_advice() {
  case ":$PATH:" in
    *":$bin:"*) ;;
    *) say "add $bin to your PATH, for example in ~/.profile: export PATH=\"$bin:\$PATH\"" ;;
  esac
}

install_release() {
  target=$(platform)
  download_hint="check the version (--version) and your connection"
  if [ -n "$base_url" ]; then
    download_hint="check that $base_url serves locki-$target and SHA256SUMS"
  else
    if [ "$version" = latest ]; then
      base_url="$releases_url/latest/download"
    else
      base_url="$releases_url/download/$version"
    fi
  fi

  ensure_writable "$bin"
  staging=$(mktemp -d "$bin/.locki-install.XXXXXX") ||
    fail "cannot create a temporary folder in $bin" "check free space and permissions there"
  cleanup_on_exit

  asset="locki-$target"
  say "downloading $asset from $base_url"
  download "$base_url/$asset" "$staging/locki" ||
    fail "downloading $base_url/$asset failed" "$download_hint"
  download "$base_url/SHA256SUMS" "$staging/SHA256SUMS" ||
    fail "downloading $base_url/SHA256SUMS failed" "$download_hint"

  expected=$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1 }' "$staging/SHA256SUMS")
  [ -n "$expected" ] || fail "SHA256SUMS has no entry for $asset" "this release may not support $target"
  actual=$(sha256_of "$staging/locki")
  if [ "$actual" != "$expected" ]; then
    fail "checksum mismatch for $asset: expected $expected, got $actual" \
      "the download was corrupted or tampered with; nothing was installed, so run the installer again"
  fi

  chmod 755 "$staging/locki"
  mv -f "$staging/locki" "$bin/locki"
  say "installed $bin/locki ($("$bin/locki" --version 2>/dev/null || echo "version unknown"))"
  path_advice
}

# Finds Deno, or installs the pinned version from npm under PREFIX/lib.
find_deno() {
  if command -v deno >/dev/null 2>&1; then
    command -v deno
    return
  fi
  local_deno="$prefix/lib/locki-deno/node_modules/.bin/deno"
  if [ -x "$local_deno" ]; then
    echo "$local_deno"
    return
  fi
  command -v npm >/dev/null 2>&1 ||
    fail "Deno is not installed and npm is missing to install it" "install Node.js and npm, or Deno $deno_version"
  say "installing Deno $deno_version from npm into $prefix/lib/locki-deno"
  mkdir -p "$prefix/lib/locki-deno"
  if ! npm install --no-audit --no-fund --loglevel=error --prefix "$prefix/lib/locki-deno" \
    "deno@$deno_version" >&2; then
    rm -rf "$prefix/lib/locki-deno"
    fail "installing Deno from npm failed" "see npm's message above"
  fi
  echo "$local_deno"
}

install_source() {
  if [ ! -d "$source_dir" ]; then
    fail "$source_dir does not exist" "pass the folder you cloned Locki into"
  fi
  if [ ! -f "$source_dir/main.ts" ] || [ ! -f "$source_dir/deno.json" ] ||
    [ ! -f "$source_dir/core/bridge/policy.rules" ]; then
    fail "$source_dir is not a Locki checkout (no main.ts, deno.json and core/)" "pass the folder you cloned Locki into"
  fi
  source_dir=$(cd "$source_dir" && pwd)
  ensure_writable "$bin"
  ensure_writable "$prefix/lib"
  deno=$(find_deno)
  staging=$(mktemp -d "$prefix/lib/.locki-install.XXXXXX") ||
    fail "cannot create a temporary folder in $prefix/lib" "check free space and permissions there"
  cleanup_on_exit

  say "copying $source_dir"
  mkdir "$staging/locki"
  # The checkout's files that git tracks or would track (not ignored build
  # output), or every file but build output outside git.
  if git -C "$source_dir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # shellcheck disable=SC2016 # the inner sh expands $file, not this one
    (cd "$source_dir" && git ls-files -z --cached --others --exclude-standard |
      xargs -0 sh -c 'for file; do [ -f "$file" ] && printf "%s\0" "$file"; done' sh |
      tar --null -T - -cf -) | tar -xf - -C "$staging/locki"
  else
    (cd "$source_dir" && tar -cf - --exclude=./node_modules --exclude=./dist .) | tar -xf - -C "$staging/locki"
  fi

  say "fetching dependencies from npm (deno install)"
  (cd "$staging/locki" && "$deno" install --quiet >&2) ||
    fail "deno install failed in the copy of $source_dir" "see Deno's message above"
  cat >"$staging/locki-launcher" <<EOF
#!/bin/sh
# Written by Locki's install.sh: runs Locki from source with Deno.
exec $(quote "$deno") run -A --quiet $(quote "$prefix/lib/locki/main.ts") "\$@"
EOF
  chmod 755 "$staging/locki-launcher"
  "$deno" run -A --quiet "$staging/locki/main.ts" --version >/dev/null ||
    fail "the copied source does not start" "run: deno run -A $source_dir/main.ts --version"

  # The previous copy is kept until the new one is in place.
  if [ -e "$prefix/lib/locki" ]; then
    mv "$prefix/lib/locki" "$staging/previous"
  fi
  if ! mv "$staging/locki" "$prefix/lib/locki"; then
    [ -e "$staging/previous" ] && mv "$staging/previous" "$prefix/lib/locki"
    fail "moving the new copy to $prefix/lib/locki failed" "check free space and permissions there"
  fi
  mv -f "$staging/locki-launcher" "$bin/locki"
  installed=$("$bin/locki" --version) ||
    fail "the installed $bin/locki does not start" "run it to see why, then install again"
  say "installed $bin/locki ($installed)"
  path_advice
}

if [ -n "$source_dir" ]; then
  install_source
else
  install_release
fi
