-- wrk script for GET /healthz (the gateway's or bare-lws's): only counts
-- responses and prints bench/run's result line (report.lua).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

function init(args)
   report_init()
end
