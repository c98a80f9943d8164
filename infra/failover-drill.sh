#!/usr/bin/env bash
# The multi-region failover drill, on loopback only: origin_sim, purge_api, three regions of two
# edges each on their own 127.x addresses, and geodns steering www.cdn.example by EDNS Client
# Subnet. Clients of every region resolve and fetch in a bounded loop; the drill kills both edges
# of one region, restarts them, and writes report.md and timeline.png into DRILL_OUT.
#   infra/failover-drill.sh                 # 40 s: kill eu-west at 10 s, restart it at 25 s
#   infra/failover-drill.sh --quick         # 12 s: kill at 3 s, restart at 7 s (CI smoke test)
#   BIN_DIR=build-release infra/failover-drill.sh       # use binaries already built there
#   KILL_REGION=ap-northeast FAIL_MODE=stop DRILL_OUT=/tmp/drill infra/failover-drill.sh
#   infra/failover-drill.sh --tiered [--quick]   # the edges behind two parents; one parent killed
#   LAST_RESORT=1 infra/failover-drill.sh --quick  # answers carry a next-region address too
# Knobs (environment): DRILL_SECONDS KILL_AT RESTORE_AT (seconds), KILL_REGION (us-east, eu-west,
# ap-northeast), FAIL_MODE (kill: SIGKILL and start again; stop: SIGSTOP and SIGCONT, a hung
# region), CLIENT_DNS (ttl: a client keeps an answer for its TTL like a stub resolver; every:
# it uses the newest answer for every request), CLIENTS_PER_REGION, REQUEST_INTERVAL_MS,
# DNS_TTL, HEALTH_INTERVAL_MS HEALTH_TIMEOUT_MS HEALTH_FALL HEALTH_RISE, STEER_BOUND and
# RECOVER_BOUND (seconds, pass/fail limits), NET_PREFIX (127.31), ports: EDGE_PORT
# EDGE_ADMIN_PORT (8080/8081, 0 in --quick: each edge picks its own), ORIGIN_PORT PURGE_PORT
# DNS_PORT GEODNS_ADMIN_PORT (0: any free port). LAST_RESORT=1: geodns adds one address of the
# next-nearest region to every answer (last_resort = true; clients try each address in turn).
# Tiered mode (--tiered or TIERED=1): two parent edges (shield-a NET_PREFIX.9.1, shield-b .9.2) in
# front of origin_sim, every region edge has both as [[parents]], and clients ask for objects
# shared by every region, a new one every NEW_OBJECT_EVERY (3) requests. At PARENT_KILL_AT
# (default KILL_AT + (RESTORE_AT - KILL_AT) / 4) the drill sends SIGKILL to KILL_PARENT (shield-a)
# and starts it again at PARENT_RESTORE_AT (default RESTORE_AT; "none": it stays down). The drill
# then also fails when a request fails at a live edge after the parent kill.
# Exit status: 0 passed; 1 the drill failed (geodns never answered, traffic did not leave the
# region within STEER_BOUND, or the region was not answered again within RECOVER_BOUND of its
# restart); 2 the set-up failed (build, tools, a port in use).
# shellcheck disable=SC2154 # the measures are assigned by an eval of the analysis' output
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
root=$(pwd)
. infra/lib.sh

quick=0
tiered=${TIERED:-0}
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    --tiered) tiered=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; /shellcheck/d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "failover-drill: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

if [ $quick = 1 ]; then
  : "${DRILL_SECONDS:=12}" "${KILL_AT:=3}" "${RESTORE_AT:=7}" "${EDGE_PORT:=0}" "${EDGE_ADMIN_PORT:=0}"
else
  : "${DRILL_SECONDS:=40}" "${KILL_AT:=10}" "${RESTORE_AT:=25}" "${EDGE_PORT:=8080}" "${EDGE_ADMIN_PORT:=8081}"
fi
: "${KILL_REGION:=eu-west}" "${FAIL_MODE:=kill}" "${CLIENT_DNS:=ttl}" "${CLIENTS_PER_REGION:=1}"
: "${REQUEST_INTERVAL_MS:=100}" "${DNS_TTL:=2}" "${HEALTH_INTERVAL_MS:=250}" "${HEALTH_TIMEOUT_MS:=250}"
: "${HEALTH_FALL:=2}" "${HEALTH_RISE:=2}" "${STEER_BOUND:=10}" "${RECOVER_BOUND:=10}"
: "${NET_PREFIX:=127.31}" "${ORIGIN_PORT:=0}" "${PURGE_PORT:=0}" "${DNS_PORT:=0}" "${GEODNS_ADMIN_PORT:=0}"
# Tiered mode (the parent kill's defaults follow KILL_AT and RESTORE_AT).
: "${LAST_RESORT:=0}" "${NEW_OBJECT_EVERY:=3}" "${KILL_PARENT:=shield-a}"
: "${PARENT_KILL_AT:=$((KILL_AT + (RESTORE_AT - KILL_AT) / 4))}" "${PARENT_RESTORE_AT:=$RESTORE_AT}"
# Local-only tokens (everything binds loopback only).
: "${PURGE_TOKEN:=drill-admin-token}" "${EDGE_TOKEN:=drill-edge-token}"
zone=cdn.example
name=www.$zone

die() { echo "failover-drill: $*" >&2; exit 2; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
for v in DRILL_SECONDS KILL_AT RESTORE_AT CLIENTS_PER_REGION REQUEST_INTERVAL_MS DNS_TTL \
  HEALTH_INTERVAL_MS HEALTH_TIMEOUT_MS HEALTH_FALL HEALTH_RISE STEER_BOUND RECOVER_BOUND \
  EDGE_PORT EDGE_ADMIN_PORT ORIGIN_PORT PURGE_PORT DNS_PORT GEODNS_ADMIN_PORT NEW_OBJECT_EVERY; do
  is_uint "${!v}" || die "$v must be a whole number (got '${!v}')"
done
case $tiered in 0 | 1) ;; *) die "TIERED is 0 or 1" ;; esac
case $LAST_RESORT in 0 | 1) ;; *) die "LAST_RESORT is 0 or 1" ;; esac
((NEW_OBJECT_EVERY >= 1)) || die "NEW_OBJECT_EVERY is at least 1"
parent_restore=0
if [ "$tiered" = 1 ]; then
  case $KILL_PARENT in shield-a | shield-b) ;; *) die "KILL_PARENT is shield-a or shield-b" ;; esac
  is_uint "$PARENT_KILL_AT" || die "PARENT_KILL_AT must be a whole number (got '$PARENT_KILL_AT')"
  ((PARENT_KILL_AT >= 1 && PARENT_KILL_AT < DRILL_SECONDS)) ||
    die "need 1 <= PARENT_KILL_AT < DRILL_SECONDS (got $PARENT_KILL_AT)"
  if [ "$PARENT_RESTORE_AT" != none ]; then
    is_uint "$PARENT_RESTORE_AT" || die "PARENT_RESTORE_AT must be a whole number or none"
    ((PARENT_RESTORE_AT > PARENT_KILL_AT && PARENT_RESTORE_AT < DRILL_SECONDS)) ||
      die "need PARENT_KILL_AT < PARENT_RESTORE_AT < DRILL_SECONDS (or PARENT_RESTORE_AT=none)"
    parent_restore=1
  fi
fi
((KILL_AT >= 1 && KILL_AT < RESTORE_AT && RESTORE_AT < DRILL_SECONDS)) ||
  die "need 1 <= KILL_AT < RESTORE_AT < DRILL_SECONDS (got $KILL_AT, $RESTORE_AT, $DRILL_SECONDS)"
((DRILL_SECONDS <= 600)) || die "DRILL_SECONDS is at most 600"
((CLIENTS_PER_REGION >= 1 && CLIENTS_PER_REGION <= 8)) || die "CLIENTS_PER_REGION is 1..8"
((REQUEST_INTERVAL_MS >= 10)) || die "REQUEST_INTERVAL_MS is at least 10"
[[ $NET_PREFIX =~ ^127\.([0-9]{1,3})$ ]] && ((BASH_REMATCH[1] <= 255)) ||
  die "NET_PREFIX must be 127.N (loopback only), got '$NET_PREFIX'"
case $FAIL_MODE in kill | stop) ;; *) die "FAIL_MODE is kill or stop" ;; esac
case $CLIENT_DNS in ttl | every) ;; *) die "CLIENT_DNS is ttl or every" ;; esac
if [ "$EDGE_PORT" != 0 ] && [ "$EDGE_PORT" = "$EDGE_ADMIN_PORT" ]; then
  die "EDGE_PORT and EDGE_ADMIN_PORT must differ"
fi

# The fleet: region -> number (third octet), coordinates, edge id prefix.
regions=(us-east eu-west ap-northeast)
declare -A rnum=([us-east]=1 [eu-west]=2 [ap-northeast]=3)
declare -A rlat=([us-east]=39.0438 [eu-west]=53.3498 [ap-northeast]=35.6762)
declare -A rlon=([us-east]=-77.4874 [eu-west]=-6.2603 [ap-northeast]=139.6503)
declare -A rshort=([us-east]=use1 [eu-west]=euw1 [ap-northeast]=apne1)
[ -n "${rnum[$KILL_REGION]:-}" ] || die "KILL_REGION must be one of ${regions[*]}"
edges=()
declare -A edge_addr edge_region edge_port edge_admin edge_pid edge_gen region_of_addr port_of_addr
for r in "${regions[@]}"; do
  for k in 1 2; do
    id=${rshort[$r]}-$([ $k = 1 ] && echo a || echo b)
    edges+=("$id")
    edge_addr[$id]=$NET_PREFIX.${rnum[$r]}.$k
    edge_region[$id]=$r
    edge_gen[$id]=0
    region_of_addr[${edge_addr[$id]}]=$r
  done
done
killed=("${rshort[$KILL_REGION]}-a" "${rshort[$KILL_REGION]}-b")
# Tiered mode: the shield, two parent edges on their own addresses (not in geodns: not for clients).
parents=()
if [ "$tiered" = 1 ]; then
  parents=(shield-a shield-b)
  edge_addr[shield-a]=$NET_PREFIX.9.1 edge_addr[shield-b]=$NET_PREFIX.9.2
  edge_gen[shield-a]=0 edge_gen[shield-b]=0
fi

# Tools.
for t in curl awk sed grep sort; do command -v $t >/dev/null || die "needs $t"; done
if command -v dig >/dev/null; then
  resolver=dig
elif command -v kdig >/dev/null; then
  resolver=kdig
else
  die "needs dig or kdig: apt-get install dnsutils (or knot-dnsutils)"
fi
have_gnuplot=0
command -v gnuplot >/dev/null && have_gnuplot=1

# Binaries.
if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=build-release
  echo "== building (Release) in $BIN_DIR"
  cmake -S . -B "$BIN_DIR" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF >/dev/null || exit 2
  cmake --build "$BIN_DIR" -j"$(nproc)" --target edge origin_sim purge_api geodns || exit 2
fi
case $BIN_DIR in /*) bin=$BIN_DIR ;; *) bin=$root/$BIN_DIR ;; esac
edge_bin=$bin/edge/edge
origin_bin=$bin/origin_sim/origin_sim
purge_bin=$bin/purge_api/purge_api
geodns_bin=$bin/geodns/geodns
for b in "$edge_bin" "$origin_bin" "$purge_bin" "$geodns_bin"; do
  [ -x "$b" ] || die "no binary $b (build it, or set BIN_DIR)"
done

if [ -n "${DRILL_OUT:-}" ]; then
  out=$DRILL_OUT
  mkdir -p "$out"
  [ -z "$(ls -A "$out")" ] || die "DRILL_OUT=$out is not empty"
else
  out=$(mktemp -d "${TMPDIR:-/tmp}/cdn-drill.XXXXXX")
fi
out=$(cd "$out" && pwd)
mkdir -p "$out/logs" "$out/data" "$out/state"
echo "== failover drill: output in $out"

# Process handling: everything we start is in pids; stop() ends them by PID, bounded in time.
pids=()
forget_pid() {
  local keep=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  pids=("${keep[@]}")
}
stop() {
  local p i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    p=${pids[i]}
    kill -CONT "$p" 2>/dev/null || true # a region stopped with FAIL_MODE=stop
    kill -TERM "$p" 2>/dev/null || true
  done
  for _ in $(seq 1 100); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.05
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  return 0
}
trap stop EXIT
trap 'echo; echo "== interrupted; stopping"; exit 2' INT TERM

# Time without forks (the clients run on a busy 2-core box): NOW in ms; nap reads a pipe nobody
# writes to, with a timeout.
now_ms() { local t=${EPOCHREALTIME/[.,]/}; NOW=$((t / 1000)); }
exec {nap_fd}<> <(:)
nap() { read -r -t "$1" -u "$nap_fd" _ || true; }
sleep_until() { # absolute ms
  now_ms
  local d=$(($1 - NOW))
  ((d > 0)) && nap "$((d / 1000)).$(printf '%03d' $((d % 1000)))"
  return 0
}

# Waits for "<marker> ADDRESS:PORT" in a log and prints PORT (as in run-local.sh).

# launch_edge ID PORT ADMINPORT starts (or restarts, with the ports it had) one edge;
# await_edge ID waits until it listens and fills edge_port/edge_admin.
# An edge with an entry in edge_conf also gets --config FILE (tiered mode: [[parents]], or the
# parents' [fleet] role).
declare -A edge_log edge_want edge_conf
launch_edge() {
  local id=$1 addr=${edge_addr[$1]} cfg=()
  [ -n "${edge_conf[$id]:-}" ] && cfg=(--config "${edge_conf[$id]}")
  edge_gen[$id]=$((edge_gen[$id] + 1))
  edge_log[$id]=$out/logs/edge-$id.${edge_gen[$id]}.log
  edge_want[$id]="$addr:$2 (admin $addr:$3)"
  "$edge_bin" "${cfg[@]}" --name "$id" --listen "$addr:$2" --admin "$addr:$3" \
    --origin "http://127.0.0.1:$origin_port" --purge-api "http://127.0.0.1:$purge_port" \
    --purge-token "$EDGE_TOKEN" --memory 64MiB --threads 1 --no-access-log >"${edge_log[$id]}" 2>&1 &
  edge_pid[$id]=$!
  pids+=("$!")
}
await_edge() {
  local id=$1
  if ! edge_port[$id]=$(port_from_log "${edge_log[$id]}" "http on" "${edge_pid[$id]}") ||
    ! edge_admin[$id]=$(port_from_log "${edge_log[$id]}" "admin on" "${edge_pid[$id]}"); then
    echo "failover-drill: edge $id did not start on ${edge_want[$id]}." >&2
    echo "  If a port is in use, choose others with EDGE_PORT / EDGE_ADMIN_PORT (0: any free port)." >&2
    return 1
  fi
}

echo "== starting origin_sim, purge_api, 6 edges$([ "$tiered" = 1 ] && echo " behind 2 parents"), geodns"
# Tiered mode: -v logs one "debug GET <target> -> <status>" line per request (origin requests/s).
origin_v=()
[ "$tiered" = 1 ] && origin_v=(-v)
"$origin_bin" --listen "127.0.0.1:$ORIGIN_PORT" "${origin_v[@]}" >"$out/logs/origin_sim.log" 2>&1 &
pids+=($!)
origin_port=$(port_from_log "$out/logs/origin_sim.log" "listening on" "${pids[-1]}") || exit 2

"$purge_bin" --listen "127.0.0.1:$PURGE_PORT" --data-dir "$out/state/purge_api" \
  --token "$PURGE_TOKEN" --edge-token "$EDGE_TOKEN" --threads 1 >"$out/logs/purge_api.log" 2>&1 &
pids+=($!)
purge_port=$(port_from_log "$out/logs/purge_api.log" "http on" "${pids[-1]}") || exit 2
purge_url=http://127.0.0.1:$purge_port

if [ "$tiered" = 1 ]; then
  # The parents first: the children's [[parents]] name their ports (0 in --quick).
  printf '# Written by infra/failover-drill.sh: a parent (shield) edge.\n[fleet]\nrole = "parent"\n' \
    >"$out/parent.toml"
  for id in "${parents[@]}"; do
    edge_conf[$id]=$out/parent.toml
    launch_edge "$id" "$EDGE_PORT" "$EDGE_ADMIN_PORT"
  done
  for id in "${parents[@]}"; do await_edge "$id" || exit 2; done
  cat >"$out/tier.toml" <<TOML
# Written by infra/failover-drill.sh: every region edge sends its misses to the two parents (HRW
# over the key; the next parent on a failure, then the origin).
[[parents]]
name = "shield"
urls = ["http://${edge_addr[shield-a]}:${edge_port[shield-a]}", "http://${edge_addr[shield-b]}:${edge_port[shield-b]}"]
tries = 2
on_failure = "origin"
TOML
  for id in "${edges[@]}"; do edge_conf[$id]=$out/tier.toml; done
fi
for id in "${edges[@]}"; do launch_edge "$id" "$EDGE_PORT" "$EDGE_ADMIN_PORT"; done
for id in "${edges[@]}"; do
  await_edge "$id" || exit 2
  port_of_addr[${edge_addr[$id]}]=${edge_port[$id]}
done

conf=$out/geodns.toml
{
  cat <<TOML
# Written by infra/failover-drill.sh: three regions of two edges on loopback, steered by ECS.
[server]
dns = ["127.0.0.1:$DNS_PORT"]
admin = "127.0.0.1:$GEODNS_ADMIN_PORT"
threads = 1

# Every simulated client asks from 127.0.0.1 (ECS places it): one source for up to 2,400
# queries/s of the same name (CLIENTS_PER_REGION=8, REQUEST_INTERVAL_MS=10). The drill measures
# failover, not the rate limiter (tests/hostile/dns_test.cpp does that): loopback is exempt.
[rrl]
exempt = ["127.0.0.0/8"]

[geo]
default_region = "us-east"
TOML
  for r in "${regions[@]}"; do
    printf '\n[[geo.nets]]\ncidr = "10.%s.0.0/16"\nregion = "%s"\n' "${rnum[$r]}" "$r"
  done
  cat <<TOML

[health]
path = "/healthz"
interval = "${HEALTH_INTERVAL_MS}ms"
timeout = "${HEALTH_TIMEOUT_MS}ms"
rise = $HEALTH_RISE
fall = $HEALTH_FALL
TOML
  for r in "${regions[@]}"; do
    printf '\n[[regions]]\nid = "%s"\nlatitude = %s\nlongitude = %s\n' "$r" "${rlat[$r]}" "${rlon[$r]}"
  done
  for id in "${edges[@]}"; do
    printf '\n[[edges]]\nid = "%s"\nregion = "%s"\nipv4 = ["%s"]\nhealth = "http://%s:%s/healthz"\n' \
      "$id" "${edge_region[$id]}" "${edge_addr[$id]}" "${edge_addr[$id]}" "${edge_admin[$id]}"
  done
  cat <<TOML

[[zones]]
origin = "$zone"
ns = ["ns1"]

[zones.soa]
mname = "ns1"
rname = "hostmaster"
serial = 1
minimum = "5s"

[[zones.records]]
name = "ns1"
type = "A"
values = ["127.0.0.1"]

[[zones.steered]]
name = "www"
ttl = "${DNS_TTL}s"
count = 2
TOML
  if [ "$LAST_RESORT" = 1 ]; then echo "last_resort = true"; fi
} >"$conf"

"$geodns_bin" --config "$conf" --log-level info >"$out/logs/geodns.log" 2>&1 &
geodns_pid=$!
pids+=("$geodns_pid")
dns_port=$(port_from_log "$out/logs/geodns.log" "dns on" "$geodns_pid") || exit 2
geodns_admin_port=$(port_from_log "$out/logs/geodns.log" "admin on" "$geodns_pid") || exit 2
geodns_admin=http://127.0.0.1:$geodns_admin_port

# Sets RESOLVED to "TTL A A ..." for ECS subnet $1, or to "" (no answer).
resolve() {
  local ans t typ val ttl="" addrs=""
  RESOLVED=""
  if [ $resolver = dig ]; then
    ans=$(dig +tries=1 +time=1 +subnet="$1" -p "$dns_port" @127.0.0.1 "$name" A +noall +answer 2>/dev/null) || return 0
  else
    ans=$(kdig +retry=0 +time=1 +subnet="$1" -p "$dns_port" @127.0.0.1 "$name" A +noall +answer 2>/dev/null) || return 0
  fi
  while read -r _ t _ typ val; do
    if [ "$typ" = A ]; then ttl=$t addrs+=" $val"; fi
  done <<<"$ans"
  [ -n "$addrs" ] && RESOLVED=$ttl$addrs
  return 0
}

# geodns' own view of edge health: "id up id up ..." in config order.
health_line() {
  local body rest out=""
  body=$(curl -s --max-time 1 "$geodns_admin/v1/edges" 2>/dev/null) || return 0
  rest=$body
  while [[ $rest =~ \"id\":\"([^\"]*)\"[^}]*\"up\":(true|false)(.*) ]]; do
    out+="${BASH_REMATCH[1]} ${BASH_REMATCH[2]} "
    rest=${BASH_REMATCH[3]}
  done
  echo "${out% }"
}

echo "== waiting until geodns sees every edge up and answers each region with its own edges"
ready=0
for _ in $(seq 1 100); do
  hl=$(health_line || true)
  ok=1
  [ "$(grep -o true <<<"$hl" | wc -l)" = 6 ] || ok=0
  if [ $ok = 1 ]; then
    for r in "${regions[@]}"; do
      resolve "10.${rnum[$r]}.0.0/24"
      [[ " $RESOLVED " == *" $NET_PREFIX.${rnum[$r]}."* ]] || ok=0
    done
  fi
  [ $ok = 1 ] && { ready=1; break; }
  nap 0.1
done
if [ $ready = 0 ]; then
  echo "failover-drill: FAIL: geodns never answered every region with its edges (health: $hl)" >&2
  resolve 10.1.0.0/24
  echo "  a query for 10.1.0.0/24 answered '$RESOLVED'; see $out/logs/geodns.log" >&2
  exit 1
fi
# Wait (bounded) until every edge follows purge_api, so the purge numbers mean something.
for _ in $(seq 1 60); do
  n=$(curl -s --max-time 1 -H "Authorization: Bearer $PURGE_TOKEN" "$purge_url/v1/edges" |
    grep -o '"connected":true' | wc -l) || n=0
  [ "$n" -ge $((6 + ${#parents[@]})) ] && break
  sleep 0.1
done

# One client: resolve every iteration (logged: geodns' answer), keep an answer for its TTL
# (CLIENT_DNS=ttl) or take the newest (every), fetch from the first address and on a transport
# error from the second. Bounded by the deadline and by a request count.
client_loop() {
  local cid=$1 cregion=$2 subnet=$3 i=0 next ans ttl expiry=0 t_dns path code crc status served
  local tried attempts failed start lat a ctime curl_ms
  local -a cache=() addrs=()
  exec 3>>"$out/data/req-$cid.tsv" 4>>"$out/data/dns-$cid.tsv"
  now_ms
  next=$NOW
  while ((i < max_requests)); do
    now_ms
    ((NOW < deadline)) || break
    i=$((i + 1))
    resolve "$subnet"
    ans=$RESOLVED
    now_ms
    t_dns=$NOW
    if [ -n "$ans" ]; then
      read -r ttl addrs_line <<<"$ans"
      read -r -a addrs <<<"$addrs_line"
      printf '%s\t%s\t%s\tok\t%s\t%s\n' "$t_dns" "$cid" "$cregion" "$ttl" "${addrs[*]}" >&4
      if [ "$CLIENT_DNS" = every ] || ((t_dns >= expiry)) || ((${#cache[@]} == 0)); then
        cache=("${addrs[@]}")
        expiry=$((t_dns + ttl * 1000))
      fi
    else
      printf '%s\t%s\t%s\tfail\t-\t-\n' "$t_dns" "$cid" "$cregion" >&4
      if [ "$CLIENT_DNS" = every ] || ((t_dns >= expiry)); then cache=(); fi
    fi
    if [ "$tiered" = 1 ]; then
      path=/drill/shared-$(((i - 1) / NEW_OBJECT_EVERY)).txt # the same sequence in every region
    else
      path=/drill/obj-$((i % 64)).txt
    fi
    status=DNS served=- tried=- attempts=0 failed=0 curl_ms=-1
    now_ms
    start=$NOW
    for a in "${cache[@]}"; do
      attempts=$((attempts + 1))
      [ "$tried" = - ] && tried=$a || tried=$tried,$a
      crc=0
      code=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --connect-timeout 0.5 --max-time 2 \
        -H "Host: $name" "http://$a:${port_of_addr[$a]:-80}$path" 2>/dev/null) || crc=$?
      ctime=${code#* } code=${code%% *}
      if [[ $ctime =~ ^([0-9]+)\.([0-9]{3}) ]]; then
        curl_ms=$((BASH_REMATCH[1] * 1000 + 10#${BASH_REMATCH[2]}))
      fi
      if [ $crc = 0 ] && [ "$code" != 000 ]; then
        status=$code served=$a
        break
      fi
      failed=$((failed + 1))
      status=E$crc
    done
    now_ms
    lat=$((NOW - start))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$start" "$cid" "$cregion" "$tried" "$served" \
      "${region_of_addr[$served]:--}" "$status" "$attempts" "$failed" "$lat" "$curl_ms" >&3
    next=$((next + REQUEST_INTERVAL_MS))
    now_ms
    if ((next > NOW)); then sleep_until "$next"; else next=$NOW; fi
  done
}

# geodns' health view, polled every 100 ms.
health_loop() {
  exec 3>>"$out/data/health.tsv"
  local line
  while now_ms && ((NOW < deadline)); do
    line=$(health_line)
    now_ms # stamped when the answer is in: never earlier than what it says
    printf '%s\t%s\n' "$NOW" "$line" >&3
    nap 0.1
  done
}

purge() { # -> "id" or nothing
  curl -s --max-time 2 -H "Authorization: Bearer $PURGE_TOKEN" -d "{\"hosts\":[\"$name\"]}" \
    "$purge_url/v1/purge" | grep -o '"id":"[^"]*"' | head -n1 | sed 's/"id":"//; s/"$//' || true
}

now_ms
t0=$NOW
deadline=$((t0 + DRILL_SECONDS * 1000))
max_requests=$((DRILL_SECONDS * 1000 / REQUEST_INTERVAL_MS + 10))
echo "== drill: ${DRILL_SECONDS}s; $FAIL_MODE $KILL_REGION (${killed[*]}) at ${KILL_AT}s, restore at ${RESTORE_AT}s"
echo "   geodns dns 127.0.0.1:$dns_port admin $geodns_admin; edges: $(for id in "${edges[@]}"; do
  printf '%s=%s:%s ' "$id" "${edge_addr[$id]}" "${edge_port[$id]}"; done)"
client_pids=()
for r in "${regions[@]}"; do
  for ((c = 0; c < CLIENTS_PER_REGION; c++)); do
    client_loop "${rshort[$r]}-client$c" "$r" "10.${rnum[$r]}.$c.0/24" &
    pids+=($!)
    client_pids+=($!)
  done
done
health_loop &
pids+=($!)
client_pids+=($!)

# The events, each at its time from t0 (in ms; ties in the order listed): purge 1 with the whole
# fleet up (how long until every edge applied it), the region kill, purge 2 during the outage (the
# killed edges catch up after their restart), the region's restart; in tiered mode, the parent
# kill and its restart.
ev_purge1() {
  now_ms
  purge1_at=$NOW
  purge1=$(purge)
}
kill_sig=KILL
[ "$FAIL_MODE" = stop ] && kill_sig=STOP
ev_region_kill() {
  { # (stderr off: bash would report "Killed")
    kill -"$kill_sig" "${edge_pid[${killed[0]}]}" "${edge_pid[${killed[1]}]}"
    now_ms
    kill_at=$NOW
    if [ "$FAIL_MODE" = kill ]; then
      for id in "${killed[@]}"; do
        wait "${edge_pid[$id]}" || true
        forget_pid "${edge_pid[$id]}"
      done
    fi
  } 2>/dev/null
  echo "== t=$(((kill_at - t0) / 1000)).$(printf '%03d' $(((kill_at - t0) % 1000)))s: SIG$kill_sig ${killed[*]}"
}
ev_purge2() {
  now_ms
  purge2_at=$NOW
  purge2=$(purge)
}
ev_region_restore() {
  now_ms
  restore_at=$NOW
  if [ "$FAIL_MODE" = kill ]; then
    for id in "${killed[@]}"; do launch_edge "$id" "${edge_port[$id]}" "${edge_admin[$id]}"; done
    for id in "${killed[@]}"; do await_edge "$id" || exit 2; done
  else
    kill -CONT "${edge_pid[${killed[0]}]}" "${edge_pid[${killed[1]}]}"
  fi
  now_ms
  restored_at=$NOW
  echo "== t=$(((restore_at - t0) / 1000)).$(printf '%03d' $(((restore_at - t0) % 1000)))s: restored ${killed[*]} (listening after $((restored_at - restore_at)) ms)"
}
parent_kill_at=-1 parent_restore_at=-1 parent_restored_at=-1
ev_parent_kill() {
  local pid=${edge_pid[$KILL_PARENT]}
  {
    kill -KILL "$pid"
    now_ms
    parent_kill_at=$NOW
    wait "$pid" || true
    forget_pid "$pid"
  } 2>/dev/null
  echo "== t=$(((parent_kill_at - t0) / 1000)).$(printf '%03d' $(((parent_kill_at - t0) % 1000)))s: SIGKILL parent $KILL_PARENT"
}
ev_parent_restore() {
  now_ms
  parent_restore_at=$NOW
  launch_edge "$KILL_PARENT" "${edge_port[$KILL_PARENT]}" "${edge_admin[$KILL_PARENT]}"
  await_edge "$KILL_PARENT" || exit 2
  now_ms
  parent_restored_at=$NOW
  echo "== t=$(((parent_restore_at - t0) / 1000)).$(printf '%03d' $(((parent_restore_at - t0) % 1000)))s: restarted parent $KILL_PARENT (listening after $((parent_restored_at - parent_restore_at)) ms)"
}
events=("$((KILL_AT * 1000 / 2)) 1 purge1" "$((KILL_AT * 1000)) 2 region_kill"
  "$(((KILL_AT + RESTORE_AT) * 500)) 3 purge2" "$((RESTORE_AT * 1000)) 4 region_restore")
if [ "$tiered" = 1 ]; then
  events+=("$((PARENT_KILL_AT * 1000)) 5 parent_kill")
  if [ $parent_restore = 1 ]; then events+=("$((PARENT_RESTORE_AT * 1000)) 6 parent_restore"); fi
fi
mapfile -t events < <(printf '%s\n' "${events[@]}" | sort -n -k1,1 -k2,2)
for e in "${events[@]}"; do
  read -r at _ ev <<<"$e"
  sleep_until $((t0 + at))
  "ev_$ev"
done

# Clients stop at the deadline; give a request in flight a few seconds, then end them.
sleep_until "$deadline"
for _ in $(seq 1 100); do
  alive=0
  for p in "${client_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break
  sleep 0.05
done
for p in "${client_pids[@]}"; do
  kill -TERM "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  forget_pid "$p"
done

# Collect what the services say, then stop them.
purge_json() {
  [ -n "$1" ] && curl -s --max-time 2 -H "Authorization: Bearer $PURGE_TOKEN" "$purge_url/v1/purges/$1"
  return 0
}
sleep 1 # let the restored edges ack purge 2 if they are about to
purge_json "$purge1" >"$out/data/purge1.json"
purge_json "$purge2" >"$out/data/purge2.json"
curl -s --max-time 2 "$geodns_admin/metrics" >"$out/data/geodns-metrics.txt" || true
curl -s --max-time 2 "$geodns_admin/v1/edges" >"$out/data/geodns-edges.json" || true
for id in "${edges[@]}" "${parents[@]}"; do
  curl -s --max-time 2 "http://${edge_addr[$id]}:${edge_admin[$id]}/metrics" \
    >"$out/data/edge-$id-metrics.txt" || true
done
stop
trap - EXIT

# ---------------------------------------------------------------------------------------------
# Analysis: requests.tsv and dns.tsv (all clients, by time), the measures, the timeline, the plot.
cat "$out"/data/req-*.tsv | sort -n >"$out/requests.tsv"
cat "$out"/data/dns-*.tsv | sort -n >"$out/dns.tsv"
mv "$out/data/health.tsv" "$out/health.tsv" 2>/dev/null || : >"$out/health.tsv"
killed_addrs="${edge_addr[${killed[0]}]} ${edge_addr[${killed[1]}]}"
declare -A log_downs log_ups
bucket_ms=1000
[ $quick = 1 ] && bucket_ms=500

purge_times() { # purge record -> "ms from accepted to complete" "completed_ms" (-1 -1: not complete)
  local f=$1 c t
  c=$(grep -o '"completed_ms":[0-9]*' "$f" | head -n1 | sed 's/.*://') || true
  t=$(grep -o '"time_ms":[0-9]*' "$f" | head -n1 | sed 's/.*://') || true
  if [ -n "$c" ] && [ -n "$t" ]; then echo "$((c - t)) $c"; else echo "-1 -1"; fi
}
read -r p1_ms _ < <(purge_times "$out/data/purge1.json")
origin_log=()
[ "$tiered" = 1 ] && origin_log=("$out/logs/origin_sim.log")
read -r _ p2_done < <(purge_times "$out/data/purge2.json")

awk -F'\t' -v t0="$t0" -v kill="$kill_at" -v restore="$restore_at" -v deadline="$deadline" \
  -v killed="$killed_addrs" -v kregion="$KILL_REGION" -v bucket="$bucket_ms" \
  -v ids="${edges[*]}" -v kids="${killed[*]}" -v timeline="$out/timeline.tsv" \
  -v regions="${regions[*]}" -v tiered="$tiered" -v pkill="$parent_kill_at" \
  -v prestore="$parent_restore_at" -v restored="$restored_at" '
function ok(s) { return s ~ /^[23][0-9][0-9]$/ }
# "2025-06-01T04:15:00.123Z" (UTC) -> unix ms (days from the civil date, as in H. Hinnant'"'"'s
# days_from_civil: mawk has no mktime).
function iso_ms(st,   y, mo, d, era, yoe, doy, doe) {
  y = substr(st, 1, 4) + 0; mo = substr(st, 6, 2) + 0; d = substr(st, 9, 2) + 0
  if (mo <= 2) y--
  era = int(y / 400); yoe = y - era * 400
  doy = int((153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5) + d - 1
  doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
  return (era * 146097 + doe - 719468) * 86400000 + substr(st, 12, 2) * 3600000 + \
    substr(st, 15, 2) * 60000 + int(substr(st, 18, 6) * 1000 + 0.5)
}
# true when some address a request started at `start` tried belonged to an edge that was up (not
# the killed region between its kill and its restart)
function tried_live(list, start,   n, a, i) {
  n = split(list, a, /[ ,]/)
  for (i = 1; i <= n; i++)
    if (a[i] != "-" && (!(a[i] in kaddr) || start < kill || start >= restored)) return 1
  return 0
}
function hit_killed(list,   n, a, i) {
  n = split(list, a, /[ ,]/)
  for (i = 1; i <= n; i++) if (a[i] in kaddr) return 1
  return 0
}
BEGIN {
  n = split(killed, ka, " "); for (i = 1; i <= n; i++) kaddr[ka[i]] = 1
  nr = split(regions, reg, " ")
  last_dns_killed = -1; first_dns_back = -1; dns_fail = 0; dns_ok = 0; dns_before_killed = 0
  last_req_killed = -1; first_ok_back = -1; last_fail = -1
  down_at = -1; up_at = -1
  nb = int((deadline - t0 + bucket - 1) / bucket)
}
FILENAME ~ /dns.tsv$/ {
  t = $1
  if ($4 != "ok") { dns_fail++; next }
  dns_ok++
  k = hit_killed($6)
  if (t < kill && $3 == kregion && k) dns_before_killed++
  if (t >= kill && t < restore && k && t - kill > last_dns_killed) last_dns_killed = t - kill
  if (t >= kill && t < restore && $3 == kregion) { if (k) out_k = t; else out_clean = t }
  if (t >= restore && k && first_dns_back < 0) first_dns_back = t - restore
  b = int((t - t0) / bucket); if (k) dns_k[b]++; dns_all[b]++
  next
}
FILENAME ~ /origin_sim.log$/ { # tiered mode: "<ISO time> debug GET /drill/... -> 200"
  if ($0 !~ / debug GET \/drill\//) next
  t = iso_ms(substr($0, 1, 24)) - t0
  if (t < 0 || t >= deadline - t0) next
  origin_n++; origin_tl[int(t / bucket)]++
  if (pkill >= 0) {
    if (t < pkill - t0) origin_pre++
    else if (prestore < 0 || t < prestore - t0) origin_mid++
    else origin_post++
  }
  next
}
FILENAME ~ /health.tsv$/ {
  t = $1; m = split($2, h, " "); d = 0; u = 0
  for (i = 1; i + 1 <= m; i += 2) if (index(" " kids " ", " " h[i] " ")) { if (h[i+1] == "false") d++; else if (h[i+1] == "true") u++ }
  if (t >= kill && t < restore && d == 2 && down_at < 0) down_at = t - kill
  if (t >= restore && u == 2 && up_at < 0) up_at = t - restore
  next
}
{ # a request counts when it finished (start + latency)
  t = $1 + $10; cr = $3; sr = $6; st = $7; att = $8; fa = $9
  total++; by_client[cr]++; attempts += att; failed_attempts += fa
  phase = (t < kill) ? "before" : (t < restore) ? "outage" : "after"
  ph_total[phase]++
  b = int((t - t0) / bucket)
  if (ok(st)) {
    okc++; matrix[cr, sr]++; served[sr]++; ph_served[phase, sr]++; per_edge[$5]++
    tl_ok[b, sr]++
    if (t >= restore && sr == kregion && first_ok_back < 0) first_ok_back = t - restore
  } else {
    failc++; fail_by_client[cr]++; ph_fail[phase]++; tl_fail[b]++
    if (t >= kill && t - kill > last_fail) last_fail = t - kill
    st_count[st]++
  }
  if (fa > 0) { tl_fatt[b] += fa; ph_fatt[phase] += fa }
  # sent to the region after the kill (by start time: a request started before it was sent before)
  if ($1 >= kill && $1 < restore && hit_killed($4) && $1 - kill > last_req_killed) last_req_killed = $1 - kill
  if (t >= kill && $10 > max_wall) max_wall = $10
  # tiered mode: requests that ended after the parent kill; a failure at an edge that was up is
  # the tier'"'"'s (a region kill only fails requests whose every address was in that region)
  if (pkill >= 0 && t >= pkill) {
    pk_total++
    if (!ok(st)) { pk_failed++; if (tried_live($4, $1)) { pk_failed_live++; pk_st[st]++ } }
  }
}
END {
  # the timeline, one row per bucket: seconds, ok per region, failed requests, failed attempts,
  # dns answers pointing at the killed region (all per second)
  f = 1000 / bucket
  for (b = 0; b < nb; b++) {
    line = sprintf("%.3f", (b + 0.5) * bucket / 1000)
    for (i = 1; i <= nr; i++) line = line sprintf("\t%g", tl_ok[b, reg[i]] * f)
    line = line sprintf("\t%g\t%g\t%g", tl_fail[b] * f, tl_fatt[b] * f, dns_k[b] * f)
    if (tiered) line = line sprintf("\t%g", origin_tl[b] * f)
    print line > timeline
  }
  printf "total=%d\nok=%d\nfailed=%d\nattempts=%d\nfailed_attempts=%d\n", total, okc, failc, attempts, failed_attempts
  printf "dns_ok=%d\ndns_fail=%d\ndns_before_killed=%d\n", dns_ok, dns_fail, dns_before_killed
  printf "last_dns_killed=%d\nfirst_dns_back=%d\nlast_req_killed=%d\nfirst_ok_back=%d\nlast_fail=%d\n", last_dns_killed, first_dns_back, last_req_killed, first_ok_back, last_fail
  printf "down_at=%d\nup_at=%d\nmax_wall=%d\n", down_at, up_at, max_wall
  # steered: the last answer the region'"'"'s clients got before the restart had none of its edges
  printf "steered=%d\n", (out_clean > 0 && out_clean > out_k) ? 1 : 0
  printf "outage_total=%d\noutage_failed=%d\noutage_failed_attempts=%d\n", ph_total["outage"], ph_fail["outage"], ph_fatt["outage"]
  printf "before_failed=%d\nafter_failed=%d\n", ph_fail["before"], ph_fail["after"]
  if (tiered) {
    printf "pk_total=%d\npk_failed=%d\npk_failed_live=%d\n", pk_total, pk_failed, pk_failed_live
    printf "origin_n=%d\norigin_pre=%d\norigin_mid=%d\norigin_post=%d\n", origin_n, origin_pre, origin_mid, origin_post
    for (s in pk_st) printf "K|%s|%d\n", s, pk_st[s]
  }
  # tables (markdown), prefixed "T|"
  hdr = "T|| clients of / served by |"; sep = "T||---|"
  for (i = 1; i <= nr; i++) { hdr = hdr " " reg[i] " |"; sep = sep "---:|" }
  print hdr " failed | total |"; print sep "---:|---:|"
  for (j = 1; j <= nr; j++) {
    line = "T|| " reg[j] " clients |"
    for (i = 1; i <= nr; i++) line = line " " matrix[reg[j], reg[i]] + 0 " |"
    print line " " fail_by_client[reg[j]] + 0 " | " by_client[reg[j]] + 0 " |"
  }
  print "P|| phase |" regions_hdr(reg, nr) " failed requests | failed attempts | total |"
  print "P||---|" sepn(nr + 3)
  split("before outage after", phs, " ")
  for (p = 1; p <= 3; p++) {
    line = "P|| " phs[p] " |"
    for (i = 1; i <= nr; i++) line = line " " ph_served[phs[p], reg[i]] + 0 " |"
    print line " " ph_fail[phs[p]] + 0 " | " ph_fatt[phs[p]] + 0 " | " ph_total[phs[p]] + 0 " |"
  }
  for (s in st_count) printf "S|%s|%d\n", s, st_count[s]
}
function regions_hdr(reg, nr,   s, i) { s = ""; for (i = 1; i <= nr; i++) s = s " " reg[i] " |"; return s }
function sepn(k,   s, i) { s = ""; for (i = 1; i <= k; i++) s = s "---:|"; return s }
' "$out/dns.tsv" "$out/health.tsv" "${origin_log[@]}" "$out/requests.tsv" >"$out/data/analysis.txt" 2>"$out/data/analysis.err" || {
  echo "failover-drill: analysis failed:" >&2
  cat "$out/data/analysis.err" >&2
  exit 2
}
# The measures (total=..., last_dns_killed=...) become shell variables.
# shellcheck disable=SC2154
eval "$(grep -E '^[a-z_0-9]+=-?[0-9]+$' "$out/data/analysis.txt")"

# geodns' own log of health flips of the killed edges ("<ISO time> warn geodns: edge ID (...) is
# down (...)"): the exact moments, where health.tsv only samples /v1/edges.
log_down=-1 log_up=-1
while read -r stamp id state; do
  ms_at=$(date -u -d "$stamp" +%s%3N 2>/dev/null) || continue
  if [ "$state" = down ] && ((ms_at >= kill_at && ms_at < restore_at)); then
    log_downs[$id]=$((ms_at - kill_at))
  elif [ "$state" = up ] && ((ms_at >= restore_at)) && [ -z "${log_ups[$id]:-}" ]; then
    log_ups[$id]=$((ms_at - restore_at))
  fi
done < <(sed -n 's/^\([0-9T:.-]*Z\) .*geodns: edge \([^ ]*\) (.*) is \(down\|up\) .*/\1 \2 \3/p' \
  "$out/logs/geodns.log")
if [ -n "${log_downs[${killed[0]}]:-}" ] && [ -n "${log_downs[${killed[1]}]:-}" ]; then
  log_down=$((log_downs[${killed[0]}] > log_downs[${killed[1]}] ? log_downs[${killed[0]}] : log_downs[${killed[1]}]))
fi
if [ -n "${log_ups[${killed[0]}]:-}" ] && [ -n "${log_ups[${killed[1]}]:-}" ]; then
  log_up=$((log_ups[${killed[0]}] > log_ups[${killed[1]}] ? log_ups[${killed[0]}] : log_ups[${killed[1]}]))
fi

# Latency of the successful requests (p50, p99).
read -r lat_p50 lat_p99 < <(awk -F'\t' '$7 ~ /^[23]/ { print $11 }' "$out/requests.tsv" | sort -n |
  awk '{ v[NR] = $1 } END { if (NR == 0) { print "0 0"; exit }
    i = int(NR * 0.5) + 1; j = int(NR * 0.99) + 1; if (i > NR) i = NR; if (j > NR) j = NR; print v[i], v[j] }')
# Per edge counts (served by address).
per_edge_table=$(for id in "${edges[@]}"; do
  n=$(awk -F'\t' -v a="${edge_addr[$id]}" '$5 == a && $7 ~ /^[23]/ { c++ } END { print c + 0 }' "$out/requests.tsv")
  printf '| %s | %s | %s | %s |\n' "$id" "${edge_region[$id]}" "${edge_addr[$id]}:${edge_port[$id]}" "$n"
done)
status_counts=$(sed -n 's/^S|//p' "$out/data/analysis.txt" | sort | awk -F'|' '{ printf "%s%s×%s", (NR > 1 ? ", " : ""), $2, $1 }')

# Tiered mode: the children's parent counters (from their /metrics at the end), origin requests/s.
if [ "$tiered" = 1 ]; then
  pk_status_counts=$(sed -n 's/^K|//p' "$out/data/analysis.txt" | sort | awk -F'|' '{ printf "%s%s×%s", (NR > 1 ? ", " : ""), $2, $1 }')
  metric() { # file name -> value (0 when absent)
    awk -v m="$2" '$1 == m { v = $2 } END { print v + 0 }' "$1" 2>/dev/null || echo 0
  }
  tier_table="" sum_fetch=0 sum_fail=0 sum_fb=0
  for id in "${edges[@]}"; do
    f=$out/data/edge-$id-metrics.txt
    pf=$(metric "$f" cdn_edge_parent_fetches_total)
    pe=$(metric "$f" cdn_edge_parent_failures_total)
    pb=$(metric "$f" cdn_edge_parent_fallbacks_total)
    sum_fetch=$((sum_fetch + pf)) sum_fail=$((sum_fail + pe)) sum_fb=$((sum_fb + pb))
    note=""
    [[ " ${killed[*]} " == *" $id "* ]] && [ "$FAIL_MODE" = kill ] && note=" (since its restart)"
    tier_table+="| $id$note | $pf | $pe | $pb |"$'\n'
  done
  tier_table+="| **all children** | $sum_fetch | $sum_fail | $sum_fb |"
  rate() { # count from_ms to_ms -> "N.N/s"
    awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { if (b <= a) print "-"; else printf "%.2f/s", n * 1000 / (b - a) }'
  }
  pk_end=$deadline
  [ "$parent_restore_at" -ge 0 ] && pk_end=$parent_restore_at
  origin_rate_all=$(rate "$origin_n" "$t0" "$deadline")
  origin_rate_pre=$(rate "$origin_pre" "$t0" "$parent_kill_at")
  origin_rate_mid=$(rate "$origin_mid" "$parent_kill_at" "$pk_end")
  origin_rate_post="- (not restarted)"
  [ "$parent_restore_at" -ge 0 ] && origin_rate_post=$(rate "$origin_post" "$parent_restore_at" "$deadline")
fi

# Verdict.
ms() { # ms -> "1.234 s", or "never" for -1
  if [ "$1" -lt 0 ]; then echo "${2:-never}"; else printf '%d.%03d s' $(($1 / 1000)) $(($1 % 1000)); fi
}
steer_bound_ms=$((STEER_BOUND * 1000))
recover_bound_ms=$((RECOVER_BOUND * 1000))
detect_bound=$((HEALTH_FALL * (HEALTH_INTERVAL_MS + HEALTH_TIMEOUT_MS)))
verdict=PASS
reasons=()
if [ "$dns_ok" = 0 ]; then verdict=FAIL; reasons+=("geodns never answered a client"); fi
if [ "$dns_before_killed" = 0 ]; then
  verdict=FAIL
  reasons+=("before the kill, $KILL_REGION clients were never answered with $KILL_REGION edges")
fi
if [ "$steered" = 0 ]; then
  verdict=FAIL
  reasons+=("$KILL_REGION clients were still answered with $KILL_REGION edges when it was restored")
fi
# last_req_killed is -1 when no request went there at all after the kill (instant): fine.
if [ "$last_dns_killed" -gt "$steer_bound_ms" ] || [ "$last_req_killed" -gt "$steer_bound_ms" ]; then
  verdict=FAIL
  reasons+=("traffic still went to $KILL_REGION more than ${STEER_BOUND}s after the kill")
fi
if [ "$first_dns_back" -lt 0 ] || [ "$first_dns_back" -gt "$recover_bound_ms" ]; then
  verdict=FAIL
  reasons+=("$KILL_REGION was not answered again within ${RECOVER_BOUND}s of its restart")
fi
if [ "$tiered" = 1 ] && [ "$pk_failed_live" -gt 0 ]; then
  verdict=FAIL
  reasons+=("$pk_failed_live requests failed at an edge that was up after parent $KILL_PARENT was killed")
fi

since_kill() { if [ "$1" -lt 0 ]; then echo "none after the kill"; else echo "+$(ms "$1") after the kill"; fi; }
since_restore() { if [ "$1" -lt 0 ]; then echo "never (before the drill ended)"; else echo "+$(ms "$1") after the restart"; fi; }
purge_line() { # ms done issued_at
  if [ "$1" -lt 0 ]; then echo "not complete when the drill ended"; else
    echo "$(ms "$1") from accepted to applied by all $((6 + ${#parents[@]})) edges"; fi
}
p2_after_restore=-1
[ "$p2_done" -gt 0 ] && p2_after_restore=$((p2_done - restore_at))

report=$out/report.md
{
  echo "# Failover drill, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo
  echo "**$verdict**$([ ${#reasons[@]} -gt 0 ] && printf ': %s.' "$(IFS=';'; echo "${reasons[*]}")")"
  echo
  echo "- Mode: $([ $quick = 1 ] && echo quick || echo full), ${DRILL_SECONDS} s. FAIL_MODE=$FAIL_MODE: SIG$kill_sig to both"
  echo "  $KILL_REGION edges (${killed[0]} ${edge_addr[${killed[0]}]}, ${killed[1]} ${edge_addr[${killed[1]}]}) at"
  echo "  t=$(ms $((kill_at - t0))), $([ "$FAIL_MODE" = kill ] && echo restarted || echo SIGCONT) at t=$(ms $((restore_at - t0))) (listening $((restored_at - restore_at)) ms later)."
  echo "- geodns health checks: every ${HEALTH_INTERVAL_MS} ms, timeout ${HEALTH_TIMEOUT_MS} ms, fall $HEALTH_FALL,"
  echo "  rise $HEALTH_RISE; $name steered with TTL ${DNS_TTL} s, 2 addresses per answer$([ "$LAST_RESORT" = 1 ] &&
    echo " and a last-resort address from the next-nearest region (LAST_RESORT=1)")."
  echo "- Clients: $CLIENTS_PER_REGION per region (ECS 10.R.C.0/24), one request every ${REQUEST_INTERVAL_MS} ms each."
  echo "  Each iteration queries geodns (logged in dns.tsv); CLIENT_DNS=$CLIENT_DNS: $([ "$CLIENT_DNS" = ttl ] &&
    echo "an answer is kept for its TTL, like a stub resolver's cache" || echo "every request uses the newest answer")."
  echo "  A transport error on the first address is retried once on the second (a failed attempt);"
  echo "  a request fails completely when no address answered (or no DNS answer was at hand)."
  echo "- Expected: geodns checks each edge \`interval\` after the previous check ended, so it marks"
  echo "  an edge down at most fall x (interval + timeout) = $detect_bound ms after it dies (a refused"
  echo "  connection fails at once: then at most fall x interval); clients that honour the TTL can"
  echo "  keep using an answer for up to ${DNS_TTL} s more, so their bound is $((detect_bound + DNS_TTL * 1000)) ms."
  echo
  echo "## Measures"
  echo
  echo "| measure | value |"
  echo "|---|---|"
  echo "| geodns marked both $KILL_REGION edges down (its log) | $(since_kill "$log_down") |"
  echo "| ... as seen on its /v1/edges (polled; a sample, later by up to the poll period) | $(since_kill "$down_at") |"
  echo "| last DNS answer with a $KILL_REGION address (any client) | $(since_kill "$last_dns_killed") |"
  echo "| last request sent to a $KILL_REGION address | $(since_kill "$last_req_killed") |"
  echo "| last request that failed completely | $(since_kill "$last_fail") |"
  echo "| slowest request that ended after the kill (wall time, both attempts) | $max_wall ms |"
  echo "| requests during the outage | $outage_total |"
  echo "| requests that failed completely during the outage | $outage_failed |"
  echo "| failed attempts during the outage (retried or not) | $outage_failed_attempts |"
  echo "| requests that failed completely before the kill / after the restart | $before_failed / $after_failed |"
  echo "| geodns marked both $KILL_REGION edges up again (its log; /v1/edges) | $(since_restore "$log_up"); $(since_restore "$up_at") |"
  echo "| first DNS answer with a $KILL_REGION address again | $(since_restore "$first_dns_back") |"
  echo "| first request served by $KILL_REGION again | $(since_restore "$first_ok_back") |"
  echo "| all requests: ok / failed / failed attempts | $ok / $failed / $failed_attempts of $total |"
  echo "| failures by outcome | ${status_counts:-none} (E7: refused, E28: timeout, DNS: no answer) |"
  echo "| DNS queries answered / failed | $dns_ok / $dns_fail |"
  echo "| latency of successful requests (curl's time_total, ms) p50 / p99 | $lat_p50 / $lat_p99 |"
  echo "| requests per second per client, achieved (target $((1000 / REQUEST_INTERVAL_MS))) | $(awk -v n="$total" -v c=$((CLIENTS_PER_REGION * 3)) -v s="$DRILL_SECONDS" 'BEGIN { printf "%.1f", n / c / s }') |"
  echo "| purge with the fleet up (t=$(ms $((purge1_at - t0)))) | $(purge_line "$p1_ms") |"
  echo "| purge during the outage (t=$(ms $((purge2_at - t0)))) | $(if [ "$p2_after_restore" -lt 0 ]; then echo "not complete when the drill ended"; else echo "complete $(since_restore "$p2_after_restore")"; fi) |"
  echo
  if [ "$tiered" = 1 ]; then
    echo "## Tier: parent kill"
    echo
    echo "Tiered mode: every region edge has [[parents]] shield-a ${edge_addr[shield-a]}:${edge_port[shield-a]} and"
    echo "shield-b ${edge_addr[shield-b]}:${edge_port[shield-b]} (HRW over the key, tries 2, then the origin)."
    echo "Clients of every region ask for the same sequence of objects, a new one every $NEW_OBJECT_EVERY requests,"
    echo "so misses keep reaching the parents. SIGKILL to $KILL_PARENT at t=$(ms $((parent_kill_at - t0)))$(
      [ "$parent_restored_at" -ge 0 ] && echo ", restarted at t=$(ms $((parent_restore_at - t0))) (listening $((parent_restored_at - parent_restore_at)) ms later)" ||
        echo ", not restarted")."
    echo "A request counts as failed by the tier when it failed at an edge that was up; one whose every"
    echo "address was in the killed region failed for DNS' sake (the region kill), not the tier's."
    echo
    echo "| measure | value |"
    echo "|---|---|"
    echo "| requests that ended after the parent kill | $pk_total |"
    echo "| ... failed completely, at an edge that was up (the tier; goal 0) | $pk_failed_live${pk_status_counts:+ ($pk_status_counts)} |"
    echo "| ... failed completely, every address in the killed region (the region kill) or no DNS answer | $((pk_failed - pk_failed_live)) |"
    echo "| origin requests (/drill/ objects), whole run | $origin_n ($origin_rate_all) |"
    echo "| origin requests/s before the parent kill / while it was down / after its restart | $origin_rate_pre / $origin_rate_mid / $origin_rate_post |"
    echo
    echo "The children's parent counters from their admin /metrics at the end (fetches: requests sent"
    echo "to a parent; failures: parent attempts with no usable answer, the next parent was asked;"
    echo "fallbacks: every parent tried failed, on to the origin):"
    echo
    echo "| child | cdn_edge_parent_fetches_total | cdn_edge_parent_failures_total | cdn_edge_parent_fallbacks_total |"
    echo "|---|---:|---:|---:|"
    echo "$tier_table"
    echo
  fi
  echo "## Requests served, by client region"
  echo
  grep '^T|' "$out/data/analysis.txt" | sed 's/^T|//'
  echo
  echo "## Requests served per region, by phase"
  echo
  echo "Before the kill, during the outage (kill to restart), after the restart."
  echo
  grep '^P|' "$out/data/analysis.txt" | sed 's/^P|//'
  echo
  echo "## Requests served per edge"
  echo
  echo "| edge | region | address | ok requests |"
  echo "|---|---|---|---:|"
  echo "$per_edge_table"
  echo
  echo "## Files"
  echo
  echo "- \`timeline.png\`: requests/s served per region, failed requests/s, failed attempts/s,"
  echo "  DNS answers/s pointing at $KILL_REGION; kill and restart marked.$([ "$tiered" = 1 ] &&
    echo " Tiered: origin requests/s (origin_sim -v), the parent kill marked.")"
  echo "- \`requests.tsv\`: start_ms client client_region tried served_addr served_region status attempts failed_attempts wall_ms curl_ms"
  echo "- \`dns.tsv\`: ms client client_region ok|fail ttl addresses; \`health.tsv\`: ms then geodns' id/up pairs"
  echo "- \`timeline.tsv\`: the plot's data (${bucket_ms} ms buckets); \`geodns.toml\`; \`logs/\`; \`data/\` (metrics, purges)"
  echo "- t0 = $t0 (unix ms); kill = $kill_at; restart = $restore_at."
} >"$report"

if [ $have_gnuplot = 1 ]; then
  term="pngcairo size 1200,700 font 'sans,10'"
  gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1 || term="png size 1200,700"
  k=$(awk -v a="$kill_at" -v t="$t0" 'BEGIN { printf "%.3f", (a - t) / 1000 }')
  rs=$(awk -v a="$restore_at" -v t="$t0" 'BEGIN { printf "%.3f", (a - t) / 1000 }')
  # Tiered mode: a third panel, origin requests/s, and the parent kill (and restart) on every panel.
  layout=2 parent_marks="" origin_panel="" title_tier=""
  if [ "$tiered" = 1 ]; then
    layout=3
    term=${term/1200,700/1200,950}
    pk=$(awk -v a="$parent_kill_at" -v t="$t0" 'BEGIN { printf "%.3f", (a - t) / 1000 }')
    parent_marks="set arrow 3 from $pk, graph 0 to $pk, graph 1 nohead lc rgb \"black\" dt 3 lw 2
set label 3 \"kill $KILL_PARENT\" at $pk, graph 0.85 offset 0.5,0 tc rgb \"black\""
    if [ "$parent_restore_at" -ge 0 ]; then
      pr=$(awk -v a="$parent_restore_at" -v t="$t0" 'BEGIN { printf "%.3f", (a - t) / 1000 }')
      parent_marks+="
set arrow 4 from $pr, graph 0 to $pr, graph 1 nohead lc rgb \"gray40\" dt 3 lw 2
set label 4 \"restart $KILL_PARENT\" at $pr, graph 0.75 offset 0.5,0 tc rgb \"gray40\""
    fi
    origin_panel="set ylabel \"origin requests/s\"
plot \"$out/timeline.tsv\" using 1:8 with histeps lc rgb \"blue\" lw 2 title \"origin requests/s\""
    title_tier=", tiered: kill parent $KILL_PARENT at ${PARENT_KILL_AT}s"
  fi
  gnuplot >"$out/data/gnuplot.log" 2>&1 <<GP || echo "failover-drill: gnuplot failed; see $out/data/gnuplot.log" >&2
set terminal $term noenhanced
set output "$out/timeline.png"
set lmargin at screen 0.06
set rmargin at screen 0.80
set datafile separator "\t"
set multiplot layout $layout,1 title "Failover drill: $FAIL_MODE $KILL_REGION at ${KILL_AT}s, restore at ${RESTORE_AT}s (health ${HEALTH_INTERVAL_MS}ms x fall $HEALTH_FALL, TTL ${DNS_TTL}s, CLIENT_DNS=$CLIENT_DNS$title_tier)"
set xrange [0:$DRILL_SECONDS]
set grid
set key outside right top
set arrow 1 from $k, graph 0 to $k, graph 1 nohead lc rgb "red" dt 2 lw 2
set arrow 2 from $rs, graph 0 to $rs, graph 1 nohead lc rgb "dark-green" dt 2 lw 2
set label 1 "kill" at $k, graph 0.95 offset 0.5,0 tc rgb "red"
set label 2 "restore" at $rs, graph 0.95 offset 0.5,0 tc rgb "dark-green"
$parent_marks
set ylabel "requests/s served"
set yrange [0:*]
plot "$out/timeline.tsv" using 1:2 with histeps lw 2 title "${regions[0]}", \
     "" using 1:3 with histeps lw 2 title "${regions[1]}", \
     "" using 1:4 with histeps lw 2 title "${regions[2]}"
set ylabel "per second"
set xlabel "seconds since start"
plot "$out/timeline.tsv" using 1:5 with boxes fs solid 0.5 lc rgb "red" title "failed requests", \
     "" using 1:6 with histeps lc rgb "orange" lw 2 title "failed attempts", \
     "" using 1:7 with histeps lc rgb "purple" lw 1 title "DNS answers with $KILL_REGION edges"
$origin_panel
unset multiplot
GP
else
  echo "failover-drill: gnuplot not found (apt-get install gnuplot-nox): no timeline.png" >&2
fi

echo
sed -n '/^## Measures/,/^## Requests served, by/p' "$report" | sed '$d'
echo "== $verdict$([ ${#reasons[@]} -gt 0 ] && printf ': %s' "$(IFS=';'; echo "${reasons[*]}")"): report $report, plot $out/timeline.png"
[ "$verdict" = PASS ]
