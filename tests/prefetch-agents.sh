#!/usr/bin/env bash
# Fill an npm cache with the agent CLIs the tests install in sandboxes.
# Test containers have no network, so the tests copy this cache into the
# sandboxes' shared cache volume and npm installs from it offline.
#
# Usage: tests/prefetch-agents.sh [CACHE_DIR]   (default /var/cache/locki-test-npm)
set -euo pipefail

cache=${1:-/var/cache/locki-test-npm}
# Versions are pinned so a test run does not depend on the day's releases.
packages=(
  "@anthropic-ai/claude-code@2.1.332"
  "@google/gemini-cli@0.61.0"
  "@openai/codex@0.171.0"
  "opencode-ai@1.18.33"
  # Not an agent: install.sh fetches Deno from npm when it is missing.
  "deno@2.9.6"
)
stamp="$cache/.locki-prefetched"
wanted=$(printf '%s\n' "${packages[@]}")
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
mkdir -p "$cache"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for package in "${packages[@]}"; do
  printf '==> caching %s\n' "$package" >&2
  npm install --prefix "$scratch/$(echo "$package" | tr '/@' '__')" --cache "$cache" \
    --no-audit --no-fund --loglevel=error "$package" >/dev/null
done
printf '%s\n' "$wanted" >"$stamp"
