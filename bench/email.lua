-- wrk script for POST /v1/email/inbound: every request is a new RFC 5322
-- message (Content-Type: message/rfc822, CRLF line endings, ~1.5 KB) with a
-- unique Message-ID made of the run nonce, the wrk thread and a counter
-- (<NONCE.TID.N@bench.example.net>: reruns never collide), from one of
-- BENCH_EMAILS senders (customer<N>@example.com, so later messages come from
-- returning customers), with the headers a delivered message carries
-- (Return-Path, two Received, DKIM-Signature, Date, MIME). Subjects and
-- bodies cycle through bench/email-templates.txt: English as us-ascii 7bit,
-- Chinese as UTF-8 with a base64 body, an RFC 2047 subject and an encoded
-- display name.
-- Environment: BENCH_TOKEN (required), BENCH_NONCE, BENCH_EMAILS.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- Base64 of s in lines of 76 characters, each ending in CRLF.
local function base64_lines(s)
   local out, line = {}, {}
   for i = 1, #s, 3 do
      local a, b, c = s:byte(i, i + 2)
      local n = a * 65536 + (b or 0) * 256 + (c or 0)
      local q = {}
      for k = 3, 0, -1 do
         local v = math.floor(n / 64 ^ k) % 64
         q[#q + 1] = b64chars:sub(v + 1, v + 1)
      end
      if not b then q[3] = "=" end
      if not c then q[4] = "=" end
      line[#line + 1] = table.concat(q)
      if #line == 19 then -- 76 characters
         out[#out + 1] = table.concat(line) .. "\r\n"
         line = {}
      end
   end
   if #line > 0 then out[#out + 1] = table.concat(line) .. "\r\n" end
   return table.concat(out)
end

local function encoded_word(s)
   return "=?UTF-8?B?" .. base64_lines(s):gsub("\r\n", "") .. "?="
end

-- The templates: {subject header, name prefix, content headers and body}.
local templates = {}
do
   local f = assert(io.open(dir .. "email-templates.txt", "r"))
   local cur
   local function finish()
      if not cur then return end
      while cur.lines[#cur.lines] == "" do cur.lines[#cur.lines] = nil end
      local text = table.concat(cur.lines, "\r\n") .. "\r\n"
      local t = {}
      if cur.lang == "zh" then
         text = text .. "\r\n-- \r\n发自我的手机\r\n"
         t.subject = encoded_word(cur.subject)
         t.name = encoded_word("客户")
         t.content = "Content-Type: text/plain; charset=utf-8\r\n" ..
            "Content-Transfer-Encoding: base64\r\n\r\n" .. base64_lines(text)
      else
         text = text .. "\r\n-- \r\nSent from my laptop\r\n"
         t.subject = cur.subject
         t.name = "Customer"
         t.content = "Content-Type: text/plain; charset=us-ascii\r\n" ..
            "Content-Transfer-Encoding: 7bit\r\n\r\n" .. text
      end
      templates[#templates + 1] = t
   end
   for line in f:lines() do
      local lang, subject = line:match("^%%%% (%a%a) (.*)$")
      if lang then
         finish()
         cur = {lang = lang, subject = subject, lines = {}}
      elseif cur then
         cur.lines[#cur.lines + 1] = line
      end
   end
   finish()
   f:close()
   assert(#templates > 0, "no templates in email-templates.txt")
end

local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
local nonce = os.getenv("BENCH_NONCE") or tostring(os.time())
local pool = tonumber(os.getenv("BENCH_EMAILS") or "10000")
local headers = {["Content-Type"] = "message/rfc822", ["Authorization"] = "Bearer " .. token}
local counter = 0

local message = table.concat({
   "Return-Path: <customer%d@example.com>",
   "Received: from mail-out%d.example.net (mail-out%d.example.net [203.0.113.%d])",
   "\tby mx1.example.com (Postfix) with ESMTPS id %s%d%d",
   "\tfor <help@example.com>; %s",
   "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s1;",
   "\th=from:to:subject:date:message-id:mime-version;",
   "\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;",
   "\tb=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR",
   "\t 3xlbXMAIoVdV0tm2oV2BbdKhXkGSIvd3ZpLGwZRiD4+Hj4B82mPXEqLgSvuEnlbwM",
   "\t Lh2fAQmzVqWHnHDP2FXkJdkgTAfpdDyXoa9tIv9Xk0W4h3c5tJRJN1TC0ipsr8HiOG",
   "Received: by mail-out%d.example.net with SMTP id a%dx%d; %s",
   "From: %s %d <customer%d@example.com>",
   "To: Help desk <help@example.com>",
   "Subject: %s",
   "Date: %s",
   "Message-ID: <%s.%d.%d@bench.example.net>",
   "MIME-Version: 1.0",
   "%s",
}, "\r\n")

function init(args)
   report_init()
   math.randomseed(os.time() * 1000 + tid)
end

function request()
   counter = counter + 1
   local c = math.random(1, pool)
   local t = templates[(counter + tid) % #templates + 1]
   local date = os.date("!%a, %d %b %Y %H:%M:%S +0000")
   local relay = c % 16
   local body = string.format(message,
      c, relay, relay, relay + 1, nonce, tid, counter, date,
      relay, tid, counter, date,
      t.name, c, c, t.subject, date, nonce, tid, counter, t.content)
   return wrk.format("POST", "/v1/email/inbound", headers, body)
end
