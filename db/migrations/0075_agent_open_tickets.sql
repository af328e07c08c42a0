-- 0075: each agent's open tickets kept as a number on the agent (issue 26,
-- registration at size).
--
-- Routing asked, at every registration, how many open tickets each online
-- agent of the queue holds, counting them in tickets_assignee_open up to
-- the agent's capacity: at 2,000,000 tickets that count, its index pages
-- and the dead versions between vacuums were what grew (1.02 ms of
-- database CPU a contact at 100,000 tickets, 1.14 ms at 2,000,000). The
-- count is now kept with the ticket (triggers in db/functions/routing.sql:
-- whoever inserts, updates or deletes a ticket moves it), so routing reads
-- one row per agent whatever the history.
--
-- Tickets are locked against writes until this transaction (which also
-- creates the triggers) commits, so no change made by a gateway still
-- running the old functions slips between the count and the triggers.
LOCK TABLE tickets IN SHARE MODE;

ALTER TABLE agents ADD COLUMN open_tickets int NOT NULL DEFAULT 0;

UPDATE agents a SET open_tickets = held.n
  FROM (SELECT assignee_id, count(*) AS n FROM tickets
         WHERE assignee_id IS NOT NULL AND status IN ('new', 'open', 'pending')
         GROUP BY assignee_id) held
 WHERE held.assignee_id = a.id;
