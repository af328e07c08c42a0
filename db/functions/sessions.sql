-- Live sessions: a conversation a customer holds open from one browser (the
-- web chat), and each agent's stream. Everything the reader should see is an
-- event with a number (1, 2, 3 ... per session), so a client that reconnects
-- asks for the events after the last one it saw and gets exactly those, none
-- twice. New events are announced after their commit by the gateway that
-- wrote them (src/announcer.c: NOTIFY '<session id> <seq>'), so whichever
-- gateway holds the socket pushes them.
--
-- Lock order, everywhere: the ticket, then its sessions (a customer's message
-- and an agent's reply on one ticket at once must not deadlock: PostgreSQL
-- finds that only after deadlock_timeout, and the victim may be a whole
-- group-commit batch).

-- Appends one event; the caller holds the session's row lock, so numbers
-- have no gaps and no two events share one.
CREATE OR REPLACE FUNCTION intake_session_append(p_session bigint, p_client text, p_event jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_seq bigint;
BEGIN
    UPDATE live_sessions SET last_seq = last_seq + 1 WHERE id = p_session
    RETURNING last_seq INTO v_seq;
    INSERT INTO session_events (session_id, seq, client_id, event)
    VALUES (p_session, v_seq, p_client, p_event);
    PERFORM pg_notify('intake_session', p_session || ' ' || v_seq);
    RETURN v_seq;
END
$fn$;

-- The events of a session after p_after, oldest first. PL/pgSQL, whose plan
-- is cached per connection: a non-inlinable SQL function is planned again on
-- every call, twice per chat message.
CREATE OR REPLACE FUNCTION intake_session_log(p_session bigint, p_after bigint, p_limit int DEFAULT 200)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_events jsonb;
BEGIN
    SELECT coalesce(jsonb_agg(e.event || jsonb_build_object('seq', e.seq) ORDER BY e.seq), '[]')
      INTO v_events
      FROM (SELECT seq, event FROM session_events
             WHERE session_id = p_session AND seq > p_after
             ORDER BY seq LIMIT p_limit) e;
    RETURN v_events;
END
$fn$;

-- A new session: d = {token_hash (hex), visitor, channel, name, email, phone,
-- language, origin}.
CREATE OR REPLACE FUNCTION intake_session_open(d jsonb) RETURNS jsonb
LANGUAGE sql AS $fn$
    INSERT INTO live_sessions (token_hash, visitor, channel, name, email, phone, language, origin)
    VALUES (decode(d->>'token_hash', 'hex'), d->>'visitor', d->>'channel', d->>'name',
            lower(d->>'email'), d->>'phone', d->>'language', d->>'origin')
    RETURNING jsonb_build_object('found', true, 'session', id, 'visitor', visitor,
                                 'last_seq', last_seq, 'events', '[]'::jsonb)
$fn$;

-- The events after d.after (at most d.limit, default 200) of the session
-- named by d.token_hash (a client coming back: it is no longer "left") or by
-- d.session (a push to a socket already open).
CREATE OR REPLACE FUNCTION intake_session_events(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    s        live_sessions;
    v_events jsonb;
BEGIN
    IF d ? 'token_hash' THEN
        UPDATE live_sessions SET last_seen_at = now(), left_at = NULL
         WHERE token_hash = decode(d->>'token_hash', 'hex')
        RETURNING * INTO s;
    ELSE
        SELECT * INTO s FROM live_sessions WHERE id = (d->>'session')::bigint;
    END IF;
    IF s.id IS NULL THEN
        RETURN jsonb_build_object('found', false);
    END IF;
    v_events := intake_session_log(s.id, coalesce((d->>'after')::bigint, 0),
                                   coalesce((d->>'limit')::int, 200));
    RETURN jsonb_build_object('found', true, 'session', s.id, 'visitor', s.visitor,
        'last_seq', s.last_seq, 'name', s.name, 'language', s.language,
        'ticket', (SELECT number FROM tickets WHERE id = s.ticket_id), 'events', v_events);
END
$fn$;

-- A customer's chat message (c.session = {id, client_id, after}): registered
-- as a contact on the session's ticket (a new one for the session's first
-- message, or once the old one is closed), appended as an event, with the
-- acknowledgement notice for a new ticket. The session's row is written once
-- and both events go in with one INSERT. The answer carries "announce":
-- [session, last event number], which the gateway announces after the commit
-- on a connection of its own: a transaction that calls pg_notify holds
-- PostgreSQL's one notification lock through its commit and WAL flush, which
-- made the registering worker, agents' replies and the dispatcher wait for
-- each other. A caller outside the gateway announces for itself.
CREATE OR REPLACE FUNCTION intake_session_message(c jsonb, raw bytea DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_session bigint := (c->'session'->>'id')::bigint;
    v_client  text := c->'session'->>'client_id';
    v_after   bigint := coalesce((c->'session'->>'after')::bigint, 0);
    s         live_sessions;
    v_ticket  bigint;
    v_status  text;
    v_open_no text; -- the session's ticket while it is not closed
    v_doc     jsonb;
    v_res     jsonb;
    v_seq     bigint;
    v_last    bigint;
    v_notice  boolean;
    v_at      double precision;
    v_message jsonb;
    v_told    jsonb;
BEGIN
    IF v_client IS NULL THEN
        RAISE EXCEPTION 'a session message needs a known session and a client id'
            USING ERRCODE = '22023';
    END IF;
    LOOP
        SELECT ticket_id INTO v_ticket FROM live_sessions WHERE id = v_session;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'a session message needs a known session and a client id'
                USING ERRCODE = '22023';
        END IF;
        v_open_no := NULL;
        IF v_ticket IS NOT NULL THEN
            SELECT number, status INTO v_open_no, v_status FROM tickets WHERE id = v_ticket FOR UPDATE;
            IF v_status = 'closed' THEN
                v_open_no := NULL;
            END IF;
        END IF;
        SELECT * INTO s FROM live_sessions WHERE id = v_session FOR UPDATE;
        -- A message of its own may have moved the session to a new ticket meanwhile.
        EXIT WHEN s.ticket_id IS NOT DISTINCT FROM v_ticket;
    END LOOP;

    SELECT seq INTO v_seq FROM session_events WHERE session_id = s.id AND client_id = v_client;
    IF FOUND THEN
        RETURN intake_register(c - 'session', raw)
            || jsonb_build_object('session', s.id, 'seq', v_seq, 'last_seq', s.last_seq,
                                  'events', intake_session_log(s.id, v_after));
    END IF;

    -- What the customer told us when the session began, unless the message says more.
    v_doc := jsonb_strip_nulls(jsonb_build_object('name', s.name, 'email', s.email,
                 'phone', s.phone, 'chat_id', s.visitor, 'language_explicit', s.language,
                 'ticket_ref', v_open_no))
             || jsonb_strip_nulls(c - 'session');
    v_res := intake_register(v_doc, raw);
    v_at := coalesce((c->>'received_at')::double precision, extract(epoch FROM now()));
    v_notice := (v_res->>'new_ticket')::boolean OR (v_res->>'reopened')::boolean;

    -- A new ticket (none yet, or the last one closed): the session moves to it.
    -- Looked up apart: inside the UPDATE, a CASE around the lookup made
    -- PostgreSQL plan that statement again on every call (a custom plan,
    -- 38 us; pg_stat_statements.track_planning).
    IF v_res->>'ticket' IS DISTINCT FROM v_open_no THEN
        SELECT id INTO v_ticket FROM tickets WHERE number = v_res->>'ticket';
    END IF;
    UPDATE live_sessions
       SET ticket_id = v_ticket, last_seen_at = now(), left_at = NULL,
           last_seq = last_seq + CASE WHEN v_notice THEN 2 ELSE 1 END
     WHERE id = s.id
    RETURNING last_seq INTO v_last;
    v_seq := s.last_seq + 1;

    v_message := jsonb_build_object('type', 'message', 'from', 'customer',
                     'client_id', v_client, 'text', coalesce(c->>'body', ''),
                     'ticket', v_res->>'ticket', 'at', v_at);
    IF v_notice THEN
        v_told := jsonb_build_object('type', 'notice',
                      'notice', CASE WHEN (v_res->>'reopened')::boolean THEN 'reopened'
                                     ELSE 'received' END,
                      'ticket', v_res->>'ticket', 'priority', v_res->>'priority',
                      'language', v_res->>'language', 'name', v_doc->>'name',
                      'first_response_s', (c->>'first_response_s')::int, 'at', v_at);
    END IF;
    INSERT INTO session_events (session_id, seq, client_id, event)
    SELECT s.id, v_seq, v_client, v_message
    UNION ALL
    SELECT s.id, v_last, NULL, v_told WHERE v_notice;

    RETURN v_res || jsonb_build_object('session', s.id, 'seq', v_seq, 'last_seq', v_last,
        'announce', jsonb_build_array(s.id, v_last),
        'events', CASE WHEN v_after = s.last_seq THEN
                           jsonb_build_array(v_message || jsonb_build_object('seq', v_seq))
                           || CASE WHEN v_notice
                                   THEN jsonb_build_array(v_told || jsonb_build_object('seq', v_last))
                                   ELSE '[]'::jsonb END
                       ELSE intake_session_log(s.id, v_after) END);
END
$fn$;

-- A run of chat messages as one statement, one answer each in order.
CREATE OR REPLACE FUNCTION intake_session_message_many(docs jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    FOR i IN 0 .. jsonb_array_length(docs) - 1 LOOP
        RETURN NEXT intake_session_message(docs->i, NULL);
    END LOOP;
END
$fn$;

-- The customer ends the conversation (d.session). Replies that come later
-- and find no agent answer before them go to the email or phone the customer
-- gave, through the outbox.
CREATE OR REPLACE FUNCTION intake_session_leave(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    s     live_sessions;
    v_seq bigint;
BEGIN
    SELECT * INTO s FROM live_sessions WHERE id = (d->>'session')::bigint FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('found', false);
    END IF;
    IF s.left_at IS NULL THEN
        UPDATE live_sessions SET left_at = now() WHERE id = s.id;
        v_seq := intake_session_append(s.id, NULL, jsonb_build_object('type', 'notice',
                     'notice', 'left', 'at', extract(epoch FROM now())));
    END IF;
    RETURN jsonb_build_object('found', true, 'session', s.id, 'seq', v_seq,
                              'last_seq', coalesce(v_seq, s.last_seq));
END
$fn$;

-- A live session's customer still there gets a notice event; NULL when the
-- session is gone or its customer left (the caller then writes instead).
CREATE OR REPLACE FUNCTION intake_session_notice(p_session bigint, p_event jsonb) RETURNS bigint
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM 1 FROM live_sessions WHERE id = p_session AND left_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN intake_session_append(p_session, NULL, p_event);
END
$fn$;

-- Signals, what is true only for a moment (someone is typing). They are not
-- stored and not numbered: a gateway's announcer sends a batch of them here
-- (gw_announcer_signal), and each goes as a notification '<session> {json}'
-- on the sessions' channel to the sessions it concerns, whichever gateway
-- holds their sockets. Docs:
--   {"typing": "customer", "session": S}: the customer of chat session S is
--     typing; the agent the session's ticket is assigned to hears it on their
--     stream as {"type": "typing", "from": "customer", "ticket": N};
--   {"typing": "agent", "agent": A, "ticket": N}: agent A is typing on ticket
--     N; the customers still in a chat on it hear {"type": "typing", "from":
--     "agent"}.
-- Nobody to tell (no assignee, no stream, the customer left, a closed
-- ticket): nothing is sent. Answers how many notifications went out.
CREATE OR REPLACE FUNCTION intake_session_signals(p_channel text, docs jsonb) RETURNS int
LANGUAGE sql AS $fn$
    WITH d AS (
        SELECT x FROM jsonb_array_elements(docs) x
    ), signals AS (
        SELECT a.stream_id AS target,
               format('{"type":"typing","from":"customer","ticket":%s}', to_json(t.number)) AS signal
          FROM d
          JOIN live_sessions s ON s.id = (d.x->>'session')::bigint
          JOIN tickets t ON t.id = s.ticket_id AND t.status <> 'closed'
          JOIN agents a ON a.id = t.assignee_id AND a.stream_id IS NOT NULL
         WHERE d.x->>'typing' = 'customer'
        UNION
        SELECT s.id, '{"type":"typing","from":"agent"}'
          FROM d
          JOIN tickets t ON t.number = d.x->>'ticket' AND t.status <> 'closed'
          JOIN live_sessions s ON s.ticket_id = t.id AND s.left_at IS NULL
                              AND s.channel <> 'desk'
         WHERE d.x->>'typing' = 'agent' AND d.x ? 'agent'
    )
    SELECT count(pg_notify(p_channel, target || ' ' || signal))::int FROM signals
$fn$;
