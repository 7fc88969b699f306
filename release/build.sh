#!/bin/sh
# Builds Locki as single binaries with `deno compile`.
#
#   sh release/build.sh            the binary for this machine: dist/locki
#   sh release/build.sh --all      every release target, named locki-<os>-<arch>,
#                                  plus dist/SHA256SUMS
#
# NOTE: deno compile downloads the Deno runtime for each target on first use.
# Machines without access to Deno's download host cannot run this script.
set -eu
cd "$(dirname "$0")/.."

# Files read at run time are embedded next to the code: the bridge rules,
# and the image scripts the lima backend provisions into its VM.
compile() {
  deno compile --allow-all --no-check=remote --include core/bridge/policy.rules \
    --include vm/build-base-image.sh --include vm/debian-mirror.sh "$@" main.ts
}

if [ "${1:-}" != --all ]; then
  compile --output dist/locki
  dist/locki --version
  exit 0
fi

rm -rf dist
mkdir -p dist
for pair in \
  linux-x86_64:x86_64-unknown-linux-gnu \
  linux-aarch64:aarch64-unknown-linux-gnu \
  darwin-x86_64:x86_64-apple-darwin \
  darwin-aarch64:aarch64-apple-darwin; do
  name=${pair%%:*}
  target=${pair#*:}
  echo "building locki-$name ($target)" >&2
  compile --target "$target" --output "dist/locki-$name"
done
cp install.sh dist/install.sh
(cd dist && sha256sum locki-* install.sh >SHA256SUMS)
cat dist/SHA256SUMS
