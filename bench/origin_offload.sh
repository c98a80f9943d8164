#!/usr/bin/env bash
# Origin offload of tiered caching: 3 regions x 2 edges on loopback, clients in every region
# asking for the same objects, in three layouts:
#   flat      every edge goes straight to the origin
#   regional  one parent per region; a region's two edges send their misses to it
#   shield    one global shield of 3 parents; every edge hashes each key to its owner (HRW)
# Every client asks for www.cdn.example (the same Host at every edge, as behind real DNS).
# Phases (each on its own set of OBJECTS objects, so one does not warm the next):
#   cold      a storm: every edge asks for every object at once (CONC connections per edge)
#   steady    each edge asks for the objects in its own random order, CONC/4 at a time
#   kill      (shield only) the cold storm again, and one parent is killed a third of the way
#             in; then a fresh edge asks for the cold set, to see which keys changed owner
# Prints one line per layout:
#   layout=<l> origin_fetches_per_object=<x> max_per_key=<n> parent_hop_ms_p50=<y>
#   parent_hop_ms_p99=<z> cold=<x> steady=<x> errors=<n>  [killed_max_per_key=<n>
#   killed_errors=<n> moved_share=<s> (1/N=<1/N>)]
# origin_fetches_per_object: origin requests / objects over cold and steady; max_per_key: the
# most origin requests for one object; parent_hop_ms: the edges' upstream time (access log
# origin_ms) on their misses, i.e. the time to a parent's response head.
#   bench/origin_offload.sh                       # builds Release first
#   BIN_DIR=build-release OBJECTS=300 bench/origin_offload.sh
#   LAYOUTS="shield" bench/origin_offload.sh
#   KEEP=1 bench/origin_offload.sh                # keep the logs and access logs (path printed)
#   bench/origin_offload.sh --smoke               # 40 objects; fails unless flat = 6, regional
#                                                 # = 3, shield = 1 per object, at most 2 for a
#                                                 # key while a parent dies, and no error (ctest)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. infra/lib.sh

smoke=0
[ "${1:-}" = --smoke ] && smoke=1 && : "${OBJECTS:=40}" "${CONC:=4}"
: "${OBJECTS:=1000}" "${CONC:=16}" "${SIZE:=4096}" "${LAYOUTS:=flat regional shield}"
if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=build-release
  cmake -S . -B "$BIN_DIR" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BIN_DIR" -j"$(nproc)" --target edge origin_sim >/dev/null
fi
case $BIN_DIR in /*) bin=$BIN_DIR ;; *) bin=$root/$BIN_DIR ;; esac
edge_bin=$bin/edge/edge
origin_bin=$bin/origin_sim/origin_sim
command -v curl >/dev/null || { echo "origin_offload: needs curl (infra/deps.sh bench)" >&2; exit 1; }

scratch_dir offload
regions=(us eu ap)

# start_edge NAME CONFIG_TOML: starts an edge in front of the origin; sets $port to its port.
start_edge() {
  local name=$1 toml=$2
  printf '%s\n' "$toml" >"$work/$name.toml"
  "$edge_bin" --config "$work/$name.toml" --name "$name" --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
    --threads 1 --origin "http://127.0.0.1:$origin_port" --access-log "$work/$name.access" \
    >"$work/$name.log" 2>&1 &
  pids+=($!)
  last_pid=$!
  port=$(port_from_log "$work/$name.log" "http on" "$last_pid")
}

# ask PHASE SET ORDER CONC PORT...: every edge asks for every object of SET, CONC at a time, in
# the same order (ORDER=same: a storm when all start at once) or each in its own (shuffled);
# each answer's status, URL and Cache-Status go to PHASE-PORT.out.
ask() {
  local phase=$1 set=$2 order=$3 conc=$4 p cfg
  shift 4
  local cpids=()
  for p in "$@"; do
    cfg=$work/$phase-$p.curl
    : >"$cfg"
    for i in $(if [ "$order" = same ]; then seq 1 "$OBJECTS"; else seq 1 "$OBJECTS" | shuf; fi); do
      printf 'url = "http://127.0.0.1:%s/%s/%s?size=%s&cc=max-age%%3D600"\noutput = "/dev/null"\n' \
        "$p" "$set" "$i" "$SIZE" >>"$cfg"
      echo 'header = "Host: www.cdn.example"' >>"$cfg"
    done
    curl -s --parallel --parallel-immediate --parallel-max "$conc" -K "$cfg" \
      -w '%{http_code} %{url} %header{cache-status}\n' >"$work/$phase-$p.out" 2>/dev/null &
    cpids+=($!)
  done
  for p in "${cpids[@]}"; do wait "$p" || true; done
}
storm() { ask "$1" "$2" same "$CONC" "${@:3}"; }
steady() { ask "$1" "$2" shuffled $((CONC / 4 > 0 ? CONC / 4 : 1)) "${@:3}"; }

# errors PHASE: answers that were not 200 (or never came).
errors() {
  cat "$work/$1"-*.out | awk -v want="$((OBJECTS * $2))" '$1 == 200 { ok++ } END { print want - ok }'
}

# origin_counts SET: "requests max_per_key" the origin saw for objects of SET.
origin_counts() {
  awk -v set="/$1/" '$3 == "GET" && index($4, set) == 1 { split($4, t, "?"); n[t[1]]++; total++ }
    END { m = 0; for (k in n) if (n[k] > m) m = n[k]; print total + 0, m + 0 }' "$work/origin.log"
}

# owners OUT: "path owner" per answer (the first Cache-Status entry names the owner parent),
# sorted by path for join.
owners() {
  awk '{ path = $2; sub(/^http:\/\/[^\/]*/, "", path); sub(/\?.*/, "", path)
         owner = $3; sub(/;.*/, "", owner); print path, owner }' "$1" | sort
}

# hop_ms: p50 and p99 of origin_ms on the edges' misses (their upstream: a parent or the origin).
hop_ms() {
  cat "$work"/e-*.access 2>/dev/null |
    grep -o 'origin_ms=[0-9.]*' | cut -d= -f2 | sort -n |
    awk '{ v[NR] = $1 } END { if (NR == 0) { print "- -"; exit }
      p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]; print p50, p99 }'
}

run_layout() {
  local layout=$1
  "$origin_bin" --listen 127.0.0.1:0 -v >"$work/origin.log" 2>&1 &
  pids+=($!)
  origin_pid=$!
  origin_port=$(port_from_log "$work/origin.log" "listening on" "$origin_pid")
  local parent_ports=() parent_pids=() edge_ports=() r e toml
  case $layout in
    regional)
      for r in "${regions[@]}"; do
        start_edge "p-$r" ""
        parent_ports+=("$port")
        parent_pids+=("$last_pid")
      done ;;
    shield)
      for r in 1 2 3; do
        start_edge "p-$r" ""
        parent_ports+=("$port")
        parent_pids+=("$last_pid")
      done ;;
  esac
  local k=0
  for r in "${regions[@]}"; do
    for e in a b; do
      case $layout in
        flat) toml="" ;;
        regional) toml=$(printf '[[parents]]\nurls = ["http://127.0.0.1:%s"]\n' "${parent_ports[$k]}") ;;
        shield) toml=$(printf '[[parents]]\nurls = ["http://127.0.0.1:%s", "http://127.0.0.1:%s", "http://127.0.0.1:%s"]\n' \
          "${parent_ports[@]}") ;;
      esac
      start_edge "e-$r-$e" "$toml"
      edge_ports+=("$port")
    done
    k=$((k + 1))
  done

  storm cold cold "${edge_ports[@]}"
  steady steady steady "${edge_ports[@]}"
  local edges=${#edge_ports[@]}
  local errs=$(( $(errors cold "$edges") + $(errors steady "$edges") ))
  read -r cold_req cold_max <<<"$(origin_counts cold)"
  read -r steady_req steady_max <<<"$(origin_counts steady)"
  read -r p50 p99 <<<"$(hop_ms)"
  [ "$layout" = flat ] && p50=- && p99=-  # no parent: origin_ms is the origin's
  local max=$((cold_max > steady_max ? cold_max : steady_max))
  local line
  line=$(awk -v l="$layout" -v c="$cold_req" -v s="$steady_req" -v n="$OBJECTS" -v m="$max" \
    -v p50="$p50" -v p99="$p99" -v e="$errs" 'BEGIN {
      printf "layout=%s origin_fetches_per_object=%.2f max_per_key=%d parent_hop_ms_p50=%s parent_hop_ms_p99=%s cold=%.2f steady=%.2f errors=%d",
        l, (c + s) / (2 * n), m, p50, p99, c / n, s / n, e }')

  if [ "$layout" = shield ]; then
    # The owners of the cold set, from the first Cache-Status entry each edge got.
    owners "$work/cold-${edge_ports[0]}.out" >"$work/owners.before"
    storm kill kill "${edge_ports[@]}" &
    local storm_pid=$!
    # A third of the way in (by what the origin has seen), one parent dies.
    for _ in $(seq 1 400); do
      [ "$(origin_counts kill | cut -d' ' -f1)" -ge $((OBJECTS / 3)) ] && break
      sleep 0.01
    done
    { kill -9 "${parent_pids[1]}" && wait "${parent_pids[1]}"; } 2>/dev/null || true
    wait "$storm_pid" || true
    local kerrs
    kerrs=$(errors kill "$edges")
    read -r _ kill_max <<<"$(origin_counts kill)"
    # A fresh edge asks for the cold set (the surviving parents still hold their copies).
    start_edge e-probe "$(printf '[[parents]]\nurls = ["http://127.0.0.1:%s", "http://127.0.0.1:%s", "http://127.0.0.1:%s"]\n' "${parent_ports[@]}")"
    local cfg=$work/probe.curl
    : >"$cfg"
    for i in $(seq 1 "$OBJECTS"); do
      printf 'url = "http://127.0.0.1:%s/cold/%s?size=%s&cc=max-age%%3D600"\noutput = "/dev/null"\n' \
        "$port" "$i" "$SIZE" >>"$cfg"
      echo 'header = "Host: www.cdn.example"' >>"$cfg"
    done
    curl -s -K "$cfg" -w '%{http_code} %{url} %header{cache-status}\n' >"$work/probe.out" 2>/dev/null
    owners "$work/probe.out" >"$work/owners.after"
    local moved
    moved=$(join "$work/owners.before" "$work/owners.after" |
      awk '$2 != $3 { m++ } END { printf "%.3f", m / NR }')
    line+=" killed_max_per_key=$kill_max killed_errors=$kerrs moved_share=$moved (1/N=0.333)"
  fi
  echo "$line"
  # Stop this layout's processes.
  scratch_stop
}

scratch_stop() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  [ -n "${KEEP:-}" ] && return 0
  rm -f "$work"/*.access "$work"/*.out "$work"/*.curl "$work"/*.log "$work"/*.toml
}

echo "origin_offload: $OBJECTS objects of $SIZE B per phase, $CONC connections per edge in the storm"
results=$work/results.txt
for layout in $LAYOUTS; do
  run_layout "$layout" | tee -a "$results"
done
if [ $smoke = 1 ]; then
  # Exact counts: collapsing at the parent makes them independent of timing.
  want() { grep -q "^layout=$1 .*$2" "$results" || { echo "origin_offload: expected $1 to have $2" >&2; exit 1; }; }
  want flat "cold=6.00 steady=6.00 errors=0"
  want regional "cold=3.00 steady=3.00 errors=0"
  want shield "cold=1.00 steady=1.00 errors=0"
  grep -q "^layout=shield .*killed_max_per_key=[12] killed_errors=0" "$results" ||
    { echo "origin_offload: a parent kill cost more than 2 fetches for a key, or errors" >&2; exit 1; }
  echo "origin_offload: smoke passed"
fi
