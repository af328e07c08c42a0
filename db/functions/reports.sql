-- Service reports (DESIGN.md, "Monthly report"): the figures of a period, and
-- one row per ticket of it, for `intake report`, GET /v1/reports and the
-- monthly mail. The definitions are pinned here, and stated on every report
-- (the renderers print them):
--   - a ticket belongs to the period it was created in, in the report's time
--     zone (d.timezone); the period is [d.from, d.to) in local dates; a
--     customer's message to the period it was received in;
--   - "answered within its deadline": first response at or before
--     first_response_due_at, over the tickets answered or already past that
--     deadline when the report is made (d.as_of, default now);
--   - "resolved": resolved or closed (resolved_at, else closed_at); the
--     resolution rate is resolved over created; "resolved within its
--     deadline" as for answers, with resolution_due_at;
--   - a survey belongs to the period it was answered in (sent: created in
--     it); "satisfied": an overall rating of 4 or 5;
--   - a follow-up belongs to the period it was due in; "on time": closed at
--     or before its due time, over those closed or already past due;
--   - business times (when d.calendar is set) count the calendar's open
--     hours only (intake_business_seconds);
--   - a breach: a clock that ran out (answered, started or resolved after
--     its deadline, or not yet and past it when the report is made).
-- d.queue limits everything to one queue (surveys and follow-ups by their
-- ticket's queue).

-- The tickets of a period with what reports are made of. One row each.
CREATE OR REPLACE FUNCTION intake_report_tickets(d jsonb)
RETURNS TABLE (
    id bigint, number text, created_at timestamptz, day date, channel text, category text,
    priority text, queue text, status text, escalation_level smallint, assignee text,
    assignee_id bigint, first_response_due_at timestamptz, first_responded_at timestamptz,
    handling_due_at timestamptz, handling_started_at timestamptz,
    first_response_s double precision, first_response_business_s double precision,
    answer_judged boolean, answered_in_time boolean, resolved_at timestamptz,
    resolve_s double precision, resolve_business_s double precision, resolution_judged boolean,
    resolved_in_time boolean)
LANGUAGE sql STABLE AS $fn$
    WITH p AS (
        SELECT (d->>'from')::date::timestamp AT TIME ZONE (d->>'timezone') AS t0,
               (d->>'to')::date::timestamp AT TIME ZONE (d->>'timezone') AS t1,
               coalesce((d->>'as_of')::timestamptz, now()) AS as_of,
               CASE WHEN jsonb_typeof(d->'calendar') = 'object' THEN d->'calendar' END AS cal
    )
    SELECT t.id, t.number, t.created_at, (t.created_at AT TIME ZONE (d->>'timezone'))::date,
           t.channel, t.category, t.priority, t.queue, t.status, t.escalation_level,
           a.name, t.assignee_id, t.first_response_due_at, t.first_responded_at,
           t.handling_due_at, t.handling_started_at,
           extract(epoch FROM t.first_responded_at - t.created_at),
           CASE WHEN p.cal IS NOT NULL AND t.first_responded_at IS NOT NULL
                THEN intake_business_seconds(t.created_at, t.first_responded_at, p.cal) END,
           t.first_responded_at IS NOT NULL OR t.first_response_due_at < p.as_of,
           t.first_responded_at <= t.first_response_due_at,
           coalesce(t.resolved_at, t.closed_at),
           extract(epoch FROM coalesce(t.resolved_at, t.closed_at) - t.created_at),
           CASE WHEN p.cal IS NOT NULL AND coalesce(t.resolved_at, t.closed_at) IS NOT NULL
                THEN intake_business_seconds(t.created_at, coalesce(t.resolved_at, t.closed_at),
                                             p.cal) END,
           coalesce(t.resolved_at, t.closed_at) IS NOT NULL OR t.resolution_due_at < p.as_of,
           coalesce(t.resolved_at, t.closed_at) <= t.resolution_due_at
      FROM p
      JOIN tickets t ON t.created_at >= p.t0 AND t.created_at < p.t1
      LEFT JOIN agents a ON a.id = t.assignee_id
     WHERE d->>'queue' IS NULL OR t.queue = d->>'queue'
$fn$;

-- A share in percent with one decimal; NULL when there is nothing to share.
CREATE OR REPLACE FUNCTION intake_report_pct(p_part bigint, p_whole bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN p_whole > 0 THEN round(100.0 * p_part / p_whole, 1) END
$fn$;

-- Seconds as minutes or hours with one decimal.
CREATE OR REPLACE FUNCTION intake_report_round(p_value double precision, p_unit double precision)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT round((p_value / p_unit)::numeric, 1)
$fn$;

-- The whole report of a period: d = {from, to (exclusive), timezone, queue,
-- calendar, as_of, period (its name, e.g. "2026-11")}.
-- (VOLATILE: it fills a temporary table with the period's tickets, which
-- every figure then reads, instead of selecting them seven times.)
CREATE OR REPLACE FUNCTION intake_report(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_t0     timestamptz := (d->>'from')::date::timestamp AT TIME ZONE (d->>'timezone');
    v_t1     timestamptz := (d->>'to')::date::timestamp AT TIME ZONE (d->>'timezone');
    v_as_of  timestamptz := coalesce((d->>'as_of')::timestamptz, now());
    v_queue  text := d->>'queue';
    v_volume jsonb;
    v_first  jsonb;
    v_resol  jsonb;
    v_escal  jsonb;
    v_satis  jsonb;
    v_follow jsonb;
    v_compl  jsonb;
    v_agents jsonb;
    fig      record;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS report_tickets ON COMMIT DROP AS
        SELECT * FROM intake_report_tickets(d) WITH NO DATA;
    TRUNCATE report_tickets;
    -- No ANALYZE: every query below scans it whole or hashes it (a third of a
    -- second saved on 200,000 rows).
    INSERT INTO report_tickets SELECT * FROM intake_report_tickets(d);

    -- Every count by one property in one pass (grouping sets; grouping()'s
    -- bits say which set a row is of: 15 channel, 23 category, 27 priority,
    -- 29 queue, 14 day and channel).
    WITH g AS (
        SELECT r.channel, r.category, r.priority, r.queue, r.day,
               grouping(r.channel, r.category, r.priority, r.queue, r.day) AS gs, count(*) AS n
          FROM report_tickets r
         GROUP BY GROUPING SETS ((r.channel), (r.category), (r.priority), (r.queue),
                                 (r.day, r.channel))
    ), days AS (
        SELECT g.day, sum(g.n) AS n, jsonb_object_agg(g.channel, g.n) AS by_channel
          FROM g WHERE g.gs = 14 GROUP BY g.day
    )
    SELECT jsonb_build_object(
               'tickets', coalesce((SELECT sum(n) FROM g WHERE gs = 15), 0),
               'by_channel', coalesce((SELECT jsonb_object_agg(channel, n) FROM g WHERE gs = 15),
                                      '{}'),
               'by_category', coalesce((SELECT jsonb_object_agg(category, n) FROM g
                                         WHERE gs = 23), '{}'),
               'by_priority', coalesce((SELECT jsonb_object_agg(priority, n) FROM g
                                         WHERE gs = 27), '{}'),
               'by_queue', coalesce((SELECT jsonb_object_agg(queue, n) FROM g WHERE gs = 29),
                                    '{}'),
               'per_day', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                      'day', c.day::date, 'tickets', coalesce(x.n, 0),
                                      'by_channel', coalesce(x.by_channel, '{}'))
                                      ORDER BY c.day), '[]')
                             FROM generate_series((d->>'from')::date, (d->>'to')::date - 1,
                                                  interval '1 day') c(day)
                             LEFT JOIN days x ON x.day = c.day::date),
               -- Counted by grouping, not through an array of every message's channel.
               'customer_messages_by_channel', (
                   SELECT coalesce(jsonb_object_agg(x.channel, x.n), '{}')
                     FROM (SELECT m.channel, count(*) AS n FROM messages m
                            WHERE m.created_at >= v_t0 AND m.created_at < v_t1
                              AND m.direction = 'in'
                              AND (v_queue IS NULL
                                   OR EXISTS (SELECT 1 FROM tickets t
                                               WHERE t.id = m.ticket_id AND t.queue = v_queue))
                            GROUP BY m.channel) x))
      INTO v_volume;

    -- Every other figure of the tickets in one pass; each pair of
    -- percentiles from one sort.
    SELECT count(*) AS tickets,
           count(*) FILTER (WHERE r.first_responded_at IS NOT NULL) AS answered,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY r.first_response_s) AS fr,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP
               (ORDER BY r.first_response_business_s) AS frb,
           count(*) FILTER (WHERE r.answer_judged) AS fr_judged,
           count(*) FILTER (WHERE r.answered_in_time) AS fr_in,
           count(*) FILTER (WHERE r.first_responded_at IS NULL
                              AND r.first_response_due_at < v_as_of) AS fr_late,
           count(*) FILTER (WHERE r.first_response_s <= 900) AS d15m,
           count(*) FILTER (WHERE r.first_response_s > 900 AND r.first_response_s <= 3600) AS d1h,
           count(*) FILTER (WHERE r.first_response_s > 3600 AND r.first_response_s <= 14400)
               AS d4h,
           count(*) FILTER (WHERE r.first_response_s > 14400 AND r.first_response_s <= 86400)
               AS d24h,
           count(*) FILTER (WHERE r.first_response_s > 86400) AS dmore,
           count(*) FILTER (WHERE r.resolved_at IS NOT NULL) AS resolved,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY r.resolve_s) AS res,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.resolve_business_s) AS resb,
           count(*) FILTER (WHERE r.resolution_judged) AS res_judged,
           count(*) FILTER (WHERE r.resolved_in_time) AS res_in,
           count(*) FILTER (WHERE r.escalation_level >= 2) AS level_2,
           count(*) FILTER (WHERE r.escalation_level >= 3) AS level_3,
           count(*) FILTER (WHERE r.answer_judged AND NOT coalesce(r.answered_in_time, false))
               AS breach_fr,
           count(*) FILTER (WHERE r.handling_started_at > r.handling_due_at
                              OR (r.handling_started_at IS NULL AND r.resolved_at IS NULL
                                  AND r.handling_due_at < v_as_of)) AS breach_handling,
           count(*) FILTER (WHERE r.resolution_judged AND NOT coalesce(r.resolved_in_time, false))
               AS breach_res,
           count(*) FILTER (WHERE r.category = 'complaint') AS complaints,
           count(*) FILTER (WHERE r.category = 'complaint' AND r.resolved_at IS NOT NULL)
               AS complaints_resolved,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.resolve_s)
               FILTER (WHERE r.category = 'complaint') AS complaints_res,
           count(*) FILTER (WHERE r.category = 'callback') AS callbacks,
           count(*) FILTER (WHERE r.category = 'callback' AND r.answered_in_time) AS callbacks_in,
           count(*) FILTER (WHERE r.category = 'callback' AND r.answer_judged) AS callbacks_judged,
           min(r.id) AS min_id, max(r.id) AS max_id
      INTO fig FROM report_tickets r;

    v_first := jsonb_build_object(
        'answered', fig.answered,
        'median_minutes', intake_report_round(fig.fr[1], 60),
        'p90_minutes', intake_report_round(fig.fr[2], 60),
        'business_median_minutes', intake_report_round(fig.frb[1], 60),
        'business_p90_minutes', intake_report_round(fig.frb[2], 60),
        'judged', fig.fr_judged, 'within_deadline', fig.fr_in,
        'within_deadline_pct', intake_report_pct(fig.fr_in, fig.fr_judged),
        'unanswered_past_deadline', fig.fr_late,
        'distribution', jsonb_build_object('up_to_15_min', fig.d15m, 'up_to_1_h', fig.d1h,
                                           'up_to_4_h', fig.d4h, 'up_to_24_h', fig.d24h,
                                           'over_24_h', fig.dmore));
    v_resol := jsonb_build_object(
        'resolved', fig.resolved,
        'resolution_rate_pct', intake_report_pct(fig.resolved, fig.tickets),
        'median_hours', intake_report_round(fig.res[1], 3600),
        'p90_hours', intake_report_round(fig.res[2], 3600),
        'business_median_hours', intake_report_round(fig.resb, 3600),
        'within_deadline_pct', intake_report_pct(fig.res_in, fig.res_judged),
        'by_priority', coalesce((
            SELECT jsonb_object_agg(x.priority, jsonb_build_object(
                       'tickets', x.n, 'resolved', x.resolved,
                       'resolution_rate_pct', intake_report_pct(x.resolved, x.n),
                       'answered_within_deadline_pct', intake_report_pct(x.fr_in, x.fr_j),
                       'resolved_within_deadline_pct', intake_report_pct(x.rs_in, x.rs_j)))
              FROM (SELECT q.priority, count(*) AS n,
                           count(*) FILTER (WHERE q.resolved_at IS NOT NULL) AS resolved,
                           count(*) FILTER (WHERE q.answered_in_time) AS fr_in,
                           count(*) FILTER (WHERE q.answer_judged) AS fr_j,
                           count(*) FILTER (WHERE q.resolved_in_time) AS rs_in,
                           count(*) FILTER (WHERE q.resolution_judged) AS rs_j
                      FROM report_tickets q GROUP BY q.priority) x), '{}'));
    v_escal := jsonb_build_object(
        'level_2', fig.level_2, 'level_3', fig.level_3,
        'breaches_by_clock', jsonb_build_object('first_response', fig.breach_fr,
                                                'handling', fig.breach_handling,
                                                'resolution', fig.breach_res));
    v_compl := jsonb_build_object(
        'tickets', fig.complaints,
        'share_pct', intake_report_pct(fig.complaints, fig.tickets),
        'resolution_rate_pct', intake_report_pct(fig.complaints_resolved, fig.complaints),
        'median_hours_to_resolve', intake_report_round(fig.complaints_res, 3600),
        'callbacks', fig.callbacks,
        'callbacks_in_time_pct', intake_report_pct(fig.callbacks_in, fig.callbacks_judged));

    -- The ticket's queue is looked up only when the report is a queue's (the
    -- plan made for this call drops the EXISTS when v_queue is null): joining
    -- every survey to its ticket cost a pass over the whole tickets index.
    WITH answered AS (
        SELECT s.ticket_id, s.answered_at, s.response_speed, s.resolution_efficiency,
               s.attitude, s.professionalism, s.overall, s.comment
          FROM surveys s
         WHERE s.answered_at >= v_t0 AND s.answered_at < v_t1
           AND (v_queue IS NULL OR EXISTS (SELECT 1 FROM tickets t
                                            WHERE t.id = s.ticket_id AND t.queue = v_queue))
    ), sent AS (
        SELECT count(*) AS n, count(*) FILTER (WHERE s.answered_at IS NOT NULL) AS answered
          FROM surveys s
         WHERE s.created_at >= v_t0 AND s.created_at < v_t1
           AND (v_queue IS NULL OR EXISTS (SELECT 1 FROM tickets t
                                            WHERE t.id = s.ticket_id AND t.queue = v_queue))
    ), counts AS (
        SELECT count(*) AS n, count(*) FILTER (WHERE overall >= 4) AS satisfied,
               count(*) FILTER (WHERE overall IS NOT NULL) AS rated
          FROM answered
    ), dims AS (
        -- How many answers gave each rating of each dimension: at most 25 rows,
        -- which every figure below reads instead of the answers themselves.
        SELECT k.dim, k.v, count(*) AS n FROM answered a,
               LATERAL (VALUES ('response_speed', a.response_speed),
                               ('resolution_efficiency', a.resolution_efficiency),
                               ('attitude', a.attitude), ('professionalism', a.professionalism),
                               ('overall', a.overall)) k(dim, v)
         WHERE k.v IS NOT NULL
         GROUP BY k.dim, k.v
    )
    SELECT jsonb_build_object(
               'sent', (SELECT n FROM sent),
               'sent_answered', (SELECT answered FROM sent),
               'response_rate_pct', (SELECT intake_report_pct(answered, n) FROM sent),
               'answered', (SELECT n FROM counts),
               'satisfied', (SELECT satisfied FROM counts),
               'satisfied_pct', (SELECT intake_report_pct(satisfied, rated) FROM counts),
               'target_pct', 90,
               'dimensions', (
                   SELECT jsonb_object_agg(n.dim, jsonb_build_object(
                              'mean', (SELECT round(sum(dims.v * dims.n)::numeric
                                                    / nullif(sum(dims.n), 0), 2)
                                         FROM dims WHERE dims.dim = n.dim),
                              'answers', (SELECT coalesce(sum(dims.n), 0) FROM dims
                                           WHERE dims.dim = n.dim),
                              'distribution', (SELECT jsonb_object_agg(g, coalesce((
                                                   SELECT dims.n FROM dims
                                                    WHERE dims.dim = n.dim AND dims.v = g), 0))
                                                 FROM generate_series(1, 5) g)))
                     FROM unnest(ARRAY['response_speed', 'resolution_efficiency', 'attitude',
                                       'professionalism', 'overall']) n(dim)),
               'comments', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                       'ticket', t.number, 'overall', a.overall,
                                       'comment', a.comment, 'answered_at', a.answered_at)
                                       ORDER BY a.answered_at), '[]')
                              FROM answered a JOIN tickets t ON t.id = a.ticket_id
                             WHERE coalesce(a.comment, '') <> ''))
      INTO v_satis;

    SELECT jsonb_build_object(
               'opened', (SELECT count(*) FROM followups f JOIN tickets t ON t.id = f.ticket_id
                           WHERE f.created_at >= v_t0 AND f.created_at < v_t1
                             AND (v_queue IS NULL OR t.queue = v_queue)),
               'due', count(*),
               'closed', count(*) FILTER (WHERE f.closed_at IS NOT NULL),
               'on_time', count(*) FILTER (WHERE f.closed_at <= f.due_at),
               'on_time_pct', intake_report_pct(count(*) FILTER (WHERE f.closed_at <= f.due_at),
                                                count(*) FILTER (WHERE f.closed_at IS NOT NULL
                                                                 OR f.due_at < v_as_of)),
               'target_pct', 95,
               'open_overdue', count(*) FILTER (WHERE f.closed_at IS NULL AND f.due_at < v_as_of))
      INTO v_follow
      FROM followups f JOIN tickets t ON t.id = f.ticket_id
     WHERE f.due_at >= v_t0 AND f.due_at < v_t1 AND (v_queue IS NULL OR t.queue = v_queue);

    -- Each agent's tickets; their mean rating over the answered surveys of
    -- those tickets (a survey is made after its ticket: only surveys made
    -- since the period began of tickets in the period's range of ids are
    -- read, by the BRIN index or the ticket index, joined by hash).
    WITH rated AS (
        SELECT r.assignee_id, avg(s.overall) AS mean_overall
          FROM surveys s JOIN report_tickets r ON r.id = s.ticket_id
         WHERE s.created_at >= v_t0 AND s.answered_at IS NOT NULL AND r.assignee_id IS NOT NULL
           AND s.ticket_id BETWEEN fig.min_id AND fig.max_id
         GROUP BY r.assignee_id
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'agent', x.assignee, 'assigned', x.n, 'first_responses', x.answered,
               'resolved', x.resolved, 'median_first_response_minutes', x.median_fr,
               'mean_overall', round(rated.mean_overall::numeric, 2))
               ORDER BY x.n DESC, x.assignee), '[]')
      INTO v_agents
      FROM (SELECT r.assignee_id, r.assignee, count(*) AS n,
                   count(*) FILTER (WHERE r.first_responded_at IS NOT NULL) AS answered,
                   count(*) FILTER (WHERE r.resolved_at IS NOT NULL) AS resolved,
                   intake_report_round(percentile_cont(0.5) WITHIN GROUP
                                       (ORDER BY r.first_response_s), 60) AS median_fr
              FROM report_tickets r WHERE r.assignee_id IS NOT NULL
             GROUP BY r.assignee_id, r.assignee) x
      LEFT JOIN rated ON rated.assignee_id = x.assignee_id;

    RETURN jsonb_build_object(
        'period', d->>'period', 'from', d->>'from', 'to', d->>'to',
        'timezone', d->>'timezone', 'queue', v_queue, 'as_of', v_as_of,
        'business_hours', coalesce(jsonb_typeof(d->'calendar') = 'object', false),
        'volume', v_volume, 'first_response', v_first, 'resolution', v_resol,
        'escalations', v_escal, 'satisfaction', v_satis, 'followups', v_follow,
        'complaints', v_compl, 'agents', v_agents);
END
$fn$;

-- The period's tickets as rows for a spreadsheet (`intake report --format
-- csv`), oldest first, each a JSON object of intake_report_tickets' columns
-- with times in the report's time zone.
CREATE OR REPLACE FUNCTION intake_report_rows(d jsonb) RETURNS SETOF jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_build_object(
               'ticket', r.number,
               'created', to_char(r.created_at AT TIME ZONE (d->>'timezone'), 'YYYY-MM-DD HH24:MI'),
               'channel', r.channel, 'category', r.category, 'priority', r.priority,
               'queue', r.queue, 'status', r.status, 'escalation_level', r.escalation_level,
               'agent', r.assignee,
               'first_response_due', to_char(r.first_response_due_at AT TIME ZONE (d->>'timezone'),
                                             'YYYY-MM-DD HH24:MI'),
               'first_response', to_char(r.first_responded_at AT TIME ZONE (d->>'timezone'),
                                         'YYYY-MM-DD HH24:MI'),
               'first_response_minutes', intake_report_round(r.first_response_s, 60),
               'first_response_business_minutes',
                   intake_report_round(r.first_response_business_s, 60),
               'answered_within_deadline', CASE WHEN r.answer_judged
                                                THEN coalesce(r.answered_in_time, false) END,
               'resolved', to_char(r.resolved_at AT TIME ZONE (d->>'timezone'), 'YYYY-MM-DD HH24:MI'),
               'resolution_hours', intake_report_round(r.resolve_s, 3600),
               'resolution_business_hours', intake_report_round(r.resolve_business_s, 3600),
               'resolved_within_deadline', CASE WHEN r.resolution_judged
                                                THEN coalesce(r.resolved_in_time, false) END,
               'overall_rating', (SELECT s.overall FROM surveys s
                                   WHERE s.ticket_id = r.id AND s.answered_at IS NOT NULL
                                   ORDER BY s.answered_at DESC LIMIT 1))
      FROM intake_report_tickets(d) r
     ORDER BY r.created_at, r.id
$fn$;

-- Whether a report can be made as asked: the time zone and the queue exist,
-- and the period has begun in that zone (a report of a period to come would
-- be all zeros that look like a real quiet one). NULL when it can, else
-- {error, field}. The form of the period is checked by the caller.
CREATE OR REPLACE FUNCTION intake_report_problem(d jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_today date;
BEGIN
    -- The zone is tried rather than looked up in pg_timezone_names, which
    -- reads the whole time zone database (0.2 s a request on a busy host).
    BEGIN
        v_today := (now() AT TIME ZONE (d->>'timezone'))::date;
    EXCEPTION WHEN invalid_parameter_value THEN
        v_today := NULL;
    END;
    IF v_today IS NULL THEN
        RETURN jsonb_build_object('error', 'no such time zone', 'field', 'timezone');
    ELSIF d->>'queue' IS NOT NULL AND NOT EXISTS (SELECT 1 FROM queues WHERE name = d->>'queue')
    THEN
        RETURN jsonb_build_object('error', 'no such queue', 'field', 'queue');
    ELSIF (d->>'from')::date > v_today THEN
        RETURN jsonb_build_object('error', 'the period has not begun yet', 'field', 'period');
    END IF;
    RETURN NULL;
END
$fn$;
