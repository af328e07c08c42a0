-- Routing: which agent of a queue gets a ticket. The online agent with the
-- fewest open tickets below their capacity, ties round robin; nobody free:
-- the ticket waits, and is handed out when someone of its queue comes online
-- or a slot frees up.

-- Open tickets an agent holds (what capacity counts): agents.open_tickets,
-- kept by the triggers below. Counting them in tickets at every
-- registration, for every online agent of the queue, was what made
-- registration slower as history grew (db/migrations/0075).
CREATE OR REPLACE FUNCTION intake_agent_load(p_agent bigint) RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT open_tickets FROM agents WHERE id = p_agent
$fn$;

-- Moves a ticket between its agents' open_tickets: the agent whose count
-- the old row was in loses one, the one the new row is in gains one. The
-- triggers' WHEN conditions call it only when that changes, so a reply to
-- an open ticket (most updates) leaves the agents' rows alone.
CREATE OR REPLACE FUNCTION intake_tickets_agent_load() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    v_was bigint;
    v_is  bigint;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.status IN ('new', 'open', 'pending') THEN
        v_was := OLD.assignee_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status IN ('new', 'open', 'pending') THEN
        v_is := NEW.assignee_id;
    END IF;
    IF v_was IS DISTINCT FROM v_is THEN
        UPDATE agents SET open_tickets = open_tickets + CASE WHEN id = v_is THEN 1 ELSE -1 END
         WHERE id IN (v_was, v_is);
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE TRIGGER tickets_agent_load_insert AFTER INSERT ON tickets FOR EACH ROW
    WHEN (NEW.assignee_id IS NOT NULL AND NEW.status IN ('new', 'open', 'pending'))
    EXECUTE FUNCTION intake_tickets_agent_load();
CREATE OR REPLACE TRIGGER tickets_agent_load_update
    AFTER UPDATE OF status, assignee_id ON tickets FOR EACH ROW
    WHEN (OLD.assignee_id IS DISTINCT FROM NEW.assignee_id
          OR (OLD.status IN ('new', 'open', 'pending'))
             <> (NEW.status IN ('new', 'open', 'pending')))
    EXECUTE FUNCTION intake_tickets_agent_load();
CREATE OR REPLACE TRIGGER tickets_agent_load_delete AFTER DELETE ON tickets FOR EACH ROW
    WHEN (OLD.assignee_id IS NOT NULL AND OLD.status IN ('new', 'open', 'pending'))
    EXECUTE FUNCTION intake_tickets_agent_load();

-- Agents whose open_tickets differs from their open tickets: none, unless
-- something bypassed the triggers (session_replication_role = replica, a
-- TRUNCATE, a restore of agents without their tickets). For tests, the
-- benchmarks' checks and an operator in doubt; reads all open work once.
CREATE OR REPLACE FUNCTION intake_agent_load_drift()
RETURNS TABLE (agent_id bigint, kept int, counted bigint)
LANGUAGE sql STABLE AS $fn$
    SELECT a.id, a.open_tickets, coalesce(h.n, 0)
      FROM agents a
      LEFT JOIN (SELECT assignee_id, count(*) AS n FROM tickets
                  WHERE assignee_id IS NOT NULL AND status IN ('new', 'open', 'pending')
                  GROUP BY assignee_id) h ON h.assignee_id = a.id
     WHERE a.open_tickets <> coalesce(h.n, 0)
$fn$;

-- The online agent of a queue with the fewest open tickets below capacity;
-- ties go to whoever was assigned least recently (round robin). The agent's
-- row is locked and its load read again under the lock (FOR UPDATE returns
-- the latest version), so two transactions assigning at once cannot both
-- take the last free slot.
CREATE OR REPLACE FUNCTION intake_pick_agent(p_queue text) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_agent bigint;
    v_free  boolean;
BEGIN
    FOR attempt IN 1..3 LOOP
        SELECT a.id INTO v_agent
          FROM agent_queues aq JOIN agents a ON a.id = aq.agent_id
         WHERE aq.queue = p_queue AND a.online AND a.disabled_at IS NULL
           AND a.open_tickets < a.capacity
         ORDER BY a.open_tickets, a.last_assigned_at NULLS FIRST, a.id
         LIMIT 1;
        IF v_agent IS NULL THEN
            RETURN NULL;
        END IF;
        SELECT open_tickets < capacity INTO v_free FROM agents
         WHERE id = v_agent AND online AND disabled_at IS NULL FOR UPDATE;
        IF v_free THEN
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
    v_cap := a.capacity - a.open_tickets;
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
