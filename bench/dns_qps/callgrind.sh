#!/usr/bin/env bash
# Instructions per query of geodns and gdnsd under valgrind --tool=callgrind: a deterministic
# companion to bench/dns_qps.sh's timings (issue 19), for a shared or noisy machine. Each server
# runs under callgrind with the bench's configs; after start-up the counters are zeroed
# (callgrind_control -z), dnsperf sends the mode's query file once at a low fixed rate, and the
# server's instruction count (user space: the server, libc, libmaxminddb; not the kernel) is
# divided by the queries answered. At this low rate each wake-up finds about one query, so the
# per-wake-up cost weighs more than under load; respond/query (geodns) is the part that does not
# depend on batching.
#   BIN_DIR=build-release bench/dns_qps/callgrind.sh            # modes noecs ecs mixed
#   MODES=ecs QUERIES=5000 BIN_DIR=build-release bench/dns_qps/callgrind.sh
# Needs valgrind, dnsperf, gdnsd (skipped with a note when missing), dig. Loopback only; every
# dnsperf run is bounded (-n 1: the file once; -l as a cap).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
. infra/lib.sh
QUERIES=${QUERIES:-5000}
RATE=${RATE:-2000}
MODES=${MODES:-"noecs ecs mixed"}
NOECS_SOURCE=${NOECS_SOURCE:-127.2.1.1}
BIN_DIR=${BIN_DIR:-build-release}
case $BIN_DIR in /*) bin=$BIN_DIR ;; *) bin=$root/$BIN_DIR ;; esac
GEODNS=${GEODNS:-$bin/geodns/geodns}
MMDB=$root/tests/data/geodns-test.mmdb
conf=$root/bench/dns_qps
for c in valgrind callgrind_control dnsperf dig; do
  command -v $c >/dev/null || { echo "$c is not installed" >&2; exit 1; }
done
[ -x "$GEODNS" ] || { echo "no geodns binary at $GEODNS" >&2; exit 1; }
scratch_dir dnscg

wait_dns() {  # port pid: until the server answers (valgrind start-up is slow: up to ~60 s)
  for _ in $(seq 1 600); do
    kill -0 "$2" 2>/dev/null || return 1
    dig @127.0.0.1 -p "$1" +time=1 +tries=1 +norec cdn.example SOA 2>/dev/null | grep -q 'status: NOERROR' && return 0
    sleep 0.1
  done
  return 1
}

for m in $MODES; do
  perl "$conf/make-queries.pl" --mode "$m" --count "$QUERIES" --out "$work/q-$m.bin" || exit 2
done

servers=(geodns)
command -v gdnsd >/dev/null && servers+=(gdnsd) || echo "gdnsd is not installed: geodns only" >&2
printf '%-7s %-7s %9s %16s %12s %14s\n' server mode answered instructions Ir/query respond/query
for s in "${servers[@]}"; do
  for m in $MODES; do
    port=$(free_dns_port)
    out=$work/cg-$s-$m.out
    if [ "$s" = geodns ]; then
      sed -e "s|@MMDB@|$MMDB|" -e "s|@UDP_THREADS@|${UDP_THREADS:-true}|" \
        -e "s|@UDP_COALESCE_US@|${UDP_COALESCE_US:-0}|" "$conf/geodns.toml.in" >"$work/geodns.toml"
      valgrind --tool=callgrind --callgrind-out-file="$out" "$GEODNS" --config "$work/geodns.toml" \
        --dns "127.0.0.1:$port" --threads 1 >"$work/$s-$m.log" 2>&1 &
    else
      rm -rf "$work/gdnsd"
      mkdir -p "$work/gdnsd/zones"
      sed -e "s|@WORK@|$work|g" -e "s|@PORT@|$port|g" -e "s|@MMDB@|$MMDB|g" \
        "$conf/gdnsd.config.in" >"$work/gdnsd/config"
      cp "$conf/cdn.example.zone" "$work/gdnsd/zones/cdn.example"
      valgrind --tool=callgrind --callgrind-out-file="$out" gdnsd -c "$work/gdnsd" start \
        >"$work/$s-$m.log" 2>&1 &
    fi
    pid=$!
    pids+=("$pid")
    wait_dns "$port" "$pid" || { echo "$s did not start; log:" >&2; cat "$work/$s-$m.log" >&2; exit 1; }
    callgrind_control -z "$pid" >/dev/null 2>&1
    src=()
    [ "$m" = noecs ] && src=(-a "$NOECS_SOURCE")
    dnsperf -B -d "$work/q-$m.bin" -s 127.0.0.1 -p "$port" "${src[@]}" -n 1 -Q "$RATE" -l 120 \
      -c 4 -q 100 -t 5 >"$work/dnsperf-$s-$m.txt" 2>&1
    answered=$(awk '/Queries completed:/ { print $3 }' "$work/dnsperf-$s-$m.txt")
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    # The last dump holds the counts since the zeroing (callgrind_control -z dumps nothing).
    ir=$(for f in "$out"*; do sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$f" | head -1; done |
      awk '{ s += $1 } END { print s }')
    # geodns: also respond() alone (parse, answer, write), which does not depend on how many
    # queries each wake-up found (the rest, the loop and the reactor, does).
    per=-
    if [ "$s" = geodns ]; then
      per=$(callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null |
        awk -v n="$answered" '!done && /cdn::geodns::respond\(/ { gsub(/,/, "", $1); printf "%.0f", $1 / n; done = 1 }')
    fi
    printf '%-7s %-7s %9s %16s %12.0f %14s\n' "$s" "$m" "$answered" "$ir" \
      "$(awk -v a="$ir" -v n="$answered" 'BEGIN { print a / n }')" "$per"
  done
done
