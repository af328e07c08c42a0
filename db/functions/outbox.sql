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
CREATE OR REPLACE FUNCTION intake_outbox_claim(p_lease_s int, p_limit int)
RETURNS TABLE (id bigint, kind text, channel text, payload text, attempts int)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1,
           next_attempt_at = now() + make_interval(secs => p_lease_s)
     WHERE o.id IN (SELECT x.id FROM outbox x
                     WHERE x.status IN ('pending', 'sending') AND x.kind <> 'agent_notify'
                       AND x.next_attempt_at <= now()
                     ORDER BY x.next_attempt_at LIMIT p_limit
                       FOR UPDATE SKIP LOCKED)
    RETURNING o.id, o.kind, coalesce(o.channel, ''), o.payload::text, o.attempts;
END
$fn$;

-- What a dispatcher's pass decided for the rows it claimed (p_claimed), in
-- one statement: d = {sent: [id], skipped: [{id, why}], retry: [{id, delay,
-- why}], records: [{id, ref, subject, text}]}. A row retried p_max_attempts
-- times has failed. Sent mail is kept on its ticket as an outbound message
-- (its Message-ID is how replies find the ticket again); a reply, on the
-- ticket already, gets its mail's Message-ID. Every part reaches its rows
-- through p_claimed by key. PL/pgSQL, so its plan is made once per
-- connection: planned at every pass (as a SQL function is), the statement
-- took a share of the CPU the registering backend needs. A lasting plan made
-- while the tables were empty (a new database) would scan the whole outbox
-- on every pass as it grew: the dispatcher's connection plans without
-- sequential scans (src/outbox.c, gw_outbox_prepare).
CREATE OR REPLACE FUNCTION intake_outbox_record(d jsonb, p_max_attempts int, p_claimed bigint[])
RETURNS TABLE (sent bigint, skipped bigint, retried bigint, recorded bigint, linked bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
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
    RETURN QUERY
    WITH sent AS (
        UPDATE outbox SET status = 'sent', sent_at = now(), last_error = NULL,
               payload = payload - 'token'
         WHERE id = ANY (p_claimed)
           AND id IN (SELECT jsonb_array_elements_text(d->'sent')::bigint)
        RETURNING id
    ), skipped AS (
        UPDATE outbox o SET status = 'skipped', sent_at = now(), last_error = k.why,
               payload = o.payload - 'token'
          FROM jsonb_to_recordset(d->'skipped') AS k(id bigint, why text)
         WHERE o.id = ANY (p_claimed) AND o.id = k.id
        RETURNING o.id
    ), retried AS (
        UPDATE outbox o SET status = CASE WHEN o.attempts >= p_max_attempts THEN 'failed'
                                          ELSE 'pending' END,
               next_attempt_at = now() + make_interval(secs => r.delay), last_error = r.why
          FROM jsonb_to_recordset(d->'retry') AS r(id bigint, delay int, why text)
         WHERE o.id = ANY (p_claimed) AND o.id = r.id
        RETURNING o.id
    ), recorded AS (
        INSERT INTO messages (ticket_id, direction, channel, idempotency_key, external_ref,
                              subject, body)
        SELECT o.ticket_id, 'out', o.channel, 'out:' || o.dedupe_key, r.ref, r.subject,
               coalesce(r.text, '')
          FROM jsonb_to_recordset(d->'records') AS r(id bigint, ref text, subject text, text text)
          JOIN outbox o ON o.id = r.id
         WHERE o.id = ANY (p_claimed) AND o.ticket_id IS NOT NULL
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
           (SELECT count(*) FROM linked);
END
$fn$;

-- Acknowledgements sent to one reply handle in the last hour (the per-sender
-- acknowledgement limit; index outbox_ack_recipient).
CREATE OR REPLACE FUNCTION intake_acks_sent_last_hour(p_handle text) RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT count(*) FROM outbox
     WHERE kind = 'ack' AND status = 'sent' AND payload->>'reply_handle' = p_handle
       AND sent_at > now() - interval '1 hour'
$fn$;
