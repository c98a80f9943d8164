#!/usr/bin/env bash
# The Debian packages as an operator gets them. Builds them with cpack from this build's binaries,
# unpacks them into a fresh root the way dpkg does, and checks:
#   - the control data: names, version (cmake/version.cmake), Depends (dpkg-shlibdeps' libraries,
#     cdn-common, procps), conffiles, maintainer scripts that parse and enable/start nothing;
#   - the sysusers.d entry makes the "cdn" user (systemd-sysusers --root);
#   - the three units pass `systemd-analyze verify --root` (which also finds ExecStart's binary
#     in the root) and stay below an exposure of 2.5 in `systemd-analyze security --offline`;
#   - the installed configs pass --check, purge_api starts from its own;
#   - the installed edge, started from /etc/cdn/edge.toml in front of origin_sim, serves a MISS,
#     then a HIT (from memory, with the installed config's disk tier in the root), and /healthz.
# Overrides for the edge, and why: --listen and --admin (port 0 instead of 80 and 8081),
# --disk-path (the root's /var/cache/cdn/edge, which systemd's CacheDirectory= would make) and
# --origin (origin_sim's port 0).
# Usage: tests/package/package_test.sh BUILD_DIR   (ctest: package_install; exit 77 = skipped)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
. "$src/infra/lib.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $* ($((SECONDS - start))s)"; }
start=$SECONDS

prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
if [ "$prefix" != /usr ]; then
  echo "SKIP: the packages need a build configured with -DCMAKE_INSTALL_PREFIX=/usr (infra/test.sh" \
    "and infra/package.sh do that); this one has '$prefix'"
  exit 77
fi
for tool in cpack dpkg-deb dpkg-shlibdeps systemd-analyze systemd-sysusers curl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (infra/deps.sh test)"; exit 77; }
done
version=$(sed -n 's/^set(CDN_VERSION \([0-9.]*\))$/\1/p' "$src/cmake/version.cmake")
[ -n "$version" ] || fail "no CDN_VERSION in cmake/version.cmake"
debversion=$version-1
arch=$(dpkg --print-architecture)

scratch_dir package
debs=$work/debs
root=$work/root

# dpkg-shlibdeps takes ~20 s on the ASan edge alone, so only cdn-edge's libraries are computed
# here (infra/package.sh computes every package's); the rest is packaged as shipped.
step "cpack"
cpack --config "$build/CPackConfig.cmake" -B "$debs/a" -D CPACK_COMPONENTS_ALL="common;edge" \
  >"$work/cpack-a.log" 2>&1 &
cpack_a=$!
cpack --config "$build/CPackConfig.cmake" -B "$debs/b" -D CPACK_COMPONENTS_ALL="purge_api;geodns" \
  -D CPACK_DEBIAN_PACKAGE_SHLIBDEPS=OFF >"$work/cpack-b.log" 2>&1 ||
  { cat "$work/cpack-b.log"; fail "cpack (cdn-purge-api, cdn-geodns)"; }
wait "$cpack_a" || { cat "$work/cpack-a.log"; fail "cpack (cdn-common, cdn-edge)"; }
rm -f "$debs"/b/cdn-common_*  # packaged again there, as the others depend on it
deb() { echo "$debs"/*/"$1_${debversion}_$2.deb"; }

step "control data"
field() { dpkg-deb -f "$1" "$2"; }
for p in cdn-common:all cdn-edge:$arch cdn-purge-api:$arch cdn-geodns:$arch; do
  name=${p%%:*} a=${p##*:}
  f=$(deb "$name" "$a")
  [ -f "$f" ] || fail "no $name package: $(ls "$debs"/*)"
  [ "$(field "$f" Package)" = "$name" ] || fail "$f: Package is $(field "$f" Package)"
  [ "$(field "$f" Version)" = "$debversion" ] || fail "$f: Version is $(field "$f" Version)"
  [ -n "$(field "$f" Description)" ] && [ -n "$(field "$f" Maintainer)" ] || fail "$f: no Description/Maintainer"
  ctl=$work/control/$name
  mkdir -p "$work/control"
  dpkg-deb -e "$f" "$ctl"
  for s in "$ctl"/postinst "$ctl"/prerm "$ctl"/postrm; do
    [ -f "$s" ] || continue
    [ -x "$s" ] || fail "$name: $(basename "$s") is not executable"
    sh -n "$s" || fail "$name: $(basename "$s") does not parse"
    ! grep -v '^ *#' "$s" | grep -Eq 'systemctl( --[a-z-]+)* (enable|start|restart) ' ||
      fail "$name: $(basename "$s") enables or starts a unit"
  done
done
edge_deb=$(deb cdn-edge "$arch")
depends=$(field "$edge_deb" Depends)
echo "cdn-edge Depends: $depends"
for want in "cdn-common (= $debversion)" libssl3 libnghttp2-14 libstdc++6 procps; do
  case ", $depends," in *", $want"[,\ ]*) ;; *) fail "cdn-edge does not depend on $want" ;; esac
done
case $depends in *libmaxminddb*) fail "cdn-edge depends on libmaxminddb (only geodns uses it)" ;; esac
for p in edge:edge.toml purge-api:purge_api.toml geodns:geodns.toml; do
  [ "$(cat "$work/control/cdn-${p%%:*}/conffiles")" = "/etc/cdn/${p##*:}" ] ||
    fail "cdn-${p%%:*}: conffiles is not /etc/cdn/${p##*:}"
done

# A fresh Debian 12 root (merged /usr) with what the packages' dependencies bring that the test
# needs: systemd's units (sysinit.target, network-online.target...) and procps' /bin/kill.
step "unpack into a fresh root"
mkdir -p "$root"/usr/{bin,lib,sbin} "$root/usr/lib/systemd/system"
ln -s usr/bin "$root/bin"; ln -s usr/lib "$root/lib"; ln -s usr/sbin "$root/sbin"
cp -a /lib/systemd/system/. "$root/usr/lib/systemd/system/"
cp /bin/kill "$root/usr/bin/kill"
for f in "$debs"/*/*.deb; do
  # As dpkg unpacks: through the root's /lib -> usr/lib symlink, not over it.
  dpkg-deb --fsys-tarfile "$f" | tar -x --keep-directory-symlink -C "$root"
done
for f in /usr/bin/edge /usr/bin/purge_api /usr/bin/geodns /etc/cdn/edge.toml /etc/cdn/purge_api.toml \
  /etc/cdn/geodns.toml /lib/systemd/system/cdn-edge.service /lib/systemd/system/cdn-purge-api.service \
  /lib/systemd/system/cdn-geodns.service /usr/lib/sysusers.d/cdn.conf \
  /usr/lib/sysctl.d/60-cdn-edge.conf; do
  [ -e "$root$f" ] || fail "$f is not installed"
done
[ -L "$root/lib" ] || fail "unpacking replaced the root's /lib symlink"
"$root/usr/bin/edge" --version | grep -q "$version" || fail "installed edge --version: $("$root/usr/bin/edge" --version)"

step "sysusers"
systemd-sysusers --root="$root" cdn.conf
grep -q '^cdn:x:[0-9]*:[0-9]*:CDN daemons:/var/lib/cdn:/usr/sbin/nologin$' "$root/etc/passwd" ||
  fail "no system user cdn: $(cat "$root/etc/passwd")"
grep -q '^cdn:' "$root/etc/group" || fail "no group cdn"

step "systemd-analyze"
units=(/lib/systemd/system/cdn-edge.service /lib/systemd/system/cdn-purge-api.service
       /lib/systemd/system/cdn-geodns.service)
out=$(systemd-analyze verify --root="$root" "${units[@]}" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
for u in "${units[@]}"; do
  systemd-analyze security --offline=true --root="$root" --threshold=25 "$(basename "$u")" \
    >"$work/security.log" 2>&1 || { cat "$work/security.log"; fail "$(basename "$u") is exposed above 2.5"; }
  tail -n1 "$work/security.log"
done
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$root/lib/systemd/system/cdn-edge.service" ||
  fail "cdn-edge.service: no ExecReload=/bin/kill -HUP \$MAINPID"

step "installed configs"
"$root/usr/bin/edge" --check --config "$root/etc/cdn/edge.toml"
"$root/usr/bin/geodns" --check --config "$root/etc/cdn/geodns.toml"
mkdir -p "$root/var/lib/cdn/purge_api"
"$root/usr/bin/purge_api" --config "$root/etc/cdn/purge_api.toml" --listen 127.0.0.1:0 \
  --data-dir "$root/var/lib/cdn/purge_api" >"$work/purge_api.log" 2>&1 &
pids+=($!)
port_from_log "$work/purge_api.log" "http on" "${pids[-1]}" >/dev/null
kill "${pids[-1]}"
wait "${pids[-1]}" || fail "purge_api did not stop cleanly on SIGTERM: $(cat "$work/purge_api.log")"
unset 'pids[-1]'

step "installed edge from /etc/cdn/edge.toml"
"$build/origin_sim/origin_sim" --listen 127.0.0.1:0 >"$work/origin_sim.log" 2>&1 &
pids+=($!)
origin_pid=${pids[-1]}
origin_port=$(port_from_log "$work/origin_sim.log" "listening on" "${pids[-1]}")
mkdir -p "$root/var/cache/cdn/edge"
"$root/usr/bin/edge" --config "$root/etc/cdn/edge.toml" --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
  --disk-path "$root/var/cache/cdn/edge" --origin "http://127.0.0.1:$origin_port" >"$work/edge.log" 2>&1 &
pids+=($!)
edge_pid=${pids[-1]}
edge_port=$(port_from_log "$work/edge.log" "http on" "$edge_pid")
admin_port=$(port_from_log "$work/edge.log" "admin on" "$edge_pid")
url="http://127.0.0.1:$edge_port/package-test.txt?size=100"
first=$(curl -sS -D - -o /dev/null "$url" | tr -d '\r')
second=$(curl -sS -D - -o /dev/null "$url" | tr -d '\r')
grep -q '^HTTP/1.1 200' <<<"$first" || fail "first request: $first"
grep -qi '^x-cache: MISS' <<<"$first" || fail "first request was not a MISS: $first"
grep -qi '^x-cache: HIT' <<<"$second" || fail "second request was not a HIT: $second"
[ "$(curl -sS "http://127.0.0.1:$admin_port/healthz")" = ok ] || fail "/healthz"
grep -q 'disk tier .*/var/cache/cdn/edge' "$work/edge.log" || fail "the disk tier is not on: $(cat "$work/edge.log")"
kill "$edge_pid"
wait "$edge_pid" || fail "the edge did not stop cleanly on SIGTERM: $(cat "$work/edge.log")"
pids=("$origin_pid")

step "ok"
