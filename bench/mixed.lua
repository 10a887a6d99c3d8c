-- The mixed load of bench/load.pl. Each wrk thread cycles its requests through KINDS below and
-- counts the answers per kind and status; done() prints the totals of all threads as lines
--   count <kind> <status> <n>
--   summary <requests> <duration us> <connect> <read> <write> <timeout errors>
--   latency <p50 us> <p99 us> <max us>
-- Environment: TOKENS_FILE (unused links, one per line), KNOWN_EMAILS (comma-separated users),
-- WRK_THREADS. nginx echoes the X-Load-Kind request header back (add_header in load.pl): with
-- many connections per thread, response() cannot otherwise tell which request it answers.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- Per cycle of 10: 3 static, 2 generate for unknown addresses, 2 verify of random tokens,
-- 1 generate for a known user, 1 verify of a prepared link, 1 generate over the per-client limit.
local KINDS = { "static", "generate-unknown", "verify-invalid", "generate-known", "static",
                "verify-valid", "generate-unknown", "verify-invalid", "generate-limited", "static" }

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
-- The last of 43 base64url characters carries 4 bits of 32 bytes; these keep the token
-- well-formed, so it goes all the way to the database lookup.
local LAST = "AEIMQUYcgkosw048"

local function pick(chars)
  local i = math.random(#chars)
  return chars:sub(i, i)
end

local function random_token()
  local out = {}
  for i = 1, 42 do out[i] = pick(ALPHABET) end
  out[43] = pick(LAST)
  return table.concat(out)
end

local function random_email()
  local out = {}
  for i = 1, 12 do out[i] = pick("abcdefghijklmnopqrstuvwxyz0123456789") end
  return "load-" .. table.concat(out) .. "@example.com"
end

function init(args)
  math.randomseed(os.time() * 16 + id)  -- threads must not send the same "random" addresses
  tokens = {}
  for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
  known = {}
  for email in os.getenv("KNOWN_EMAILS"):gmatch("[^,]+") do known[#known + 1] = email end
  step = tonumber(os.getenv("WRK_THREADS"))
  next_token = id + 1  -- threads take every step-th link, so no link is sent twice
  next_known = id
  position = 0
  -- counts["<kind> <status>"], read by done() through thread:get. Flat: wrk 4.1 crashes copying
  -- nested tables between threads.
  counts = {}
  request_headers = {}  -- one table per kind: wrk.format fills in Host and Content-Length
  for _, kind in ipairs(KINDS) do
    request_headers[kind] = { ["X-Load-Kind"] = kind }
    if kind:find("^generate") then request_headers[kind]["Content-Type"] = "application/json" end
  end
end

local function generate(path, kind, email)
  return wrk.format("POST", path, request_headers[kind], '{"email":"' .. email .. '"}')
end

local function verify(kind, token)
  return wrk.format("GET", "/magic-link-api/verify?token=" .. token, request_headers[kind])
end

function request()
  position = position % #KINDS + 1
  local kind = KINDS[position]
  if kind == "static" then
    return wrk.format("GET", "/static", request_headers[kind])
  elseif kind == "generate-unknown" then
    return generate("/magic-link-api/generate", kind, random_email())
  elseif kind == "generate-known" then
    next_known = next_known % #known + 1
    return generate("/magic-link-api/generate", kind, known[next_known])
  elseif kind == "generate-limited" then
    return generate("/limited/generate", kind, random_email())
  elseif kind == "verify-invalid" then
    return verify(kind, random_token())
  end
  -- Past the end of the pool, links come round again: used links answer 401, also a real path.
  local token = tokens[(next_token - 1) % #tokens + 1]
  next_token = next_token + step
  return verify(kind, token)
end

function response(status, headers, body)
  local kind = headers["X-Load-Kind"] or headers["x-load-kind"] or "unknown"
  local key = tostring(status)
  -- 503 is documented only with Retry-After; count one without it apart, so load.pl fails it.
  if status == 503 and not (headers["Retry-After"] or headers["retry-after"]) then
    key = "503-no-retry-after"
  end
  key = kind .. " " .. key
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("counts")) do total[key] = (total[key] or 0) + n end
  end
  for key, n in pairs(total) do io.write(string.format("count %s %d\n", key, n)) end
  local e = summary.errors
  io.write(string.format("summary %d %d %d %d %d %d\n", summary.requests, summary.duration,
                         e.connect, e.read, e.write, e.timeout))
  io.write(string.format("latency %d %d %d\n", latency:percentile(50), latency:percentile(99),
                         latency.max))
end
