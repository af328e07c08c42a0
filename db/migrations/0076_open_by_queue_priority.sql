-- 0076: a queue's open work of one priority, most urgent first (issue 26).
--
-- `GET /v1/tickets?queue=Q&priority=P` walked the queue's open work in due
-- order (tickets_open_by_queue_due) and kept the tickets of that priority:
-- when few or none of the queue are of it, the walk read the whole queue
-- for a short page (21,494 open tickets of complaints, no urgent one: p99
-- 150 ms at 2,000,000 tickets, bench/README.md). This index holds the same
-- order within each queue and priority; the due expression is 0024's.
CREATE INDEX tickets_open_by_queue_priority_due ON tickets (queue, priority, (coalesce(least(
        CASE WHEN first_responded_at IS NULL THEN first_response_due_at END,
        CASE WHEN handling_started_at IS NULL THEN handling_due_at END,
        CASE WHEN resolved_at IS NULL THEN resolution_due_at END), 'infinity')), id)
    WHERE status IN ('new', 'open', 'pending');
