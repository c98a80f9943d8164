#!/usr/bin/env bash
# The slow-reader memory attack (issue 13): READERS clients (curl --limit-rate) each ask for a
# distinct cacheable object of SIZE and read it slowly, so every body the edge holds for them stays
# held. Prints the edge's RSS while they read (and its peak), and after they leave, against the
# bound cache + in-flight budget; with BASE_BIN_DIR, the same for that build side by side.
# Loopback only; every reader is bounded by HOLD seconds.
#   BIN_DIR=build-release bench/slow_readers.sh
#   BIN_DIR=build-release BASE_BIN_DIR=/path/to/old/build READERS=150 SIZE=15MiB bench/slow_readers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. infra/lib.sh

READERS=${READERS:-150}
SIZE=${SIZE:-15MiB}
HOLD=${HOLD:-15}           # seconds the readers stay connected
RATE=${RATE:-20k}          # each reader's pace
MEMORY=${MEMORY:-256MiB}   # the edge's memory cache ([cache] memory; 16 shards: 16 MiB objects fit)

if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=build-release
  cmake -S . -B "$BIN_DIR" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BIN_DIR" -j"$(nproc)" --target edge origin_sim >/dev/null
fi
abs() { case $1 in /*) echo "$1" ;; *) echo "$root/$1" ;; esac; }

scratch_dir slow

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# run LABEL BIN: one edge of that build under the attack; prints one result line.
run() {
  local label=$1 bin
  bin=$(abs "$2")
  local origin_port edge_port admin_port
  origin_port=$(free_port)
  "$bin/origin_sim/origin_sim" --listen "127.0.0.1:$origin_port" >"$work/origin-$label.log" 2>&1 &
  local origin_pid=$!
  pids+=("$origin_pid")
  wait_port "$origin_port" "$origin_pid" "$work/origin-$label.log"
  edge_port=$(free_port)
  admin_port=$(free_port)
  "$bin/edge/edge" --listen "127.0.0.1:$edge_port" --admin "127.0.0.1:$admin_port" \
    --origin "http://127.0.0.1:$origin_port" --threads 2 --no-access-log --memory "$MEMORY" \
    >"$work/edge-$label.log" 2>&1 &
  local edge_pid=$!
  pids+=("$edge_pid")
  wait_port "$edge_port" "$edge_pid" "$work/edge-$label.log"
  local idle
  idle=$(rss_kib "$edge_pid")
  local readers=()
  for i in $(seq 1 "$READERS"); do
    curl -s -o /dev/null --limit-rate "$RATE" --max-time "$HOLD" \
      "http://127.0.0.1:$edge_port/slow/$label/$i.bin?size=$SIZE" &
    readers+=($!)
  done
  local during=0 r
  for _ in $(seq 1 $((HOLD - 2))); do
    sleep 1
    r=$(rss_kib "$edge_pid")
    [ "$r" -gt "$during" ] && during=$r
  done
  local inflight
  inflight=$(curl -s "http://127.0.0.1:$admin_port/metrics" |
    awk '$1 == "cdn_edge_inflight_body_bytes" {printf "%.0f", $2 / 1048576}')
  for p in "${readers[@]}"; do wait "$p" 2>/dev/null || true; done
  sleep 3
  local after peak
  after=$(rss_kib "$edge_pid")
  peak=$(hwm_kib "$edge_pid")
  printf '%-6s idle %5d MiB | readers connected: RSS %5d MiB, peak %5d MiB, in-flight gauge %s MiB | after they left: %5d MiB\n' \
    "$label" $((idle / 1024)) $((during / 1024)) $((peak / 1024)) "${inflight:--}" $((after / 1024))
  kill "$edge_pid" "$origin_pid" 2>/dev/null || true
  wait "$edge_pid" "$origin_pid" 2>/dev/null || true
}

echo "# $READERS readers of distinct $SIZE objects at $RATE/s each for ${HOLD}s; memory cache $MEMORY," \
  "in-flight budget 256MiB (default): bound = cache + budget + a fixed overhead"
[ -n "${BASE_BIN_DIR:-}" ] && run base "$BASE_BIN_DIR"
run edge "$BIN_DIR"
