-- Retention (desk/desk_retention.c runs it on the poller, every
-- escalation.scan_seconds): personal data is not kept longer than the
-- configured days. One run is one small batch in one transaction, under a
-- transaction-scoped advisory lock, so across several gateways one runs and
-- the others skip; the rows it takes are also locked with SKIP LOCKED.
--
-- retention.personal_data_days: a ticket is due when it finished (resolved
-- or closed) longer ago than that. When every ticket of its customer is due
-- (no open ticket, none finished recently), the customer is erased whole,
-- as `intake customer erase` does (identities, name, and everything on and
-- around their tickets). When the customer has a newer or open ticket, only
-- the old ticket's personal data goes (its messages, raw mail, attachments,
-- calls, chat sessions, survey comments, follow-up outcomes, outbox
-- payloads): the customer's record and identities stay for the ticket that
-- is still in use, and go once that one is due in turn.
--
-- The same limit reaches what no ticket makes due. A customer with no
-- ticket left whose personal data is still held (an identity left by a
-- ticket erased alone, a customer whose contact was deleted) is erased
-- whole once nothing of theirs (intake_customer_last_activity) is newer
-- than the limit and no work of theirs is open: the run walks the
-- customers in id order, a slice of batch * 10 a run (retention_progress
-- keeps its place; db/migrations/0065), so each customer is looked at
-- once every customers / (batch * 10) runs. A chat session that never
-- became a ticket (the chat form's name, email and phone) is erased once
-- it began and was last seen longer ago than the limit.
--
-- retention.raw_mail_days: raw message sources (the RFC 5322 bytes) are
-- dropped, and attachments' bytes emptied (their name, type, size and hash
-- stay as a record), for messages that arrived longer ago than that; the
-- messages' text stays. Message ids follow arrival order, so "older than"
-- is "id below the first message that arrived since the cutoff".
--
-- Tickets stay with their numbers, channels, categories, times and ratings,
-- so reports keep their counts and times. Every run that did something
-- appends one 'retention.run' row to the audit trail (and each customer
-- erased whole one 'retention.erase' row).

-- The latest sign of a customer (a customer with no open ticket): their
-- record's and identities' dates, their tickets' (erased ones included),
-- the messages their addresses sent on others' tickets, the calls from or
-- to their numbers and the chat sessions of their chat identities. Each
-- through an index on the customer or on the address (db/0035).
CREATE OR REPLACE FUNCTION intake_customer_last_activity(p_customer bigint)
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_addresses text[] := ARRAY(SELECT value FROM customer_identities
                                 WHERE customer_id = p_customer AND kind IN ('email', 'phone'));
    v_chats     text[] := ARRAY(SELECT value FROM customer_identities
                                 WHERE customer_id = p_customer AND kind = 'chat');
BEGIN
    RETURN greatest(
        (SELECT greatest(created_at, updated_at) FROM customers WHERE id = p_customer),
        (SELECT max(created_at) FROM customer_identities WHERE customer_id = p_customer),
        (SELECT max(greatest(created_at, resolved_at, closed_at)) FROM tickets
          WHERE customer_id = p_customer),
        (SELECT max(greatest(created_at, received_at)) FROM messages
          WHERE lower(sender_address) = ANY (v_addresses)),
        (SELECT max(greatest(created_at, last_event_at)) FROM calls
          WHERE from_number = ANY (v_addresses)),
        (SELECT max(greatest(created_at, last_event_at)) FROM calls
          WHERE to_number = ANY (v_addresses)),
        (SELECT max(greatest(created_at, last_seen_at)) FROM live_sessions
          WHERE visitor = ANY (v_chats)));
END
$fn$;

-- One slice of the walk over customers with no ticket left (see the top):
-- erases at most p_batch of them whose last sign is before p_cutoff, and
-- moves the walk on. Returns how many it erased.
CREATE OR REPLACE FUNCTION intake_retention_idle_customers(p_cutoff timestamptz, p_batch int)
RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_after   bigint := (SELECT customer_after FROM retention_progress FOR UPDATE);
    v_slice   int := p_batch * 10;
    v_seen    int := 0;
    v_erased  int := 0;
    v_id      bigint;
BEGIN
    FOR v_id IN SELECT id FROM customers WHERE id > v_after AND erased_at IS NULL
                 ORDER BY id LIMIT v_slice LOOP
        v_seen := v_seen + 1;
        v_after := v_id;
        -- A ticket not yet erased, or still open, is the ticket path's.
        CONTINUE WHEN EXISTS (SELECT 1 FROM tickets
                               WHERE customer_id = v_id
                                 AND (personal_data_erased_at IS NULL
                                      OR status NOT IN ('resolved', 'closed')));
        CONTINUE WHEN intake_customer_last_activity(v_id) >= p_cutoff;
        -- A registration holds the customer (a ticket on its way): next time.
        CONTINUE WHEN NOT pg_try_advisory_xact_lock(intake_customer_lock_key(v_id));
        PERFORM 1 FROM customers WHERE id = v_id AND erased_at IS NULL FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        CONTINUE WHEN EXISTS (SELECT 1 FROM tickets
                               WHERE customer_id = v_id AND personal_data_erased_at IS NULL);
        PERFORM intake_customer_erase_id(v_id, 'retention', 'retention.erase');
        v_erased := v_erased + 1;
        EXIT WHEN v_erased >= p_batch;
    END LOOP;
    -- The end of the table: the next run starts again from the first customer.
    UPDATE retention_progress
       SET customer_after = CASE WHEN v_seen < v_slice AND v_erased < p_batch THEN 0
                                 ELSE v_after END;
    RETURN v_erased;
END
$fn$;

-- Chat sessions that never became a ticket, begun and last seen before
-- p_cutoff: at most p_batch, oldest first (live_sessions_without_ticket,
-- db/migrations/0065). Returns how many it erased.
CREATE OR REPLACE FUNCTION intake_retention_idle_sessions(p_cutoff timestamptz, p_batch int)
RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_sessions bigint[] := ARRAY(
        SELECT id FROM live_sessions
         WHERE ticket_id IS NULL AND channel <> 'desk' AND visitor NOT LIKE 'erased-%'
           AND created_at < p_cutoff AND last_seen_at < p_cutoff
         ORDER BY created_at LIMIT p_batch FOR UPDATE SKIP LOCKED);
BEGIN
    PERFORM intake_sessions_erase(v_sessions);
    RETURN cardinality(v_sessions);
END
$fn$;

-- d = {personal_data_days, raw_mail_days (0 or absent: off), batch (tickets
-- a run takes; ten times as many raw sources and attachments)}.
CREATE OR REPLACE FUNCTION intake_retention_run(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_days      int := coalesce((d->>'personal_data_days')::int, 0);
    v_mail_days int := coalesce((d->>'raw_mail_days')::int, 0);
    v_batch     int := coalesce((d->>'batch')::int, 50);
    v_cutoff    timestamptz := now() - make_interval(days => v_days);
    v_boundary  bigint;
    v_customers int := 0;
    v_tickets   int := 0;
    v_sources   int := 0;
    v_files     int := 0;
    v_sessions  int := 0;
    t           tickets;
    v_done      jsonb;
BEGIN
    -- hashtext('intake.retention'), fixed so every release takes the same lock.
    IF NOT pg_try_advisory_xact_lock(7336942231865147392) THEN
        RETURN jsonb_build_object('skipped', true);
    END IF;
    IF v_days > 0 THEN
        FOR t IN SELECT * FROM tickets
                  WHERE status IN ('resolved', 'closed') AND personal_data_erased_at IS NULL
                    AND coalesce(closed_at, resolved_at) < v_cutoff
                  ORDER BY coalesce(closed_at, resolved_at)
                  LIMIT v_batch FOR UPDATE SKIP LOCKED LOOP
            -- Erased meanwhile with its customer, earlier in this batch.
            CONTINUE WHEN (SELECT personal_data_erased_at FROM tickets WHERE id = t.id)
                          IS NOT NULL;
            IF NOT EXISTS (SELECT 1 FROM tickets o
                            WHERE o.customer_id = t.customer_id AND o.id <> t.id
                              AND o.personal_data_erased_at IS NULL
                              AND NOT (o.status IN ('resolved', 'closed')
                                       AND coalesce(o.closed_at, o.resolved_at) < v_cutoff)) THEN
                -- Holding this batch's tickets, never wait for a registration
                -- of the customer (it may be waiting for one of them): next run.
                CONTINUE WHEN NOT pg_try_advisory_xact_lock(intake_customer_lock_key(t.customer_id));
                v_done := intake_customer_erase_id(t.customer_id, 'retention', 'retention.erase');
                v_customers := v_customers + 1;
                v_tickets := v_tickets + (v_done->>'tickets')::int;
            ELSE
                PERFORM intake_tickets_erase(ARRAY[t.id]);
                v_tickets := v_tickets + 1;
            END IF;
        END LOOP;
        v_customers := v_customers + intake_retention_idle_customers(v_cutoff, v_batch);
        v_sessions := intake_retention_idle_sessions(v_cutoff, v_batch);
    END IF;
    IF v_mail_days > 0 THEN
        v_boundary := coalesce(
            (SELECT min(id) FROM messages
              WHERE created_at >= now() - make_interval(days => v_mail_days)),
            (SELECT max(id) + 1 FROM messages), 0);
        WITH old AS (SELECT message_id FROM message_sources WHERE message_id < v_boundary
                      ORDER BY message_id LIMIT v_batch * 10 FOR UPDATE SKIP LOCKED)
        DELETE FROM message_sources s USING old WHERE s.message_id = old.message_id;
        GET DIAGNOSTICS v_sources = ROW_COUNT;
        WITH old AS (SELECT id FROM attachments
                      WHERE content IS NOT NULL AND message_id < v_boundary
                      ORDER BY message_id LIMIT v_batch * 10 FOR UPDATE SKIP LOCKED)
        UPDATE attachments a SET content = NULL FROM old WHERE a.id = old.id;
        GET DIAGNOSTICS v_files = ROW_COUNT;
    END IF;
    v_done := jsonb_build_object('customers', v_customers, 'tickets', v_tickets,
                                 'raw_sources', v_sources, 'attachments', v_files,
                                 'chat_sessions', v_sessions);
    IF v_customers + v_tickets + v_sources + v_files + v_sessions > 0 THEN
        INSERT INTO audit_log (actor, action, detail)
        VALUES ('retention', 'retention.run',
                v_done || jsonb_strip_nulls(jsonb_build_object(
                    'personal_data_days', nullif(v_days, 0),
                    'raw_mail_days', nullif(v_mail_days, 0))));
    END IF;
    RETURN v_done;
END
$fn$;
