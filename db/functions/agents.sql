-- Agents: their records, their streams (a live session each, channel 'desk')
-- and presence. Every open stream socket is a row of agent_streams, renewed
-- by its gateway every third of its lease and swept by any gateway's poller
-- after it; the agent goes offline when their last row goes, so two tabs on
-- two gateways, or a gateway that died, are counted right. Changes to one
-- agent's rows take the agent's row lock first, so an open on one gateway and
-- a close on another cannot both miss each other.

-- `intake agent add`: d = {name, email, role, capacity, queues}; an agent
-- with that email is updated instead (the command can be run again).
CREATE OR REPLACE FUNCTION intake_agent_add(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    a        agents;
    v_queues text[];
BEGIN
    INSERT INTO agents (name, email, role, capacity)
    VALUES (d->>'name', lower(d->>'email'), coalesce(d->>'role', 'agent'),
            coalesce((d->>'capacity')::int, 10))
    ON CONFLICT (email) DO UPDATE
       SET name = EXCLUDED.name, role = EXCLUDED.role,
           capacity = coalesce((d->>'capacity')::int, agents.capacity), disabled_at = NULL
    RETURNING * INTO a;
    IF d ? 'queues' THEN
        v_queues := ARRAY(SELECT queue FROM agent_queues WHERE agent_id = a.id ORDER BY queue);
        DELETE FROM agent_queues WHERE agent_id = a.id;
        INSERT INTO agent_queues (agent_id, queue)
        SELECT a.id, q FROM jsonb_array_elements_text(d->'queues') q;
        -- The audit trail (audit.sql) has the agent's own changes from a trigger.
        INSERT INTO audit_log (actor, action, subject, detail)
        SELECT intake_audit_actor(), 'agent.queues', 'agent:' || a.id,
               jsonb_build_object('from', v_queues, 'to', n.queues)
          FROM (SELECT ARRAY(SELECT queue FROM agent_queues WHERE agent_id = a.id
                              ORDER BY queue) AS queues) n
         WHERE n.queues IS DISTINCT FROM v_queues;
    END IF;
    PERFORM intake_agent_stream(a.id);
    RETURN intake_agent_brief(a);
END
$fn$;

-- An agent as the desk shows them.
CREATE OR REPLACE FUNCTION intake_agent_brief(a agents) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_build_object('id', a.id, 'name', a.name, 'email', a.email, 'role', a.role,
        'presence', a.presence, 'capacity', a.capacity, 'open_tickets', intake_agent_load(a.id),
        'queues', coalesce((SELECT jsonb_agg(queue ORDER BY queue) FROM agent_queues
                             WHERE agent_id = a.id), '[]'))
$fn$;

-- An agent's stream: a live session of its own (channel 'desk'), created
-- on first use. Its token hash is random and never handed out: the agent
-- reaches the stream with the agent token, not a chat token.
CREATE OR REPLACE FUNCTION intake_agent_stream(p_agent bigint) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_stream bigint;
BEGIN
    SELECT stream_id INTO v_stream FROM agents WHERE id = p_agent;
    IF v_stream IS NOT NULL THEN
        RETURN v_stream;
    END IF;
    -- The first use: whoever makes it waits for the agent's row first.
    -- Inserting first, two makers deadlocked: one holding the row (a
    -- transfer moves the agent's open_tickets) waited for the other's
    -- uncommitted stream, which waited for the row to record its id. (No
    -- KEY: a new ticket's reference to the agent is not held up.)
    SELECT stream_id INTO v_stream FROM agents WHERE id = p_agent FOR NO KEY UPDATE;
    IF v_stream IS NOT NULL THEN
        RETURN v_stream;
    END IF;
    INSERT INTO live_sessions (token_hash, visitor, channel, name)
    SELECT sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')),
           'agent-' || p_agent, 'desk', name
      FROM agents WHERE id = p_agent
    ON CONFLICT (visitor) DO NOTHING;
    SELECT id INTO v_stream FROM live_sessions WHERE visitor = 'agent-' || p_agent;
    UPDATE agents SET stream_id = v_stream WHERE id = p_agent AND stream_id IS NULL;
    RETURN v_stream;
END
$fn$;

-- Appends an event ({"type": ...}) to an agent's stream; NULL agent: nothing.
CREATE OR REPLACE FUNCTION intake_agent_push(p_agent bigint, p_event jsonb) RETURNS bigint
LANGUAGE plpgsql AS $fn$
BEGIN
    IF p_agent IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN intake_session_append(intake_agent_stream(p_agent), NULL,
                                 p_event || jsonb_build_object('at', extract(epoch FROM now())));
END
$fn$;

-- Appends many events to agents' streams in one go: p_events[i] to agent
-- p_agents[i] (NULL: nobody), each stream's in the arrays' order. What
-- intake_agent_push does one event at a time (four statements each), for
-- the SLA scanner's pass, which tells the tiers of dozens of escalations:
-- one number range per stream, one insert, one notification per stream.
-- The streams' rows are locked in id order.
CREATE OR REPLACE FUNCTION intake_agents_push(p_agents bigint[], p_events jsonb[]) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_agents  bigint[];
    v_streams bigint[];
    v_n       int;
BEGIN
    SELECT array_agg(a ORDER BY a), array_agg(intake_agent_stream(a) ORDER BY a)
      INTO v_agents, v_streams
      FROM (SELECT DISTINCT a FROM unnest(p_agents) a WHERE a IS NOT NULL) d;
    IF v_agents IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM live_sessions WHERE id = ANY (v_streams) ORDER BY id FOR UPDATE;
    WITH pushes AS (
        SELECT v_streams[array_position(v_agents, u.a)] AS stream, u.e,
               row_number() OVER (PARTITION BY u.a ORDER BY u.ord) AS k
          FROM unnest(p_agents, p_events) WITH ORDINALITY u(a, e, ord)
         WHERE u.a IS NOT NULL),
    counted AS (SELECT stream, count(*) AS n FROM pushes GROUP BY stream),
    bumped AS (
        UPDATE live_sessions l SET last_seq = l.last_seq + c.n
          FROM counted c WHERE l.id = c.stream
        RETURNING l.id, l.last_seq - c.n AS base)
    INSERT INTO session_events (session_id, seq, client_id, event)
    SELECT p.stream, b.base + p.k, NULL,
           p.e || jsonb_build_object('at', extract(epoch FROM now()))
      FROM pushes p JOIN bumped b ON b.id = p.stream;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    PERFORM pg_notify('intake_session', id || ' ' || last_seq)
       FROM live_sessions WHERE id = ANY (v_streams) ORDER BY id;
    RETURN v_n;
END
$fn$;

-- Tells the tiers: for each i, p_events[i] to every agent of role
-- p_roles[i] who serves queue p_queues[i] (every agent of the role when
-- none serves it), and to the ticket's assignee p_assignees[i] (NULL:
-- none); all of it through intake_agents_push.
CREATE OR REPLACE FUNCTION intake_tiers_push(p_roles text[], p_queues text[],
                                             p_assignees bigint[], p_events jsonb[])
RETURNS int
LANGUAGE sql AS $fn$
    SELECT intake_agents_push(coalesce(array_agg(r.agent ORDER BY n.ord, r.pos, r.agent), '{}'),
                              coalesce(array_agg(n.event ORDER BY n.ord, r.pos, r.agent), '{}'))
      FROM unnest(p_roles, p_queues, p_assignees, p_events) WITH ORDINALITY
           n(role, queue, assignee, event, ord)
     CROSS JOIN LATERAL (
           SELECT a.id AS agent, 1 AS pos FROM agents a
            WHERE a.role = n.role AND a.disabled_at IS NULL
              AND (EXISTS (SELECT 1 FROM agent_queues q WHERE q.agent_id = a.id AND q.queue = n.queue)
                   OR NOT EXISTS (SELECT 1 FROM agents b JOIN agent_queues q ON q.agent_id = b.id
                                   WHERE b.role = n.role AND b.disabled_at IS NULL
                                     AND q.queue = n.queue))
           UNION ALL
           SELECT n.assignee, 2 WHERE n.assignee IS NOT NULL) r
$fn$;

-- Pushes one event to every agent of a role (lead, supervisor) who serves
-- the queue, or to every agent of that role when none serves it; returns
-- how many.
CREATE OR REPLACE FUNCTION intake_push_role(p_role text, p_queue text, p_event jsonb) RETURNS int
LANGUAGE sql AS $fn$
    SELECT intake_tiers_push(ARRAY[p_role], ARRAY[p_queue], ARRAY[NULL::bigint], ARRAY[p_event])
$fn$;

-- With the agent's row locked: takes them offline when no stream of theirs
-- is left; returns whether one is.
CREATE OR REPLACE FUNCTION intake_agent_streams_left(p_agent bigint) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM agent_streams WHERE agent_id = p_agent) THEN
        RETURN true;
    END IF;
    UPDATE agents SET presence = 'offline', online = false, presence_at = now()
     WHERE id = p_agent AND presence <> 'offline';
    RETURN false;
END
$fn$;

-- Streams whose gateway stopped renewing them (a crash) go; returns how many
-- agents went offline. The sweeps remember when the last one ran (any
-- gateway's): when none ran for longer than the longest lease among the open
-- streams (a database outage, or no gateway running), sweeping starts over
-- and sweeps nothing for a whole lease, which gives every live gateway the
-- time to renew first; otherwise the first sweep back would take every
-- streaming agent offline. A gateway really gone is still found, one lease
-- later. (The gateway refuses a lease not longer than escalation.scan_seconds,
-- so sweeps come closer together than any lease.)
CREATE OR REPLACE FUNCTION intake_agent_streams_sweep() RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_longest int := (SELECT max(lease_s) FROM agent_streams);
    v_sweeps  agent_stream_sweeps;
    v_agent   bigint;
    v_gone    int := 0;
BEGIN
    -- One sweep at a time, across gateways.
    SELECT * INTO v_sweeps FROM agent_stream_sweeps FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO agent_stream_sweeps (last_at, since) VALUES (now(), now())
        ON CONFLICT (one) DO NOTHING;
        RETURN 0;
    END IF;
    IF v_longest IS NOT NULL AND v_sweeps.last_at < now() - make_interval(secs => v_longest) THEN
        UPDATE agent_stream_sweeps SET last_at = now(), since = now();
        RETURN 0;
    END IF;
    UPDATE agent_stream_sweeps SET last_at = now();
    FOR v_agent IN SELECT DISTINCT agent_id FROM agent_streams
                    WHERE renewed_at < now() - make_interval(secs => lease_s)
                      AND v_sweeps.since < now() - make_interval(secs => lease_s)
                    ORDER BY agent_id LOOP
        PERFORM 1 FROM agents WHERE id = v_agent FOR UPDATE;
        DELETE FROM agent_streams
         WHERE agent_id = v_agent AND renewed_at < now() - make_interval(secs => lease_s)
           AND v_sweeps.since < now() - make_interval(secs => lease_s);
        IF NOT intake_agent_streams_left(v_agent) THEN
            v_gone := v_gone + 1;
        END IF;
    END LOOP;
    RETURN v_gone;
END
$fn$;

-- An agent's presence (online, away, offline) as they set it; coming online
-- hands them the waiting work of their queues. Returns the agent as the
-- desk shows them, with how many tickets were handed out.
CREATE OR REPLACE FUNCTION intake_agent_set_presence(p_agent bigint, p_presence text)
RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    a agents;
BEGIN
    UPDATE agents SET presence = p_presence, online = p_presence = 'online', presence_at = now()
     WHERE id = p_agent RETURNING * INTO a;
    RETURN intake_agent_brief(a) || jsonb_build_object('assigned', intake_assign_waiting(a.id));
END
$fn$;

-- A stream's renewal by its gateway, every third of its lease. The token the
-- stream opened with is checked: replaced or disabled, the row goes (the
-- agent offline if it was their last) and the gateway closes the socket
-- with 4001 on the 401. A row that is gone was swept while its gateway could
-- not reach the database for longer than the lease, yet the socket is open:
-- a new row, and the agent online again if the sweep took them off.
CREATE OR REPLACE FUNCTION intake_desk_stream_renew(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_stream bigint := (d->>'stream')::bigint;
    v_agent  bigint;
    a        agents;
BEGIN
    SELECT agent_id INTO v_agent FROM agent_streams WHERE id = v_stream;
    IF v_agent IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM agents WHERE id = v_agent AND token_hash = d->>'token_hash'
                                               AND disabled_at IS NULL) THEN
            PERFORM 1 FROM agents WHERE id = v_agent FOR UPDATE;
            DELETE FROM agent_streams WHERE id = v_stream;
            PERFORM intake_agent_streams_left(v_agent);
            RETURN intake_desk_error(401, 'the agent token was revoked');
        END IF;
        UPDATE agent_streams SET renewed_at = now() WHERE id = v_stream;
        IF FOUND THEN
            RETURN intake_desk_ok(jsonb_build_object('stream', v_stream));
        END IF;
    END IF;
    IF d->>'token_hash' IS NULL THEN
        RETURN intake_desk_error(401, 'an agent token is required');
    END IF;
    SELECT * INTO a FROM agents WHERE token_hash = d->>'token_hash' AND disabled_at IS NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN intake_desk_error(401, 'unknown or revoked agent token');
    END IF;
    INSERT INTO agent_streams (agent_id, lease_s) VALUES (a.id, (d->>'lease_s')::int)
    RETURNING id INTO v_stream;
    IF a.presence = 'offline' THEN
        PERFORM intake_agent_set_presence(a.id, 'online');
    END IF;
    RETURN intake_desk_ok(jsonb_build_object('stream', v_stream));
END
$fn$;

-- A stream socket closed on its gateway: its row goes, and the agent goes
-- offline if it was their last (the agent's row lock orders this against
-- an open on another gateway).
CREATE OR REPLACE FUNCTION intake_desk_stream_closed(p_stream bigint) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_agent bigint;
BEGIN
    SELECT agent_id INTO v_agent FROM agent_streams WHERE id = p_stream;
    IF v_agent IS NOT NULL THEN
        PERFORM 1 FROM agents WHERE id = v_agent FOR UPDATE;
        DELETE FROM agent_streams WHERE id = p_stream;
        PERFORM intake_agent_streams_left(v_agent);
    END IF;
    RETURN intake_desk_ok(jsonb_build_object('stream', p_stream));
END
$fn$;

-- An agent named by id or email (as `intake agent` commands take them).
CREATE OR REPLACE FUNCTION intake_agent_named(p_who text) RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT id FROM agents
     WHERE CASE WHEN p_who ~ '^[0-9]{1,18}$' THEN id = p_who::bigint ELSE email = lower(p_who) END
$fn$;

-- `intake agent token`: the agent's token becomes the one whose hash is
-- given (the command shows the token once; the database keeps its hash),
-- and a disabled agent is enabled again. The agent as the desk shows them,
-- or NULL when there is no such agent.
CREATE OR REPLACE FUNCTION intake_agent_token(p_who text, p_token_hash text) RETURNS jsonb
LANGUAGE sql AS $fn$
    WITH a AS (UPDATE agents SET token_hash = p_token_hash, disabled_at = NULL
                WHERE id = intake_agent_named(p_who) RETURNING *)
    SELECT intake_agent_brief(a) FROM a
$fn$;

-- `intake agent list`: the agents who are not disabled.
CREATE OR REPLACE FUNCTION intake_agent_list() RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(jsonb_agg(intake_agent_brief(a) ORDER BY a.id), '[]')
      FROM agents a WHERE disabled_at IS NULL
$fn$;

-- `intake agent disable`: the agent goes offline and their token stops
-- working (their open streams close at their next renewal). Returns whether
-- there was such an agent.
CREATE OR REPLACE FUNCTION intake_agent_disable(p_who text) RETURNS boolean
LANGUAGE sql AS $fn$
    WITH a AS (UPDATE agents SET disabled_at = now(), online = false, presence = 'offline',
                                 token_hash = NULL
                WHERE id = intake_agent_named(p_who) RETURNING id)
    SELECT count(*) = 1 FROM a
$fn$;
