-- Sends each line of TOKENS_FILE once, spread over wrk's threads, as REQUEST_KIND asks:
--   verify:  GET /magic-link-api/verify?token=<line>
--   refresh: POST /auth/refresh {"refresh_token":"<line>","mode":"json"} (Directus itself)
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
  kind = os.getenv("REQUEST_KIND")
  step = tonumber(os.getenv("WRK_THREADS"))
  next_index = id + 1
end

function request()
  local token = tokens[next_index] or tokens[#tokens]
  next_index = next_index + step
  if kind == "verify" then
    return wrk.format("GET", "/magic-link-api/verify?token=" .. token)
  end
  return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"},
                    '{"refresh_token":"' .. token .. '","mode":"json"}')
end
