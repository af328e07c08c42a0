-- 0065: privacy at size (db/functions/privacy.sql, audit.sql, retention.sql).
--
-- An erase finds a customer's outbox rows by ticket: the rows of their own
-- tickets, and the rows to their address on the tickets they wrote on or
-- chatted about; without an index on ticket_id every erase (and every
-- ticket retention erased) read the whole outbox (1.9 s at 2,000,000
-- tickets). NULLs are kept: rows of no ticket (report mail) are found by
-- the same index.
CREATE INDEX outbox_ticket ON outbox (ticket_id);

-- One 'customer.view' row per agent and customer in ten minutes: the check
-- before each row reads this index, not the trail.
CREATE INDEX audit_log_views ON audit_log (subject, actor, at) WHERE action = 'customer.view';

-- Retention reaches chat sessions that never became a ticket (a visitor's
-- name, email and phone from the chat form): the ones not erased, oldest
-- first. Agents' streams (channel 'desk') are not customers' data.
CREATE INDEX live_sessions_without_ticket ON live_sessions (created_at)
    WHERE ticket_id IS NULL AND channel <> 'desk' AND visitor NOT LIKE 'erased-%';

-- Retention walks the customers in id order, a slice a run, to reach
-- those who have no ticket left to make them due (an identity left by an
-- erased ticket, a customer whose contact was deleted): where the walk
-- stands. One row.
CREATE TABLE retention_progress (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    customer_after bigint NOT NULL DEFAULT 0
);
INSERT INTO retention_progress DEFAULT VALUES;
