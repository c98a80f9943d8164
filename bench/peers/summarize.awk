# bench/peers: raw.tsv of bench/hit_path.sh or bench/h2_load.sh -> markdown tables (medians over
# rounds), or with mode=chart the data file of hit_path's chart. POSIX awk (mawk is fine).
# Variables: base (target of the ratio column, nginx), sizes, targets, mtargets (miss targets),
# tool (wrk or h2load: the load generator's column), mode (empty or chart).
# raw.tsv columns:
#   1 phase (hit, miss, h2)  2 round  3 size  4 target  5 rps  6 MBps  7 p50_us  8 p99_us (-1: not
#   known)  9 requests  10 errors  11 origin_reqs  12 server_cpu_pct  13 cpu_us_per_req
#   14 loadgen_cpu_pct  15 server_core_busy_pct  16 client_core_busy_pct  17 origin_cpu_pct
# A run is "contended" when something else used more than FOREIGN_MAX points of a core during it:
# server core busy - server CPU, or client core busy - load generator CPU - origin CPU.

BEGIN { FOREIGN_MAX = 20 }

function median(list,    a, n, i, j, x) {
  n = split(list, a, " ")
  if (n == 0) return ""
  for (i = 2; i <= n; i++) { x = a[i] + 0; j = i - 1
    while (j >= 1 && a[j] + 0 > x) { a[j + 1] = a[j]; j-- }
    a[j + 1] = x }
  if (n % 2) return a[(n + 1) / 2] + 0
  return (a[n / 2] + a[n / 2 + 1]) / 2
}
function minmax(list,    a, n, i, lo, hi) {
  n = split(list, a, " "); lo = a[1] + 0; hi = a[1] + 0
  for (i = 2; i <= n; i++) { if (a[i] + 0 < lo) lo = a[i] + 0; if (a[i] + 0 > hi) hi = a[i] + 0 }
  return sprintf("%.0f..%.0f", lo, hi)
}
function add(arr, key, val) { arr[key] = (key in arr) ? arr[key] " " val : val }
function ms(list) { return (list == "") ? "-" : sprintf("%.2f", median(list) / 1000) }
function med0(list) { return (list == "") ? "-" : sprintf("%.0f", median(list)) }
function med1(list) { return (list == "") ? "-" : sprintf("%.1f", median(list)) }

NR == 1 { next }
{
  k = $1 SUBSEP $3 SUBSEP $4
  add(RPS, k, $5); add(MB, k, $6); add(SCPU, k, $12); add(USREQ, k, $13); add(LCPU, k, $14)
  add(SBUSY, k, $15); add(CBUSY, k, $16); add(OCPU, k, $17)
  if ($7 >= 0) add(P50, k, $7)
  if ($8 >= 0) add(P99, k, $8)
  CONT[k] += ($15 - $12 > FOREIGN_MAX || $16 - $14 - $17 > FOREIGN_MAX)
  ERR[k] += $10; OREQ[k] += $11; REQ[k] += $9; N[k]++
  R[$1 SUBSEP $2 SUBSEP $3 SUBSEP $4] = $5
  if (!($2 in seen)) { seen[$2] = 1; rounds[++nr] = $2 }
}

# RATIO[phase, size, target]: median over rounds of rps(target) / rps(base) in the same round.
function ratios(phase, szlist, tlist,    ns, nt, i, j, r, S, T, kt, kb) {
  ns = split(szlist, S, " "); nt = split(tlist, T, " ")
  for (i = 1; i <= ns; i++) for (j = 1; j <= nt; j++) for (r = 1; r <= nr; r++) {
    kt = phase SUBSEP rounds[r] SUBSEP S[i] SUBSEP T[j]; kb = phase SUBSEP rounds[r] SUBSEP S[i] SUBSEP base
    if ((kt in R) && (kb in R) && R[kb] > 0) add(RATIO, phase SUBSEP S[i] SUBSEP T[j], R[kt] / R[kb])
  }
}
function ratio(k) { return (k in RATIO) ? sprintf("%.2f", median(RATIO[k])) : "-" }

# The three tables of a by-size phase (hit or h2).
function by_size(phase, title, szlist, tlist,    ns, nt, i, j, S, T, hdr, sep, line, k) {
  ns = split(szlist, S, " "); nt = split(tlist, T, " ")
  ratios(phase, szlist, tlist)
  hdr = "| target |"; sep = "|---|"
  for (i = 1; i <= ns; i++) { hdr = hdr " " S[i] " |"; sep = sep "---:|" }
  print "### " title ": req/s, median of rounds (ratio vs " base " in the same round, median)"
  print ""; print hdr; print sep
  for (j = 1; j <= nt; j++) {
    line = "| " T[j] " |"
    for (i = 1; i <= ns; i++) {
      k = phase SUBSEP S[i] SUBSEP T[j]
      line = line ((k in N) ? " " med0(RPS[k]) " (" ratio(k) ") |" : " - |")
    }
    print line
  }
  print ""
  print "### " title ": server CPU microseconds per request, median of rounds (lower is better)"
  print ""; print hdr; print sep
  for (j = 1; j <= nt; j++) {
    line = "| " T[j] " |"
    for (i = 1; i <= ns; i++) { k = phase SUBSEP S[i] SUBSEP T[j]; line = line " " ((k in N) ? med1(USREQ[k]) : "-") " |" }
    print line
  }
  print ""
  print "### " title ": detail (medians over rounds; origin reqs and errors summed)"
  print ""
  print "| target | size | req/s | req/s min..max | ratio vs " base " | MB/s | p50 ms | p99 ms | server CPU % | CPU us/req | " tool " CPU % | srv core busy % | cli core busy % | runs | contended runs | origin reqs | errors |"
  print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for (i = 1; i <= ns; i++) for (j = 1; j <= nt; j++) {
    k = phase SUBSEP S[i] SUBSEP T[j]
    if (!(k in N)) continue
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %d | %d |\n", T[j], S[i],
      med0(RPS[k]), minmax(RPS[k]), ratio(k), med1(MB[k]), ms(P50[k]), ms(P99[k]), med0(SCPU[k]), med1(USREQ[k]),
      med0(LCPU[k]), med0(SBUSY[k]), med0(CBUSY[k]), N[k], CONT[k], OREQ[k], ERR[k]
  }
}

function miss_table(tlist,    nt, j, T, k, any) {
  nt = split(tlist, T, " ")
  for (j = 1; j <= nt; j++) if (("miss" SUBSEP "miss" SUBSEP T[j]) in N) any = 1
  if (!any) return
  ratios("miss", "miss", tlist)
  print ""
  print "### Cache-MISS path: every request a new URL (1 KiB body fetched from the origin and stored); medians over rounds"
  print ""
  print "| target | req/s | req/s min..max | ratio vs " base " | p50 ms | p99 ms | server CPU % | CPU us/req | " tool " CPU % | origin CPU % | srv core busy % | cli core busy % | runs | contended runs | requests | origin reqs | errors |"
  print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for (j = 1; j <= nt; j++) {
    k = "miss" SUBSEP "miss" SUBSEP T[j]
    if (!(k in N)) continue
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %d | %d | %d |\n", T[j],
      med0(RPS[k]), minmax(RPS[k]), ratio(k), ms(P50[k]), ms(P99[k]), med0(SCPU[k]), med1(USREQ[k]),
      med0(LCPU[k]), med0(OCPU[k]), med0(SBUSY[k]), med0(CBUSY[k]), N[k], CONT[k], REQ[k], OREQ[k], ERR[k]
  }
}

# Two gnuplot data blocks (tab-separated, "-" = no data): CPU us/req, then req/s; one row per size
# (then "miss"), one column per target.
function chart(    ns, nt, i, j, S, T, blk, line, k, arr, all, seenT, M, nm) {
  ns = split(sizes, S, " ")
  nt = split(targets, T, " "); nm = split(mtargets, M, " ")
  for (j = 1; j <= nm; j++) { for (i = 1; i <= nt; i++) if (T[i] == M[j]) break; if (i > nt) T[++nt] = M[j] }
  if (nm > 0) S[++ns] = "miss"
  for (blk = 0; blk < 2; blk++) {
    if (blk) printf "\n\n"
    line = "size"; for (j = 1; j <= nt; j++) line = line "\t" T[j]; print line
    for (i = 1; i <= ns; i++) {
      line = S[i]
      for (j = 1; j <= nt; j++) {
        k = ((S[i] == "miss") ? "miss" : "hit") SUBSEP S[i] SUBSEP T[j]
        line = line "\t" ((k in N) ? (blk ? med0(RPS[k]) : med1(USREQ[k])) : "-")
      }
      print line
    }
  }
}

END {
  if (mode == "chart") { chart(); exit }
  h2 = 0; for (k in N) { split(k, a, SUBSEP); if (a[1] == "h2") h2 = 1 }
  if (h2) by_size("h2", "HTTP/2 over TLS, cache HIT", sizes, targets)
  else by_size("hit", "Cache-HIT", sizes, targets)
  miss_table(mtargets)
}
