-- bench/peers: wrk script of the miss runs. Every request asks for a URL never asked before,
-- /miss/<BENCH_MISS_RUN>/<n> (n = 1, 2, 3, ...; wrk -t1), so every request is a cache miss that
-- the cache fetches from the origin and stores. BENCH_MISS_RUN is unique per run (time, round,
-- target). The run is bounded by wrk -d. Same BENCH_RESULT line as wrk-report.lua.
local run = os.getenv("BENCH_MISS_RUN") or tostring(os.time())
local n = 0

request = function()
  n = n + 1
  return wrk.format("GET", "/miss/" .. run .. "/" .. tostring(n))
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d bytes=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
