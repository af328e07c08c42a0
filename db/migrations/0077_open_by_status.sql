-- 0077: open work of one status, most urgent first (issue 26).
--
-- `GET /v1/tickets?status=open` walked all open work in due order
-- (tickets_open_by_due) and kept the tickets of that status: a desk whose
-- open work is mostly new (or pending) read those first, 169,649 new
-- tickets for a page of open ones (p99 165 ms at 2,000,000 tickets,
-- bench/README.md). intake_desk_page now reads a part of open work as one
-- arm per status; these indexes hold each arm's order, alone and within a
-- queue (an agent's list is an arm per queue). The due expression is 0024's.
CREATE INDEX tickets_open_by_status_due ON tickets (status, (coalesce(least(
        CASE WHEN first_responded_at IS NULL THEN first_response_due_at END,
        CASE WHEN handling_started_at IS NULL THEN handling_due_at END,
        CASE WHEN resolved_at IS NULL THEN resolution_due_at END), 'infinity')), id)
    WHERE status IN ('new', 'open', 'pending');

CREATE INDEX tickets_open_by_queue_status_due ON tickets (queue, status, (coalesce(least(
        CASE WHEN first_responded_at IS NULL THEN first_response_due_at END,
        CASE WHEN handling_started_at IS NULL THEN handling_due_at END,
        CASE WHEN resolved_at IS NULL THEN resolution_due_at END), 'infinity')), id)
    WHERE status IN ('new', 'open', 'pending');
