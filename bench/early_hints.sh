#!/usr/bin/env bash
# Edge-generated 103 Early Hints (issue 18): how much sooner the client learns what a page needs.
# A slow origin (DELAY ms before its head) serves an uncacheable HTML page with preload /
# preconnect Link fields; after one request that teaches the edge the links, each request
# measures the time to the first byte of the edge's 103 and to the final response's head, over
# HTTP/1.1 (a raw-socket python3 client) and HTTP/2 (nghttp -v timestamps, h2c). Loopback only;
# ROUNDS requests per protocol, each bounded by the delay plus 5 s.
#   BIN_DIR=build-release bench/early_hints.sh
#   BIN_DIR=build-test ROUNDS=3 DELAY=300 bench/early_hints.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. infra/lib.sh

ROUNDS=${ROUNDS:-5}
DELAY=${DELAY:-300}

if [ -z "${BIN_DIR:-}" ]; then
  BIN_DIR=build-release
  cmake -S . -B "$BIN_DIR" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BIN_DIR" -j2 --target edge origin_sim >/dev/null
fi
case $BIN_DIR in /*) bin=$BIN_DIR ;; *) bin=$root/$BIN_DIR ;; esac
command -v nghttp >/dev/null || { echo "nghttp (Debian nghttp2-client) is needed" >&2; exit 1; }

scratch_dir early-hints
origin_port=$(free_port)
"$bin/origin_sim/origin_sim" --listen "127.0.0.1:$origin_port" >"$work/origin.log" 2>&1 &
pids+=($!)
wait_port "$origin_port" "${pids[-1]}" "$work/origin.log"
cat >"$work/edge.toml" <<TOML
[server]
h2c = true
[[origin]]
hosts = ["*"]
url = "http://127.0.0.1:$origin_port"
[origin.early_hints]
enabled = true
TOML
edge_port=$(free_port)
admin_port=$(free_port)
"$bin/edge/edge" --config "$work/edge.toml" --listen "127.0.0.1:$edge_port" \
  --admin "127.0.0.1:$admin_port" --threads 2 --no-access-log >"$work/edge.log" 2>&1 &
pids+=($!)
wait_port "$edge_port" "${pids[-1]}" "$work/edge.log"

link='</app.css>; rel=preload; as=style, </app.js>; rel=modulepreload, <https://img.example>; rel=preconnect'
enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/"))' "Link:$link")
path="/bench/page.html?cc=no-store&delay=$DELAY&header=$enc"
curl -s -o /dev/null --max-time 10 "http://127.0.0.1:$edge_port$path"   # the edge learns the links

echo "origin delay ${DELAY} ms; ${ROUNDS} requests per protocol; ms from sending the request"
printf '%-8s %10s %10s %10s\n' proto first_103 final_head head_start
python3 - "$edge_port" "$path" "$ROUNDS" <<'PY'
import socket, sys, time
port, path, rounds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for _ in range(rounds):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.monotonic()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
    buf, t103, t200 = b"", None, None
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        now = (time.monotonic() - t0) * 1000
        if t103 is None and b"HTTP/1.1 103" in buf:
            t103 = now
        if t200 is None and b"HTTP/1.1 200" in buf:
            t200 = now
    s.close()
    f = lambda v: "-" if v is None else f"{v:.1f}"
    gain = "-" if t103 is None or t200 is None else f"{t200 - t103:.1f}"
    print(f"{'http/1.1':<8} {f(t103):>10} {f(t200):>10} {gain:>10}")
PY
for _ in $(seq 1 "$ROUNDS"); do
  timeout $((DELAY / 1000 + 5)) nghttp -v "http://127.0.0.1:$edge_port$path" 2>&1 |
    awk 'function ms(t) { t = $0; sub(/^\[ */, "", t); sub(/\].*/, "", t); return t * 1000 }
         /:status: 103/ && !a { a = ms() }
         /:status: 200/ && !b { b = ms() }
         END { printf "%-8s %10.1f %10.1f %10.1f\n", "h2", a, b, b - a }'
done
echo "early hints sent: $(curl -s "http://127.0.0.1:$admin_port/metrics" | awk '/^cdn_edge_early_hints_sent_total/ {print $2}')"
