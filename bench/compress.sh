#!/usr/bin/env bash
# The edge's compression (edge/README.md "Compression"): server CPU per MB compressed for each
# coding and level, bytes saved on realistic text, and the hit path of compressed hits against
# identity hits.
#
#   1. Text bodies that compress like real sites: HTML, CSS and JS generated here (awk, fixed
#      seed) from a vocabulary of tags, properties, keywords and words, served by a plain nginx
#      (gzip off, Cache-Control: public, max-age=3600) from a scratch dir. origin_sim is not used:
#      its bodies are random [a-zA-Z0-9], which compress only about 25% and would understate
#      the savings and misstate the cost.
#   2. For each CODINGS entry (coding:level): one edge (--threads 1, pinned to SERVER_CPUS) with
#      [origin.compression] set to that coding and level. OBJECTS copies of each body (distinct
#      query strings, so distinct objects) are fetched once without Accept-Encoding (stored as
#      identity), then once with it (each compressed once: the measured phase), then once more
#      without (identity hits: the same request count, subtracted as request overhead). CPU is
#      the edge's utime + stime from /proc; bytes in/out from cdn_edge_compress_bytes_*_total.
#      One compressed body of each type is decoded with curl --compressed and compared with the
#      file.
#   3. wrk (-t1 -c$CONNS, WRK_SECS): req/s of hits on the HTML body with Accept-Encoding: br
#      (compressed variant) and without (identity), against the br edge; skipped without wrk.
#   4. summary.md in OUT_DIR, printed at the end.
#
#   bench/compress.sh                 # builds Release into build-release; ~1 min
#   bench/compress.sh --smoke         # 2 codings, few objects, 1 s wrk: proves it works
# Settings (environment): CODINGS ("gzip:1 gzip:6 gzip:9 br:1 br:5 br:9 br:11"), OBJECTS (40),
# WRK_SECS (5), CONNS (16), SERVER_CPUS (0), BIN_DIR (default: build Release into
# build-release), OUT_DIR (default: a new /tmp/cdn-compress-results.XXXXXX), KEEP.
# Exit status: 0 ok; 1 failure (a server did not start, a decoded body differs, nothing was
# compressed); 2 usage; 77 --smoke skipped (nginx missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. infra/lib.sh

smoke=0
case "${1:-}" in
  --smoke) smoke=1 ;;
  "") ;;
  *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac
if [ $smoke = 1 ]; then
  : "${CODINGS:=gzip:6 br:5}" "${OBJECTS:=4}" "${WRK_SECS:=1}"
fi
: "${CODINGS:=gzip:1 gzip:6 gzip:9 br:1 br:5 br:9 br:11}" "${OBJECTS:=40}" "${WRK_SECS:=5}"
: "${CONNS:=16}" "${SERVER_CPUS:=0}"

nginx=$(command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
if [ -z "$nginx" ]; then
  echo "compress: needs nginx (infra/deps.sh bench)" >&2
  [ $smoke = 1 ] && exit 77
  exit 1
fi
if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=build-release
  cmake -S . -B "$BIN_DIR" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BIN_DIR" -j2 --target edge >/dev/null
fi
case $BIN_DIR in /*) bin=$BIN_DIR ;; *) bin=$root/$BIN_DIR ;; esac
edge_bin=$bin/edge/edge
pin=()
command -v taskset >/dev/null && pin=(taskset -c "$SERVER_CPUS")

scratch_dir compress
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/cdn-compress-results.XXXXXX)}
mkdir -p "$OUT_DIR" "$work/www" "$work/nginx"
log() { printf '[%4ds] %s\n' "$SECONDS" "$*" >&2; }

# 1. Bodies: HTML ~120 KiB, CSS ~60 KiB, JS ~200 KiB.
gen() { # KIND BYTES
  awk -v kind="$1" -v bytes="$2" 'BEGIN {
    srand(18);
    nw = split("the of and to in is for on with as by that this from at are be or an it not have " \
               "product price cart checkout search results account order shipping return review " \
               "customer delivery available today free new sale menu home about contact news", w, " ");
    nt = split("div span a p li ul section article header footer nav button img", t, " ");
    nc = split("container row col card title btn primary item list nav-link active hidden " \
               "header footer grid flex media icon label price badge", c, " ");
    np = split("margin padding color background display font-size line-height border width " \
               "height position top left flex-direction justify-content align-items", p, " ");
    nk = split("const let function return if else for while await async new this null true " \
               "false document window addEventListener querySelector fetch then catch map", k, " ");
    n = 0;
    while (n < bytes) {
      if (kind == "html") {
        tag = t[int(rand() * nt) + 1]; cls = c[int(rand() * nc) + 1];
        s = "<" tag " class=\"" cls " " c[int(rand() * nc) + 1] "\">";
        for (i = 0; i < 3 + int(rand() * 8); i++) s = s w[int(rand() * nw) + 1] " ";
        s = s "</" tag ">";
      } else if (kind == "css") {
        s = "." c[int(rand() * nc) + 1] "-" int(rand() * 40) " {";
        for (i = 0; i < 2 + int(rand() * 4); i++)
          s = s " " p[int(rand() * np) + 1] ": " int(rand() * 64) "px;";
        s = s " }";
      } else {
        s = "  " k[int(rand() * nk) + 1] " " c[int(rand() * nc) + 1] int(rand() * 100) " = " \
            k[int(rand() * nk) + 1] "(\"" w[int(rand() * nw) + 1] "\", " int(rand() * 1000) ");";
      }
      print s; n += length(s) + 1;
    }
  }'
}
gen html 122880 >"$work/www/page.html"
gen css 61440 >"$work/www/site.css"
gen js 204800 >"$work/www/app.js"
bodies=(page.html site.css app.js)

# The origin: nginx serving the files, gzip off, no access log, as this user (no master).
origin_port=$(free_port)
cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 256; }
http {
  types { text/html html; text/css css; text/javascript js; }
  access_log off;
  gzip off;
  client_body_temp_path $work/nginx/tmp; proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp; uwsgi_temp_path $work/nginx/tmp; scgi_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$origin_port;
    root $work/www;
    add_header Cache-Control "public, max-age=3600";
  }
}
CONF
mkdir -p "$work/nginx/tmp"
"$nginx" -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" \
  >"$work/nginx/out.log" 2>&1 &
pids+=($!)
wait_port "$origin_port" "$!" "$work/nginx/out.log"

# fetch PORT AE: every object once, through one curl (keep-alive); AE "" = no Accept-Encoding.
fetch() {
  local port=$1 ae=$2 b n cfg=$work/fetch.cfg
  : >"$cfg"
  for b in "${bodies[@]}"; do
    for ((n = 1; n <= OBJECTS; n++)); do
      printf 'url = "http://127.0.0.1:%s/%s?n=%s"\noutput = "/dev/null"\n' "$port" "$b" "$n" >>"$cfg"
    done
  done
  if [ -n "$ae" ]; then
    curl -s --fail -H "Accept-Encoding: $ae" -K "$cfg"
  else
    curl -s --fail -K "$cfg"
  fi
}
metric() { # ADMIN_PORT SAMPLE
  curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v s="$2" '$1 == s { print $2 }'
}

hz=$(getconf CLK_TCK)
summary=$OUT_DIR/summary.md
{
  echo "# edge compression ($(date -u +%Y-%m-%dT%H:%MZ), $OBJECTS objects x ${#bodies[@]} bodies)"
  echo
  echo "| coding:level | MB in | MB out | saved | edge CPU ms per MB compressed | MB/s per core |"
  echo "|---|---|---|---|---|---|"
} >"$summary"
br_port="" br_admin=""
edge_n=0
for spec in $CODINGS; do
  coding=${spec%%:*} level=${spec##*:}
  case $coding in
    gzip) knob="gzip_level = $level" ;;
    br) knob="brotli_quality = $level" ;;
    *) echo "compress: bad CODINGS entry $spec" >&2; exit 2 ;;
  esac
  edge_n=$((edge_n + 1))
  cat >"$work/edge-$edge_n.toml" <<TOML
[cache]
memory = "512MiB"
[[origin]]
url = "http://127.0.0.1:$origin_port"
[origin.compression]
codings = ["$coding"]
$knob
TOML
  "${pin[@]}" "$edge_bin" --config "$work/edge-$edge_n.toml" --listen 127.0.0.1:0 \
    --admin 127.0.0.1:0 --threads 1 --name "bench-$spec" >"$work/edge-$edge_n.log" 2>&1 &
  pids+=($!)
  epid=$!
  port=$(port_from_log "$work/edge-$edge_n.log" "http on" "$epid")
  admin=$(port_from_log "$work/edge-$edge_n.log" "admin on" "$epid")
  fetch "$port" ""  # stored as identity
  t0=$(cpu_ticks "$epid")
  fetch "$port" "$coding"  # each object compressed once
  t1=$(cpu_ticks "$epid")
  fetch "$port" ""  # identity hits: the same requests without compression
  t2=$(cpu_ticks "$epid")
  in=$(metric "$admin" "cdn_edge_compress_bytes_in_total{coding=\"$coding\"}")
  out=$(metric "$admin" "cdn_edge_compress_bytes_out_total{coding=\"$coding\"}")
  made=$(metric "$admin" "cdn_edge_compress_total{coding=\"$coding\"}")
  expected=$((OBJECTS * ${#bodies[@]}))
  if [ "${made%.*}" != "$expected" ]; then
    echo "compress: $spec: $made compressions, expected $expected (log: $work/edge-$edge_n.log)" >&2
    exit 1
  fi
  for b in "${bodies[@]}"; do
    curl -s --fail --compressed -H "Accept-Encoding: $coding" -o "$work/decoded" \
      "http://127.0.0.1:$port/$b?n=1"
    cmp -s "$work/decoded" "$work/www/$b" || { echo "compress: $spec: $b decodes differently" >&2; exit 1; }
  done
  awk -v spec="$spec" -v in_="$in" -v out="$out" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v hz="$hz" 'BEGIN {
    mb_in = in_ / 1048576; mb_out = out / 1048576;
    ms = ((t1 - t0) - (t2 - t1)) * 1000 / hz; if (ms < 0) ms = 0;
    rate = "n/a"; if (ms > 0) rate = sprintf("%.0f", mb_in * 1000 / ms);
    printf "| %s | %.1f | %.1f | %.1f%% | %.1f | %s |\n", spec, mb_in, mb_out,
           100 * (1 - out / in_), ms / mb_in, rate;
  }' >>"$summary"
  log "$spec done"
  if [ "$coding" = br ]; then br_port=$port br_admin=$admin; fi
done

# 3. The hit path: compressed hits against identity hits, on one edge.
if command -v wrk >/dev/null && [ -n "$br_port" ]; then
  url="http://127.0.0.1:$br_port/page.html?n=1"
  {
    echo
    echo "Hit path, $url (wrk -t1 -c$CONNS -d${WRK_SECS}s):"
    echo
    echo "| request | req/s |"
    echo "|---|---|"
  } >>"$summary"
  for ae in identity br; do
    hdr=()
    [ $ae = br ] && hdr=(-H "Accept-Encoding: br")
    rps=$(wrk -t1 -c"$CONNS" -d"${WRK_SECS}s" "${hdr[@]}" "$url" | awk '/Requests\/sec/ { print $2 }')
    echo "| $ae hit | $rps |" >>"$summary"
  done
  # The runs were hits of the variants made above: nothing more was compressed.
  made=$(metric "$br_admin" 'cdn_edge_compress_total{coding="br"}')
  if [ "${made%.*}" != "$((OBJECTS * ${#bodies[@]}))" ]; then
    echo "compress: the wrk runs compressed again ($made compressions)" >&2
    exit 1
  fi
else
  echo >>"$summary"
  echo "Hit path: skipped (no wrk, or no br entry in CODINGS)." >>"$summary"
fi
[ $smoke = 1 ] && echo "(--smoke: too few objects and seconds for the figures to mean anything)" >>"$summary"
cat "$summary"
