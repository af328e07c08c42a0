"""The scenarios beyond a killed gateway on one HTTP route: PostgreSQL away with
the webhook spool, the mail pipe killed and told to retry, the IMAP poller
killed, chat conversations across a killed gateway, the SMTP server and the
SMS provider away, and two gateways behind haproxy.
"""
import os
import time

import chat_client
import checks
import clients
import procs
from scenarios import (Row, api_load, database_crash, finish, metric, phone_loads, run_loads,
                       stop_gateway)


# --- (c) PostgreSQL away, the phone routes spooling ------------------------------

def pg_away_spool(env):
    row = Row("pg_away_spool")
    stack = procs.Stack()
    try:
        sink = stack.push(procs.HttpSink().start())
        db, url, config = env.fresh("pg_away_spool", spool=True, sms_url=sink.url("/sms"))
        gw = env.gateway(stack, url, config, "pg_away_spool")
        pairs = phone_loads(env, lambda: gw.port, f"spl{env.run_no}")
        window = {}

        def fault():
            env.cluster.stop()
            window["start"] = time.time()
            time.sleep(env.p.db_away_seconds)
            window["spooled"] = metric(gw, "intake_spool_events")
            window["end"] = time.time()
            env.cluster.start()
            return window["end"]

        fault_end = run_loads(env, pairs, fault, pause=env.p.spool_pause)
        # Verified webhooks are answered 200 while the database is away: none retried.
        refused = sum(1 for load, _ in pairs for start, end, ok in load.attempts
                      if not ok and start >= window["start"] and end <= window["end"])
        answered = sum(1 for load, _ in pairs for start, end, ok in load.attempts
                       if ok and start >= window["start"] and end <= window["end"])
        row.notes.append(f"while the database was away: {answered} answered 200, {refused} not; "
                         f"{window['spooled']:.0f} events in the spool at the end")
        if refused or not answered:
            row.failures.append("webhooks were not all answered 200 while the database was away")
        end = time.time() + 120 + 10 * env.p.db_away_seconds
        while time.time() < end and metric(gw, "intake_spool_events") != 0:
            time.sleep(0.25)
        row.notes.append(f"spool replayed {time.time() - fault_end:.1f} s after the database returned")
        finish(env, row, db, pairs, fault_end, sink)
        stop_gateway(gw, row)
    finally:
        stack.close()
        env.cluster.start()
    return row


# --- (d) the mail pipe: killed runs and tempfails --------------------------------

def mail_pipe_kill(env):
    """ingest-email runs killed with SIGKILL midway (every 4th), and the
    database crash-restarted under them: exit 75 or death by a signal makes
    the MTA (here, the client) deliver the same message again."""
    row = Row("mail_pipe_kill")
    stack = procs.Stack()
    try:
        smtp = stack.push(procs.SmtpServer(os.path.join(env.workdir, "pipe")).start())
        db, url, config = env.fresh("mail_pipe_kill", smtp_port=smtp.port)
        gw = env.gateway(stack, url, config, "mail_pipe_kill")  # sends the acknowledgements
        run = f"pip{env.run_no}"
        pipe = clients.PipeSender(run, env.binary, clients.pipe_env(url), kill_every=4)
        pairs = [(clients.Load(pipe, max(2, env.p.clients // 2), lambda: 0),
                  lambda i: f"{run}-pipe-{i}")]

        fault_end = run_loads(env, pairs, database_crash(env))
        row.notes.append(f"{pipe.runs} pipe runs: {pipe.killed} killed, {pipe.tempfails} "
                         "answered 75 (EX_TEMPFAIL) and delivered again")
        if not pipe.killed:
            row.failures.append("no ingest-email run was killed: the fault did not happen")
        finish(env, row, db, pairs, fault_end, None, smtp)
        stop_gateway(gw, row)
    finally:
        stack.close()
        env.cluster.start()
    return row


# --- (d) the IMAP poll: the poller killed while mail arrives ---------------------

def imap_kill(env):
    """Mail dropped into dovecot's INBOX (acknowledged: the server has it)
    while the polling gateway is killed: what it left unread it reads
    again, nothing twice."""
    row = Row("imap_kill")
    stack = procs.Stack()
    try:
        imap = stack.push(procs.Dovecot(os.path.join(env.workdir, "imap")).start())
        smtp = stack.push(procs.SmtpServer(os.path.join(env.workdir, "imap-smtp")).start())
        db, url, config = env.fresh("imap_kill", imap_port=imap.port, smtp_port=smtp.port)
        gw = env.gateway(stack, url, config, "imap_kill")
        run = f"imp{env.run_no}"

        def deliver(i, conn):
            imap.deliver(clients.raw_mail(run, i, "imap"))
            return True

        pairs = [(clients.Load(deliver, 1, lambda: 0), lambda i: f"{run}-imap-{i}")]

        def fault():
            for _ in range(env.p.kills):
                row.repeats_allowed += 1
                gw.kill9()
                time.sleep(env.p.down_seconds + 1)
                end = time.time()
                gw.start()
                time.sleep(env.p.between_kills)
            return end

        fault_end = run_loads(env, pairs, fault, pause=0.02)
        want = len(pairs[0][0].acked)
        end = time.time() + 60
        while time.time() < end:
            stored = checks.stored_contacts(env.cluster, db)
            if sum(1 for k in stored if k.startswith(f"{run}-imap-")) >= want:
                break
            time.sleep(0.5)
        finish(env, row, db, pairs, fault_end, None, smtp)
        left = imap.unread()
        row.notes.append(f"{left} messages left unread on the server")
        if left:
            row.failures.append(f"{left} messages left unread on the IMAP server")
        stop_gateway(gw, row)
    finally:
        stack.close()
    return row


# --- (d) chat: messages and their acks, agent replies -----------------------------

def chat_kill(env):
    """Customers chat through a gateway killed twice: once while they send
    (each message resent under its client_id until acked), once while agents'
    replies are pushed (each customer reconnects with its last seq and must
    see the reply exactly once)."""
    row = Row("chat_kill")
    stack = procs.Stack()
    try:
        db, url, config = env.fresh("chat_kill")
        gw = env.gateway(stack, url, config, "chat_kill")
        run = f"cht{env.run_no}"
        chats = chat_client.Conversations(run, lambda: gw.port, procs.Gateway.API_TOKEN)
        pairs = [(clients.Load(chats.say, env.p.clients, lambda: gw.port), chats.key)]

        def kill():
            row.repeats_allowed += 1
            gw.kill9()
            time.sleep(env.p.down_seconds)
            end = time.time()
            gw.start()
            return end

        fault_end = run_loads(env, pairs, kill, pause=env.p.pause * 3)
        # Replies: one per acknowledged conversation, pushed across a second kill.
        answered = sorted(pairs[0][0].acked)
        replies = clients.Load(chats.hear_reply(answered), env.p.clients, lambda: gw.port)
        replies.run(3600, give_up=env.p.give_up_seconds, limit=len(answered))
        time.sleep(env.p.warm_seconds / 2)
        kill()
        replies.wait()
        finish(env, row, db, pairs, fault_end)
        d = row.deliveries
        d.expected = len(answered)
        d.received = sum(1 for n in chats.heard.values() if n >= 1)
        d.missing = d.expected - d.received
        d.repeated = sum(n - 1 for n in chats.heard.values() if n > 1)
        row.failures += replies.errors[:5]
        stop_gateway(gw, row)
    finally:
        stack.close()
    return row


# --- (e) the SMTP server and the SMS provider away ----------------------------------

def receiver_away(env, row, db, receiver, what):
    """The fault: the receiver away for the outage, then back on its port.
    The loads that run through it are paced (about 25 contacts per client
    during the outage, whatever its length)."""
    def fault():
        receiver.away()
        time.sleep(env.p.outage_seconds)
        row.notes.append(f"{checks.outbox_open(env.cluster, db)} {what} queued when it returned")
        end = time.time()
        receiver.back()
        return end
    return fault


def smtp_away(env):
    return receiver_outage(env, "smtp_away", mail=True)


def sms_away(env):
    return receiver_outage(env, "sms_away", mail=False)


def receiver_outage(env, name, mail):
    """Mail over HTTP with the SMTP server away, or phone events with the
    SMS provider away: what was queued goes out once when it returns."""
    row = Row(name)
    stack = procs.Stack()
    try:
        if mail:
            receiver = stack.push(procs.SmtpServer(os.path.join(env.workdir, name)).start())
            db, url, config = env.fresh(name, smtp_port=receiver.port)
        else:
            receiver = stack.push(procs.HttpSink().start())
            db, url, config = env.fresh(name, sms_url=receiver.url("/sms"))
        gw = env.gateway(stack, url, config, name)
        run = f"{name[:3]}{env.run_no}"
        if mail:
            send = clients.email_http_sender(run, procs.Gateway.API_TOKEN)
            pairs = [(clients.Load(send, env.p.clients, lambda: gw.port),
                      lambda i: f"{run}-http-{i}")]
        else:
            pairs = phone_loads(env, lambda: gw.port, run)
        fault = receiver_away(env, row, db, receiver, "mails" if mail else "text messages")
        fault_end = run_loads(env, pairs, fault, pause=env.p.outage_seconds / 25)
        finish(env, row, db, pairs, fault_end, None if mail else receiver,
               receiver if mail else None, drain=env.p.outage_seconds + 120)
        if not mail and receiver.cut:
            row.repeats_allowed += len(receiver.cut)
            row.notes.append(f"{len(receiver.cut)} text message(s) taken as the provider went "
                             "away, the answer cut: sent again (the provider drops it by its key)")
        stop_gateway(gw, row)
    finally:
        stack.close()
    return row


# --- (f) two gateways behind haproxy -----------------------------------------------

def haproxy_two(env):
    """Load through haproxy to two gateways; one is killed with SIGKILL and
    started again, then the other stopped with SIGTERM (it must drain and
    exit 0) and started again."""
    row = Row("haproxy_two_gateways")
    stack = procs.Stack()
    try:
        sink = stack.push(procs.HttpSink().start())
        db, url, config = env.fresh("haproxy", sms_url=sink.url("/sms"))
        gw1 = env.gateway(stack, url, config, "haproxy-gw1")
        gw2 = env.gateway(stack, url, config, "haproxy-gw2")
        lb = stack.push(procs.Haproxy(env.workdir, [gw1.port, gw2.port]).start())
        pairs = [api_load(env, lambda: lb.port, sink, f"hap{env.run_no}")]

        def fault():
            row.repeats_allowed += 1
            gw1.kill9()
            time.sleep(env.p.down_seconds)
            gw1.start()
            time.sleep(env.p.between_kills)
            rc = gw2.term()
            if rc != 0:
                row.failures.append(f"the gateway stopped with SIGTERM exited {rc}")
            end = time.time()
            gw2.start()
            return end

        fault_end = run_loads(env, pairs, fault)
        finish(env, row, db, pairs, fault_end, sink)
        stop_gateway(gw1, row)
        stop_gateway(gw2, row)
    finally:
        stack.close()
    return row

