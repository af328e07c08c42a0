#!/usr/bin/python3
"""The fault suite (issue 22, "Every channel under fault"): real load on every
channel, real faults (kill -9 of gateways and of the mail pipe, PostgreSQL
crash-restarted and away, the SMTP server and the SMS provider away, two
gateways behind haproxy), and afterwards a check in SQL and at the receivers
that every acknowledged contact was stored exactly once and every
acknowledgement, reply and survey link delivered exactly once.

    faults.py --binary build-test/intake [--long] [--only NAME,...] [--pg-port N]

--short (the default) is CTest's `faults.short`: small loads, outages of a few
seconds, about two minutes. --long is bench/faults-run's: bigger loads, the
30 s database outage with the spool, the SMTP server and the SMS provider
away for --outage seconds (300). Prints the table; exits 1 when anything
acknowledged was lost or stored twice, a delivery was missing or repeated, or
a scenario could not run. Everything listens on 127.0.0.1; everything it
starts it stops (also on failure), the PostgreSQL cluster included.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import procs  # noqa: E402
import scenarios  # noqa: E402
import scenarios_more  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Params:
    def __init__(self, long_form, outage):
        self.long = long_form
        self.clients = 12 if long_form else 4
        self.warm_seconds = 5 if long_form else 1.5   # load before the fault
        self.after_seconds = 5 if long_form else 1.5  # load after the fault ended
        self.give_up_seconds = 90
        # Seconds a client waits between two contacts: the short form's loads stay
        # small enough for the outbox to drain in seconds on a loaded CI host.
        self.pause = 0.0 if long_form else 0.03
        # Phone events while the database is away: the spool replays them one
        # transaction each (~75/s here), so an unpaced 30 s outage (24,000
        # events) takes minutes to replay; about 100 events/s is plenty of calls.
        self.spool_pause = 0.1
        self.kills = 3 if long_form else 1     # kill -9s per gateway-kill scenario
        self.between_kills = 3 if long_form else 1
        self.down_seconds = 1 if long_form else 0.5
        self.db_away_seconds = 30 if long_form else 5
        self.outage_seconds = outage if outage is not None else (300 if long_form else 5)
        self.drain_seconds = 30  # the outbox backlog may stand still this long
        # Tickets answered and resolved in email_http_kill (a reply and a survey mail each):
        # mail leaves one SMTP session at a time, 15-40 a second on a loaded host.
        self.desk_answers = None if long_form else 30


SCENARIOS = [
    ("api_kill", scenarios.api_kill),
    ("api_sigterm", scenarios.api_sigterm),
    ("pg_crash", scenarios.pg_crash),
    ("pg_away_spool", scenarios_more.pg_away_spool),
    ("email_http_kill", scenarios.email_http_kill),
    ("mail_pipe_kill", scenarios_more.mail_pipe_kill),
    ("imap_kill", scenarios_more.imap_kill),
    ("phone_kill", scenarios.phone_kill),
    ("chat_kill", scenarios_more.chat_kill),
    ("smtp_away", scenarios_more.smtp_away),
    ("sms_away", scenarios_more.sms_away),
    ("haproxy_two_gateways", scenarios_more.haproxy_two),
]


def fmt_recovery(r):
    return "-" if r is None else f"{r:.2f}"


def table(rows):
    head = ("scenario", "attempted", "acknowledged", "lost", "duplicated", "recovery s",
            "deliveries", "missing", "repeated", "drained s")
    lines = [head]
    for r in rows:
        d = r.deliveries
        lines.append((r.name, str(r.attempted), str(r.acked), str(len(r.lost)),
                      str(len(r.duplicated)), fmt_recovery(r.recovery),
                      f"{d.received}/{d.expected}", str(d.missing), str(d.repeated),
                      fmt_recovery(r.drained)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def verdict(r):
    """The reasons a scenario failed ([] when it held)."""
    why = list(r.failures)
    if r.lost:
        why.append(f"{len(r.lost)} acknowledged contacts lost, e.g. {r.lost[:3]}")
    if r.duplicated:
        why.append(f"{len(r.duplicated)} contacts stored twice, e.g. {r.duplicated[:3]}")
    if r.deliveries.missing:
        why.append(f"{r.deliveries.missing} deliveries missing")
    if r.deliveries.repeated > r.repeats_allowed:
        why.append(f"{r.deliveries.repeated} deliveries repeated (at most {r.repeats_allowed} "
                   "allowed: one per kill -9, the delivery it cut between its send and its record)")
    if r.acked == 0:
        why.append("nothing was acknowledged: the load did not run")
    return why


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--long", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--pg-port", type=int, default=0)
    ap.add_argument("--outage", type=float, default=None,
                    help="seconds the SMTP server and the SMS provider are away")
    ap.add_argument("--workdir", default="")
    args = ap.parse_args()
    params = Params(args.long, args.outage)
    chosen = [s for s in SCENARIOS if not args.only or s[0] in args.only.split(",")]
    if not chosen:
        sys.exit(f"no scenario named {args.only}")
    workdir = args.workdir or tempfile.mkdtemp(prefix="intake-faults-")
    os.makedirs(workdir, exist_ok=True)
    os.chmod(workdir, 0o755)  # the cluster's folder inside belongs to postgres when we are root
    cluster = procs.Cluster(os.path.join(ROOT, "scripts"), os.path.join(workdir, "pg"),
                            args.pg_port or procs.free_port())
    rows, failed = [], False
    t_start = time.time()
    try:
        failed = True  # until the cluster runs: its log stays in the workdir
        cluster.start()
        failed = False
        env = scenarios.Env(os.path.abspath(args.binary), cluster, workdir, params)
        for name, fn in chosen:
            t0 = time.time()
            print(f"== {name}", flush=True)
            try:
                row = fn(env)
            except Exception:  # noqa: BLE001 - a scenario that cannot run fails the suite
                traceback.print_exc()
                row = scenarios.Row(name)
                row.failures.append("the scenario could not run (traceback above)")
            rows.append(row)
            why = verdict(row)
            for note in row.notes + row.deliveries.notes[:10]:
                print(f"   note: {note}")
            if row.unacked_stored:
                print(f"   {len(row.unacked_stored)} stored without the sender seeing its "
                      "acknowledgement (committed, answer lost; the retry found it)")
            print(f"   {'FAILED: ' + '; '.join(why) if why else 'held'} ({time.time() - t0:.1f} s)",
                  flush=True)
            failed |= bool(why)
    finally:
        if failed:
            cluster.stop()  # its log stays in the workdir
        else:
            cluster.remove()
        if not args.workdir and not failed:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(rows))
    print(f"\n{'long' if args.long else 'short'} form, {time.time() - t_start:.0f} s; "
          f"{sum(not verdict(r) for r in rows)} passed, {sum(bool(verdict(r)) for r in rows)} failed")
    if failed:
        print(f"logs kept in {workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
