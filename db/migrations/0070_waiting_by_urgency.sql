-- 0070: waiting work in the order it is handed out (db/functions/routing.sql,
-- intake_assign_waiting).
--
-- An agent who comes online or frees a slot gets the waiting tickets of
-- their queues, most urgent first, then oldest. tickets_waiting held them by
-- queue and age only, so every hand-out read all the waiting tickets of the
-- agent's queues and sorted them (a resolution or a close runs it for the
-- ticket's agent: 0.8-2.8 ms each with a few thousand waiting, growing with
-- the backlog). In this order a hand-out reads, per queue, the tickets it
-- may hand out. It answers what tickets_waiting answered (waiting tickets of
-- a queue), which goes.
CREATE INDEX tickets_waiting_by_urgency ON tickets
    (queue, (CASE priority WHEN 'urgent' THEN 0 WHEN 'important' THEN 1 ELSE 2 END),
     created_at, id)
    WHERE assignee_id IS NULL AND status IN ('new', 'open', 'pending');
DROP INDEX tickets_waiting;
