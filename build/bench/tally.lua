-- build/bench/tally.lua: loaded (dofile) by the wrk scripts here.  Counts
-- every thread's responses by status code; done() prints, after wrk's own
-- report,
--   BENCH requests=N non200=N seconds=S
--   BENCH codes 200=N 206=N ... connect=N read=N write=N timeout=N
-- (responses by status, then wrk's socket errors by kind).
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

codes = {}

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local all, non200, keys = {}, 0, {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("codes") or {}) do
      if all[code] == nil then table.insert(keys, code) end
      all[code] = (all[code] or 0) + n
      if code ~= 200 then non200 = non200 + n end
    end
  end
  table.sort(keys)
  io.write(string.format("BENCH requests=%d non200=%d seconds=%.3f\n",
    summary.requests, non200, summary.duration / 1e6))
  io.write("BENCH codes")
  for _, code in ipairs(keys) do io.write(string.format(" %d=%d", code, all[code])) end
  local e = summary.errors
  io.write(string.format(" connect=%d read=%d write=%d timeout=%d\n",
    e.connect, e.read, e.write, e.timeout))
end
