#!/usr/bin/env bash
# The test command: installs what is missing, builds everything with AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs every test suite with ctest.
#   infra/test.sh                 # all tests
#   infra/test.sh -L unit         # extra arguments go to ctest (here: only unit tests)
set -euo pipefail
cd "$(dirname "$0")/.."

infra/deps.sh test

build=${BUILD_DIR:-build-test}
jobs=${JOBS:-$(nproc)}
# Prefix /usr: the installed layout of the Debian packages, which tests/package builds from this
# build's binaries and checks (nothing is installed on this machine).
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCDN_SANITIZE=ON -DCDN_BUILD_TESTS=ON \
  -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build "$build" -j"$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest -j"$jobs" --output-on-failure --timeout 300 "$@"
