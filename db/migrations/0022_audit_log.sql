-- 0022: the audit trail. Who exported or erased a customer's data, what a
-- retention run erased, agents and tokens changed, and who opened a
-- customer's record: one row each, appended and never changed through the
-- product (no function updates or deletes a row; supervisors read them).
-- The subject names a customer or agent by number or id, never by address.
CREATE TABLE audit_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,  -- 'cli', an agent's name, 'api', 'retention'
    action  text NOT NULL,  -- 'customer.export', 'customer.erase', 'agent.token' ...
    subject text,           -- 'C-000123', 'agent:7', 'SR-000123'
    detail  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log USING brin (at);
