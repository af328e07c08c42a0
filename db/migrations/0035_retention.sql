-- 0035: retention (db/functions/retention.sql). Which tickets and customers
-- have had their personal data erased (by `intake customer erase`, the API,
-- or retention), and indexes that let the periodic sweep and an erase find
-- their rows without reading whole tables: finished tickets not yet erased
-- by when they finished, attachments that still hold their bytes, and
-- messages and calls by the address or number they came from (an erase on
-- 6,000,000 messages read the whole table for each of its statements:
-- 6.5-8.4 s each on the shared bench host).
ALTER TABLE tickets ADD COLUMN personal_data_erased_at timestamptz;
ALTER TABLE customers ADD COLUMN erased_at timestamptz;
CREATE INDEX tickets_finished_unerased ON tickets ((coalesce(closed_at, resolved_at)))
    WHERE status IN ('resolved', 'closed') AND personal_data_erased_at IS NULL;
CREATE INDEX attachments_with_content ON attachments (message_id) WHERE content IS NOT NULL;
CREATE INDEX messages_sender ON messages (lower(sender_address))
    WHERE sender_address IS NOT NULL;
CREATE INDEX calls_from_number ON calls (from_number) WHERE from_number IS NOT NULL;
CREATE INDEX calls_to_number ON calls (to_number) WHERE to_number IS NOT NULL;
-- An erase removes the customer's address from other messages' copies.
CREATE INDEX messages_cc ON messages USING gin (cc) WHERE cc IS NOT NULL;
-- Customers erased before this migration (the audit trail names them) are
-- marked, so that retention does not take them for due.
UPDATE customers c SET erased_at = l.at
  FROM audit_log l WHERE l.action = 'customer.erase' AND l.subject = c.number;
UPDATE tickets t SET personal_data_erased_at = c.erased_at
  FROM customers c WHERE c.id = t.customer_id AND c.erased_at IS NOT NULL;
