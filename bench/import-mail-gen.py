#!/usr/bin/env python3
"""Writes a mail archive for bench/import-run: an mbox and the same messages as
a Maildir (new/, files named *.eml so email-parse-bench reads them too).

Messages are made of bench/email-templates.txt (English as us-ascii 7bit,
Chinese as UTF-8 base64 with RFC 2047 subjects), ~1.5 KB each with the
Received lines of a real delivery. A third of them answer an earlier one
(In-Reply-To, References, "Re:" subject, the quoted text), customers come
from a pool of 2,000 addresses, dates run over a year, and one message in
ten is written out of place, so that the import has threads to keep and an
order to repair. Some bodies have lines that start with "From ", which the
mbox escapes (mboxrd). DESK_SHARE (0: none) of the replies are the desk's
own, from help@example.com to the customer (a help desk's mailbox holds
its replies beside its customers' mail); with 0 the archive is the same as
before there were any.

usage: import-mail-gen.py N TEMPLATES OUT.mbox MAILDIR [SEED [DESK_SHARE]]
"""
import base64
import os
import random
import sys
import time
from email.utils import format_datetime
from datetime import datetime, timezone

n, templates_path, mbox_path, maildir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 23)
desk_share = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0

templates = []
lang = subj = None
body = []
with open(templates_path, encoding="utf-8") as f:
    for line in f:
        line = line.rstrip("\n")
        if line.startswith("%% "):
            if lang:
                templates.append((lang, subj, "\n".join(body).strip("\n")))
            _, lang, subj = line.split(" ", 2)
            body = []
        elif lang:
            body.append(line)
if lang:
    templates.append((lang, subj, "\n".join(body).strip("\n")))

start = int(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp())
year = 365 * 86400
messages = []  # (date, bytes)
sent = []  # (message-id, refs, subject, lang, customer, date)
for i in range(n):
    t = start + i * year // n + rng.randint(0, 600)
    parent = sent[rng.randrange(len(sent))] if sent and rng.random() < 0.33 else None
    # Drawn only when asked for, so that without desk mail the archive is unchanged.
    desk = bool(parent) and desk_share > 0 and rng.random() < desk_share
    if parent:
        customer, lang = parent[4], parent[3]
        tpl = next(x for x in templates if x[0] == lang)
        subject = parent[2] if parent[2].startswith("Re: ") else "Re: " + parent[2]
        refs = parent[1] + [parent[0]]
        t = max(t, parent[5] + 3600)
    else:
        customer = rng.randint(1, 2000)
        tpl = templates[rng.randrange(len(templates))]
        lang, subject = tpl[0], tpl[1]
        refs = []
    text = tpl[2]
    if i % 50 == 7:
        text += "\n\nFrom what I can see the problem started last week."
    if parent:
        text += "\n\nOn an earlier day, support wrote:\n> We are looking into it.\n> Regards"
    mid = "imp%d.%d@mail.example.net" % (i, customer)
    date = format_datetime(datetime.fromtimestamp(t, timezone.utc))
    relay = i % 16
    sender = "help@example.com" if desk else "customer%d@example.com" % customer
    head = [
        "Return-Path: <%s>" % sender,
        "Received: from mail-out%d.example.net (mail-out%d.example.net [203.0.113.%d])" % (relay, relay, relay + 1),
        "\tby mx1.example.com (Postfix) with ESMTPS id IMP%d" % i,
        "\tfor <help@example.com>; %s" % date,
        "From: Help desk <help@example.com>" if desk else
        "From: %s <customer%d@example.com>" % ("=?UTF-8?B?5a6i5oi3?=" if lang == "zh" else "Customer %d" % customer, customer),
        "To: customer%d@example.com" % customer if desk else "To: Help desk <help@example.com>",
        "Subject: " + ("=?UTF-8?B?%s?=" % base64.b64encode(subject.encode()).decode() if lang == "zh" else subject),
        "Date: " + date,
        "Message-ID: <%s>" % mid,
    ]
    if refs:
        head.append("In-Reply-To: <%s>" % refs[-1])
        head.append("References: " + " ".join("<%s>" % r for r in refs[-10:]))
    head.append("MIME-Version: 1.0")
    if lang == "zh":
        head += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", ""]
        payload = base64.encodebytes((text + "\n\n-- \n发自我的手机\n").encode()).decode().rstrip("\n")
    else:
        head += ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit", ""]
        payload = text + "\n\n-- \nSent from my laptop"
    raw = ("\n".join(head) + "\n" + payload + "\n").encode()
    messages.append((t, raw, sender))
    sent.append((mid, refs, subject, lang, customer, t))

order = list(range(n))
for k in range(n // 10):  # one in ten out of place
    a, b = rng.randrange(n), rng.randrange(n)
    order[a], order[b] = order[b], order[a]

os.makedirs(os.path.join(maildir, "cur"), exist_ok=True)
os.makedirs(os.path.join(maildir, "new"), exist_ok=True)
os.makedirs(os.path.join(maildir, "tmp"), exist_ok=True)
with open(mbox_path, "wb") as mbox:
    for i in order:
        t, raw, sender = messages[i]
        stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(t))
        escaped = b"\n".join((b">" + l if l.lstrip(b">").startswith(b"From ") else l) for l in raw.split(b"\n"))
        mbox.write(b"From %s %s\n" % (sender.encode(), stamp.encode()) + escaped + b"\n")
        with open(os.path.join(maildir, "new", "%d.M%dP1.bench.eml" % (t, i)), "wb") as f:
            f.write(raw)
