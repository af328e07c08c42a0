-- The outbox's database side: what the dispatcher runs besides claiming rows.

-- Publishes registration notifications (outbox 'agent_notify' rows): a
-- NOTIFY on p_channel for integrations listening there, on the assignee's
-- stream ticket.assigned (a new ticket) or message.new (a customer wrote on
-- their ticket), and for a queue in p_hooked (queues with a webhook) an
-- outbox 'queue_webhook' row. Runs on the dispatcher, off the registration
-- path; the rows are deleted (the timeline keeps the event).
CREATE OR REPLACE FUNCTION intake_publish_agent_events(p_limit int, p_channel text,
                                            p_hooked jsonb DEFAULT '[]')
RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    r      record;
    t      tickets;
    v_n    int;
    v_more jsonb;
BEGIN
    -- One statement takes the rows and NOTIFYs them all; only the rows with
    -- more to do (an assignee, a queue webhook) are walked one by one after.
    WITH d AS (
        DELETE FROM outbox WHERE id IN (
            SELECT id FROM outbox
             WHERE kind = 'agent_notify' AND status IN ('pending', 'sending')
               AND next_attempt_at <= now()
             ORDER BY next_attempt_at LIMIT p_limit
               FOR UPDATE SKIP LOCKED)
        RETURNING id, ticket_id, message_id, payload)
    SELECT count(pg_notify(p_channel, d.payload::text)),
           coalesce(jsonb_agg(jsonb_build_object('id', d.id, 'ticket_id', d.ticket_id,
                                                 'message_id', d.message_id,
                                                 'payload', d.payload) ORDER BY d.id)
                    FILTER (WHERE d.payload->>'assignee' IS NOT NULL
                               OR p_hooked ? (d.payload->>'queue')), '[]')
      INTO v_n, v_more FROM d;
    FOR r IN SELECT * FROM jsonb_to_recordset(v_more)
                        AS x(id bigint, ticket_id bigint, message_id bigint, payload jsonb)
    LOOP
        IF p_hooked ? (r.payload->>'queue') THEN
            INSERT INTO outbox (kind, ticket_id, message_id, dedupe_key, payload)
            VALUES ('queue_webhook', r.ticket_id, r.message_id, 'hook:' || r.id,
                    r.payload || jsonb_build_object('type', CASE r.payload->>'event'
                        WHEN 'message' THEN 'message.new'
                        ELSE 'ticket.' || (r.payload->>'event') END,
                        'at', extract(epoch FROM now())))
            ON CONFLICT (dedupe_key) DO NOTHING;
        END IF;
        IF r.payload->>'assignee' IS NULL THEN
            CONTINUE;
        END IF;
        SELECT * INTO t FROM tickets WHERE id = r.ticket_id;
        IF r.payload->>'event' = 'created' THEN
            PERFORM intake_agent_push((r.payload->>'assignee')::bigint, jsonb_build_object(
                'type', 'ticket.assigned', 'ticket', intake_ticket_brief(t)));
        ELSIF t.assignee_id IS NOT NULL THEN
            PERFORM intake_agent_push(t.assignee_id, jsonb_build_object(
                'type', 'message.new', 'ticket', t.number, 'event', r.payload->>'event',
                'message', (SELECT jsonb_build_object('id', m.id, 'direction', m.direction,
                                'channel', m.channel, 'from', m.sender_name,
                                'subject', m.subject, 'text', left(m.body, 2000))
                              FROM messages m WHERE m.id = r.message_id)));
        END IF;
    END LOOP;
    RETURN v_n;
END
$fn$;

-- Claims up to p_limit rows that are due (agent notifications aside: they
-- are published in bulk above), oldest first, skipping rows another
-- dispatcher holds; each claim is a lease of p_lease_s seconds, after which
-- a row its dispatcher never finished is due again.
--
-- Besides, a probe for each receiver away (outbox_receivers) whose turn has
-- come: its waiting row next due, tried now out of turn. A probe is not an
-- attempt of its row (attempts stays; resume_at, in epoch seconds, is when
-- the row was due, and the dispatcher puts it back there if the probe
-- fails), so probing neither hurries a row to its last attempt nor keeps it
-- from getting there. A receiver nothing waits for any more is forgotten.
-- Nothing here waits for a lock: receivers and rows another dispatcher
-- holds are skipped.
CREATE OR REPLACE FUNCTION intake_outbox_claim(p_lease_s int, p_limit int)
RETURNS TABLE (id bigint, kind text, channel text, payload text, attempts int,
               resume_at double precision)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    r        record;
    v_id     bigint;
    v_due    timestamptz;
    v_probes bigint[] := '{}';
    v_resume timestamptz[] := '{}';
BEGIN
    FOR r IN SELECT x.receiver FROM outbox_receivers x WHERE x.next_probe_at <= now()
               FOR UPDATE SKIP LOCKED
    LOOP
        SELECT x.id, x.next_attempt_at INTO v_id, v_due FROM outbox x
         WHERE x.receiver = r.receiver AND x.status = 'pending'
         ORDER BY x.next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            -- Nothing waits (or another dispatcher holds what does: its
            -- outcome names the receiver again if it is still away).
            DELETE FROM outbox_receivers x WHERE x.receiver = r.receiver;
        ELSIF v_due > now() THEN
            v_probes := v_probes || v_id;
            v_resume := v_resume || v_due;
            -- The probe's outcome sets the next turn; a dispatcher that
            -- dies probing leaves it to the lease.
            UPDATE outbox_receivers x SET next_probe_at = now() + make_interval(secs => p_lease_s)
             WHERE x.receiver = r.receiver;
        END IF;
        -- A row already due is tried below anyway: that try is the probe.
    END LOOP;
    RETURN QUERY
    UPDATE outbox o SET status = 'sending',
           attempts = o.attempts + CASE WHEN o.id = ANY (v_probes) THEN 0 ELSE 1 END,
           next_attempt_at = now() + make_interval(secs => p_lease_s)
     WHERE o.id IN (SELECT x.id FROM (
                        SELECT x.id FROM outbox x
                         WHERE x.status IN ('pending', 'sending') AND x.kind <> 'agent_notify'
                           AND x.next_attempt_at <= now()
                         ORDER BY x.next_attempt_at LIMIT p_limit
                           FOR UPDATE SKIP LOCKED) x
                    UNION ALL SELECT unnest(v_probes))
    RETURNING o.id, o.kind, coalesce(o.channel, ''), o.payload::text, o.attempts,
              (SELECT extract(epoch FROM p.due)::double precision
                 FROM unnest(v_probes, v_resume) AS p(id, due) WHERE p.id = o.id);
END
$fn$;

-- What a dispatcher's pass decided for the rows it claimed (p_claimed), in
-- one statement: d = {sent: [id], skipped: [{id, why}], retry: [{id, delay,
-- why, at, receiver, probe_after}], records: [{id, ref, subject, text}],
-- reached: [receiver]}. A row retried p_max_attempts times has failed. A
-- retry waits delay seconds, or, a probe's row, until at (epoch seconds:
-- when it was due before the probe). Sent mail is kept on its ticket as an
-- outbound message (its Message-ID is how replies find the ticket again); a
-- reply, on the ticket already, gets its mail's Message-ID. Every part
-- reaches its rows through p_claimed by key. PL/pgSQL, so its plan is made
-- once per connection: planned at every pass (as a SQL function is), the
-- statement took a share of the CPU the registering backend needs. A
-- lasting plan made while the tables were empty (a new database) would scan
-- the whole outbox on every pass as it grew: the dispatcher's connection
-- plans without sequential scans (src/outbox.c, gw_outbox_prepare).
--
-- Receivers (outbox_receivers, db/0066): a retry naming a receiver could
-- not reach it; the row keeps the name and the receiver is away, probed
-- again after probe_after seconds. A receiver reached (a delivery it took
-- or answered, in reached, or a row named after it sent) is back: its other
-- waiting rows are due at once (woken).
CREATE OR REPLACE FUNCTION intake_outbox_record(d jsonb, p_max_attempts int, p_claimed bigint[])
RETURNS TABLE (sent bigint, skipped bigint, retried bigint, recorded bigint, linked bigint,
               woken bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_sent     bigint;
    v_skipped  bigint;
    v_retried  bigint;
    v_recorded bigint;
    v_linked   bigint;
    v_woken    bigint := 0;
    v_back     text[];
BEGIN
    -- The dispatcher's connection commits without waiting for the WAL
    -- (src/outbox.c, gw_outbox_prepare), but a delivery that left is a fact
    -- outside the database: its 'sent' waits for the disk like a
    -- registration. Lost in a PostgreSQL crash, it made the row due again
    -- and the customer got the same mail or text twice (the fault suite's
    -- crash-restart). Retries and skips need no such wait.
    IF jsonb_array_length(coalesce(d->'sent', '[]')) > 0 THEN
        PERFORM set_config('synchronous_commit', 'on', true);
    END IF;
    -- A customer erased while their mail or text was on its way
    -- (intake_outbox_erase: payload {"erased": true}) gets nothing written
    -- back: not the text as sent, nor a refusal's words. The rows are
    -- locked first, in a statement of their own, so that an erase running
    -- now has committed before the statement below takes its snapshot;
    -- an erase that comes later finds the message recorded and erases it.
    PERFORM 1 FROM outbox WHERE id = ANY (p_claimed) FOR UPDATE;
    WITH sent AS (
        UPDATE outbox SET status = 'sent', sent_at = now(), last_error = NULL,
               payload = payload - 'token'
         WHERE id = ANY (p_claimed) AND payload->>'erased' IS NULL
           AND id IN (SELECT jsonb_array_elements_text(d->'sent')::bigint)
        RETURNING id, receiver
    ), skipped AS (
        UPDATE outbox o SET status = 'skipped', sent_at = now(), last_error = k.why,
               payload = o.payload - 'token'
          FROM jsonb_to_recordset(d->'skipped') AS k(id bigint, why text)
         WHERE o.id = ANY (p_claimed) AND o.id = k.id AND o.payload->>'erased' IS NULL
        RETURNING o.id
    ), retried AS (
        UPDATE outbox o SET status = CASE WHEN o.attempts >= p_max_attempts THEN 'failed'
                                          ELSE 'pending' END,
               next_attempt_at = CASE WHEN r.at IS NULL
                                      THEN now() + make_interval(secs => r.delay)
                                      ELSE greatest(to_timestamp(r.at), now()) END,
               last_error = r.why, receiver = r.receiver
          FROM jsonb_to_recordset(d->'retry')
               AS r(id bigint, delay int, why text, at double precision, receiver text)
         WHERE o.id = ANY (p_claimed) AND o.id = r.id AND o.payload->>'erased' IS NULL
        RETURNING o.id
    ), recorded AS (
        INSERT INTO messages (ticket_id, direction, channel, idempotency_key, external_ref,
                              subject, body)
        SELECT o.ticket_id, 'out', o.channel, 'out:' || o.dedupe_key, r.ref, r.subject,
               coalesce(r.text, '')
          FROM jsonb_to_recordset(d->'records') AS r(id bigint, ref text, subject text, text text)
          JOIN outbox o ON o.id = r.id
         WHERE o.id = ANY (p_claimed) AND o.ticket_id IS NOT NULL AND o.payload->>'erased' IS NULL
           AND NOT (o.kind = 'reply' AND o.message_id IS NOT NULL)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
    ), linked AS (
        UPDATE messages m SET external_ref = r.ref
          FROM jsonb_to_recordset(d->'records') AS r(id bigint, ref text)
          JOIN outbox o ON o.id = r.id
         WHERE o.id = ANY (p_claimed) AND o.kind = 'reply'
           AND m.id = o.message_id AND m.external_ref IS NULL
           AND m.id = ANY (ARRAY(SELECT message_id FROM outbox
                                  WHERE id = ANY (p_claimed) AND kind = 'reply'))
        RETURNING m.id
    )
    SELECT (SELECT count(*) FROM sent), (SELECT count(*) FROM skipped),
           (SELECT count(*) FROM retried), (SELECT count(*) FROM recorded),
           (SELECT count(*) FROM linked),
           ARRAY(SELECT jsonb_array_elements_text(coalesce(d->'reached', '[]'))
                 UNION SELECT receiver FROM sent WHERE receiver IS NOT NULL)
      INTO v_sent, v_skipped, v_retried, v_recorded, v_linked, v_back;
    -- Receivers: nothing to do, the usual case, unless one is away.
    IF EXISTS (SELECT 1 FROM outbox_receivers) THEN
        v_woken := intake_outbox_receivers_back(v_back);
    END IF;
    IF jsonb_path_exists(d, '$.retry[*].receiver') THEN
        PERFORM intake_outbox_receivers_away(d->'retry', v_back);
    END IF;
    RETURN QUERY SELECT v_sent, v_skipped, v_retried, v_recorded, v_linked, v_woken;
END
$fn$;

-- Receivers reached again: no longer away, and the rows waiting for them
-- due now. Takes no lock another dispatcher holds (a receiver another is
-- forgetting, a row another has claimed): the other does that part.
CREATE OR REPLACE FUNCTION intake_outbox_receivers_back(p_back text[]) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_woken bigint;
BEGIN
    WITH back AS (
        DELETE FROM outbox_receivers x
         WHERE x.receiver IN (SELECT y.receiver FROM outbox_receivers y
                               WHERE y.receiver = ANY (p_back) FOR UPDATE SKIP LOCKED)
        RETURNING x.receiver
    ), woken AS (
        UPDATE outbox o SET next_attempt_at = now()
         WHERE o.id IN (SELECT x.id FROM outbox x
                         WHERE x.receiver IN (SELECT receiver FROM back)
                           AND x.status = 'pending' AND x.next_attempt_at > now()
                           FOR UPDATE SKIP LOCKED)
        RETURNING o.id
    )
    SELECT count(*) INTO v_woken FROM woken;
    RETURN v_woken;
END
$fn$;

-- Receivers a retry could not reach (p_retry: the record's retry entries
-- naming one), unless the same pass reached them (p_back): away, probed
-- after the longest probe_after of their entries. In name order, so two
-- dispatchers never wait for each other's receivers in a circle.
CREATE OR REPLACE FUNCTION intake_outbox_receivers_away(p_retry jsonb, p_back text[])
RETURNS void
LANGUAGE sql AS $fn$
    INSERT INTO outbox_receivers AS x (receiver, next_probe_at)
    SELECT a.receiver, now() + make_interval(secs => max(a.probe_after))
      FROM jsonb_to_recordset(p_retry) AS a(receiver text, probe_after double precision)
     WHERE a.receiver IS NOT NULL AND a.receiver <> ALL (p_back)
     GROUP BY a.receiver ORDER BY a.receiver
    ON CONFLICT (receiver) DO UPDATE SET next_probe_at = excluded.next_probe_at
$fn$;

-- Acknowledgements sent to one reply handle in the last hour (the per-sender
-- acknowledgement limit; index outbox_ack_recipient).
CREATE OR REPLACE FUNCTION intake_acks_sent_last_hour(p_handle text) RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT count(*) FROM outbox
     WHERE kind = 'ack' AND status = 'sent' AND payload->>'reply_handle' = p_handle
       AND sent_at > now() - interval '1 hour'
$fn$;
