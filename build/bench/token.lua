-- wrk script for build/bench-auth and build/bench-soak: POST each
-- pre-signed assertion once.  The file named by BENCH_FORMS holds one form
-- body per line; thread i of n takes lines i, i+n, i+2n, ... and stops when
-- its share is used, so no jti is sent twice.  BENCH_DELAY_MS (default 0)
-- paces each connection.  Responses are counted by tally.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "tally.lua")

function init(args)
  forms = {}
  local n = #args > 0 and tonumber(args[1]) or 1
  local i = 0
  for line in io.lines(os.getenv("BENCH_FORMS")) do
    if i % n == id - 1 then table.insert(forms, line) end
    i = i + 1
  end
  next_form = 1
  spare = (wrk.path:gsub("Token/auth$", "metadata"))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

-- defined only when asked for: with it, wrk sends each request from a timer
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
  function delay() return pause end
end

function request()
  if next_form > #forms then
    -- wrk still sends what this returns: a harmless GET of the metadata,
    -- not a used assertion (which would be refused, 401, on the server)
    wrk.thread:stop()
    return wrk.format("GET", spare)
  end
  local body = forms[next_form]
  next_form = next_form + 1
  return wrk.format(nil, nil, nil, body)
end
