-- 0006: a customer's chat message takes its locks in the same order as an
-- agent's reply: the ticket, then the session. intake_session_message (0004)
-- locked the session and then, inside intake_register, the session's ticket;
-- intake_ticket_reply locks the ticket and then its sessions. A reply and a
-- message on the same ticket at the same moment deadlocked: PostgreSQL finds
-- that only after deadlock_timeout (1 s), and the victim may be the whole
-- group-commit batch, so every message queued behind it waited a second
-- (bench/README.md, "Chat sessions"). Also: intake_session_log in PL/pgSQL,
-- whose plan is cached per connection; as a non-inlinable SQL function it was
-- planned again on every call, twice per chat message.

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

-- As in 0004, with the ticket locked before the session (see above).
CREATE OR REPLACE FUNCTION intake_session_message(c jsonb, raw bytea DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_session bigint := (c->'session'->>'id')::bigint;
    v_client  text := c->'session'->>'client_id';
    v_after   bigint := coalesce((c->'session'->>'after')::bigint, 0);
    s         live_sessions;
    v_ticket  bigint;
    v_doc     jsonb;
    v_res     jsonb;
    v_seq     bigint;
    v_at      double precision;
BEGIN
    -- The ticket first, then the session; if the session moved to another
    -- ticket meanwhile (a message of its own opened one), lock that one too.
    LOOP
        SELECT ticket_id INTO v_ticket FROM live_sessions WHERE id = v_session;
        IF v_ticket IS NOT NULL THEN
            PERFORM 1 FROM tickets WHERE id = v_ticket FOR UPDATE;
        END IF;
        SELECT * INTO s FROM live_sessions WHERE id = v_session FOR UPDATE;
        EXIT WHEN NOT FOUND OR s.ticket_id IS NOT DISTINCT FROM v_ticket;
    END LOOP;
    IF s.id IS NULL OR v_client IS NULL THEN
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
