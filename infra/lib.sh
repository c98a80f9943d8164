# Shell helpers shared by the scripts that start the project's processes on loopback
# (infra/run-local.sh, infra/failover-drill.sh, bench/*.sh). Source it; it defines functions only.

# port_from_log LOG MARKER PID: waits (up to ~10 s) for "<MARKER> ADDRESS:PORT" in LOG and prints
# PORT; fails, printing the log, if PID exits first.
port_from_log() {
  local log=$1 marker=$2 pid=$3 line
  for _ in $(seq 1 200); do
    if line=$(grep -o "$marker [][0-9.:]*" "$log" 2>/dev/null | head -n1) && [ -n "$line" ]; then
      echo "${line##*:}"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "process exited; its log ($log):" >&2; cat "$log" >&2; return 1; }
    sleep 0.05
  done
  echo "timed out waiting for '$marker' in $log" >&2
  return 1
}

# free_port: a TCP port free on 127.0.0.1 right now.
free_port() {
  perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0, ReuseAddr => 1) or die; print $s->sockport'
}

# free_dns_port: a port free for both UDP and TCP on 127.0.0.1 right now (a DNS server's).
free_dns_port() {
  perl -MIO::Socket::INET -e '
    for (1 .. 50) {
      my $u = IO::Socket::INET->new(Proto => "udp", LocalAddr => "127.0.0.1", LocalPort => 0) or die;
      my $p = $u->sockport;
      my $t = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => $p, ReuseAddr => 1);
      if ($t) { print $p; exit 0 }
    }
    die "no free port\n";'
}

# wait_port PORT [PID [LOG]]: waits (up to ~10 s) until something accepts on 127.0.0.1:PORT;
# gives up early if PID exits, and then prints LOG.
wait_port() {
  local port=$1 pid=${2:-} log=${3:-}
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && break
    sleep 0.05
  done
  echo "nothing listens on 127.0.0.1:$port${log:+; its log ($log):}" >&2
  [ -n "$log" ] && cat "$log" >&2
  return 1
}

# page_has URL REGEX: true when the page at URL has a line matching REGEX. The page is read whole
# before grep looks: `curl | grep -q` under pipefail fails when grep stops early on a long page
# (curl gets SIGPIPE), which made checks of /metrics flaky.
page_has() {
  local page
  page=$(curl -s --max-time 2 "$1") || return 1
  grep -q -- "$2" <<<"$page"
}

# cpu_ticks PID...: utime + stime of these processes (all their threads), in clock ticks
# (getconf CLK_TCK per second).
cpu_ticks() {
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    t=$((t + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
  done
  echo "$t"
}

# scratch_dir NAME: sets $work to a fresh directory (mode 755, so servers running as another user
# can read it) and $pids to an empty list; on exit every PID in pids is stopped and waited for,
# and the directory removed (kept, and its path printed, when KEEP is set). Start processes with `cmd & pids+=($!)`.
scratch_dir() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/cdn-$1.XXXXXX")
  chmod 755 "$work"
  pids=()
  trap scratch_cleanup EXIT
}
scratch_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] && { echo "kept $work" >&2; return 0; }
  rm -rf "$work"
}
