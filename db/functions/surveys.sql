-- Satisfaction surveys: sent after a resolution, answered once through their
-- link (five ratings 1-5 and a comment); a low rating opens a follow-up that
-- must be closed within 3 working days.

-- A resolution's survey: an unguessable token (two random UUIDs, 244 bits)
-- whose hash is stored, and an outbox row that carries the link to the
-- customer after d.survey_delay_s. An earlier unanswered survey of the
-- ticket is superseded: one open survey per ticket, for its last resolution.
CREATE OR REPLACE FUNCTION intake_survey_open(t tickets, d jsonb) RETURNS bigint
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

-- Where a survey stands: open, answered, superseded, expired (or unknown).
CREATE OR REPLACE FUNCTION intake_survey_state(s surveys) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN s.id IS NULL THEN 'unknown'
                WHEN s.answered_at IS NOT NULL THEN 'answered'
                WHEN s.superseded_at IS NOT NULL THEN 'superseded'
                WHEN s.expires_at <= now() THEN 'expired'
                ELSE 'open' END
$fn$;

-- The survey behind a link: d = {token_hash (hex)}.
CREATE OR REPLACE FUNCTION intake_survey_get(d jsonb) RETURNS jsonb
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
CREATE OR REPLACE FUNCTION intake_survey_answer(d jsonb) RETURNS jsonb
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

-- A follow-up as lists and answers show it (the ticket by number).
CREATE OR REPLACE FUNCTION intake_followup_brief(f followups) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_strip_nulls(to_jsonb(f) - 'ticket_id' || jsonb_build_object(
        'ticket', (SELECT number FROM tickets WHERE id = f.ticket_id),
        'overdue', f.closed_at IS NULL AND f.due_at < now()))
$fn$;
