#!/usr/bin/env bash
# The control plane's failover drill, on loopback only: a 3-member etcd cluster, two purge_api
# instances (A and B) sharing the purge log in it, origin_sim, and two edges that both know A
# and B ([purge] api = [A, B]; edge-1 starts on A, edge-2 on B). One client POSTs purges at a
# steady pace, alternating between the instances, each with its own Idempotency-Key; a POST that
# fails is retried with the same key on the other instance (what a client behind a load balancer
# does). Meanwhile the drill
#   at KILL_LEADER_AT  kills the etcd leader (SIGKILL) and starts it again RESTART_AFTER later,
#   at KILL_API_AT     kills purge_api A (SIGKILL): edge-1 moves to B; A is started again
#                      RESTART_AFTER later; a second into it edge-2 is killed too, and started
#                      again with A (it resumes from the log),
#   at STALL_AT        stalls the whole etcd cluster (SIGSTOP) for STALL_FOR: POSTs get 503s
#                      within their deadline (1 s) and are retried after it (SIGCONT).
# Then it checks that every purge got a 200, is in the log exactly once (seqs contiguous, one
# per key), and was applied by both edges, that no edge was reset, and that both instances give
# the same status for the last purge and the same edges' progress; it prints per phase the
# POSTs, the first tries that failed, the latency from the first try to the 200 (p50/p99/max),
# and the edges' switches and catch-up time. Report in DRILL_OUT (report.md, posts.tsv).
#   infra/purge-drill.sh                    # 24 s
#   infra/purge-drill.sh --quick            # 12 s (the CI smoke test)
#   BIN_DIR=build-release infra/purge-drill.sh   # binaries already built there
# Knobs (environment): DRILL_SECONDS KILL_LEADER_AT KILL_API_AT STALL_AT (s), STALL_FOR
# RESTART_AFTER (s), POST_INTERVAL_MS (40), DRILL_OUT, KEEP=1 (keep the scratch directory).
# Exit status: 0 passed; 1 a check failed; 2 the set-up failed (build, no etcd, a port in use).
# shellcheck disable=SC2016,SC2034 # check() evaluates its condition (and the variables in it) when it runs
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
root=$(pwd)
. infra/lib.sh

quick=0
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; /shellcheck/d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "purge-drill: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
if [ $quick = 1 ]; then
  : "${DRILL_SECONDS:=12}" "${KILL_LEADER_AT:=2}" "${KILL_API_AT:=5}" "${STALL_AT:=8}"
  : "${STALL_FOR:=2}" "${RESTART_AFTER:=2}"
else
  : "${DRILL_SECONDS:=24}" "${KILL_LEADER_AT:=4}" "${KILL_API_AT:=10}" "${STALL_AT:=16}"
  : "${STALL_FOR:=3}" "${RESTART_AFTER:=3}"
fi
: "${POST_INTERVAL_MS:=40}" "${PURGE_TOKEN:=drill-admin-token}" "${EDGE_TOKEN:=drill-edge-token}"

die() { echo "purge-drill: $*" >&2; exit 2; }
for v in DRILL_SECONDS KILL_LEADER_AT KILL_API_AT STALL_AT STALL_FOR RESTART_AFTER POST_INTERVAL_MS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done
((DRILL_SECONDS <= 600)) || die "DRILL_SECONDS is at most 600"
((POST_INTERVAL_MS >= 10)) || die "POST_INTERVAL_MS is at least 10"
((KILL_LEADER_AT + RESTART_AFTER <= KILL_API_AT && KILL_API_AT + RESTART_AFTER <= STALL_AT &&
  STALL_AT + STALL_FOR < DRILL_SECONDS)) ||
  die "the faults must not overlap: KILL_LEADER_AT + RESTART_AFTER <= KILL_API_AT, KILL_API_AT + RESTART_AFTER <= STALL_AT, STALL_AT + STALL_FOR < DRILL_SECONDS"
etcd_bin=${ETCD_BIN:-/usr/bin/etcd}
[ -x "$etcd_bin" ] || die "needs etcd: apt-get install etcd-server (or set ETCD_BIN)"
for t in curl awk sed grep sort; do command -v $t >/dev/null || die "needs $t"; done

if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=build-release
  echo "== building (Release) in $BIN_DIR"
  cmake -S . -B "$BIN_DIR" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF >/dev/null || exit 2
  cmake --build "$BIN_DIR" -j"$(nproc)" --target edge origin_sim purge_api || exit 2
fi
case $BIN_DIR in /*) bin=$BIN_DIR ;; *) bin=$root/$BIN_DIR ;; esac
edge_bin=$bin/edge/edge origin_bin=$bin/origin_sim/origin_sim purge_bin=$bin/purge_api/purge_api
for b in "$edge_bin" "$origin_bin" "$purge_bin"; do [ -x "$b" ] || die "no binary $b (build it, or set BIN_DIR)"; done

scratch_dir purge-drill
out=${DRILL_OUT:-$work/out}
mkdir -p "$out"
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- etcd: three members ----
names=(m0 m1 m2)
declare -A cport pport epid
cluster=""
for n in "${names[@]}"; do
  cport[$n]=$(free_port) pport[$n]=$(free_port)
  cluster+="${cluster:+,}$n=http://127.0.0.1:${pport[$n]}"
done
start_etcd() { # NAME STATE
  local n=$1
  "$etcd_bin" --name "$n" --data-dir "$work/etcd-$n" --listen-client-urls "http://127.0.0.1:${cport[$n]}" \
    --advertise-client-urls "http://127.0.0.1:${cport[$n]}" --listen-peer-urls "http://127.0.0.1:${pport[$n]}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${pport[$n]}" --initial-cluster "$cluster" \
    --initial-cluster-state "$2" --initial-cluster-token purge-drill --heartbeat-interval 50 \
    --election-timeout 500 --log-level warn >>"$work/etcd-$n.log" 2>&1 &
  epid[$n]=$!
  pids+=("$!")
}
etcd_healthy() { curl -s --max-time 1 "http://127.0.0.1:${cport[$1]}/health" | grep -q '"health":"true"'; }
for n in "${names[@]}"; do start_etcd "$n" new; done
for n in "${names[@]}"; do
  for _ in $(seq 1 200); do etcd_healthy "$n" && break; sleep 0.1; done
  etcd_healthy "$n" || { cat "$work/etcd-$n.log" >&2; die "etcd member $n did not become healthy"; }
done
endpoints=""
for n in "${names[@]}"; do endpoints+="${endpoints:+, }\"http://127.0.0.1:${cport[$n]}\""; done
leader() {
  local n s
  for n in "${names[@]}"; do
    s=$(curl -s --max-time 1 -X POST -d '{}' "http://127.0.0.1:${cport[$n]}/v3/maintenance/status") || continue
    [ "$(grep -o '"leader":"[0-9]*"' <<<"$s" | cut -d'"' -f4)" = "$(grep -o '"member_id":"[0-9]*"' <<<"$s" | cut -d'"' -f4)" ] &&
      { echo "$n"; return 0; }
  done
  return 1
}

# ---- purge_api A and B on the etcd store ----
cat >"$work/purge.toml" <<EOF
[edges]
token = "$EDGE_TOKEN"
known = ["edge-1", "edge-2"]

[[token]]
name = "drill"
value = "$PURGE_TOKEN"

[stream]
heartbeat = "250ms"

[store]
backend = "etcd"
etcd_endpoints = [$endpoints]
etcd_prefix = "/drill/purge/"
timeout = "1s"
EOF
declare -A api_port api_pid
start_api() { # NAME [PORT]
  "$purge_bin" --config "$work/purge.toml" --listen "127.0.0.1:${2:-0}" --data-dir "$work/api-$1" \
    >>"$work/purge_api-$1.log" 2>&1 &
  api_pid[$1]=$!
  pids+=("$!")
  api_port[$1]=$(port_from_log "$work/purge_api-$1.log" "http on" "${api_pid[$1]}") || exit 2
}
start_api A
start_api B

# ---- origin and two edges, each knowing both instances ----
"$origin_bin" --listen 127.0.0.1:0 >"$work/origin.log" 2>&1 &
pids+=("$!")
origin_port=$(port_from_log "$work/origin.log" "listening on" "$!") || exit 2
declare -A edge_admin edge_pid edge_listen
start_edge() { # ID FIRST-API SECOND-API
  local n lport aport
  n=$(grep -c "admin on" "$work/$1.log" 2>/dev/null || true)
  # Fixed ports: a restarted edge has the same addresses, so purge_api's registry lets the new
  # process take over the id at once (a different address would wait for the old lease).
  [ -n "${edge_listen[$1]:-}" ] || edge_listen[$1]="$(free_port) $(free_port)"
  read -r lport aport <<<"${edge_listen[$1]}"
  "$edge_bin" --name "$1" --listen "127.0.0.1:$lport" --admin "127.0.0.1:$aport" --origin "http://127.0.0.1:$origin_port" \
    --purge-api "http://127.0.0.1:${api_port[$2]},http://127.0.0.1:${api_port[$3]}" \
    --purge-token "$EDGE_TOKEN" --memory 64MiB --threads 1 --no-access-log >>"$work/$1.log" 2>&1 &
  edge_pid[$1]=$!
  pids+=("$!")
  # The log is appended to across restarts: wait for this start's "admin on" line.
  for _ in $(seq 1 200); do
    [ "$(grep -c "admin on" "$work/$1.log" || true)" -gt "${n:-0}" ] && break
    kill -0 "${edge_pid[$1]}" 2>/dev/null || { cat "$work/$1.log" >&2; exit 2; }
    sleep 0.05
  done
  edge_admin[$1]=$(grep -o 'admin on [0-9.:]*' "$work/$1.log" | tail -n1 | sed 's/.*://')
  [ -n "${edge_admin[$1]}" ] || exit 2
}
start_edge edge-1 A B
start_edge edge-2 B A
edge_seq() { curl -s --max-time 1 "http://127.0.0.1:${edge_admin[$1]}/metrics" | awk '$1 == "cdn_edge_purge_last_seq" { print $2 + 0 }'; }
for e in edge-1 edge-2; do
  for _ in $(seq 1 100); do
    page_has "http://127.0.0.1:${edge_admin[$e]}/metrics" '^cdn_edge_purge_stream_connected 1' && break
    sleep 0.1
  done
done

# ---- the client: one purge every POST_INTERVAL_MS, retried with its key until a 200 ----
post() { # INSTANCE KEY BODY -> "code seq"
  local r
  r=$(curl -s --max-time 3 -w '\n%{http_code}' -H "Authorization: Bearer $PURGE_TOKEN" \
    -H "Idempotency-Key: $2" -H 'Content-Type: application/json' -d "$3" \
    "http://127.0.0.1:${api_port[$1]}/v1/purge" 2>/dev/null) || r=$'\n000'
  echo "$(tail -n1 <<<"$r") $(head -n1 <<<"$r" | grep -o '"seq":[0-9]*' | cut -d: -f2)"
}
client() {
  local i=0 deadline=$(($(now_ms) + DRILL_SECONDS * 1000)) inst key code seq tries first t0
  while [ "$(now_ms)" -lt "$deadline" ] && [ $i -lt 5000 ]; do
    i=$((i + 1))
    key=drill-$i t0=$(now_ms) tries=0 first=""
    inst=$([ $((i % 2)) = 0 ] && echo A || echo B)
    while [ $tries -lt 100 ]; do
      tries=$((tries + 1))
      read -r code seq < <(post "$inst" "$key" "{\"tags\":[\"$key\"]}")
      [ -z "$first" ] && first=$code
      [ "$code" = 200 ] && break
      inst=$([ "$inst" = A ] && echo B || echo A)
      sleep 0.05
    done
    printf '%s\t%d\t%d\t%s\t%d\t%s\t%s\n' "$key" "$t0" "$(now_ms)" "$first" "$tries" "$code" "${seq:-}" >>"$out/posts.tsv"
    sleep "$(awk -v ms="$POST_INTERVAL_MS" 'BEGIN { printf "%.3f", ms / 1000 }')"
  done
}
: >"$out/posts.tsv"
t_start=$(now_ms)
client &
client_pid=$!
pids+=("$client_pid")

at() { # SECONDS: sleep until t_start + SECONDS
  local wait=$((t_start + $1 * 1000 - $(now_ms)))
  ((wait > 0)) && sleep "$(awk -v ms="$wait" 'BEGIN { printf "%.3f", ms / 1000 }')"
  return 0
}
events=()
note() { events+=("$(($(now_ms) - t_start)) ms: $*"); echo "   $(($(now_ms) - t_start)) ms: $*"; }

echo "== drill: $DRILL_SECONDS s, a purge every ~$POST_INTERVAL_MS ms"
at "$KILL_LEADER_AT"
victim=$(leader) || die "no etcd leader found"
t_leader=$(now_ms)
{ kill -KILL "${epid[$victim]}" && wait "${epid[$victim]}"; } 2>/dev/null || true
note "killed the etcd leader ($victim)"
at $((KILL_LEADER_AT + RESTART_AFTER))
start_etcd "$victim" existing
note "started $victim again"

at "$KILL_API_AT"
t_api=$(now_ms)
{ kill -KILL "${api_pid[A]}" && wait "${api_pid[A]}"; } 2>/dev/null || true
note "killed purge_api A"
if ((RESTART_AFTER >= 2)); then
  at $((KILL_API_AT + 1))
  { kill -KILL "${edge_pid[edge-2]}" && wait "${edge_pid[edge-2]}"; } 2>/dev/null || true
  note "killed edge-2"
fi
at $((KILL_API_AT + RESTART_AFTER))
start_api A "${api_port[A]}"
note "started purge_api A again"
if ((RESTART_AFTER >= 2)); then
  start_edge edge-2 B A
  note "started edge-2 again"
fi

at "$STALL_AT"
t_stall=$(now_ms)
for n in "${names[@]}"; do kill -STOP "${epid[$n]}" 2>/dev/null || true; done
note "stalled every etcd member (SIGSTOP)"
at $((STALL_AT + STALL_FOR))
for n in "${names[@]}"; do kill -CONT "${epid[$n]}" 2>/dev/null || true; done
note "resumed etcd (SIGCONT)"
wait "$client_pid" || true
t_end=$(now_ms)

# ---- checks ----
fail=0
check() { if eval "$2"; then echo "   ok    $1"; else echo "   FAIL  $1"; fail=1; fi; }
posts=$(wc -l <"$out/posts.tsv")
ok_posts=$(awk -F'\t' '$6 == 200' "$out/posts.tsv" | wc -l)
distinct=$(awk -F'\t' '$6 == 200 { print $7 }' "$out/posts.tsv" | sort -un | wc -l)
max_seq=$(awk -F'\t' '$6 == 200 && $7 > m { m = $7 } END { print m + 0 }' "$out/posts.tsv")
head_seq=$(curl -s -H "Authorization: Bearer $PURGE_TOKEN" "http://127.0.0.1:${api_port[B]}/metrics" | awk '$1 == "cdn_purge_api_last_seq" { print $2 + 0 }')
caught=""
for _ in $(seq 1 100); do
  s1=$(edge_seq edge-1) s2=$(edge_seq edge-2)
  [ "${s1:-0}" -ge "$head_seq" ] && [ "${s2:-0}" -ge "$head_seq" ] && { caught=$(($(now_ms) - t_end)); break; }
  sleep 0.1
done
resets=$(cat "$work"/edge-*.log | grep -c 'compacted past' || true)
# One status for the fleet: the last purge and the edges as A and B see them (last_seen_ms, the
# time of the last stream write, is each instance's own).
last_id=$(curl -s -H "Authorization: Bearer $PURGE_TOKEN" "http://127.0.0.1:${api_port[B]}/v1/fleet" |
  grep -o '"purges":\[{"id":"[0-9a-f]*"' | grep -o '[0-9a-f]\{16\}' || true)
same_status=0
for _ in $(seq 1 50); do
  sa=$(curl -s -H "Authorization: Bearer $PURGE_TOKEN" "http://127.0.0.1:${api_port[A]}/v1/purges/$last_id")
  sb=$(curl -s -H "Authorization: Bearer $PURGE_TOKEN" "http://127.0.0.1:${api_port[B]}/v1/purges/$last_id")
  ea=$(curl -s -H "Authorization: Bearer $PURGE_TOKEN" "http://127.0.0.1:${api_port[A]}/v1/edges" | sed 's/"last_seen_ms":[0-9null]*//g')
  eb=$(curl -s -H "Authorization: Bearer $PURGE_TOKEN" "http://127.0.0.1:${api_port[B]}/v1/edges" | sed 's/"last_seen_ms":[0-9null]*//g')
  ra=$(curl -s -H "Authorization: Bearer $PURGE_TOKEN" "http://127.0.0.1:${api_port[A]}/v1/registry" | grep -o '"id":"[^"]*"' | sort | tr '\n' ' ')
  rb=$(curl -s -H "Authorization: Bearer $PURGE_TOKEN" "http://127.0.0.1:${api_port[B]}/v1/registry" | grep -o '"id":"[^"]*"' | sort | tr '\n' ' ')
  if [ -n "$last_id" ] && [ "$sa" = "$sb" ] && [ "$ea" = "$eb" ] && [ "$ra" = "$rb" ] &&
    [ "$(wc -w <<<"$ra")" = 2 ] && grep -q '"complete":true' <<<"$sa"; then
    same_status=1
    break
  fi
  sleep 0.1
done
switches1=$(grep -c 'switching from' "$work/edge-1.log" || true)
# How long edge-1 took to notice A was gone and move to B (its log line's time minus the kill).
switch_ms=never
if line=$(grep -m1 'switching from' "$work/edge-1.log"); then
  ts=$(date -d "$(cut -d' ' -f1 <<<"$line")" +%s%N 2>/dev/null || true)
  [ -n "$ts" ] && switch_ms=$((ts / 1000000 - t_api))
fi
switches2=$(grep -c 'switching from' "$work/edge-2.log" || true)
echo "== checks"
check "every purge got a 200 ($ok_posts of $posts)" '[ "$ok_posts" = "$posts" ] && [ "$posts" -gt 0 ]'
check "one seq per purge, none shared ($distinct distinct seqs)" '[ "$distinct" = "$ok_posts" ]'
check "the log holds exactly these purges (head $head_seq, highest answered $max_seq)" '[ "$head_seq" = "$max_seq" ] && [ "$head_seq" = "$ok_posts" ]'
check "both edges applied all of it (${caught:-never} ms after the last POST)" '[ -n "$caught" ]'
check "no edge was reset (saw $resets)" '[ "$resets" = 0 ]'
check "edge-1 moved off A when A died (switches: $switches1)" '[ "$switches1" -ge 1 ]'
check "A and B give the same status (last purge complete on both; same edges; both edges registered on both)" '[ "$same_status" = 1 ]'

# ---- report ----
phase_of() { # start_ms -> phase name
  awk -v t="$1" -v l="$t_leader" -v a="$t_api" -v s="$t_stall" -v r="$RESTART_AFTER" -v f="$STALL_FOR" 'BEGIN {
    if (t >= l && t < l + r * 1000) print "etcd leader killed";
    else if (t >= a && t < a + r * 1000) print "purge_api A killed";
    else if (t >= s && t < s + f * 1000) print "etcd stalled";
    else print "steady" }'
}
{
  echo "# purge drill ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo
  echo "etcd 3 members, purge_api A and B, edge-1 (A first) and edge-2 (B first); a purge every ~$POST_INTERVAL_MS ms for $DRILL_SECONDS s."
  echo
  echo "Latency: from the first try to the 200, measured by the shell around each curl (its process"
  echo "start-up included: a few ms of the steady figure); a failed try is retried on the other"
  echo "instance after 50 ms, with the same Idempotency-Key."
  echo
  echo "| phase | POSTs | first try failed | latency to 200 p50 / p99 / max (ms) |"
  echo "|---|---:|---:|---|"
  while IFS=$'\t' read -r key t0 t1 first tries code seq; do
    echo "$(phase_of "$t0")"$'\t'"$((t1 - t0))"$'\t'"$first"
  done <"$out/posts.tsv" | sort -t$'\t' -k1,1 -k2,2n | awk -F'\t' '
    { n[$1]++; lat[$1, n[$1]] = $2; if ($3 != 200) bad[$1]++ }
    END { for (p in n) { c = n[p]; p50 = lat[p, int((c + 1) / 2)]; p99 = lat[p, int(c * 0.99 + 0.999)];
          printf "| %s | %d | %d | %d / %d / %d |\n", p, c, bad[p] + 0, p50, p99, lat[p, c] } }' | sort
  echo
  echo "Events:"
  for e in "${events[@]}"; do echo "- $e"; done
  echo "- edge-1 moved from A to B $switch_ms ms after A was killed"
  echo "- edge switches: edge-1 $switches1, edge-2 $switches2; both edges at the log's head (seq $head_seq) ${caught:-never} ms after the last POST; resets: $resets"
  grep -h 'switching from' "$work/edge-1.log" "$work/edge-2.log" | sed 's/^/- /' || true
} >"$out/report.md"
echo "== report ($out/report.md)"
cat "$out/report.md"
[ -z "${DRILL_OUT:-}" ] && [ -z "${KEEP:-}" ] && echo "(set DRILL_OUT to keep the report)"
exit $fail
