#!/usr/bin/env bash
# Installs (or, when not root, prints the apt-get line for) the Debian 12 packages the project needs.
# Usage: infra/deps.sh [build|test|bench|package]  (default: test = build + the clients the tests
#        drive; bench = build + the peers the benchmarks compare against; package = build + what
#        infra/package.sh needs to make the .deb files)
set -euo pipefail

build_pkgs=(
  g++ cmake make pkg-config git ca-certificates
  libboost1.81-dev libboost-json1.81-dev
  libtomlplusplus-dev libcli11-dev libfmt-dev libxxhash-dev zlib1g-dev libbrotli-dev
  libssl-dev libnghttp2-dev libmaxminddb-dev
  catch2
)
package_pkgs=(dpkg-dev file)
test_pkgs=(curl openssl iproute2 nghttp2-client etcd-server dnsutils knot-dnsutils unbound clang libclang-rt-14-dev gnuplot-nox chromium
           "${package_pkgs[@]}" systemd
           wrk nginx varnish trafficserver)  # the bench smokes (hit_path, h2_load) skip without them
bench_pkgs=(curl openssl nghttp2-client wrk nginx varnish trafficserver gnuplot-nox dnsperf gdnsd dnsutils)

want=("${build_pkgs[@]}")
case "${1:-test}" in
  build) ;;
  test) want+=("${test_pkgs[@]}") ;;
  bench) want+=("${bench_pkgs[@]}") ;;
  package) want+=("${package_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|bench|package]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing packages. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
