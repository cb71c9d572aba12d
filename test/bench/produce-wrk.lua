-- wrk script for bench:produce: POSTs the JSON batch in $WRK_BODY_FILE and counts, per
-- answer, the messages the gateway acknowledged ("status":"SEND_OK"); everything else sent
-- is a failure. done() prints one JSON line for test/bench/wrk.ts.
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = f:read("*all")
f:close()
local per_request = tonumber(os.getenv("WRK_MSGS_PER_REQUEST"))

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  failed = 0
  not200 = 0
  sample = ""
end

function response(status, headers, body)
  if status ~= 200 then
    not200 = not200 + 1
    failed = failed + per_request
    if sample == "" then sample = "HTTP " .. status .. " " .. string.sub(body, 1, 160) end
    return
  end
  local _, n = string.gsub(body, '"status":"SEND_OK"', "")
  ok = ok + n
  if n < per_request then
    failed = failed + per_request - n
    if sample == "" then sample = string.sub(body, 1, 160) end
  end
end

function done(summary, latency, requests)
  local tok, tfailed, tnot200, tsample = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    tok = tok + t:get("ok")
    tfailed = tfailed + t:get("failed")
    tnot200 = tnot200 + t:get("not200")
    if tsample == "" then tsample = t:get("sample") end
  end
  local e = summary.errors
  io.write(string.format(
    '{"ok":%d,"failed":%d,"not200":%d,"requests":%d,"durationUs":%d,"socketErrors":%d,"p50Us":%d,"p99Us":%d,"p999Us":%d,"sample":"%s"}\n',
    tok, tfailed, tnot200, summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    string.gsub(tsample, '[%c"\\]', "?")))
end
