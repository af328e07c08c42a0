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

-- Raises a ticket's escalation level (to at most 3) and tells the next tier:
-- level 2 the team leads, level 3 the supervisors (the emergency group). The
-- running clocks restart with the new level's times (d.respond_s, d.resolve_s).
CREATE OR REPLACE FUNCTION intake_ticket_escalate(t tickets, p_actor text, p_reason text, d jsonb)
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
    v_event   jsonb;
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
    v_event := jsonb_build_object('type', 'ticket.escalated', 'level', v_level,
                                  'reason', p_reason, 'by', p_actor,
                                  'ticket', intake_ticket_brief(t));
    PERFORM intake_push_role(CASE WHEN v_level = 2 THEN 'lead' ELSE 'supervisor' END,
                             t.queue, v_event);
    PERFORM intake_agent_push(t.assignee_id, v_event);
    RETURN t;
END
$fn$;

-- The SLA scanner (d = {now, limit, resolve_s, respond_s, calendar}): every
-- running clock of an open ticket past due at d.now (default now()) is a
-- breach, recorded once per ticket, clock and level; a breach raises the
-- level (see intake_ticket_escalate) or, at level 3, tells the supervisors
-- again. One scanner at a time across nodes: the others skip.
CREATE OR REPLACE FUNCTION intake_sla_scan(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_now      timestamptz := coalesce((d->>'now')::timestamptz, now());
    r          record;
    t          tickets;
    v_breaches jsonb := '[]';
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('intake_sla_scan')) THEN
        RETURN jsonb_build_object('skipped', true, 'breaches', '[]'::jsonb);
    END IF;
    FOR r IN
        SELECT tk.id, c.clock, c.due
          FROM tickets tk
         CROSS JOIN LATERAL (VALUES
               ('first_response', CASE WHEN tk.first_responded_at IS NULL
                                       THEN tk.first_response_due_at END),
               ('handling', CASE WHEN tk.handling_started_at IS NULL THEN tk.handling_due_at END),
               ('resolution', CASE WHEN tk.resolved_at IS NULL THEN tk.resolution_due_at END))
               AS c(clock, due)
         WHERE tk.status IN ('new', 'open', 'pending') AND c.due < v_now
           AND NOT EXISTS (SELECT 1 FROM sla_breaches b WHERE b.ticket_id = tk.id
                              AND b.clock = c.clock AND b.level = tk.escalation_level)
         ORDER BY c.due, tk.id
         LIMIT coalesce((d->>'limit')::int, 500)
    LOOP
        SELECT * INTO t FROM tickets WHERE id = r.id FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            CONTINUE; -- busy in another transaction; the next scan sees it
        END IF;
        -- An escalation earlier in this scan restarts the ticket's other clocks.
        r.due := CASE r.clock
            WHEN 'first_response' THEN CASE WHEN t.first_responded_at IS NULL
                                            THEN t.first_response_due_at END
            WHEN 'handling' THEN CASE WHEN t.handling_started_at IS NULL THEN t.handling_due_at END
            ELSE CASE WHEN t.resolved_at IS NULL THEN t.resolution_due_at END END;
        IF r.due IS NULL OR r.due >= v_now THEN
            CONTINUE;
        END IF;
        INSERT INTO sla_breaches (ticket_id, clock, level, due_at, detected_at)
        VALUES (t.id, r.clock, t.escalation_level, r.due, v_now)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            CONTINUE; -- an earlier breach of this scan already escalated it
        END IF;
        INSERT INTO ticket_events (ticket_id, kind, actor, detail, created_at)
        VALUES (t.id, 'sla_breached', 'sla', jsonb_build_object('clock', r.clock,
                'due_at', r.due, 'level', t.escalation_level), v_now);
        v_breaches := v_breaches || jsonb_build_object('ticket', t.number, 'clock', r.clock,
                                                       'level', t.escalation_level);
        IF t.escalation_level < 3 THEN
            t := intake_ticket_escalate(t, 'sla', r.clock || ' clock breached',
                                        d || jsonb_build_object('now', v_now));
        ELSE
            PERFORM intake_push_role('supervisor', t.queue, jsonb_build_object(
                'type', 'sla.breached', 'clock', r.clock, 'level', 3,
                'ticket', intake_ticket_brief(t)));
            PERFORM intake_agent_push(t.assignee_id, jsonb_build_object(
                'type', 'sla.breached', 'clock', r.clock, 'level', 3,
                'ticket', intake_ticket_brief(t)));
        END IF;
    END LOOP;
    RETURN jsonb_build_object('skipped', false, 'breaches', v_breaches);
END
$fn$;
