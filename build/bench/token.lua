-- wrk script for build/bench-auth: POST each pre-signed assertion once.
-- The file named by BENCH_FORMS holds one form body per line; thread i of n
-- takes lines i, i+n, i+2n, ... and stops when its share is used, so no jti
-- is sent twice.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  forms = {}
  local n = #args > 0 and tonumber(args[1]) or 1
  local i = 0
  for line in io.lines(os.getenv("BENCH_FORMS")) do
    if i % n == id - 1 then table.insert(forms, line) end
    i = i + 1
  end
  next_form = 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  if next_form > #forms then
    wrk.thread:stop()
    return wrk.format(nil, nil, nil, forms[#forms])
  end
  local body = forms[next_form]
  next_form = next_form + 1
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 then bad = (bad or 0) + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("bad") or 0) end
  io.write(string.format("BENCH requests=%d non200=%d seconds=%.3f\n",
    summary.requests, bad, summary.duration / 1e6))
end
