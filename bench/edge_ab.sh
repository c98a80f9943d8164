#!/usr/bin/env bash
# Two builds of the edge side by side on the hit path: server CPU per request and req/s, in
# interleaved rounds, as a ratio (NEW / BASE). For "this change costs less than X % per hit".
# Each edge has one worker pinned to CPU 0 (only one is loaded at a time), origin_sim and wrk
# (-t1 -c64, keep-alive) run on CPU 1; access logs off; each object is warmed first, so wrk
# measures pure memory hits. CPU comes from /proc/PID/task/*/schedstat (nanoseconds).
# Loopback only; every wrk run is bounded (DURATION).
#   BASE_BIN_DIR=/path/to/old/build-release BIN_DIR=build-release bench/edge_ab.sh
#   ROUNDS=5 DURATION=5 SIZES="1024 16384" bench/edge_ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. infra/lib.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
SIZES=${SIZES:-"1024 16384"}
: "${BASE_BIN_DIR:?set BASE_BIN_DIR to the build to compare against}"
BIN_DIR=${BIN_DIR:-build-release}
abs() { case $1 in /*) echo "$1" ;; *) echo "$root/$1" ;; esac; }
base=$(abs "$BASE_BIN_DIR")
new=$(abs "$BIN_DIR")

scratch_dir ab

cpu_ns() {  # all threads of PID, nanoseconds on CPU
  local t=0 f
  for f in /proc/"$1"/task/*/schedstat; do t=$((t + $(cut -d' ' -f1 "$f"))); done
  echo "$t"
}

origin_port=$(free_port)
taskset -c 1 "$new/origin_sim/origin_sim" --listen "127.0.0.1:$origin_port" >"$work/origin.log" 2>&1 &
pids+=($!)
wait_port "$origin_port" "${pids[-1]}" "$work/origin.log"

declare -A port pid
for which in base new; do
  bin=$base
  [ $which = new ] && bin=$new
  port[$which]=$(free_port)
  taskset -c 0 "$bin/edge/edge" --listen "127.0.0.1:${port[$which]}" \
    --origin "http://127.0.0.1:$origin_port" --threads 1 --no-access-log --memory 512MiB \
    >"$work/edge-$which.log" 2>&1 &
  pid[$which]=$!
  pids+=($!)
  wait_port "${port[$which]}" "${pid[$which]}" "$work/edge-$which.log"
  for size in $SIZES; do
    for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:${port[$which]}/ab/$size?size=$size"; done
    timeout 10 taskset -c 1 wrk -t1 -c64 -d1s "http://127.0.0.1:${port[$which]}/ab/$size?size=$size" >/dev/null
  done
done

results=$work/results.tsv
for round in $(seq 1 "$ROUNDS"); do
  for size in $SIZES; do
    for which in base new; do
      url="http://127.0.0.1:${port[$which]}/ab/$size?size=$size"
      before=$(cpu_ns "${pid[$which]}")
      out=$(timeout $((DURATION + 10)) taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" "$url")
      after=$(cpu_ns "${pid[$which]}")
      reqs=$(echo "$out" | awk '/requests in/ {print $1}')
      non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
      [ -n "$non2xx" ] && { echo "$which $size: $non2xx non-2xx answers" >&2; exit 1; }
      awk -v w=$which -v s="$size" -v r="$round" -v n="$reqs" -v ns=$((after - before)) -v d="$DURATION" \
        'BEGIN { printf "%s\t%s\t%s\t%.0f\t%.3f\n", w, s, r, n / d, ns / 1000 / n }' >>"$results"
    done
  done
done

echo "# edge A/B on memory hits: wrk -t1 -c64 ${DURATION}s x $ROUNDS interleaved rounds; edge 1 worker on CPU 0"
echo "# base: $base"
echo "# new:  $new"
printf '%-8s %-5s %-40s %-40s %s\n' size build "req/s (median; all rounds)" "CPU us/req (median; all rounds)" ""
for size in $SIZES; do
  for which in base new; do
    rps=$(awk -v w=$which -v s="$size" '$1 == w && $2 == s {print $4}' "$results" | sort -n | tr '\n' ' ')
    cpu=$(awk -v w=$which -v s="$size" '$1 == w && $2 == s {print $5}' "$results" | sort -n | tr '\n' ' ')
    printf '%-8s %-5s %-40s %-40s\n' "$size" $which "$rps" "$cpu"
  done
  awk -v s="$size" '
    $2 == s { v[$1, ++n[$1]] = $5; r[$1, n[$1]] = $4 }
    function median(w, arr,   i, j, t, m, a) {
      m = n[w]; for (i = 1; i <= m; i++) a[i] = arr[w, i]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    END {
      printf "%-8s new/base: CPU per request %.3f (median %.2f vs %.2f us), req/s %.3f\n", s,
        median("new", v) / median("base", v), median("new", v), median("base", v),
        median("new", r) / median("base", r)
    }' "$results"
done
