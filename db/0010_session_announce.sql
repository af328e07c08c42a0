-- 0010: a customer's chat message no longer NOTIFYs in its own transaction.
-- A transaction that has called pg_notify takes PostgreSQL's one notification
-- lock when it starts to commit and keeps it until the commit is over, WAL
-- flush included; the registering worker's commits, an agent's reply and the
-- dispatcher's publishing then ran one after the other (5-29 ms waits in the
-- chat bench's lock log, bench/README.md "Chat sessions", fifth round).
-- The message's answer now carries "announce": [session, last event number],
-- and the gateway that committed it announces that on a connection of its
-- own, after the commit, without waiting for the flush (src/announcer.c).
-- A caller of this function outside the gateway announces for itself, or
-- its sessions' sockets learn of the message at their next event. The body
-- is 0007's otherwise: same locks in the same order, same events.

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
