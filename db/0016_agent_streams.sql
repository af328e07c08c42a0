-- 0016: presence from the agent's open streams on every gateway.
--
-- Until now each gateway counted the stream sockets it held per agent and
-- took the agent offline when its own count reached zero. Behind a load
-- balancer an agent's two tabs can sit on two gateways: closing one took
-- the agent offline while the other was still open, and their tickets
-- waited unassigned. A gateway that died (a crash, a kill -9) closed
-- nothing, so its agents stayed online and routing kept handing them work.
--
-- Now every open stream socket is a row here, whichever gateway holds it.
-- The agent goes offline when their last row goes: when a socket closes,
-- or when a row is swept because its gateway stopped renewing it (the
-- gateway renews each row every third of its agents.stream_lease_seconds,
-- which the row keeps; the poller of any gateway sweeps rows older than
-- their lease). Only a gateway that renews asks for a row (its documents
-- carry lease_s), so a gateway of an older release, still running during
-- an upgrade, keeps its old behaviour instead of seeing its agents swept.
-- Changes to one agent's rows take the agent's row lock first, so an open
-- on one gateway and a close on another cannot both miss each other.

CREATE TABLE agent_streams (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id   bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    lease_s    int NOT NULL CHECK (lease_s > 0),
    opened_at  timestamptz NOT NULL DEFAULT now(),
    renewed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_streams_of_agent ON agent_streams (agent_id);

-- 0005's entry point keeps every action; the new one in front of it adds
-- the stream's rows.
ALTER FUNCTION intake_desk(jsonb) RENAME TO intake_desk_action;

-- With the agent's row locked: takes them offline when no stream of theirs
-- is left; returns whether one is.
CREATE FUNCTION intake_agent_streams_left(p_agent bigint) RETURNS boolean
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

-- Deletes the streams nobody renewed within their lease (their gateway is
-- gone) and takes offline the agents left without one; returns how many.
CREATE FUNCTION intake_agent_streams_sweep() RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_agent bigint;
    v_gone  int := 0;
BEGIN
    FOR v_agent IN SELECT DISTINCT agent_id FROM agent_streams
                    WHERE renewed_at < now() - make_interval(secs => lease_s)
                    ORDER BY agent_id LOOP
        PERFORM 1 FROM agents WHERE id = v_agent FOR UPDATE;
        DELETE FROM agent_streams
         WHERE agent_id = v_agent AND renewed_at < now() - make_interval(secs => lease_s);
        IF NOT intake_agent_streams_left(v_agent) THEN
            v_gone := v_gone + 1;
        END IF;
    END LOOP;
    RETURN v_gone;
END
$fn$;

CREATE FUNCTION intake_desk(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_res    jsonb;
    v_agent  bigint;
    v_stream bigint := (d->>'stream')::bigint;
BEGIN
    IF d->>'action' = 'stream' THEN
        -- A socket opens: 0005's presence, waiting work and events, then its
        -- row (the agent's row is locked by 0005's presence update).
        v_res := intake_desk_action(d);
        v_agent := (v_res #>> '{body,agent,id}')::bigint;
        IF v_agent IS NOT NULL AND d ? 'lease_s' THEN
            INSERT INTO agent_streams (agent_id, lease_s) VALUES (v_agent, (d->>'lease_s')::int)
            RETURNING id INTO v_stream;
            v_res := jsonb_set(v_res, '{body,stream}', to_jsonb(v_stream));
        END IF;
        RETURN v_res;
    ELSIF d->>'action' = 'stream_renew' THEN
        UPDATE agent_streams SET renewed_at = now() WHERE id = v_stream;
        IF FOUND THEN
            RETURN intake_desk_ok(jsonb_build_object('stream', v_stream));
        END IF;
        -- Swept while its gateway could not renew it (the database was out
        -- of its reach for longer than the lease), yet the socket is open:
        -- a new row, and the agent online again if the sweep took them off.
        -- The token is checked as for any action (a revoked one: 401).
        v_res := intake_desk_action(d || jsonb_build_object('action', 'me'));
        v_agent := (v_res #>> '{body,id}')::bigint;
        IF v_agent IS NULL THEN
            RETURN v_res;
        END IF;
        PERFORM 1 FROM agents WHERE id = v_agent FOR UPDATE;
        INSERT INTO agent_streams (agent_id, lease_s) VALUES (v_agent, (d->>'lease_s')::int)
        RETURNING id INTO v_stream;
        IF (SELECT presence FROM agents WHERE id = v_agent) = 'offline' THEN
            PERFORM intake_desk_action(d || jsonb_build_object('action', 'presence',
                                                               'presence', 'online'));
        END IF;
        RETURN intake_desk_ok(jsonb_build_object('stream', v_stream));
    ELSIF d->>'action' = 'stream_closed' THEN
        SELECT agent_id INTO v_agent FROM agent_streams WHERE id = v_stream;
        IF v_agent IS NOT NULL THEN
            PERFORM 1 FROM agents WHERE id = v_agent FOR UPDATE;
            DELETE FROM agent_streams WHERE id = v_stream;
            PERFORM intake_agent_streams_left(v_agent);
        END IF;
        RETURN intake_desk_ok(jsonb_build_object('stream', v_stream));
    ELSIF d->>'action' = 'streams_sweep' THEN
        IF NOT coalesce((d->>'api')::boolean, false) THEN
            RETURN intake_desk_error(401, 'the API token is required');
        END IF;
        RETURN intake_desk_ok(jsonb_build_object('offline', intake_agent_streams_sweep()));
    END IF;
    RETURN intake_desk_action(d);
END
$fn$;
