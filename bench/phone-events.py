#!/usr/bin/env python3
"""bench/phone-run's helper, two commands, standard library only.

sign: writes the signed call events that phone.lua sends, one file per wrk
  thread (PREFIX.<thread>.txt), one request a line: the X-Intake-Signature
  value, a tab, the JSON body. wrk's Lua has no HMAC, so every body is signed
  here, with INTAKE_WEBHOOK_SECRET from the environment (not argv, which ps
  shows) and t = now: the gateway accepts t for five minutes, so the files
  are written right before the phase that sends them.

  The mix is a call centre's: the threads keep ACTIVE_CALLS calls in
  progress between them, and each emits the next event of a random one of
  its calls, so the events of one call are some thousands of events apart
  (as in life, where a call lasts minutes) and seldom in flight at the same
  time (1 to 2 % come within 64 events of their call's previous one). The
  calls in progress at the start are joined at a random event, so the mix
  of event kinds is the steady one from the first request. A call rings,
  then is either answered and ended (a logged call) or missed (a callback
  ticket). The caller's number comes from a pool (--numbers numbers from
  --first-number), so some callers call again while their callback ticket
  is still open, and one in four numbers is sent in national form
  ("138...") to exercise the default country code. Every event_id and
  call_id carries the run's nonce, so reruns never collide.

capture: reads the PostgreSQL log written while log_statement = 'all' was on
  during the warm-up, takes the documents the gateway passed to
  intake_call_event for the warm-up's events, and writes one template per
  (event kind, caller name) as CSV for pgbench-phone.sql: the document the
  gateway built, every key and value as it was, with the call id, the
  caller's number and the event time replaced by @CALL@, @PHONE@ and @AT@.
  (The log shows the parameter as jsonb prints it, keys in jsonb's order;
  the template is that, written compact as the gateway writes it.)
"""
import argparse
import csv
import hashlib
import hmac
import json
import os
import random
import re
import sys
import time

KINDS = ["ringing", "answered", "ended", "missed"]  # pgbench-phone.sql's step numbers
# Callers as phone systems name them: pinyin, Chinese, and none (a withheld name).
NAMES = ["Wang Fang", "Li Wei", "Zhang Min", "Liu Yang", "王芳", "李伟", "陈静", None]
OUR_NUMBER = "+861012345678"
ACTIVE_CALLS = 8192


def number(i, national):
    """Pool number i: a mainland mobile number; pgbench-phone.sql builds the same."""
    return ("138%08d" if national else "+86138%08d") % i


def call_events(rng, call_id, first, numbers, missed_pct, now):
    """The events of one call, in the order a phone system sends them."""
    i = rng.randint(first, first + numbers - 1)
    name = NAMES[rng.randrange(len(NAMES))]
    base = {"call_id": call_id, "from": number(i, rng.random() < 0.25), "to": OUR_NUMBER}
    if name:
        base["caller_name"] = name
    ring = rng.randint(3, 25)
    if rng.randint(1, 100) <= missed_pct:
        plan = [("ringing", now - ring, {}), ("missed", now, {"cause": "no-answer"})]
    else:
        talk = rng.randint(15, 900)
        plan = [("ringing", now - talk - ring, {}), ("answered", now - talk, {}),
                ("ended", now, {"duration": talk})]
    out = []
    for kind, at, extra in plan:
        ev = {"event_id": "%s-%s" % (call_id, kind), "type": kind, "at": at}
        ev.update(base)
        ev.update(extra)
        out.append(ev)
    return out


def sign(args):
    secret = os.environ.get("INTAKE_WEBHOOK_SECRET", "").encode()
    if not secret:
        sys.exit("phone-events.py sign: INTAKE_WEBHOOK_SECRET is not set")
    now = int(time.time())
    calls = events = 0
    active = max(1, ACTIVE_CALLS // args.threads)
    for tid in range(1, args.threads + 1):
        rng = random.Random("%s-%d" % (args.nonce, tid))
        n = 0

        def new_call():
            nonlocal n, calls
            n += 1
            calls += 1
            return call_events(rng, "%s-%d-%d" % (args.nonce, tid, n), args.first_number,
                               args.numbers, args.missed_pct, now)

        slots = []
        for _ in range(active):
            evs = new_call()
            slots.append(evs[rng.randrange(len(evs)):])
        with open("%s.%d.txt" % (args.out, tid), "w", encoding="utf-8") as f:
            for _ in range(args.per_thread):
                k = rng.randrange(active)
                if not slots[k]:
                    slots[k] = new_call()
                ev = slots[k].pop(0)
                body = json.dumps(ev, ensure_ascii=False, separators=(",", ":"))
                mac = hmac.new(secret, ("%d.%s" % (now, body)).encode(), hashlib.sha256)
                f.write("t=%d,v1=%s\t%s\n" % (now, mac.hexdigest(), body))
                events += 1
    print("events=%d calls=%d t=%d" % (events, calls, now))


PARAM = re.compile(r"DETAIL:  parameters: \$1 = '(.*)'$")


def capture(args):
    """One template per (kind, name): the first document of each seen in the log."""
    prefix = "phone:native:%s-" % args.nonce
    templates = {}
    seen = 0
    with open(args.log, "rb") as f:
        f.seek(args.offset)
        for raw in f:
            m = PARAM.search(raw.decode("utf-8", "replace").rstrip("\n"))
            if not m:
                continue
            logged = m.group(1).replace("''", "'")
            if not logged.startswith("{") or prefix not in logged:
                continue
            # PostgreSQL logs the parameter as jsonb prints it (", " and ": ");
            # written back compact, as the gateway sends it (jansson, JSON_COMPACT).
            doc = json.loads(logged)
            text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
            call = doc.get("call") or {}
            if not doc.get("key", "").startswith(prefix) or call.get("kind") not in KINDS:
                continue
            seen += 1
            kind, name = call["kind"], doc.get("name")
            if name not in NAMES:
                sys.exit("capture: unexpected caller name %r in %s" % (name, doc["key"]))
            tid = KINDS.index(kind) * len(NAMES) + NAMES.index(name) + 1
            if tid in templates:
                continue
            t = text.replace(call["call_id"], "@CALL@").replace(doc["phone"], "@PHONE@")
            t = re.sub(r'"(at|received_at)":%d(?=[,}])' % call["at"], r'"\1":@AT@', t)
            if "@AT@" not in t or t.count("@PHONE@") < 2:
                sys.exit("capture: cannot make a template of %s" % text)
            # The template gives back the very document it came from.
            back = t.replace("@CALL@", call["call_id"]).replace("@PHONE@", doc["phone"])
            if back.replace("@AT@", str(call["at"])) != text:
                sys.exit("capture: template does not round-trip: %s" % text)
            json.loads(back.replace("@AT@", "1"))
            templates[tid] = (kind, name or "", t)
    want = len(KINDS) * len(NAMES)
    if len(templates) != want:
        sys.exit("capture: %d documents, %d of %d (kind, name) templates; a longer warm-up?"
                 % (seen, len(templates), want))
    with open(args.out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        for tid in sorted(templates):
            w.writerow((tid,) + templates[tid])
    print("documents=%d templates=%d names=%d" % (seen, len(templates), len(NAMES)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sign", help="write signed events for phone.lua")
    s.add_argument("--nonce", required=True)
    s.add_argument("--threads", type=int, required=True)
    s.add_argument("--per-thread", type=int, required=True)
    s.add_argument("--numbers", type=int, required=True, help="callers' number pool: its size")
    s.add_argument("--first-number", type=int, default=1, help="the pool's first number")
    s.add_argument("--missed-pct", type=int, required=True)
    s.add_argument("--out", required=True, help="file prefix: OUT.<thread>.txt")
    c = sub.add_parser("capture", help="templates for pgbench from the warm-up's log")
    c.add_argument("--log", required=True)
    c.add_argument("--offset", type=int, default=0)
    c.add_argument("--nonce", required=True, help="the warm-up's nonce")
    c.add_argument("--out", required=True, help="CSV: id, kind, name, document template")
    a = p.parse_args()
    sign(a) if a.cmd == "sign" else capture(a)


if __name__ == "__main__":
    main()
