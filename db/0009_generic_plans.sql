-- 0009: the registration functions run their statements with generic plans.
-- A PL/pgSQL statement with variables is a prepared statement; PostgreSQL
-- plans it again for each call's values (a "custom plan") unless it judges
-- the plan without them no worse, and for several of our statements it kept
-- choosing custom plans: planning on every call. Timed in psql on 100-200
-- chat sessions (bench/README.md, "Chat sessions"), forcing generic plans
-- made a session's first message ~40 % and a later one ~15 % cheaper. Every
-- lookup here is by a key or a unique index, whose plan does not depend on
-- the value, so a generic plan is the right one. The setting holds for the
-- functions these call too, and for a client calling them without the
-- gateway (bench/pgbench-*.sql), so benchmark comparisons stay fair.

ALTER FUNCTION intake_register(jsonb, bytea) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION intake_call_event(jsonb) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION intake_session_message(jsonb, bytea) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION intake_ticket_reply(jsonb) SET plan_cache_mode = force_generic_plan;
-- A later CREATE OR REPLACE of one of these functions drops its SET clause:
-- such a migration has to say it again.
