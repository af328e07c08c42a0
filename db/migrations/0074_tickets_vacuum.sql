-- 0074: tickets are vacuumed and analyzed as often at 2,000,000 as at 100,000
-- (issue 26, registration at size).
--
-- Autovacuum waits for 20 % of a table to be dead (plus 50 rows): at
-- 100,000 tickets that is 20,000 dead versions, at 2,000,000 it is 400,000.
-- The churn is in open work (assignments, replies, status changes,
-- escalations), whose partial indexes routing reads at every registration
-- (intake_agent_load, index-only): between vacuums each count also reads
-- the dead versions' entries and the heap behind them. On desk_work (208,673
-- dead, never reached) counting an agent's 50 open tickets fetched 112 heap
-- tuples over 91 buffers; after a VACUUM (19 s) none, over 7 buffers, and
-- routing went from 1.52 to 0.99 ms a registration. 2 %: a vacuum per
-- 40,000 dead versions at 2,000,000 tickets, per 2,000 at 100,000.
ALTER TABLE tickets SET (autovacuum_vacuum_scale_factor = 0.02,
                         autovacuum_analyze_scale_factor = 0.02);
