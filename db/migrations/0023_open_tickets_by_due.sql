-- 0023: the desk's list of open work, by index. The list shows the most
-- urgent first: overdue tickets, then the nearest running clock. Both are one
-- order, by a ticket's nearest running deadline (an overdue ticket's has
-- passed, so it sorts first), and this index holds exactly that order for the
-- open tickets, so a page of 50 reads 50 entries (and the ones a filter
-- skips) instead of every open ticket of a desk that has run for years (2.7 s
-- at 2,000,000 tickets). A ticket whose clocks have all stopped sorts last.
CREATE INDEX tickets_open_by_due ON tickets ((coalesce(least(
        CASE WHEN first_responded_at IS NULL THEN first_response_due_at END,
        CASE WHEN handling_started_at IS NULL THEN handling_due_at END,
        CASE WHEN resolved_at IS NULL THEN resolution_due_at END), 'infinity')), id)
    WHERE status IN ('new', 'open', 'pending');
