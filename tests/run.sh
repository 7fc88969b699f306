#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian 12 machine (Incus, the
# base image, Deno, a non-root test user), then run the whole suite. The last
# line is the summary `N passed, N failed`; the exit code is non-zero when
# anything failed.
#
# Usage: sudo tests/run.sh [deno test filter]
set -uo pipefail

cd "$(dirname "$0")/.."
test_user=locki-tester

if ! id "$test_user" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$test_user"
fi
for tool in script perl ruby shellcheck busybox; do
  command -v "$tool" >/dev/null || {
    apt-get install -y -qq bsdutils perl ruby shellcheck busybox-static >/dev/null
    break
  }
done

if ! ./vm/setup-debian-host.sh --deno --user "$test_user"; then
  echo "setting up the incus backend failed; see the output above"
  echo "0 passed, 1 failed"
  exit 1
fi

deno install --quiet >/dev/null 2>&1 || deno install

# The agent CLIs that tests install in sandboxes, fetched once into an npm cache.
if ! ./tests/prefetch-agents.sh; then
  echo "prefetching the agent CLIs from npm failed; their test will be skipped"
fi

# A validator for the release workflow, used by tests/distribution.test.ts.
tools=/var/cache/locki-test-tools
if [ ! -x "$tools/node_modules/.bin/action-validator" ]; then
  npm install --silent --no-audit --no-fund --prefix "$tools" @action-validator/cli@0.6.0 ||
    echo "installing action-validator from npm failed; the release workflow test will fail"
fi

log=$(mktemp /tmp/locki-tests.XXXXXX)
filter=()
[ $# -gt 0 ] && filter=(--filter "$1")
NO_COLOR=1 deno test -A "${filter[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -n 1)
passed=$(sed -nE 's/.*\| ([0-9]+) passed.*/\1/p' <<<"$summary")
failed=$(sed -nE 's/.*\| ([0-9]+) failed.*/\1/p' <<<"$summary")
if [ -z "$passed" ]; then
  # deno test stopped before its summary (a type error, a crash).
  passed=0
  failed=1
fi
if [ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then
  failed=1
fi
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
