#!/usr/bin/env bash
# Builds the Debian packages: a Release build of the four binaries in its own directory (prefix
# /usr, the packages' layout), then cpack's DEB generator (stripped binaries, library
# dependencies from dpkg-shlibdeps, zstd). Prints the .deb files; install them with
#   sudo apt install ./build-package/cdn-*.deb
#   infra/package.sh                        # -> build-package/cdn-{common,edge,purge-api,geodns,origin-sim}_*.deb
#   BUILD_DIR=/tmp/pkg infra/package.sh     # another build directory
#   JOBS=4 infra/package.sh                 # parallel compile jobs (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."

infra/deps.sh package

build=${BUILD_DIR:-build-package}
jobs=${JOBS:-$(nproc)}
echo "== building (Release, prefix /usr) in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCDN_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build "$build" -j"$jobs" --target edge purge_api geodns origin_sim

echo "== packaging"
rm -f "$build"/cdn-*.deb
(cd "$build" && cpack -G DEB >cpack.log 2>&1) || { cat "$build/cpack.log" >&2; exit 1; }

echo "== packages"
case $build in /*) dir=$build ;; *) dir=$(pwd)/$build ;; esac
for f in "$dir"/cdn-*.deb; do
  printf '%s\n    %s\n' "$f" "$(dpkg-deb -f "$f" Depends)"
done
case $build in /*) shown=$build ;; *) shown=./$build ;; esac
echo "Install: sudo apt install $shown/cdn-*.deb   (then see README.md, \"Install\")"
