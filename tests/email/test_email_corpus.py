#!/usr/bin/python3
"""Every message of the shared corpus through `intake ingest-email`.

For each file: the parse (--dry-run) must succeed under the sanitizers and
yield the sender address and subject that Python's own email package reads
from the same headers (an independent decoder). Then every file is ingested
for real into a fresh database: each exits 0, every distinct Message-ID is
one message, and the raw bytes stored are the file's bytes exactly.

usage: test_email_corpus.py INTAKE_BINARY CORPUS_DIR   (env INTAKE_TEST_PG)
"""
import email
import email.policy
import email.utils
import json
import os
import subprocess
import sys
import unicodedata

# Messages the gateway may refuse, with the reason; none at present: mail
# without any sender address still becomes a ticket (without an ack).
REFUSED = {}


def norm(s):
    """Compare text the way a person reading a ticket would: folded white space."""
    if s is None:
        return ""
    s = unicodedata.normalize("NFC", s)
    return " ".join(s.split())


def oracle(raw):
    """(sender address, subject) as Python's email package decodes them."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    addr = None
    for name in ("From", "Sender"):
        try:
            h = msg[name]
            if h is not None and h.addresses:
                addr = h.addresses[0].addr_spec
                break
        except Exception:
            pass
    if addr is None:
        # Python gave up on the header: take the raw text's address-looking word.
        raw_from = email.message_from_bytes(raw, policy=email.policy.compat32)["From"]
        if raw_from:
            addr = email.utils.parseaddr(str(raw_from))[1] or None
    try:
        subject = msg["Subject"]
        subject = str(subject) if subject is not None else None
    except Exception:
        subject = None
    return fix_surrogates(clean_addr(addr)), fix_surrogates(subject)


def fix_surrogates(s):
    """Python keeps raw 8-bit header bytes as surrogates; they are often UTF-8 (RFC 6532)."""
    if s is None:
        return None
    try:
        return s.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return s


def clean_addr(addr):
    """'"big bug bb"@bug.com' is Python reading `From: Big Bug bb@bug.com`: the address is bb@bug.com."""
    if not addr or "@" not in addr:
        return None
    local, _, domain = addr.rpartition("@")
    if '"' in local:
        local = local.strip('"').split()[-1]
    return (local + "@" + domain).lower()


def psql(url, sql):
    return subprocess.run(["psql", url, "-XAtq", "-c", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def main():
    binary, corpus = sys.argv[1], sys.argv[2]
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(corpus)
                   for f in fs if f.endswith(".eml"))
    if len(files) < 100:
        sys.exit(f"corpus not found or incomplete at {corpus}: {len(files)} files")
    env = dict(os.environ)
    failures, subject_soft = [], []
    parsed = {}
    for path in files:
        raw = open(path, "rb").read()
        name = os.path.relpath(path, corpus)
        p = subprocess.run([binary, "ingest-email", "--dry-run"], input=raw,
                           capture_output=True, env=env)
        if name in REFUSED:
            if p.returncode != 65:
                failures.append(f"{name}: expected refusal ({REFUSED[name]}), got {p.returncode}")
            continue
        if p.returncode != 0:
            failures.append(f"{name}: exit {p.returncode}: {p.stderr.decode(errors='replace')[-400:]}")
            continue
        got = json.loads(p.stdout)
        parsed[name] = got
        want_from, want_subject = oracle(raw)
        if want_from and got.get("from") != want_from:
            failures.append(f"{name}: sender {got.get('from')!r}, headers say {want_from!r}")
        if want_from is None and got.get("from") is not None and "@" not in got["from"]:
            failures.append(f"{name}: sender {got.get('from')!r} is not an address")
        if not want_subject and got.get("subject"):
            # Python's parser stopped early (a broken header line, "Subject :" with
            # obsolete white space); the subject we found must be in the headers.
            if norm(got["subject"]).encode() not in b" ".join(raw.split()):
                failures.append(f"{name}: subject {got['subject']!r} not in the message")
            else:
                subject_soft.append(name)
        elif norm(got.get("subject")) != norm(want_subject):
            # Where the two decoders disagree on undecodable bytes, the decodable
            # text must still be there.
            w = norm(want_subject).replace("\ufffd", "")
            g = norm(got.get("subject"))
            ascii_w = "".join(ch for ch in w if ord(ch) < 128 and ch.isalnum())
            ascii_g = "".join(ch for ch in g if ord(ch) < 128 and ch.isalnum())
            if ascii_w != ascii_g or not ascii_w and w != g:
                failures.append(f"{name}: subject {g!r}, headers say {w!r}")
            else:
                subject_soft.append(name)

    # Real ingestion into a database of its own.
    admin = os.environ["INTAKE_TEST_PG"]
    db = f"t_email_corpus_{os.getpid()}"
    psql(admin, f"CREATE DATABASE {db}")
    url = admin.rsplit("/", 1)[0] + "/" + db
    env["INTAKE_DATABASE_URL"] = url
    try:
        subprocess.run([binary, "migrate"], env=env, check=True, capture_output=True)
        first_file = {}
        for path in files:
            name = os.path.relpath(path, corpus)
            if name in REFUSED:
                continue
            raw = open(path, "rb").read()
            p = subprocess.run([binary, "ingest-email"], input=raw, capture_output=True, env=env)
            if p.returncode != 0:
                failures.append(f"{name}: ingest exit {p.returncode}: {p.stderr.decode(errors='replace')[-300:]}")
                continue
            mid = parsed[name]["message_id"]
            first_file.setdefault(mid, (name, raw))
        stored = int(psql(url, "SELECT count(*) FROM messages"))
        if stored != len(first_file):
            failures.append(f"{stored} messages stored for {len(first_file)} distinct Message-IDs")
        for mid, (name, raw) in first_file.items():
            key = "email:" + mid
            got_hex = psql(url, "SELECT encode(s.raw, 'hex') FROM message_sources s JOIN messages m "
                                f"ON m.id = s.message_id WHERE m.idempotency_key = $${key}$$")
            if bytes.fromhex(got_hex) != raw:
                failures.append(f"{name}: stored raw bytes differ from the file")
    finally:
        psql(admin, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

    print(f"{len(files)} messages, {len(parsed)} parsed, {len(REFUSED)} refused by design, "
          f"{len(subject_soft)} subjects matched on their decodable text only")
    for f in failures:
        print("FAIL", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
