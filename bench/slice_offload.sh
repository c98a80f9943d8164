#!/usr/bin/env bash
# What a seek into a large object costs the origin: one edge in front of origin_sim, a 4 GiB
# object (generated, never stored), three 1 MiB ranges (one slice-aligned, the same again, one
# half a slice off), with [origin.slice] size = SLICE and without slicing. Prints, per range,
# the status, bytes, time, X-Cache and the origin body bytes the edge read for it
# (cdn_edge_origin_body_bytes_total). Short (a few seconds) and bounded.
#   BIN_DIR=build-release bench/slice_offload.sh          # SLICE=1MiB SIZE=4GiB
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BIN_DIR:=build-release}" "${SLICE:=1MiB}" "${SIZE:=4GiB}"
[ -x "$BIN_DIR/edge/edge" ] && [ -x "$BIN_DIR/origin_sim/origin_sim" ] ||
  { echo "slice_offload: build edge and origin_sim into $BIN_DIR first" >&2; exit 2; }
BIN_DIR=$(cd "$BIN_DIR" && pwd)

port_of() {  # log, pattern
  for _ in $(seq 50); do
    if p=$(grep -o "$2 127.0.0.1:[0-9]*" "$1" 2>/dev/null | head -1 | cut -d: -f2) && [ -n "$p" ]; then
      echo "$p"; return 0
    fi
    sleep 0.1
  done
  echo "slice_offload: no '$2' in $1" >&2; return 1
}

run() {  # label, extra edge config
  local d; d=$(mktemp -d)
  "$BIN_DIR/origin_sim/origin_sim" --listen 127.0.0.1:0 2>"$d/o.log" & local opid=$!
  local oport; oport=$(port_of "$d/o.log" "listening on")
  printf '[server]\nlisten = ["127.0.0.1:0"]\nadmin = "127.0.0.1:0"\n[[origin]]\nurl = "http://127.0.0.1:%s"\n%s\n' \
    "$oport" "$2" >"$d/e.toml"
  "$BIN_DIR/edge/edge" --config "$d/e.toml" --threads 1 --no-access-log 2>"$d/e.log" & local epid=$!
  local eport aport; eport=$(port_of "$d/e.log" "http on"); aport=$(port_of "$d/e.log" "admin on")
  local url="http://127.0.0.1:$eport/video.mp4?size=$SIZE"
  metric() { curl -s "http://127.0.0.1:$aport/metrics" | awk -v k="$1" '$1==k{print int($2)}'; }
  echo "== $1"
  local mib=1048576 g2=2147483648 off=$((3221225472 + 262144))
  for r in "$g2-$((g2 + mib - 1))" "$g2-$((g2 + mib - 1))" "$off-$((off + mib - 1))"; do
    local b0 b1 out
    b0=$(metric cdn_edge_origin_body_bytes_total); b0=${b0:-0}
    out=$(curl -s -o /dev/null -D "$d/h" -w '%{http_code} %{size_download} B %{time_total} s' -r "$r" "$url")
    b1=$(metric cdn_edge_origin_body_bytes_total); b1=${b1:-0}
    printf '  range %-23s %s %-8s origin body bytes %d\n' "$r" "$out" \
      "$(grep -i '^x-cache' "$d/h" | tr -d '\r' | cut -d' ' -f2)" $((b1 - b0))
  done
  echo "  origin requests: $(curl -s "http://127.0.0.1:$oport/_stats?target=/video.mp4?size=$SIZE")"
  kill "$epid" "$opid"; wait "$epid" "$opid" 2>/dev/null || true
  rm -rf "$d"
}

run "[origin.slice] size = \"$SLICE\"" "[origin.slice]
size = \"$SLICE\""
run "no slicing (defaults)" ""
