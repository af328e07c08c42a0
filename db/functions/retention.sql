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
                v_done := intake_customer_erase_id(t.customer_id, 'retention', 'retention.erase');
                v_customers := v_customers + 1;
                v_tickets := v_tickets + (v_done->>'tickets')::int;
            ELSE
                PERFORM intake_tickets_erase(ARRAY[t.id]);
                v_tickets := v_tickets + 1;
            END IF;
        END LOOP;
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
                                 'raw_sources', v_sources, 'attachments', v_files);
    IF v_tickets + v_sources + v_files > 0 THEN
        INSERT INTO audit_log (actor, action, detail)
        VALUES ('retention', 'retention.run',
                v_done || jsonb_strip_nulls(jsonb_build_object(
                    'personal_data_days', nullif(v_days, 0),
                    'raw_mail_days', nullif(v_mail_days, 0))));
    END IF;
    RETURN v_done;
END
$fn$;
