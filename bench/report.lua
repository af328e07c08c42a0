-- Shared by contacts.lua and healthz.lua (loaded with dofile): counts the
-- responses of each wrk thread by status and, in done(), prints one line in
-- a fixed format that bench/run parses, so nothing depends on the layout of
-- wrk's own report. Latencies are wrk's, in microseconds, printed in ms.

local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

-- Per-thread counters; scripts call this from their init().
function report_init()
   ok, bad, first_bad = 0, 0, ""
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
   else
      bad = bad + 1
      if first_bad == "" then
         first_bad = status .. " " .. string.sub(string.gsub(body or "", "%s+", " "), 1, 300)
      end
   end
end

function done(summary, latency, requests)
   local n_ok, n_bad, first = 0, 0, ""
   for _, t in ipairs(threads) do
      n_ok = n_ok + (t:get("ok") or 0)
      n_bad = n_bad + (t:get("bad") or 0)
      local f = t:get("first_bad")
      if first == "" and f and f ~= "" then
         first = f
      end
   end
   local e = summary.errors
   local secs = summary.duration / 1e6
   local ms = function(us) return us / 1000 end
   io.write(string.format(
      "BENCH requests=%d ok=%d non2xx=%d seconds=%.3f rps=%.1f ok_rps=%.1f " ..
      "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f " ..
      "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
      summary.requests, n_ok, n_bad, secs, summary.requests / secs, n_ok / secs,
      ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
      ms(latency.max), ms(latency.mean), e.connect, e.read, e.write, e.timeout))
   if first ~= "" then
      io.write("BENCH_FIRST_NON2XX " .. first .. "\n")
   end
end
