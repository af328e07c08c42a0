-- 0017: no agent is swept offline right after a gap in sweeping.
--
-- 0016's sweep deleted every stream not renewed within its lease. After the
-- database had been out of reach for longer than a lease, every row was
-- that old, and the first gateway back swept them all: every agent went
-- offline although their sockets stayed open, until each stream's next
-- renewal (up to a third of the lease later) brought them back, and work
-- routed in between waited. Now the sweeps remember when the last one ran
-- (any gateway's). When none ran for longer than the longest lease among the
-- open streams (an outage, or no gateway running), sweeping starts over:
-- nothing is swept until it has gone on for a whole lease, which gives every
-- live gateway the time to renew its streams first. A gateway that is really
-- gone is still found, one lease later. (The gateway refuses a lease not
-- longer than escalation.scan_seconds, so sweeps come closer together than
-- any lease.)

CREATE TABLE agent_stream_sweeps (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_at timestamptz NOT NULL, -- the last sweep, by any gateway
    since   timestamptz NOT NULL  -- when sweeping last started over after a gap
);

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
