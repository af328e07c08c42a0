-- Business time, for SLA deadlines and the working days of follow-ups.

-- Business time. A calendar is {"tz", "days": ISO weekdays, "start", "end"
-- ("HH:MM", local), "holidays": ["YYYY-MM-DD"]}; NULL means 24x7, where
-- business time is plain time (and the function stays a cheap expression).
CREATE OR REPLACE FUNCTION intake_business_walk(p_from timestamptz, p_secs int, p_cal jsonb)
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_tz    text := coalesce(p_cal->>'tz', 'UTC');
    v_start time := coalesce(p_cal->>'start', '00:00')::time;
    v_end   time := coalesce(p_cal->>'end', '24:00')::time;
    v_left  double precision := greatest(p_secs, 0);
    v_local timestamp := p_from AT TIME ZONE v_tz;
    v_day   date;
    v_open  timestamp;
    v_close timestamp;
BEGIN
    FOR i IN 1..800 LOOP
        v_day := v_local::date;
        v_open := v_day + v_start;
        v_close := v_day + v_end;
        IF extract(isodow FROM v_day)::int IN
               (SELECT jsonb_array_elements_text(coalesce(p_cal->'days', '[1,2,3,4,5,6,7]'))::int)
           AND NOT coalesce(p_cal->'holidays', '[]') ? v_day::text
           AND v_local < v_close THEN
            IF v_local < v_open THEN
                v_local := v_open;
            END IF;
            IF extract(epoch FROM v_close - v_local) >= v_left THEN
                RETURN (v_local + make_interval(secs => v_left)) AT TIME ZONE v_tz;
            END IF;
            v_left := v_left - extract(epoch FROM v_close - v_local);
        END IF;
        v_local := (v_day + 1)::timestamp;
    END LOOP;
    RAISE EXCEPTION 'the business calendar has no open hours' USING ERRCODE = '22023';
END
$fn$;

-- p_secs of business time after p_from (plain time without a calendar).
CREATE OR REPLACE FUNCTION intake_business_add(p_from timestamptz, p_secs int, p_cal jsonb)
RETURNS timestamptz
LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN p_cal IS NULL OR jsonb_typeof(p_cal) <> 'object'
                THEN p_from + make_interval(secs => p_secs)
                ELSE intake_business_walk(p_from, p_secs, p_cal) END
$fn$;

-- n working days later at the same local time: days of the calendar's week
-- (Monday to Friday unless it names others) that are not holidays.
CREATE OR REPLACE FUNCTION intake_add_working_days(p_from timestamptz, p_days int, p_cal jsonb)
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_tz    text := coalesce(p_cal->>'tz', 'UTC');
    v_local timestamp := p_from AT TIME ZONE v_tz;
    v_left  int := p_days;
BEGIN
    WHILE v_left > 0 LOOP
        v_local := v_local + interval '1 day';
        IF extract(isodow FROM v_local)::int IN
               (SELECT jsonb_array_elements_text(coalesce(p_cal->'days', '[1,2,3,4,5]'))::int)
           AND NOT coalesce(p_cal->'holidays', '[]') ? v_local::date::text THEN
            v_left := v_left - 1;
        END IF;
    END LOOP;
    RETURN v_local AT TIME ZONE v_tz;
END
$fn$;
