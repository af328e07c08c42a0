-- 0018: a revoked agent token ends the streams it opened.
--
-- A stream's renewal (db/0016) only touched its row: an agent disabled with
-- `intake agent disable`, or whose token was replaced with `intake agent
-- token`, kept an open console receiving their tickets' events, customers'
-- messages included, for as long as the tab stayed open; its renewals kept
-- the row, so the agent counted as online on it. A renewal now checks the
-- token the stream opened with, as every other action does: refused (401),
-- the stream's row goes (the agent offline if it was their last) and the
-- gateway closes the socket with 4001, within a third of the lease.
--
-- 0016's entry point keeps every action; this one in front of it checks
-- the renewals.

ALTER FUNCTION intake_desk(jsonb) RENAME TO intake_desk_streams;

CREATE FUNCTION intake_desk(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_stream bigint := (d->>'stream')::bigint;
    v_agent  bigint;
BEGIN
    IF d->>'action' = 'stream_renew' THEN
        SELECT agent_id INTO v_agent FROM agent_streams WHERE id = v_stream;
        -- A row that is gone was swept: 0016 makes it anew, checking the token.
        IF v_agent IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM agents WHERE id = v_agent AND token_hash = d->>'token_hash'
                                      AND disabled_at IS NULL) THEN
            PERFORM 1 FROM agents WHERE id = v_agent FOR UPDATE;
            DELETE FROM agent_streams WHERE id = v_stream;
            PERFORM intake_agent_streams_left(v_agent);
            RETURN intake_desk_error(401, 'the agent token was revoked');
        END IF;
    END IF;
    RETURN intake_desk_streams(d);
END
$fn$;
