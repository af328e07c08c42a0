-- 0024: the desk's other lists and the SLA scanner, by index, at any size.
--
-- The order of tickets_open_by_due (0023) within one assignee and within one
-- queue: an agent's own work (assignee=me; 173 ms at 2,000,000 tickets when
-- walking every open ticket for the few that are theirs) and the queues they
-- serve are each read a page at a time, in order. The first also answers
-- what tickets_assignee_open did (an agent's open tickets, counted when
-- routing).
CREATE INDEX tickets_open_by_assignee_due ON tickets (assignee_id, (coalesce(least(
        CASE WHEN first_responded_at IS NULL THEN first_response_due_at END,
        CASE WHEN handling_started_at IS NULL THEN handling_due_at END,
        CASE WHEN resolved_at IS NULL THEN resolution_due_at END), 'infinity')), id)
    WHERE status IN ('new', 'open', 'pending');
CREATE INDEX tickets_open_by_queue_due ON tickets (queue, (coalesce(least(
        CASE WHEN first_responded_at IS NULL THEN first_response_due_at END,
        CASE WHEN handling_started_at IS NULL THEN handling_due_at END,
        CASE WHEN resolved_at IS NULL THEN resolution_due_at END), 'infinity')), id)
    WHERE status IN ('new', 'open', 'pending');
DROP INDEX tickets_assignee_open;

-- Finished work (resolved, closed), most recently finished first: the list of
-- a desk's history reads a page of it, not the whole history sorted (1.6 s);
-- likewise within a queue and within an assignee. Entries are made when a
-- ticket finishes, not when it is registered.
CREATE INDEX tickets_finished ON tickets ((coalesce(closed_at, resolved_at, updated_at)), id)
    WHERE status IN ('resolved', 'closed');
CREATE INDEX tickets_finished_by_queue
    ON tickets (queue, (coalesce(closed_at, resolved_at, updated_at)), id)
    WHERE status IN ('resolved', 'closed');
CREATE INDEX tickets_finished_by_assignee
    ON tickets (assignee_id, (coalesce(closed_at, resolved_at, updated_at)), id)
    WHERE status IN ('resolved', 'closed');

-- The SLA scanner's next look at a ticket: the earliest deadline of a running
-- clock that it has not yet found run out at the ticket's level, NULL when
-- none (a finished ticket, or every clock stopped). A trigger
-- (db/functions/sla.sql) sets it whenever a deadline, a clock, the level or
-- the status changes; the scanner moves it past the clocks it has dealt with.
-- The scan then reads only tickets that are due, instead of every overdue
-- open ticket again and again (851-886 ms a pass at 2,000,000 tickets).
ALTER TABLE tickets ADD COLUMN sla_next_at timestamptz;

UPDATE tickets t
   SET sla_next_at = (SELECT min(c.due)
                        FROM (VALUES
                              ('first_response', CASE WHEN t.first_responded_at IS NULL
                                                      THEN t.first_response_due_at END),
                              ('handling', CASE WHEN t.handling_started_at IS NULL
                                                THEN t.handling_due_at END),
                              ('resolution', CASE WHEN t.resolved_at IS NULL
                                                  THEN t.resolution_due_at END)) AS c(clock, due)
                       WHERE c.due IS NOT NULL
                         AND NOT EXISTS (SELECT 1 FROM sla_breaches b
                                          WHERE b.ticket_id = t.id AND b.clock = c.clock
                                            AND b.level = t.escalation_level))
 WHERE t.status IN ('new', 'open', 'pending');

CREATE INDEX tickets_sla_next ON tickets (sla_next_at) WHERE sla_next_at IS NOT NULL;
-- The scanner's old indexes, one per clock: nothing reads them now, and each
-- cost every registration an insert.
DROP INDEX tickets_open_first_response;
DROP INDEX tickets_open_resolution;
