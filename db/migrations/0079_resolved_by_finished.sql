-- 0079: the resolved tickets, most recently resolved first (issue 26).
--
-- `GET /v1/tickets?status=resolved` walked all finished work newest first
-- (tickets_finished) and kept the resolved tickets: with fewer than a page
-- of them (a desk that closes what it resolves) the walk read the desk's
-- whole history for a short page. intake_desk_page reads a part of
-- finished work as an arm per status; this index holds the resolved arm's
-- order (0024's). A partial index of the one status, not (status, ...):
-- with the status first, PostgreSQL judged the index's heap order random
-- and walked tickets_finished instead. Closed tickets, the rest of
-- history, are read from tickets_finished past the few resolved ones.
CREATE INDEX tickets_resolved_by_finished ON tickets
    ((coalesce(closed_at, resolved_at, updated_at)), id) WHERE status = 'resolved';
