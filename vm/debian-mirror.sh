#!/usr/bin/env bash
# Print the Debian mirror that this machine's apt sources already use, so the
# set-up scripts work on hosts that point at a local mirror.
set -euo pipefail
uri=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | grep -E '^(URIs:|deb )' | grep -v -- '-security' | grep -i 'debian' | head -n 1 \
  | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' || true)
# Debian's cloud images name a mirror list file (mirror+file:///etc/apt/mirrors/debian.list),
# which debootstrap cannot read: take its first mirror.
case "$uri" in
  mirror+file://*)
    uri=$(grep -E '^[a-z]+://' "${uri#mirror+file://}" 2>/dev/null | head -n 1 || true) ;;
esac
if [ -z "$uri" ]; then
  echo "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/; add one and re-run" >&2
  exit 1
fi
printf '%s\n' "$uri"
