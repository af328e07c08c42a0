-- 0014: signals, what is true only for a moment (someone is typing). They
-- are not stored and not numbered: a gateway's announcer sends a batch of
-- them here (gw_announcer_signal), and each goes as a notification
-- '<session> {json}' on the sessions' channel to the sessions it concerns,
-- whichever gateway holds their sockets. Docs:
--   {"typing": "customer", "session": S}: the customer of chat session S is
--     typing; the agent the session's ticket is assigned to hears it on their
--     stream as {"type": "typing", "from": "customer", "ticket": N};
--   {"typing": "agent", "agent": A, "ticket": N}: agent A is typing on ticket
--     N; the customers still in a chat on it hear {"type": "typing", "from":
--     "agent"}.
-- Nobody to tell (no assignee, no stream, the customer left, a closed
-- ticket): nothing is sent. Answers how many notifications went out. The
-- signals are compact JSON text, passed to the sockets as they are.

CREATE FUNCTION intake_session_signals(p_channel text, docs jsonb) RETURNS int
LANGUAGE sql AS $fn$
    WITH d AS (
        SELECT x FROM jsonb_array_elements(docs) x
    ), signals AS (
        SELECT a.stream_id AS target,
               format('{"type":"typing","from":"customer","ticket":%s}', to_json(t.number)) AS signal
          FROM d
          JOIN live_sessions s ON s.id = (d.x->>'session')::bigint
          JOIN tickets t ON t.id = s.ticket_id AND t.status <> 'closed'
          JOIN agents a ON a.id = t.assignee_id AND a.stream_id IS NOT NULL
         WHERE d.x->>'typing' = 'customer'
        UNION
        SELECT s.id, '{"type":"typing","from":"agent"}'
          FROM d
          JOIN tickets t ON t.number = d.x->>'ticket' AND t.status <> 'closed'
          JOIN live_sessions s ON s.ticket_id = t.id AND s.left_at IS NULL
                              AND s.channel <> 'desk'
         WHERE d.x->>'typing' = 'agent' AND d.x ? 'agent'
    )
    SELECT count(pg_notify(p_channel, target || ' ' || signal))::int FROM signals
$fn$;
