-- 0066: the outbox notices a receiver that is back (issue 22; db/functions/outbox.sql).
--
-- A receiver is the transport a row is delivered through: an SMTP server,
-- an HTTP endpoint's scheme, host and port (an SMS provider, a webhook),
-- never the customer's address. A row whose delivery could not reach its
-- receiver (no connection, a timeout, "service unavailable") keeps the
-- receiver's name while it waits for its next attempt, so that one delivery
-- to that receiver succeeding makes its other waiting rows due at once
-- instead of each waiting out its own doubling back-off. Rows a receiver
-- answered and refused keep no name: their back-off stands.
ALTER TABLE outbox ADD COLUMN receiver text;
CREATE INDEX outbox_receiver_waiting ON outbox (receiver, next_attempt_at)
    WHERE status = 'pending' AND receiver IS NOT NULL;

-- Receivers that could not be reached at their last try, and when one of
-- their waiting rows is tried next out of turn (a probe: one row at a
-- capped interval, whatever the rows' own back-off has grown to). A
-- receiver leaves the table when a delivery reaches it, or when nothing
-- waits for it any more.
CREATE TABLE outbox_receivers (
    receiver      text PRIMARY KEY,
    away_since    timestamptz NOT NULL DEFAULT now(),
    next_probe_at timestamptz NOT NULL
);
