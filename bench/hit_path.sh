#!/usr/bin/env bash
# Hit-path throughput of the edge against nginx proxy_cache and Varnish, in one run, as ratios.
# Every server gets one worker pinned to CPU 0; wrk runs pinned to CPU 1; access logs are off
# everywhere; each object is warmed once, then wrk measures pure hits. Loopback only; every
# wrk run is bounded in time (DURATION, default 5s).
#   bench/hit_path.sh                  # build Release, run, print a table
#   BIN_DIR=build-release DURATION=10s CONNECTIONS=64 bench/hit_path.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. infra/lib.sh
infra/deps.sh bench

DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
SIZES=${SIZES:-"1024 65536"}

if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=build-release
  cmake -S . -B "$BIN_DIR" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BIN_DIR" -j"$(nproc)" --target edge origin_sim >/dev/null
fi
case $BIN_DIR in /*) bin=$BIN_DIR ;; *) bin=$root/$BIN_DIR ;; esac

scratch_dir bench


origin_port=$(free_port)
taskset -c 1 "$bin/origin_sim/origin_sim" --listen "127.0.0.1:$origin_port" >"$work/origin.log" 2>&1 &
pids+=($!)
wait_port "$origin_port"

edge_port=$(free_port)
taskset -c 0 "$bin/edge/edge" --listen "127.0.0.1:$edge_port" --origin "http://127.0.0.1:$origin_port" \
  --threads 1 --no-access-log --memory 512MiB >"$work/edge.log" 2>&1 &
pids+=($!)

nginx_port=$(free_port)
mkdir -p "$work/nginx/cache" "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
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
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache edge;
      add_header X-Cache \$upstream_cache_status;
    }
  }
}
CONF
taskset -c 0 nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" >"$work/nginx.log" 2>&1 &
pids+=($!)

varnish_port=$(free_port)
mkdir -p "$work/varnish"
taskset -c 0 varnishd -F -a "127.0.0.1:$varnish_port" -b "127.0.0.1:$origin_port" -s malloc,512m \
  -n "$work/varnish" -p thread_pools=1 >"$work/varnish.log" 2>&1 &
pids+=($!)

for p in "$edge_port" "$nginx_port" "$varnish_port"; do wait_port "$p"; done

rps() {  # url -> requests/second (wrk on CPU 1)
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$1" | awk '/Requests\/sec/ {print $2}'
}

printf '%-10s %10s %12s %12s %12s %10s %10s\n' size conns edge nginx varnish edge/nginx edge/varnish
for size in $SIZES; do
  path="/bench/object-$size?size=$size&cc=public%2C%20max-age%3D3600"
  for p in "$edge_port" "$nginx_port" "$varnish_port"; do
    curl -s -o /dev/null "http://127.0.0.1:$p$path"
    curl -s -o /dev/null "http://127.0.0.1:$p$path"
  done
  hit=$(curl -s -D - -o /dev/null "http://127.0.0.1:$edge_port$path" | tr -d '\r' | awk -F': ' '/^X-Cache/ {print $2}')
  [ "$hit" = HIT ] || { echo "edge did not serve a HIT for $path ($hit)" >&2; exit 1; }
  e=$(rps "http://127.0.0.1:$edge_port$path")
  n=$(rps "http://127.0.0.1:$nginx_port$path")
  v=$(rps "http://127.0.0.1:$varnish_port$path")
  awk -v s="$size" -v c="$CONNECTIONS" -v e="$e" -v n="$n" -v v="$v" \
    'BEGIN { printf "%-10s %10s %12s %12s %12s %10.2f %10.2f\n", s, c, e, n, v, e / n, e / v }'
done
origin_total=$(curl -s "http://127.0.0.1:$origin_port/_stats" | grep -o '"total":[0-9]*')
echo "origin requests during the whole run: ${origin_total#*:} (warm-up only: every measured request was a hit)"
