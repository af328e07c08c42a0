"""What a scenario is judged by, read from the database and from what the
receivers got, after the load ended and the outbox had time to drain:

- contacts: every acknowledged contact stored (lost: acknowledged, not
  stored), and none stored twice (two inbound messages for one contact,
  whatever key they were stored under: found by the "fault contact <key>"
  text each carries, or by the call a phone event is about);
- deliveries: every acknowledgement, reply and survey link in the outbox sent
  and received exactly once: HTTP deliveries (API callbacks, text messages)
  by their Idempotency-Key (outbox-<row>), mail by its Message-ID, which the
  desk keeps on the ticket as the sent message's reference. A delivery
  received twice under the same key counts as repeated: the receiver can drop
  it by its key, but it was sent twice.
"""
import collections
import time

OUTBOUND = "('ack', 'reply', 'survey')"


def stored_contacts(cluster, db):
    """{key: inbound messages} for every contact the loads sent."""
    rows = cluster.sql(db, r"""
        SELECT coalesce(substring(body from 'fault contact (\S+)'), external_ref), count(*)
          FROM messages
         WHERE direction = 'in'
           AND (body LIKE '%fault contact %' OR external_ref LIKE 'call:%')
         GROUP BY 1""")
    return {k: int(n) for k, n in rows}


def judge_contacts(stored, acked_keys, attempted_keys):
    """(lost, duplicated, stored_unacknowledged): acknowledged keys not
    stored; keys stored more than once; keys stored that the sender never saw
    acknowledged (committed, then the answer was lost: allowed)."""
    lost = [k for k in acked_keys if stored.get(k, 0) == 0]
    duplicated = [k for k, n in stored.items() if n > 1]
    unacked = [k for k in attempted_keys if k not in acked_keys and stored.get(k, 0) > 0]
    return lost, duplicated, unacked


def outbox_open(cluster, db):
    return int(cluster.value(db, f"""
        SELECT count(*) FROM outbox
         WHERE kind IN {OUTBOUND} AND status IN ('pending', 'sending')"""))


def wait_outbox(cluster, db, seconds):
    """Waits until no acknowledgement, reply or survey is left to send, as
    long as the backlog shrinks: false when it has not for seconds."""
    last, since = None, time.time()
    while True:
        left = outbox_open(cluster, db)
        if left == 0:
            return True
        if last is None or left < last:
            last, since = left, time.time()
        elif time.time() - since > seconds:
            return False
        time.sleep(0.25)


class Deliveries:
    def __init__(self):
        self.expected = self.received = self.missing = self.repeated = 0
        self.notes = []

    def add(self, other):
        for f in ("expected", "received", "missing", "repeated"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.notes += other.notes


def judge_deliveries(cluster, db, sink, smtp):
    """Outbox rows against what the HTTP sink and the SMTP server received."""
    d = Deliveries()
    # What the receivers have first, the outbox after: a row marked sent in
    # between is counted missing (the outbox had not drained: the scenario
    # fails anyway), never a receipt without its row counted as a repeat.
    http_keys = collections.Counter(r[1] for r in sink.requests) if sink else {}
    mail_ids = collections.Counter(m[0] for m in smtp.messages()) if smtp else {}
    rows = cluster.sql(db, f"""
        SELECT o.id, o.channel, o.status, o.kind,
               coalesce((SELECT m.external_ref FROM messages m
                          WHERE m.id = o.message_id AND o.kind = 'reply'),
                        (SELECT m.external_ref FROM messages m
                          WHERE m.ticket_id = o.ticket_id AND m.direction = 'out'
                            AND m.idempotency_key = 'out:' || o.dedupe_key))
          FROM outbox o WHERE o.kind IN {OUTBOUND}""")
    # One acknowledgement and one survey per ticket (each contact here opens its own
    # ticket), one reply row per reply: a second row would be a second delivery.
    for ticket, kind, n in cluster.sql(db, """
            SELECT t.number, o.kind, count(*) FROM outbox o JOIN tickets t ON t.id = o.ticket_id
             WHERE o.kind IN ('ack', 'survey') GROUP BY 1, 2 HAVING count(*) > 1
            UNION ALL
            SELECT t.number, 'reply', count(*) FROM outbox o JOIN tickets t ON t.id = o.ticket_id
             WHERE o.kind = 'reply' GROUP BY 1 HAVING count(*) > 1"""):
        d.repeated += int(n) - 1
        d.notes.append(f"ticket {ticket} has {n} {kind} rows in the outbox")
    for row_id, channel, status, kind, mail_ref in rows:
        if channel == "chat":
            continue  # pushed on the customer's socket: the chat load counts those
        d.expected += 1
        if status != "sent":
            d.missing += 1
            d.notes.append(f"outbox row {row_id} ({channel} {kind}) is {status}")
            continue
        if channel == "email":
            got = mail_ids.pop(f"<{mail_ref}>", 0) if mail_ref else 0
        else:
            got = http_keys.pop(f"outbox-{row_id}", 0)
        if got == 0:
            d.missing += 1
            d.notes.append(f"outbox row {row_id} ({channel} {kind}) sent, never received")
        else:
            d.received += 1
            d.repeated += got - 1
            if got > 1:
                d.notes.append(f"outbox row {row_id} ({channel} {kind}) received {got} times")
    # What arrived with no outbox row behind it was sent from nowhere.
    for key, n in list(http_keys.items()) + list(mail_ids.items()):
        d.repeated += n
        d.notes.append(f"received {n} x {key}, which no sent outbox row accounts for")
    return d
