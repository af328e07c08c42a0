-- 0005: the agents' desk. Agents get a capacity, a presence and a stream of
-- numbered events (a live session of their own, so resume and cross-node
-- pushes work exactly as for a chat customer); assignment honours capacity
-- and hands waiting tickets out when someone comes online; desk operations
-- (list, show, claim, transfer, reply, note, status, escalate) run as one
-- function each, behind intake_desk(), which checks the agent's token in the
-- same transaction. Agent replies go back over the ticket's own channel;
-- resolving sends a satisfaction survey; low ratings open follow-ups; the SLA
-- scanner escalates breached clocks.

-- (IF NOT EXISTS on 0001's tables: tests roll a database back to 0001 by
-- dropping what later migrations created, which leaves columns and indexes.)
ALTER TABLE agents
    ADD COLUMN IF NOT EXISTS capacity    int NOT NULL DEFAULT 10 CHECK (capacity BETWEEN 0 AND 10000),
    ADD COLUMN IF NOT EXISTS presence    text NOT NULL DEFAULT 'offline'
                           CHECK (presence IN ('online', 'away', 'offline')),
    ADD COLUMN IF NOT EXISTS presence_at timestamptz,
    ADD COLUMN IF NOT EXISTS stream_id   bigint UNIQUE REFERENCES live_sessions (id),
    ADD COLUMN IF NOT EXISTS disabled_at timestamptz;

-- Unassigned work waiting for someone of its queue to come online.
CREATE INDEX IF NOT EXISTS tickets_waiting ON tickets (queue, created_at)
    WHERE assignee_id IS NULL AND status IN ('new', 'open', 'pending');

-- Clocks found breached, one row per ticket, clock and escalation level, so
-- a breach escalates once however often the scanner runs.
CREATE TABLE sla_breaches (
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    clock       text NOT NULL CHECK (clock IN ('first_response', 'handling', 'resolution')),
    level       smallint NOT NULL,
    due_at      timestamptz NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_id, clock, level)
);

-- Open clocks by due time, for the scanner.
CREATE INDEX IF NOT EXISTS tickets_open_first_response ON tickets (first_response_due_at)
    WHERE status IN ('new', 'open') AND first_responded_at IS NULL;
CREATE INDEX IF NOT EXISTS tickets_open_resolution ON tickets (resolution_due_at)
    WHERE status IN ('new', 'open', 'pending');

CREATE TABLE surveys (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id             bigint NOT NULL REFERENCES tickets (id),
    token_hash            bytea NOT NULL UNIQUE, -- SHA-256 of the token in the link
    language              text NOT NULL CHECK (language IN ('zh', 'en')),
    created_at            timestamptz NOT NULL DEFAULT now(),
    expires_at            timestamptz NOT NULL,
    superseded_at         timestamptz, -- a later resolution sent a newer survey
    answered_at           timestamptz,
    response_speed        smallint CHECK (response_speed BETWEEN 1 AND 5),
    resolution_efficiency smallint CHECK (resolution_efficiency BETWEEN 1 AND 5),
    attitude              smallint CHECK (attitude BETWEEN 1 AND 5),
    professionalism       smallint CHECK (professionalism BETWEEN 1 AND 5),
    overall               smallint CHECK (overall BETWEEN 1 AND 5),
    comment               text
);
CREATE INDEX surveys_ticket ON surveys (ticket_id);

-- A task opened by an unhappy answer (any rating <= 3), for the supervisors.
CREATE TABLE followups (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  bigint NOT NULL REFERENCES tickets (id),
    survey_id  bigint UNIQUE REFERENCES surveys (id),
    queue      text NOT NULL REFERENCES queues (name),
    reason     text NOT NULL,
    due_at     timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    closed_at  timestamptz,
    closed_by  text,
    outcome    text
);
CREATE INDEX followups_open ON followups (due_at) WHERE closed_at IS NULL;

-- Business time. A calendar is {"tz", "days": ISO weekdays, "start", "end"
-- ("HH:MM", local), "holidays": ["YYYY-MM-DD"]}; NULL means 24x7, where
-- business time is plain time (and the function stays a cheap expression).
CREATE FUNCTION intake_business_walk(p_from timestamptz, p_secs int, p_cal jsonb)
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_tz    text := coalesce(p_cal->>'tz', 'UTC');
    v_start time := coalesce(p_cal->>'start', '00:00')::time;
    v_end   time := coalesce(p_cal->>'end', '24:00')::time;
    v_left  double precision := greatest(p_secs, 0);
    v_local timestamp := p_from AT TIME ZONE v_tz;
    v_day   date;
    v_open  timestamp;
    v_close timestamp;
BEGIN
    FOR i IN 1..800 LOOP
        v_day := v_local::date;
        v_open := v_day + v_start;
        v_close := v_day + v_end;
        IF extract(isodow FROM v_day)::int IN
               (SELECT jsonb_array_elements_text(coalesce(p_cal->'days', '[1,2,3,4,5,6,7]'))::int)
           AND NOT coalesce(p_cal->'holidays', '[]') ? v_day::text
           AND v_local < v_close THEN
            IF v_local < v_open THEN
                v_local := v_open;
            END IF;
            IF extract(epoch FROM v_close - v_local) >= v_left THEN
                RETURN (v_local + make_interval(secs => v_left)) AT TIME ZONE v_tz;
            END IF;
            v_left := v_left - extract(epoch FROM v_close - v_local);
        END IF;
        v_local := (v_day + 1)::timestamp;
    END LOOP;
    RAISE EXCEPTION 'the business calendar has no open hours' USING ERRCODE = '22023';
END
$fn$;

CREATE FUNCTION intake_business_add(p_from timestamptz, p_secs int, p_cal jsonb)
RETURNS timestamptz
LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN p_cal IS NULL OR jsonb_typeof(p_cal) <> 'object'
                THEN p_from + make_interval(secs => p_secs)
                ELSE intake_business_walk(p_from, p_secs, p_cal) END
$fn$;

-- n working days later at the same local time: days of the calendar's week
-- (Monday to Friday unless it names others) that are not holidays.
CREATE FUNCTION intake_add_working_days(p_from timestamptz, p_days int, p_cal jsonb)
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_tz    text := coalesce(p_cal->>'tz', 'UTC');
    v_local timestamp := p_from AT TIME ZONE v_tz;
    v_left  int := p_days;
BEGIN
    WHILE v_left > 0 LOOP
        v_local := v_local + interval '1 day';
        IF extract(isodow FROM v_local)::int IN
               (SELECT jsonb_array_elements_text(coalesce(p_cal->'days', '[1,2,3,4,5]'))::int)
           AND NOT coalesce(p_cal->'holidays', '[]') ? v_local::date::text THEN
            v_left := v_left - 1;
        END IF;
    END LOOP;
    RETURN v_local AT TIME ZONE v_tz;
END
$fn$;

-- Open tickets an agent holds (what capacity counts).
CREATE FUNCTION intake_agent_load(p_agent bigint) RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT count(*) FROM tickets
     WHERE assignee_id = p_agent AND status IN ('new', 'open', 'pending')
$fn$;

-- The online agent of a queue with the fewest open tickets below capacity;
-- ties go to whoever was assigned least recently (round robin). The agent's
-- row is locked and the load counted again under the lock, so two
-- transactions assigning at once cannot both take the last free slot.
CREATE FUNCTION intake_pick_agent(p_queue text) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_agent bigint;
    v_cap   int;
BEGIN
    FOR attempt IN 1..3 LOOP
        SELECT a.id INTO v_agent
          FROM agents a JOIN agent_queues aq ON aq.agent_id = a.id AND aq.queue = p_queue
         WHERE a.online AND a.disabled_at IS NULL AND intake_agent_load(a.id) < a.capacity
         ORDER BY intake_agent_load(a.id), a.last_assigned_at NULLS FIRST, a.id
         LIMIT 1;
        IF v_agent IS NULL THEN
            RETURN NULL;
        END IF;
        SELECT capacity INTO v_cap FROM agents WHERE id = v_agent AND online FOR UPDATE;
        IF v_cap IS NOT NULL AND intake_agent_load(v_agent) < v_cap THEN
            UPDATE agents SET last_assigned_at = clock_timestamp() WHERE id = v_agent;
            RETURN v_agent;
        END IF;
    END LOOP;
    RETURN NULL;
END
$fn$;

-- Whether any clock of an open ticket has run out at p_now.
CREATE FUNCTION intake_ticket_overdue(t tickets, p_now timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT t.status IN ('new', 'open', 'pending') AND (
           (t.first_responded_at IS NULL AND t.first_response_due_at < p_now)
        OR (t.handling_started_at IS NULL AND t.handling_due_at < p_now)
        OR (t.resolved_at IS NULL AND t.resolution_due_at < p_now))
$fn$;

-- Registration as in 0001, with capacity-aware assignment (intake_pick_agent)
-- and deadlines in business time when a calendar is configured.
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
    v_dup        bigint;
    v_email_own  bigint;
    v_phone_own  bigint;
    v_chat_own   bigint;
    v_cust       bigint;
    v_cust_no    text;
    v_cust_lang  text;
    v_cust_name  text;
    v_new_cust   boolean := false;
    v_won        bigint;
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

    IF v_cust IS NULL THEN
        INSERT INTO customers (number, name, company, language)
        VALUES (c->>'customer_prefix' || lpad(nextval('customer_number_seq')::text, 6, '0'),
                v_name, c->>'company', v_lang_given)
        RETURNING id, number, language, name INTO v_cust, v_cust_no, v_cust_lang, v_cust_name;
        v_new_cust := true;
    ELSE
        SELECT number, language, name INTO v_cust_no, v_cust_lang, v_cust_name
          FROM customers WHERE id = v_cust;
        IF (v_cust_name IS NULL AND v_name IS NOT NULL)
           OR (v_lang_given IS DISTINCT FROM v_cust_lang AND v_lang_given IS NOT NULL) THEN
            UPDATE customers
               SET name = coalesce(name, v_name),
                   language = coalesce(v_lang_given, language),
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

    -- The answer language: what the sender asked for, else Chinese text gets
    -- a Chinese answer, else the customer's stored preference, else English.
    v_lang := coalesce(v_lang_given,
                       CASE WHEN c->>'language_detected' = 'zh' THEN 'zh' END,
                       v_cust_lang, 'en');

    -- Threading: the ticket of an earlier message this one answers, else a
    -- ticket the sender named; only the customer's own tickets, and a closed
    -- ticket stays closed.
    IF jsonb_array_length(coalesce(c->'thread_refs', '[]')) > 0 THEN
        SELECT t.id, t.number, t.status INTO v_ticket, v_ticket_no, v_status
          FROM messages m JOIN tickets t ON t.id = m.ticket_id
         WHERE m.external_ref IN (SELECT jsonb_array_elements_text(c->'thread_refs'))
           AND (t.customer_id = v_cust
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
        v_assignee := intake_pick_agent(v_queue);
        INSERT INTO tickets (number, customer_id, channel, subject, summary, product, category,
                             priority, queue, assignee_id, language, first_response_due_at,
                             handling_due_at, resolution_due_at)
        VALUES (c->>'ticket_prefix' || lpad(nextval('ticket_number_seq')::text, 6, '0'),
                v_cust, v_channel, v_subject, c->>'summary', c->>'product', v_category,
                v_priority, v_queue, v_assignee, v_lang,
                intake_business_add(v_received, (c->>'first_response_s')::int, c->'calendar'),
                intake_business_add(v_received, (c->>'handling_s')::int, c->'calendar'),
                intake_business_add(v_received, (c->>'resolve_s')::int, c->'calendar'))
        RETURNING id, number INTO v_ticket, v_ticket_no;
        v_new_ticket := true;
        v_event := 'created';
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
    -- gave somewhere to answer; agents hear of every message.
    WITH m AS (
        INSERT INTO messages (ticket_id, direction, channel, idempotency_key, external_ref,
                              sender_name, sender_address, subject, body, cc, language,
                              received_at)
        VALUES (v_ticket, 'in', v_channel, v_key, c->>'external_ref', v_name,
                coalesce(v_email, v_phone, v_chat), v_subject, coalesce(c->>'body', ''),
                CASE WHEN c ? 'cc' THEN
                    (SELECT array_agg(x) FROM jsonb_array_elements_text(c->'cc') x) END,
                c->>'language_detected', v_received)
        RETURNING id
    ), e AS (
        INSERT INTO ticket_events (ticket_id, kind, detail)
        SELECT v_ticket, v_event, jsonb_build_object('message', m.id, 'channel', v_channel,
               'category', v_category, 'priority', v_priority, 'queue', v_queue,
               'assignee', v_assignee, 'no_ack', c->>'no_ack_reason')
          FROM m
    ), o AS (
        INSERT INTO outbox (kind, channel, ticket_id, message_id, dedupe_key, payload)
        SELECT 'agent_notify', v_channel, v_ticket, m.id, 'agent:' || v_key,
               jsonb_build_object('ticket', v_ticket_no, 'customer', v_cust_no,
                   'event', v_event, 'queue', v_queue, 'assignee', v_assignee,
                   'priority', v_priority, 'category', v_category)
          FROM m
        UNION ALL
        SELECT 'ack', v_channel, v_ticket, m.id, 'ack:' || v_key,
               jsonb_build_object('ticket', v_ticket_no, 'customer', v_cust_no,
                   'name', v_name, 'category', v_category, 'priority', v_priority,
                   'language', v_lang, 'subject', v_subject, 'event', v_event,
                   'reply_handle', v_reply, 'external_ref', c->>'external_ref',
                   'first_response_s', (c->>'first_response_s')::int)
          FROM m
         WHERE (v_new_ticket OR v_reopened) AND v_reply IS NOT NULL
           AND c->>'no_ack_reason' IS NULL
    )
    SELECT id INTO v_msg FROM m;

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

-- An agent's stream: a live session of its own (channel 'desk'), created
-- on first use. Its token hash is random and never handed out: the agent
-- reaches the stream with the agent token, not a chat token.
CREATE FUNCTION intake_agent_stream(p_agent bigint) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_stream bigint;
BEGIN
    SELECT stream_id INTO v_stream FROM agents WHERE id = p_agent;
    IF v_stream IS NOT NULL THEN
        RETURN v_stream;
    END IF;
    INSERT INTO live_sessions (token_hash, visitor, channel, name)
    SELECT sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')),
           'agent-' || p_agent, 'desk', name
      FROM agents WHERE id = p_agent
    ON CONFLICT (visitor) DO NOTHING;
    SELECT id INTO v_stream FROM live_sessions WHERE visitor = 'agent-' || p_agent;
    UPDATE agents SET stream_id = v_stream WHERE id = p_agent AND stream_id IS NULL;
    RETURN v_stream;
END
$fn$;

-- Appends an event ({"type": ...}) to an agent's stream; NULL agent: nothing.
CREATE FUNCTION intake_agent_push(p_agent bigint, p_event jsonb) RETURNS bigint
LANGUAGE plpgsql AS $fn$
BEGIN
    IF p_agent IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN intake_session_append(intake_agent_stream(p_agent), NULL,
                                 p_event || jsonb_build_object('at', extract(epoch FROM now())));
END
$fn$;

-- Pushes one event to every agent of a role (lead, supervisor) who serves
-- the queue, or to every agent of that role when none serves it.
CREATE FUNCTION intake_push_role(p_role text, p_queue text, p_event jsonb) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_agent bigint;
    v_n     int := 0;
BEGIN
    FOR v_agent IN
        SELECT a.id FROM agents a
         WHERE a.role = p_role AND a.disabled_at IS NULL
           AND (EXISTS (SELECT 1 FROM agent_queues q WHERE q.agent_id = a.id AND q.queue = p_queue)
                OR NOT EXISTS (SELECT 1 FROM agents b JOIN agent_queues q ON q.agent_id = b.id
                                WHERE b.role = p_role AND b.disabled_at IS NULL
                                  AND q.queue = p_queue))
         ORDER BY a.id
    LOOP
        PERFORM intake_agent_push(v_agent, p_event);
        v_n := v_n + 1;
    END LOOP;
    RETURN v_n;
END
$fn$;

-- A ticket as lists and events show it.
CREATE FUNCTION intake_ticket_brief(t tickets) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_build_object(
        'number', t.number, 'status', t.status, 'channel', t.channel,
        'subject', t.subject, 'summary', t.summary, 'category', t.category,
        'priority', t.priority, 'queue', t.queue, 'language', t.language,
        'escalation_level', t.escalation_level,
        'assignee', (SELECT jsonb_build_object('id', a.id, 'name', a.name)
                       FROM agents a WHERE a.id = t.assignee_id),
        'customer', (SELECT jsonb_build_object('number', c.number, 'name', c.name)
                       FROM customers c WHERE c.id = t.customer_id),
        'created_at', t.created_at, 'updated_at', t.updated_at,
        -- The clocks still running (none once the ticket is resolved or closed).
        'due', jsonb_build_object(
            'first_response', CASE WHEN t.first_responded_at IS NULL AND t.status IN
                                   ('new', 'open', 'pending') THEN t.first_response_due_at END,
            'handling', CASE WHEN t.handling_started_at IS NULL AND t.status IN
                             ('new', 'open', 'pending') THEN t.handling_due_at END,
            'resolution', CASE WHEN t.resolved_at IS NULL AND t.status IN
                               ('new', 'open', 'pending') THEN t.resolution_due_at END),
        'first_responded_at', t.first_responded_at,
        'resolved_at', t.resolved_at,
        'overdue', intake_ticket_overdue(t, now()))
$fn$;


-- Gives an agent waiting tickets of their queues (most urgent first, then
-- oldest) until their capacity is full; returns how many. Each becomes a
-- ticket.assigned event on the agent's stream.
CREATE FUNCTION intake_assign_waiting(p_agent bigint) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    a     agents;
    t     tickets;
    v_n   int := 0;
    v_cap int;
BEGIN
    SELECT * INTO a FROM agents WHERE id = p_agent FOR UPDATE;
    IF NOT FOUND OR NOT a.online OR a.disabled_at IS NOT NULL THEN
        RETURN 0;
    END IF;
    v_cap := a.capacity - intake_agent_load(a.id);
    FOR t IN
        SELECT * FROM tickets
         WHERE assignee_id IS NULL AND status IN ('new', 'open', 'pending')
           AND queue IN (SELECT queue FROM agent_queues WHERE agent_id = a.id)
         ORDER BY CASE priority WHEN 'urgent' THEN 0 WHEN 'important' THEN 1 ELSE 2 END,
                  created_at, id
         LIMIT greatest(v_cap, 0)
           FOR UPDATE SKIP LOCKED
    LOOP
        UPDATE tickets SET assignee_id = a.id, updated_at = now() WHERE id = t.id
        RETURNING * INTO t;
        INSERT INTO ticket_events (ticket_id, kind, detail)
        VALUES (t.id, 'assigned', jsonb_build_object('assignee', a.id, 'by', 'presence'));
        PERFORM intake_agent_push(a.id, jsonb_build_object('type', 'ticket.assigned',
                    'ticket', intake_ticket_brief(t)));
        v_n := v_n + 1;
    END LOOP;
    IF v_n > 0 THEN
        UPDATE agents SET last_assigned_at = clock_timestamp() WHERE id = a.id;
    END IF;
    RETURN v_n;
END
$fn$;

-- Publishes registration notifications (outbox 'agent_notify' rows): a
-- NOTIFY on p_channel for integrations listening there, on the assignee's
-- stream ticket.assigned (a new ticket) or message.new (a customer wrote on
-- their ticket), and for a queue in p_hooked (queues with a webhook) an
-- outbox 'queue_webhook' row. Runs on the dispatcher, off the registration
-- path; the rows are deleted (the timeline keeps the event).
CREATE FUNCTION intake_publish_agent_events(p_limit int, p_channel text,
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


-- Where and how to answer a ticket's customer outside a live session: the
-- address of their last message (a mail address or a phone number), else
-- one they are known by; prefer says which the ticket came in on, and
-- in_reply_to threads a mail answer under the customer's last mail.
CREATE FUNCTION intake_ticket_contact(t tickets) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    WITH last_in AS (
        SELECT sender_address AS addr, external_ref FROM messages
         WHERE ticket_id = t.id AND direction = 'in' ORDER BY id DESC LIMIT 1)
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'name', (SELECT name FROM customers WHERE id = t.customer_id),
        'email', coalesce((SELECT addr FROM last_in WHERE addr LIKE '%@%'),
                          (SELECT value FROM customer_identities
                            WHERE customer_id = t.customer_id AND kind = 'email'
                            ORDER BY created_at DESC LIMIT 1)),
        'phone', coalesce((SELECT addr FROM last_in WHERE addr LIKE '+%'),
                          (SELECT value FROM customer_identities
                            WHERE customer_id = t.customer_id AND kind = 'phone'
                            ORDER BY created_at DESC LIMIT 1)),
        'prefer', CASE WHEN (SELECT addr FROM last_in) LIKE '+%' THEN 'phone' ELSE 'email' END,
        'in_reply_to', (SELECT external_ref FROM last_in WHERE addr LIKE '%@%'),
        'language', t.language, 'subject', t.subject, 'ticket', t.number))
$fn$;

-- An agent's reply on a ticket: d = {ticket, text, agent, agent_id, key}.
-- Stored as an outbound message (d.key makes a retry harmless), it stops
-- the first-response clock and starts handling. It goes back the way the
-- customer came: into every live session on the ticket (a chat), or through
-- the outbox as mail or a text message to the customer's address (kind
-- 'reply'); a chat customer who left before any agent answered is also
-- written to at the address they gave.
CREATE OR REPLACE FUNCTION intake_ticket_reply(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    t          tickets;
    s          live_sessions;
    v_msg      bigint;
    v_at       double precision := extract(epoch FROM now());
    v_key      text := coalesce(d->>'key', 'reply:' || gen_random_uuid());
    v_sessions int := 0;
    v_fallback int := 0;
    v_agent    bigint := (d->>'agent_id')::bigint;
BEGIN
    IF coalesce(d->>'text', '') = '' THEN
        RAISE EXCEPTION 'a reply needs text' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO t FROM tickets WHERE number = d->>'ticket' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('found', false);
    END IF;
    INSERT INTO messages (ticket_id, direction, channel, idempotency_key, sender_name, body)
    VALUES (t.id, 'out', t.channel, 'out:' || v_key, d->>'agent', d->>'text')
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO v_msg;
    IF v_msg IS NULL THEN
        RETURN jsonb_build_object('found', true, 'duplicate', true, 'ticket', t.number);
    END IF;
    UPDATE tickets
       SET first_responded_at = coalesce(first_responded_at, now()),
           handling_started_at = coalesce(handling_started_at, now()),
           status = CASE WHEN status = 'new' THEN 'open' ELSE status END,
           updated_at = now()
     WHERE id = t.id
    RETURNING * INTO t;
    INSERT INTO ticket_events (ticket_id, kind, actor, detail)
    VALUES (t.id, 'reply', coalesce(d->>'agent', 'system'),
            jsonb_build_object('message', v_msg, 'agent', d->>'agent', 'agent_id', v_agent));

    FOR s IN SELECT * FROM live_sessions WHERE ticket_id = t.id ORDER BY id FOR UPDATE LOOP
        PERFORM intake_session_append(s.id, NULL, jsonb_build_object('type', 'message',
                    'from', 'agent', 'agent', d->>'agent', 'text', d->>'text',
                    'ticket', t.number, 'at', v_at));
        IF s.left_at IS NOT NULL AND NOT s.agent_answered
           AND (s.email IS NOT NULL OR s.phone IS NOT NULL) THEN
            INSERT INTO outbox (kind, channel, ticket_id, message_id, dedupe_key, payload)
            VALUES ('reply', s.channel, t.id, v_msg, 'reply:' || v_key || ':' || s.id,
                    jsonb_strip_nulls(jsonb_build_object('ticket', t.number, 'text', d->>'text',
                        'agent', d->>'agent', 'name', s.name, 'email', s.email,
                        'phone', s.phone, 'language', coalesce(s.language, t.language),
                        'subject', t.subject)));
            v_fallback := v_fallback + 1;
        END IF;
        UPDATE live_sessions SET agent_answered = true WHERE id = s.id;
        v_sessions := v_sessions + 1;
    END LOOP;
    IF v_sessions = 0 THEN
        INSERT INTO outbox (kind, channel, ticket_id, message_id, dedupe_key, payload)
        VALUES ('reply', t.channel, t.id, v_msg, 'reply:' || v_key,
                intake_ticket_contact(t) || jsonb_strip_nulls(jsonb_build_object(
                    'text', d->>'text', 'agent', d->>'agent')));
    END IF;
    IF t.assignee_id IS DISTINCT FROM v_agent THEN
        PERFORM intake_agent_push(t.assignee_id, jsonb_build_object('type', 'ticket.updated',
                    'what', 'reply', 'by', d->>'agent', 'ticket', intake_ticket_brief(t)));
    END IF;
    RETURN jsonb_build_object('found', true, 'duplicate', false, 'ticket', t.number,
                              'message', v_msg, 'sessions', v_sessions,
                              'fallback', v_fallback, 'outbox', v_sessions = 0);
END
$fn$;

-- A live session's customer still there gets a notice event; NULL when the
-- session is gone or its customer left (the caller then writes instead).
CREATE FUNCTION intake_session_notice(p_session bigint, p_event jsonb) RETURNS bigint
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM 1 FROM live_sessions WHERE id = p_session AND left_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN intake_session_append(p_session, NULL, p_event);
END
$fn$;

-- A resolution's survey: an unguessable token (two random UUIDs, 244 bits)
-- whose hash is stored, and an outbox row that carries the link to the
-- customer after d.survey_delay_s. An earlier unanswered survey of the
-- ticket is superseded: one open survey per ticket, for its last resolution.
CREATE FUNCTION intake_survey_open(t tickets, d jsonb) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_token  text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
    v_survey bigint;
    v_live   bigint;
BEGIN
    UPDATE surveys SET superseded_at = now()
     WHERE ticket_id = t.id AND answered_at IS NULL AND superseded_at IS NULL;
    INSERT INTO surveys (ticket_id, token_hash, language, expires_at)
    VALUES (t.id, sha256(convert_to(v_token, 'UTF8')), t.language,
            now() + make_interval(secs => coalesce((d->>'survey_expires_s')::int, 604800)))
    RETURNING id INTO v_survey;
    SELECT id INTO v_live FROM live_sessions
     WHERE ticket_id = t.id AND left_at IS NULL ORDER BY id DESC LIMIT 1;
    INSERT INTO outbox (kind, channel, ticket_id, dedupe_key, payload, next_attempt_at)
    VALUES ('survey', t.channel, t.id, 'survey:' || v_survey,
            intake_ticket_contact(t) || jsonb_strip_nulls(jsonb_build_object(
                'token', v_token, 'survey', v_survey, 'session', v_live,
                'expires_at', extract(epoch FROM now() + make_interval(
                    secs => coalesce((d->>'survey_expires_s')::int, 604800)))::bigint)),
            now() + make_interval(secs => coalesce((d->>'survey_delay_s')::int, 0)));
    RETURN v_survey;
END
$fn$;


-- A follow-up as lists and answers show it (the ticket by number).
CREATE FUNCTION intake_followup_brief(f followups) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_strip_nulls(to_jsonb(f) - 'ticket_id' || jsonb_build_object(
        'ticket', (SELECT number FROM tickets WHERE id = f.ticket_id),
        'overdue', f.closed_at IS NULL AND f.due_at < now()))
$fn$;

-- Desk answers: {"status": HTTP status, "body": ...} or {"status", "error", "field"}.
CREATE FUNCTION intake_desk_error(p_status int, p_error text, p_field text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT jsonb_strip_nulls(jsonb_build_object('status', p_status, 'error', p_error,
                                                'field', p_field))
$fn$;

CREATE FUNCTION intake_desk_ok(p_body jsonb, p_status int DEFAULT 200) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT jsonb_build_object('status', p_status, 'body', p_body)
$fn$;

-- Whether the caller may act on a ticket: the API token (a.id NULL), leads
-- and supervisors on any; an agent on tickets of their queues or their own.
CREATE FUNCTION intake_desk_can(a agents, t tickets) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT a.id IS NULL OR a.role IN ('lead', 'supervisor') OR t.assignee_id IS NOT DISTINCT
        FROM a.id OR EXISTS (SELECT 1 FROM agent_queues WHERE agent_id = a.id AND queue = t.queue)
$fn$;

CREATE FUNCTION intake_agent_brief(a agents) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_build_object('id', a.id, 'name', a.name, 'email', a.email, 'role', a.role,
        'presence', a.presence, 'capacity', a.capacity, 'open_tickets', intake_agent_load(a.id),
        'queues', coalesce((SELECT jsonb_agg(queue ORDER BY queue) FROM agent_queues
                             WHERE agent_id = a.id), '[]'))
$fn$;

-- Tickets the caller can see, filtered by d: queue, status (list), priority,
-- assignee ('me', 'none' or an agent id), overdue (true), limit (<= 200).
-- Most urgent first: overdue, then the nearest running clock.
CREATE FUNCTION intake_desk_list(a agents, d jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT intake_desk_ok(jsonb_build_object('tickets', coalesce(jsonb_agg(
               intake_ticket_brief(x.tk) ORDER BY x.sort_overdue DESC, x.sort_due, x.id), '[]')))
      FROM (SELECT t AS tk, t.id, intake_ticket_overdue(t, now()) AS sort_overdue,
                   least(CASE WHEN t.first_responded_at IS NULL THEN t.first_response_due_at END,
                         CASE WHEN t.handling_started_at IS NULL THEN t.handling_due_at END,
                         CASE WHEN t.resolved_at IS NULL THEN t.resolution_due_at END) AS sort_due
              FROM tickets t
             WHERE (a.id IS NULL OR a.role IN ('lead', 'supervisor') OR t.assignee_id = a.id
                    OR t.queue IN (SELECT queue FROM agent_queues WHERE agent_id = a.id))
               AND (d->>'queue' IS NULL OR t.queue = d->>'queue')
               AND (d->>'priority' IS NULL OR t.priority = d->>'priority')
               AND t.status IN (SELECT jsonb_array_elements_text(
                       coalesce(d->'status', '["new", "open", "pending"]')))
               AND (d->>'assignee' IS NULL
                    OR (d->>'assignee' = 'me' AND t.assignee_id = a.id)
                    OR (d->>'assignee' = 'none' AND t.assignee_id IS NULL)
                    OR (d->>'assignee' ~ '^[0-9]{1,18}$'
                        AND t.assignee_id = (d->>'assignee')::bigint))
               AND (NOT coalesce((d->>'overdue')::boolean, false)
                    OR intake_ticket_overdue(t, now()))
             ORDER BY intake_ticket_overdue(t, now()) DESC,
                      least(CASE WHEN t.first_responded_at IS NULL THEN t.first_response_due_at END,
                            CASE WHEN t.handling_started_at IS NULL THEN t.handling_due_at END,
                            CASE WHEN t.resolved_at IS NULL THEN t.resolution_due_at END), t.id
             LIMIT least(coalesce((d->>'limit')::int, 50), 200)) x
$fn$;

-- One ticket with its customer record, messages, timeline, surveys and follow-ups.
CREATE FUNCTION intake_desk_show(t tickets) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT intake_desk_ok(intake_ticket_brief(t) || jsonb_build_object(
        'product', t.product, 'solution', t.solution, 'result', t.result,
        'handling_started_at', t.handling_started_at, 'closed_at', t.closed_at,
        'deadlines', jsonb_build_object('first_response', t.first_response_due_at,
                                        'handling', t.handling_due_at,
                                        'resolution', t.resolution_due_at),
        'customer', (SELECT jsonb_build_object('number', c.number, 'name', c.name,
                         'company', c.company, 'language', c.language,
                         'identities', coalesce((SELECT jsonb_agg(jsonb_build_object(
                             'kind', i.kind, 'value', i.value) ORDER BY i.kind, i.value)
                             FROM customer_identities i WHERE i.customer_id = c.id), '[]'),
                         'open_tickets', (SELECT count(*) FROM tickets o
                             WHERE o.customer_id = c.id AND o.status IN ('new', 'open', 'pending')))
                       FROM customers c WHERE c.id = t.customer_id),
        'messages', coalesce((SELECT jsonb_agg(jsonb_build_object('id', m.id,
                         'direction', m.direction, 'channel', m.channel,
                         'from', m.sender_name, 'address', m.sender_address,
                         'subject', m.subject, 'text', m.body, 'at', m.received_at)
                         ORDER BY m.id) FROM messages m WHERE m.ticket_id = t.id), '[]'),
        'events', coalesce((SELECT jsonb_agg(jsonb_build_object('kind', e.kind,
                         'actor', e.actor, 'detail', e.detail, 'at', e.created_at)
                         ORDER BY e.id) FROM ticket_events e WHERE e.ticket_id = t.id), '[]'),
        'surveys', coalesce((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                         'id', s.id, 'created_at', s.created_at, 'expires_at', s.expires_at,
                         'answered_at', s.answered_at, 'superseded', s.superseded_at IS NOT NULL,
                         'ratings', CASE WHEN s.answered_at IS NOT NULL THEN jsonb_build_object(
                             'response_speed', s.response_speed,
                             'resolution_efficiency', s.resolution_efficiency,
                             'attitude', s.attitude, 'professionalism', s.professionalism,
                             'overall', s.overall) END,
                         'comment', s.comment)) ORDER BY s.id)
                         FROM surveys s WHERE s.ticket_id = t.id), '[]'),
        'followups', coalesce((SELECT jsonb_agg(intake_followup_brief(f) ORDER BY f.id)
                         FROM followups f WHERE f.ticket_id = t.id), '[]')))
$fn$;

-- Hands a ticket to an agent (or to nobody): timeline event, and stream
-- events for the new holder (ticket.assigned) and the previous one.
CREATE FUNCTION intake_ticket_assign(t tickets, p_agent bigint, p_actor text, p_how text)
RETURNS tickets
LANGUAGE plpgsql AS $fn$
DECLARE
    v_prev bigint := t.assignee_id;
BEGIN
    IF p_agent IS NOT NULL THEN
        PERFORM 1 FROM agents WHERE id = p_agent FOR UPDATE;
        UPDATE agents SET last_assigned_at = clock_timestamp() WHERE id = p_agent;
    END IF;
    UPDATE tickets SET assignee_id = p_agent, updated_at = now(),
           handling_started_at = CASE WHEN p_how = 'claim'
                                      THEN coalesce(handling_started_at, now())
                                      ELSE handling_started_at END,
           status = CASE WHEN p_how = 'claim' AND status = 'new' THEN 'open' ELSE status END
     WHERE id = t.id RETURNING * INTO t;
    INSERT INTO ticket_events (ticket_id, kind, actor, detail)
    VALUES (t.id, CASE WHEN p_agent IS NULL THEN 'unassigned' ELSE 'assigned' END, p_actor,
            jsonb_build_object('assignee', p_agent, 'previous', v_prev, 'by', p_how,
                               'queue', t.queue));
    IF p_agent IS NOT NULL THEN
        PERFORM intake_agent_push(p_agent, jsonb_build_object('type', 'ticket.assigned',
                    'by', p_actor, 'ticket', intake_ticket_brief(t)));
    END IF;
    IF v_prev IS NOT NULL AND v_prev IS DISTINCT FROM p_agent THEN
        PERFORM intake_agent_push(v_prev, jsonb_build_object('type', 'ticket.updated',
                    'what', 'transferred', 'by', p_actor, 'ticket', intake_ticket_brief(t)));
        PERFORM intake_assign_waiting(v_prev);
    END IF;
    RETURN t;
END
$fn$;


-- A deadline after an escalation at p_now: a new one when it ran out, else
-- the sooner of the old one and the new level's.
CREATE FUNCTION intake_escalated_due(p_due timestamptz, p_now timestamptz, p_secs int, d jsonb)
RETURNS timestamptz
LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN p_due <= p_now THEN intake_business_add(p_now, p_secs, d->'calendar')
                ELSE least(p_due, intake_business_add(p_now, p_secs, d->'calendar')) END
$fn$;

-- Raises a ticket's escalation level (to at most 3) and tells the next tier:
-- level 2 the team leads, level 3 the supervisors (the emergency group). The
-- running clocks restart with the new level's times (d.respond_s, d.resolve_s).
CREATE FUNCTION intake_ticket_escalate(t tickets, p_actor text, p_reason text, d jsonb)
RETURNS tickets
LANGUAGE plpgsql AS $fn$
DECLARE
    v_level   smallint := least(t.escalation_level + 1, 3);
    v_now     timestamptz := coalesce((d->>'now')::timestamptz, now());
    -- DESIGN.md's tiers: respond in 24 h / 12 h / 2 h, resolve in 24 h / 48 h / 48 h.
    v_respond int := coalesce((d->'respond_s'->>(v_level - 1))::int,
                              (ARRAY[86400, 43200, 7200])[v_level]);
    v_resolve int := coalesce((d->'resolve_s'->>(v_level - 1))::int,
                              (ARRAY[86400, 172800, 172800])[v_level]);
    v_event   jsonb;
BEGIN
    -- A clock that ran out starts again with the new level's time (so one
    -- breach raises the level once instead of cascading to level 3); one
    -- still running keeps its deadline unless the new level's is sooner.
    UPDATE tickets
       SET escalation_level = v_level, updated_at = now(),
           first_response_due_at = CASE WHEN first_responded_at IS NOT NULL
               THEN first_response_due_at
               ELSE intake_escalated_due(first_response_due_at, v_now, v_respond, d) END,
           handling_due_at = CASE WHEN handling_started_at IS NOT NULL THEN handling_due_at
               ELSE intake_escalated_due(handling_due_at, v_now, v_respond, d) END,
           resolution_due_at = intake_escalated_due(resolution_due_at, v_now, v_resolve, d)
     WHERE id = t.id RETURNING * INTO t;
    INSERT INTO ticket_events (ticket_id, kind, actor, detail)
    VALUES (t.id, 'escalated', p_actor, jsonb_build_object('level', v_level, 'reason', p_reason));
    v_event := jsonb_build_object('type', 'ticket.escalated', 'level', v_level,
                                  'reason', p_reason, 'by', p_actor,
                                  'ticket', intake_ticket_brief(t));
    PERFORM intake_push_role(CASE WHEN v_level = 2 THEN 'lead' ELSE 'supervisor' END,
                             t.queue, v_event);
    PERFORM intake_agent_push(t.assignee_id, v_event);
    RETURN t;
END
$fn$;

-- A status change by an agent: open, pending (waiting on the customer),
-- resolved (sends the survey) or closed. A closed ticket stays closed.
CREATE FUNCTION intake_ticket_set_status(t tickets, p_actor text, d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_status text := d->>'status';
    v_prev   text := t.status;
    v_survey bigint;
BEGIN
    IF t.status = 'closed' THEN
        RETURN intake_desk_error(409, 'the ticket is closed; a new contact opens a new ticket',
                                 'status');
    END IF;
    IF v_status NOT IN ('open', 'pending', 'resolved', 'closed') THEN
        RETURN intake_desk_error(400, 'status must be open, pending, resolved or closed',
                                 'status');
    END IF;
    UPDATE tickets
       SET status = v_status, updated_at = now(),
           handling_started_at = coalesce(handling_started_at, now()),
           resolved_at = CASE WHEN v_status = 'resolved' THEN now()
                              WHEN v_status IN ('open', 'pending') THEN NULL
                              ELSE resolved_at END,
           closed_at = CASE WHEN v_status = 'closed' THEN now() ELSE closed_at END,
           solution = coalesce(d->>'solution', solution),
           result = coalesce(d->>'result', result)
     WHERE id = t.id RETURNING * INTO t;
    INSERT INTO ticket_events (ticket_id, kind, actor, detail)
    VALUES (t.id, 'status', p_actor, jsonb_strip_nulls(jsonb_build_object('from', v_prev,
            'to', v_status, 'solution', d->>'solution', 'result', d->>'result')));
    IF v_status = 'resolved' AND v_prev <> 'resolved' THEN
        v_survey := intake_survey_open(t, d);
    END IF;
    PERFORM intake_agent_push(t.assignee_id, jsonb_build_object('type', 'ticket.updated',
                'what', 'status', 'by', p_actor, 'ticket', intake_ticket_brief(t)));
    IF v_status IN ('resolved', 'closed') AND t.assignee_id IS NOT NULL THEN
        PERFORM intake_assign_waiting(t.assignee_id);
    END IF;
    RETURN intake_desk_ok(intake_ticket_brief(t) || jsonb_strip_nulls(
               jsonb_build_object('survey', v_survey)));
END
$fn$;

-- The desk's one entry point: d = {action, token_hash (an agent's) or api
-- (the API token was given), ticket, ...}. The token is checked here, in
-- the same transaction as the work.
CREATE FUNCTION intake_desk(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    a        agents;
    t        tickets;
    v_action text := d->>'action';
    v_actor  text;
    v_target bigint;
    v_res    jsonb;
BEGIN
    IF d->>'token_hash' IS NOT NULL THEN
        SELECT * INTO a FROM agents WHERE token_hash = d->>'token_hash' AND disabled_at IS NULL;
        IF NOT FOUND THEN
            RETURN intake_desk_error(401, 'unknown or revoked agent token');
        END IF;
    ELSIF NOT coalesce((d->>'api')::boolean, false) THEN
        RETURN intake_desk_error(401, 'an agent token is required');
    END IF;
    -- A tool with the API token may name the person it acts for (d.agent_name).
    v_actor := coalesce(a.name, d->>'agent_name', 'api');

    IF v_action = 'me' THEN
        IF a.id IS NULL THEN
            RETURN intake_desk_error(400, 'the API token is not an agent');
        END IF;
        RETURN intake_desk_ok(intake_agent_brief(a));
    ELSIF v_action = 'list' THEN
        RETURN intake_desk_list(a, d);
    ELSIF v_action = 'followups' THEN
        RETURN intake_desk_ok(jsonb_build_object('followups', coalesce((
            SELECT jsonb_agg(intake_followup_brief(f) ORDER BY f.due_at)
              FROM followups f
             WHERE (f.closed_at IS NULL OR coalesce((d->>'all')::boolean, false))
               AND (a.id IS NULL OR a.role IN ('lead', 'supervisor')
                    OR f.queue IN (SELECT queue FROM agent_queues WHERE agent_id = a.id))),
            '[]')));
    ELSIF v_action = 'followup_close' THEN
        UPDATE followups SET closed_at = now(), closed_by = v_actor, outcome = d->>'outcome'
         WHERE id = (d->>'followup')::bigint AND closed_at IS NULL
           AND (a.id IS NULL OR a.role IN ('lead', 'supervisor')
                OR queue IN (SELECT queue FROM agent_queues WHERE agent_id = a.id))
        RETURNING ticket_id INTO v_target;
        IF v_target IS NULL THEN
            IF EXISTS (SELECT 1 FROM followups WHERE id = (d->>'followup')::bigint
                                                 AND closed_at IS NOT NULL) THEN
                RETURN intake_desk_error(409, 'the follow-up is already closed');
            END IF;
            RETURN intake_desk_error(404, 'no such open follow-up');
        END IF;
        INSERT INTO ticket_events (ticket_id, kind, actor, detail)
        VALUES (v_target, 'followup_closed', v_actor,
                jsonb_build_object('followup', (d->>'followup')::bigint,
                                   'outcome', d->>'outcome'));
        RETURN intake_desk_ok((SELECT intake_followup_brief(f) FROM followups f
                                WHERE id = (d->>'followup')::bigint));
    ELSIF v_action = 'presence' THEN
        IF a.id IS NULL THEN
            RETURN intake_desk_error(400, 'the API token is not an agent');
        END IF;
        UPDATE agents SET presence = d->>'presence', online = d->>'presence' = 'online',
               presence_at = now()
         WHERE id = a.id RETURNING * INTO a;
        RETURN intake_desk_ok(intake_agent_brief(a) || jsonb_build_object(
                   'assigned', intake_assign_waiting(a.id)));
    ELSIF v_action = 'stream' THEN
        -- The agent's stream socket opens: presence (online unless told
        -- otherwise), waiting work handed out, and the events after d.after.
        IF a.id IS NULL THEN
            RETURN intake_desk_error(400, 'the API token is not an agent');
        END IF;
        UPDATE agents SET presence = coalesce(d->>'presence', 'online'),
               online = coalesce(d->>'presence', 'online') = 'online', presence_at = now()
         WHERE id = a.id RETURNING * INTO a;
        PERFORM intake_agent_stream(a.id);
        PERFORM intake_assign_waiting(a.id);
        RETURN intake_desk_ok(intake_session_events(jsonb_build_object(
                   'session', intake_agent_stream(a.id), 'after', d->'after'))
               || jsonb_build_object('agent', intake_agent_brief(a)));
    END IF;

    -- Everything below acts on one ticket.
    SELECT * INTO t FROM tickets WHERE number = d->>'ticket' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN intake_desk_error(404, 'no such ticket');
    END IF;
    IF NOT intake_desk_can(a, t) THEN
        RETURN intake_desk_error(403, 'the ticket is in a queue you do not serve');
    END IF;

    IF v_action = 'show' THEN
        RETURN intake_desk_show(t);
    ELSIF v_action IN ('reply', 'transfer') AND t.status = 'closed' THEN
        RETURN intake_desk_error(409, 'the ticket is closed; a new contact opens a new ticket');
    ELSIF v_action = 'claim' THEN
        IF a.id IS NULL THEN
            RETURN intake_desk_error(400, 'the API token is not an agent; transfer instead');
        END IF;
        IF t.status IN ('resolved', 'closed') THEN
            RETURN intake_desk_error(409, 'the ticket is ' || t.status);
        END IF;
        IF t.assignee_id IS NOT NULL AND t.assignee_id <> a.id THEN
            RETURN intake_desk_error(409, 'the ticket is assigned to '
                || (SELECT name FROM agents WHERE id = t.assignee_id));
        END IF;
        t := intake_ticket_assign(t, a.id, v_actor, 'claim');
        RETURN intake_desk_ok(intake_ticket_brief(t));
    ELSIF v_action = 'transfer' THEN
        IF d->>'queue' IS NOT NULL THEN
            IF NOT EXISTS (SELECT 1 FROM queues WHERE name = d->>'queue') THEN
                RETURN intake_desk_error(400, 'no such queue', 'queue');
            END IF;
            UPDATE tickets SET queue = d->>'queue', updated_at = now()
             WHERE id = t.id RETURNING * INTO t;
        END IF;
        IF d->>'agent' IS NOT NULL THEN
            SELECT id INTO v_target FROM agents
             WHERE disabled_at IS NULL
               AND (email = lower(d->>'agent')
                    OR (d->>'agent' ~ '^[0-9]{1,18}$' AND id = (d->>'agent')::bigint));
            IF v_target IS NULL THEN
                RETURN intake_desk_error(400, 'no such agent', 'agent');
            END IF;
        ELSE
            -- Back to the queue: whoever of it is free now, else it waits.
            v_target := intake_pick_agent(t.queue);
        END IF;
        t := intake_ticket_assign(t, v_target, v_actor, 'transfer');
        RETURN intake_desk_ok(intake_ticket_brief(t));
    ELSIF v_action = 'reply' THEN
        v_res := intake_ticket_reply(jsonb_build_object('ticket', t.number, 'text', d->>'text',
                     'agent', v_actor, 'agent_id', a.id, 'key', d->>'key'));
        RETURN intake_desk_ok(v_res - 'found',
                              CASE WHEN (v_res->>'duplicate')::boolean THEN 200 ELSE 201 END);
    ELSIF v_action = 'note' THEN
        INSERT INTO ticket_events (ticket_id, kind, actor, detail)
        VALUES (t.id, 'note', v_actor, jsonb_build_object('text', d->>'text', 'agent_id', a.id));
        IF t.assignee_id IS DISTINCT FROM a.id THEN
            PERFORM intake_agent_push(t.assignee_id, jsonb_build_object('type', 'ticket.updated',
                        'what', 'note', 'by', v_actor, 'ticket', intake_ticket_brief(t)));
        END IF;
        RETURN intake_desk_ok(jsonb_build_object('ticket', t.number, 'note', d->>'text'), 201);
    ELSIF v_action = 'status' THEN
        RETURN intake_ticket_set_status(t, v_actor, d);
    ELSIF v_action = 'escalate' THEN
        IF t.status IN ('resolved', 'closed') THEN
            RETURN intake_desk_error(409, 'the ticket is ' || t.status);
        END IF;
        IF t.escalation_level >= 3 THEN
            RETURN intake_desk_error(409, 'the ticket is already at level 3');
        END IF;
        t := intake_ticket_escalate(t, v_actor, coalesce(d->>'reason', 'escalated by an agent'), d);
        RETURN intake_desk_ok(intake_ticket_brief(t));
    END IF;
    RETURN intake_desk_error(400, 'unknown action', 'action');
END
$fn$;


-- The SLA scanner (d = {now, limit, resolve_s, respond_s, calendar}): every
-- running clock of an open ticket past due at d.now (default now()) is a
-- breach, recorded once per ticket, clock and level; a breach raises the
-- level (see intake_ticket_escalate) or, at level 3, tells the supervisors
-- again. One scanner at a time across nodes: the others skip.
CREATE FUNCTION intake_sla_scan(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_now      timestamptz := coalesce((d->>'now')::timestamptz, now());
    r          record;
    t          tickets;
    v_breaches jsonb := '[]';
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('intake_sla_scan')) THEN
        RETURN jsonb_build_object('skipped', true, 'breaches', '[]'::jsonb);
    END IF;
    FOR r IN
        SELECT tk.id, c.clock, c.due
          FROM tickets tk
         CROSS JOIN LATERAL (VALUES
               ('first_response', CASE WHEN tk.first_responded_at IS NULL
                                       THEN tk.first_response_due_at END),
               ('handling', CASE WHEN tk.handling_started_at IS NULL THEN tk.handling_due_at END),
               ('resolution', CASE WHEN tk.resolved_at IS NULL THEN tk.resolution_due_at END))
               AS c(clock, due)
         WHERE tk.status IN ('new', 'open', 'pending') AND c.due < v_now
           AND NOT EXISTS (SELECT 1 FROM sla_breaches b WHERE b.ticket_id = tk.id
                              AND b.clock = c.clock AND b.level = tk.escalation_level)
         ORDER BY c.due, tk.id
         LIMIT coalesce((d->>'limit')::int, 500)
    LOOP
        SELECT * INTO t FROM tickets WHERE id = r.id FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            CONTINUE; -- busy in another transaction; the next scan sees it
        END IF;
        -- An escalation earlier in this scan restarts the ticket's other clocks.
        r.due := CASE r.clock
            WHEN 'first_response' THEN CASE WHEN t.first_responded_at IS NULL
                                            THEN t.first_response_due_at END
            WHEN 'handling' THEN CASE WHEN t.handling_started_at IS NULL THEN t.handling_due_at END
            ELSE CASE WHEN t.resolved_at IS NULL THEN t.resolution_due_at END END;
        IF r.due IS NULL OR r.due >= v_now THEN
            CONTINUE;
        END IF;
        INSERT INTO sla_breaches (ticket_id, clock, level, due_at, detected_at)
        VALUES (t.id, r.clock, t.escalation_level, r.due, v_now)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            CONTINUE; -- an earlier breach of this scan already escalated it
        END IF;
        INSERT INTO ticket_events (ticket_id, kind, actor, detail, created_at)
        VALUES (t.id, 'sla_breached', 'sla', jsonb_build_object('clock', r.clock,
                'due_at', r.due, 'level', t.escalation_level), v_now);
        v_breaches := v_breaches || jsonb_build_object('ticket', t.number, 'clock', r.clock,
                                                       'level', t.escalation_level);
        IF t.escalation_level < 3 THEN
            t := intake_ticket_escalate(t, 'sla', r.clock || ' clock breached',
                                        d || jsonb_build_object('now', v_now));
        ELSE
            PERFORM intake_push_role('supervisor', t.queue, jsonb_build_object(
                'type', 'sla.breached', 'clock', r.clock, 'level', 3,
                'ticket', intake_ticket_brief(t)));
            PERFORM intake_agent_push(t.assignee_id, jsonb_build_object(
                'type', 'sla.breached', 'clock', r.clock, 'level', 3,
                'ticket', intake_ticket_brief(t)));
        END IF;
    END LOOP;
    RETURN jsonb_build_object('skipped', false, 'breaches', v_breaches);
END
$fn$;

-- The survey behind a link: d = {token_hash (hex)}.
CREATE FUNCTION intake_survey_state(s surveys) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN s.id IS NULL THEN 'unknown'
                WHEN s.answered_at IS NOT NULL THEN 'answered'
                WHEN s.superseded_at IS NOT NULL THEN 'superseded'
                WHEN s.expires_at <= now() THEN 'expired'
                ELSE 'open' END
$fn$;

CREATE FUNCTION intake_survey_get(d jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    s surveys;
BEGIN
    SELECT * INTO s FROM surveys WHERE token_hash = decode(d->>'token_hash', 'hex');
    -- d.problem (what a form sent back lacked) comes back for the page to show.
    RETURN jsonb_strip_nulls(jsonb_build_object('state', intake_survey_state(s),
        'language', s.language, 'expires_at', s.expires_at, 'problem', d->>'problem',
        'ticket', (SELECT number FROM tickets WHERE id = s.ticket_id)));
END
$fn$;

-- An answer: d = {token_hash, ratings: {response_speed, resolution_efficiency,
-- attitude, professionalism, overall} (1-5 each), comment, followup_queue,
-- calendar}. A link answers once. Any rating of 3 or less opens a follow-up
-- due in 3 working days, for the supervisors, and tells them on their streams.
CREATE FUNCTION intake_survey_answer(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    s          surveys;
    t          tickets;
    v_state    text;
    v_low      text[];
    v_followup bigint;
    v_queue    text := coalesce(d->>'followup_queue', 'complaints');
    v_due      timestamptz;
BEGIN
    SELECT * INTO s FROM surveys WHERE token_hash = decode(d->>'token_hash', 'hex') FOR UPDATE;
    v_state := intake_survey_state(s);
    IF v_state <> 'open' THEN
        RETURN jsonb_strip_nulls(jsonb_build_object('state', v_state, 'language', s.language,
                   'ticket', (SELECT number FROM tickets WHERE id = s.ticket_id)));
    END IF;
    UPDATE surveys
       SET answered_at = now(),
           response_speed = (d->'ratings'->>'response_speed')::smallint,
           resolution_efficiency = (d->'ratings'->>'resolution_efficiency')::smallint,
           attitude = (d->'ratings'->>'attitude')::smallint,
           professionalism = (d->'ratings'->>'professionalism')::smallint,
           overall = (d->'ratings'->>'overall')::smallint,
           comment = nullif(d->>'comment', '')
     WHERE id = s.id RETURNING * INTO s;
    SELECT * INTO t FROM tickets WHERE id = s.ticket_id FOR UPDATE;
    INSERT INTO ticket_events (ticket_id, kind, actor, detail)
    VALUES (t.id, 'survey_answered', 'customer', jsonb_build_object('survey', s.id,
            'overall', s.overall));
    SELECT array_agg(k ORDER BY k) INTO v_low
      FROM jsonb_each_text(d->'ratings') r(k, v) WHERE v::int <= 3;
    IF v_low IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM queues WHERE name = v_queue) THEN
            v_queue := t.queue;
        END IF;
        v_due := intake_add_working_days(now(), 3, d->'calendar');
        INSERT INTO followups (ticket_id, survey_id, queue, reason, due_at)
        VALUES (t.id, s.id, v_queue, 'low rating: ' || array_to_string(v_low, ', '), v_due)
        RETURNING id INTO v_followup;
        INSERT INTO ticket_events (ticket_id, kind, actor, detail)
        VALUES (t.id, 'followup_opened', 'survey', jsonb_build_object('followup', v_followup,
                'due_at', v_due, 'low', to_jsonb(v_low)));
        PERFORM intake_push_role('supervisor', v_queue, jsonb_build_object(
            'type', 'followup.opened', 'followup', v_followup, 'due_at', v_due,
            'reason', 'low rating: ' || array_to_string(v_low, ', '),
            'ticket', intake_ticket_brief(t)));
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object('state', 'saved', 'language', s.language,
               'ticket', t.number, 'followup', v_followup));
END
$fn$;

-- `intake agent add`: d = {name, email, role, capacity, queues}; an agent
-- with that email is updated instead (the command can be run again).
CREATE FUNCTION intake_agent_add(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    a agents;
BEGIN
    INSERT INTO agents (name, email, role, capacity)
    VALUES (d->>'name', lower(d->>'email'), coalesce(d->>'role', 'agent'),
            coalesce((d->>'capacity')::int, 10))
    ON CONFLICT (email) DO UPDATE
       SET name = EXCLUDED.name, role = EXCLUDED.role,
           capacity = coalesce((d->>'capacity')::int, agents.capacity), disabled_at = NULL
    RETURNING * INTO a;
    IF d ? 'queues' THEN
        DELETE FROM agent_queues WHERE agent_id = a.id;
        INSERT INTO agent_queues (agent_id, queue)
        SELECT a.id, q FROM jsonb_array_elements_text(d->'queues') q;
    END IF;
    PERFORM intake_agent_stream(a.id);
    RETURN intake_agent_brief(a);
END
$fn$;
