-- Reports served to people (GET /v1/reports, the console's Reports view):
-- who may read them, and a cache that answers in milliseconds and is still
-- right after tickets change.
--
-- Why a cache and not a per-day rollup: half the figures are medians and
-- 90th percentiles (first response, resolution, per agent), which do not add
-- up across days, and "within its deadline" depends on when the report is
-- made. A rollup would need histograms per day and dimension, kept by every
-- registration and desk action; the cache costs registration nothing.
--
-- When a cached report is still right (intake_report_cached):
--   - it is younger than d.cache_s seconds (reports.cache_seconds): served
--     as it is, its as_of saying when it was made; or
--   - nothing it is made of changed since it was made: the fingerprint of its
--     period (intake_report_fingerprint) is the same. Then it is served and
--     marked checked, without being made again.
-- Otherwise it is made again (seconds) and stored. The poller keeps reports
-- asked for in the last day fresh the same way (intake_report_refresh), so
-- that the console rarely waits for one.

-- What a period's report is made of, in a few numbers that change whenever
-- any of it does: the period's tickets (how many, the sum of their row
-- versions' transaction ids, which every update of a row raises, and how
-- many of their deadlines have passed, which "within its deadline" counts
-- on), the surveys sent or answered in it, the follow-ups due or opened in
-- it, and while the period runs the newest customer message. Read by the
-- indexes of db/0021 (about 0.1 s for a month of 200,000 tickets). A change
-- the fingerprint sees only makes the report again: a false alarm costs
-- time, never a wrong figure.
CREATE OR REPLACE FUNCTION intake_report_fingerprint(d jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_t0 timestamptz := (d->>'from')::date::timestamp AT TIME ZONE (d->>'timezone');
    v_t1 timestamptz := (d->>'to')::date::timestamp AT TIME ZONE (d->>'timezone');
    v_t  text;
    v_s  text;
    v_f  text;
    v_m  text;
BEGIN
    SELECT concat_ws(':', count(*), coalesce(sum(xmin::text::bigint), 0),
                     count(*) FILTER (WHERE first_response_due_at < now()),
                     count(*) FILTER (WHERE handling_due_at < now()),
                     count(*) FILTER (WHERE resolution_due_at < now()))
      INTO v_t FROM tickets WHERE created_at >= v_t0 AND created_at < v_t1;
    SELECT concat_ws(':', count(*), coalesce(sum(xmin::text::bigint), 0)) INTO v_s
      FROM surveys
     WHERE (created_at >= v_t0 AND created_at < v_t1)
        OR (answered_at >= v_t0 AND answered_at < v_t1);
    SELECT concat_ws(':', count(*), coalesce(sum(xmin::text::bigint), 0),
                     count(*) FILTER (WHERE due_at < now())) INTO v_f
      FROM followups
     WHERE (due_at >= v_t0 AND due_at < v_t1) OR (created_at >= v_t0 AND created_at < v_t1);
    -- Messages are stamped when received: a period that has ended gets none.
    IF now() < v_t1 THEN
        SELECT max(id)::text INTO v_m FROM messages;
    END IF;
    RETURN concat_ws('/', v_t, v_s, v_f, coalesce(v_m, '-'));
END
$fn$;

-- The cache's key: what a report's figures depend on besides the data.
CREATE OR REPLACE FUNCTION intake_report_cache_key(d jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT md5(jsonb_build_object('from', d->'from', 'to', d->'to', 'timezone', d->'timezone',
                                  'queue', d->'queue', 'calendar', d->'calendar',
                                  'period', d->'period')::text)
$fn$;

-- Makes the report of d and stores it under its key; returns it.
CREATE OR REPLACE FUNCTION intake_report_store(d jsonb, p_print text) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_report jsonb := intake_report(d - 'as_of');
BEGIN
    INSERT INTO report_cache AS c (key, request, report, fingerprint, computed_at, checked_at,
                                   requested_at)
    VALUES (intake_report_cache_key(d), d - 'token_hash' - 'api', v_report, p_print, now(), now(),
            now())
    ON CONFLICT (key) DO UPDATE
       SET report = EXCLUDED.report, fingerprint = EXCLUDED.fingerprint,
           computed_at = EXCLUDED.computed_at, checked_at = EXCLUDED.checked_at,
           requested_at = greatest(c.requested_at, EXCLUDED.requested_at);
    RETURN v_report;
END
$fn$;

-- The report of d from the cache when it is still right (see the top of
-- this file), else made again; "cached_at" says when its figures were made.
CREATE OR REPLACE FUNCTION intake_report_cached(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_key   text := intake_report_cache_key(d);
    v_max   interval := make_interval(secs => coalesce((d->>'cache_s')::int, 60));
    c       report_cache;
    v_print text;
BEGIN
    SELECT * INTO c FROM report_cache WHERE key = v_key;
    IF c.key IS NOT NULL AND c.checked_at > now() - v_max THEN
        UPDATE report_cache SET requested_at = now() WHERE key = v_key;
        RETURN c.report;
    END IF;
    v_print := intake_report_fingerprint(d);
    IF c.key IS NOT NULL AND c.fingerprint = v_print THEN
        UPDATE report_cache SET requested_at = now(), checked_at = now() WHERE key = v_key;
        RETURN c.report;
    END IF;
    RETURN intake_report_store(d, v_print);
END
$fn$;

-- The poller's turn: one report asked for in the last day whose check is
-- older than half of d.cache_s is checked, and made again if its data
-- changed: ahead of the requests, which then find it fresh and answer in
-- milliseconds. Rows another gateway is refreshing are skipped (their
-- lock); reports not asked for in 30 days are dropped. Answers {refreshed:
-- the key made again, or null}.
CREATE OR REPLACE FUNCTION intake_report_refresh(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    c       report_cache;
    v_print text;
BEGIN
    -- Reports nobody asked for in a month (another period, a range tried once) go.
    DELETE FROM report_cache WHERE requested_at < now() - interval '30 days';
    SELECT * INTO c FROM report_cache
     WHERE requested_at > now() - interval '1 day'
       AND checked_at < now() - make_interval(secs => coalesce((d->>'cache_s')::int, 60) / 2.0)
     ORDER BY checked_at LIMIT 1
       FOR UPDATE SKIP LOCKED;
    IF c.key IS NULL THEN
        RETURN jsonb_build_object('refreshed', NULL);
    END IF;
    v_print := intake_report_fingerprint(c.request);
    IF c.fingerprint = v_print THEN
        UPDATE report_cache SET checked_at = now() WHERE key = c.key;
        RETURN jsonb_build_object('refreshed', NULL);
    END IF;
    PERFORM intake_report_store(c.request, v_print);
    RETURN jsonb_build_object('refreshed', c.key);
END
$fn$;

-- GET /v1/reports, from intake_desk (action "report", which checked the
-- token: a is the agent, a.id NULL for the API token): d = intake_report's
-- request plus cache_s and format. Leads, supervisors and the API token read
-- reports (403 for an agent); a period that cannot be reported is a 400
-- naming the field. The CSV's rows are added as "rows".
CREATE OR REPLACE FUNCTION intake_report_serve(a agents, d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_problem jsonb;
    v_report  jsonb;
BEGIN
    IF a.id IS NOT NULL AND a.role NOT IN ('lead', 'supervisor') THEN
        RETURN intake_desk_error(403, 'reports are for leads and supervisors');
    END IF;
    v_problem := intake_report_problem(d);
    IF v_problem IS NOT NULL THEN
        RETURN intake_desk_error(400, v_problem->>'error', v_problem->>'field');
    END IF;
    v_report := intake_report_cached(d);
    IF d->>'format' = 'csv' THEN
        v_report := v_report || jsonb_build_object('rows', (
            SELECT coalesce(jsonb_agg(r), '[]') FROM intake_report_rows(d) r));
    END IF;
    -- The renderer (report_api.c) reads the format and language from the answer.
    RETURN intake_desk_ok(v_report)
           || jsonb_build_object('format', d->>'format', 'lang', d->>'lang');
END
$fn$;

-- The ticket list's filters that a report's figures link to (desk/report_list.c).
CREATE OR REPLACE FUNCTION intake_report_list_filters() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT ARRAY['created_from', 'created_to', 'channel', 'category', 'breached', 'met',
                 'first_response_over', 'first_response_upto', 'rated_from', 'rated_to',
                 'rating', 'rating_min', 'rating_max']
$fn$;

-- The tickets a report's figure counts, for GET /v1/tickets with a report
-- filter (intake_desk_list hands over; a.id NULL: the API token; v_queues:
-- an agent's queues, NULL for leads and supervisors). The definitions are
-- intake_report_tickets' (reports.sql): "breached" is a clock judged (met,
-- or past due when asked) and not met. Every status unless d.status says;
-- oldest first, paged like the list (next = "<created epoch>:<id>").
CREATE OR REPLACE FUNCTION intake_report_list(a agents, p_queues text[], d jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET enable_sort = on AS $fn$
DECLARE
    v_tz       text := coalesce(d->>'timezone', 'UTC');
    v_statuses text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(
                                   d->'status', '["new", "open", "pending", "resolved", "closed"]')));
    v_limit    int := least(coalesce((d->>'limit')::int, 50), 200);
    v_dim      text := coalesce(d->>'rating', 'overall');
    v_c0       timestamptz;
    v_c1       timestamptz;
    v_r0       timestamptz;
    v_r1       timestamptz;
    v_after_at timestamptz;
    v_after_id bigint;
    v_rows     tickets[];
BEGIN
    BEGIN
        v_c0 := (d->>'created_from')::date::timestamp AT TIME ZONE v_tz;
        v_c1 := ((d->>'created_to')::date + 1)::timestamp AT TIME ZONE v_tz;
        v_r0 := (d->>'rated_from')::date::timestamp AT TIME ZONE v_tz;
        v_r1 := ((d->>'rated_to')::date + 1)::timestamp AT TIME ZONE v_tz;
    EXCEPTION WHEN invalid_parameter_value THEN
        RETURN intake_desk_error(400, 'no such time zone', 'timezone');
    END;
    IF d->>'after' IS NOT NULL THEN
        v_after_at := to_timestamp(split_part(d->>'after', ':', 1)::double precision);
        v_after_id := split_part(d->>'after', ':', 2)::bigint;
    END IF;
    v_rows := ARRAY(
        SELECT t FROM tickets t
         WHERE t.status = ANY (v_statuses)
           AND (p_queues IS NULL OR t.assignee_id = a.id OR t.queue = ANY (p_queues))
           AND (v_c0 IS NULL OR t.created_at >= v_c0)
           AND (v_c1 IS NULL OR t.created_at < v_c1)
           AND (d->>'queue' IS NULL OR t.queue = d->>'queue')
           AND (d->>'priority' IS NULL OR t.priority = d->>'priority')
           AND (d->>'channel' IS NULL OR t.channel = d->>'channel')
           AND (d->>'category' IS NULL OR t.category = d->>'category')
           AND (d->>'assignee' IS NULL
                OR (d->>'assignee' = 'me' AND t.assignee_id = a.id)
                OR (d->>'assignee' = 'none' AND t.assignee_id IS NULL)
                OR (d->>'assignee' ~ '^[0-9]{1,18}$' AND t.assignee_id = (d->>'assignee')::bigint))
           AND (NOT coalesce((d->>'overdue')::boolean, false) OR intake_ticket_overdue(t, now()))
           AND (d->>'breached' IS DISTINCT FROM 'first_response'
                OR ((t.first_responded_at IS NOT NULL OR t.first_response_due_at < now())
                    AND NOT coalesce(t.first_responded_at <= t.first_response_due_at, false)))
           AND (d->>'breached' IS DISTINCT FROM 'resolution'
                OR ((coalesce(t.resolved_at, t.closed_at) IS NOT NULL
                     OR t.resolution_due_at < now())
                    AND NOT coalesce(coalesce(t.resolved_at, t.closed_at) <= t.resolution_due_at,
                                     false)))
           AND (d->>'met' IS DISTINCT FROM 'first_response'
                OR t.first_responded_at <= t.first_response_due_at)
           AND (d->>'met' IS DISTINCT FROM 'resolution'
                OR coalesce(t.resolved_at, t.closed_at) <= t.resolution_due_at)
           AND (d->>'first_response_over' IS NULL
                OR t.first_responded_at - t.created_at
                   > make_interval(mins => (d->>'first_response_over')::int))
           AND (d->>'first_response_upto' IS NULL
                OR t.first_responded_at - t.created_at
                   <= make_interval(mins => (d->>'first_response_upto')::int))
           AND (v_r0 IS NULL AND v_r1 IS NULL AND d->>'rating_min' IS NULL
                AND d->>'rating_max' IS NULL
                OR EXISTS (
                    SELECT 1 FROM surveys s
                     WHERE s.ticket_id = t.id AND s.answered_at IS NOT NULL
                       AND (v_r0 IS NULL OR s.answered_at >= v_r0)
                       AND (v_r1 IS NULL OR s.answered_at < v_r1)
                       AND (d->>'rating_min' IS NULL
                            OR (to_jsonb(s)->>v_dim)::int >= (d->>'rating_min')::int)
                       AND (d->>'rating_max' IS NULL
                            OR (to_jsonb(s)->>v_dim)::int <= (d->>'rating_max')::int)))
           AND (v_after_at IS NULL OR (t.created_at, t.id) > (v_after_at, v_after_id))
         ORDER BY t.created_at, t.id
         LIMIT v_limit + 1);
    RETURN intake_desk_ok(jsonb_build_object(
        'tickets', coalesce((SELECT jsonb_agg(intake_ticket_brief(v_rows[i]) ORDER BY i)
                               FROM generate_subscripts(v_rows, 1) i WHERE i <= v_limit), '[]'),
        'next', CASE WHEN cardinality(v_rows) > v_limit
                     THEN extract(epoch FROM (v_rows[v_limit]).created_at)::text
                          || ':' || (v_rows[v_limit]).id END));
END
$fn$;

-- The report by mail (desk/report_mail.c, on the poller). d = {every: month
-- | week, day (of the month 1-28, or weekday 1 Monday .. 7), timezone,
-- calendar, recipients, cache_s}. The period due is the last one that ended
-- before the schedule's latest day (a month is mailed from day N of the
-- next month on, a week from weekday N of the next week on). Answers
-- {due: null} when every recipient has had it, else {due: {period, from,
-- to}, recipients: those who have not, report, rows (the CSV's)}.
CREATE OR REPLACE FUNCTION intake_report_mail_due(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_today date := (now() AT TIME ZONE (d->>'timezone'))::date;
    v_day   int := (d->>'day')::int;
    v_from  date;
    v_to    date;
    v_name  text;
    v_left  jsonb;
    v_req   jsonb;
BEGIN
    IF d->>'every' = 'week' THEN
        v_to := v_today - (extract(isodow FROM v_today)::int - 1);
        IF extract(isodow FROM v_today) < v_day THEN
            v_to := v_to - 7;
        END IF;
        v_from := v_to - 7;
        v_name := to_char(v_from, 'IYYY-"W"IW');
    ELSE
        v_to := date_trunc('month', v_today)::date;
        IF extract(day FROM v_today) < v_day THEN
            v_to := (v_to - interval '1 month')::date;
        END IF;
        v_from := (v_to - interval '1 month')::date;
        v_name := to_char(v_from, 'YYYY-MM');
    END IF;
    SELECT jsonb_agg(r ORDER BY r) INTO v_left
      FROM jsonb_array_elements_text(d->'recipients') r
     WHERE NOT EXISTS (SELECT 1 FROM report_mailings m WHERE m.period = v_name AND m.recipient = r);
    IF v_left IS NULL THEN
        RETURN jsonb_build_object('due', NULL);
    END IF;
    v_req := jsonb_build_object('from', v_from, 'to', v_to, 'period', v_name,
                                'timezone', d->>'timezone', 'calendar', d->'calendar',
                                'cache_s', d->'cache_s');
    RETURN jsonb_build_object(
        'due', jsonb_build_object('period', v_name, 'from', v_from, 'to', v_to),
        'recipients', v_left,
        'report', intake_report_cached(v_req),
        'rows', (SELECT coalesce(jsonb_agg(r), '[]') FROM intake_report_rows(v_req) r));
END
$fn$;

-- Queues one recipient's mail of a period: d = {period, to, from, message}.
-- The mailing's row and the outbox row in one transaction; a mailing already
-- made (another gateway's) queues nothing. Answers {queued: true|false}.
CREATE OR REPLACE FUNCTION intake_report_mail_queue(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_outbox bigint;
BEGIN
    INSERT INTO report_mailings (period, recipient) VALUES (d->>'period', d->>'to')
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('queued', false);
    END IF;
    INSERT INTO outbox (kind, dedupe_key, payload)
    VALUES ('mail', 'report:' || (d->>'period') || ':' || (d->>'to'),
            jsonb_build_object('from', d->>'from', 'to', d->>'to', 'message', d->>'message'))
    RETURNING id INTO v_outbox;
    UPDATE report_mailings SET outbox_id = v_outbox
     WHERE period = d->>'period' AND recipient = d->>'to';
    RETURN jsonb_build_object('queued', true);
END
$fn$;
