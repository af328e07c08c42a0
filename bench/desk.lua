-- wrk script for the desk's GET routes (bench/desk-run): the URL's path and
-- query as given, with the bearer token of BENCH_TOKEN (an agent's or the
-- API token); counts responses and prints bench/run's result line.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local headers = {["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")}

function init(args)
   report_init()
end

function request()
   return wrk.format("GET", nil, headers)
end
