-- wrk script for POST /v1/contacts: every request is a new contact with a
-- unique external_id (run nonce, wrk thread, counter: reruns never collide),
-- from a customer drawn out of a pool of BENCH_EMAILS addresses (so later
-- contacts come from returning customers), with a subject and a body of a
-- realistic size (~300 bytes) in English or Chinese, cycling through the
-- templates below so that every category and priority is exercised.
-- Environment: BENCH_TOKEN (required), BENCH_NONCE, BENCH_EMAILS, BENCH_TEMPLATES.
-- pgbench-register.sql reuses the gateway's classification of these same
-- texts (bench/run copies it into bench_templates), so keep the texts free
-- of characters that need JSON escaping.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local templates = {
   {"Order 48213 not delivered",
    "Hello, I placed order 48213 on Monday with express shipping and the tracking page has " ..
    "shown the same status for four days. The delivery was promised for Thursday. Could you " ..
    "check with the courier where the parcel is and tell me when it will arrive? I also need " ..
    "the invoice for this order. Thanks, regards"},
   {"Laptop battery overheating",
    "Hi support, my laptop bought in March gets very hot near the battery after about twenty " ..
    "minutes of use and yesterday it switched itself off twice. The fan is running but the " ..
    "case is too hot to touch. Is this a hardware problem covered by the warranty, and where " ..
    "should I send the device for repair? Thank you"},
   {"URGENT: service down since 9:00",
    "Our whole team cannot use the service since 9:00 this morning. The dashboard shows an " ..
    "error 502 and the mobile app crashes on start. This is an outage for us, forty people " ..
    "are blocked and we have a customer deadline today. Please treat it as urgent and call " ..
    "me on the number in our contract as soon as possible."},
   {"Price for 200 licences",
    "Good afternoon, we are evaluating your product for our company and would like a quote " ..
    "for 200 licences on a yearly plan, including the premium support option. Is there a " ..
    "discount for education customers or for a three year commitment? We would also like a " ..
    "trial for our IT team first. Best regards, purchasing"},
   {"How do I set up two factor login",
    "Hello, I would like to set up two factor authentication for all the accounts in our " ..
    "workspace but I cannot find the option in the settings page. The manual mentions an " ..
    "administration section that I do not see. How can I configure it for every user at " ..
    "once, and does it work with our existing single sign on? Thanks a lot"},
   {"订单 20931 还没有发货",
    "你好，我在上周五下单，订单号 20931，页面一直显示待发货，已经过去五天了。" ..
    "请帮我查一下物流情况，什么时候可以配送到上海？另外需要开具增值税发票，" ..
    "抬头和税号已经在订单备注里填写。谢谢！"},
   {"对客服的服务态度不满意",
    "昨天我打电话咨询退款问题，客服人员态度恶劣，没有听完我的问题就挂断了电话。" ..
    "这已经是第二次遇到这种情况，我非常不满意，要求正式投诉并尽快给我答复。" ..
    "订单号是 77120，请主管处理。"},
   {"软件升级后经常闪退",
    "升级到最新版本以后，软件在导出报表时经常闪退，有时候还会死机，只能重启电脑。" ..
    "错误提示是内存不足，但是电脑有 16G 内存。这个问题影响我们每天的工作，" ..
    "希望尽快修复，或者告诉我怎么退回到旧版本。"},
   {"建议增加批量导入功能",
    "你们的产品整体很好用，我有一个建议：希望增加批量导入客户资料的功能，" ..
    "现在只能一条一条录入，效率太低。如果能支持 Excel 导入并自动去重就更好了。" ..
    "另外手机端的界面也可以改进一下。感谢！"},
   {"Question about my account",
    "Hi, I changed my email address last month and since then I receive two copies of every " ..
    "newsletter, one at the old address and one at the new one. I only want to keep the new " ..
    "address. I also noticed my company name is spelled wrongly on the account page. Could " ..
    "you correct both for me? Many thanks and have a nice day"},
}

-- BENCH_TEMPLATES: a file of "subject<TAB>body" lines to use instead (bench/
-- scale-run's rounds send the texts their database was filled with, so that
-- the newest messages are like the rest of its history).
local file = os.getenv("BENCH_TEMPLATES")
if file and file ~= "" then
   templates = {}
   for line in io.lines(file) do
      local subject, body = line:match("^([^\t]*)\t(.*)$")
      if subject then templates[#templates + 1] = {subject, body} end
   end
   assert(#templates > 0, "no templates in " .. file)
end

local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
local nonce = os.getenv("BENCH_NONCE") or tostring(os.time())
local pool = tonumber(os.getenv("BENCH_EMAILS") or "10000")
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
local counter = 0

function init(args)
   report_init()
   math.randomseed(os.time() * 1000 + tid)
end

function request()
   counter = counter + 1
   local c = math.random(1, pool)
   local t = templates[(counter + tid) % #templates + 1]
   local body = string.format(
      '{"external_id":"%s-%d-%d","customer":{"name":"Customer %d",' ..
      '"email":"customer%d@example.com"},"subject":"%s","body":"%s"}',
      nonce, tid, counter, c, c, t[1], t[2])
   return wrk.format("POST", "/v1/contacts", headers, body)
end
