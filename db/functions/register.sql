-- Registration: one contact becomes a customer, a ticket and a message in
-- one transaction, with its deadlines, its agent and its outbox rows.
--
-- Registration runs as one SQL function so that the gateway's batched path
-- and the benchmark's one-contact-per-transaction path execute exactly the
-- same work, and a whole contact costs the gateway one statement in a
-- pipeline. Idempotency is a UNIQUE constraint on messages.idempotency_key;
-- the function also takes a transaction-scoped advisory lock on the key
-- first, so concurrent duplicates wait for the first copy and then find it,
-- instead of doing the work twice and failing on the constraint.

-- A readable number: the prefix and at least six digits. The width is a
-- minimum (lpad alone cuts a longer value to the width: ticket 1,000,000 would
-- become SR-100000, a number already given). Not STRICT: PostgreSQL inlines
-- a SQL function's expression into its caller only when the expression is as
-- strict as the function, and greatest() is not; called as a function instead,
-- it cost registration ~5-10 % (pgbench, bench/run's transaction).
CREATE OR REPLACE FUNCTION intake_number(p_prefix text, p_n bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT p_prefix || lpad(p_n::text, greatest(6, length(p_n::text)), '0')
$fn$;

-- The customer who owns an identity, or NULL. Every registration asks up to
-- three times. PL/pgSQL rather than SQL: PostgreSQL plans a non-inlined SQL
-- function's query on every call, a PL/pgSQL function's once per session.
CREATE OR REPLACE FUNCTION intake_identity_owner(p_kind text, p_value text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT customer_id FROM customer_identities WHERE kind = p_kind AND value = p_value);
END
$$;

-- A stored message's parts: its source as it arrived and its attachments
-- (the document's [{filename, content_type, size, sha256 (hex), data
-- (base64)}]). For the desk's own messages (register_outbound.sql);
-- intake_register writes the same inline, as its hot path.
CREATE OR REPLACE FUNCTION intake_store_message_parts(p_msg bigint, raw bytea,
                                                      p_attachments jsonb) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    IF raw IS NOT NULL THEN
        INSERT INTO message_sources (message_id, raw) VALUES (p_msg, raw);
    END IF;
    IF jsonb_array_length(coalesce(p_attachments, '[]')) > 0 THEN
        INSERT INTO attachments (message_id, filename, content_type, size_bytes, sha256, content)
        SELECT p_msg, a->>'filename', coalesce(a->>'content_type', 'application/octet-stream'),
               (a->>'size')::bigint, decode(a->>'sha256', 'hex'), decode(a->>'data', 'base64')
          FROM jsonb_array_elements(p_attachments) a;
    END IF;
END
$fn$;

-- c: the document the gateway builds (src/register.c, gw_register_document):
-- the contact, its classification, deadlines in seconds, the calendar, the
-- number prefixes. raw: the message as it arrived (an email's bytes), kept
-- in message_sources. Answers what the sender is told (ticket, customer,
-- category, priority, queue, language, whether anything was new).
--
-- c.historical: a message from the past moved in from another help desk
-- (`intake import-mail`). It threads like any message, but it is history,
-- not work: everything it stores carries the message's own date, a ticket
-- it opens is resolved (marked imported_at) and nobody's, and nothing is
-- sent (no acknowledgement, no agent notification). A live ticket it lands
-- on keeps its state; an imported one ends with its latest message.
CREATE OR REPLACE FUNCTION intake_register(c jsonb, raw bytea DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_key        text := c->>'key';
    v_email      text := lower(c->>'email');
    v_phone      text := c->>'phone';
    v_chat       text := c->>'chat_id';
    v_name       text := c->>'name';
    v_channel    text := c->>'channel';
    v_subject    text := c->>'subject';
    v_reply      text := c->>'reply_handle';
    v_lang_given text := c->>'language_explicit';
    -- zh for Chinese text, en for words in Latin letters the customer wrote
    -- (not an adapter's own summary of a call), NULL when the text says nothing.
    v_lang_written text := c->>'language_detected';
    v_dup        bigint;
    v_email_own  bigint;
    v_phone_own  bigint;
    v_chat_own   bigint;
    v_cust       bigint;
    v_cust_no    text;
    v_cust_lang  text;
    v_cust_name  text;
    v_new_cust   boolean := false;
    v_erased     boolean;
    v_won        bigint;
    -- A sequence's next value, taken before the number is made of it: with a
    -- volatile argument (nextval) PostgreSQL would call intake_number as a
    -- function each time (~20 us) instead of inlining its expression.
    v_seq        bigint;
    v_ticket     bigint;
    v_ticket_no  text;
    v_status     text;
    v_category   text;
    v_priority   text;
    v_queue      text;
    v_lang       text;
    v_assignee   bigint;
    v_new_ticket boolean := false;
    v_reopened   boolean := false;
    v_msg        bigint;
    v_received   timestamptz := coalesce(to_timestamp((c->>'received_at')::double precision), now());
    v_event      text;
    v_historical boolean := coalesce((c->>'historical')::boolean, false);
    -- When what is stored happened: now, or the date of a historical message.
    v_at         timestamptz := CASE WHEN v_historical THEN v_received ELSE now() END;
BEGIN
    IF v_key IS NULL OR v_key = '' THEN
        RAISE EXCEPTION 'idempotency key is required' USING ERRCODE = '22023';
    END IF;

    PERFORM pg_advisory_xact_lock(hashtextextended(v_key, 0));
    SELECT ticket_id INTO v_dup FROM messages WHERE idempotency_key = v_key;
    IF FOUND THEN
        SELECT t.number, cu.number, t.category, t.priority, t.queue, t.language
          INTO v_ticket_no, v_cust_no, v_category, v_priority, v_queue, v_lang
          FROM tickets t JOIN customers cu ON cu.id = t.customer_id
         WHERE t.id = v_dup;
        RETURN jsonb_build_object('duplicate', true, 'ticket', v_ticket_no, 'customer', v_cust_no,
            'category', v_category, 'priority', v_priority, 'queue', v_queue,
            'language', v_lang, 'new_ticket', false, 'new_customer', false, 'reopened', false);
    END IF;

    -- A delivery report about a message we sent belongs on that message's
    -- ticket (its sender is a mail system, not a customer).
    IF c->>'bounce_of' IS NOT NULL THEN
        SELECT t.id, t.number, cu.number, t.category, t.priority, t.queue, t.language
          INTO v_ticket, v_ticket_no, v_cust_no, v_category, v_priority, v_queue, v_lang
          FROM messages m JOIN tickets t ON t.id = m.ticket_id
          JOIN customers cu ON cu.id = t.customer_id
         WHERE m.external_ref = c->>'bounce_of' AND m.direction = 'out'
         ORDER BY m.id DESC LIMIT 1;
        IF FOUND THEN
            WITH m AS (
                INSERT INTO messages (ticket_id, direction, channel, idempotency_key, external_ref,
                                      sender_name, sender_address, subject, body, received_at)
                VALUES (v_ticket, 'in', v_channel, v_key, c->>'external_ref', v_name, v_email,
                        v_subject, coalesce(c->>'body', ''), v_received)
                RETURNING id
            ), e AS (
                INSERT INTO ticket_events (ticket_id, kind, detail)
                SELECT v_ticket, 'bounce', jsonb_build_object('message', m.id,
                       'bounce_of', c->>'bounce_of') FROM m
            )
            SELECT id INTO v_msg FROM m;
            IF raw IS NOT NULL THEN
                INSERT INTO message_sources (message_id, raw) VALUES (v_msg, raw);
            END IF;
            RETURN jsonb_build_object('duplicate', false, 'ticket', v_ticket_no,
                'customer', v_cust_no, 'category', v_category, 'priority', v_priority,
                'queue', v_queue, 'language', v_lang, 'new_ticket', false,
                'new_customer', false, 'reopened', false, 'bounce', true);
        END IF;
    END IF;

    -- The customer: whoever owns the first identity we know.
    IF v_email IS NOT NULL THEN v_email_own := intake_identity_owner('email', v_email); END IF;
    IF v_phone IS NOT NULL THEN v_phone_own := intake_identity_owner('phone', v_phone); END IF;
    IF v_chat IS NOT NULL THEN v_chat_own := intake_identity_owner('chat', v_chat); END IF;
    v_cust := coalesce(v_email_own, v_phone_own, v_chat_own);
    -- Their record, held against an erase until this commits: an erase
    -- (intake_customer_erase_id) takes the customer's lock exclusively before
    -- anything else, so a contact arriving meanwhile waits here, then finds
    -- the record erased and its identities gone, and starts a new record
    -- instead of joining the old one. An advisory lock, shared: registrations
    -- of one customer do not wait for each other and no row is written.
    IF v_cust IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock_shared(intake_customer_lock_key(v_cust));
        SELECT number, language, name, erased_at IS NOT NULL
          INTO v_cust_no, v_cust_lang, v_cust_name, v_erased
          FROM customers WHERE id = v_cust;
        IF v_erased THEN
            v_cust := NULL;
            v_email_own := NULL;
            v_phone_own := NULL;
            v_chat_own := NULL;
        END IF;
    END IF;

    -- A customer's language follows what they write (v_lang_written: Chinese
    -- text, or words in Latin letters); what a page, browser or caller said
    -- only fills it in when nothing else is known.
    IF v_cust IS NULL THEN
        v_seq := nextval('customer_number_seq');
        INSERT INTO customers (number, name, company, language, created_at, updated_at)
        VALUES (intake_number(c->>'customer_prefix', v_seq),
                v_name, c->>'company', coalesce(v_lang_written, v_lang_given), v_at, v_at)
        RETURNING id, number, language, name INTO v_cust, v_cust_no, v_cust_lang, v_cust_name;
        v_new_cust := true;
    ELSE
        IF (v_cust_name IS NULL AND v_name IS NOT NULL)
           OR (v_lang_written IS DISTINCT FROM v_cust_lang AND v_lang_written IS NOT NULL)
           OR (v_cust_lang IS NULL AND v_lang_given IS NOT NULL) THEN
            UPDATE customers
               SET name = coalesce(name, v_name),
                   language = coalesce(v_lang_written, language, v_lang_given),
                   updated_at = now()
             WHERE id = v_cust
            RETURNING language INTO v_cust_lang;
        END IF;
    END IF;

    -- Attach identities nobody owns yet. Two first contacts from one new
    -- address can race here; the loser adopts the winner's customer record.
    IF v_email IS NOT NULL AND v_email_own IS NULL THEN
        INSERT INTO customer_identities (kind, value, customer_id) VALUES ('email', v_email, v_cust)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND AND v_new_cust THEN
            v_won := intake_identity_owner('email', v_email);
            DELETE FROM customers WHERE id = v_cust;
            v_cust := v_won;
            v_new_cust := false;
            SELECT number, language INTO v_cust_no, v_cust_lang FROM customers WHERE id = v_cust;
        END IF;
    END IF;
    IF v_phone IS NOT NULL AND v_phone_own IS NULL THEN
        INSERT INTO customer_identities (kind, value, customer_id) VALUES ('phone', v_phone, v_cust)
        ON CONFLICT DO NOTHING;
    END IF;
    IF v_chat IS NOT NULL AND v_chat_own IS NULL THEN
        INSERT INTO customer_identities (kind, value, customer_id) VALUES ('chat', v_chat, v_cust)
        ON CONFLICT DO NOTHING;
    END IF;

    -- The answer language: what the customer wrote in, else their stored
    -- preference, else what the page, browser or caller said, else English.
    v_lang := coalesce(v_lang_written, v_cust_lang, v_lang_given, 'en');

    -- Threading: the ticket of an earlier message this one answers, else a
    -- ticket the sender named; only the customer's own tickets, and a closed
    -- ticket stays closed.
    -- The messages are found by their external_ref first (MATERIALIZED): in
    -- the plan PL/pgSQL keeps after a few calls, ORDER BY m.id DESC LIMIT 1
    -- otherwise walks every message backwards by id looking for the refs
    -- (75 ms a reply at 20,000 messages, and growing).
    IF jsonb_array_length(coalesce(c->'thread_refs', '[]')) > 0 THEN
        WITH m AS MATERIALIZED (
            SELECT id, ticket_id FROM messages
             WHERE external_ref = ANY (ARRAY(SELECT jsonb_array_elements_text(c->'thread_refs')))
        )
        SELECT t.id, t.number, t.status INTO v_ticket, v_ticket_no, v_status
          FROM m JOIN tickets t ON t.id = m.ticket_id
         WHERE (t.customer_id = v_cust
                OR (v_email IS NOT NULL AND EXISTS (
                    SELECT 1 FROM messages k WHERE k.ticket_id = t.id AND v_email = ANY (k.cc))))
         ORDER BY m.id DESC LIMIT 1
           FOR UPDATE OF t;
    END IF;
    IF v_ticket IS NULL AND c->>'ticket_ref' IS NOT NULL THEN
        SELECT id, number, status INTO v_ticket, v_ticket_no, v_status
          FROM tickets WHERE number = c->>'ticket_ref' AND customer_id = v_cust FOR UPDATE;
    END IF;
    IF v_status = 'closed' THEN
        v_ticket := NULL;
    END IF;

    IF v_ticket IS NULL THEN
        v_category := c->>'category';
        v_priority := c->>'priority';
        v_queue := c->>'queue';
        -- The online agent of the queue with the fewest open tickets below
        -- capacity, ties round robin (intake_pick_agent); nobody: it waits.
        IF NOT v_historical THEN
            v_assignee := intake_pick_agent(v_queue);
        END IF;
        v_seq := nextval('ticket_number_seq');
        INSERT INTO tickets (number, customer_id, channel, subject, summary, product, category,
                             priority, queue, assignee_id, language, first_response_due_at,
                             handling_due_at, resolution_due_at, status, resolved_at,
                             imported_at, created_at, updated_at)
        VALUES (intake_number(c->>'ticket_prefix', v_seq),
                v_cust, v_channel, v_subject, c->>'summary', c->>'product', v_category,
                v_priority, v_queue, v_assignee, v_lang,
                intake_business_add(v_received, (c->>'first_response_s')::int, c->'calendar'),
                intake_business_add(v_received, (c->>'handling_s')::int, c->'calendar'),
                intake_business_add(v_received, (c->>'resolve_s')::int, c->'calendar'),
                CASE WHEN v_historical THEN 'resolved' ELSE 'new' END,
                CASE WHEN v_historical THEN v_received END,
                CASE WHEN v_historical THEN now() END, v_at, v_at)
        RETURNING id, number INTO v_ticket, v_ticket_no;
        v_new_ticket := true;
        v_event := 'created';
    ELSIF v_historical THEN
        -- An older message of a thread: an imported ticket ends with its
        -- latest message; a ticket of this desk's own keeps its state.
        UPDATE tickets
           SET resolved_at = greatest(resolved_at, v_received),
               updated_at = greatest(updated_at, v_received)
         WHERE id = v_ticket AND imported_at IS NOT NULL
        RETURNING category, priority, queue, language, assignee_id
             INTO v_category, v_priority, v_queue, v_lang, v_assignee;
        IF NOT FOUND THEN
            SELECT category, priority, queue, language, assignee_id
              INTO v_category, v_priority, v_queue, v_lang, v_assignee
              FROM tickets WHERE id = v_ticket;
        END IF;
        v_event := 'message';
    ELSE
        SELECT category, priority, queue, language, assignee_id
          INTO v_category, v_priority, v_queue, v_lang, v_assignee
          FROM tickets WHERE id = v_ticket;
        v_reopened := v_status = 'resolved';
        UPDATE tickets
           SET status = CASE WHEN status IN ('resolved', 'pending') THEN 'open' ELSE status END,
               resolved_at = CASE WHEN v_reopened THEN NULL ELSE resolved_at END,
               updated_at = now()
         WHERE id = v_ticket;
        v_event := CASE WHEN v_reopened THEN 'reopened' ELSE 'message' END;
    END IF;

    -- The message, its timeline event and its outbox rows in one statement:
    -- each statement costs an executor start-up, and this is the hot path.
    -- The customer hears back on a new or reopened ticket when the channel
    -- gave somewhere to answer; agents hear of every message. Nobody hears
    -- of a historical one.
    WITH m AS (
        INSERT INTO messages (ticket_id, direction, channel, idempotency_key, external_ref,
                              sender_name, sender_address, subject, body, cc, language,
                              received_at, created_at)
        VALUES (v_ticket, 'in', v_channel, v_key, c->>'external_ref', v_name,
                coalesce(v_email, v_phone, v_chat), v_subject, coalesce(c->>'body', ''),
                CASE WHEN c ? 'cc' THEN
                    (SELECT array_agg(x) FROM jsonb_array_elements_text(c->'cc') x) END,
                c->>'language_detected', v_received, v_at)
        RETURNING id
    ), e AS (
        INSERT INTO ticket_events (ticket_id, kind, detail, created_at)
        SELECT v_ticket, v_event, jsonb_build_object('message', m.id, 'channel', v_channel,
               'category', v_category, 'priority', v_priority, 'queue', v_queue,
               'assignee', v_assignee, 'no_ack', c->>'no_ack_reason')
               || CASE WHEN v_historical THEN '{"imported": true}'::jsonb ELSE '{}' END, v_at
          FROM m
    ), o AS (
        INSERT INTO outbox (kind, channel, ticket_id, message_id, dedupe_key, payload)
        SELECT 'agent_notify', v_channel, v_ticket, m.id, 'agent:' || v_key,
               jsonb_build_object('ticket', v_ticket_no, 'customer', v_cust_no,
                   'event', v_event, 'queue', v_queue, 'assignee', v_assignee,
                   'priority', v_priority, 'category', v_category)
          FROM m
         WHERE NOT v_historical
        UNION ALL
        SELECT 'ack', v_channel, v_ticket, m.id, 'ack:' || v_key,
               jsonb_build_object('ticket', v_ticket_no, 'customer', v_cust_no,
                   'name', v_name, 'category', v_category, 'priority', v_priority,
                   'language', v_lang, 'subject', v_subject, 'event', v_event,
                   'reply_handle', v_reply, 'external_ref', c->>'external_ref',
                   'first_response_s', (c->>'first_response_s')::int)
          FROM m
         WHERE (v_new_ticket OR v_reopened) AND v_reply IS NOT NULL
           AND c->>'no_ack_reason' IS NULL AND NOT v_historical
    )
    SELECT id INTO v_msg FROM m;

    -- As intake_store_message_parts, inline: a PL/pgSQL call would cost
    -- every message of the hot path a few microseconds.
    IF raw IS NOT NULL THEN
        INSERT INTO message_sources (message_id, raw) VALUES (v_msg, raw);
    END IF;

    IF jsonb_array_length(coalesce(c->'attachments', '[]')) > 0 THEN
        INSERT INTO attachments (message_id, filename, content_type, size_bytes, sha256, content)
        SELECT v_msg, a->>'filename', coalesce(a->>'content_type', 'application/octet-stream'),
               (a->>'size')::bigint, decode(a->>'sha256', 'hex'), decode(a->>'data', 'base64')
          FROM jsonb_array_elements(c->'attachments') a;
    END IF;

    RETURN jsonb_build_object('duplicate', false, 'ticket', v_ticket_no, 'customer', v_cust_no,
        'category', v_category, 'priority', v_priority, 'queue', v_queue, 'language', v_lang,
        'new_ticket', v_new_ticket, 'new_customer', v_new_cust, 'reopened', v_reopened);
END
$fn$;

-- The gateway's entry point. Two first contacts from one new phone number at
-- the same moment (two workers or gateways; an API contact and a missed
-- call) would each make a customer: identities are attached with ON
-- CONFLICT DO NOTHING, and only an e-mail address's loser adopts the
-- winner's record. A contact with a number nobody owns first takes the
-- caller's lock (the one call events take before their lookup, calls.sql),
-- so the second waits for the first to commit and finds the number's
-- customer. Numbers already owned, the usual case, take no lock.
-- intake_register alone stays what the pgbench baseline runs. A message the
-- desk itself sent (an imported mailbox's replies) is no customer's contact:
-- intake_register_outbound (register_outbound.sql) stores it.
CREATE OR REPLACE FUNCTION intake_register_contact(c jsonb, raw bytea DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    IF c->>'direction' = 'out' THEN
        RETURN intake_register_outbound(c, raw);
    END IF;
    IF c->>'phone' IS NOT NULL AND intake_identity_owner('phone', c->>'phone') IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('caller:' || (c->>'phone'), 7));
    END IF;
    RETURN intake_register(c, raw);
END
$fn$;

-- A run of contacts without raw sources as one statement, one answer each
-- in order: every statement costs the backend a bind, an executor start-up
-- and a result (src/register.c sends runs of one kind this way).
CREATE OR REPLACE FUNCTION intake_register_many(docs jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    FOR i IN 0 .. jsonb_array_length(docs) - 1 LOOP
        RETURN NEXT intake_register_contact(docs->i, NULL);
    END LOOP;
END
$fn$;
