#!/usr/bin/env bash
# The front door: builds (Release) and starts the whole CDN on loopback, prints what to try, and
# stops everything on Ctrl-C: origin_sim, purge_api, a parent edge (the shield tier), one edge
# in front of it and geodns (answering www.cdn.example with the edge while its /healthz is good).
#   infra/run-local.sh            # origin on :9000, edge on :8080 (HTTP/1.1 and h2c) and
#                                 # :8443 (TLS, h2 + http/1.1), edge admin on :8081,
#                                 # parent edge on :8180 (admin :8181),
#                                 # purge_api on :8090 (HTTPS on :8091; edges use that),
#                                 # geodns on :5353 (UDP+TCP), geodns admin on :9153
#   EDGE_PORT=18080 ORIGIN_PORT=19000 ADMIN_PORT=18081 infra/run-local.sh
#   infra/run-local.sh --smoke    # start, check MISS then HIT with curl, stop (exit status says)
#   BIN_DIR=build-test infra/run-local.sh --smoke   # use binaries already built there
#   STATE_DIR=/var/tmp/cdn infra/run-local.sh        # where the edge keeps its disk cache
#   infra/run-local.sh --ha       # the control plane highly available: a 3-member etcd cluster
#                                 # (client ports 12379, 12381, 12383), purge_api A (:8090/:8091)
#                                 # and B (:8092/:8093) sharing the purge log in it, and edges
#                                 # that know both (needs etcd: apt-get install etcd-server)
# The edge's disk cache lives in STATE_DIR (default /tmp/cdn-local-state) and survives a restart
# of this script: stop it, start it again, and what was cached is still a HIT.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. infra/lib.sh

smoke=0
ha=0
for arg in "$@"; do
  case $arg in
    --smoke) smoke=1 ;;
    --ha) ha=1 ;;
    *) echo "run-local: unknown argument '$arg' (--smoke, --ha)" >&2; exit 2 ;;
  esac
done

infra/deps.sh test

if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=build-release
  echo "== building (Release) in $BIN_DIR"
  cmake -S . -B "$BIN_DIR" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BIN_DIR" -j"$(nproc)" --target edge origin_sim purge_api geodns
fi
case $BIN_DIR in /*) bin=$BIN_DIR ;; *) bin=$root/$BIN_DIR ;; esac
edge_bin=$bin/edge/edge
origin_bin=$bin/origin_sim/origin_sim
purge_bin=$bin/purge_api/purge_api
geodns_bin=$bin/geodns/geodns
# Local-only tokens (this script binds loopback only); set your own for anything else.
# ADMIN_PURGE_TOKEN enables POST /purge on the edge's admin port.
: "${PURGE_TOKEN:=local-admin-token}" "${EDGE_TOKEN:=local-edge-token}"
: "${ADMIN_PURGE_TOKEN:=local-edge-admin-purge-token}"

if [ $smoke = 1 ]; then
  : "${ORIGIN_PORT:=0}" "${EDGE_PORT:=0}" "${ADMIN_PORT:=0}" "${PURGE_PORT:=0}" "${TLS_PORT:=0}"
  : "${PURGE_TLS_PORT:=0}" "${PURGE2_PORT:=0}" "${PURGE2_TLS_PORT:=0}"
  : "${DNS_PORT:=0}" "${DNS_ADMIN_PORT:=0}" "${PARENT_PORT:=0}" "${PARENT_ADMIN_PORT:=0}"
else
  : "${ORIGIN_PORT:=9000}" "${EDGE_PORT:=8080}" "${ADMIN_PORT:=8081}" "${PURGE_PORT:=8090}"
  : "${TLS_PORT:=8443}" "${PURGE_TLS_PORT:=8091}" "${PURGE2_PORT:=8092}" "${PURGE2_TLS_PORT:=8093}"
  : "${DNS_PORT:=5353}" "${DNS_ADMIN_PORT:=9153}" "${PARENT_PORT:=8180}" "${PARENT_ADMIN_PORT:=8181}"
fi
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/cdn-local.XXXXXX")
if [ $smoke = 1 ]; then
  state_dir=$run_dir/state
else
  state_dir=${STATE_DIR:-${TMPDIR:-/tmp}/cdn-local-state}
fi
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  [ $smoke = 1 ] && rm -rf "$run_dir"
  return 0
}
trap stop EXIT
trap 'echo; echo "== stopping"; exit 0' INT TERM


"$origin_bin" --listen "127.0.0.1:$ORIGIN_PORT" >"$run_dir/origin_sim.log" 2>&1 &
pids+=($!)
origin_port=$(port_from_log "$run_dir/origin_sim.log" "listening on" "${pids[-1]}")

# purge_api serves HTTPS (a throwaway self-signed certificate for 127.0.0.1, which the edge is
# told to trust) and plain HTTP on loopback beside it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=purge.local -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$run_dir/purge.key" -out "$run_dir/purge.pem" 2>/dev/null
purge_cfg=()
if [ $ha = 1 ]; then
  # --ha: three etcd members (data in the state directory, so the purge log survives a restart
  # of this script) and two purge_api instances on the etcd store.
  etcd_bin=${ETCD_BIN:-/usr/bin/etcd}
  [ -x "$etcd_bin" ] || { echo "run-local: --ha needs etcd: apt-get install etcd-server" >&2; exit 2; }
  cluster="" endpoints=""
  declare -A ecport epport
  for i in 0 1 2; do
    if [ $smoke = 1 ]; then
      ecport[$i]=$(free_port) epport[$i]=$(free_port)
    else
      ecport[$i]=$((${ETCD_BASE_PORT:-12379} + 2 * i)) epport[$i]=$((${ETCD_BASE_PORT:-12379} + 2 * i + 1))
    fi
    cluster+="${cluster:+,}m$i=http://127.0.0.1:${epport[$i]}"
    endpoints+="${endpoints:+, }\"http://127.0.0.1:${ecport[$i]}\""
  done
  for i in 0 1 2; do
    "$etcd_bin" --name "m$i" --data-dir "$state_dir/etcd-m$i" \
      --listen-client-urls "http://127.0.0.1:${ecport[$i]}" --advertise-client-urls "http://127.0.0.1:${ecport[$i]}" \
      --listen-peer-urls "http://127.0.0.1:${epport[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${epport[$i]}" \
      --initial-cluster "$cluster" --initial-cluster-token cdn-local --heartbeat-interval 50 \
      --election-timeout 500 --log-level warn >"$run_dir/etcd-m$i.log" 2>&1 &
    pids+=($!)
  done
  for i in 0 1 2; do
    for _ in $(seq 1 200); do
      curl -s --max-time 1 "http://127.0.0.1:${ecport[$i]}/health" | grep -q '"health":"true"' && break
      sleep 0.1
    done
  done
  printf '[store]\nbackend = "etcd"\netcd_endpoints = [%s]\netcd_prefix = "/cdn-local/purge/"\n' \
    "$endpoints" >"$run_dir/purge-ha.toml"
  purge_cfg=(--config "$run_dir/purge-ha.toml")
fi
"$purge_bin" "${purge_cfg[@]}" --listen "127.0.0.1:$PURGE_PORT" --data-dir "$state_dir/purge_api" \
  --tls-listen "127.0.0.1:$PURGE_TLS_PORT" --tls-cert "$run_dir/purge.pem" --tls-key "$run_dir/purge.key" \
  --token "$PURGE_TOKEN" --edge-token "$EDGE_TOKEN" >"$run_dir/purge_api.log" 2>&1 &
pids+=($!)
purge_pid=${pids[-1]}
purge_port=$(port_from_log "$run_dir/purge_api.log" "http on" "${pids[-1]}")
purge_tls_port=$(port_from_log "$run_dir/purge_api.log" "https on" "${pids[-1]}")
purge_urls="https://127.0.0.1:$purge_tls_port"
if [ $ha = 1 ]; then
  "$purge_bin" "${purge_cfg[@]}" --listen "127.0.0.1:$PURGE2_PORT" --data-dir "$state_dir/purge_api-2" \
    --tls-listen "127.0.0.1:$PURGE2_TLS_PORT" --tls-cert "$run_dir/purge.pem" --tls-key "$run_dir/purge.key" \
    --token "$PURGE_TOKEN" --edge-token "$EDGE_TOKEN" >"$run_dir/purge_api-2.log" 2>&1 &
  pids+=($!)
  purge2_pid=${pids[-1]}
  purge2_port=$(port_from_log "$run_dir/purge_api-2.log" "http on" "${pids[-1]}")
  purge2_tls_port=$(port_from_log "$run_dir/purge_api-2.log" "https on" "${pids[-1]}")
  purge_urls+=",https://127.0.0.1:$purge2_tls_port"
fi

(umask 077 && printf '%s\n' "$ADMIN_PURGE_TOKEN" >"$run_dir/admin-purge.token")
# The parent (shield) tier: an edge like the others, in front of the origin. The edge below sends
# its misses here, so the origin sees each object once however many edges ask; purges reach it
# from purge_api like any edge.
"$edge_bin" --name edge-parent --listen "127.0.0.1:$PARENT_PORT" --admin "127.0.0.1:$PARENT_ADMIN_PORT" \
  --admin-purge-token-file "$run_dir/admin-purge.token" --origin "http://127.0.0.1:$origin_port" \
  --disk-path "$state_dir/parent-cache" \
  --purge-api "$purge_urls" --purge-tls-ca "$run_dir/purge.pem" \
  --purge-token "$EDGE_TOKEN" >"$run_dir/parent.log" 2>&1 &
pids+=($!)
parent_port=$(port_from_log "$run_dir/parent.log" "http on" "${pids[-1]}")
parent_admin_port=$(port_from_log "$run_dir/parent.log" "admin on" "${pids[-1]}")

# The edge speaks TLS (HTTP/2 and HTTP/1.1 by ALPN) with a throwaway self-signed certificate for
# www.cdn.example, localhost and 127.0.0.1, and h2c on the cleartext port.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=www.cdn.example -addext "subjectAltName=DNS:www.cdn.example,DNS:localhost,IP:127.0.0.1" \
  -keyout "$run_dir/edge.key" -out "$run_dir/edge.pem" 2>/dev/null
cat >"$run_dir/edge.toml" <<TOML
[server]
h2c = true
[tls]
listen = ["127.0.0.1:$TLS_PORT"]
alpn = ["h2", "http/1.1"]
[[tls.certificates]]
cert = "$run_dir/edge.pem"
key = "$run_dir/edge.key"
[[parents]]
name = "shield"
urls = ["http://127.0.0.1:$parent_port"]
# The site: compression is on by default; the edge's own 103 Early Hints and slices of large
# files are turned on here to show them.
[[origin]]
url = "http://127.0.0.1:$origin_port"
[origin.early_hints]
enabled = true
[origin.slice]
size = "1MiB"
TOML
"$edge_bin" --config "$run_dir/edge.toml" --name edge-local --listen "127.0.0.1:$EDGE_PORT" \
  --admin "127.0.0.1:$ADMIN_PORT" --admin-purge-token-file "$run_dir/admin-purge.token" \
  --disk-path "$state_dir/edge-cache" \
  --purge-api "$purge_urls" --purge-tls-ca "$run_dir/purge.pem" \
  --purge-token "$EDGE_TOKEN" >"$run_dir/edge.log" 2>&1 &
pids+=($!)
edge_pid=${pids[-1]}
edge_port=$(port_from_log "$run_dir/edge.log" "http on" "${pids[-1]}")
tls_port=$(port_from_log "$run_dir/edge.log" "https on" "${pids[-1]}")
admin_port=$(port_from_log "$run_dir/edge.log" "admin on" "${pids[-1]}")

# geodns: one region with the one edge, checked on its /healthz; www.cdn.example is steered.
cat >"$run_dir/geodns.toml" <<TOML
[health]
path = "/healthz"
interval = "1s"
timeout = "500ms"

[[regions]]
id = "local"
latitude = 50.1109
longitude = 8.6821

[[edges]]
id = "edge-local"
region = "local"
ipv4 = ["127.0.0.1"]
health = "http://127.0.0.1:$admin_port/healthz"

[[zones]]
origin = "cdn.example"
ns = ["ns1"]

[zones.soa]
rname = "hostmaster"
minimum = "30s"

[[zones.records]]
name = "ns1"
type = "A"
values = ["127.0.0.1"]

[[zones.steered]]
name = "www"
ttl = "20s"
count = 2
TOML
"$geodns_bin" --config "$run_dir/geodns.toml" --dns "127.0.0.1:$DNS_PORT" \
  --admin "127.0.0.1:$DNS_ADMIN_PORT" >"$run_dir/geodns.log" 2>&1 &
pids+=($!)
dns_port=$(port_from_log "$run_dir/geodns.log" "dns on" "${pids[-1]}")
dns_admin_port=$(port_from_log "$run_dir/geodns.log" "admin on" "${pids[-1]}")

if [ $smoke = 1 ]; then
  first=$(curl -s -i "http://127.0.0.1:$edge_port/hello.txt" | tr -d '\r')
  second=$(curl -s -i "http://127.0.0.1:$edge_port/hello.txt" | tr -d '\r')
  count=$(curl -s "http://127.0.0.1:$origin_port/_stats?target=/hello.txt")
  echo "$first" | grep -q '^X-Cache: MISS' || { echo "smoke: first request was not a MISS"; exit 1; }
  echo "$first" | grep -q '^Cache-Status: edge-parent; fwd=uri-miss' ||
    { echo "smoke: the miss did not go through the parent: $first"; exit 1; }
  echo "$second" | grep -q '^X-Cache: HIT' || { echo "smoke: second request was not a HIT"; exit 1; }
  echo "$count" | grep -q '"requests":1[,}]' || { echo "smoke: origin count is not 1: $count"; exit 1; }
  curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null || { echo "smoke: /healthz failed"; exit 1; }
  purge=$(curl -s -X POST -H "Authorization: Bearer $PURGE_TOKEN" --cacert "$run_dir/purge.pem" \
    -d "{\"files\":[\"http://127.0.0.1:$edge_port/hello.txt\"]}" "https://127.0.0.1:$purge_tls_port/v1/purge")
  echo "$purge" | grep -q '"success":true' || { echo "smoke: purge refused: $purge"; exit 1; }
  for _ in $(seq 1 100); do
    third=$(curl -s -i "http://127.0.0.1:$edge_port/hello.txt" | tr -d '\r')
    echo "$third" | grep -q '^X-Cache: MISS' && break
    sleep 0.05
  done
  echo "$third" | grep -q '^X-Cache: MISS' || { echo "smoke: still cached after the purge"; exit 1; }
  # The edge's own admin purge: refused without the token, applied with it (and a JSON body).
  anon=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"purge_everything":true}' "http://127.0.0.1:$admin_port/purge")
  [ "$anon" = 401 ] || { echo "smoke: admin purge without a token answered $anon, not 401"; exit 1; }
  curl -s -o /dev/null "http://127.0.0.1:$edge_port/hello.txt"
  admin=$(curl -s -H "Authorization: Bearer $ADMIN_PURGE_TOKEN" -H 'Content-Type: application/json' \
    -d "{\"files\":[\"http://127.0.0.1:$edge_port/hello.txt\"]}" "http://127.0.0.1:$admin_port/purge")
  echo "$admin" | grep -q '"success":true' || { echo "smoke: admin purge refused: $admin"; exit 1; }
  fourth=$(curl -s -i "http://127.0.0.1:$edge_port/hello.txt" | tr -d '\r')
  echo "$fourth" | grep -q '^X-Cache: MISS' || { echo "smoke: still cached after the admin purge"; exit 1; }
  # https://localhost is its own cache key (scheme and host): the second fetch is the HIT.
  curl -s -o /dev/null --http2 --cacert "$run_dir/edge.pem" "https://localhost:$tls_port/hello.txt"
  h2=$(curl -s -i --http2 --cacert "$run_dir/edge.pem" "https://localhost:$tls_port/hello.txt" | tr -d '\r')
  echo "$h2" | grep -q '^HTTP/2 200' || { echo "smoke: no HTTP/2 over TLS: $h2"; exit 1; }
  echo "$h2" | grep -q '^x-cache: HIT' || { echo "smoke: HTTP/2 over TLS was not a HIT: $h2"; exit 1; }
  answer=$(dig @127.0.0.1 -p "$dns_port" +short +time=2 +tries=2 www.cdn.example A)
  [ "$answer" = "127.0.0.1" ] || { echo "smoke: geodns answered '$answer' for www.cdn.example"; exit 1; }
  nx=$(dig @127.0.0.1 -p "$dns_port" +time=2 +tries=2 nope.cdn.example A)
  echo "$nx" | grep -q 'status: NXDOMAIN' || { echo "smoke: geodns did not say NXDOMAIN"; exit 1; }
  # The dashboard: the page needs no token (it holds no data); the fleet it reads does.
  dash=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "http://127.0.0.1:$purge_port/dashboard")
  case $dash in "200 text/html"*) ;; *) echo "smoke: GET /dashboard answered '$dash'"; exit 1 ;; esac
  anon_fleet=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$purge_port/v1/fleet")
  [ "$anon_fleet" = 401 ] || { echo "smoke: GET /v1/fleet without a token answered $anon_fleet, not 401"; exit 1; }
  fleet=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $PURGE_TOKEN" "http://127.0.0.1:$purge_port/v1/fleet")
  [ "$(echo "$fleet" | tail -n1)" = 200 ] || { echo "smoke: GET /v1/fleet with the token failed: $fleet"; exit 1; }
  echo "$fleet" | grep -q '"id":"edge-local"' || { echo "smoke: GET /v1/fleet does not list edge-local: $fleet"; exit 1; }
  kill -HUP "$edge_pid"
  for _ in $(seq 50); do
    page_has "http://127.0.0.1:$admin_port/metrics" '^cdn_edge_config_generation 2$' && break
    sleep 0.1
  done
  page_has "http://127.0.0.1:$admin_port/metrics" '^cdn_edge_config_generation 2$' ||
    { echo "smoke: SIGHUP did not reload the edge"; exit 1; }
  reloaded=$(curl -s -D - -o /dev/null "http://127.0.0.1:$edge_port/hello.txt")
  echo "$reloaded" | grep -q '^HTTP/1.1 200' || { echo "smoke: no answer after the reload"; exit 1; }
  if [ $ha = 1 ]; then
    # The second instance: a purge POSTed there reaches the edge (streaming from the first), and
    # the first instance knows it at once; then the first instance dies and purges go on.
    curl -s -o /dev/null "http://127.0.0.1:$edge_port/hello.txt"
    viab=$(curl -s -X POST -H "Authorization: Bearer $PURGE_TOKEN" -H "Idempotency-Key: smoke-ha-1" \
      -d "{\"files\":[\"http://127.0.0.1:$edge_port/hello.txt\"]}" "http://127.0.0.1:$purge2_port/v1/purge")
    id=$(echo "$viab" | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4)
    [ -n "$id" ] || { echo "smoke: purge on instance B refused: $viab"; exit 1; }
    seen=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $PURGE_TOKEN" "http://127.0.0.1:$purge_port/v1/purges/$id")
    [ "$seen" = 200 ] || { echo "smoke: instance A answered $seen for B's purge"; exit 1; }
    for _ in $(seq 1 100); do
      curl -s -i "http://127.0.0.1:$edge_port/hello.txt" | tr -d '\r' | grep -q '^X-Cache: MISS' && break
      sleep 0.05
    done
    kill "$purge_pid"
    curl -s -o /dev/null "http://127.0.0.1:$edge_port/hello.txt"
    curl -s -o /dev/null "http://127.0.0.1:$edge_port/hello.txt"
    viab=$(curl -s -X POST -H "Authorization: Bearer $PURGE_TOKEN" \
      -d "{\"files\":[\"http://127.0.0.1:$edge_port/hello.txt\"]}" "http://127.0.0.1:$purge2_port/v1/purge")
    echo "$viab" | grep -q '"success":true' || { echo "smoke: purge on B with A down refused: $viab"; exit 1; }
    ok=0
    for _ in $(seq 1 100); do
      curl -s -i "http://127.0.0.1:$edge_port/hello.txt" | tr -d '\r' | grep -q '^X-Cache: MISS' && { ok=1; break; }
      sleep 0.05
    done
    [ $ok = 1 ] || { echo "smoke: the edge did not get the purge once purge_api A was down"; exit 1; }
    echo "smoke: --ha: a purge on B reached the edge and A knew it; with A killed, purges through B still apply"
  fi
  br=$(curl -s -D- -o /dev/null -H 'Accept-Encoding: br' "http://127.0.0.1:$edge_port/page.html" | tr -d '\r')
  echo "$br" | grep -qi '^Content-Encoding: br' || { echo "smoke: no brotli for page.html: $br"; exit 1; }
  hints="http://127.0.0.1:$edge_port/hints.html?cc=no-store&header=Link:%3C/app.css%3E%3Brel%3Dpreload"
  curl -s -o /dev/null "$hints"
  curl -sv -o /dev/null "$hints" 2>&1 | grep -q '< HTTP/1.1 103' ||
    { echo "smoke: no 103 Early Hints on the second request"; exit 1; }
  sliced=$(curl -s -D- -o /dev/null -r 2147483648-2148532223 "http://127.0.0.1:$edge_port/video.mp4?size=4GiB" | tr -d '\r')
  echo "$sliced" | grep -q '^HTTP/1.1 206' || { echo "smoke: no 206 from the slices: $sliced"; exit 1; }
  echo "smoke: brotli for page.html, the edge's own 103 Early Hints, a 1 MiB range of a 4 GiB object from its slices"
  echo "smoke: MISS (through the parent) then HIT, origin saw 1 request; purged through purge_api (https), then MISS;"
  echo "smoke: admin purge: 401 without the token, purged with it"
  echo "smoke: HTTP/2 over TLS: MISS then HIT"
  echo "smoke: geodns answers www.cdn.example with the edge"
  echo "smoke: dashboard: GET /dashboard is HTML; GET /v1/fleet 401 without the token, lists the edge with it"
  echo "smoke: SIGHUP reloaded the edge (generation 2), still serving"
  exit 0
fi

cat <<TXT

The CDN is running on loopback (logs in $run_dir):
  origin_sim  http://127.0.0.1:$origin_port
  purge_api   https://127.0.0.1:$purge_tls_port (certificate $run_dir/purge.pem; the edge follows it)
              http://127.0.0.1:$purge_port  (loopback)  admin token: $PURGE_TOKEN
TXT
if [ $ha = 1 ]; then
  cat <<TXT
  purge_api B https://127.0.0.1:$purge2_tls_port, http://127.0.0.1:$purge2_port (same log, in etcd)
  etcd        http://127.0.0.1:${ecport[0]}, :${ecport[1]}, :${ecport[2]} (3 members; data in $state_dir)
              the edges know both instances: kill $purge_pid (A) or $purge2_pid (B) and purges
              through the other still apply (infra/purge-drill.sh does it under load)
TXT
fi
cat <<TXT
  edge        http://127.0.0.1:$edge_port      admin http://127.0.0.1:$admin_port (purge token: $ADMIN_PURGE_TOKEN)
              https://localhost:$tls_port    (HTTP/2 or 1.1; certificate $run_dir/edge.pem)
              disk cache in $state_dir/edge-cache (kept across restarts; rm -rf it to start cold)
  parent edge http://127.0.0.1:$parent_port      admin http://127.0.0.1:$parent_admin_port
              the shield tier: the edge's misses go here, its misses to the origin
  geodns      127.0.0.1:$dns_port (UDP+TCP)    admin http://127.0.0.1:$dns_admin_port

Try:
  curl -i http://127.0.0.1:$edge_port/hello.txt          # X-Cache: MISS
  curl -i http://127.0.0.1:$edge_port/hello.txt          # X-Cache: HIT, Age grows
                                  # Cache-Status: edge-parent's entry, then edge-local's
  curl -s http://127.0.0.1:$admin_port/metrics | grep cdn_edge_parent   # tiered caching
  curl -s http://127.0.0.1:$origin_port/_stats?target=/hello.txt   # the origin saw 1 request
  curl -i --http2 --cacert $run_dir/edge.pem https://localhost:$tls_port/hello.txt   # HTTP/2 + TLS
  curl -i --http2-prior-knowledge http://127.0.0.1:$edge_port/hello.txt              # h2c
  nghttp -ans https://localhost:$tls_port/hello.txt        # HTTP/2 frames and timings
  curl -i 'http://127.0.0.1:$edge_port/app.js?v=2'       # a new version is a new object
  curl -i 'http://127.0.0.1:$edge_port/nocache?cc=no-store'        # never stored
  curl -i 'http://127.0.0.1:$edge_port/short?cc=max-age%3D5'       # expires after 5 s
  curl -i 'http://127.0.0.1:$edge_port/cdn?cc=no-store&header=CDN-Cache-Control:max-age%3D600'
                                  # browsers: no-store; the edge: 10 min (RFC 9213), twice: HIT
  curl -i -H 'Cache-Control: only-if-cached' http://127.0.0.1:$edge_port/not-yet   # 504, no origin
  curl -s -D- -o /dev/null -H 'Accept-Encoding: br' http://127.0.0.1:$edge_port/page.html
                                  # Content-Encoding: br, made once and stored (gzip too)
  curl -s -D- -o /dev/null -r 2147483648-2148532223 'http://127.0.0.1:$edge_port/video.mp4?size=4GiB'
                                  # 206 from one 1 MiB slice: the origin sent 1 MiB, not 4 GiB
  curl -s http://127.0.0.1:$admin_port/metrics | grep -E 'cdn_edge_(slice|origin_body|compress)'
  curl -sv -o /dev/null 'http://127.0.0.1:$edge_port/app.html?cc=no-store&delay=500&header=Link:%3C/app.css%3E%3Brel%3Dpreload%3Bas%3Dstyle'
                                  # twice: the second gets the edge's 103 Early Hints at once
  head -c 3000000 /dev/zero | curl -sv -o /dev/null -H 'Expect: 100-continue' --data-binary @- \
       http://127.0.0.1:$edge_port/upload   # 100 Continue only once the origin said so
  curl -X POST 'http://127.0.0.1:$origin_port/_version?path=/hello.txt'   # "deploy" a new version
  curl -s -X POST -H 'Authorization: Bearer $PURGE_TOKEN' --cacert $run_dir/purge.pem \\
       https://127.0.0.1:$purge_tls_port/v1/purge \\
       -d '{"files":["http://127.0.0.1:$edge_port/hello.txt"]}'      # purge it everywhere (https)
  curl -s -X POST -H 'Authorization: Bearer $PURGE_TOKEN' http://127.0.0.1:$purge_port/v1/purge \\
       -d '{"tags":["blue"],"soft":true}'          # soft-purge objects tagged blue (?tags=blue)
  curl -s -H 'Authorization: Bearer $PURGE_TOKEN' http://127.0.0.1:$purge_port/v1/edges   # acks
  curl -s -H 'Authorization: Bearer $PURGE_TOKEN' http://127.0.0.1:$purge_port/v1/fleet   # the fleet as JSON
  http://127.0.0.1:$purge_port/dashboard#token=$PURGE_TOKEN   # open in a browser: the live fleet
  curl -s -H 'Authorization: Bearer $ADMIN_PURGE_TOKEN' -H 'Content-Type: application/json' \\
       http://127.0.0.1:$admin_port/purge -d '{"tags":["blue"]}'   # purge on this edge only
  curl -s http://127.0.0.1:$admin_port/metrics | grep cdn_edge_requests_total
  curl -s http://127.0.0.1:$admin_port/metrics | grep -E 'cdn_edge_(cache_objects|disk_)'
  curl -s http://127.0.0.1:$admin_port/metrics | grep -E 'cdn_edge_(http2|tls)_'
  curl -s http://127.0.0.1:$admin_port/metrics | grep -E 'cdn_edge_(inflight|admin_refused|http2_limits)'
                                                          # bodies in flight, refused admin calls
  curl -i --request-target http://other.example/hello.txt -H 'Host: attacker.example' \\
       http://127.0.0.1:$edge_port/    # absolute-form: the target's host wins (key and origin Host)
  tail -f $run_dir/edge.log                                # one access-log line per request
  kill -HUP $edge_pid        # reload $run_dir/edge.toml: new requests use it, nothing is dropped
  $edge_bin --version        # version, git revision, build type (cdn_build_info in /metrics)
  dig @127.0.0.1 -p $dns_port www.cdn.example A           # the edge, TTL 20 (geodns)
  dig @127.0.0.1 -p $dns_port +subnet=198.51.100.0/24 www.cdn.example   # with client subnet
  curl -i --resolve www.cdn.example:$edge_port:\$(dig @127.0.0.1 -p $dns_port +short www.cdn.example) \\
       http://www.cdn.example:$edge_port/hello.txt         # resolve through geodns, then fetch
  curl -s http://127.0.0.1:$dns_admin_port/v1/edges        # geodns' view of edge health
  infra/failover-drill.sh                                  # three regions; kill one, watch traffic move
  infra/purge-drill.sh                                     # the control plane: kill etcd's leader, an instance...

Ctrl-C stops everything.
TXT
wait
