-- The desk's own messages from the past: what a help desk's mailbox archive
-- holds besides its customers' mail (the replies the desk sent, the mail it
-- wrote first), moved in by `intake import-mail` (docs/import.md). Such a
-- message is stored as an agent's reply is (intake_ticket_reply, desk.sql):
-- an outbound message on its ticket, a 'reply' event, the ticket's first
-- response and handling start, but with the message's own date, the sender
-- it had, its raw source, and nothing sent (no outbox row). Its sender is
-- the desk, never a customer: no customer is made or changed from it.
--
-- c: the registration document (src/register.c) with direction 'out',
-- historical, and to_email / to_name: the customer it was written to.
--
-- Which ticket: the one of a stored message it answers (thread_refs, as for
-- a customer's mail, but any customer's ticket: the desk answers everyone;
-- a closed ticket too, since this only records what was sent), else the
-- ticket its subject names. With neither, the desk wrote first: a ticket is
-- opened for to_email, history like any imported ticket (resolved at the
-- message, imported_at), answered when it was opened (as an outbound call
-- is, calls.sql). Automatic mail (no_ack_reason: an auto-reply, a list
-- mail) and mail to nobody but the desk open nothing: the answer is
-- {left_out: true, why} and nothing is stored.
--
-- First response: an imported reply earlier than the ticket's first
-- response is its first response (so reports of imported months count
-- answers), never earlier than the ticket's creation (a sender's clock
-- running behind its customer's). Automatic mail is no answer. The same for
-- handling's start, which an agent's first reply also sets.
CREATE OR REPLACE FUNCTION intake_register_outbound(c jsonb, raw bytea DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_key       text := c->>'key';
    v_ref       text := c->>'external_ref';
    v_to        text := lower(c->>'to_email');
    v_received  timestamptz := to_timestamp((c->>'received_at')::double precision);
    v_automatic boolean := c->>'no_ack_reason' IS NOT NULL;
    v_lang      text := c->>'language_detected';
    v_dup       bigint;
    v_ticket    bigint;
    v_ticket_no text;
    v_cust      bigint;
    v_cust_no   text;
    v_new_cust  boolean := false;
    v_new       boolean := false;
    v_won       bigint;
    v_seq       bigint;
    v_category  text;
    v_priority  text;
    v_queue     text;
    v_msg       bigint;
BEGIN
    IF v_key IS NULL OR v_key = '' THEN
        RAISE EXCEPTION 'idempotency key is required' USING ERRCODE = '22023';
    END IF;
    IF NOT coalesce((c->>'historical')::boolean, false) OR v_received IS NULL THEN
        RAISE EXCEPTION 'only a historical message with its date is registered as the desk''s'
            USING ERRCODE = '22023';
    END IF;

    PERFORM pg_advisory_xact_lock(hashtextextended(v_key, 0));
    -- Already there: imported before, or sent by this desk itself (the mail
    -- the outbox sent is kept with its Message-ID, and a mailbox's Sent
    -- folder holds a copy of it).
    SELECT ticket_id INTO v_dup FROM messages WHERE idempotency_key = v_key;
    IF NOT FOUND AND v_ref IS NOT NULL THEN
        SELECT ticket_id INTO v_dup FROM messages
         WHERE external_ref = v_ref AND direction = 'out' LIMIT 1;
    END IF;
    IF v_dup IS NOT NULL THEN
        SELECT t.number, cu.number, t.category, t.priority, t.queue
          INTO v_ticket_no, v_cust_no, v_category, v_priority, v_queue
          FROM tickets t JOIN customers cu ON cu.id = t.customer_id WHERE t.id = v_dup;
        RETURN jsonb_build_object('duplicate', true, 'ticket', v_ticket_no,
            'customer', v_cust_no, 'category', v_category, 'priority', v_priority,
            'queue', v_queue, 'new_ticket', false, 'new_customer', false, 'reopened', false);
    END IF;

    IF jsonb_array_length(coalesce(c->'thread_refs', '[]')) > 0 THEN
        WITH m AS MATERIALIZED (
            SELECT id, ticket_id FROM messages
             WHERE external_ref = ANY (ARRAY(SELECT jsonb_array_elements_text(c->'thread_refs')))
        )
        SELECT t.id INTO v_ticket
          FROM m JOIN tickets t ON t.id = m.ticket_id
         ORDER BY m.id DESC LIMIT 1
           FOR UPDATE OF t;
    END IF;
    IF v_ticket IS NULL AND c->>'ticket_ref' IS NOT NULL THEN
        SELECT id INTO v_ticket FROM tickets WHERE number = c->>'ticket_ref' FOR UPDATE;
    END IF;

    IF v_ticket IS NULL THEN
        IF v_automatic OR v_to IS NULL THEN
            RETURN jsonb_build_object('duplicate', false, 'left_out', true,
                'why', CASE WHEN v_automatic THEN 'sent by the desk automatically, no thread'
                            ELSE 'sent by the desk, no thread' END);
        END IF;
        -- The customer it was written to, as a customer's first mail makes one.
        v_cust := intake_identity_owner('email', v_to);
        IF v_cust IS NULL THEN
            v_seq := nextval('customer_number_seq');
            INSERT INTO customers (number, name, language, created_at, updated_at)
            VALUES (intake_number(c->>'customer_prefix', v_seq), c->>'to_name', v_lang,
                    v_received, v_received)
            RETURNING id INTO v_cust;
            v_new_cust := true;
            INSERT INTO customer_identities (kind, value, customer_id)
            VALUES ('email', v_to, v_cust) ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                v_won := intake_identity_owner('email', v_to);
                DELETE FROM customers WHERE id = v_cust;
                v_cust := v_won;
                v_new_cust := false;
            END IF;
        END IF;
        v_seq := nextval('ticket_number_seq');
        INSERT INTO tickets (number, customer_id, channel, subject, summary, product, category,
                             priority, queue, language, first_response_due_at, handling_due_at,
                             resolution_due_at, first_responded_at, handling_started_at, status,
                             resolved_at, imported_at, created_at, updated_at)
        VALUES (intake_number(c->>'ticket_prefix', v_seq), v_cust, c->>'channel', c->>'subject',
                c->>'summary', c->>'product', c->>'category', c->>'priority', c->>'queue',
                coalesce(v_lang, (SELECT language FROM customers WHERE id = v_cust), 'en'),
                intake_business_add(v_received, (c->>'first_response_s')::int, c->'calendar'),
                intake_business_add(v_received, (c->>'handling_s')::int, c->'calendar'),
                intake_business_add(v_received, (c->>'resolve_s')::int, c->'calendar'),
                v_received, v_received, 'resolved', v_received, now(), v_received, v_received)
        RETURNING id INTO v_ticket;
        v_new := true;
    ELSE
        -- An imported ticket ends with its latest message; a ticket of this
        -- desk's own keeps its state, and learns when it was answered.
        UPDATE tickets
           SET first_responded_at = CASE WHEN v_automatic THEN first_responded_at
                   ELSE least(first_responded_at, greatest(v_received, created_at)) END,
               handling_started_at = CASE WHEN v_automatic THEN handling_started_at
                   ELSE least(handling_started_at, greatest(v_received, created_at)) END,
               resolved_at = CASE WHEN imported_at IS NOT NULL
                   THEN greatest(resolved_at, v_received) ELSE resolved_at END,
               updated_at = greatest(updated_at, v_received)
         WHERE id = v_ticket;
    END IF;

    SELECT t.number, cu.number, t.category, t.priority, t.queue
      INTO v_ticket_no, v_cust_no, v_category, v_priority, v_queue
      FROM tickets t JOIN customers cu ON cu.id = t.customer_id WHERE t.id = v_ticket;

    WITH m AS (
        INSERT INTO messages (ticket_id, direction, channel, idempotency_key, external_ref,
                              sender_name, sender_address, subject, body, cc, language,
                              received_at, created_at)
        VALUES (v_ticket, 'out', c->>'channel', v_key, v_ref, c->>'name', lower(c->>'email'),
                c->>'subject', coalesce(c->>'body', ''),
                CASE WHEN c ? 'cc' THEN
                    (SELECT array_agg(x) FROM jsonb_array_elements_text(c->'cc') x) END,
                v_lang, v_received, v_received)
        RETURNING id
    ), e AS (
        INSERT INTO ticket_events (ticket_id, kind, actor, detail, created_at)
        SELECT v_ticket, CASE WHEN v_new THEN 'created' ELSE 'reply' END,
               coalesce(c->>'name', 'system'),
               jsonb_build_object('message', m.id, 'channel', c->>'channel',
                   'direction', 'out', 'imported', true, 'no_ack', c->>'no_ack_reason'),
               v_received
          FROM m
    )
    SELECT id INTO v_msg FROM m;
    PERFORM intake_store_message_parts(v_msg, raw, c->'attachments');

    RETURN jsonb_build_object('duplicate', false, 'ticket', v_ticket_no, 'customer', v_cust_no,
        'category', v_category, 'priority', v_priority, 'queue', v_queue,
        'new_ticket', v_new, 'new_customer', v_new_cust, 'reopened', false, 'outbound', true);
END
$fn$;
