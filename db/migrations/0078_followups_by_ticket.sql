-- 0078: a ticket's follow-ups by its id (issue 26).
--
-- The ticket view lists the ticket's follow-ups, and an erasure rewrites
-- its tickets' follow-ups; followups had no index on ticket_id, so both
-- read the whole table: 40 ms of the view's 45 at 181,583 follow-ups
-- (2,000,000 tickets, bench/README.md), growing with the desk's history.
CREATE INDEX followups_ticket ON followups (ticket_id);
