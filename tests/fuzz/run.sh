#!/usr/bin/env bash
# Builds the DNS fuzz target with clang++ (libFuzzer + ASan + UBSan) in its own build directory
# and runs it for N seconds (default 30) on the seed corpus. Findings (crash-*, timeout-*) land in
# the build directory; new inputs in its corpus/ copy, never in the committed seeds.
# Usage: tests/fuzz/run.sh [seconds]     (CDN_FUZZ_BUILD_DIR overrides build-fuzz/)
set -euo pipefail
seconds="${1:-30}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${CDN_FUZZ_BUILD_DIR:-$root/build-fuzz}"
cmake -S "$root/tests/fuzz" -B "$build" -DCMAKE_CXX_COMPILER=/usr/bin/clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target dns_fuzz
mkdir -p "$build/corpus"
cp -n "$root/tests/fuzz/corpus/"* "$build/corpus/" 2>/dev/null || true
"$build/dns_fuzz" -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$build/" "$build/corpus" "$root/tests/fuzz/corpus"
