#!/usr/bin/env bash
# The edge's cache-HIT and cache-MISS paths against tuned peers, in one run: an nginx static
# server with no cache in the path (origin-ref), nginx proxy_cache, Varnish, Apache Traffic Server
# and the edge, all in front of the same nginx origin, configured as the reference harness
# configures them (bench/peers.sh, bench/peers/: tuned nginx, Varnish malloc with one thread pool,
# ATS with one exec thread and a RAM cache). Each server has one worker/thread pinned to
# SERVER_CPUS (0); wrk and the origin run on CLIENT_CPUS (1); access logs are off in every server.
#
#   1. The origin serves random objects from a scratch dir on /dev/shm (/obj/1k ... /obj/1m,
#      Cache-Control: public, max-age=3600, ETag, Last-Modified; /miss/<any>: a 1 KiB body, as
#      cacheable).
#   2. Warm: 3 GETs of each object through each cache, then a 4th must be a hit (edge X-Cache,
#      nginx X-Cache-Status, Varnish X-Cache/X-Varnish/Age, ATS Via cache codes) and must not
#      reach the origin; origin requests during warming are counted (warm.tsv: 1 per object).
#   3. One unrecorded wrk warm-up (WARMUP_SECS, 1 s) per target x size.
#   4. HIT runs: wrk -t1 -c$CONNS -d$DURATION --latency, ROUNDS interleaved rounds (for round:
#      for size: for target), so every target is measured within seconds of nginx. A hit run that
#      reaches the origin more than HIT_ORIGIN_MAX (5) times fails the script.
#   5. MISS runs: every request a URL never seen (/miss/<run>/<n>, bench/peers/wrk-miss.lua),
#      MISS_ROUNDS interleaved rounds of MISS_DURATION s per cache.
#   6. raw.tsv (one line per run), summary.md (medians over rounds; req/s ratio vs nginx taken in
#      each round, then the median; server CPU microseconds per request; misses), a PNG chart
#      (gnuplot: CPU us/request and req/s per size and target), all in OUT_DIR; the summary is
#      printed at the end, and the chart's path.
#
#   bench/hit_path.sh                     # builds Release edge into build-release, ~8 min
#   BIN_DIR=build-release TARGETS="nginx edge" SIZES="1k 16k" bench/hit_path.sh
#   bench/hit_path.sh --smoke             # 1 s runs, 1 round, sizes 1k 1m: proves it works
# Settings (environment): DURATION (5 s), ROUNDS (3), SIZES ("1k 16k 256k 1m"), TARGETS
# ("origin-ref nginx varnish ats edge"), MISS_TARGETS ("nginx varnish ats edge"; "" = no miss
# runs), MISS_DURATION (5), MISS_ROUNDS (3), WARMUP_SECS (1), CONNS (64), SERVER_CPUS (0),
# CLIENT_CPUS (1), ORIGIN_CPUS (= CLIENT_CPUS), MAX_TOTAL (600 s: a longer plan is refused),
# NGINX_SENDFILE (off), BIN_DIR (default: build Release into build-release), OUT_DIR (default: a
# new /tmp/cdn-hit-path-results.XXXXXX), KEEP (keep the scratch dir: configs, logs).
# Peers that are not installed are skipped with a message.
# Exit status: 0 ok; 1 failure (a peer did not start, a warm object was not a hit, a wrk run
# failed, a hit run reached the origin; with --smoke also any error response or a missing
# chart); 2 usage; 77 --smoke skipped (wrk or nginx missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. infra/lib.sh
. bench/peers.sh

smoke=0
case "${1:-}" in
  --smoke) smoke=1 ;;
  "") ;;
  *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

sizes_env=${SIZES:-}
DURATION=${DURATION:-5}
DURATION=${DURATION%s}
ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-"1k 16k 256k 1m"}
TARGETS=${TARGETS:-"origin-ref nginx varnish ats edge"}
MISS_TARGETS=${MISS_TARGETS-"nginx varnish ats edge"}
MISS_DURATION=${MISS_DURATION:-5}
MISS_DURATION=${MISS_DURATION%s}
MISS_ROUNDS=${MISS_ROUNDS:-3}
MISS_SIZE=1k
WARMUP_SECS=${WARMUP_SECS:-1}
CONNS=${CONNS:-64}
SERVER_CPUS=${SERVER_CPUS:-0}
CLIENT_CPUS=${CLIENT_CPUS:-1}
ORIGIN_CPUS=${ORIGIN_CPUS:-$CLIENT_CPUS}
MAX_TOTAL=${MAX_TOTAL:-600}
HIT_ORIGIN_MAX=${HIT_ORIGIN_MAX:-5}
wrk_opts=()
if [ "$smoke" = 1 ]; then
  DURATION=1 ROUNDS=1 MISS_DURATION=1 MISS_ROUNDS=1 WARMUP_SECS=0
  # ctest runs it against a sanitizer build of the edge: allow slow 1 MiB answers (wrk's own
  # timeout, 2 s, would count them as errors)
  wrk_opts+=(--timeout 10s)
  SIZES=${sizes_env:-"1k 1m"}
fi

for tool in wrk:wrk nginx:nginx; do
  if ! command -v "${tool%%:*}" >/dev/null && ! [ -x "/usr/sbin/${tool%%:*}" ]; then
    echo "${tool%%:*} is not installed (Debian package ${tool#*:}; infra/deps.sh bench)" >&2
    if [ "$smoke" = 1 ]; then echo "SKIP: hit_path smoke needs wrk and nginx" >&2; exit 77; fi
    exit 1
  fi
done
for tool in curl taskset timeout perl awk; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
[ "$smoke" = 1 ] || infra/deps.sh bench

if [ "$(nproc)" -lt 2 ]; then
  echo "warning: fewer than 2 CPUs: servers, origin and wrk share CPU 0" >&2
  SERVER_CPUS=0 CLIENT_CPUS=0 ORIGIN_CPUS=0
fi

if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=build-release
  echo "building Release edge into $BIN_DIR" >&2
  cmake -S . -B "$BIN_DIR" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BIN_DIR" -j2 --target edge >/dev/null
fi
case $BIN_DIR in /*) bin=$BIN_DIR ;; *) bin=$root/$BIN_DIR ;; esac

# Sizes as labels (1k, 16k, ...; plain byte counts are accepted: 1024 -> 1k).
labels=""
for s in $SIZES; do labels+="$(size_label "$s") "; done
SIZES=${labels% }
TARGETS=$(peers_filter "$TARGETS")
MISS_TARGETS=$(peers_filter "$MISS_TARGETS")
case " $MISS_TARGETS " in *" origin-ref "*) peers_die "origin-ref is not a cache: not a MISS_TARGET" ;; esac
[ -n "$TARGETS$MISS_TARGETS" ] || peers_die "nothing to measure"

# The plan, estimated (about 0.7 s per run on top of its duration, 30 s to start and warm).
n_t=$(wc -w <<<"$TARGETS")
n_s=$(wc -w <<<"$SIZES")
n_m=$(wc -w <<<"$MISS_TARGETS")
n_hit=$((n_t * n_s * ROUNDS))
n_warm=0
((WARMUP_SECS > 0)) && n_warm=$((n_t * n_s))
n_miss=$((n_m * MISS_ROUNDS))
est=$(awk -v h="$n_hit" -v d="$DURATION" -v w="$n_warm" -v wd="$WARMUP_SECS" -v m="$n_miss" -v md="$MISS_DURATION" \
  'BEGIN { printf "%d", h * (d + 0.7) + w * (wd + 0.7) + m * (md + 0.7) + 30 }')
echo "plan: $n_hit hit runs x ${DURATION}s ($n_t targets: $TARGETS; $n_s sizes: $SIZES; $ROUNDS rounds)," \
  "$n_warm warm-up runs x ${WARMUP_SECS}s, $n_miss miss runs x ${MISS_DURATION}s (${MISS_TARGETS:-none});" \
  "about ${est}s (budget MAX_TOTAL=${MAX_TOTAL}s)"
((est <= MAX_TOTAL)) || peers_die "the plan needs ~${est}s > MAX_TOTAL=${MAX_TOTAL}s: lower DURATION/ROUNDS, fewer TARGETS/SIZES, or raise MAX_TOTAL"
SERVER_TTL=$((MAX_TOTAL + 300))
t_start=$SECONDS

# /dev/shm: 4 GiB free for a full run (ATS's span and a miss run's objects), 512 MiB for --smoke
peers_init hit-path "$([ "$smoke" = 1 ] && echo 512 || echo 4096)"
if [ -z "${OUT_DIR:-}" ]; then OUT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cdn-hit-path-results.XXXXXX"); fi
mkdir -p "$OUT_DIR/wrk"
# shellcheck disable=SC2086 # lists of labels
peers_objects $SIZES $MISS_SIZE

need() { [[ " $TARGETS $MISS_TARGETS " == *" $1 "* ]]; }
origin_port=$(free_port)
start_origin "$ORIGIN_CPUS" "$origin_port" "$MISS_SIZE"
need origin-ref && start_origin_ref "$SERVER_CPUS" "$(free_port)"
need nginx && start_nginx_cache "$SERVER_CPUS" "$(free_port)" "$origin_port"
need varnish && start_varnish "$SERVER_CPUS" "$(free_port)" "$origin_port"
need ats && start_ats "$SERVER_CPUS" "$(free_port)" "$origin_port"
need edge && start_edge "$SERVER_CPUS" "$(free_port)" "$origin_port"
# shellcheck disable=SC2086 # lists of names
all_targets=$(printf '%s\n' $TARGETS $MISS_TARGETS | awk '!seen[$0]++' | tr '\n' ' ')
all_targets=${all_targets% }
for t in $all_targets; do wait_ready "$t"; done
peers_check_loopback
peers_log "started: origin (cpu $ORIGIN_CPUS) and $all_targets (cpu $SERVER_CPUS); scratch $work"

{
  echo "date: $(date -u +%FT%TZ)"
  echo "kernel: $(uname -r)  cpus: $(nproc)  model: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "nginx: $("$(nginx_bin)" -v 2>&1 | sed 's/^nginx version: //')"
  need varnish && echo "varnish: $("$(varnishd_bin)" -V 2>&1 | head -n1)"
  need ats && echo "trafficserver: $(traffic_server -V 2>&1 | grep -m1 -o 'Traffic Server [0-9.]*')"
  need edge && echo "edge: $("$bin/edge/edge" --version 2>&1 | head -n1)"
  echo "wrk: $(wrk -v 2>&1 | head -n1)"
  echo "settings: DURATION=$DURATION ROUNDS=$ROUNDS CONNS=$CONNS SIZES='$SIZES' TARGETS='$TARGETS'" \
    "MISS_TARGETS='$MISS_TARGETS' MISS_DURATION=$MISS_DURATION MISS_ROUNDS=$MISS_ROUNDS WARMUP_SECS=$WARMUP_SECS" \
    "SERVER_CPUS=$SERVER_CPUS CLIENT_CPUS=$CLIENT_CPUS ORIGIN_CPUS=$ORIGIN_CPUS NGINX_SENDFILE=${NGINX_SENDFILE:-off} smoke=$smoke"
  echo "loadavg at start: $(cat /proc/loadavg)"
} >"$OUT_DIR/env.txt"

base_url() { echo "http://127.0.0.1:${peer_port[$1]}"; }

# is_hit TARGET HEADERS: the response headers (lower-cased names, no CR) of a cached answer.
is_hit() {
  local h=$2
  case $1 in
    origin-ref) return 0 ;;
    nginx) grep -qi '^x-cache-status: hit$' <<<"$h" ;;
    edge) grep -qi '^x-cache: hit$' <<<"$h" ;;
    varnish) grep -qiE '^(x-cache: hit|x-varnish: [0-9]+ [0-9]+|age: [1-9][0-9]*)$' <<<"$h" ;;
    ats) grep -qiE '^via: .*\[c[HR]' <<<"$h" ;;
  esac
}

printf 'target\torigin_requests_during_warm\tobjects\n' >"$OUT_DIR/warm.tsv"
: >"$OUT_DIR/hit-headers.tsv"
for t in $all_targets; do
  before=$(origin_count)
  for sz in $SIZES; do
    for _ in 1 2 3; do
      curl -s -o /dev/null --max-time 10 "$(base_url "$t")/obj/$sz" || peers_die "$t: GET /obj/$sz failed"
    done
  done
  warm=$(($(origin_count) - before))
  for sz in $SIZES; do
    o0=$(origin_count)
    hdr=$(curl -s -D - -o /dev/null --max-time 10 "$(base_url "$t")/obj/$sz" | tr -d '\r') \
      || peers_die "$t: GET /obj/$sz failed"
    o1=$(origin_count)
    printf '%s\t%s\t%s\n' "$t" "$sz" "$(grep -iE '^(HTTP/|x-cache|x-varnish|age|via|etag|last-modified|cache-control|content-length)' <<<"$hdr" | paste -sd'|' -)" \
      >>"$OUT_DIR/hit-headers.tsv"
    grep -qE '^HTTP/[0-9.]+ 200' <<<"$hdr" || peers_die "$t: /obj/$sz did not answer 200: $(head -n1 <<<"$hdr")"
    if [ "$t" != origin-ref ] && { [ "$o1" != "$o0" ] || ! is_hit "$t" "$hdr"; }; then
      printf '%s\n' "$hdr" >&2
      peers_die "$t: the 4th GET of /obj/$sz was not a cache hit (origin requests +$((o1 - o0)))"
    fi
  done
  printf '%s\t%s\t%s\n' "$t" "$warm" "$n_s" >>"$OUT_DIR/warm.tsv"
  peers_log "warmed $t: $warm origin requests for $n_s objects; 4th GET a hit"
done

raw=$OUT_DIR/raw.tsv
printf 'phase\tround\tsize\ttarget\trps\tMBps\tp50_us\tp99_us\trequests\terrors\torigin_reqs\tserver_cpu_pct\tcpu_us_per_req\twrk_cpu_pct\tserver_core_busy_pct\tclient_core_busy_pct\torigin_cpu_pct\n' >"$raw"
clk=$(getconf CLK_TCK)
srv_cores=$(expand_cpus "$SERVER_CPUS")
cli_cores=$(expand_cpus "$CLIENT_CPUS")
failures=()

# measure PHASE ROUND SIZE TARGET DURATION URL LUA: one wrk run pinned to CLIENT_CPUS, under
# timeout; samples the CPU of the target's process tree, of the origin, of wrk and of both cores,
# and the origin's request count; appends a line to raw.tsv (not for PHASE warmup).
measure() {
  local phase=$1 round=$2 sz=$3 t=$4 dur=$5 url=$6 lua=$7
  local tag=$phase-r$round-$sz-$t out tf spid opid c0 c1 oc0 oc1 ks0 ks1 kc0 kc1 o0 o1 w0 w1 ksb0 kst0 kcb0 kct0 ksb1 kst1 kcb1 kct1 rc=0 line
  if ((SECONDS - t_start + dur + 5 > MAX_TOTAL)); then
    peers_log "SKIP $tag: past the MAX_TOTAL=${MAX_TOTAL}s budget"
    failures+=("$tag skipped (budget)")
    return 0
  fi
  out=$OUT_DIR/wrk/$tag.txt
  tf=$work/time.txt
  spid=${peer_pid[$t]}
  opid=${peer_pid[origin]}
  read -r c0 oc0 ksb0 kst0 kcb0 kct0 o0 w0 < <(run_counters "$spid" "$opid" "$srv_cores" "$cli_cores")
  ks0="$ksb0 $kst0" kc0="$kcb0 $kct0"
  { TIMEFORMAT='%3U %3S'; time timeout $((dur + 30)) taskset -c "$CLIENT_CPUS" \
      wrk -t1 -c"$CONNS" -d"${dur}s" --latency "${wrk_opts[@]}" -s "$lua" "$url" >"$out" 2>&1; } 2>"$tf" || rc=$?
  read -r c1 oc1 ksb1 kst1 kcb1 kct1 o1 w1 < <(run_counters "$spid" "$opid" "$srv_cores" "$cli_cores")
  ks1="$ksb1 $kst1" kc1="$kcb1 $kct1"
  [ "$phase" = warmup ] && return 0
  line=$(grep '^BENCH_RESULT' "$out" || true)
  if [ -z "$line" ] || [ "$rc" -ne 0 ]; then
    peers_log "FAILED $tag: wrk exit status $rc, output in $out"
    failures+=("$tag: wrk failed (status $rc)")
    return 0
  fi
  awk -v line="$line" -v phase="$phase" -v round="$round" -v sz="$sz" -v t="$t" -v wall_ns="$((w1 - w0))" \
    -v ticks="$((c1 - c0))" -v oticks="$((oc1 - oc0))" -v clk="$clk" -v tcpu="$(cat "$tf")" \
    -v oreq="$((o1 - o0))" -v ks="$ks0 $ks1" -v kc="$kc0 $kc1" '
    BEGIN {
      n = split(line, kv, " "); for (i = 2; i <= n; i++) { split(kv[i], p, "="); v[p[1]] = p[2] }
      secs = v["duration_us"] / 1e6; wall = wall_ns / 1e9; split(tcpu, tc, " ")
      err = v["err_connect"] + v["err_read"] + v["err_write"] + v["err_status"] + v["err_timeout"]
      split(ks, a, " "); split(kc, b, " ")
      sbusy = (a[4] > a[2]) ? 100 * (a[3] - a[1]) / (a[4] - a[2]) : 0
      cbusy = (b[4] > b[2]) ? 100 * (b[3] - b[1]) / (b[4] - b[2]) : 0
      usreq = (v["requests"] > 0) ? ticks / clk * 1e6 / v["requests"] : 0
      printf "%s\t%s\t%s\t%s\t%.0f\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f\n",
        phase, round, sz, t, v["requests"] / secs, v["bytes"] / secs / 1048576, v["p50_us"], v["p99_us"],
        v["requests"], err, oreq, 100 * ticks / clk / wall, usreq, 100 * (tc[1] + tc[2]) / wall,
        sbusy, cbusy, 100 * oticks / clk / wall
    }' >>"$raw"
  peers_log "$(tail -n 1 "$raw" | awk -F'\t' '{ printf "%-4s r%s %-4s %-10s %7s req/s %7s MB/s p50 %5.2f ms p99 %6.2f ms err %s origin %s | server %s%% CPU, %s us/req | wrk %s%% | core busy srv %s%% cli %s%%",
    $1, $2, $3, $4, $5, $6, $7 / 1000, $8 / 1000, $10, $11, $12, $13, $14, $15, $16 }')"
  if [ "$phase" = hit ] && ((o1 - o0 > HIT_ORIGIN_MAX)); then
    peers_log "FAILED $tag: a hit run reached the origin $((o1 - o0)) times (more than $HIT_ORIGIN_MAX)"
    failures+=("$tag: hit run reached the origin $((o1 - o0)) times")
  fi
}

lua_hit=$root/bench/peers/wrk-report.lua
lua_miss=$root/bench/peers/wrk-miss.lua
if ((WARMUP_SECS > 0)); then
  for sz in $SIZES; do
    for t in $TARGETS; do measure warmup 0 "$sz" "$t" "$WARMUP_SECS" "$(base_url "$t")/obj/$sz" "$lua_hit"; done
  done
  peers_log "warm-up runs done"
fi
for ((r = 1; r <= ROUNDS; r++)); do
  for sz in $SIZES; do
    for t in $TARGETS; do measure hit "$r" "$sz" "$t" "$DURATION" "$(base_url "$t")/obj/$sz" "$lua_hit"; done
  done
done
run_id=$(date +%s)-$$
for ((r = 1; r <= MISS_ROUNDS; r++)); do
  for t in $MISS_TARGETS; do
    BENCH_MISS_RUN=$run_id-r$r-$t measure miss "$r" miss "$t" "$MISS_DURATION" "$(base_url "$t")/" "$lua_miss"
  done
done
echo "loadavg at end: $(cat /proc/loadavg)  total: $((SECONDS - t_start))s" >>"$OUT_DIR/env.txt"

# summary.md
{
  echo "## hit_path $(date -u +%FT%TZ)$([ "$smoke" = 1 ] && echo " (SMOKE: 1 s runs, numbers meaningless)")"
  echo
  echo "HIT: wrk -t1 -c$CONNS -d${DURATION}s --latency, HTTP/1.1 keep-alive, $ROUNDS interleaved rounds." \
    "MISS: ${MISS_DURATION}s x $MISS_ROUNDS rounds, a new URL per request, ${MISS_SIZE} body." \
    "Servers on CPU $SERVER_CPUS (one worker/thread each), wrk and the origin on CPU $CLIENT_CPUS." \
    "Versions and settings: env.txt."
  echo
  awk -F'\t' -v base=nginx -v sizes="$SIZES" -v targets="$TARGETS" -v mtargets="$MISS_TARGETS" -v tool=wrk \
    -f bench/peers/summarize.awk "$raw"
  echo
  echo "### Origin requests while warming (3 GETs per object; a cache fetches each object once)"
  echo
  echo '```'
  cat "$OUT_DIR/warm.tsv"
  echo '```'
} >"$OUT_DIR/summary.md"

# chart.png: server CPU us/request (top) and req/s (bottom), medians, per size (and miss) and target
chart=$OUT_DIR/chart.png
if have gnuplot; then
  awk -F'\t' -v sizes="$SIZES" -v targets="$TARGETS" -v mtargets="$MISS_TARGETS" -v mode=chart \
    -f bench/peers/summarize.awk "$raw" >"$OUT_DIR/chart.dat"
  ntg=$(($(awk -F'\t' 'NR == 1 { print NF; exit }' "$OUT_DIR/chart.dat") - 1))
  gnuplot >"$work/logs/gnuplot.log" 2>&1 <<GP || { cat "$work/logs/gnuplot.log" >&2; failures+=("gnuplot failed"); }
set terminal pngcairo size 1100,900 font ",10" noenhanced
set output "$chart"
set datafile separator "\t"
set datafile missing "-"
set key autotitle columnhead outside right top vertical
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics mytics
set logscale y
set lmargin 12
set xtics nomirror
set xlabel "cache HIT by object size; miss: every request a new URL (1 KiB body)"
n = $ntg
# a label over each bar: bar i of a cluster of n (gap 1) is at x = row + (i - 2 - (n - 1) / 2) / (n + 1)
set multiplot layout 2,1 title "hit_path: medians of $ROUNDS round(s); each server one worker/thread on CPU $SERVER_CPUS$([ "$smoke" = 1 ] && echo "; SMOKE run (1 s runs): numbers meaningless")"
set title "server CPU per request (microseconds, log scale; lower is better)"
set ylabel "CPU us / request"
plot for [i=2:n+1] "$OUT_DIR/chart.dat" index 0 using i:xtic(1), \
     for [i=2:n+1] "$OUT_DIR/chart.dat" index 0 using (\$0 + (i - 2 - (n - 1) / 2.0) / (n + 1.0)):i:(sprintf(column(i) < 100 ? "%.1f" : "%.0f", column(i))) with labels offset 0,0.6 font ",8" notitle
set title "requests per second (log scale; higher is better)"
set ylabel "req/s"
plot for [i=2:n+1] "$OUT_DIR/chart.dat" index 1 using i:xtic(1), \
     for [i=2:n+1] "$OUT_DIR/chart.dat" index 1 using (\$0 + (i - 2 - (n - 1) / 2.0) / (n + 1.0)):i:(sprintf("%.0f", column(i))) with labels offset 0,0.6 font ",8" notitle
unset multiplot
GP
else
  echo "gnuplot is not installed (Debian package gnuplot-nox): no chart" >&2
fi

cat "$OUT_DIR/summary.md"
echo
echo "results: $OUT_DIR (raw.tsv, summary.md, env.txt, warm.tsv, hit-headers.tsv, wrk/)"
if [ -s "$chart" ]; then
  echo "chart: $chart"
elif have gnuplot; then
  failures+=("no chart at $chart")
fi
if [ "$smoke" = 1 ]; then
  bad=$(awk -F'\t' 'NR > 1 && $10 > 0 { printf "%s r%s %s %s: %s errors; ", $1, $2, $3, $4, $10 }' "$raw")
  [ -z "$bad" ] || failures+=("error responses: $bad")
  have gnuplot || echo "warning: the chart was not checked (no gnuplot)" >&2
fi
if ((${#failures[@]})); then
  printf 'FAILED: %s\n' "${failures[@]}" >&2
  exit 1
fi
