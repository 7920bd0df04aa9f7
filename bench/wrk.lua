-- wrk script for scripts/bench.sh and scripts/resilience.sh.
--
-- Environment:
--   BENCH_BODY_FILE  POST this file's content as application/json (unset: GET)
--   BENCH_LABEL      name of the path, copied into the result
--   BENCH_DELAY_MS   if set, each connection pauses this many ms between requests (paced load)
--   BENCH_HOST       if set, the Host header (a sidecar's outbound listener routes on it, as
--                    the Service name a pod's app calls)
--   BENCH_AUTH       if set, the Authorization header (`Bearer <token>`: the jwt-auth scenario)
--   BENCH_COUNT      if set, count responses by status and by x-kyc-scored-by / x-kyc-served-by
--                    (slower: every response goes through Lua; used by the resilience script only)
--
-- At the end prints ONE line `BENCH_JSON {...}` with requests, rps, latency percentiles (ms)
-- and errors (socket errors + responses with status >= 400), which the scripts parse.

local body_file = os.getenv("BENCH_BODY_FILE")
if body_file and body_file ~= "" then
   local f = assert(io.open(body_file, "rb"))
   wrk.method = "POST"
   wrk.body = f:read("*a")
   f:close()
   wrk.headers["Content-Type"] = "application/json"
end

local host = os.getenv("BENCH_HOST")
if host and host ~= "" then
   wrk.headers["Host"] = host
end

local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
   wrk.headers["Authorization"] = auth
end

local label = os.getenv("BENCH_LABEL") or "run"

-- BENCH_DELAY_MS: each connection waits this long between requests (a paced, low-rate load)
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause and pause > 0 then
   function delay()
      return pause
   end
end
local counting = (os.getenv("BENCH_COUNT") or "") ~= ""
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

if counting then
   statuses = {}
   scorers = {}
   function response(status, headers, _)
      statuses[status] = (statuses[status] or 0) + 1
      local who = headers["x-kyc-scored-by"] or headers["x-kyc-served-by"] or "-"
      who = string.match(who, "^([^/]*)") or who
      scorers[who] = (scorers[who] or 0) + 1
   end
end

local function merge(dst, src)
   for k, v in pairs(src or {}) do
      dst[tostring(k)] = (dst[tostring(k)] or 0) + v
   end
end

local function obj(t)
   local parts = {}
   for k, v in pairs(t) do
      table.insert(parts, string.format("%q:%d", k, v))
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, _)
   local e = summary.errors
   local socket = e.connect + e.read + e.write + e.timeout
   local secs = summary.duration / 1e6
   local ms = function(p) return latency:percentile(p) / 1000.0 end
   local st, sc = {}, {}
   if counting then
      for _, t in ipairs(threads) do
         merge(st, t:get("statuses"))
         merge(sc, t:get("scorers"))
      end
   end
   io.write(string.format(
      'BENCH_JSON {"label":%q,"requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
      '"latency_ms":{"mean":%.3f,"p50":%.3f,"p90":%.3f,"p99":%.3f,"p99_9":%.3f,"max":%.3f},' ..
      '"errors":{"total":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
      '"statuses":%s,"scorers":%s}\n',
      label, summary.requests, secs, summary.requests / secs,
      latency.mean / 1000.0, ms(50), ms(90), ms(99), ms(99.9), latency.max / 1000.0,
      socket + e.status, e.status, e.connect, e.read, e.write, e.timeout,
      obj(st), obj(sc)))
end
