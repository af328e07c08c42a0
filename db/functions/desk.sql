-- The agents' desk: one entry point (intake_desk) for every action of the
-- console, the REST API and the agent stream, which checks the caller's token
-- in the same transaction as the work; a ticket's views; replies that go
-- back on the customer's own channel; status changes.

-- Desk answers: {"status": HTTP status, "body": ...} or {"status", "error", "field"}.
CREATE OR REPLACE FUNCTION intake_desk_error(p_status int, p_error text, p_field text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT jsonb_strip_nulls(jsonb_build_object('status', p_status, 'error', p_error,
                                                'field', p_field))
$fn$;

CREATE OR REPLACE FUNCTION intake_desk_ok(p_body jsonb, p_status int DEFAULT 200) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT jsonb_build_object('status', p_status, 'body', p_body)
$fn$;

-- Whether the caller may act on a ticket: the API token (a.id NULL), leads
-- and supervisors on any; an agent on tickets of their queues or their own.
CREATE OR REPLACE FUNCTION intake_desk_can(a agents, t tickets) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT a.id IS NULL OR a.role IN ('lead', 'supervisor') OR t.assignee_id IS NOT DISTINCT
        FROM a.id OR EXISTS (SELECT 1 FROM agent_queues WHERE agent_id = a.id AND queue = t.queue)
$fn$;

-- A ticket as lists and events show it.
CREATE OR REPLACE FUNCTION intake_ticket_brief(t tickets) RETURNS jsonb
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

-- Where and how to answer a ticket's customer outside a live session: the
-- address of their last message (a mail address or a phone number), else
-- one they are known by; prefer says which the ticket came in on, and
-- in_reply_to threads a mail answer under the customer's last mail.
CREATE OR REPLACE FUNCTION intake_ticket_contact(t tickets) RETURNS jsonb
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

-- A ticket's nearest running deadline ('infinity' when every clock has
-- stopped): the desk's order of urgency. An overdue ticket's has passed, so
-- "overdue first, then the nearest clock" is this one order. The expression
-- is the one the indexes of open work hold (db/migrations/0023, 0077).
CREATE OR REPLACE FUNCTION intake_ticket_due(t tickets) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT coalesce(least(
        CASE WHEN t.first_responded_at IS NULL THEN t.first_response_due_at END,
        CASE WHEN t.handling_started_at IS NULL THEN t.handling_due_at END,
        CASE WHEN t.resolved_at IS NULL THEN t.resolution_due_at END), 'infinity')
$fn$;

-- Tickets the caller can see, filtered by d: queue, status (list), priority,
-- assignee ('me', 'none' or an agent id), overdue (true), limit (<= 200),
-- after (the "next" cursor of the page before). Open work (new, open,
-- pending) comes first, most urgent first: overdue, then the nearest running
-- clock; then finished work (resolved, closed), most recently finished first.
-- Each part is read a page at a time in its order from an index of its own
-- (db/migrations/0023, 0024): keyset paging, no OFFSET, no sort of a desk's
-- whole history. The answer's "next" names the page after this one ("DUE:ID"
-- within open work, "f:FINISHED:ID" within finished work), null on the last.
CREATE OR REPLACE FUNCTION intake_desk_list(a agents, d jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_statuses text[] := ARRAY(SELECT jsonb_array_elements_text(
                                   coalesce(d->'status', '["new", "open", "pending"]')));
    v_limit    int := least(coalesce((d->>'limit')::int, 50), 200);
    v_cursor   text[] := string_to_array(d->>'after', ':');
    v_finished boolean := coalesce(v_cursor[1] = 'f', false);
    v_after_at timestamptz;
    v_after_id bigint;
    v_queues   text[];
    v_rows     tickets[] := '{}';
    v_last     tickets;
BEGIN
    IF v_finished THEN
        v_cursor := v_cursor[2:3];
    END IF;
    IF cardinality(v_cursor) = 2 THEN
        v_after_at := to_timestamp(v_cursor[1]::double precision);
        v_after_id := v_cursor[2]::bigint;
    END IF;
    IF a.id IS NOT NULL AND a.role NOT IN ('lead', 'supervisor') THEN
        v_queues := ARRAY(SELECT queue FROM agent_queues WHERE agent_id = a.id);
    END IF;
    -- What a report's figure links to: its own order and indexes (report_serve.sql).
    IF d ?| intake_report_list_filters() THEN
        RETURN intake_report_list(a, v_queues, d);
    END IF;
    IF NOT v_finished AND v_statuses && ARRAY['new', 'open', 'pending'] THEN
        v_rows := intake_desk_page(a, d, v_queues, v_statuses, false, v_after_at, v_after_id,
                                   v_limit + 1);
        v_after_at := NULL; -- finished work, if asked for, starts at its beginning
    END IF;
    IF cardinality(v_rows) <= v_limit AND v_statuses && ARRAY['resolved', 'closed'] THEN
        v_rows := v_rows || intake_desk_page(a, d, v_queues, v_statuses, true, v_after_at,
                                             v_after_id, v_limit + 1 - cardinality(v_rows));
    END IF;
    v_last := v_rows[v_limit];
    RETURN intake_desk_ok(jsonb_build_object(
        'tickets', coalesce((SELECT jsonb_agg(intake_ticket_brief(v_rows[i]) ORDER BY i)
                               FROM generate_subscripts(v_rows, 1) i WHERE i <= v_limit), '[]'),
        'next', CASE WHEN cardinality(v_rows) <= v_limit THEN NULL
                     WHEN v_last.status IN ('new', 'open', 'pending')
                     THEN extract(epoch FROM intake_ticket_due(v_last))::text || ':' || v_last.id
                     ELSE 'f:' || extract(epoch FROM intake_ticket_finished(v_last))::text
                          || ':' || v_last.id END));
END
$fn$;

-- When a finished ticket finished: the order of finished work.
CREATE OR REPLACE FUNCTION intake_ticket_finished(t tickets) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT coalesce(t.closed_at, t.resolved_at, t.updated_at)
$fn$;

-- One page of intake_desk_list: open work by urgency (p_finished false) or
-- finished work newest first, after the cursor (p_after_at, p_after_id).
-- The statement holds only the filters asked for, so that PostgreSQL sees
-- which index answers it (one statement for every filter, kept general with
-- "assignee IS NULL OR ...", hides them: 173 ms for assignee=me at 2,000,000
-- tickets). What a plain agent sees (their queues' tickets and their own) is
-- one arm per queue and one for their own tickets, each read in order from
-- its index (db/migrations/0024) and merged: a page reads about a page per
-- arm, however few of the desk's tickets are theirs.
-- enable_sort is off: with a filter that keeps a few percent of the rows,
-- PostgreSQL would rather read them all and sort (110 ms at 93,000 open
-- tickets) than walk the ordered index until a page is full (10 ms); a page
-- is what the desk asks for. jit is off: a walk's cost is estimated as if it
-- read the whole index, and compiling it took 50 ms of a 55 ms list.
CREATE OR REPLACE FUNCTION intake_desk_page(a agents, d jsonb, p_queues text[], p_statuses text[],
                                            p_finished boolean, p_after_at timestamptz,
                                            p_after_id bigint, p_limit int) RETURNS tickets[]
LANGUAGE plpgsql STABLE SET enable_sort = off SET jit = off AS $fn$
DECLARE
    v_order text := CASE WHEN p_finished
        THEN 'coalesce(t.closed_at, t.resolved_at, t.updated_at)'
        ELSE 'coalesce(least('
             'CASE WHEN t.first_responded_at IS NULL THEN t.first_response_due_at END, '
             'CASE WHEN t.handling_started_at IS NULL THEN t.handling_due_at END, '
             'CASE WHEN t.resolved_at IS NULL THEN t.resolution_due_at END), ''infinity'')' END;
    v_dir   text := CASE WHEN p_finished THEN ' DESC' ELSE '' END;
    v_where text := 't.status = ANY ($1) AND t.status IN '
                    || CASE WHEN p_finished THEN '(''resolved'', ''closed'')'
                            ELSE '(''new'', ''open'', ''pending'')' END;
    v_part  text[] := CASE WHEN p_finished THEN ARRAY['resolved', 'closed']
                           ELSE ARRAY['new', 'open', 'pending'] END;
    v_lead  text := ''; -- an order before v_order, constant within the walk
    v_arms  text[];
    v_rows  tickets[];
BEGIN
    IF d->>'queue' IS NOT NULL THEN
        v_where := v_where || ' AND t.queue = $4->>''queue''';
    END IF;
    IF d->>'priority' IS NOT NULL THEN
        v_where := v_where || ' AND t.priority = ($4->>''priority'')::intake_priority';
    END IF;
    IF d->>'assignee' = 'me' THEN
        v_where := v_where || ' AND t.assignee_id = $2';
    ELSIF d->>'assignee' = 'none' THEN
        v_where := v_where || ' AND t.assignee_id IS NULL';
    ELSIF d->>'assignee' ~ '^[0-9]{1,18}$' THEN
        v_where := v_where || ' AND t.assignee_id = ($4->>''assignee'')::bigint';
    END IF;
    IF coalesce((d->>'overdue')::boolean, false) THEN
        -- Open work is walked in due order, and an open ticket is overdue
        -- exactly when its nearest running deadline has passed: as a range
        -- of the walk's index the walk stops at the first ticket not yet
        -- due, where the filter read the queue to its end whenever fewer
        -- than a page were overdue (130 ms at 2,000,000 tickets).
        v_where := v_where || CASE WHEN p_finished THEN ' AND intake_ticket_overdue(t, now())'
                                   ELSE format(' AND %s < now()', v_order) END;
    END IF;
    IF p_after_at IS NOT NULL THEN
        v_where := v_where || format(' AND (%s, t.id) %s ($5, $6)', v_order,
                                     CASE WHEN p_finished THEN '<' ELSE '>' END);
    END IF;
    IF p_queues IS NULL OR d->>'assignee' = 'me' THEN
        -- All of it is theirs to see (the API token, leads, supervisors, or
        -- an agent's own tickets): one arm.
        v_arms := ARRAY['true'];
    ELSE
        -- Their own tickets in their queues come up in two arms: once is enough.
        v_arms := ARRAY(SELECT format('t.queue = %L', q) FROM unnest(p_queues) q)
                  || 't.assignee_id = $2'::text;
    END IF;
    -- A priority across the desk's open work: an arm per queue, each read
    -- from 0076's index of a queue's open work by priority (the walk of all
    -- open work read all of it when none was of that priority).
    IF v_arms = ARRAY['true'] AND NOT p_finished AND d->>'priority' IS NOT NULL
       AND d->>'queue' IS NULL AND d->>'assignee' IS NULL THEN
        v_arms := ARRAY(SELECT format('t.queue = %L', name) FROM queues ORDER BY name);
    END IF;
    -- Open work is an arm per status, each read in order from the indexes
    -- of db/migrations/0077 (by status, alone and within a queue; 0080
    -- dropped the walks of all open work, which these merged do, so that a
    -- new ticket pays for no more indexes than before): a status filter on
    -- one walk of all open work read the other statuses first (status=open
    -- read 169,649 new tickets for a page: 210 ms at 2,000,000 tickets).
    -- With a priority or an assignee, one index holds all of an arm's open
    -- work in order (0076's by queue and priority, 0024's by assignee; the
    -- unassigned too, across the desk, ordered by the assignee first: all
    -- NULL, but PostgreSQL takes "IS NULL" for no equality and would not
    -- see the order otherwise): split only for a part of it. Finished work
    -- is one walk, or an arm per status when a part of it is asked for
    -- (status=resolved, when few are, read the desk's whole history; 0079).
    IF d->>'assignee' = 'none' AND v_arms = ARRAY['true'] AND NOT p_finished
       AND v_part <@ p_statuses THEN
        v_lead := 't.assignee_id, ';
    ELSIF NOT v_part <@ p_statuses
          OR (NOT p_finished AND d->>'priority' IS NULL
              AND coalesce(d->>'assignee', 'none') = 'none') THEN
        v_arms := ARRAY(SELECT format('t.status = %L AND %s', s, arm)
                          FROM unnest(v_arms) arm, unnest(v_part) s
                         WHERE s = ANY (p_statuses));
    END IF;
    IF cardinality(v_arms) = 0 THEN
        RETURN '{}'; -- no queue at all (a priority across a desk of none)
    ELSIF cardinality(v_arms) = 1 THEN
        EXECUTE format('SELECT ARRAY(SELECT t FROM tickets t WHERE %s AND %s ORDER BY %s%s%s, '
                       't.id%s LIMIT $7)', v_where, v_arms[1], v_lead, v_order, v_dir, v_dir)
           INTO v_rows USING p_statuses, a.id, p_queues, d, p_after_at, p_after_id, p_limit;
        RETURN v_rows;
    END IF;
    EXECUTE format('SELECT ARRAY(SELECT v.t FROM (SELECT DISTINCT ON (u.k, (u.t).id) u.t, u.k '
                   'FROM (%s) u ORDER BY u.k%s, (u.t).id%s) v ORDER BY v.k%s, (v.t).id%s LIMIT $7)',
                   (SELECT string_agg(format('(SELECT t, %s AS k FROM tickets t WHERE %s AND %s '
                                             'ORDER BY %s%s, t.id%s LIMIT $7)',
                                             v_order, v_where, arm, v_order, v_dir, v_dir),
                                      ' UNION ALL ')
                      FROM unnest(v_arms) arm),
                   v_dir, v_dir, v_dir, v_dir)
       INTO v_rows USING p_statuses, a.id, p_queues, d, p_after_at, p_after_id, p_limit;
    RETURN v_rows;
END
$fn$;

-- One ticket with its customer record, messages, timeline, surveys and
-- follow-ups, as JSON text (the body of the ticket view). The messages, all
-- of the answer's size (130 KB for 200 messages), are built as json, which
-- is text, and joined to the rest as text: built as jsonb they were turned
-- into jsonb once by jsonb_build_object, again by jsonb_agg, again merged
-- with the brief, again wrapped in the answer, and then printed, half of
-- the view's time (13-15 ms against 3-8 ms on a loaded host, desk_work).
CREATE OR REPLACE FUNCTION intake_desk_show_text(t tickets) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT left((intake_ticket_brief(t) || jsonb_build_object(
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
                         FROM followups f WHERE f.ticket_id = t.id), '[]')))::text, -1)
        || ', "messages": '
        || coalesce((SELECT json_agg(json_build_object('id', m.id,
                         'direction', m.direction, 'channel', m.channel,
                         'from', m.sender_name, 'address', m.sender_address,
                         'subject', m.subject, 'text', m.body, 'at', m.received_at)
                         ORDER BY m.id) FROM messages m WHERE m.ticket_id = t.id)::text, '[]')
        || '}'
$fn$;

-- The ticket view as an answer of intake_desk (SQL callers).
CREATE OR REPLACE FUNCTION intake_desk_show(t tickets) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT intake_desk_ok(intake_desk_show_text(t)::jsonb)
$fn$;

-- The desk's GETs as the gateway's read lane runs them (desk_api.c): the
-- answer of intake_desk as text, the ticket view's built as text
-- (intake_desk_show_text) after intake_desk has checked the caller and
-- written the view's audit row (d.reader: answer the ticket's id only).
-- The text has jsonb's shape, {"body": {...}, "status": 200}, which the
-- gateway hands on without parsing it.
CREATE OR REPLACE FUNCTION intake_desk_read(d jsonb) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    v_res jsonb;
    t     tickets;
BEGIN
    IF d->>'action' IS DISTINCT FROM 'show' THEN
        RETURN intake_desk(d)::text;
    END IF;
    v_res := intake_desk(d || '{"reader": true}');
    SELECT * INTO t FROM tickets WHERE id = (v_res->'body'->>'shown')::bigint;
    IF NOT FOUND THEN
        RETURN v_res::text;
    END IF;
    RETURN '{"body": ' || intake_desk_show_text(t) || ', "status": 200}';
END
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

-- A status change by an agent: open, pending (waiting on the customer),
-- resolved (sends the survey) or closed. A closed ticket stays closed.
CREATE OR REPLACE FUNCTION intake_ticket_set_status(t tickets, p_actor text, d jsonb) RETURNS jsonb
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
-- the same transaction as the work. A stream's own bookkeeping (renewals,
-- closes, sweeps; agents.sql) comes first: a renewal checks the token it
-- opened with itself, and a close needs none.
CREATE OR REPLACE FUNCTION intake_desk(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    a        agents;
    t        tickets;
    v_action text := d->>'action';
    v_actor  text;
    v_target bigint;
    v_res    jsonb;
    v_stream bigint;
BEGIN
    IF v_action = 'stream_renew' THEN
        RETURN intake_desk_stream_renew(d);
    ELSIF v_action = 'stream_closed' THEN
        RETURN intake_desk_stream_closed((d->>'stream')::bigint);
    ELSIF v_action = 'streams_sweep' THEN
        IF NOT coalesce((d->>'api')::boolean, false) THEN
            RETURN intake_desk_error(401, 'the API token is required');
        END IF;
        RETURN intake_desk_ok(jsonb_build_object('offline', intake_agent_streams_sweep()));
    END IF;

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
    ELSIF v_action = 'report' THEN
        RETURN intake_report_serve(a, d); -- report_serve.sql
    ELSIF v_action = 'search' THEN -- db/functions/search.sql
        RETURN intake_desk_search(a, d);
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
        RETURN intake_desk_ok(intake_agent_set_presence(a.id, d->>'presence'));
    ELSIF v_action = 'stream' THEN
        -- The agent's stream socket opens: presence (online unless told
        -- otherwise), waiting work handed out, the events after d.after, and
        -- the socket's row in agent_streams when its gateway renews rows
        -- (d.lease_s; a gateway of an older release does not). The agent's
        -- row is locked by the presence update before the stream's is made.
        IF a.id IS NULL THEN
            RETURN intake_desk_error(400, 'the API token is not an agent');
        END IF;
        UPDATE agents SET presence = coalesce(d->>'presence', 'online'),
               online = coalesce(d->>'presence', 'online') = 'online', presence_at = now()
         WHERE id = a.id RETURNING * INTO a;
        PERFORM intake_agent_stream(a.id);
        PERFORM intake_assign_waiting(a.id);
        v_res := intake_session_events(jsonb_build_object(
                     'session', intake_agent_stream(a.id), 'after', d->'after'))
                 || jsonb_build_object('agent', intake_agent_brief(a));
        IF d ? 'lease_s' THEN
            INSERT INTO agent_streams (agent_id, lease_s) VALUES (a.id, (d->>'lease_s')::int)
            RETURNING id INTO v_stream;
            v_res := v_res || jsonb_build_object('stream', v_stream);
        END IF;
        RETURN intake_desk_ok(v_res);
    END IF;

    -- Everything below acts on one ticket. Viewing it takes no lock: a lock
    -- is a write (the row's page dirtied, a WAL record), and the view
    -- would wait for a registration on the same ticket to commit.
    IF v_action = 'show' THEN
        SELECT * INTO t FROM tickets WHERE number = d->>'ticket';
    ELSE
        SELECT * INTO t FROM tickets WHERE number = d->>'ticket' FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        RETURN intake_desk_error(404, 'no such ticket');
    END IF;
    IF NOT intake_desk_can(a, t) THEN
        RETURN intake_desk_error(403, 'the ticket is in a queue you do not serve');
    END IF;

    IF v_action = 'show' THEN
        PERFORM intake_audit_view(a.id, t.customer_id, t.number);
        IF coalesce((d->>'reader')::boolean, false) THEN
            RETURN intake_desk_ok(jsonb_build_object('shown', t.id)); -- intake_desk_read
        END IF;
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
