-- wrk script shared by the issue-13 service benchmarks (bench/service.py).
--
--   wrk -t2 -c16 -d20s -s bench/load.lua http://127.0.0.1:PORT -- MODE DATAFILE
--
-- MODE: right | wrong        POST /api/v1/verify (Twofold), JSON {user, code}
--       pi_right | pi_wrong  POST /validate/check (privacyIDEA), form user, realm, pass
--       plain STATUS METHOD [BODY]  the URL's request, unchanged, expecting STATUS
-- DATAFILE (right/wrong modes): first line "KEYS <key> <key> ..." (API keys, or the realm
-- for privacyIDEA), then one line per person: "<login> <first step> <code> <code> ...",
-- the codes of consecutive 30-second steps from <first step>.
--
-- A right code is the one for the earliest step within ±1 of now that this person has not
-- used yet (each step proves once: the replay rule); a person with none left is skipped.
-- Each thread takes its own share of the people, round robin, so no two requests race for
-- one step. Wrong codes go round robin over the people and the keys, so no (key, person)
-- pair nears its failure budget. done() prints one JSON line for bench/service.py.

local mode, users, keys = nil, {}, {}
local position = 0
-- Globals, so done() can read them from each thread (thread:get).
sent, bad, exhausted = 0, 0, 0
local expect_status, expect_text = 200, nil

local function split(line)
  local out = {}
  for word in line:gmatch("%S+") do out[#out + 1] = word end
  return out
end

local thread_counter = 0
local all_threads = {}

function setup(thread)
  thread:set("thread_index", thread_counter)
  thread_counter = thread_counter + 1
  table.insert(all_threads, thread)
end

function init(args)
  mode = args[1]
  if mode == "plain" then
    -- plain STATUS METHOD [BODY]: the same request each time, expecting STATUS.
    expect_status = tonumber(args[2] or "200")
    wrk.method = args[3] or "GET"
    wrk.body = args[4]
    return
  end
  local file = assert(io.open(args[2], "r"))
  local header = split(file:read("*l"))
  for i = 2, #header do keys[#keys + 1] = header[i] end
  local index, count = 0, tonumber(args[3] or "1")
  for line in file:lines() do
    if index % count == thread_index then
      local fields = split(line)
      local codes = {}
      for i = 3, #fields do codes[#codes + 1] = fields[i] end
      users[#users + 1] = { login = fields[1], first = tonumber(fields[2]), codes = codes, last = -1 }
    end
    index = index + 1
  end
  file:close()
  if mode == "right" or mode == "pi_right" then
    expect_text = mode == "right" and '"ok":true' or '"value": true'
  else
    expect_text = mode == "wrong" and '"ok":false' or '"value": false'
  end
  wrk.method = "POST"
end

local function verify_body(login, code, key)
  if mode == "right" or mode == "wrong" then
    wrk.headers["Authorization"] = "Bearer " .. key
    wrk.headers["Content-Type"] = "application/json"
    return '{"user":"' .. login .. '","code":"' .. code .. '"}'
  end
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  return "user=" .. login .. "&realm=" .. key .. "&pass=" .. code
end

function request()
  if mode == "plain" then return wrk.format() end
  local path = (mode == "right" or mode == "wrong") and "/api/v1/verify" or "/validate/check"
  local n = #users
  if mode == "wrong" or mode == "pi_wrong" then
    local person = users[(position % n) + 1]
    local key = keys[(math.floor(position / n) % #keys) + 1]
    position = position + 1
    -- A code no step near now has: the right one shifted by one, kept to six digits.
    local right = person.codes[1]
    local wrong = string.format("%06d", (tonumber(right) + 500000) % 1000000)
    return wrk.format(nil, path, nil, verify_body(person.login, wrong, key))
  end
  local now = math.floor(os.time() / 30)
  for _ = 1, n do
    local person = users[(position % n) + 1]
    local key = keys[(position % #keys) + 1]
    position = position + 1
    for step = now - 1, now + 1 do
      local i = step - person.first + 1
      if step > person.last and i >= 1 and i <= #person.codes then
        person.last = step
        return wrk.format(nil, path, nil, verify_body(person.login, person.codes[i], key))
      end
    end
  end
  -- Every person has used every step near now: send a replay, counted as an error.
  exhausted = exhausted + 1
  local person = users[1]
  return wrk.format(nil, path, nil, verify_body(person.login, person.codes[1], keys[1]))
end

function response(status, headers, body)
  sent = sent + 1
  if status ~= expect_status or (expect_text ~= nil and not string.find(body, expect_text, 1, true)) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local answered, wrong_answers, ran_out = 0, 0, 0
  for _, t in ipairs(all_threads) do
    answered = answered + (t:get("sent") or 0)
    wrong_answers = wrong_answers + (t:get("bad") or 0)
    ran_out = ran_out + (t:get("exhausted") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"seconds":%.3f,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"answered":%d,"unexpected":%d,"exhausted":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    latency.max, answered, wrong_answers, ran_out, e.connect, e.read, e.write, e.timeout))
end
