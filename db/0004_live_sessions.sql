-- Live sessions: a conversation a customer holds open from one browser (the
-- web chat). Everything the customer should see is an event with a number
-- (1, 2, 3 ... per session), so a client that reconnects asks for the events
-- after the last one it saw and gets exactly those, none twice. Each new
-- event is announced with NOTIFY intake_session '<session id> <seq>' when its
-- transaction commits, so whichever gateway holds the customer's socket
-- pushes it, whichever gateway wrote it.

CREATE TABLE live_sessions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash     bytea NOT NULL UNIQUE, -- SHA-256 of the token only the browser keeps
    visitor        text NOT NULL UNIQUE,  -- the customer's chat identity, 'v-...'
    channel        text NOT NULL,
    name           text,
    email          text,
    phone          text,
    language       text,
    origin         text,
    ticket_id      bigint REFERENCES tickets (id),
    last_seq       bigint NOT NULL DEFAULT 0,
    agent_answered boolean NOT NULL DEFAULT false,
    left_at        timestamptz, -- the customer ended the conversation
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX live_sessions_ticket ON live_sessions (ticket_id) WHERE ticket_id IS NOT NULL;

CREATE TABLE session_events (
    session_id bigint NOT NULL REFERENCES live_sessions (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    client_id  text, -- the client's id for a message it sent; one event per id
    event      jsonb NOT NULL, -- {"type": ...} as the client sees it, without seq
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, seq)
);
CREATE UNIQUE INDEX session_events_client ON session_events (session_id, client_id)
    WHERE client_id IS NOT NULL;

-- Appends one event; the caller holds the session's row lock, so numbers
-- have no gaps and no two events share one.
CREATE FUNCTION intake_session_append(p_session bigint, p_client text, p_event jsonb)
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

-- Events of a session after a number, as the client sees them (with seq).
CREATE FUNCTION intake_session_log(p_session bigint, p_after bigint, p_limit int DEFAULT 200)
RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(jsonb_agg(e.event || jsonb_build_object('seq', e.seq) ORDER BY e.seq), '[]')
      FROM (SELECT seq, event FROM session_events
             WHERE session_id = p_session AND seq > p_after
             ORDER BY seq LIMIT p_limit) e
$fn$;

-- A new session: d = {token_hash (hex), visitor, channel, name, email, phone,
-- language, origin}.
CREATE FUNCTION intake_session_open(d jsonb) RETURNS jsonb
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
CREATE FUNCTION intake_session_events(d jsonb) RETURNS jsonb
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

-- A customer's message in a session (c as for intake_register, plus
-- c.session = {id, client_id}). Registered like any contact, on the
-- session's ticket while it is not closed; then the message, and on a new or
-- reopened ticket the acknowledgement, become the session's next events. A
-- client id seen before registers nothing and answers with the stored event.
-- The answer carries the events after c.session.after (what the sending
-- socket has not seen yet), which saves that socket a second round trip.
CREATE FUNCTION intake_session_message(c jsonb, raw bytea DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_session bigint := (c->'session'->>'id')::bigint;
    v_client  text := c->'session'->>'client_id';
    v_after   bigint := coalesce((c->'session'->>'after')::bigint, 0);
    s         live_sessions;
    v_doc     jsonb;
    v_res     jsonb;
    v_seq     bigint;
    v_at      double precision;
BEGIN
    SELECT * INTO s FROM live_sessions WHERE id = v_session FOR UPDATE;
    IF NOT FOUND OR v_client IS NULL THEN
        RAISE EXCEPTION 'a session message needs a known session and a client id'
            USING ERRCODE = '22023';
    END IF;
    SELECT seq INTO v_seq FROM session_events WHERE session_id = s.id AND client_id = v_client;
    IF FOUND THEN
        RETURN intake_register(c - 'session', raw)
            || jsonb_build_object('session', s.id, 'seq', v_seq, 'last_seq', s.last_seq,
                                  'events', intake_session_log(s.id, v_after));
    END IF;

    -- What the customer told us when the session began, unless the message says more.
    v_doc := jsonb_strip_nulls(jsonb_build_object('name', s.name, 'email', s.email,
                 'phone', s.phone, 'chat_id', s.visitor, 'language_explicit', s.language,
                 'ticket_ref', (SELECT number FROM tickets
                                 WHERE id = s.ticket_id AND status <> 'closed')))
             || jsonb_strip_nulls(c - 'session');
    v_res := intake_register(v_doc, raw);
    v_at := coalesce((c->>'received_at')::double precision, extract(epoch FROM now()));

    UPDATE live_sessions
       SET ticket_id = (SELECT id FROM tickets WHERE number = v_res->>'ticket'),
           last_seen_at = now(), left_at = NULL
     WHERE id = s.id;
    v_seq := intake_session_append(s.id, v_client, jsonb_build_object('type', 'message',
                 'from', 'customer', 'client_id', v_client, 'text', coalesce(c->>'body', ''),
                 'ticket', v_res->>'ticket', 'at', v_at));
    IF (v_res->>'new_ticket')::boolean OR (v_res->>'reopened')::boolean THEN
        PERFORM intake_session_append(s.id, NULL, jsonb_build_object('type', 'notice',
            'notice', CASE WHEN (v_res->>'reopened')::boolean THEN 'reopened' ELSE 'received' END,
            'ticket', v_res->>'ticket', 'priority', v_res->>'priority',
            'language', v_res->>'language', 'name', v_doc->>'name',
            'first_response_s', (c->>'first_response_s')::int, 'at', v_at));
    END IF;
    RETURN v_res || jsonb_build_object('session', s.id, 'seq', v_seq,
        'last_seq', (SELECT last_seq FROM live_sessions WHERE id = s.id),
        'events', intake_session_log(s.id, v_after));
END
$fn$;

-- The customer ends the conversation (d.session). Replies that come later
-- and find no agent answer before them go to the email or phone the customer
-- gave, through the outbox.
CREATE FUNCTION intake_session_leave(d jsonb) RETURNS jsonb
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

-- An agent's reply on a ticket: d = {ticket, text, agent, key}. Stored as an
-- outbound message (d.key makes a retry harmless), it stops the
-- first-response clock, and every live session on the ticket gets it as an
-- event. A session its customer left before any agent answered is told
-- through the outbox instead (kind 'reply', to the address the customer gave).
CREATE FUNCTION intake_ticket_reply(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    t          tickets;
    s          live_sessions;
    v_msg      bigint;
    v_at       double precision := extract(epoch FROM now());
    v_key      text := coalesce(d->>'key', 'reply:' || gen_random_uuid());
    v_sessions int := 0;
    v_fallback int := 0;
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
           status = CASE WHEN status = 'new' THEN 'open' ELSE status END,
           updated_at = now()
     WHERE id = t.id;
    INSERT INTO ticket_events (ticket_id, kind, detail)
    VALUES (t.id, 'reply', jsonb_build_object('message', v_msg, 'agent', d->>'agent'));

    FOR s IN SELECT * FROM live_sessions WHERE ticket_id = t.id ORDER BY id FOR UPDATE LOOP
        PERFORM intake_session_append(s.id, NULL, jsonb_build_object('type', 'message',
                    'from', 'agent', 'agent', d->>'agent', 'text', d->>'text',
                    'ticket', t.number, 'at', v_at));
        IF s.left_at IS NOT NULL AND NOT s.agent_answered
           AND (s.email IS NOT NULL OR s.phone IS NOT NULL) THEN
            INSERT INTO outbox (kind, channel, ticket_id, message_id, dedupe_key, payload)
            VALUES ('reply', s.channel, t.id, v_msg, 'reply:' || v_key || ':' || s.id,
                    jsonb_build_object('ticket', t.number, 'text', d->>'text',
                        'agent', d->>'agent', 'name', s.name, 'email', s.email,
                        'phone', s.phone, 'language', coalesce(s.language, t.language),
                        'subject', t.subject));
            v_fallback := v_fallback + 1;
        END IF;
        UPDATE live_sessions SET agent_answered = true WHERE id = s.id;
        v_sessions := v_sessions + 1;
    END LOOP;
    RETURN jsonb_build_object('found', true, 'duplicate', false, 'ticket', t.number,
                              'message', v_msg, 'sessions', v_sessions,
                              'fallback', v_fallback);
END
$fn$;
