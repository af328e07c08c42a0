-- wrk script for POST /v1/phone/events: sends the signed call events that
-- phone-events.py wrote before the phase, each exactly once. wrk's Lua has no
-- HMAC, so the bodies and their X-Intake-Signature come from a file per wrk
-- thread (BENCH_PHONE_REQUESTS.<thread>.txt: signature, tab, JSON body), read
-- one line per request. A thread that runs out does not start over (a resent
-- event is a duplicate, answered 200 without work): it asks for a path that
-- does not exist, so the rest count as non-2xx, and done() prints how many
-- requests found no event ("BENCH_PHONE exhausted=N"; bench/phone-run then
-- stops and says to pre-sign more).
-- Environment: BENCH_PHONE_REQUESTS (required, the files' prefix).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local prefix = os.getenv("BENCH_PHONE_REQUESTS") or error("BENCH_PHONE_REQUESTS is not set")
local file

-- report.lua keeps its list of threads to itself: keep one here too.
local report_setup, report_done = setup, done
local phone_threads = {}

function setup(thread)
   report_setup(thread)
   table.insert(phone_threads, thread)
end

function init(args)
   report_init()
   exhausted = 0
   file = assert(io.open(prefix .. "." .. tid .. ".txt", "r"))
end

function request()
   local line = file:read("*l")
   local sig, body
   if line then
      sig, body = line:match("^([^\t]+)\t(.+)$")
   end
   if not body then
      exhausted = exhausted + 1
      return wrk.format("GET", "/v1/phone/events/none-left")
   end
   return wrk.format("POST", "/v1/phone/events",
                     {["Content-Type"] = "application/json", ["X-Intake-Signature"] = sig}, body)
end

function done(summary, latency, requests)
   report_done(summary, latency, requests)
   local n = 0
   for _, t in ipairs(phone_threads) do
      n = n + (t:get("exhausted") or 0)
   end
   io.write(string.format("BENCH_PHONE exhausted=%d\n", n))
end
