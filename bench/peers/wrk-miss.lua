-- bench/peers: wrk script of the miss runs. Every request asks for a URL never asked before,
-- /miss/<BENCH_MISS_RUN>/<n> (n = 1, 2, 3, ...; wrk -t1), so every request is a cache miss that
-- the cache fetches from the origin and stores. BENCH_MISS_RUN is unique per run (time, round,
-- target). The run is bounded by wrk -d. done() (the BENCH_RESULT line) is wrk-report.lua's,
-- loaded from beside this file.
local run = os.getenv("BENCH_MISS_RUN") or tostring(os.time())
local n = 0

request = function()
  n = n + 1
  return wrk.format("GET", "/miss/" .. run .. "/" .. tostring(n))
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk-report.lua")
