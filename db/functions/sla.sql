-- SLA clocks and escalation (DESIGN.md, "Severity / escalation level"): a
-- ticket's first-response, handling and resolution deadlines, what a breach
-- does, and the scanner every gateway runs (one at a time across nodes).

-- Whether any clock of an open ticket has run out at p_now.
CREATE OR REPLACE FUNCTION intake_ticket_overdue(t tickets, p_now timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $fn$
    SELECT t.status IN ('new', 'open', 'pending') AND (
           (t.first_responded_at IS NULL AND t.first_response_due_at < p_now)
        OR (t.handling_started_at IS NULL AND t.handling_due_at < p_now)
        OR (t.resolved_at IS NULL AND t.resolution_due_at < p_now))
$fn$;

-- A deadline after an escalation at p_now: a new one when it ran out, else
-- the sooner of the old one and the new level's.
CREATE OR REPLACE FUNCTION intake_escalated_due(p_due timestamptz, p_now timestamptz, p_secs int, d jsonb)
RETURNS timestamptz
LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN p_due <= p_now THEN intake_business_add(p_now, p_secs, d->'calendar')
                ELSE least(p_due, intake_business_add(p_now, p_secs, d->'calendar')) END
$fn$;

-- Raises a ticket's escalation level (to at most 3), without telling
-- anyone: the SLA scanner tells the tiers of a whole pass at once. The
-- running clocks restart with the new level's times (d.respond_s,
-- d.resolve_s).
CREATE OR REPLACE FUNCTION intake_ticket_escalate_quietly(t tickets, p_actor text, p_reason text,
                                                          d jsonb)
RETURNS tickets
LANGUAGE plpgsql AS $fn$
DECLARE
    v_level   smallint := least(t.escalation_level + 1, 3);
    v_now     timestamptz := coalesce((d->>'now')::timestamptz, now());
    -- DESIGN.md's tiers: respond in 24 h / 12 h / 2 h, resolve in 24 h / 48 h / 48 h.
    v_respond int := coalesce((d->'respond_s'->>(v_level - 1))::int,
                              (ARRAY[86400, 43200, 7200])[v_level]);
    v_resolve int := coalesce((d->'resolve_s'->>(v_level - 1))::int,
                              (ARRAY[86400, 172800, 172800])[v_level]);
BEGIN
    -- A clock that ran out starts again with the new level's time (so one
    -- breach raises the level once instead of cascading to level 3); one
    -- still running keeps its deadline unless the new level's is sooner.
    UPDATE tickets
       SET escalation_level = v_level, updated_at = now(),
           first_response_due_at = CASE WHEN first_responded_at IS NOT NULL
               THEN first_response_due_at
               ELSE intake_escalated_due(first_response_due_at, v_now, v_respond, d) END,
           handling_due_at = CASE WHEN handling_started_at IS NOT NULL THEN handling_due_at
               ELSE intake_escalated_due(handling_due_at, v_now, v_respond, d) END,
           resolution_due_at = intake_escalated_due(resolution_due_at, v_now, v_resolve, d)
     WHERE id = t.id RETURNING * INTO t;
    INSERT INTO ticket_events (ticket_id, kind, actor, detail)
    VALUES (t.id, 'escalated', p_actor, jsonb_build_object('level', v_level, 'reason', p_reason));
    RETURN t;
END
$fn$;

-- The event that tells the next tier of an escalation to t's level now.
CREATE OR REPLACE FUNCTION intake_escalation_event(t tickets, p_actor text, p_reason text)
RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_build_object('type', 'ticket.escalated', 'level', t.escalation_level,
                              'reason', p_reason, 'by', p_actor, 'ticket', intake_ticket_brief(t))
$fn$;

-- Raises a ticket's escalation level (to at most 3) and tells the next tier:
-- level 2 the team leads, level 3 the supervisors (the emergency group).
CREATE OR REPLACE FUNCTION intake_ticket_escalate(t tickets, p_actor text, p_reason text, d jsonb)
RETURNS tickets
LANGUAGE plpgsql AS $fn$
DECLARE
    v_event jsonb;
BEGIN
    t := intake_ticket_escalate_quietly(t, p_actor, p_reason, d);
    v_event := intake_escalation_event(t, p_actor, p_reason);
    PERFORM intake_push_role(CASE WHEN t.escalation_level = 2 THEN 'lead' ELSE 'supervisor' END,
                             t.queue, v_event);
    PERFORM intake_agent_push(t.assignee_id, v_event);
    RETURN t;
END
$fn$;

-- The earliest deadline among t's running clocks, NULL when every clock has
-- stopped or the ticket is finished: when the SLA scanner should look at it.
CREATE OR REPLACE FUNCTION intake_ticket_sla_next(t tickets) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN t.status IN ('new', 'open', 'pending') THEN least(
        CASE WHEN t.first_responded_at IS NULL THEN t.first_response_due_at END,
        CASE WHEN t.handling_started_at IS NULL THEN t.handling_due_at END,
        CASE WHEN t.resolved_at IS NULL THEN t.resolution_due_at END) END
$fn$;

-- Keeps tickets.sla_next_at (db/migrations/0024) right whenever what it is
-- made of changes, whoever changes it: registration, replies, status
-- changes, escalations, an operator's UPDATE. A deadline already found run
-- out at this level may come back here; the scanner then looks once, finds
-- the breach recorded, and moves it on.
CREATE OR REPLACE FUNCTION intake_tickets_sla_next() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.sla_next_at := intake_ticket_sla_next(NEW);
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER tickets_sla_next
    BEFORE INSERT OR UPDATE OF status, escalation_level, first_response_due_at, handling_due_at,
        resolution_due_at, first_responded_at, handling_started_at, resolved_at
    ON tickets FOR EACH ROW EXECUTE FUNCTION intake_tickets_sla_next();

-- The SLA scanner (d = {now, limit, resolve_s, respond_s, calendar}): every
-- running clock of an open ticket past due at d.now (default now()) is a
-- breach, recorded once per ticket, clock and level; a breach raises the
-- level (see intake_ticket_escalate) or, at level 3, tells the supervisors
-- again. One scanner at a time across nodes: the others skip.
--
-- It reads only tickets that are due (tickets_sla_next): after dealing with
-- one, it moves the ticket's sla_next_at to its next running deadline still
-- ahead, so a clock that ran out at level 3 is not read again every pass.
--
-- A pass deals with at most d.limit (10) due tickets, the most overdue
-- first, and answers "more": true when it may have left some: the caller
-- passes again at once (desk_sla.c), each pass a short transaction, so a
-- backlog (a desk coming back after a night's downtime) neither holds the
-- tickets' locks for seconds nor delays a breach by a scan interval. The
-- tiers are told of a pass's escalations together (intake_agents_push: one
-- statement per pass, not four per ticket).
CREATE OR REPLACE FUNCTION intake_sla_scan(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_now      timestamptz := coalesce((d->>'now')::timestamptz, now());
    v_limit    int := coalesce((d->>'limit')::int, 10);
    v_ids      bigint[];
    v_id       bigint;
    v_clock    text;
    v_due      timestamptz;
    t          tickets;
    v_breaches jsonb := '[]';
    v_event    jsonb;
    -- Who is told what, one element per notice: a role of the ticket's
    -- queue, the ticket's assignee, the event.
    v_roles    text[] := '{}';
    v_queues   text[] := '{}';
    v_assigned bigint[] := '{}';
    v_events   jsonb[] := '{}';
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('intake_sla_scan')) THEN
        RETURN jsonb_build_object('skipped', true, 'breaches', '[]'::jsonb, 'more', false);
    END IF;
    v_ids := ARRAY(SELECT id FROM tickets WHERE sla_next_at <= v_now
                    ORDER BY sla_next_at, id LIMIT v_limit);
    FOREACH v_id IN ARRAY v_ids
    LOOP
        SELECT * INTO t FROM tickets WHERE id = v_id FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            CONTINUE; -- busy in another transaction; the next scan sees it
        END IF;
        -- The clocks in deadline order; each read from the ticket as it is
        -- now, since an escalation earlier in this loop restarts the others.
        FOR v_clock IN
            SELECT c.clock FROM (VALUES
                   ('first_response', CASE WHEN t.first_responded_at IS NULL
                                           THEN t.first_response_due_at END),
                   ('handling', CASE WHEN t.handling_started_at IS NULL THEN t.handling_due_at END),
                   ('resolution', CASE WHEN t.resolved_at IS NULL THEN t.resolution_due_at END))
                   AS c(clock, due)
             WHERE c.due < v_now ORDER BY c.due
        LOOP
            v_due := CASE v_clock
                WHEN 'first_response' THEN CASE WHEN t.first_responded_at IS NULL
                                                THEN t.first_response_due_at END
                WHEN 'handling' THEN CASE WHEN t.handling_started_at IS NULL
                                          THEN t.handling_due_at END
                ELSE CASE WHEN t.resolved_at IS NULL THEN t.resolution_due_at END END;
            IF v_due IS NULL OR v_due >= v_now OR t.status NOT IN ('new', 'open', 'pending') THEN
                CONTINUE;
            END IF;
            INSERT INTO sla_breaches (ticket_id, clock, level, due_at, detected_at)
            VALUES (t.id, v_clock, t.escalation_level, v_due, v_now)
            ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                CONTINUE; -- found before, at this level
            END IF;
            INSERT INTO ticket_events (ticket_id, kind, actor, detail, created_at)
            VALUES (t.id, 'sla_breached', 'sla', jsonb_build_object('clock', v_clock,
                    'due_at', v_due, 'level', t.escalation_level), v_now);
            v_breaches := v_breaches || jsonb_build_object('ticket', t.number, 'clock', v_clock,
                                                           'level', t.escalation_level);
            IF t.escalation_level < 3 THEN
                t := intake_ticket_escalate_quietly(t, 'sla', v_clock || ' clock breached',
                                                    d || jsonb_build_object('now', v_now));
                v_event := intake_escalation_event(t, 'sla', v_clock || ' clock breached');
            ELSE
                v_event := jsonb_build_object('type', 'sla.breached', 'clock', v_clock,
                                              'level', 3, 'ticket', intake_ticket_brief(t));
            END IF;
            v_roles := v_roles || CASE WHEN t.escalation_level = 2 THEN 'lead' ELSE 'supervisor' END;
            v_queues := v_queues || t.queue;
            v_assigned := v_assigned || t.assignee_id;
            v_events := v_events || v_event;
        END LOOP;
        -- Every running clock past v_now is recorded at the ticket's level
        -- now: the next look is at the first deadline still ahead. After an
        -- escalation every running clock is ahead already (the trigger has
        -- set sla_next_at to the first): nothing to move.
        IF t.sla_next_at < v_now THEN
            UPDATE tickets
               SET sla_next_at = (SELECT min(c.due) FROM (VALUES
                       (CASE WHEN first_responded_at IS NULL THEN first_response_due_at END),
                       (CASE WHEN handling_started_at IS NULL THEN handling_due_at END),
                       (CASE WHEN resolved_at IS NULL THEN resolution_due_at END)) AS c(due)
                       WHERE c.due >= v_now AND status IN ('new', 'open', 'pending'))
             WHERE id = t.id;
        END IF;
    END LOOP;
    PERFORM intake_tiers_push(v_roles, v_queues, v_assigned, v_events);
    RETURN jsonb_build_object('skipped', false, 'breaches', v_breaches,
                              'more', cardinality(v_ids) >= v_limit);
END
$fn$;
