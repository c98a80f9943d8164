#!/usr/bin/env bash
# HTTP/2 over TLS: cache hits through the edge and through a tuned nginx, in one run: requests/s,
# the ratio to nginx (taken in each round, then the median) and the server CPU microseconds per
# request. Both are in front of the same nginx origin as bench/hit_path.sh (bench/peers.sh: random
# objects on /dev/shm, /obj/1k and /obj/64k by default). nginx is the tuned proxy_cache of
# hit_path.sh (tmpfs cache, open_file_cache, sendfile off + output_buffers 2 1m, tcp_nopush,
# keepalive_requests 1000000, proxy_cache_lock, upstream keepalive, 1 worker) plus
# `listen 127.0.0.1:PORT ssl http2` with ssl_session_cache shared:tls:10m and ssl_protocols TLSv1.2
# TLSv1.3 (nginx 1.22 leaves TLS 1.3 off unless told, and would speak TLS 1.2 to h2load while the
# edge speaks TLS 1.3: not the same work; nginx 1.23.4+ has this default); the edge runs with
# --threads 1 --no-access-log --memory 2GiB and a [tls] listener (alpn h2, http/1.1).
#
# Same TLS on both sides: one self-signed RSA 2048 certificate (CN=127.0.0.1, made with the
# openssl CLI in the scratch dir) for both servers, and h2load offers only the TLS 1.3 suite
# TLS13_CIPHERS (default TLS_AES_128_GCM_SHA256): left alone, the edge picks AES-256-GCM (its own
# order) and nginx AES-128-GCM (the client's), which would not be the same work. The protocol,
# cipher and key exchange h2load reports must be the same in every run, or the script fails.
#
# Each server has one worker pinned to SERVER_CPUS (0); h2load (one thread) and the origin run on
# CLIENT_CPUS (1). Each object is fetched 3 times over h2 to warm it; a 4th fetch must be an
# HTTP/2 hit (nginx X-Cache-Status, edge X-Cache) that does not reach the origin. One unrecorded
# warm-up run (WARMUP s) per target x size, then ROUNDS interleaved rounds (for round: for size:
# for target) of `h2load -t1 -c$CONNECTIONS -m$STREAMS -D$DURATION`, each under `timeout`. The
# origin's request count must not move while h2load runs (every measured request a hit); every run
# must end with h2 negotiated, 0 failed/errored/timed-out requests and only 2xx answers.
# Loopback only; the script stops only the processes it started (by PID).
#   bench/h2_load.sh                     # build Release edge into build-release, run, print tables
#   BIN_DIR=build-release DURATION=10 ROUNDS=5 STREAMS=20 bench/h2_load.sh
#   bench/h2_load.sh --smoke             # 1 s per run, 1 round: proves it works
# Settings: DURATION (s, 5; 1 with --smoke), ROUNDS (3; 1 with --smoke), WARMUP (s, 1; 0 with
# --smoke), CONNECTIONS (h2load -c, 64), STREAMS (h2load -m, 10), SIZES ("1k 64k"; byte counts
# such as 1024 are accepted), SERVER_CPUS/CLIENT_CPUS (0/1; SERVER_CPU/LOAD_CPU still work),
# TLS13_CIPHERS (TLS_AES_128_GCM_SHA256), NGINX_SENDFILE (off), MAX_TOTAL (600 s), OUT_DIR (keep
# raw.tsv and summary.md there), KEEP (keep the scratch dir).
# Exit status: 0 ok; 1 failure (a failed/errored/timed-out request, a non-2xx answer, no h2, a miss
# during the measurement, different TLS); 2 usage; 77 smoke skipped (h2load or nginx missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. infra/lib.sh
. bench/peers.sh

SMOKE=0
case "${1:-}" in
  --smoke) SMOKE=1 ;;
  "") ;;
  *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

if [ "$SMOKE" = 1 ]; then
  DURATION=${DURATION:-1}
  ROUNDS=${ROUNDS:-1}
  WARMUP=${WARMUP:-0}
  # 16, not 64: against a sanitizer build of the edge, some of 64 TLS connections stop being
  # read when h2load ends its run with hundreds of streams in flight, and h2load waits for them
  # until its timeout (seen at 8c63b38 too; being investigated). The full run keeps 64.
  CONNECTIONS=${CONNECTIONS:-16}
else
  DURATION=${DURATION:-5}
  ROUNDS=${ROUNDS:-3}
  WARMUP=${WARMUP:-1}
fi
CONNECTIONS=${CONNECTIONS:-64}
STREAMS=${STREAMS:-10}
SIZES=${SIZES:-"1k 64k"}
SERVER_CPUS=${SERVER_CPUS:-${SERVER_CPU:-0}}
CLIENT_CPUS=${CLIENT_CPUS:-${LOAD_CPU:-1}}
TLS13_CIPHERS=${TLS13_CIPHERS:-TLS_AES_128_GCM_SHA256}
MAX_TOTAL=${MAX_TOTAL:-600}
TARGETS="nginx edge"

for tool in h2load:nghttp2-client nginx:nginx; do
  if ! command -v "${tool%%:*}" >/dev/null && ! [ -x "/usr/sbin/${tool%%:*}" ]; then
    echo "${tool%%:*} is not installed (Debian package ${tool#*:})" >&2
    if [ "$SMOKE" = 1 ]; then echo "SKIP: h2_load smoke needs h2load and nginx" >&2; exit 77; fi
    exit 1
  fi
done
for tool in openssl curl taskset timeout perl awk; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
[ "$SMOKE" = 1 ] || infra/deps.sh bench
if [ "$(nproc)" -lt 2 ]; then
  echo "warning: fewer than 2 CPUs: servers, origin and h2load share CPU 0" >&2
  SERVER_CPUS=0 CLIENT_CPUS=0
fi

if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=build-release
  cmake -S . -B "$BIN_DIR" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BIN_DIR" -j2 --target edge >/dev/null
fi
case $BIN_DIR in /*) bin=$BIN_DIR ;; *) bin=$root/$BIN_DIR ;; esac
[ -x "$bin/edge/edge" ] || { echo "missing $bin/edge/edge (build the Release target edge)" >&2; exit 1; }

labels=""
for s in $SIZES; do labels+="$(size_label "$s") "; done
SIZES=${labels% }
n_s=$(wc -w <<<"$SIZES")
n_run=$((2 * n_s * ROUNDS))
n_warm=0
((WARMUP > 0)) && n_warm=$((2 * n_s))
est=$(awk -v r="$n_run" -v d="$DURATION" -v w="$n_warm" -v wd="$WARMUP" 'BEGIN { printf "%d", r * (d + 0.7) + w * (wd + 0.7) + 10 }')
echo "plan: $n_run h2load runs x ${DURATION}s (nginx, edge; sizes $SIZES; $ROUNDS rounds), $n_warm warm-up runs x ${WARMUP}s;" \
  "about ${est}s (budget MAX_TOTAL=${MAX_TOTAL}s)"
((est <= MAX_TOTAL)) || peers_die "the plan needs ~${est}s > MAX_TOTAL=${MAX_TOTAL}s"
SERVER_TTL=$((MAX_TOTAL + 300))
t_start=$SECONDS

peers_init h2load 256
out_dir=${OUT_DIR:-$work/results}
mkdir -p "$out_dir/h2load"
# shellcheck disable=SC2086 # a list of labels
peers_objects $SIZES 1k

# One certificate for both servers (the reference harness's: RSA 2048, CN=127.0.0.1).
mkdir -p "$work/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -keyout "$work/tls/key.pem" -out "$work/tls/cert.pem" >"$work/logs/openssl.log" 2>&1 \
  || { cat "$work/logs/openssl.log" >&2; exit 1; }
chmod 644 "$work/tls/key.pem" "$work/tls/cert.pem"

origin_port=$(free_port)
start_origin "$CLIENT_CPUS" "$origin_port" 1k

nginx_tls_port=$(free_port)
start_nginx_cache "$SERVER_CPUS" "$(free_port)" "$origin_port" \
  "        listen 127.0.0.1:$nginx_tls_port ssl http2; ssl_certificate $work/tls/cert.pem; ssl_certificate_key $work/tls/key.pem; ssl_session_cache shared:tls:10m; ssl_protocols TLSv1.2 TLSv1.3;"

edge_tls_port=$(free_port)
cat >"$work/edge.toml" <<CONF
[tls]
listen = ["127.0.0.1:$edge_tls_port"]
alpn = ["h2", "http/1.1"]
[[tls.certificates]]
cert = "$work/tls/cert.pem"
key = "$work/tls/key.pem"
CONF
start_edge "$SERVER_CPUS" "$(free_port)" "$origin_port" --config "$work/edge.toml"

wait_ready nginx
wait_ready edge
wait_port "$edge_tls_port" "${peer_pid[edge]}" "$work/logs/edge.log"
grep -q "https on 127.0.0.1:$edge_tls_port" "$work/logs/edge.log" \
  || { echo "edge did not log 'https on 127.0.0.1:$edge_tls_port':" >&2; cat "$work/logs/edge.log" >&2; exit 1; }
wait_port "$nginx_tls_port" "${peer_pid[nginx]}" "$work/logs/nginx.log"
peers_check_loopback
declare -A tls_url=([nginx]="https://127.0.0.1:$nginx_tls_port" [edge]="https://127.0.0.1:$edge_tls_port")

# Warm: 3 fetches over h2, then a 4th must be an HTTP/2 hit that does not reach the origin.
for sz in $SIZES; do
  for t in $TARGETS; do
    for _ in 1 2 3; do curl -sk --http2 -o /dev/null --max-time 10 "${tls_url[$t]}/obj/$sz"; done
    o0=$(origin_count)
    hdr=$(curl -sk --http2 -D - -o /dev/null --max-time 10 "${tls_url[$t]}/obj/$sz" | tr -d '\r')
    o1=$(origin_count)
    case $t in nginx) hit_header=x-cache-status ;; edge) hit_header=x-cache ;; esac
    h=$(awk -v want="$hit_header" -F': ' 'tolower($1) == want { c = $2 } /^HTTP\// { split($0, w, " "); v = w[1] } END { print c, v }' <<<"$hdr")
    if [ "$h" != "HIT HTTP/2" ] || [ "$o1" != "$o0" ]; then
      printf '%s\n' "$hdr" >&2
      echo "$t did not serve an HTTP/2 HIT for /obj/$sz ($h; origin requests +$((o1 - o0)))" >&2
      exit 1
    fi
  done
done
peers_log "warmed nginx and edge: 4th fetch an HTTP/2 hit everywhere; $(origin_count) origin requests so far (readiness probes, one fetch per object and server)"

raw=$out_dir/raw.tsv
printf 'phase\tround\tsize\ttarget\trps\tMBps\tp50_us\tp99_us\trequests\terrors\torigin_reqs\tserver_cpu_pct\tcpu_us_per_req\th2load_cpu_pct\tserver_core_busy_pct\tclient_core_busy_pct\torigin_cpu_pct\n' >"$raw"
clk=$(getconf CLK_TCK)
srv_cores=$(expand_cpus "$SERVER_CPUS")
cli_cores=$(expand_cpus "$CLIENT_CPUS")
tls_seen=""

# h2load_result FILE: checks an h2load output (h2 negotiated, some requests succeeded, none failed,
# errored or timed out, only 2xx) and prints "requests duration_s bytes errors"; fails otherwise.
h2load_result() {
  awk '
    /^Application protocol:/ { proto = $3 }
    /^finished in/ { d = $3; sub(/,$/, "", d); if (d ~ /ms$/) { sub(/ms$/, "", d); d /= 1000 } else sub(/s$/, "", d) }
    /^requests:/ {
      for (i = 2; i <= NF; i++) if ($(i) ~ /^(total|started|done|succeeded|failed|errored|timeout),?$/) { k = $(i); sub(/,/, "", k); v[k] = $(i - 1) }
      seen = 1
    }
    /^status codes:/ { non2 = $5 + $7 + $9 }
    /^traffic:/ { b = $3; gsub(/[()]/, "", b) }
    END {
      bad = ""
      if (proto != "h2") bad = bad " protocol=" proto
      if (!seen || v["succeeded"] + 0 == 0) bad = bad " no-successful-requests"
      if (v["failed"] + 0 || v["errored"] + 0 || v["timeout"] + 0)
        bad = bad sprintf(" failed=%d errored=%d timeout=%d", v["failed"], v["errored"], v["timeout"])
      if (non2) bad = bad sprintf(" non-2xx=%d", non2)
      if (d + 0 <= 0) bad = bad " no-duration"
      if (bad != "") { print FILENAME ":" bad > "/dev/stderr"; exit 1 }
      printf "%.0f %.6f %.0f %d\n", v["done"], d, b, v["failed"] + v["errored"] + v["timeout"] + non2
    }' "$1"
}
tls_line() { # FILE -> "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519"
  awk '/^TLS Protocol:/ {p = $3} /^Cipher:/ {c = $2} /^Server Temp Key:/ {k = $4} END {print p, c, k}' "$1"
}

# measure PHASE ROUND SIZE TARGET DURATION: one h2load run pinned to CLIENT_CPUS under timeout;
# samples CPU (server tree, origin, h2load, both cores) and the origin's request count.
measure() {
  local phase=$1 round=$2 sz=$3 t=$4 dur=$5
  local tag=$phase-r$round-$sz-$t out tf spid opid c0 c1 oc0 oc1 ks0 ks1 kc0 kc1 o0 o1 w0 w1 ksb0 kst0 kcb0 kct0 ksb1 kst1 kcb1 kct1 res tls
  out=$out_dir/h2load/$tag.txt
  tf=$work/time.txt
  spid=${peer_pid[$t]}
  opid=${peer_pid[origin]}
  read -r c0 oc0 ksb0 kst0 kcb0 kct0 o0 w0 < <(run_counters "$spid" "$opid" "$srv_cores" "$cli_cores")
  ks0="$ksb0 $kst0" kc0="$kcb0 $kct0"
  { TIMEFORMAT='%3U %3S'; time timeout $((dur + 30)) taskset -c "$CLIENT_CPUS" \
      h2load -t1 -c"$CONNECTIONS" -m"$STREAMS" -D"$dur" --tls13-ciphers="$TLS13_CIPHERS" \
      "${tls_url[$t]}/obj/$sz" >"$out" 2>&1; } 2>"$tf" \
    || { echo "h2load against $t ($sz) exited non-zero:" >&2; cat "$out" >&2; exit 1; }
  read -r c1 oc1 ksb1 kst1 kcb1 kct1 o1 w1 < <(run_counters "$spid" "$opid" "$srv_cores" "$cli_cores")
  ks1="$ksb1 $kst1" kc1="$kcb1 $kct1"
  res=$(h2load_result "$out") || { cat "$out" >&2; exit 1; }
  if [ "$o1" != "$o0" ]; then
    echo "origin saw $((o1 - o0)) requests while h2load ran against $t ($sz): not all hits" >&2
    exit 1
  fi
  tls=$(tls_line "$out")
  if [ -z "$tls_seen" ]; then
    tls_seen=$tls
  elif [ "$tls" != "$tls_seen" ]; then
    echo "different TLS: $t $sz negotiated '$tls', an earlier run '$tls_seen'" >&2
    exit 1
  fi
  [ "$phase" = warmup ] && return 0
  awk -v res="$res" -v phase="$phase" -v round="$round" -v sz="$sz" -v t="$t" -v wall_ns="$((w1 - w0))" \
    -v ticks="$((c1 - c0))" -v oticks="$((oc1 - oc0))" -v clk="$clk" -v tcpu="$(cat "$tf")" \
    -v oreq="$((o1 - o0))" -v ks="$ks0 $ks1" -v kc="$kc0 $kc1" '
    BEGIN {
      split(res, r, " "); wall = wall_ns / 1e9; split(tcpu, tc, " "); split(ks, a, " "); split(kc, b, " ")
      sbusy = (a[4] > a[2]) ? 100 * (a[3] - a[1]) / (a[4] - a[2]) : 0
      cbusy = (b[4] > b[2]) ? 100 * (b[3] - b[1]) / (b[4] - b[2]) : 0
      printf "%s\t%s\t%s\t%s\t%.0f\t%.1f\t-1\t-1\t%.0f\t%d\t%d\t%.0f\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f\n",
        phase, round, sz, t, r[1] / r[2], r[3] / r[2] / 1048576, r[1], r[4], oreq, 100 * ticks / clk / wall,
        ticks / clk * 1e6 / r[1], 100 * (tc[1] + tc[2]) / wall, sbusy, cbusy, 100 * oticks / clk / wall
    }' >>"$raw"
  peers_log "$(tail -n 1 "$raw" | awk -F'\t' '{ printf "h2 r%s %-4s %-6s %8s req/s %8s MB/s | server %s%% CPU, %s us/req | h2load %s%% | core busy srv %s%% cli %s%%",
    $2, $3, $4, $5, $6, $12, $13, $14, $15, $16 }')"
}

echo "h2load -t1 -c$CONNECTIONS -m$STREAMS -D$DURATION on CPU $CLIENT_CPUS (with the origin);" \
  "edge (--threads 1) and nginx (1 worker) on CPU $SERVER_CPUS; same RSA 2048 certificate; TLS 1.3 suite $TLS13_CIPHERS"
if ((WARMUP > 0)); then
  for sz in $SIZES; do for t in $TARGETS; do measure warmup 0 "$sz" "$t" "$WARMUP"; done; done
fi
for ((r = 1; r <= ROUNDS; r++)); do
  for sz in $SIZES; do
    for t in $TARGETS; do
      if ((SECONDS - t_start + DURATION + 5 > MAX_TOTAL)); then peers_die "out of the MAX_TOTAL=${MAX_TOTAL}s budget"; fi
      measure h2 "$r" "$sz" "$t" "$DURATION"
    done
  done
done

{
  echo "## h2_load $(date -u +%FT%TZ)$([ "$SMOKE" = 1 ] && echo " (SMOKE: 1 s runs, numbers meaningless)")"
  echo
  echo "h2load -t1 -c$CONNECTIONS -m$STREAMS -D${DURATION}s over TLS ($tls_seen), $ROUNDS interleaved rounds;" \
    "servers on CPU $SERVER_CPUS (one worker each), h2load and the origin on CPU $CLIENT_CPUS." \
    "h2load reports no latency percentiles."
  echo
  awk -F'\t' -v base=nginx -v sizes="$SIZES" -v targets="$TARGETS" -v mtargets="" -v tool=h2load \
    -f bench/peers/summarize.awk "$raw"
} >"$out_dir/summary.md"
cat "$out_dir/summary.md"
echo
echo "TLS in every run, both servers: $tls_seen"
echo "origin requests during the whole run: $(origin_count) (warming only; none while h2load ran:" \
  "every measured request was a hit; 0 failed/errored/timed-out, all 2xx)"
[ -z "${OUT_DIR:-}" ] || echo "results: $OUT_DIR (raw.tsv, summary.md, h2load/)"
