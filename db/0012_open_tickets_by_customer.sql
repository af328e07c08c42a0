-- 0012: a customer's open tickets, newest first, from an index of their own.
-- intake_open_ticket_of_phone (every call that registers) looked them up by
-- ANDing tickets_customer with tickets_assignee_open, a partial index over
-- every open ticket of the desk: each lookup read all of it (7,296 entries
-- for one row in a bench database of 6,000 calls, 104 us of a missed call's
-- 340), growing with the number of open tickets. PostgreSQL chose that plan
-- whenever its statistics said the open tickets were few, which they are on
-- a young database until autovacuum analyzes it. This index matches the
-- lookup exactly (customer, open, by id), so its cost is one customer's.
-- IF NOT EXISTS: as 0005's ticket indexes (test_migrate rolls a schema back
-- to 0001 by dropping what later migrations made, but keeps the tickets).
CREATE INDEX IF NOT EXISTS tickets_customer_open ON tickets (customer_id, id)
    WHERE status IN ('new', 'open', 'pending');
