"""The scenarios: each starts what it needs on a fresh database, drives load
through a real fault, and returns a Row for the table. A scenario does not
judge; faults.py does, from the Row.

Timing comes from the Params: the short form (CTest) uses seconds-long loads
and outages, the long form (bench/faults-run) bigger loads and the issue's 30 s
and 300 s outages.
"""
import collections
import json
import os
import time
import urllib.request

import checks
import clients
import procs


class Row:
    def __init__(self, name):
        self.name = name
        self.attempted = self.acked = 0
        self.lost, self.duplicated, self.unacked_stored = [], [], []
        self.recovery = None
        self.drained = None
        self.deliveries = checks.Deliveries()
        self.notes = []
        self.failures = []  # what makes the scenario fail besides lost/duplicated
        # A gateway killed between a delivery and its record sends that one again
        # (same Idempotency-Key or Message-ID): one per kill -9 of a gateway.
        self.repeats_allowed = 0
        self.refusals = collections.Counter()  # what retried attempts got: 503, "reset" ...


class Env:
    """What every scenario shares: the cluster, the binary, the receivers."""

    def __init__(self, binary, cluster, workdir, params):
        self.binary, self.cluster, self.workdir, self.p = binary, cluster, workdir, params
        self.run_no = int(time.time()) % 100000

    def fresh(self, name, spool=False, imap_port=None, smtp_port=None, sms_url=None):
        """A migrated database named after the scenario and a config file."""
        db = f"faults_{name}"
        self.cluster.create_db(db)
        url = self.cluster.url(db)
        procs.migrate(self.binary, url)
        cfg = {
            "public_url": clients.PUBLIC_URL + "/",
            "database": {"workers": 2},
            "outbox": {"backoff_seconds": 1, "poll_ms": 100, "max_attempts": 40,
                       "lease_seconds": 5},
            "limits": {"auth_failures_per_minute": 0},
            "channels": {
                "email": {"from_address": "help@example.com", "acks_per_sender_per_hour": 1000},
                "chat": {"allowed_origins": ["*"], "messages_per_minute": 600,
                         "messages_per_minute_per_address": 100000},
                "phone": {"default_country_code": "86", "twilio_auth_token": clients.TWILIO_TOKEN,
                          "cti_token": clients.CTI_TOKEN, "webhook_secret": clients.HOOK_SECRET,
                          "sms": {"url": sms_url or "http://127.0.0.1:9/sms",
                                  "from": "+861000000000", "account": "AC1", "token": "t"}}},
        }
        if smtp_port:
            cfg["smtp"] = {"url": f"smtp://127.0.0.1:{smtp_port}", "starttls": "no"}
        if spool:
            cfg["spool"] = {"dir": os.path.join(self.workdir, f"spool-{name}")}
        if imap_port:
            cfg["channels"]["email"]["imap"] = {"interval_seconds": 1, "mailboxes": [
                {"url": f"imap://127.0.0.1:{imap_port}/INBOX", "user": "agent",
                 "password_env": "FAULT_IMAP_PASSWORD", "starttls": "no"}]}
        path = os.path.join(self.workdir, f"{name}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return db, url, path

    def gateway(self, stack, url, config, name):
        os.environ["FAULT_IMAP_PASSWORD"] = "secret"
        return stack.push(procs.Gateway(self.binary, url, config, self.workdir, name).start())


def metric(gw, name):
    try:
        with urllib.request.urlopen(gw.base + "/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def finish(env, row, db, pairs, fault_end, sink=None, smtp=None, drain=None):
    """Judges contacts and deliveries once the loads ([(Load, key_of)]) are over."""
    loads = [load for load, _ in pairs]
    acked, attempted = set(), set()
    refusals = collections.Counter()
    for load, key_of in pairs:
        refusals.update(load.refusals)
        row.attempted += load.attempted
        row.acked += len(load.acked)
        acked |= {key_of(i) for i in load.acked}
        attempted |= {key_of(i) for i in range(load.attempted)}
        row.failures += load.errors[:5]
    row.refusals = refusals
    if refusals:
        row.notes.append("attempts answered before the acknowledgement: " + ", ".join(
            f"{n} x {what}" for what, n in refusals.most_common()))
    t0 = time.time()
    drained = checks.wait_outbox(env.cluster, db, drain or env.p.drain_seconds)
    row.drained = time.time() - fault_end if drained else None
    if not drained:
        row.notes.append(f"outbox not drained {int(time.time() - t0)} s after the load: "
                         f"its backlog did not shrink for {drain or env.p.drain_seconds} s")
    stored = checks.stored_contacts(env.cluster, db)
    row.lost, row.duplicated, row.unacked_stored = checks.judge_contacts(stored, acked, attempted)
    if sink or smtp:
        row.deliveries = checks.judge_deliveries(env.cluster, db, sink, smtp)
    recoveries = [r for r in (load.recovery(fault_end) for load in loads) if r is not None]
    row.recovery = max(recoveries) if recoveries else None
    return row


def api_load(env, gw_port, sink, run, clients_n=None):
    send = clients.api_sender(run, procs.Gateway.API_TOKEN, sink.url("/cb"))
    return (clients.Load(send, clients_n or env.p.clients, gw_port), lambda i: f"{run}-{i}")


def phone_loads(env, gw_port, run):
    out = []
    for route, maker in (("twilio", clients.twilio_sender), ("cti", clients.cti_sender),
                         ("native", clients.native_sender)):
        key = (lambda r: lambda i: f"call:{r}:{clients.phone_call_id(r, run, i)}")(route)
        out.append((clients.Load(maker(run, env.run_no), max(1, env.p.clients // 3), gw_port), key))
    return out


def stop_gateway(gw, row):
    """SIGTERM: a gateway must drain and exit 0."""
    rc = gw.term()
    if rc != 0:
        row.failures.append(f"gateway on port {gw.port} exited {rc} on SIGTERM")


def database_crash(env):
    """The fault: pg_ctl stop -m immediate, a pause, start (recovery included)."""
    def fault():
        env.cluster.crash()
        time.sleep(env.p.down_seconds)
        end = time.time()
        env.cluster.start()
        return end
    return fault


def run_loads(env, pairs, fault, pause=None):
    """Runs the loads, calls fault() after the warm-up (it returns when the
    fault ended), lets the loads run on for after_seconds, then stops them
    taking new contacts and waits for those begun; returns the fault's end."""
    for load, _ in pairs:
        load.run(24 * 3600, give_up=env.p.give_up_seconds,
                 pause=env.p.pause if pause is None else pause)
    time.sleep(env.p.warm_seconds)
    fault_end = fault()
    time.sleep(env.p.after_seconds)
    for load, _ in pairs:
        load.stop()
    for load, _ in pairs:
        load.wait()
    return fault_end


# --- (a) kill -9 of the gateway, each channel over HTTP ------------------------

def gateway_kill(env, name, make_loads, with_smtp=False, with_sink=True, sigterm=False,
                 after_load=None):
    row = Row(name)
    stack = procs.Stack()
    try:
        sink = stack.push(procs.HttpSink().start()) if with_sink else None
        smtp = stack.push(procs.SmtpServer(os.path.join(env.workdir, name)).start()) \
            if with_smtp else None
        db, url, config = env.fresh(name, smtp_port=smtp.port if smtp else None,
                                    sms_url=sink.url("/sms") if sink else None)
        gw = env.gateway(stack, url, config, name)
        pairs = make_loads(env, lambda: gw.port, sink, f"{name[:6]}{env.run_no}")

        def fault():
            for k in range(env.p.kills):
                if sigterm:
                    rc = gw.term()
                    if rc != 0:
                        row.failures.append(f"the gateway exited {rc} on SIGTERM")
                else:
                    row.repeats_allowed += 1
                    gw.kill9()
                time.sleep(env.p.down_seconds)
                end = time.time()
                gw.start()
                if k + 1 < env.p.kills:
                    time.sleep(env.p.between_kills)
            return end

        fault_end = run_loads(env, pairs, fault)
        if after_load:
            after_load(env, row, gw, db, pairs)
        finish(env, row, db, pairs, fault_end, sink, smtp)
        stop_gateway(gw, row)
    finally:
        stack.close()
    return row


def api_kill(env):
    return gateway_kill(env, "api_kill", lambda e, port, sink, run: [api_load(e, port, sink, run)])


def api_sigterm(env):
    """SIGTERM under load: requests on open connections are answered 503 +
    Connection: close while the gateway drains, new connections refused;
    none may be reset (a sender that gets a reset may not retry)."""
    row = gateway_kill(env, "api_sigterm",
                       lambda e, port, sink, run: [api_load(e, port, sink, run)], sigterm=True)
    if row.refusals["reset"]:
        row.failures.append(f"{row.refusals['reset']} requests were reset by a gateway "
                            "stopping with SIGTERM")
    return row


def email_http_kill(env):
    def loads(e, port, sink, run):
        send = clients.email_http_sender(run, procs.Gateway.API_TOKEN)
        return [(clients.Load(send, e.p.clients, port), lambda i: f"{run}-http-{i}")]
    return gateway_kill(env, "email_http_kill", loads, with_smtp=True, with_sink=False,
                        after_load=desk_answers)


def desk_answers(env, row, gw, db, pairs):
    """Agents answer and resolve every acknowledged contact's ticket (a reply
    mail and a survey link each) while the gateway is killed once more. A
    reply is posted under a key until it is accepted; resolving again is
    harmless (409 once closed)."""
    acked = {key_of(i) for load, key_of in pairs for i in load.acked}
    tickets = [t for k, t in env.cluster.sql(db, r"""
        SELECT substring(m.body from 'fault contact (\S+)'), t.number
          FROM messages m JOIN tickets t ON t.id = m.ticket_id
         WHERE m.direction = 'in' AND m.body LIKE '%fault contact %'""") if k in acked]
    tickets = tickets[:env.p.desk_answers]
    done = set()
    auth = {"Authorization": f"Bearer {procs.Gateway.API_TOKEN}",
            "Content-Type": "application/json"}

    def answer(j, conn):
        number = tickets[j]
        if j not in done:
            body = json.dumps({"text": f"Please restart it. ({number})", "key": f"r-{number}"})
            if not clients.check_status(conn.post(f"/v1/tickets/{number}/replies", body, auth),
                                        "POST /v1/tickets/{n}/replies"):
                return False
            done.add(j)
        status = conn.post(f"/v1/tickets/{number}/status", json.dumps({"status": "resolved"}),
                           auth)
        return status == 409 or clients.check_status(status, "POST /v1/tickets/{n}/status")

    desk = clients.Load(answer, env.p.clients, lambda: gw.port)
    desk.run(24 * 3600, give_up=env.p.give_up_seconds, limit=len(tickets))
    time.sleep(env.p.warm_seconds / 2)
    row.repeats_allowed += 1
    gw.kill9()
    time.sleep(env.p.down_seconds)
    gw.start()
    desk.wait()
    row.failures += desk.errors[:5]
    row.notes.append(f"{len(desk.acked)} of {len(tickets)} tickets answered and resolved "
                     "across a second kill -9")
    if len(desk.acked) < len(tickets):
        row.failures.append("not every ticket could be answered and resolved")


def phone_kill(env):
    return gateway_kill(env, "phone_kill", lambda e, port, sink, run: phone_loads(e, port, run))


# --- (b) PostgreSQL crash-restart -------------------------------------------

def pg_crash(env):
    row = Row("pg_crash")
    stack = procs.Stack()
    try:
        sink = stack.push(procs.HttpSink().start())
        db, url, config = env.fresh("pg_crash", sms_url=sink.url("/sms"))
        gw = env.gateway(stack, url, config, "pg_crash")
        run = f"pgc{env.run_no}"
        pairs = [api_load(env, lambda: gw.port, sink, run)]

        fault_end = run_loads(env, pairs, database_crash(env))
        finish(env, row, db, pairs, fault_end, sink)
        stop_gateway(gw, row)
    finally:
        stack.close()
        env.cluster.start()
    return row
