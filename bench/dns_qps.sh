#!/usr/bin/env bash
# DNS queries per second of geodns against gdnsd (Debian's gdnsd 3, plugin_geoip), in one run, as
# ratios. Both serve the same zone (bench/dns_qps/) from the same database
# (tests/data/geodns-test.mmdb): www.cdn.example steered to the nearest of three edges by
# great-circle distance, TTL 20, one address per answer; static ns1/ns2, SOA, NS. Health checks
# are off on both sides (geodns: [health] enabled = false; gdnsd: service_types => up), so both
# answer as if every edge were up. geodns' response rate limiting is off too ([rrl] enabled =
# false): gdnsd has none, and dnsperf's flood of identical queries is what it would limit.
#
# On 2 cores dnsperf saturates its own core before a fast server does, so each server has one
# thread pinned to CPU 0, dnsperf runs pinned to CPU 1, and besides QPS the table gives the
# server's CPU time (utime + stime from /proc/PID/stat, all its threads) and queries per server
# CPU-second, which is the fairer comparison. Before measuring, probe queries (by source address
# and by ECS) must get the same nearest edge from both servers, or the script fails.
#
# Modes (every query carries EDNS(0); the files are made by bench/dns_qps/make-queries.pl):
#   noecs   www A, no ECS; the client is dnsperf's source address NOECS_SOURCE (127.2.1.1: GB)
#   ecs     www A, each query with its own ECS subnet (diverse /24s and /56s, some unknown)
#   mixed   ECS, 60% www A + AAAA (NODATA), static A, SOA, NS and 10% NXDOMAIN
# UDP_THREADS=false runs geodns with [server] udp_threads = false (the asio reactor; the default
# is true: blocking recvmmsg threads). UDP_COALESCE_US sets [server] udp_coalesce_us (default
# 0, geodns' default: the threads never wait for a fuller batch).
# Loopback only; every dnsperf run is bounded (-l DURATION seconds).
#   bench/dns_qps.sh                   # build Release geodns into build-release, run, print a table
#   BIN_DIR=build-release DURATION=10 MODES="noecs ecs" bench/dns_qps.sh
#   bench/dns_qps.sh --smoke           # 2 s per run: proves it works (gdnsd skipped if absent)
# Exit status: 0 ok, 1 failure (including a disagreement on a probe), 77 smoke skipped (no dnsperf).
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
  DURATION=${DURATION:-2}
  QUERIES=${QUERIES:-2000}
else
  DURATION=${DURATION:-10}
  QUERIES=${QUERIES:-20000}
  infra/deps.sh bench
fi
CLIENTS=${CLIENTS:-4}          # dnsperf -c: sockets
OUTSTANDING=${OUTSTANDING:-100} # dnsperf -q: queries in flight
RATE=${RATE:-}                 # dnsperf -Q: offered queries/s (default: as fast as it can)
MODES=${MODES:-"noecs ecs mixed"}
NOECS_SOURCE=${NOECS_SOURCE:-127.2.1.1}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PERF_STAT=${PERF_STAT:-}       # 1: perf stat each server during each run (syscalls, wake-ups per query)
MMDB=$root/tests/data/geodns-test.mmdb
conf=$root/bench/dns_qps

if ! command -v dnsperf >/dev/null; then
  echo "dnsperf is not installed (Debian package dnsperf)" >&2
  if [ "$SMOKE" = 1 ]; then echo "SKIP: dns_qps smoke needs dnsperf" >&2; exit 77; fi
  exit 1
fi
command -v dig >/dev/null || { echo "dig is not installed (Debian package dnsutils)" >&2; exit 1; }
[ -f "$MMDB" ] || { echo "missing $MMDB (tests/data/make-geodns-mmdb.pl makes it)" >&2; exit 1; }
have_gdnsd=1
if ! command -v gdnsd >/dev/null; then
  have_gdnsd=0
  if [ "$SMOKE" = 1 ]; then
    echo "gdnsd is not installed (Debian package gdnsd): measuring geodns alone, no ratio" >&2
  else
    echo "gdnsd is not installed (Debian package gdnsd)" >&2
    exit 1
  fi
fi
perf_events=task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_recvmmsg,syscalls:sys_enter_sendmmsg,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl
if [ -n "$PERF_STAT" ] && ! perf stat -e "$perf_events" -- true >/dev/null 2>&1; then
  echo "PERF_STAT: perf cannot count $perf_events here (perf_event_paranoid? not root?)" >&2
  exit 1
fi
pin_server=(taskset -c "$SERVER_CPU")
pin_load=(taskset -c "$LOAD_CPU")
if [ "$(nproc)" -lt 2 ]; then
  echo "warning: fewer than 2 CPUs: not pinning; server and dnsperf share a core" >&2
  pin_server=()
  pin_load=()
fi

if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=build-release
  cmake -S . -B "$BIN_DIR" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BIN_DIR" -j"$(nproc)" --target geodns >/dev/null
fi
case $BIN_DIR in /*) bin=$BIN_DIR ;; *) bin=$root/$BIN_DIR ;; esac
[ -x "$bin/geodns/geodns" ] || { echo "no geodns binary at $bin/geodns/geodns" >&2; exit 1; }

scratch_dir dnsqps

wait_dns() {  # port pid log: until the server answers SOA over UDP (at most ~10 s)
  for _ in $(seq 1 100); do
    kill -0 "$2" 2>/dev/null || { echo "server on port $1 exited; its log:" >&2; cat "$3" >&2; return 1; }
    dig @127.0.0.1 -p "$1" +time=1 +tries=1 +norec cdn.example SOA 2>/dev/null | grep -q 'status: NOERROR' && return 0
    sleep 0.1
  done
  echo "nothing answers DNS on port $1; log:" >&2
  cat "$3" >&2
  return 1
}

# --- servers ---------------------------------------------------------------------------------
geodns_port=$(free_dns_port)
sed -e "s|@MMDB@|$MMDB|" -e "s|@UDP_THREADS@|${UDP_THREADS:-true}|" \
    -e "s|@UDP_COALESCE_US@|${UDP_COALESCE_US:-0}|" "$conf/geodns.toml.in" >"$work/geodns.toml"
"${pin_server[@]}" "$bin/geodns/geodns" --config "$work/geodns.toml" --dns "127.0.0.1:$geodns_port" \
  --threads 1 >"$work/geodns.log" 2>&1 &
geodns_pid=$!
pids+=("$geodns_pid")
wait_dns "$geodns_port" "$geodns_pid" "$work/geodns.log"
grep -q "dns on 127.0.0.1:$geodns_port" "$work/geodns.log" ||
  echo "warning: geodns did not log 'dns on 127.0.0.1:$geodns_port'" >&2
grep -q "health checks are off" "$work/geodns.log" ||
  echo "warning: geodns did not log that health checks are off" >&2
grep -q "response rate limiting is off" "$work/geodns.log" ||
  echo "warning: geodns did not log that response rate limiting is off (gdnsd has none)" >&2

servers=(geodns)
declare -A port pid
port[geodns]=$geodns_port
pid[geodns]=$geodns_pid
if [ "$have_gdnsd" = 1 ]; then
  gdnsd_port=$(free_dns_port)
  mkdir -p "$work/gdnsd/zones"
  sed -e "s|@WORK@|$work|g" -e "s|@PORT@|$gdnsd_port|g" -e "s|@MMDB@|$MMDB|g" \
    "$conf/gdnsd.config.in" >"$work/gdnsd/config"
  cp "$conf/cdn.example.zone" "$work/gdnsd/zones/cdn.example"
  # "start" stays in the foreground, so $! is gdnsd itself (taskset execs it).
  "${pin_server[@]}" gdnsd -c "$work/gdnsd" start >"$work/gdnsd.log" 2>&1 &
  gdnsd_pid=$!
  pids+=("$gdnsd_pid")
  wait_dns "$gdnsd_port" "$gdnsd_pid" "$work/gdnsd.log"
  servers+=(gdnsd)
  port[gdnsd]=$gdnsd_port
  pid[gdnsd]=$gdnsd_pid
fi
echo "geodns: $bin/geodns/geodns on 127.0.0.1:$geodns_port (pid $geodns_pid, 1 thread, health checks off)"
[ "$have_gdnsd" = 1 ] &&
  echo "gdnsd:  $(gdnsd -c "$work/gdnsd" checkconf 2>&1 | grep -o 'gdnsd version [0-9.]*') on 127.0.0.1:$gdnsd_port (pid $gdnsd_pid, 1 UDP + 1 TCP thread, service_types => up)"
echo "database: $MMDB ($(sha256sum "$MMDB" | cut -c1-16)...)"

# --- correctness probes ----------------------------------------------------------------------
# dig output -> "STATUS|answer RRs without TTL, sorted, ';'-joined|ttls|ecs"
probe() {  # server label dig-args...
  local server=$1
  shift 2
  dig @127.0.0.1 -p "${port[$server]}" +norec +time=2 +tries=2 "$@" 2>&1 | awk '
    /->>HEADER<<-/ { match($0, /status: [A-Z]+/); status = substr($0, RSTART + 8, RLENGTH - 8) }
    /CLIENT-SUBNET:/ { ecs = $NF }
    /^;; ANSWER SECTION:/ { ans = 1; next }
    /^$/ { ans = 0 }
    ans && !/^;/ { rr = $1 " " $4; for (i = 5; i <= NF; i++) rr = rr " " $i; rrs[++n] = rr; ttls = ttls (ttls ? "," : "") $2 }
    END {
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (rrs[j] < rrs[i]) { t = rrs[i]; rrs[i] = rrs[j]; rrs[j] = t }
      out = ""; for (i = 1; i <= n; i++) out = out (i > 1 ? "; " : "") rrs[i]
      printf "%s|%s|%s|%s\n", (status ? status : "NO-ANSWER"), out, ttls, ecs
    }'
}
# kind label dig-args: kind "steer" must agree on the A answer (the nearest edge), "other" is
# compared on status and answer and only reported.
probes=(
  "steer|src 127.1.0.1 (US Chicago)|-b 127.1.0.1 www.cdn.example A"
  "steer|src 127.2.1.1 (GB, /24 in DE /16)|-b 127.2.1.1 www.cdn.example A"
  "steer|src 127.3.0.1 (KR)|-b 127.3.0.1 www.cdn.example A"
  "steer|src 127.6.0.1 (Honolulu: antimeridian)|-b 127.6.0.1 www.cdn.example A"
  "steer|src 127.7.0.1 (ZA, no location)|-b 127.7.0.1 www.cdn.example A"
  "steer|src 127.0.0.1 (not in DB)|-b 127.0.0.1 www.cdn.example A"
  "steer|ecs 192.0.2.0/24 (US)|+subnet=192.0.2.0/24 www.cdn.example A"
  "steer|ecs 198.51.100.0/24 (DE)|+subnet=198.51.100.0/24 www.cdn.example A"
  "steer|ecs 203.0.113.0/24 (KR)|+subnet=203.0.113.0/24 www.cdn.example A"
  "steer|ecs 127.4.9.0/24 (BR)|+subnet=127.4.9.0/24 www.cdn.example A"
  "steer|ecs 127.5.0.0/24 (AU)|+subnet=127.5.0.0/24 www.cdn.example A"
  "steer|ecs 127.6.200.0/24 (Honolulu)|+subnet=127.6.200.0/24 www.cdn.example A"
  "steer|ecs 127.8.5.0/24 (IN)|+subnet=127.8.5.0/24 www.cdn.example A"
  "steer|ecs 81.2.69.142/24 (GB probe)|+subnet=81.2.69.142/24 www.cdn.example A"
  "steer|ecs 10.1.2.0/24 (not in DB)|+subnet=10.1.2.0/24 www.cdn.example A"
  "steer|ecs 2001:db8:6::/56 (Honolulu v6)|+subnet=2001:db8:6::/56 www.cdn.example A"
  "steer|ecs 2001:db8:2:1::/64 (GB v6)|+subnet=2001:db8:2:1::/64 www.cdn.example A"
  "steer|ecs 0.0.0.0/0 (source prefix 0)|-b 127.3.0.1 +subnet=0.0.0.0/0 www.cdn.example A"
  "other|www AAAA (NODATA)|+subnet=198.51.100.0/24 www.cdn.example AAAA"
  "other|ns1 A (static)|ns1.cdn.example A"
  "other|apex SOA|cdn.example SOA"
  "other|apex NS|cdn.example NS"
  "other|nx000001 A (NXDOMAIN)|+subnet=198.51.100.0/24 nx000001.cdn.example A"
)
echo
echo "probes (answer, TTLs, ECS source/scope as dig prints it):"
bad=0
notes=0
for p in "${probes[@]}"; do
  IFS='|' read -r kind label args <<<"$p"
  # shellcheck disable=SC2086
  g=$(probe geodns "$label" $args)
  printf '  %-40s geodns %s\n' "$label" "$g"
  [ "$have_gdnsd" = 1 ] || continue
  # shellcheck disable=SC2086
  d=$(probe gdnsd "$label" $args)
  printf '  %-40s gdnsd  %s\n' "" "$d"
  IFS='|' read -r gs ga _ _ <<<"$g"
  IFS='|' read -r ds da _ _ <<<"$d"
  if [ "$gs|$ga" != "$ds|$da" ]; then
    if [ "$kind" = steer ]; then
      echo "  ^^^ DISAGREE on the answer for: dig $args" >&2
      bad=$((bad + 1))
    else
      echo "  ^^^ differs (status or answer) for: dig $args" >&2
      notes=$((notes + 1))
    fi
  fi
done
if [ "$bad" -gt 0 ]; then
  echo "geodns and gdnsd disagree on $bad steered probe(s): not measuring" >&2
  exit 1
fi
[ "$notes" -gt 0 ] && echo "note: $notes non-steered probe(s) differ (see above); measuring anyway" >&2

# --- load ------------------------------------------------------------------------------------
for m in $MODES; do
  perl "$conf/make-queries.pl" --mode "$m" --count "$QUERIES" --out "$work/q-$m.bin" || exit 2
done

hz=$(getconf CLK_TCK)
declare -A qps lost lat cpu qpc codes
echo
echo "dnsperf: $DURATION s per run, -c $CLIENTS -q $OUTSTANDING${RATE:+ -Q $RATE}, UDP; servers on CPU $SERVER_CPU, dnsperf on CPU $LOAD_CPU"
for m in $MODES; do
  src=()
  [ "$m" = noecs ] && src=(-a "$NOECS_SOURCE")
  [ -n "$RATE" ] && src+=(-Q "$RATE")
  for s in "${servers[@]}"; do
    kill -0 "${pid[$s]}" 2>/dev/null || { echo "$s (pid ${pid[$s]}) is gone" >&2; exit 1; }
    out=$work/dnsperf-$s-$m.txt
    t0=$(cpu_ticks "${pid[$s]}")
    if [ -n "$PERF_STAT" ]; then
      perf stat -x, -o "$work/perf-$s-$m.txt" -e "$perf_events" -p "${pid[$s]}" -- sleep "$DURATION" &
      perf_pid=$!
    fi
    "${pin_load[@]}" dnsperf -B -d "$work/q-$m.bin" -s 127.0.0.1 -p "${port[$s]}" "${src[@]}" \
      -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING" -t 2 >"$out" 2>&1 ||
      { echo "dnsperf against $s failed:" >&2; cat "$out" >&2; exit 1; }
    t1=$(cpu_ticks "${pid[$s]}")
    [ -n "$PERF_STAT" ] && wait "$perf_pid"
    completed=$(awk '/Queries completed:/ { print $3 }' "$out")
    if [ -z "$completed" ] || [ "$completed" -eq 0 ]; then
      echo "no query to $s completed in mode $m:" >&2
      cat "$out" >&2
      exit 1
    fi
    qps[$s,$m]=$(awk '/Queries per second:/ { printf "%.0f", $4 }' "$out")
    lost[$s,$m]=$(awk '/Queries lost:/ { gsub(/[()%]/, "", $4); print $4 }' "$out")
    lat[$s,$m]=$(awk '/Average Latency/ { printf "%.3f", $4 * 1000 }' "$out")
    cpu[$s,$m]=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
    qpc[$s,$m]=$(awk -v n="$completed" -v c="${cpu[$s,$m]}" 'BEGIN { if (c > 0) printf "%.0f", n / c; else print "-" }')
    codes[$s,$m]=$(sed -n 's/^ *Response codes: *//p' "$out")
  done
done

# --- report ----------------------------------------------------------------------------------
if [ -n "$PERF_STAT" ]; then
  # perf stat -x, lines: value,unit,event,...; per query = value / queries completed.
  echo
  echo "perf stat per query completed (events over the run; task-clock in microseconds):"
  for m in $MODES; do
    for s in "${servers[@]}"; do
      n=$(awk '/Queries completed:/ { print $3 }' "$work/dnsperf-$s-$m.txt")
      awk -F, -v s="$s" -v m="$m" -v n="$n" '
        /^[0-9.]+,/ { e = $3; sub(/^syscalls:sys_enter_|^raw_syscalls:sys_enter/, "", e); if (e == "") e = "syscalls"
                      v = (e == "task-clock") ? $1 * 1000 : $1; line = line sprintf(" %s=%.3f", e, v / n) }
        END { printf "  %-7s %-7s%s\n", s, m, line }' "$work/perf-$s-$m.txt"
    done
  done
fi
echo
printf '%-7s %-7s %10s %7s %8s %7s %6s %12s\n' server mode QPS lost% avg_ms cpu_s cpu% queries/cpu_s
for m in $MODES; do
  for s in "${servers[@]}"; do
    printf '%-7s %-7s %10s %7s %8s %7s %6s %12s\n' "$s" "$m" "${qps[$s,$m]}" "${lost[$s,$m]}" \
      "${lat[$s,$m]}" "${cpu[$s,$m]}" \
      "$(awk -v c="${cpu[$s,$m]}" -v d="$DURATION" 'BEGIN { printf "%.0f", 100 * c / d }')" "${qpc[$s,$m]}"
  done
done
if [ "$have_gdnsd" = 1 ]; then
  echo
  printf '%-7s %12s %20s\n' mode 'QPS ratio' 'queries/cpu_s ratio'
  for m in $MODES; do
    awk -v m="$m" -v gq="${qps[geodns,$m]}" -v dq="${qps[gdnsd,$m]}" -v gc="${qpc[geodns,$m]}" -v dc="${qpc[gdnsd,$m]}" \
      'BEGIN { printf "%-7s %12.2f %20s\n", m, gq / dq, (gc + 0 > 0 && dc + 0 > 0) ? sprintf("%.2f", gc / dc) : "-" }'
  done
  echo "(ratios are geodns / gdnsd; above 1 means geodns is faster)"
fi
echo
echo "response codes:"
for m in $MODES; do
  for s in "${servers[@]}"; do printf '  %-7s %-7s %s\n' "$s" "$m" "${codes[$s,$m]}"; done
done
# Same query file, so the same share of each response code (within 1 point), or one server answers
# differently (SERVFAIL, REFUSED, FORMERR...).
if [ "$have_gdnsd" = 1 ]; then
  for m in $MODES; do
    awk -v a="${codes[geodns,$m]}" -v b="${codes[gdnsd,$m]}" -v m="$m" '
      function parse(s, t,   n, i, f, x) {
        n = split(s, f, /, */)
        for (i = 1; i <= n; i++) { split(f[i], x, / +/); gsub(/[()%]/, "", x[3]); t[x[1]] = x[3] }
      }
      BEGIN {
        parse(a, ga); parse(b, gb)
        for (c in ga) if (!(c in gb) || ga[c] - gb[c] > 1 || gb[c] - ga[c] > 1) bad = 1
        for (c in gb) if (!(c in ga)) bad = 1
        if (bad) printf "warning: %s: response codes differ: geodns %s / gdnsd %s\n", m, a, b > "/dev/stderr"
      }'
  done
fi
if [ "$SMOKE" = 1 ]; then
  echo "smoke: ok"
fi
