#!/usr/bin/env bash
# Builds a fuzz target with clang++ (libFuzzer + ASan + UBSan) in its own build directory and runs
# it for N seconds (default 30) on its seed corpus. Findings (crash-*, timeout-*) land in the build
# directory; new inputs in its corpus copy, never in the committed seeds.
# Usage: tests/fuzz/run.sh [seconds] [dns|h2|http1] [libFuzzer flags...]
#   dns (default): dns_fuzz, seeds in corpus/; h2: h2_fuzz, seeds in corpus-h2/;
#   http1: http1_fuzz, seeds in corpus-http1/.
#   (CDN_FUZZ_BUILD_DIR overrides build-fuzz/; CDN_FUZZ_CXXFLAGS, below, the optimisation)
set -euo pipefail
seconds="${1:-30}"
which="${2:-dns}"
shift $(( $# < 2 ? $# : 2 ))
case "$which" in
  dns) target=dns_fuzz; seeds=corpus; max_len=4096 ;;
  h2) target=h2_fuzz; seeds=corpus-h2; max_len=65536 ;;
  http1) target=http1_fuzz; seeds=corpus-http1; max_len=8192 ;;
  *) echo "run.sh: unknown target \"$which\" (dns, h2 or http1)" >&2; exit 2 ;;
esac
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${CDN_FUZZ_BUILD_DIR:-$root/build-fuzz}"
# CDN_FUZZ_CXXFLAGS (e.g. -O0) replaces the optimised build: the CI smoke run of http1 trades
# speed of fuzzing for a build in half the time.
if [ -n "${CDN_FUZZ_CXXFLAGS:-}" ]; then
  cmake -S "$root/tests/fuzz" -B "$build" -DCMAKE_CXX_COMPILER=/usr/bin/clang++ \
        -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=$CDN_FUZZ_CXXFLAGS" >/dev/null
else
  cmake -S "$root/tests/fuzz" -B "$build" -DCMAKE_CXX_COMPILER=/usr/bin/clang++ \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j2 --target "$target"
mkdir -p "$build/$seeds"
cp -n "$root/tests/fuzz/$seeds/"* "$build/$seeds/" 2>/dev/null || true
"$build/$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$build/" "$@" "$build/$seeds" "$root/tests/fuzz/$seeds"
