#!/usr/bin/env bash
# HTTP/2 over TLS: requests/second of pure cache hits through the edge and through nginx
# (`listen ... ssl http2` + proxy_cache), both in front of the same origin_sim, in one run, as a
# ratio. Both servers present the SAME self-signed certificate (EC P-256, made with the openssl
# CLI in the temp dir) and offer h2 through ALPN. h2load offers only the TLS 1.3 suite
# TLS13_CIPHERS (default TLS_AES_128_GCM_SHA256): left alone, the edge picks AES-256-GCM (its own
# order) and nginx AES-128-GCM (the client's), which would not be the same work. The protocol,
# cipher and key exchange h2load reports are printed, and must match between the two servers.
#
# Like hit_path.sh: each server has one worker pinned to CPU 0 (edge --threads 1; nginx
# worker_processes 1), h2load runs with one thread pinned to CPU 1, access logs are off, each
# object is warmed once, then h2load measures pure hits (the origin's request count is printed
# before and after the measurement). Every h2load run is bounded in time (-D DURATION seconds),
# loopback only; the script stops only the processes it started.
#   bench/h2_load.sh                     # build Release into build-release, run, print a table
#   BIN_DIR=build-release DURATION=10 CONNECTIONS=64 STREAMS=20 bench/h2_load.sh
#   bench/h2_load.sh --smoke             # 1 s per run: proves it works
# Settings: DURATION (s, default 5; 1 with --smoke), WARMUP (h2load --warm-up-time, s, default 1;
# 0 with --smoke), CONNECTIONS (h2load -c, 32), STREAMS (h2load -m, 10), SIZES ("1024 65536"),
# SERVER_CPU/LOAD_CPU (0/1), TLS13_CIPHERS (TLS_AES_128_GCM_SHA256).
# Exit status: 0 ok; 1 failure (a failed/errored/timed-out request, a non-2xx answer, no h2,
# a miss during the measurement); 77 smoke skipped (h2load or nginx missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. infra/lib.sh

SMOKE=0
case "${1:-}" in
  --smoke) SMOKE=1 ;;
  "") ;;
  *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

if [ "$SMOKE" = 1 ]; then
  DURATION=${DURATION:-1}
  WARMUP=${WARMUP:-0}
else
  DURATION=${DURATION:-5}
  WARMUP=${WARMUP:-1}
  infra/deps.sh bench
fi
CONNECTIONS=${CONNECTIONS:-32}
STREAMS=${STREAMS:-10}
SIZES=${SIZES:-"1024 65536"}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
TLS13_CIPHERS=${TLS13_CIPHERS:-TLS_AES_128_GCM_SHA256}

for tool in h2load:nghttp2-client nginx:nginx; do
  if ! command -v "${tool%%:*}" >/dev/null; then
    echo "${tool%%:*} is not installed (Debian package ${tool#*:})" >&2
    if [ "$SMOKE" = 1 ]; then echo "SKIP: h2_load smoke needs h2load and nginx" >&2; exit 77; fi
    exit 1
  fi
done
for tool in openssl curl taskset perl; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
pin_server=(taskset -c "$SERVER_CPU")
pin_load=(taskset -c "$LOAD_CPU")
if [ "$(nproc)" -lt 2 ]; then
  echo "warning: fewer than 2 CPUs: not pinning; servers and h2load share a core" >&2
  pin_server=()
  pin_load=()
fi

if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=build-release
  cmake -S . -B "$BIN_DIR" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BIN_DIR" -j"$(nproc)" --target edge origin_sim >/dev/null
fi
case $BIN_DIR in /*) bin=$BIN_DIR ;; *) bin=$root/$BIN_DIR ;; esac
for b in edge/edge origin_sim/origin_sim; do
  [ -x "$bin/$b" ] || { echo "missing $bin/$b (build the Release targets edge origin_sim)" >&2; exit 1; }
done

scratch_dir h2load

hz=$(getconf CLK_TCK)

# One certificate for both servers.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$work/key.pem" -out "$work/cert.pem" >"$work/openssl.log" 2>&1 \
  || { cat "$work/openssl.log" >&2; exit 1; }
chmod 644 "$work/key.pem" "$work/cert.pem"

origin_port=$(free_port)
"${pin_load[@]}" "$bin/origin_sim/origin_sim" --listen "127.0.0.1:$origin_port" >"$work/origin.log" 2>&1 &
origin_pid=$!
pids+=("$origin_pid")
wait_port "$origin_port" "$origin_pid" "$work/origin.log"

edge_port=$(free_port)
edge_tls_port=$(free_port)
cat >"$work/edge.toml" <<CONF
[tls]
listen = ["127.0.0.1:$edge_tls_port"]
alpn = ["h2", "http/1.1"]
[[tls.certificates]]
cert = "$work/cert.pem"
key = "$work/key.pem"
CONF
"${pin_server[@]}" "$bin/edge/edge" --config "$work/edge.toml" --listen "127.0.0.1:$edge_port" \
  --origin "http://127.0.0.1:$origin_port" --threads 1 --no-access-log --memory 512MiB \
  >"$work/edge.log" 2>&1 &
edge_pid=$!
pids+=("$edge_pid")

nginx_port=$(free_port)
mkdir -p "$work/nginx/cache" "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity 01;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp;
  scgi_temp_path $work/nginx/tmp;
  proxy_cache_path $work/nginx/cache levels=1:2 keys_zone=edge:64m max_size=512m inactive=1h;
  upstream origin { server 127.0.0.1:$origin_port; keepalive 32; }
  server {
    listen 127.0.0.1:$nginx_port ssl http2;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 100000000;   # no GOAWAY after 1000 requests (HTTP/2 default)
    keepalive_timeout 75s;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache edge;
      proxy_cache_valid 200 10m;
      add_header X-Cache \$upstream_cache_status;
    }
  }
}
CONF
# worker_cpu_affinity 01 is CPU 0; with another SERVER_CPU, let taskset decide.
[ "$SERVER_CPU" = 0 ] || sed -i '/worker_cpu_affinity/d' "$work/nginx/nginx.conf"
"${pin_server[@]}" nginx -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" -p "$work/nginx" \
  -g 'daemon off;' >"$work/nginx.log" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")

wait_port "$edge_tls_port" "$edge_pid" "$work/edge.log"
grep -q "https on 127.0.0.1:$edge_tls_port" "$work/edge.log" \
  || { echo "edge did not log 'https on 127.0.0.1:$edge_tls_port':" >&2; cat "$work/edge.log" >&2; exit 1; }
wait_port "$nginx_port" "$nginx_pid" "$work/nginx.log"
nginx_procs() { echo "$nginx_pid" $(cat /proc/"$nginx_pid"/task/*/children 2>/dev/null); }

origin_total() {
  local t
  t=$(curl -s "http://127.0.0.1:$origin_port/_stats" | grep -o '"total":[0-9]*')
  echo "${t#*:}"
}

# h2load on LOAD_CPU; prints "req/s" and checks the run: h2 negotiated, every request done,
# 0 failed / errored / timed out, only 2xx answers.
run_h2load() {  # name url
  local out=$work/h2load-$1.txt warm=()
  [ "$WARMUP" = 0 ] || warm=(--warm-up-time="$WARMUP")
  "${pin_load[@]}" h2load -t1 -c"$CONNECTIONS" -m"$STREAMS" -D"$DURATION" "${warm[@]}" \
    --tls13-ciphers="$TLS13_CIPHERS" "$2" >"$out" 2>&1 \
    || { echo "h2load against $1 exited non-zero:" >&2; cat "$out" >&2; return 1; }
  awk -v name="$1" '
    /^Application protocol:/ { proto = $3 }
    /^requests:/ {
      for (i = 2; i <= NF; i++) {
        if ($(i) ~ /^(total|started|done|succeeded|failed|errored|timeout),?$/) { k = $(i); sub(/,/, "", k); v[k] = $(i - 1) }
      }
      seen_req = 1
    }
    /^status codes:/ { two = $3; three = $5; four = $7; five = $9 }
    /^finished in/ { for (i = 1; i <= NF; i++) if ($(i) ~ /^req\/s/) rps = $(i - 1) }
    END {
      bad = ""
      if (proto != "h2") bad = bad " protocol=" proto
      if (!seen_req || v["succeeded"] + 0 == 0) bad = bad " no-successful-requests"
      if (v["failed"] + 0 || v["errored"] + 0 || v["timeout"] + 0)
        bad = bad sprintf(" failed=%d errored=%d timeout=%d", v["failed"], v["errored"], v["timeout"])
      if (three + four + five) bad = bad sprintf(" non-2xx=%d", three + four + five)
      if (bad != "") { print name ":" bad > "/dev/stderr"; exit 1 }
      print rps
    }' "$out" || { cat "$out" >&2; return 1; }
}
tls_line() {  # name -> "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519"
  awk '/^TLS Protocol:/ {p = $3} /^Cipher:/ {c = $2} /^Server Temp Key:/ {k = $4} END {print p, c, k}' \
    "$work/h2load-$1.txt"
}

echo "h2load -t1 -c$CONNECTIONS -m$STREAMS -D$DURATION (warm-up ${WARMUP}s) on CPU $LOAD_CPU;" \
  "edge (--threads 1) and nginx (1 worker) on CPU $SERVER_CPU; same EC P-256 certificate"
echo "edge_cpu/nginx_cpu: the server's CPU time (utime + stime, /proc) over the h2load run's wall time"
results=()
rows=()
for size in $SIZES; do
  path="/bench/object-$size?size=$size&cc=public%2C%20max-age%3D3600"
  # Warm once, then one more request each that must be a HIT.
  for p in "$edge_tls_port" "$nginx_port"; do
    curl -sk --http2 -o /dev/null "https://127.0.0.1:$p$path"
    h=$(curl -sk --http2 -D - -o /dev/null "https://127.0.0.1:$p$path" | tr -d '\r' \
      | awk -F': ' 'tolower($1) == "x-cache" {print $2} /^HTTP\// {split($0, w, " "); v = w[1]} END {print v}' | paste -sd' ')
    case $h in
      "HIT HTTP/2") ;;
      *) echo "port $p did not serve an HTTP/2 HIT for $path ($h)" >&2; exit 1 ;;
    esac
  done
  before=$(origin_total)
  e0=$(cpu_ticks "$edge_pid"); t0=$(date +%s.%N)
  e=$(run_h2load "edge-$size" "https://127.0.0.1:$edge_tls_port$path")
  e1=$(cpu_ticks "$edge_pid"); t1=$(date +%s.%N)
  n0=$(cpu_ticks $(nginx_procs)); t2=$(date +%s.%N)
  n=$(run_h2load "nginx-$size" "https://127.0.0.1:$nginx_port$path")
  n1=$(cpu_ticks $(nginx_procs)); t3=$(date +%s.%N)
  after=$(origin_total)
  if [ "$after" != "$before" ]; then
    echo "origin saw $((after - before)) requests while measuring $size B: not all hits" >&2
    exit 1
  fi
  ecpu=$(awk -v d="$((e1 - e0))" -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", 100 * d / hz / (b - a) }')
  ncpu=$(awk -v d="$((n1 - n0))" -v hz="$hz" -v a="$t2" -v b="$t3" 'BEGIN { printf "%.0f", 100 * d / hz / (b - a) }')
  rows+=("$(awk -v s="$size" -v e="$e" -v n="$n" -v ec="$ecpu" -v nc="$ncpu" \
    'BEGIN { printf "%-8s %12.0f %12.0f %10.2f %9s%% %9s%%", s, e, n, e / n, ec, nc }')")
  et=$(tls_line "edge-$size")
  nt=$(tls_line "nginx-$size")
  [ "$et" = "$nt" ] || { echo "different TLS for $size B: edge $et, nginx $nt" >&2; exit 1; }
  results+=("$size B: $et (both)")
done
printf '%-8s %12s %12s %10s %10s %10s\n' size edge_req/s nginx_req/s edge/nginx edge_cpu nginx_cpu
printf '%s\n' "${rows[@]}"
printf 'TLS %s\n' "${results[@]}"
echo "origin requests during the whole run: $(origin_total) (warm-up only; none while h2load ran:" \
  "every measured request was a hit; 0 failed/errored/timed-out, all 2xx)"
