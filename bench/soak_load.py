#!/usr/bin/python3
"""bench/soak-run's load generator and SMTP sink (Debian's python3, which has
python3-websockets and python3-aiosmtpd).

load: holds a fixed rate of contacts on every channel of one gateway for a
  given time, open loop: each request has a scheduled send time (rate/s apart)
  and its latency is counted from that time, so a gateway that stalls is
  charged for the requests that queued behind the stall (wrk2's correction of
  coordinated omission; wrk itself waits for each answer before it sends the
  next request on a connection, so a stall slows the load instead of showing).
  Channels: API contacts, email over POST /v1/email/inbound, the mail pipe
  (`intake ingest-email`, one process per message), phone events (Twilio form
  with its X-Twilio-Signature, CTI form, native JSON with X-Intake-Signature;
  calls that ring and then are answered and end, or are missed), chat
  sessions over WebSocket (sessions open, send messages, close after a few
  and are replaced) and an agent who replies to and resolves a share of the
  tickets (so surveys go out). Every minute it prints one line: the gateway's
  RSS, open descriptors and threads (/proc), the outbox backlog and the
  PostgreSQL client connections (psql), mails the SMTP sink received, contacts
  per second, errors, and p50/p99 of that minute per channel; at the end a
  summary table and the verdict (see verdict()). Exit 0 flat, 3 not flat.

sink: an aiosmtpd server on 127.0.0.1:PORT that accepts every mail and keeps
  the running count in a file (read by load each minute).

Why Python and not wrk: wrk's Lua cannot pace (wrk2, which can, is not in
Debian), cannot speak WebSocket or sign HMAC, and reports once at the end; the
generator must report per minute and per channel. One asyncio loop with
keep-alive connections sends ~1,500 requests/s on one core, above the rates
this host holds at half capacity; the line reports the generator's own lag
(how late the last scheduled send left), so a generator that cannot keep up
shows instead of passing as a slow gateway.
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import statistics
import sys
import time
import urllib.parse

HOST = "127.0.0.1"
OUR_NUMBER = "+861012345678"


# ------------------------------------------------------------------ HTTP/1.1


class Pool:
    """Keep-alive HTTP/1.1 connections to the gateway, at most `size` at once."""

    def __init__(self, port, size):
        self.port, self.idle, self.sem = port, [], asyncio.Semaphore(size)
        self.opened = self.retried = self.closed_idle = 0

    async def request(self, method, path, headers, body=b""):
        """One request; the gateway closes keep-alive connections idle for
        limits.socket_idle_seconds (60 s), so a reused connection that ends before
        the status line is retried once on a new one, as HTTP clients do (every
        request here is idempotent: each carries its key)."""
        async with self.sem:
            while self.idle:
                conn = self.idle.pop()
                if not conn[0].at_eof():
                    break
                conn[1].close()
                self.closed_idle += 1
            else:
                conn = None
            if conn is not None:
                try:
                    return await self.exchange(conn, method, path, headers, body)
                except (ConnectionError, EOFError):
                    self.retried += 1
            conn = await asyncio.open_connection(HOST, self.port)
            self.opened += 1
            return await self.exchange(conn, method, path, headers, body)

    async def exchange(self, conn, method, path, headers, body):
        r, w = conn
        try:
            head = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (HOST, self.port),
                    "Content-Length: %d" % len(body)]
            head += ["%s: %s" % kv for kv in headers.items()]
            w.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            status_line = await r.readline()
            if not status_line:
                raise EOFError("the connection ended before the status line")
            status = int(status_line.split()[1])
            length, chunked, close = None, False, False
            while True:
                line = await r.readline()
                if line in (b"\r\n", b""):
                    break
                k, _, v = line.decode("latin-1").partition(":")
                k, v = k.strip().lower(), v.strip().lower()
                if k == "content-length":
                    length = int(v)
                elif k == "transfer-encoding" and "chunked" in v:
                    chunked = True
                elif k == "connection" and v == "close":
                    close = True
            if chunked:
                parts = []
                while True:
                    n = int((await r.readline()).split(b";")[0], 16)
                    if n == 0:
                        await r.readline()
                        break
                    parts.append(await r.readexactly(n))
                    await r.readexactly(2)
                data = b"".join(parts)
            elif length is not None:
                data = await r.readexactly(length)
            else:
                data, close = await r.read(), True
        except BaseException:
            w.close()
            raise
        if close:
            w.close()
        else:
            self.idle.append(conn)
        return status, data


# ------------------------------------------------------------------ statistics


class Minute:
    def __init__(self):
        self.lat = {}  # channel -> [ms]
        self.err = {}  # channel -> count
        self.first_err = ""
        self.contacts = 0


class Stats:
    def __init__(self):
        self.cur = Minute()
        self.lag_ms = 0.0

    def ok(self, channel, ms, contact=True):
        self.cur.lat.setdefault(channel, []).append(ms)
        if contact:
            self.cur.contacts += 1

    def error(self, channel, what):
        self.cur.err[channel] = self.cur.err.get(channel, 0) + 1
        if not self.cur.first_err:
            self.cur.first_err = "%s: %s" % (channel, what[:200])


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


# ------------------------------------------------------------------ the load


def templates(path):
    """bench/email-templates.txt: "%% LANG SUBJECT" lines, each followed by its body."""
    out, cur = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("%% ") and len(line) > 6 and line[5] == " ":
                cur = {"subject": line[6:], "body": []}
                out.append(cur)
            elif cur is not None:
                cur["body"].append(line)
    for t in out:
        t["body"] = "\n".join(t["body"]).strip()
    if not out:
        sys.exit("no templates in " + path)
    return out


class Load:
    def __init__(self, a):
        self.a = a
        self.stats = Stats()
        self.pool = Pool(a.port, a.connections)
        self.token = os.environ["BENCH_TOKEN"]
        self.agent = os.environ["BENCH_AGENT_TOKEN"]
        self.secret = os.environ["BENCH_WEBHOOK_SECRET"].encode()
        self.twilio = os.environ["BENCH_TWILIO_TOKEN"].encode()
        self.cti = os.environ["BENCH_CTI_TOKEN"]
        self.public = a.public_url.rstrip("/")
        self.nonce = a.nonce
        self.rng = random.Random(a.nonce)
        self.n = 0
        self.calls = {"twilio": [], "cti": [], "native": []}
        self.inflight = 0
        self.chat_rr = 0
        self.chat = []  # open sessions: dicts
        self.tickets_to_work = []
        self.templates = templates(a.templates)

    def next_id(self):
        self.n += 1
        return self.n

    def customer(self):
        return self.rng.randint(1, self.a.customers)

    # -------------------------------------------------------- channels

    async def api(self):
        i, c = self.next_id(), self.customer()
        t = self.templates[i % len(self.templates)]
        body = json.dumps({"external_id": "soak-%s-%d" % (self.nonce, i),
                           "customer": {"name": "Customer %d" % c, "email": "customer%d@example.com" % c},
                           "subject": t["subject"], "body": t["body"]}, ensure_ascii=False).encode()
        st, data = await self.pool.request("POST", "/v1/contacts", {
            "Content-Type": "application/json", "Authorization": "Bearer " + self.token}, body)
        return st, data

    async def email(self):
        i, c = self.next_id(), self.customer()
        t = self.templates[i % len(self.templates)]
        date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        msg = "\r\n".join([
            "Return-Path: <customer%d@example.com>" % c,
            "Received: from mail-out1.example.net (mail-out1.example.net [203.0.113.1])",
            "\tby mx1.example.com (Postfix) with ESMTPS id s%s%d; %s" % (self.nonce, i, date),
            "From: Customer %d <customer%d@example.com>" % (c, c),
            "To: Help desk <help@example.com>",
            "Subject: =?UTF-8?B?%s?=" % base64.b64encode(t["subject"].encode()).decode(),
            "Date: " + date,
            "Message-ID: <soak.%s.%d@bench.example.net>" % (self.nonce, i),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            "",
            base64.encodebytes(t["body"].encode()).decode().replace("\n", "\r\n"),
        ])
        return await self.pool.request("POST", "/v1/email/inbound", {
            "Content-Type": "message/rfc822", "Authorization": "Bearer " + self.token}, msg.encode())

    async def pipe(self):
        i, c = self.next_id(), self.customer()
        t = self.templates[i % len(self.templates)]
        msg = "\n".join([
            "From: Customer %d <customer%d@example.com>" % (c, c),
            "To: help@example.com",
            "Subject: =?UTF-8?B?%s?=" % base64.b64encode(t["subject"].encode()).decode(),
            "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            "Message-ID: <soak.pipe.%s.%d@bench.example.net>" % (self.nonce, i),
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "",
            t["body"], ""])
        p = await asyncio.create_subprocess_exec(
            self.a.intake, "ingest-email", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await p.communicate(msg.encode())
        if p.returncode != 0:
            return 500 + p.returncode, err
        return 200, None  # (its stdout is "TICKET new|joined", not JSON)

    def call_event(self, provider):
        """The next event of one of this provider's calls in progress (or a new call)."""
        calls = self.calls[provider]
        if len(calls) < 64 or self.rng.random() < 0.3:
            n, c = self.next_id(), self.customer()
            missed = self.rng.random() < 0.3
            calls.append({"id": "%s-%s-%d" % (provider, self.nonce, n),
                          "from": "+86138%08d" % c, "steps": ["missed"] if missed else ["answered", "ended"],
                          "started": time.time()})
            return calls[-1], "ringing"
        k = self.rng.randrange(len(calls))
        call = calls[k]
        step = call["steps"].pop(0)
        if not call["steps"]:
            calls[k] = calls[-1]
            calls.pop()
        return call, step

    async def phone(self, provider):
        call, step = self.call_event(provider)
        now = int(time.time())
        if provider == "native":
            ev = {"event_id": "%s-%s" % (call["id"], step), "type": step, "at": now,
                  "call_id": call["id"], "from": call["from"], "to": OUR_NUMBER, "caller_name": "Li Wei"}
            if step == "ended":
                ev["duration"] = max(1, now - int(call["started"]))
            if step == "missed":
                ev["cause"] = "no-answer"
            body = json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode()
            mac = hmac.new(self.secret, b"%d." % now + body, hashlib.sha256).hexdigest()
            return await self.pool.request("POST", "/v1/phone/events", {
                "Content-Type": "application/json", "X-Intake-Signature": "t=%d,v1=%s" % (now, mac)}, body)
        if provider == "cti":
            f = {"callId": call["id"], "direction": "in", "from": call["from"], "to": OUR_NUMBER,
                 "callerName": "Wang Fang"}
            f["event"] = {"ringing": "newCall", "answered": "answer"}.get(step, "hangup")
            if step == "ended":
                f["cause"] = "normalClearing"
            elif step == "missed":
                f["cause"] = "noAnswer"
            return await self.pool.request("POST", "/v1/phone/cti/" + self.cti, {
                "Content-Type": "application/x-www-form-urlencoded"}, urllib.parse.urlencode(f).encode())
        status = {"ringing": "ringing", "answered": "in-progress", "ended": "completed",
                  "missed": "no-answer"}[step]
        f = {"CallSid": "CA" + call["id"], "CallStatus": status, "Direction": "inbound",
             "From": call["from"], "To": OUR_NUMBER, "CallerName": "Zhang Min"}
        if step == "ended":
            f["CallDuration"] = str(max(1, now - int(call["started"])))
        signed = self.public + "/v1/phone/twilio" + "".join(k + f[k] for k in sorted(f))
        sig = base64.b64encode(hmac.new(self.twilio, signed.encode(), hashlib.sha1).digest()).decode()
        return await self.pool.request("POST", "/v1/phone/twilio", {
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig},
            urllib.parse.urlencode(f).encode())

    # -------------------------------------------------------- chat

    async def chat_open(self):
        import websockets
        c = self.customer()
        ws = await websockets.connect(
            "ws://%s:%d/v1/chat" % (HOST, self.a.port), subprotocols=["intake-chat.v1"],
            origin="http://shop.example", max_size=1 << 20, ping_interval=None)
        await ws.send(json.dumps({"type": "hello", "lang": "en", "profile": {
            "name": "Chat customer %d" % c, "email": "customer%d@example.com" % c}}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if welcome.get("type") != "welcome":
            raise RuntimeError("no welcome: %s" % welcome)
        s = {"ws": ws, "sent": 0, "waiting": {}, "reader": None}
        s["reader"] = asyncio.ensure_future(self.chat_reader(s))
        return s

    async def chat_reader(self, s):
        try:
            async for raw in s["ws"]:
                m = json.loads(raw)
                if m.get("type") == "ack":
                    fut = s["waiting"].pop(m.get("client_id"), None)
                    if fut and not fut.done():
                        fut.set_result(m)
        except Exception:
            pass
        for fut in s["waiting"].values():
            if not fut.done():
                fut.set_exception(ConnectionError("chat socket closed"))

    async def chat_send(self):
        """A message on the next session; a session closes after its messages and is replaced."""
        if len(self.chat) < self.a.chat_sessions:
            self.chat.append(None)
        k = self.chat_rr % len(self.chat)
        self.chat_rr += 1
        task = self.chat[k]
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None
                                             or task.result()["sent"] >= self.a.chat_messages)):
            task = self.chat[k] = asyncio.ensure_future(self.chat_open())
        s = await task
        s["sent"] += 1
        if s["sent"] == self.a.chat_messages:
            asyncio.ensure_future(self.chat_close(s))
        cid = "m-%d" % self.next_id()
        fut = asyncio.get_running_loop().create_future()
        s["waiting"][cid] = fut
        t = self.templates[s["sent"] % len(self.templates)]
        await s["ws"].send(json.dumps({"type": "message", "client_id": cid, "text": t["body"]},
                                      ensure_ascii=False))
        ack = await asyncio.wait_for(fut, 30)
        return 200, json.dumps(ack).encode()

    async def chat_close(self, s):
        # after its last ack (or 30 s): the session then ends as a customer leaves
        t0 = time.monotonic()
        while s["waiting"] and time.monotonic() - t0 < 30:
            await asyncio.sleep(0.5)
        try:
            await s["ws"].close()
        except Exception:
            pass

    # -------------------------------------------------------- the agent

    def maybe_work(self, data):
        """Every Nth ticket gets a reply after a while and is resolved later."""
        if self.rng.random() >= self.a.agent_share:
            return
        try:
            ticket = json.loads(data)["ticket"]
        except Exception:
            return
        asyncio.ensure_future(self.agent_work(ticket))

    async def agent_work(self, ticket):
        await asyncio.sleep(self.rng.uniform(2, 10))
        hdr = {"Content-Type": "application/json", "Authorization": "Bearer " + self.agent}
        for path, body in (("/v1/tickets/%s/replies" % ticket,
                            {"text": "Thank you, we are looking into it.", "key": "soak-%s-%d" % (self.nonce, self.next_id())}),
                           ("/v1/tickets/%s/status" % ticket, {"status": "resolved", "solution": "answered"})):
            t0 = time.monotonic()
            try:
                st, data = await asyncio.wait_for(
                    self.pool.request("POST", path, hdr, json.dumps(body).encode()), 30)
            except Exception as e:
                self.stats.error("agent", repr(e))
                return
            # 409: the ticket was already resolved (a later contact joined a resolved one)
            if st >= 300 and st != 409:
                self.stats.error("agent", "%d %s" % (st, data[:200]))
                return
            self.stats.ok("agent", (time.monotonic() - t0) * 1000, contact=False)
            await asyncio.sleep(self.rng.uniform(1, 5))

    # -------------------------------------------------------- pacing

    async def one(self, channel, fn, due):
        self.inflight += 1
        try:
            st, data = await asyncio.wait_for(fn(), 30)
            ms = (time.monotonic() - due) * 1000
            if 200 <= st < 300:
                self.stats.ok(channel, ms)
                if channel in ("api", "email", "chat") and data:
                    self.maybe_work(data)
            else:
                self.stats.error(channel, "%d %s" % (st, (data or b"")[:200].decode("utf-8", "replace")))
        except Exception as e:
            self.stats.error(channel, repr(e))
        finally:
            self.inflight -= 1

    async def paced(self, channel, fn, rate, end):
        if rate <= 0:
            return
        step = 1.0 / rate
        due = time.monotonic() + self.rng.uniform(0, step)
        while due < end:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.stats.lag_ms = max(self.stats.lag_ms, -delay * 1000)
            if self.inflight >= self.a.max_inflight:
                self.stats.error(channel, "generator: %d requests in flight" % self.inflight)
            else:
                asyncio.ensure_future(self.one(channel, fn, due))
            due += step


async def burst(a):
    """Capacity: `connections` workers send the same mix back to back for a.burst seconds."""
    load = Load(a)
    weights = [("api", 0.3), ("email", 0.2), ("twilio", 0.1), ("cti", 0.1), ("native", 0.1), ("chat", 0.2)]
    fns = {"api": load.api, "email": load.email, "chat": load.chat_send,
           "twilio": lambda: load.phone("twilio"), "cti": lambda: load.phone("cti"),
           "native": lambda: load.phone("native")}
    names, w = [n for n, _ in weights], [x for _, x in weights]
    cpu0, t0 = os.times(), time.monotonic()
    end = t0 + a.burst

    async def worker():
        while time.monotonic() < end:
            ch = load.rng.choices(names, w)[0]
            await load.one(ch, fns[ch], time.monotonic())

    await asyncio.gather(*(worker() for _ in range(a.connections)))
    secs = time.monotonic() - t0
    cpu1 = os.times()
    cur = load.stats.cur
    lat = [x for v in cur.lat.values() for x in v]
    print("CAPACITY contacts_per_s=%.1f errors=%d p50_ms=%.1f p99_ms=%.1f generator_cpu_pct=%.0f first_error=%s" % (
        cur.contacts / secs, sum(cur.err.values()), pct(lat, 50) or 0, pct(lat, 99) or 0,
        100 * (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / secs,
        json.dumps(cur.first_err)), flush=True)
    for task in load.chat:
        if task is not None and task.done() and not task.cancelled() and task.exception() is None:
            await task.result()["ws"].close()
    return 0


# ------------------------------------------------------------------ sampling


async def sh(*argv):
    p = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                             stderr=asyncio.subprocess.DEVNULL)
    out, _ = await p.communicate()
    return out.decode().strip()


def proc(pid):
    with open("/proc/%d/status" % pid) as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    return (int(st["VmRSS"].split()[0]) / 1024.0, int(st["RssAnon"].split()[0]) / 1024.0,
            len(os.listdir("/proc/%d/fd" % pid)), int(st["Threads"]))


async def sample(a):
    q = ("SELECT (SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')), "
         "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
         "AND pid <> pg_backend_pid())")
    out = await sh("psql", a.db, "-XtAq", "-F", " ", "-c", q)
    backlog, pgconns = (int(x) for x in out.split())
    try:
        with open(a.sink_count) as f:
            mails = int(f.read().strip() or 0)
    except (OSError, ValueError):
        mails = 0
    return backlog, pgconns, mails


CHANNELS = ["api", "email", "pipe", "twilio", "cti", "native", "chat", "agent"]


def fmt(v):
    return "-" if v is None else ("%.0f" % v if v >= 100 else "%.1f" % v)


def header():
    cols = "".join("%14s" % (c + " p50/99") for c in CHANNELS)
    return "%4s %7s %6s %5s %4s %7s %4s %6s %7s %5s %6s %4s%s" % (
        "min", "RSS_MB", "anon", "fds", "thr", "backlog", "pg", "mails", "c/s", "err", "lag", "gen%", cols)


async def run(a):
    load = Load(a)
    start = time.monotonic()
    end = start + a.seconds
    rates = {"api": a.rate * 0.30, "email": a.rate * 0.20, "twilio": a.rate * 0.10,
             "cti": a.rate * 0.10, "native": a.rate * 0.10, "chat": a.rate * 0.20 - a.pipe_rate,
             "pipe": a.pipe_rate}
    fns = {"api": load.api, "email": load.email, "pipe": load.pipe, "chat": load.chat_send,
           "twilio": lambda: load.phone("twilio"), "cti": lambda: load.phone("cti"),
           "native": lambda: load.phone("native")}
    print("soak: %.0f contacts/s for %d s: %s; agent works %.0f %% of tickets; %d HTTP connections at most"
          % (a.rate, a.seconds, ", ".join("%s %.1f/s" % (k, v) for k, v in rates.items()),
             a.agent_share * 100, a.connections), flush=True)
    print(header(), flush=True)
    tasks = [asyncio.ensure_future(load.paced(ch, fns[ch], r, end)) for ch, r in rates.items()]
    rows = []
    mails_before = (await sample(a))[2]
    cpu_before = os.times()
    m = 0
    while True:
        m += 1
        tick = start + 60 * m
        last = tick >= end
        await asyncio.sleep(max(0, min(tick, end) - time.monotonic()))
        cur, load.stats.cur = load.stats.cur, Minute()
        lag, load.stats.lag_ms = load.stats.lag_ms, 0.0
        secs = 60 if not last else max(1.0, end - (tick - 60))
        rss, anon, fds, thr = proc(a.pid)
        backlog, pgconns, mails = await sample(a)
        row = {"min": m, "rss": rss, "anon": anon, "fds": fds, "thr": thr, "backlog": backlog, "pg": pgconns,
               "mails": mails - mails_before, "cps": cur.contacts / secs,
               "err": sum(cur.err.values()), "lag": lag, "first_err": cur.first_err,
               "p50": {c: pct(cur.lat.get(c), 50) for c in CHANNELS},
               "p99": {c: pct(cur.lat.get(c), 99) for c in CHANNELS},
               "n": {c: len(cur.lat.get(c, [])) for c in CHANNELS}}
        mails_before = mails
        cpu = os.times()
        row["gen_cpu"] = 100 * (cpu.user + cpu.system - cpu_before.user - cpu_before.system) / secs
        cpu_before = cpu
        rows.append(row)
        print("%4d %7.1f %6.1f %5d %4d %7d %4d %6d %7.1f %5d %6.0f %4.0f%s" % (
            m, rss, anon, fds, thr, backlog, pgconns, row["mails"], row["cps"], row["err"], lag, row["gen_cpu"],
            "".join("%14s" % ("%s/%s" % (fmt(row["p50"][c]), fmt(row["p99"][c]))) for c in CHANNELS)),
            flush=True)
        if cur.first_err:
            print("     first error this minute: %s" % cur.first_err, flush=True)
        if last:
            break
    await asyncio.gather(*tasks)
    # what was sent in the last moment: answered, or counted as errors
    t0 = time.monotonic()
    while load.inflight and time.monotonic() - t0 < 35:
        await asyncio.sleep(0.2)
    for task in load.chat:
        if task is not None and task.done() and not task.cancelled() and task.exception() is None:
            await task.result()["ws"].close()
    with open(a.rows, "w") as f:
        json.dump(rows, f)
    return verdict(a, rows, load)


def verdict(a, rows, load):
    """Flat: the last 10 minutes against minutes 5-15 (shorter runs: last half against first)."""
    n = len(rows)
    if n >= 25:
        early, late = rows[4:15], rows[-10:]
        which = "minutes 5-15 vs the last 10"
    else:
        h = max(1, n // 2)
        early, late = rows[:h], rows[h:] or rows[-1:]
        which = "the first %d minute(s) vs the last %d" % (len(early), len(late))
    med = lambda rs, k: statistics.median(r[k] for r in rs)
    checks = []

    def check(name, ok, text):
        checks.append((name, ok, text))

    e, l = med(early, "rss"), med(late, "rss")
    check("RSS", l <= e * (1 + a.tolerance) + 2, "median %.1f -> %.1f MB (allowed %.1f: +%d %% + 2 MB)"
          % (e, l, e * (1 + a.tolerance) + 2, a.tolerance * 100))
    e, l = med(early, "anon"), med(late, "anon")
    check("RSS anonymous (heap)", l <= e * (1 + a.tolerance) + 2,
          "median %.1f -> %.1f MB (allowed %.1f: +%d %% + 2 MB)" % (e, l, e * (1 + a.tolerance) + 2, a.tolerance * 100))
    e, l = med(early, "fds"), med(late, "fds")
    check("open fds", l <= e * (1 + a.tolerance) + 8, "median %.0f -> %.0f (allowed %.0f: +%d %% + 8)"
          % (e, l, e * (1 + a.tolerance) + 8, a.tolerance * 100))
    e, l = max(r["thr"] for r in early), max(r["thr"] for r in late)
    check("threads", l <= e, "max %d -> %d" % (e, l))
    e, l = max(r["backlog"] for r in early), max(r["backlog"] for r in late)
    check("outbox backlog", l <= max(2 * e, 100), "max %d -> %d (allowed max(2x, 100))" % (e, l))
    e, l = max(r["pg"] for r in early), max(r["pg"] for r in late)
    check("PostgreSQL connections", l <= e + 2, "max %d -> %d (allowed +2)" % (e, l))
    for c in CHANNELS:
        ev = [r["p99"][c] for r in early if r["p99"][c] is not None]
        lv = [r["p99"][c] for r in late if r["p99"][c] is not None]
        if not ev or not lv:
            check("p99 " + c, False, "no samples")
            continue
        e, l = statistics.median(ev), statistics.median(lv)
        check("p99 " + c, l <= 2 * e + 5, "median %.1f -> %.1f ms (allowed 2x + 5 ms)" % (e, l))
    errs = sum(r["err"] for r in rows)
    check("errors", errs == 0, "%d in the run" % errs)
    cps = statistics.median(r["cps"] for r in rows[:-1] or rows)
    check("rate held", cps >= 0.95 * a.rate, "median %.1f contacts/s for %.1f" % (cps, a.rate))
    print()
    print("summary (%d minutes; per channel: requests, median of the minutes' p50 and p99, worst p99 ms)" % n)
    for c in CHANNELS:
        p50 = [r["p50"][c] for r in rows if r["p50"][c] is not None]
        p99 = [r["p99"][c] for r in rows if r["p99"][c] is not None]
        print("  %-8s %9d  p50 %7s  p99 %7s  worst p99 %7s" % (
            c, sum(r["n"][c] for r in rows), fmt(statistics.median(p50) if p50 else None),
            fmt(statistics.median(p99) if p99 else None), fmt(max(p99) if p99 else None)))
    for k, label in (("rss", "RSS MB"), ("anon", "RSS anonymous MB"), ("fds", "open fds"), ("thr", "threads"), ("backlog", "outbox backlog"),
                     ("pg", "PostgreSQL connections"), ("mails", "mails/minute to the sink"), ("cps", "contacts/s")):
        v = [r[k] for r in rows]
        print("  %-24s min %8.1f  median %8.1f  max %8.1f  first %8.1f  last %8.1f" % (
            label, min(v), statistics.median(v), max(v), v[0], v[-1]))
    print("  generator: %d HTTP connections opened, %d found closed by the gateway when idle, "
          "%d requests retried on a new connection after a reused one ended" % (
              load.pool.opened, load.pool.closed_idle, load.pool.retried))
    print()
    print("verdict (%s):" % which)
    for name, ok, text in checks:
        print("  %-26s %s  %s" % (name, "flat" if ok else "NOT FLAT", text))
    bad = [name for name, ok, _ in checks if not ok]
    print("SOAK %s" % ("PASS" if not bad else "FAIL: " + ", ".join(bad)), flush=True)
    return 0 if not bad else 3


# ------------------------------------------------------------------ sink


def sink(a):
    from aiosmtpd.controller import Controller

    class Counter:
        n = 0

        async def handle_DATA(self, server, session, envelope):
            Counter.n += 1
            return "250 OK"

    c = Controller(Counter(), hostname=HOST, port=a.port)
    c.start()
    print("sink listening on %s:%d" % (HOST, a.port), flush=True)
    try:
        while True:  # the count, once a second (the mails themselves are dropped)
            time.sleep(1)
            with open(a.count + ".tmp", "w") as f:
                f.write(str(Counter.n))
            os.replace(a.count + ".tmp", a.count)
    except KeyboardInterrupt:
        pass
    finally:
        c.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sink")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", required=True)
    l = sub.add_parser("load")
    l.add_argument("--port", type=int, required=True)
    l.add_argument("--public-url", required=True)
    l.add_argument("--pid", type=int, required=True, help="the gateway's")
    l.add_argument("--db", required=True)
    l.add_argument("--intake", required=True)
    l.add_argument("--templates", required=True)
    l.add_argument("--sink-count", required=True)
    l.add_argument("--rows", required=True)
    l.add_argument("--rate", type=float, default=0, help="contacts/s, all channels")
    l.add_argument("--burst", type=int, default=0, help="measure capacity for this many seconds instead")
    l.add_argument("--pipe-rate", type=float, default=1.0)
    l.add_argument("--seconds", type=int, default=60)
    l.add_argument("--nonce", required=True)
    l.add_argument("--customers", type=int, default=10000)
    l.add_argument("--connections", type=int, default=64)
    l.add_argument("--chat-sessions", type=int, default=100)
    l.add_argument("--chat-messages", type=int, default=5)
    l.add_argument("--agent-share", type=float, default=0.2)
    l.add_argument("--max-inflight", type=int, default=2000)
    l.add_argument("--tolerance", type=float, default=0.10)
    a = p.parse_args()
    if a.cmd == "sink":
        sink(a)
        return 0
    return asyncio.run(burst(a) if a.burst else run(a))


if __name__ == "__main__":
    sys.exit(main())
