-- Phone calls. A call is not one contact but a conversation reported by
-- several webhook events (ringing, answered, ended, a recording, a
-- transcript), which phone systems send late, twice or out of order. The
-- calls table keeps each call's state machine; call_events makes every event
-- idempotent by its key. A call becomes a registered contact (through
-- intake_register) exactly once: when it first reaches an end state. Media
-- that arrives after that joins the call's ticket as a message of its own.
--
-- States only move forward: ringing (1) < answered (2) < an end state (3:
-- ended = answered and finished, missed, forwarded). An event that would
-- move a call back (an "answered" after the "ended") changes nothing but its
-- facts.

CREATE OR REPLACE FUNCTION intake_call_rank(state text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE state WHEN 'ringing' THEN 1 WHEN 'answered' THEN 2
                      WHEN 'ended' THEN 3 WHEN 'missed' THEN 3 WHEN 'forwarded' THEN 3
                      ELSE 0 END
$$;

-- The newest open ticket of the customer who owns a phone number, optionally
-- of one category only (a second missed call joins the open callback ticket).
--
-- The events of one caller register one at a time, across workers and
-- gateways. Two missed calls from one number, registered at the same moment
-- by two workers (database.workers > 1, the default on four or more CPUs) or
-- by two gateways, each found no open callback ticket and opened one, each
-- for a customer of its own (the number's identity went to the first; the
-- second customer was left without it). The lookup of the caller's open
-- ticket now first takes a transaction lock on the number, so the second
-- waits until the first has committed, then finds its ticket and joins it.
-- VOLATILE: a statement after the wait takes a new snapshot and sees what was
-- committed meanwhile (a STABLE function would look with the one taken before
-- it). One worker, the default on two CPUs, never waited here: a batch is one
-- transaction, which sees its own earlier events.
CREATE OR REPLACE FUNCTION intake_open_ticket_of_phone(p_phone text, p_category text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('caller:' || p_phone, 7));
    RETURN (SELECT t.number FROM customer_identities ci JOIN tickets t ON t.customer_id = ci.customer_id
             WHERE ci.kind = 'phone' AND ci.value = p_phone
               AND t.status IN ('new', 'open', 'pending')
               AND (p_category IS NULL OR t.category = p_category)
             ORDER BY t.id DESC LIMIT 1);
END
$$;

-- One event at a time: the call's lock, the upsert of its row (the rules of
-- a state's moves are the ON CONFLICT clause, about this one event), then its
-- outcome. It stays the reference the batch path (intake_call_event_many) is
-- tested against (tests/integration/test_call_batches.c), and what the
-- pgbench baseline runs.
CREATE OR REPLACE FUNCTION intake_call_event(c jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    ev          jsonb := c->'call';
    v_provider  text := ev->>'provider';
    v_call_id   text := ev->>'call_id';
    v_kind      text := ev->>'kind';
    v_at        timestamptz := coalesce(to_timestamp((ev->>'at')::double precision), now());
    v_new_state text;
    r           record;
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
        RETURNING k
    )
    SELECT u.k AS call_after, EXISTS (SELECT 1 FROM fresh) AS is_fresh,
           (SELECT state FROM prev) AS state_before, (SELECT ticket_id FROM prev) AS ticket_before
      INTO r
      FROM (SELECT 1) one LEFT JOIN upserted u ON true;

    RETURN intake_call_outcome(c, r.call_after, r.is_fresh, r.state_before, r.ticket_before);
END
$fn$;

-- What an event makes of its call, after the call's row took the event in
-- k is the call's row after the event, p_prev_state and p_prev_ticket the
-- row's state and ticket before it (NULL: the event created the call).
CREATE OR REPLACE FUNCTION intake_call_outcome(c jsonb, k calls, p_fresh boolean, p_prev_state text,
                                    p_prev_ticket bigint) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    ev          jsonb := c->'call';
    v_provider  text := ev->>'provider';
    v_call_id   text := ev->>'call_id';
    v_kind      text := ev->>'kind';
    v_at        timestamptz := coalesce(to_timestamp((ev->>'at')::double precision), now());
    v_prev_state text;
    v_call      calls := k;
    v_outcome   text;
    v_doc       jsonb;
    v_extra     text := '';
    v_res       jsonb;
    v_ticket_no text;
    v_phone     text;
    v_reply     text;
    v_no_ack    text;
BEGIN
    IF NOT p_fresh THEN
        IF p_prev_ticket IS NOT NULL THEN
            SELECT number INTO v_ticket_no FROM tickets WHERE id = p_prev_ticket;
        END IF;
        RETURN jsonb_build_object('duplicate', true, 'ticket', v_ticket_no,
                                  'call_state', p_prev_state, 'new_ticket', false);
    END IF;
    v_prev_state := coalesce(p_prev_state, 'unknown');

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

-- Records the run docs[p_first .. p_last] (0-based) of events of distinct
-- calls and brings their calls up to date (the caller holds the calls'
-- locks). One row per event, in order: its place in docs (1-based), whether
-- its key was new, the call's state and ticket before, its row after, and its
-- answer when it makes nothing of its call.
CREATE OR REPLACE FUNCTION intake_call_apply(docs jsonb, p_first int, p_last int)
RETURNS TABLE (event_no bigint, is_fresh boolean, state_before text, ticket_before bigint,
               call_after calls, answer jsonb)
LANGUAGE plpgsql AS $fn$
BEGIN
    RETURN QUERY
    WITH d AS (
        SELECT x.i, x.doc, x.doc->'call' AS ev, x.doc->'call'->>'provider' AS provider,
               x.doc->'call'->>'call_id' AS call_id, x.doc->'call'->>'kind' AS kind,
               coalesce(to_timestamp((x.doc->'call'->>'at')::double precision), now()) AS at,
               CASE x.doc->'call'->>'kind' WHEN 'ringing' THEN 'ringing'
                    WHEN 'answered' THEN 'answered' WHEN 'ended' THEN 'ended'
                    WHEN 'missed' THEN 'missed' WHEN 'voicemail' THEN 'missed'
                    WHEN 'forwarded' THEN 'forwarded' ELSE 'unknown' END AS new_state
          FROM jsonb_array_elements(docs) WITH ORDINALITY AS x(doc, i)
         WHERE x.i BETWEEN p_first + 1 AND p_last + 1
    ), fresh AS (
        INSERT INTO call_events (event_key, provider, call_id, kind)
        SELECT d.doc->>'key', d.provider, d.call_id, d.kind FROM d
        ON CONFLICT DO NOTHING
        RETURNING event_key
    ), prev AS (
        -- Each call by its key. As a plain join, PostgreSQL (which guesses 100
        -- events) chose to read all calls into a hash table for every run.
        SELECT d.i, p.*
          FROM d LEFT JOIN LATERAL (
                   SELECT c.state, c.ticket_id, c.direction, c.from_number, c.to_number,
                          c.caller_name, c.cause, c.started_at, c.answered_at, c.ended_at,
                          c.duration_s, c.recording_url, c.transcript, c.events
                     FROM calls c WHERE c.provider = d.provider AND c.call_id = d.call_id
                    LIMIT 1) p ON true
    ), upserted AS (
        INSERT INTO calls AS k (provider, call_id, direction, from_number, to_number, caller_name,
                                state, cause, started_at, answered_at, ended_at, duration_s,
                                recording_url, transcript, events, last_event_at)
        SELECT d.provider, d.call_id,
               -- A row that media created first learns its direction from the call's events.
               CASE WHEN p.state IS NULL THEN coalesce(d.ev->>'direction', 'in')
                    WHEN p.state = 'unknown' AND d.ev ? 'direction' THEN d.ev->>'direction'
                    ELSE p.direction END,
               coalesce(p.from_number, d.ev->>'from'), coalesce(p.to_number, d.ev->>'to'),
               coalesce(p.caller_name, d.doc->>'name'),
               CASE WHEN p.state IS NULL
                      OR intake_call_rank(d.new_state) > intake_call_rank(p.state)
                    THEN d.new_state ELSE p.state END,
               coalesce(p.cause, CASE WHEN intake_call_rank(d.new_state) = 3 THEN d.ev->>'cause' END),
               least(p.started_at,
                     CASE WHEN d.kind NOT IN ('recording', 'transcript') THEN
                          d.at - make_interval(secs => coalesce((d.ev->>'duration')::int, 0)) END),
               coalesce(p.answered_at,
                        CASE WHEN d.kind = 'answered' THEN d.at
                             WHEN d.kind = 'ended' AND d.ev ? 'duration'
                             THEN d.at - make_interval(secs => (d.ev->>'duration')::int) END),
               coalesce(p.ended_at, CASE WHEN intake_call_rank(d.new_state) = 3 THEN d.at END),
               coalesce(CASE WHEN d.kind = 'ended' THEN (d.ev->>'duration')::int END, p.duration_s),
               coalesce(d.ev->>'recording_url', p.recording_url),
               coalesce(d.ev->>'transcript', p.transcript),
               coalesce(p.events, 0) + 1, now()
          FROM d JOIN prev p ON p.i = d.i
         WHERE d.doc->>'key' IN (SELECT event_key FROM fresh)
        ON CONFLICT (provider, call_id) DO UPDATE SET
            direction = EXCLUDED.direction, from_number = EXCLUDED.from_number,
            to_number = EXCLUDED.to_number, caller_name = EXCLUDED.caller_name,
            state = EXCLUDED.state, cause = EXCLUDED.cause, started_at = EXCLUDED.started_at,
            answered_at = EXCLUDED.answered_at, ended_at = EXCLUDED.ended_at,
            duration_s = EXCLUDED.duration_s, recording_url = EXCLUDED.recording_url,
            transcript = EXCLUDED.transcript, events = EXCLUDED.events,
            last_event_at = EXCLUDED.last_event_at
        RETURNING k.provider, k.call_id, k AS row
    )
    SELECT d.i, u.provider IS NOT NULL, p.state::text, p.ticket_id, u.row,
           -- The answer of an event that makes nothing of its call (most: a
           -- ringing, an answer), as intake_call_outcome would give it: no
           -- function call for those. NULL: intake_call_outcome decides.
           CASE WHEN u.provider IS NOT NULL
                 AND NOT ((u.row).state = 'ended' AND (u.row).duration_s IS NULL
                          AND (u.row).answered_at IS NOT NULL)
                 AND NOT (intake_call_rank(coalesce(p.state, 'unknown')) < 3
                          AND intake_call_rank((u.row).state) = 3)
                 AND NOT ((u.row).ticket_id IS NOT NULL
                          AND d.kind IN ('recording', 'transcript', 'voicemail'))
                THEN jsonb_build_object('duplicate', false,
                         'ticket', (SELECT t.number FROM tickets t WHERE t.id = (u.row).ticket_id),
                         'call_state', (u.row).state, 'new_ticket', false) END
      FROM d JOIN prev p ON p.i = d.i
      LEFT JOIN upserted u ON u.provider = d.provider AND u.call_id = d.call_id
     ORDER BY d.i;
END
$fn$;

-- A batch's call events, applied to their calls with a few statements a run,
-- not two per event: most events register nothing (a ringing, an answer),
-- and for them the per-event statements were most of the cost, an executor
-- start-up each (bench/README.md, "Phone events"). The batch goes in runs of
-- events of distinct calls (the gateway sorts a batch by call, so events of
-- one call are neighbours and a run ends where a call comes again). For a
-- run, intake_call_apply locks its calls, records the events' keys, brings
-- their calls up to date and answers every event that makes nothing of its
-- call; then, in arrival order, intake_call_outcome does what each other
-- event makes of its call, exactly the work intake_call_event does after its
-- own update.
--
-- Why a run gives the same rows as one event at a time: an event's update
-- touches only its own call's rows, and what an event makes of its call
-- reads only that call's row and the customer's tickets; registrations still
-- run one after the other in arrival order. Events of one call are never in
-- one run: the second depends on what the first registered. The new state
-- of a call is computed from its current row under the call's lock, with the
-- same rules as intake_call_event's ON CONFLICT clause.
CREATE OR REPLACE FUNCTION intake_call_event_many(docs jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    n     int := jsonb_array_length(docs);
    first int := 0;
    calls text[] := '{}';
    call  text;
    r     record;
BEGIN
    -- Expressions, not statements, until a run is complete: no executor start-ups.
    FOR j IN 0 .. n LOOP
        IF j < n THEN
            IF docs->j->'call'->>'provider' IS NULL OR docs->j->'call'->>'call_id' IS NULL
               OR docs->j->'call'->>'kind' IS NULL THEN
                RAISE EXCEPTION 'a call event needs provider, call_id and kind'
                    USING ERRCODE = '22023';
            END IF;
            call := (docs->j->'call'->>'provider') || ':' || (docs->j->'call'->>'call_id');
        END IF;
        -- A run (first .. j - 1) ends where one of its calls comes again, and at the end.
        IF (j = n OR call = ANY (calls)) AND j > first THEN
            -- Its calls locked in one statement, in the order the gateway sorted them.
            PERFORM count(pg_advisory_xact_lock(hashtextextended(c, 7))) FROM unnest(calls) AS l(c);
            FOR r IN SELECT * FROM intake_call_apply(docs, first, j - 1) LOOP
                IF r.answer IS NOT NULL THEN
                    RETURN NEXT r.answer;
                ELSE
                    RETURN NEXT intake_call_outcome(docs->(r.event_no::int - 1), r.call_after,
                                                    r.is_fresh, r.state_before, r.ticket_before);
                END IF;
            END LOOP;
            first := j;
            calls := '{}';
        END IF;
        calls := calls || call;
    END LOOP;
END
$fn$;

-- Calls whose end never came, for the phone channel's sweep (one of its
-- operations, so jsonb in and out): unfinished and silent for longer than
-- d.older_than_s seconds, oldest first, at most d.limit of them, as
-- {"calls": [{provider, call_id, state, direction, from, to, caller_name}]}
-- (a member is absent when the call does not know it).
CREATE OR REPLACE FUNCTION intake_stale_calls(d jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('calls', coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'provider', provider, 'call_id', call_id, 'state', state,
               'direction', direction, 'from', from_number, 'to', to_number,
               'caller_name', caller_name)) ORDER BY last_event_at), '[]'))
      FROM (SELECT * FROM calls
             WHERE state IN ('unknown', 'ringing', 'answered')
               AND last_event_at < now() - make_interval(secs => (d->>'older_than_s')::int)
             ORDER BY last_event_at
             LIMIT (d->>'limit')::int) c
$$;
