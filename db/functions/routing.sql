-- Routing: which agent of a queue gets a ticket. The online agent with the
-- fewest open tickets below their capacity, ties round robin; nobody free:
-- the ticket waits, and is handed out when someone of its queue comes online
-- or a slot frees up.

-- Open tickets an agent holds (what capacity counts), counted up to p_cap
-- at most when given: routing only asks whether an agent is below capacity
-- and who holds fewest among those who are, and every registration asks it
-- of every online agent of the queue. Counted to the end, it read each
-- agent's whole open work every time (20-27 ms a registration at 2,000,000
-- tickets with 1,000-2,000 open tickets an agent: 43 contacts/s against 737
-- at 100,000); capped, it reads at most a capacity's worth.
CREATE OR REPLACE FUNCTION intake_agent_load(p_agent bigint, p_cap int DEFAULT NULL)
RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT count(*) FROM (SELECT 1 FROM tickets
                           WHERE assignee_id = p_agent AND status IN ('new', 'open', 'pending')
                           LIMIT p_cap) held
$fn$;

-- The online agent of a queue with the fewest open tickets below capacity;
-- ties go to whoever was assigned least recently (round robin). The agent's
-- row is locked and the load counted again under the lock, so two
-- transactions assigning at once cannot both take the last free slot.
CREATE OR REPLACE FUNCTION intake_pick_agent(p_queue text) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_agent bigint;
    v_cap   int;
BEGIN
    FOR attempt IN 1..3 LOOP
        -- The queue's online agents first (OFFSET 0 keeps PostgreSQL from
        -- counting the load of every online agent while scanning agents),
        -- then each one's load once.
        SELECT c.id INTO v_agent
          FROM (SELECT a.id, a.capacity, a.last_assigned_at
                  FROM agent_queues aq JOIN agents a ON a.id = aq.agent_id
                 WHERE aq.queue = p_queue AND a.online AND a.disabled_at IS NULL
                OFFSET 0) c
         CROSS JOIN LATERAL (SELECT intake_agent_load(c.id, c.capacity) AS held) l
         WHERE l.held < c.capacity
         ORDER BY l.held, c.last_assigned_at NULLS FIRST, c.id
         LIMIT 1;
        IF v_agent IS NULL THEN
            RETURN NULL;
        END IF;
        SELECT capacity INTO v_cap FROM agents WHERE id = v_agent AND online FOR UPDATE;
        IF v_cap IS NOT NULL AND intake_agent_load(v_agent, v_cap) < v_cap THEN
            UPDATE agents SET last_assigned_at = clock_timestamp() WHERE id = v_agent;
            RETURN v_agent;
        END IF;
    END LOOP;
    RETURN NULL;
END
$fn$;

-- Gives an agent waiting tickets of their queues (most urgent first, then
-- oldest) until their capacity is full; returns how many. Each becomes a
-- ticket.assigned event on the agent's stream. Each queue's waiting work is
-- read in that order from its index (tickets_waiting_by_urgency,
-- db/migrations/0070), as many as may be handed out, and the queues' heads
-- merged: a sort of every waiting ticket of the agent's queues grew with
-- the backlog and ran at every resolution. A ticket another transaction
-- holds is skipped, as before.
CREATE OR REPLACE FUNCTION intake_assign_waiting(p_agent bigint) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    a     agents;
    t     tickets;
    v_n   int := 0;
    v_cap int;
BEGIN
    SELECT * INTO a FROM agents WHERE id = p_agent FOR UPDATE;
    IF NOT FOUND OR NOT a.online OR a.disabled_at IS NOT NULL THEN
        RETURN 0;
    END IF;
    v_cap := a.capacity - intake_agent_load(a.id, a.capacity);
    FOR t IN
        SELECT (w.t).* FROM agent_queues q
         CROSS JOIN LATERAL (
               SELECT w AS t, CASE w.priority WHEN 'urgent' THEN 0 WHEN 'important' THEN 1
                                              ELSE 2 END AS rank
                 FROM tickets w
                WHERE w.queue = q.queue AND w.assignee_id IS NULL
                  AND w.status IN ('new', 'open', 'pending')
                ORDER BY CASE w.priority WHEN 'urgent' THEN 0 WHEN 'important' THEN 1 ELSE 2 END,
                         w.created_at, w.id
                LIMIT greatest(v_cap, 0)
                  FOR UPDATE SKIP LOCKED) w
         WHERE q.agent_id = a.id
         ORDER BY w.rank, (w.t).created_at, (w.t).id
         LIMIT greatest(v_cap, 0)
    LOOP
        UPDATE tickets SET assignee_id = a.id, updated_at = now() WHERE id = t.id
        RETURNING * INTO t;
        INSERT INTO ticket_events (ticket_id, kind, detail)
        VALUES (t.id, 'assigned', jsonb_build_object('assignee', a.id, 'by', 'presence'));
        PERFORM intake_agent_push(a.id, jsonb_build_object('type', 'ticket.assigned',
                    'ticket', intake_ticket_brief(t)));
        v_n := v_n + 1;
    END LOOP;
    IF v_n > 0 THEN
        UPDATE agents SET last_assigned_at = clock_timestamp() WHERE id = a.id;
    END IF;
    RETURN v_n;
END
$fn$;

-- Hands a ticket to an agent (or to nobody): timeline event, and stream
-- events for the new holder (ticket.assigned) and the previous one.
CREATE OR REPLACE FUNCTION intake_ticket_assign(t tickets, p_agent bigint, p_actor text, p_how text)
RETURNS tickets
LANGUAGE plpgsql AS $fn$
DECLARE
    v_prev bigint := t.assignee_id;
BEGIN
    IF p_agent IS NOT NULL THEN
        PERFORM 1 FROM agents WHERE id = p_agent FOR UPDATE;
        UPDATE agents SET last_assigned_at = clock_timestamp() WHERE id = p_agent;
    END IF;
    UPDATE tickets SET assignee_id = p_agent, updated_at = now(),
           handling_started_at = CASE WHEN p_how = 'claim'
                                      THEN coalesce(handling_started_at, now())
                                      ELSE handling_started_at END,
           status = CASE WHEN p_how = 'claim' AND status = 'new' THEN 'open' ELSE status END
     WHERE id = t.id RETURNING * INTO t;
    INSERT INTO ticket_events (ticket_id, kind, actor, detail)
    VALUES (t.id, CASE WHEN p_agent IS NULL THEN 'unassigned' ELSE 'assigned' END, p_actor,
            jsonb_build_object('assignee', p_agent, 'previous', v_prev, 'by', p_how,
                               'queue', t.queue));
    IF p_agent IS NOT NULL THEN
        PERFORM intake_agent_push(p_agent, jsonb_build_object('type', 'ticket.assigned',
                    'by', p_actor, 'ticket', intake_ticket_brief(t)));
    END IF;
    IF v_prev IS NOT NULL AND v_prev IS DISTINCT FROM p_agent THEN
        PERFORM intake_agent_push(v_prev, jsonb_build_object('type', 'ticket.updated',
                    'what', 'transferred', 'by', p_actor, 'ticket', intake_ticket_brief(t)));
        PERFORM intake_assign_waiting(v_prev);
    END IF;
    RETURN t;
END
$fn$;

-- The queues the configuration routes to, made when missing (`intake
-- migrate`), so routing never points at a queue the database lacks.
CREATE OR REPLACE FUNCTION intake_queues_ensure(p_names text[]) RETURNS int
LANGUAGE sql AS $fn$
    WITH made AS (INSERT INTO queues (name) SELECT unnest(p_names) ON CONFLICT DO NOTHING
                  RETURNING 1)
    SELECT count(*)::int FROM made
$fn$;
