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

-- The message itself is 0004's function, kept under another name; this one
-- takes the locks first, the ticket, then the session (0004's function locks
-- the session again, which it holds already). If the session moved to another
-- ticket meanwhile (a message of its own opened one), that one is locked too.
ALTER FUNCTION intake_session_message(jsonb, bytea) RENAME TO intake_session_message_0004;

CREATE FUNCTION intake_session_message(c jsonb, raw bytea DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_session bigint := (c->'session'->>'id')::bigint;
    v_ticket  bigint;
    v_now     bigint;
BEGIN
    LOOP
        SELECT ticket_id INTO v_ticket FROM live_sessions WHERE id = v_session;
        EXIT WHEN NOT FOUND; -- 0004's function refuses it
        IF v_ticket IS NOT NULL THEN
            PERFORM 1 FROM tickets WHERE id = v_ticket FOR UPDATE;
        END IF;
        SELECT ticket_id INTO v_now FROM live_sessions WHERE id = v_session FOR UPDATE;
        EXIT WHEN v_now IS NOT DISTINCT FROM v_ticket;
    END LOOP;
    RETURN intake_session_message_0004(c, raw);
END
$fn$;
