#!/usr/bin/env bash
# Runs a command in a network namespace of its own, with loopback up and
# net.ipv4.tcp_migrate_req = 1 (what the cdn-edge package sets in sysctl.d): connections queued
# on a listener that closes move to another socket of its SO_REUSEPORT group instead of being
# reset. The host's own settings are not touched. Exits 77 (ctest: skipped) without the rights.
# Usage: tests/integration/in_netns.sh COMMAND [ARGS...]
set -euo pipefail
if ! unshare -n true 2>/dev/null || ! command -v ip >/dev/null; then
  echo "SKIP: needs unshare -n (root) and ip (iproute2)"
  exit 77
fi
exec unshare -n sh -c 'ip link set lo up && sysctl -qw net.ipv4.tcp_migrate_req=1 && exec "$@"' \
  sh "$@"
