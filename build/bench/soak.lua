-- wrk script for build/bench-soak.  The mode is the argument after "--":
--   get    GET the URLs listed in BENCH_URLS (one a line), in turn
--   range  GET the files listed in BENCH_URLS ("URL SIZE" a line), chosen
--          at random: a quarter of them whole, the rest with a random
--          Range (bytes=A-B, bytes=A- or bytes=-N, always satisfiable)
-- Every request carries "Authorization: Bearer $BENCH_TOKEN".
-- BENCH_DELAY_MS paces each connection.  Responses are counted by tally.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "tally.lua")

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
  function delay() return pause end
end

function init(args)
  mode = args[1] or "get"
  urls, sizes = {}, {}
  for line in io.lines(os.getenv("BENCH_URLS")) do
    local url, size = line:match("^(%S+)%s*(%d*)")
    if url then
      table.insert(urls, (url:gsub("^https?://[^/]+", "")))
      table.insert(sizes, tonumber(size) or 0)
    end
  end
  if #urls == 0 then error("soak.lua: no URLs in " .. os.getenv("BENCH_URLS")) end
  turn = 0
  math.randomseed(os.time() * 100 + id)
  headers = { Authorization = "Bearer " .. os.getenv("BENCH_TOKEN") }
end

-- A satisfiable Range of a file of SIZE bytes, or nil for the whole file.
local function range(size)
  local r = math.random(4)
  if r == 1 or size < 2 then return nil end
  local a = math.random(0, size - 1)
  if r == 2 then return string.format("bytes=%d-", a) end
  if r == 3 then return string.format("bytes=-%d", math.random(1, size)) end
  return string.format("bytes=%d-%d", a, math.random(a, size - 1))
end

function request()
  local i
  if mode == "range" then
    i = math.random(#urls)
    headers["Range"] = range(sizes[i])
  else
    turn = turn % #urls + 1
    i = turn
  end
  return wrk.format("GET", urls[i], headers)
end
