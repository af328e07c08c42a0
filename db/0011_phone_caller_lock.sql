-- 0011: the events of one caller register one at a time, across workers and
-- gateways. Two missed calls from one number, registered at the same moment
-- by two workers (database.workers > 1, the default on four or more CPUs) or
-- by two gateways, each found no open callback ticket and opened one, each
-- for a customer of its own (the number's identity went to the first; the
-- second customer was left without it). The lookup of the caller's open
-- ticket now first takes a transaction lock on the number, so the second
-- waits until the first has committed, then finds its ticket and joins it.
-- VOLATILE: a statement after the wait takes a new snapshot and sees what was
-- committed meanwhile (a STABLE function would look with the one taken before
-- it). One worker, the default on two CPUs, never waited here: a batch is one
-- transaction, which sees its own earlier events.
CREATE OR REPLACE FUNCTION intake_open_ticket_of_phone(p_phone text, p_category text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('caller:' || p_phone, 7));
    RETURN (SELECT t.number FROM customer_identities ci JOIN tickets t ON t.customer_id = ci.customer_id
             WHERE ci.kind = 'phone' AND ci.value = p_phone
               AND t.status IN ('new', 'open', 'pending')
               AND (p_category IS NULL OR t.category = p_category)
             ORDER BY t.id DESC LIMIT 1);
END
$$;
