-- The audit trail (db/migrations/0022_audit_log.sql): exports, erasures,
-- retention runs, changes to agents and their tokens, and agents opening a
-- customer's record (one row per agent and customer in ten minutes), one
-- row each. Rows name customers by number and
-- agents by id ('agent:7'), never by address, so the trail holds no
-- personal data and an erasure has nothing to remove from it: it is
-- append-only, and the triggers here refuse every change and removal made
-- through the product (a database owner can still disable them by hand).

CREATE OR REPLACE FUNCTION intake_audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION intake_audit_refuse_change();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION intake_audit_refuse_change();

-- Who acts, for rows written by triggers: what the session said
-- (`SET intake.actor`, as the command line does: 'cli:LOGIN'), else the
-- database user.
CREATE OR REPLACE FUNCTION intake_audit_actor() RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(nullif(current_setting('intake.actor', true), ''), 'db:' || current_user)
$fn$;

-- Agents and their tokens: created, role changed, disabled or enabled, a
-- token issued or revoked, whichever way the row changed (`intake agent`,
-- or SQL by hand). Presence and load are not audited.
CREATE OR REPLACE FUNCTION intake_audit_agent_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    v_subject text := 'agent:' || NEW.id;
    v_actor   text := intake_audit_actor();
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log (actor, action, subject, detail)
        VALUES (v_actor, 'agent.create', v_subject, jsonb_build_object('role', NEW.role));
        IF NEW.token_hash IS NOT NULL THEN
            INSERT INTO audit_log (actor, action, subject)
            VALUES (v_actor, 'agent.token_issue', v_subject);
        END IF;
        RETURN NULL;
    END IF;
    IF OLD.role IS DISTINCT FROM NEW.role THEN
        INSERT INTO audit_log (actor, action, subject, detail)
        VALUES (v_actor, 'agent.role', v_subject,
                jsonb_build_object('from', OLD.role, 'to', NEW.role));
    END IF;
    IF OLD.disabled_at IS NULL AND NEW.disabled_at IS NOT NULL THEN
        INSERT INTO audit_log (actor, action, subject) VALUES (v_actor, 'agent.disable', v_subject);
    ELSIF OLD.disabled_at IS NOT NULL AND NEW.disabled_at IS NULL THEN
        INSERT INTO audit_log (actor, action, subject) VALUES (v_actor, 'agent.enable', v_subject);
    END IF;
    IF NEW.token_hash IS NOT NULL AND OLD.token_hash IS DISTINCT FROM NEW.token_hash THEN
        INSERT INTO audit_log (actor, action, subject, detail)
        VALUES (v_actor, 'agent.token_issue', v_subject,
                jsonb_build_object('replaced', OLD.token_hash IS NOT NULL));
    ELSIF NEW.token_hash IS NULL AND OLD.token_hash IS NOT NULL THEN
        INSERT INTO audit_log (actor, action, subject)
        VALUES (v_actor, 'agent.token_revoke', v_subject);
    END IF;
    RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS agents_audit ON agents;
CREATE TRIGGER agents_audit AFTER INSERT OR UPDATE OF role, disabled_at, token_hash ON agents
    FOR EACH ROW EXECUTE FUNCTION intake_audit_agent_change();

-- An agent (or a tool with the API token) opened a customer's record: the
-- ticket view, which shows the customer's identities and messages. One row
-- per agent and customer in ten minutes (naming the ticket first opened):
-- an agent going back and forth between a customer's tickets, or a console
-- refreshing the view, would otherwise write a row a click. The trail
-- stays append-only: a view already recorded in the window writes nothing,
-- and no row is ever changed. The check reads audit_log_views
-- (db/migrations/0065); a transaction-scoped advisory lock on the pair
-- keeps two gateways' views of the same moment from both writing.
CREATE OR REPLACE FUNCTION intake_audit_view(p_agent bigint, p_customer bigint, p_ticket text)
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    v_actor  text := coalesce('agent:' || p_agent, 'api');
    v_number text := (SELECT number FROM customers WHERE id = p_customer);
BEGIN
    IF v_number IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('audit.view:' || v_actor || ':' || v_number,
                                                   0));
    IF EXISTS (SELECT 1 FROM audit_log
                WHERE action = 'customer.view' AND subject = v_number AND actor = v_actor
                  AND at > now() - interval '10 minutes') THEN
        RETURN;
    END IF;
    INSERT INTO audit_log (actor, action, subject, detail)
    VALUES (v_actor, 'customer.view', v_number, jsonb_build_object('ticket', p_ticket));
END
$fn$;

-- A page of the trail, newest first: rows before p_after (the page
-- before's "next"), at most p_limit, with the acting agent's name.
CREATE OR REPLACE FUNCTION intake_audit_page(p_after bigint, p_limit int) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_rows audit_log[];
BEGIN
    v_rows := ARRAY(SELECT l FROM audit_log l
                     WHERE p_after IS NULL OR l.id < p_after
                     ORDER BY l.id DESC LIMIT p_limit + 1);
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'entries', coalesce((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                       'id', r.id, 'at', r.at, 'actor', r.actor,
                       'actor_name', (SELECT name FROM agents
                                       WHERE r.actor ~ '^agent:[0-9]{1,18}$'
                                         AND id = substr(r.actor, 7)::bigint),
                       'action', r.action, 'subject', r.subject, 'detail', r.detail))
                       ORDER BY r.id DESC)
                       FROM unnest(v_rows[1:p_limit]) r), '[]'),
        'next', CASE WHEN cardinality(v_rows) > p_limit THEN v_rows[p_limit].id::text END));
END
$fn$;
