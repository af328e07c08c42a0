-- 0024: the desk's other lists and the SLA scanner, by index, at any size.
--
-- An agent's own open work, most urgent first (assignee=me): the order of
-- tickets_open_by_due within one assignee, so a page reads its own rows
-- instead of walking every open ticket for the few that are theirs (173 ms at
-- 2,000,000 tickets).
CREATE INDEX tickets_open_by_assignee_due ON tickets (assignee_id, (coalesce(least(
        CASE WHEN first_responded_at IS NULL THEN first_response_due_at END,
        CASE WHEN handling_started_at IS NULL THEN handling_due_at END,
        CASE WHEN resolved_at IS NULL THEN resolution_due_at END), 'infinity')), id)
    WHERE status IN ('new', 'open', 'pending');

-- Finished work (resolved, closed), most recently finished first: the list of
-- a desk's history reads a page of it, not the whole history sorted (1.6 s).
CREATE INDEX tickets_finished ON tickets ((coalesce(closed_at, resolved_at, updated_at)), id)
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
