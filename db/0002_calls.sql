-- 0002: phone calls.
--
-- A call is not one contact but a conversation reported by several webhook
-- events (ringing, answered, ended, a recording, a transcript), which phone
-- systems send late, twice or out of order. `calls` keeps each call's state
-- machine; `call_events` makes every event idempotent by its key. A call
-- becomes a registered contact (through intake_register) exactly once: when
-- it first reaches an end state. Media that arrives after that (a recording,
-- a transcript) is added to the call's ticket as a message of its own.
--
-- States only move forward: ringing (1) < answered (2) < an end state (3:
-- ended = answered and finished, missed, forwarded). An event that would move
-- a call back (an "answered" after the "ended") changes nothing but its facts.

CREATE TABLE calls (
    provider      text NOT NULL,
    call_id       text NOT NULL,
    direction     text NOT NULL DEFAULT 'in' CHECK (direction IN ('in', 'out')),
    from_number   text,
    to_number     text,
    caller_name   text,
    state         text NOT NULL
                  CHECK (state IN ('unknown', 'ringing', 'answered', 'ended', 'missed', 'forwarded')),
    cause         text,
    started_at    timestamptz,
    answered_at   timestamptz,
    ended_at      timestamptz,
    duration_s    integer CHECK (duration_s >= 0),
    recording_url text,
    transcript    text,
    ticket_id     bigint REFERENCES tickets (id),
    events        integer NOT NULL DEFAULT 0,
    last_event_at timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, call_id)
);
-- Calls still waiting for their end, oldest first (the stale-call sweep).
CREATE INDEX calls_unfinished ON calls (last_event_at) WHERE state IN ('unknown', 'ringing', 'answered');

CREATE TABLE call_events (
    event_key   text PRIMARY KEY,
    provider    text NOT NULL,
    call_id     text NOT NULL,
    kind        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION intake_call_rank(state text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE state WHEN 'ringing' THEN 1 WHEN 'answered' THEN 2
                      WHEN 'ended' THEN 3 WHEN 'missed' THEN 3 WHEN 'forwarded' THEN 3
                      ELSE 0 END
$$;

-- The newest open ticket of the customer who owns a phone number, optionally
-- of one category only (a second missed call joins the open callback ticket).
-- PL/pgSQL rather than SQL: PostgreSQL plans a non-inlined SQL function's
-- query on every call, a PL/pgSQL function's once per session.
CREATE FUNCTION intake_open_ticket_of_phone(p_phone text, p_category text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT t.number FROM customer_identities ci JOIN tickets t ON t.customer_id = ci.customer_id
             WHERE ci.kind = 'phone' AND ci.value = p_phone
               AND t.status IN ('new', 'open', 'pending')
               AND (p_category IS NULL OR t.category = p_category)
             ORDER BY t.id DESC LIMIT 1);
END
$$;

-- The same reason for the identity lookup of 0001, which every registration
-- calls up to three times.
CREATE OR REPLACE FUNCTION intake_identity_owner(p_kind text, p_value text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT customer_id FROM customer_identities WHERE kind = p_kind AND value = p_value);
END
$$;

-- c is a registration document (see intake_register) with a "call" object:
-- provider, call_id, kind (ringing answered ended missed voicemail forwarded
-- recording transcript), direction, from, to, cause, duration, recording_url,
-- transcript. "phone" is the customer's number (the caller of an inbound
-- call), "at" (in c->'call', epoch seconds) when the event happened.
CREATE FUNCTION intake_call_event(c jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    ev          jsonb := c->'call';
    v_provider  text := ev->>'provider';
    v_call_id   text := ev->>'call_id';
    v_kind      text := ev->>'kind';
    v_at        timestamptz := coalesce(to_timestamp((ev->>'at')::double precision), now());
    v_new_state text;
    v_prev_state text;
    v_call      record;
    v_outcome   text;
    v_doc       jsonb;
    v_extra     text := '';
    v_res       jsonb;
    v_ticket_no text;
    v_phone     text;
    v_reply     text;
    v_no_ack    text;
BEGIN
    IF v_provider IS NULL OR v_call_id IS NULL OR v_kind IS NULL THEN
        RAISE EXCEPTION 'a call event needs provider, call_id and kind' USING ERRCODE = '22023';
    END IF;
    -- Events of one call apply one at a time, in whatever order they come.
    PERFORM pg_advisory_xact_lock(hashtextextended(v_provider || ':' || v_call_id, 7));

    v_new_state := CASE v_kind WHEN 'ringing' THEN 'ringing' WHEN 'answered' THEN 'answered'
                               WHEN 'ended' THEN 'ended' WHEN 'missed' THEN 'missed'
                               WHEN 'voicemail' THEN 'missed' WHEN 'forwarded' THEN 'forwarded'
                               ELSE 'unknown' END;

    -- One statement (each costs an executor start-up; this runs for every
    -- event): the event's key, the call's state before it (the statement's
    -- snapshot), and the call after it. A key seen before changes nothing.
    WITH fresh AS (
        INSERT INTO call_events (event_key, provider, call_id, kind)
        VALUES (c->>'key', v_provider, v_call_id, v_kind)
        ON CONFLICT DO NOTHING
        RETURNING 1
    ), prev AS (
        SELECT state, ticket_id FROM calls WHERE provider = v_provider AND call_id = v_call_id
    ), upserted AS (
        INSERT INTO calls AS k (provider, call_id, direction, from_number, to_number, caller_name,
                                state, cause, started_at, answered_at, ended_at, duration_s,
                                recording_url, transcript, events, last_event_at)
        SELECT v_provider, v_call_id, coalesce(ev->>'direction', 'in'), ev->>'from', ev->>'to',
               c->>'name', v_new_state,
               CASE WHEN intake_call_rank(v_new_state) = 3 THEN ev->>'cause' END,
               CASE WHEN v_kind NOT IN ('recording', 'transcript') THEN
                    v_at - make_interval(secs => coalesce((ev->>'duration')::int, 0)) END,
               CASE WHEN v_kind = 'answered' THEN v_at
                    WHEN v_kind = 'ended' AND ev ? 'duration'
                    THEN v_at - make_interval(secs => (ev->>'duration')::int) END,
               CASE WHEN intake_call_rank(v_new_state) = 3 THEN v_at END,
               CASE WHEN v_kind = 'ended' THEN (ev->>'duration')::int END,
               ev->>'recording_url', ev->>'transcript', 1, now()
         WHERE EXISTS (SELECT 1 FROM fresh)
        ON CONFLICT (provider, call_id) DO UPDATE SET
            -- A row that media created first learns its direction from the call's events.
            direction = CASE WHEN k.state = 'unknown' AND ev ? 'direction'
                             THEN EXCLUDED.direction ELSE k.direction END,
            from_number = coalesce(k.from_number, EXCLUDED.from_number),
            to_number = coalesce(k.to_number, EXCLUDED.to_number),
            caller_name = coalesce(k.caller_name, EXCLUDED.caller_name),
            state = CASE WHEN intake_call_rank(EXCLUDED.state) > intake_call_rank(k.state)
                         THEN EXCLUDED.state ELSE k.state END,
            cause = coalesce(k.cause, EXCLUDED.cause),
            started_at = least(k.started_at, EXCLUDED.started_at),
            answered_at = coalesce(k.answered_at, EXCLUDED.answered_at),
            ended_at = coalesce(k.ended_at, EXCLUDED.ended_at),
            duration_s = coalesce(EXCLUDED.duration_s, k.duration_s),
            recording_url = coalesce(EXCLUDED.recording_url, k.recording_url),
            transcript = coalesce(EXCLUDED.transcript, k.transcript),
            events = k.events + 1,
            last_event_at = now()
        RETURNING k.*
    )
    SELECT u.*, EXISTS (SELECT 1 FROM fresh) AS is_fresh,
           (SELECT state FROM prev) AS prev_state, (SELECT ticket_id FROM prev) AS prev_ticket
      INTO v_call
      FROM (SELECT 1) one LEFT JOIN upserted u ON true;

    IF NOT v_call.is_fresh THEN
        IF v_call.prev_ticket IS NOT NULL THEN
            SELECT number INTO v_ticket_no FROM tickets WHERE id = v_call.prev_ticket;
        END IF;
        RETURN jsonb_build_object('duplicate', true, 'ticket', v_ticket_no,
                                  'call_state', v_call.prev_state, 'new_ticket', false);
    END IF;
    v_prev_state := coalesce(v_call.prev_state, 'unknown');

    -- A hangup that did not say how long the call lasted: from the answer.
    IF v_call.state = 'ended' AND v_call.duration_s IS NULL AND v_call.answered_at IS NOT NULL THEN
        UPDATE calls SET duration_s = greatest(0, extract(epoch FROM ended_at - answered_at)::int)
         WHERE provider = v_provider AND call_id = v_call_id
        RETURNING * INTO v_call;
    END IF;

    v_phone := CASE v_call.direction WHEN 'in' THEN v_call.from_number ELSE v_call.to_number END;

    -- What, if anything, this event makes of the call.
    IF intake_call_rank(v_prev_state) < 3 AND intake_call_rank(v_call.state) = 3 THEN
        IF v_call.direction = 'in' AND v_call.state = 'missed' THEN
            v_outcome := CASE WHEN v_call.recording_url IS NOT NULL OR v_call.transcript IS NOT NULL
                              THEN 'voicemail' ELSE 'missed' END;
        ELSIF v_call.direction = 'in' AND v_call.state = 'ended' THEN
            v_outcome := 'answered';
        ELSIF v_call.direction = 'out' AND v_call.state = 'ended' THEN
            v_outcome := 'called_back';
        END IF;
    ELSIF v_call.ticket_id IS NOT NULL AND v_kind IN ('recording', 'transcript', 'voicemail') THEN
        v_outcome := 'media';
    END IF;

    IF v_outcome IS NULL OR (v_phone IS NULL AND v_outcome <> 'media') THEN
        -- Nothing to register (yet): the call's facts are kept for its end.
        IF v_call.ticket_id IS NOT NULL THEN
            SELECT number INTO v_ticket_no FROM tickets WHERE id = v_call.ticket_id;
        END IF;
        RETURN jsonb_build_object('duplicate', false, 'ticket', v_ticket_no,
                                  'call_state', v_call.state, 'new_ticket', false);
    END IF;

    IF v_outcome = 'called_back' THEN
        -- An answered call to a customer waiting for a callback is the first response.
        v_ticket_no := intake_open_ticket_of_phone(v_phone, 'callback');
        UPDATE tickets t
           SET first_responded_at = coalesce(t.first_responded_at, v_call.answered_at, v_at),
               status = CASE WHEN t.status = 'new' THEN 'open' ELSE t.status END,
               updated_at = now()
         WHERE t.number = v_ticket_no
        RETURNING t.id INTO v_call.ticket_id;
        IF v_call.ticket_id IS NOT NULL THEN
            INSERT INTO ticket_events (ticket_id, kind, detail)
            VALUES (v_call.ticket_id, 'called_back', jsonb_build_object('call', v_call_id,
                    'provider', v_provider, 'duration_s', v_call.duration_s));
            UPDATE calls SET ticket_id = v_call.ticket_id
             WHERE provider = v_provider AND call_id = v_call_id;
        END IF;
        RETURN jsonb_build_object('duplicate', false, 'ticket', v_ticket_no,
                                  'call_state', v_call.state, 'new_ticket', false);
    END IF;

    -- Facts gathered from earlier events of the call, which this event's text lacks.
    IF v_outcome <> 'media' THEN
        IF v_call.transcript IS NOT NULL AND ev->>'transcript' IS NULL THEN
            v_extra := v_extra || E'\n\nVoicemail transcript: ' || v_call.transcript;
        END IF;
        IF v_call.recording_url IS NOT NULL AND ev->>'recording_url' IS NULL THEN
            v_extra := v_extra || E'\nRecording: ' || v_call.recording_url;
        END IF;
        IF v_outcome = 'answered' AND ev->>'duration' IS NULL AND v_call.duration_s IS NOT NULL THEN
            v_extra := v_extra || E'\nDuration: ' || v_call.duration_s || ' s';
        END IF;
    END IF;

    IF v_outcome IN ('missed', 'voicemail') THEN
        -- The customer hears back by text message on the number that called.
        v_reply := v_phone;
        v_ticket_no := intake_open_ticket_of_phone(v_phone, c->>'category');
    ELSIF v_outcome = 'answered' THEN
        v_no_ack := 'the call was answered';
        v_ticket_no := intake_open_ticket_of_phone(v_phone, NULL);
    ELSE
        -- Media for the call's own ticket; the customer has already been told.
        SELECT number INTO v_ticket_no FROM tickets WHERE id = v_call.ticket_id;
        v_no_ack := 'media of a registered call';
    END IF;
    -- jsonb_build_object drops nothing, so absent values go in as SQL NULLs
    -- (JSON null), which intake_register reads as absent.
    v_doc := (c - 'call') || jsonb_build_object(
        'phone', v_phone,
        'name', coalesce(c->>'name', v_call.caller_name),
        'external_ref', 'call:' || v_provider || ':' || v_call_id,
        'body', coalesce(c->>'body', '') || v_extra,
        'received_at', extract(epoch FROM v_at),
        'reply_handle', v_reply, 'no_ack_reason', v_no_ack, 'ticket_ref', v_ticket_no);

    v_res := intake_register(v_doc, NULL);
    IF v_call.ticket_id IS NULL THEN
        UPDATE calls SET ticket_id = (SELECT id FROM tickets WHERE number = v_res->>'ticket')
         WHERE provider = v_provider AND call_id = v_call_id;
    END IF;
    RETURN v_res || jsonb_build_object('call_state', v_call.state, 'outcome', v_outcome);
END
$fn$;

-- Calls whose end never came: unfinished and silent for longer than max_age.
CREATE FUNCTION intake_stale_calls(max_age_s int, max_rows int)
RETURNS TABLE (provider text, call_id text, state text, direction text,
               from_number text, to_number text, caller_name text)
LANGUAGE sql STABLE AS $$
    SELECT provider, call_id, state, direction, from_number, to_number, caller_name
      FROM calls
     WHERE state IN ('unknown', 'ringing', 'answered')
       AND last_event_at < now() - make_interval(secs => max_age_s)
     ORDER BY last_event_at
     LIMIT max_rows
$$;
