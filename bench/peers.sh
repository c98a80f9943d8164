# shellcheck shell=bash disable=SC2154 # root, bin and work are set by the sourcing script and scratch_dir
# bench/peers.sh: the peers bench/hit_path.sh and bench/h2_load.sh compare the edge against, and
# the origin they all share, each started, pinned, measured and stopped the same way in both
# scripts. Source it after infra/lib.sh, with $root set to the repository; it defines functions
# only. The configs are the templates in bench/peers/ (@NAME@ placeholders, filled by `render`).
#
# How each peer is set up (bench/README.md has the same list):
#   origin      nginx static server, 1 worker, objects of random bytes in the scratch dir on
#               /dev/shm (/obj/<size>), `Cache-Control: public, max-age=3600`, ETag and
#               Last-Modified; /miss/<anything> answers the MISS_SIZE body, as cacheable; access log
#               on (its lines count the origin requests). Pinned to the client CPU.
#   origin-ref  the same static server, access log off, with the nginx cache's output settings:
#               the "no cache in the path" reference.
#   nginx       proxy_cache on tmpfs, open_file_cache, `sendfile off; output_buffers 2 1m;`
#               (NGINX_SENDFILE=on: `sendfile on;`), tcp_nopush, keepalive_requests 1000000,
#               proxy_cache_lock, upstream keepalive 64, 1 worker.
#   varnish     varnishd -F -s malloc,1G -p thread_pools=1 -p thread_pool_min=200
#               -p thread_pool_max=1000 -p feature=+http2, built-in VCL + an X-Cache header.
#   ats         Apache Traffic Server: traffic_server alone with --run-root (a runroot in the
#               scratch dir), 1 exec thread, 1 GiB RAM cache over a 2 GiB span file on tmpfs.
#   edge        ours: --threads 1 --no-access-log --memory 2GiB.
# Every server has one worker/thread and runs pinned with taskset, in the foreground, under
# `timeout` (SERVER_TTL seconds: nothing outlives a killed script by long). As root, nginx runs its
# workers as nobody:nogroup, Varnish as its jail users, ATS as trafficserver. Everything listens on
# 127.0.0.1 only. On exit, every process started here (and everything it forked) gets SIGTERM,
# then SIGKILL after 10 s, by PID; PIDs are checked against their start time first.

peers_conf=$root/bench/peers

peers_log() { printf '[%4ds] %s\n' "$SECONDS" "$*" >&2; }
peers_die() { peers_log "FATAL: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

nginx_bin() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }
varnishd_bin() { command -v varnishd 2>/dev/null || { [ -x /usr/sbin/varnishd ] && echo /usr/sbin/varnishd; }; }

# peer_available NAME: true when the peer can run here (edge: its binary at $bin/edge/edge).
peer_available() {
  case $1 in
    origin-ref | nginx) [ -n "$(nginx_bin)" ] ;;
    varnish) [ -n "$(varnishd_bin)" ] ;;
    ats) have traffic_server ;;
    edge) [ -x "$bin/edge/edge" ] ;;
    *) return 1 ;;
  esac
}

# peers_filter "LIST": the names of LIST that can run here, in order; a message for the others.
peers_filter() {
  local t out=""
  for t in $1; do
    case $t in
      origin-ref | nginx | varnish | ats | edge) ;;
      *) peers_die "unknown target '$t' (known: origin-ref nginx varnish ats edge)" ;;
    esac
    if peer_available "$t"; then
      out+="$t "
    elif [ "$t" = edge ]; then
      peers_die "no edge binary at $bin/edge/edge (BIN_DIR)"
    else
      peers_log "skipping $t: not installed"
    fi
  done
  echo "${out% }"
}

# size_bytes LABEL: 1k -> 1024, 1m -> 1048576, 512 -> 512.
size_bytes() {
  case $1 in
    *k) echo $((${1%k} * 1024)) ;;
    *m) echo $((${1%m} * 1048576)) ;;
    *) echo "$1" ;;
  esac
}
# size_label BYTES_OR_LABEL: 1024 -> 1k, 65536 -> 64k, 1048576 -> 1m, 1k -> 1k, 1000 -> 1000.
size_label() {
  local b
  b=$(size_bytes "$1")
  [[ "$b" =~ ^[0-9]+$ ]] || peers_die "bad size '$1' (bytes, or <n>k, <n>m)"
  if ((b > 0 && b % 1048576 == 0)); then echo "$((b / 1048576))m"
  elif ((b > 0 && b % 1024 == 0)); then echo "$((b / 1024))k"
  else echo "$b"; fi
}

# peers_init NAME [MIN_MB]: the scratch dir ($work; mode 755) on /dev/shm (tmpfs) when it has
# MIN_MB (default 4096: the nginx cache, ATS's 2 GiB span file and the objects of the miss runs live
# there) free, else in TMPDIR with a warning; $pids, the exit trap, the users the servers run as.
peers_init() {
  local shm_mb=0
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then shm_mb=$(df -Pk /dev/shm | awk 'NR == 2 { print int($4 / 1024) }'); fi
  if ((shm_mb >= ${2:-4096})); then
    TMPDIR=/dev/shm scratch_dir "$1"
  else
    peers_log "warning: /dev/shm has ${shm_mb} MiB free (< ${2:-4096}): scratch dir (caches, objects) in ${TMPDIR:-/tmp}"
    scratch_dir "$1"
  fi
  mkdir -p "$work/logs" "$work/www/obj"
  trap peers_exit EXIT
  trap 'exit 130' INT TERM
  SERVER_TTL=${SERVER_TTL:-3600}
  if [ "$(id -u)" -eq 0 ]; then
    RUN_USER=nobody
    RUN_GROUP=$(getent group nogroup >/dev/null && echo nogroup || echo nobody)
    ATS_USER=$(id -u trafficserver >/dev/null 2>&1 && echo trafficserver || echo nobody)
  else
    RUN_USER=$(id -un)
    RUN_GROUP=$(id -gn)
    ATS_USER='#-1'
  fi
  case ${NGINX_SENDFILE:-off} in
    off) NGINX_SENDFILE_CONF="sendfile off; output_buffers 2 1m;" ;;
    on) NGINX_SENDFILE_CONF="sendfile on;" ;;
    *) peers_die "NGINX_SENDFILE must be on or off" ;;
  esac
  declare -gA peer_pid=() peer_port=()
}

# as_owner USER PATH...: chown -R when root (servers that drop privileges write there).
as_owner() { if [ "$(id -u)" -eq 0 ]; then chown -R "$1" "${@:2}"; fi; }

# peers_objects LABEL...: random bodies at $work/www/obj/<label>.
peers_objects() {
  local l
  for l in "$@"; do
    [ -f "$work/www/obj/$l" ] || head -c "$(size_bytes "$l")" /dev/urandom >"$work/www/obj/$l"
  done
  chmod -R a+rX "$work/www"
}

# render TEMPLATE OUT NAME=VALUE...: TEMPLATE with every @NAME@ replaced; fails on a leftover.
render() {
  local tmpl=$1 out=$2 kv v args=()
  shift 2
  for kv in "$@"; do
    v=${kv#*=}
    v=${v//\\/\\\\}
    v=${v//&/\\&}
    v=${v//|/\\|}
    args+=(-e "s|@${kv%%=*}@|$v|g")
  done
  sed "${args[@]}" "$tmpl" >"$out"
  if grep -n '@[A-Z_]*@' "$out" >&2; then peers_die "unfilled placeholder in $out (from $tmpl)"; fi
}

# start_server NAME CPUS CMD...: CMD pinned to CPUS, in the background under `timeout`, output to
# $work/logs/NAME.log; its PID goes to pids and peer_pid[NAME].
start_server() {
  local name=$1 cpus=$2
  shift 2
  taskset -c "$cpus" timeout -k 10 "$SERVER_TTL" "$@" >"$work/logs/$name.log" 2>&1 &
  pids+=($!)
  peer_pid[$name]=$!
}

# wait_http URL SECONDS PID LOG: until URL answers with any HTTP status; fails (printing LOG) when
# PID exits or time is up.
wait_http() {
  local url=$1 secs=$2 pid=$3 log=$4 i code
  for ((i = 0; i < secs * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      peers_log "$url: the server exited; its log ($log):"
      cat "$log" >&2
      return 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null) || true
    [[ "$code" =~ ^[1-5][0-9][0-9]$ ]] && return 0
    sleep 0.1
  done
  peers_log "$url did not answer within ${secs}s; log ($log):"
  cat "$log" >&2
  return 1
}

# start_nginx NAME TEMPLATE CPUS PORT [NAME=VALUE...]: an nginx instance in $work/NAME.
start_nginx() {
  local name=$1 tmpl=$2 cpus=$3 port=$4 dir=$work/$1 nginx
  shift 4
  nginx=$(nginx_bin)
  mkdir -p "$dir/tmp" "$dir/cache"
  as_owner "$RUN_USER" "$dir/tmp" "$dir/cache"
  render "$tmpl" "$dir/nginx.conf" DIR="$dir" WWW="$work/www" PORT="$port" RUN_USER="$RUN_USER" \
    RUN_GROUP="$RUN_GROUP" SENDFILE_CONF="$NGINX_SENDFILE_CONF" "$@"
  "$nginx" -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$work/logs/$name-test.log" 2>&1 \
    || { cat "$work/logs/$name-test.log" >&2; peers_die "$name: nginx -t failed"; }
  start_server "$name" "$cpus" "$nginx" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
  peer_port[$name]=$port
}

# start_origin CPUS PORT MISS_SIZE
start_origin() {
  start_nginx origin "$peers_conf/origin.nginx.conf.in" "$1" "$2" MISS_SIZE="$3"
  wait_http "http://127.0.0.1:$2/bench-ready" 15 "${peer_pid[origin]}" "$work/logs/origin.log"
}
# origin_count: requests the origin has answered so far (lines of its access log).
origin_count() {
  if [ -f "$work/origin/access.log" ]; then wc -l <"$work/origin/access.log"; else echo 0; fi
}

start_origin_ref() { # CPUS PORT
  start_nginx origin-ref "$peers_conf/origin-ref.nginx.conf.in" "$1" "$2"
}
start_nginx_cache() { # CPUS PORT ORIGIN_PORT [TLS_LISTEN_LINE]
  start_nginx nginx "$peers_conf/nginx-cache.conf.in" "$1" "$2" ORIGIN_PORT="$3" TLS_LISTEN="${4:-}"
}

start_varnish() { # CPUS PORT ORIGIN_PORT
  local dir=$work/varnish jail=()
  mkdir -p "$dir"
  render "$peers_conf/varnish.vcl.in" "$dir/default.vcl" ORIGIN_PORT="$3"
  chmod 644 "$dir/default.vcl"
  [ "$(id -u)" -eq 0 ] || jail=(-j none)
  start_server varnish "$1" "$(varnishd_bin)" -F "${jail[@]}" -a "127.0.0.1:$2" -T none -n "$dir/work" \
    -f "$dir/default.vcl" -s "malloc,${VARNISH_MALLOC:-1G}" \
    -p thread_pools=1 -p thread_pool_min=200 -p thread_pool_max=1000 -p feature=+http2
  peer_port[varnish]=$2
}

start_ats() { # CPUS PORT ORIGIN_PORT
  local dir=$work/ats f
  mkdir -p "$dir/etc" "$dir/data" "$dir/var" "$dir/run" "$dir/log" "$dir/cache"
  echo "nameserver 127.0.0.1" >"$dir/resolv.conf"
  for f in records.config remap.config storage.config ip_allow.yaml; do
    render "$peers_conf/ats/$f.in" "$dir/etc/$f" DIR="$dir" PORT="$2" ORIGIN_PORT="$3" ATS_USER="$ATS_USER" \
      RAM_CACHE_BYTES="${ATS_RAM_CACHE_BYTES:-1073741824}" DISK_SIZE="${ATS_DISK_SIZE:-2G}"
  done
  # the other config files traffic_server reads, empty (their defaults)
  for f in plugin.config cache.config hosting.config parent.config volume.config splitdns.config \
    socks.config ssl_multicert.config; do
    : >"$dir/etc/$f"
  done
  printf 'logging: {}\n' >"$dir/etc/logging.yaml"
  printf 'sni: []\n' >"$dir/etc/sni.yaml"
  render "$peers_conf/ats/runroot.yaml.in" "$dir/runroot.yaml" DIR="$dir"
  [ "$(id -u)" -ne 0 ] || chown -R "$ATS_USER" "$dir"
  start_server ats "$1" traffic_server --run-root="$dir/runroot.yaml"
  peer_port[ats]=$2
}

start_edge() { # CPUS PORT ORIGIN_PORT [EXTRA_ARGS...]
  local cpus=$1 port=$2 origin=$3
  shift 3
  start_server edge "$cpus" "$bin/edge/edge" --listen "127.0.0.1:$port" --origin "http://127.0.0.1:$origin" \
    --threads 1 --no-access-log --memory 2GiB "$@"
  peer_port[edge]=$port
}

# wait_ready NAME [URL]: until the peer answers HTTP (ATS can take seconds to open its cache).
wait_ready() {
  wait_http "${2:-http://127.0.0.1:${peer_port[$1]}/bench-ready}" 60 "${peer_pid[$1]}" "$work/logs/$1.log"
}

# descendants PID: every process below PID.
descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      want[root] = 1
      do { more = 0; for (p in parent) if (!(p in want) && (parent[p] in want)) { want[p] = 1; more = 1 } } while (more)
      for (p in want) if (p != root) print p
    }'
}
# tree_ticks PID: utime + stime (all threads) of PID and every process below it, clock ticks.
tree_ticks() {
  # shellcheck disable=SC2046 # a list of PIDs
  cpu_ticks "$1" $(descendants "$1")
}
# proc_start PID: its start time (field 22 of /proc/PID/stat), empty when gone or a zombie.
proc_start() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  s=${s##*) }
  # shellcheck disable=SC2086 # split the fields
  set -- $s
  [ "$1" = Z ] || echo "${20}"
}
# cores_ticks "CPU LIST": "busy total" jiffies of those CPUs from /proc/stat (busy = user, nice,
# system, irq, softirq, steal).
cores_ticks() {
  awk -v want=" $1 " '
    $1 ~ /^cpu[0-9]+$/ { n = substr($1, 4)
      if (index(want, " " n " ")) { b += $2 + $3 + $4 + $7 + $8 + $9; t += $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 } }
    END { printf "%d %d\n", b, t }' /proc/stat
}
# run_counters SPID OPID SRV_CORES CLI_CORES: the counters sampled before and after each measured
# run, on one line: the target tree's CPU ticks, the origin tree's, the server cores' "busy
# total", the client cores' "busy total", the origin's request count, the time in ns.
run_counters() {
  echo "$(tree_ticks "$1") $(tree_ticks "$2") $(cores_ticks "$3") $(cores_ticks "$4") $(origin_count) $(date +%s%N)"
}
# expand_cpus "0,2-3" -> "0 2 3"
expand_cpus() {
  local part out=""
  for part in ${1//,/ }; do
    if [[ "$part" == *-* ]]; then out+="$(seq -s ' ' "${part%-*}" "${part#*-}") "; else out+="$part "; fi
  done
  echo "$out"
}

# peers_check_loopback: (root only) every socket our processes listen on is on 127.0.0.0/8.
peers_check_loopback() {
  [ "$(id -u)" -eq 0 ] && have ss || return 0
  local p all="" bad
  for p in "${pids[@]}"; do all+="$p $(descendants "$p") "; done
  bad=$(ss -Htlnup 2>/dev/null | awk -v pids=" $all " '
    { n = split($0, a, "pid="); for (i = 2; i <= n; i++) { split(a[i], b, ","); if (index(pids, " " b[1] " ")) { if ($5 !~ /^127\.[0-9.]+:[0-9]+$/) print $1, $5; break } } }')
  [ -z "$bad" ] || peers_die "non-loopback listening socket(s): $bad"
}

# peers_stop: SIGTERM to everything we started (timeout passes it on to the server's process
# group), up to 10 s for the whole trees to go, then SIGKILL for what is left; by PID, each
# checked against its start time so that a reused PID is never signalled.
peers_stop() {
  local p c e st alive list=()
  ((${#pids[@]})) || return 0
  for p in "${pids[@]}"; do
    st=$(proc_start "$p")
    [ -n "$st" ] && list+=("$p:$st")
    for c in $(descendants "$p"); do
      st=$(proc_start "$c")
      [ -n "$st" ] && list+=("$c:$st")
    done
  done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for e in "${list[@]}"; do [ "$(proc_start "${e%%:*}")" = "${e#*:}" ] && alive=1; done
    ((alive)) || break
    sleep 0.2
  done
  for e in "${list[@]}"; do
    if [ "$(proc_start "${e%%:*}")" = "${e#*:}" ]; then
      peers_log "SIGKILL pid ${e%%:*} ($(cat "/proc/${e%%:*}/comm" 2>/dev/null))"
      kill -KILL "${e%%:*}" 2>/dev/null || true
    fi
  done
}

peers_exit() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  peers_stop
  scratch_cleanup
  exit "$rc"
}
