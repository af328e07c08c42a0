-- pgbench's side of bench/phone-run: the gateway's call-event transaction,
-- one event per transaction, as a client without the gateway would run it.
-- The document is one the gateway built during the warm-up (bench/phone-run
-- copies them from the PostgreSQL log into phone_templates, one per event
-- kind and caller name), with this call's id, number and time put in:
-- @CALL@ (in the key, the call id and the external_ref), @PHONE@ (the
-- customer's number in phone, call.from, subject, body and summary) and @AT@
-- (call.at and received_at). Subject, body, classification, deadlines and
-- number prefixes are the gateway's own, as in pgbench-register.sql.
--
-- Each client plays calls one after the other with the gateway run's mix:
-- ringing, then answered and ended, or missed (missed, in percent). Client
-- variables outlive a transaction, so :step says which event of the current
-- call comes next (0 ringing, 1 answered, 2 ended, 3 missed: the order of
-- KINDS in phone-events.py) and :ph, :nm, :call stay fixed during a call.
-- Variables (pgbench -D): nonce (this run), first and last (the callers'
-- pool of numbers: phone-run gives pgbench a pool of the gateway phase's
-- size that no earlier phase used), names (caller names per kind in
-- phone_templates), missed, and the start values step=0, call=0, ph=1, nm=1. pgbench reads a colon followed by a name as a
-- variable even inside quotes, so no literal here has one.
\set ph case when :step = 0 then random(:first, :last) else :ph end
\set nm case when :step = 0 then random(1, :names) else :nm end
\set call case when :step = 0 then :call + 1 else :call end
\set tid :step * :names + :nm
\set next case when :step = 0 then (case when random(1, 100) <= :missed then 3 else 1 end) when :step = 1 then 2 else 0 end
SELECT intake_call_event(
           replace(replace(replace(t.doc,
               '@CALL@', 'pgbench-' || :nonce::text || '-' || :client_id::int || '-' || :call::int),
               '@PHONE@', '+86138' || lpad(:ph::int::text, 8, '0')),
               '@AT@', floor(extract(epoch FROM now()))::bigint::text)::jsonb)
  FROM phone_templates t
 WHERE t.id = :tid::int;
\set step :next
