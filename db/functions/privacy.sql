-- Personal data on request (PIPL, GDPR): a customer's data exported whole,
-- or erased everywhere it is kept while their tickets stay as anonymous
-- records (numbers, channels, categories, times, ratings: reports keep
-- their counts and times). Both append to the audit trail.
--
-- What "everywhere" means, table by table: the customer row's name, company
-- and industry; their identities; their tickets' subjects, summaries,
-- solutions and results; every message on those tickets (body, subject,
-- sender, copies, Message-ID, raw source, attachments); messages they sent
-- on other tickets and their address copied on other messages; their calls
-- (numbers, caller name, recording link, transcript); their chat sessions
-- and every event in them; survey comments and follow-up outcomes; the
-- payloads of their outbox rows, unsent ones skipped; timeline details.

-- The customer an identifier names: a customer number, an email address or
-- a phone number (E.164). {"customer": id} or {"error": why, "status": 404
-- (none) or 409 (two customers: a number of one and an address of another)}.
CREATE OR REPLACE FUNCTION intake_customer_find(p_who text) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    WITH m AS (
        SELECT id FROM customers WHERE number = p_who
        UNION
        SELECT customer_id FROM customer_identities WHERE value = lower(p_who)
    )
    SELECT CASE (SELECT count(*) FROM m)
               WHEN 0 THEN jsonb_build_object('error', 'no customer is known by that',
                                              'status', 404)
               WHEN 1 THEN jsonb_build_object('customer', (SELECT id FROM m))
               ELSE jsonb_build_object('error', 'that names more than one customer: use the '
                                                || 'customer number', 'status', 409) END
$fn$;

-- Everything held about a customer, as one document.
CREATE OR REPLACE FUNCTION intake_customer_document(p_customer bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_build_object(
        'customer', (SELECT jsonb_build_object('number', c.number, 'name', c.name,
                                               'company', c.company, 'industry', c.industry,
                                               'language', c.language, 'created_at', c.created_at)
                       FROM customers c WHERE c.id = p_customer),
        'identities', coalesce((SELECT jsonb_agg(jsonb_build_object('kind', i.kind,
                                                                    'value', i.value,
                                                                    'since', i.created_at)
                                                 ORDER BY i.kind, i.value)
                                  FROM customer_identities i WHERE i.customer_id = p_customer),
                               '[]'),
        'tickets', coalesce((SELECT jsonb_agg(jsonb_build_object(
                     'number', t.number, 'channel', t.channel, 'status', t.status,
                     'subject', t.subject, 'summary', t.summary, 'product', t.product,
                     'category', t.category, 'priority', t.priority, 'solution', t.solution,
                     'result', t.result, 'created_at', t.created_at,
                     'resolved_at', t.resolved_at, 'closed_at', t.closed_at,
                     'messages', coalesce((SELECT jsonb_agg(jsonb_build_object(
                         'direction', m.direction, 'channel', m.channel,
                         'key', m.idempotency_key,
                         'sender_name', m.sender_name, 'sender_address', m.sender_address,
                         'cc', m.cc, 'subject', m.subject, 'body', m.body,
                         'received_at', m.received_at, 'has_source',
                         EXISTS (SELECT 1 FROM message_sources s WHERE s.message_id = m.id),
                         'attachments', coalesce((SELECT jsonb_agg(jsonb_build_object(
                             'id', a.id, 'filename', a.filename, 'content_type', a.content_type,
                             'size', a.size_bytes, 'sha256', encode(a.sha256, 'hex'))
                             ORDER BY a.id) FROM attachments a WHERE a.message_id = m.id), '[]'))
                         ORDER BY m.id) FROM messages m WHERE m.ticket_id = t.id), '[]'),
                     'calls', coalesce((SELECT jsonb_agg(jsonb_build_object(
                         'provider', k.provider, 'call_id', k.call_id, 'direction', k.direction,
                         'from', k.from_number, 'to', k.to_number, 'caller_name', k.caller_name,
                         'state', k.state, 'started_at', k.started_at, 'ended_at', k.ended_at,
                         'duration_s', k.duration_s, 'recording_url', k.recording_url,
                         'transcript', k.transcript) ORDER BY k.created_at)
                         FROM calls k WHERE k.ticket_id = t.id), '[]'),
                     'chat_sessions', coalesce((SELECT jsonb_agg(jsonb_build_object(
                         'name', s.name, 'email', s.email, 'phone', s.phone,
                         'language', s.language, 'origin', s.origin, 'created_at', s.created_at,
                         'events', coalesce((SELECT jsonb_agg(e.event || jsonb_build_object(
                                                 'seq', e.seq, 'at', e.created_at) ORDER BY e.seq)
                                               FROM session_events e WHERE e.session_id = s.id),
                                            '[]')) ORDER BY s.id)
                         FROM live_sessions s WHERE s.ticket_id = t.id), '[]'),
                     'surveys', coalesce((SELECT jsonb_agg(jsonb_build_object(
                         'sent_at', v.created_at, 'answered_at', v.answered_at,
                         'response_speed', v.response_speed,
                         'resolution_efficiency', v.resolution_efficiency,
                         'attitude', v.attitude, 'professionalism', v.professionalism,
                         'overall', v.overall, 'comment', v.comment) ORDER BY v.id)
                         FROM surveys v WHERE v.ticket_id = t.id), '[]'))
                     ORDER BY t.id)
                   FROM tickets t WHERE t.customer_id = p_customer), '[]'))
$fn$;

-- `intake customer export`: the document, and the export in the audit trail.
CREATE OR REPLACE FUNCTION intake_customer_export(p_who text, p_actor text) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_found jsonb := intake_customer_find(p_who);
    v_id    bigint := (v_found->>'customer')::bigint;
BEGIN
    IF v_id IS NULL THEN
        RETURN v_found;
    END IF;
    INSERT INTO audit_log (actor, action, subject)
    SELECT p_actor, 'customer.export', number FROM customers WHERE id = v_id;
    RETURN jsonb_build_object('document', intake_customer_document(v_id));
END
$fn$;

-- The raw mail (an email's RFC 5322 bytes as it arrived) and the
-- attachments of a customer's tickets, for the export's archive: one
-- {"name": path in the archive, "data": base64} each.
CREATE OR REPLACE FUNCTION intake_customer_files(p_number text) RETURNS SETOF jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_build_object('name', 'sources/' || t.number || '-' || m.id || '.eml',
                              'data', encode(s.raw, 'base64'))
      FROM tickets t JOIN messages m ON m.ticket_id = t.id
      JOIN message_sources s ON s.message_id = m.id
     WHERE t.customer_id = (SELECT id FROM customers WHERE number = p_number)
    UNION ALL
    SELECT jsonb_build_object('name', 'attachments/' || a.id || '-'
                                      || regexp_replace(coalesce(a.filename, 'file'),
                                                        '[^A-Za-z0-9._-]', '_', 'g'),
                              'data', encode(a.content, 'base64'))
      FROM tickets t JOIN messages m ON m.ticket_id = t.id
      JOIN attachments a ON a.message_id = m.id
     WHERE t.customer_id = (SELECT id FROM customers WHERE number = p_number)
       AND a.content IS NOT NULL
$fn$;

-- Erases the personal data held on tickets (all of each ticket's messages,
-- their raw mail and attachments, calls, chat sessions and their events,
-- the agents' stream events naming them, survey comments, follow-up
-- outcomes, outbox payloads: unsent ones are skipped) and marks the tickets
-- erased; the tickets stay as anonymous records. The caller holds the
-- tickets' row locks. Used by a customer's erase and by retention (which
-- erases an old ticket alone when its customer has newer ones).
CREATE OR REPLACE FUNCTION intake_tickets_erase(p_tickets bigint[]) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_numbers  text[] := ARRAY(SELECT number FROM tickets WHERE id = ANY (p_tickets));
    v_sessions bigint[] := ARRAY(SELECT id FROM live_sessions WHERE ticket_id = ANY (p_tickets));
    v_messages int;
    v_calls    int;
BEGIN
    UPDATE tickets SET subject = NULL, summary = NULL, solution = NULL, result = NULL,
                       product = NULL, updated_at = now(), personal_data_erased_at = now()
     WHERE id = ANY (p_tickets);
    -- Outbox rows before messages: a dispatcher recording a delivery of one
    -- of them now (intake_outbox_record) has finished, its message is read
    -- below; one that records later writes nothing back.
    PERFORM intake_outbox_erase(ARRAY(SELECT id FROM outbox
                                       WHERE ticket_id = ANY (p_tickets)
                                         AND payload <> '{"erased": true}'));
    v_messages := intake_messages_erase(ARRAY(
        SELECT id FROM messages
         WHERE ticket_id = ANY (p_tickets) AND idempotency_key NOT LIKE 'erased:%'));
    UPDATE ticket_events SET detail = '{"erased": true}'
     WHERE ticket_id = ANY (p_tickets) AND detail <> '{}';
    UPDATE calls SET from_number = NULL, to_number = NULL, caller_name = NULL,
                     recording_url = NULL, transcript = NULL
     WHERE ticket_id = ANY (p_tickets);
    GET DIAGNOSTICS v_calls = ROW_COUNT;
    PERFORM intake_sessions_erase(v_sessions);
    -- Agents' streams told of these tickets (a new ticket, a customer's message).
    UPDATE session_events e
       SET event = jsonb_build_object('type', e.event->>'type', 'erased', true)
      FROM live_sessions s
     WHERE s.id = e.session_id AND s.channel = 'desk' AND cardinality(v_numbers) > 0
       AND EXISTS (SELECT 1 FROM unnest(v_numbers) n
                    WHERE strpos(e.event::text, '"' || n || '"') > 0);
    UPDATE surveys SET comment = NULL WHERE ticket_id = ANY (p_tickets);
    UPDATE followups SET outcome = NULL WHERE ticket_id = ANY (p_tickets);
    RETURN jsonb_build_object('messages', v_messages, 'calls', v_calls,
                              'chat_sessions', cardinality(v_sessions));
END
$fn$;

-- Messages' text, senders and copies, their raw mail and attachments. Keys
-- stay unique and a delivery of the same mail again stays a duplicate, but
-- no longer show a Message-ID (which may hold an address). Returns how many.
-- The search indexer's passes are kept out until the erase commits
-- (intake_search_catch_up): one running now is waited for, so the rewrite
-- below re-indexes what it wrote, and none reads the old text meanwhile.
CREATE OR REPLACE FUNCTION intake_messages_erase(p_messages bigint[]) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_count int;
BEGIN
    PERFORM pg_advisory_xact_lock(intake_search_lock_key());
    DELETE FROM message_sources WHERE message_id = ANY (p_messages);
    DELETE FROM attachments WHERE message_id = ANY (p_messages);
    UPDATE messages
       SET body = '', subject = NULL, sender_name = NULL, sender_address = NULL, cc = NULL,
           idempotency_key = 'erased:' || md5(idempotency_key),
           external_ref = CASE WHEN external_ref IS NOT NULL
                               THEN 'erased:' || md5(external_ref) END
     WHERE id = ANY (p_messages);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$fn$;

-- Outbox rows' payloads; the unsent ones are not sent any more.
CREATE OR REPLACE FUNCTION intake_outbox_erase(p_rows bigint[]) RETURNS void
LANGUAGE sql AS $fn$
    UPDATE outbox SET payload = jsonb_build_object('erased', true),
                      status = CASE WHEN status IN ('pending', 'sending') THEN 'skipped'
                                    ELSE status END,
                      last_error = CASE WHEN status IN ('pending', 'sending')
                                        THEN 'personal data erased' ELSE last_error END
     WHERE id = ANY (p_rows);
$fn$;

-- Chat sessions' identities and every event in them.
CREATE OR REPLACE FUNCTION intake_sessions_erase(p_sessions bigint[]) RETURNS void
LANGUAGE sql AS $fn$
    UPDATE session_events SET event = jsonb_build_object('type', event->>'type', 'erased', true)
     WHERE session_id = ANY (p_sessions);
    UPDATE live_sessions SET name = NULL, email = NULL, phone = NULL, origin = NULL,
                             visitor = 'erased-' || id
     WHERE id = ANY (p_sessions);
$fn$;

-- The advisory lock that keeps a customer's erase and their registrations
-- apart: an erase takes it exclusively, a registration shared. The cast
-- is spelled out: text || bigint is anytextcat, which is only STABLE, and
-- PostgreSQL does not inline an IMMUTABLE function whose body is less so;
-- called as a function, the key cost every registration 35-40 us instead
-- of 4-5 (the same key either way).
CREATE OR REPLACE FUNCTION intake_customer_lock_key(p_customer bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT hashtextextended('customer:' || p_customer::text, 0)
$fn$;

-- Erases a customer's personal data (see the top of this file), in one
-- transaction: all of it or, on any failure, none. Their tickets' data
-- goes with intake_tickets_erase; then what they left elsewhere (messages
-- they sent on other tickets, their address copied on others, calls from
-- their number, chat sessions under their identities, outbox rows to them)
-- and the customer's own record. Returns what was done. Every table is
-- reached through an index on what names the customer (db/0035, db/0065):
-- tests/integration/test_desk_plans.c counts the outbox rows an erase reads.
CREATE OR REPLACE FUNCTION intake_customer_erase_id(p_customer bigint, p_actor text,
                                                    p_action text DEFAULT 'customer.erase')
RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_number    text;
    v_addresses text[];
    v_emails    text[];
    v_chats     text[];
    v_tickets   bigint[];
    v_sessions  bigint[];
    v_others    bigint[];
    v_done      jsonb;
    v_messages  int;
    v_calls     int;
BEGIN
    -- First, before any row: registrations of this customer hold the lock
    -- shared (intake_register) and may be waiting for rows locked below.
    PERFORM pg_advisory_xact_lock(intake_customer_lock_key(p_customer));
    SELECT number INTO v_number FROM customers WHERE id = p_customer FOR UPDATE;
    v_emails := ARRAY(SELECT value FROM customer_identities
                       WHERE customer_id = p_customer AND kind = 'email');
    -- Email addresses and phone numbers (E.164: lower() leaves them as they are).
    v_addresses := ARRAY(SELECT value FROM customer_identities
                          WHERE customer_id = p_customer AND kind IN ('email', 'phone'));
    v_chats := ARRAY(SELECT value FROM customer_identities
                      WHERE customer_id = p_customer AND kind = 'chat');
    v_tickets := ARRAY(SELECT id FROM tickets WHERE customer_id = p_customer ORDER BY id);
    PERFORM 1 FROM tickets WHERE id = ANY (v_tickets) ORDER BY id FOR UPDATE;
    v_sessions := ARRAY(SELECT id FROM live_sessions
                         WHERE ticket_id = ANY (v_tickets) OR visitor = ANY (v_chats)
                            OR lower(email) = ANY (v_emails) OR phone = ANY (v_addresses));
    -- Other customers' tickets that may hold outbox rows to this one: the
    -- ones they wrote on (an acknowledgement of a reopening, an agent's
    -- reply to the last writer) and the ones their chat sessions became.
    -- Read before the messages lose their senders below.
    v_others := ARRAY(SELECT ticket_id FROM messages
                       WHERE lower(sender_address) = ANY (v_addresses)
                      UNION
                      SELECT ticket_id FROM live_sessions
                       WHERE id = ANY (v_sessions) AND ticket_id IS NOT NULL);
    -- Outbox rows to them: on those tickets, or on none (mail such as a
    -- report's), found through outbox_ticket (db/migrations/0065), never
    -- by reading the whole outbox; their own tickets' rows go with
    -- intake_tickets_erase. Before any message, as there.
    PERFORM intake_outbox_erase(ARRAY(
        SELECT id FROM outbox
         WHERE (ticket_id = ANY (v_others) OR ticket_id IS NULL)
           AND (payload->>'reply_handle' = ANY (v_addresses) OR payload->>'to' = ANY (v_addresses)
                OR lower(payload->>'email') = ANY (v_emails)
                OR payload->>'phone' = ANY (v_addresses))));
    v_done := intake_tickets_erase(v_tickets);

    v_messages := intake_messages_erase(ARRAY(
        SELECT id FROM messages WHERE lower(sender_address) = ANY (v_addresses)));
    UPDATE messages SET cc = ARRAY(SELECT x FROM unnest(cc) x WHERE lower(x) <> ALL (v_emails))
     WHERE cc && v_emails;
    UPDATE calls SET from_number = NULL, to_number = NULL, caller_name = NULL,
                     recording_url = NULL, transcript = NULL
     WHERE from_number = ANY (v_addresses) OR to_number = ANY (v_addresses);
    GET DIAGNOSTICS v_calls = ROW_COUNT;
    PERFORM intake_sessions_erase(v_sessions);
    DELETE FROM customer_identities WHERE customer_id = p_customer;
    UPDATE customers SET name = NULL, company = NULL, industry = NULL, updated_at = now(),
                         erased_at = now()
     WHERE id = p_customer;
    v_done := jsonb_build_object('customer', v_number, 'tickets', cardinality(v_tickets),
                                 'messages', (v_done->>'messages')::int + v_messages,
                                 'calls', (v_done->>'calls')::int + v_calls,
                                 'chat_sessions', cardinality(v_sessions));
    INSERT INTO audit_log (actor, action, subject, detail)
    VALUES (p_actor, p_action, v_number, v_done - 'customer');
    RETURN v_done;
END
$fn$;

-- `intake customer erase`: by number, email or phone.
CREATE OR REPLACE FUNCTION intake_customer_erase(p_who text, p_actor text) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_found jsonb := intake_customer_find(p_who);
BEGIN
    IF v_found->>'customer' IS NULL THEN
        RETURN v_found;
    END IF;
    RETURN intake_customer_erase_id((v_found->>'customer')::bigint, p_actor);
END
$fn$;

-- The REST API's privacy routes (desk/desk_privacy.c), for supervisors and
-- the API token: d = {action: export|erase|audit, token_hash or api,
-- customer (the path's identifier), files (export: add the raw mail and the
-- attachments, base64, for the zip), files_max (bytes: more is refused, the
-- command line has no such limit), after, limit (audit)}. Answers as the
-- desk's do ({status, body} or {status, error}); an export's files go
-- beside the body ("files"). Acts are recorded as 'agent:ID' or 'api'.
CREATE OR REPLACE FUNCTION intake_privacy(d jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    a       agents;
    v_actor text;
    v_found jsonb;
    v_id    bigint;
    v_bytes bigint;
BEGIN
    IF d->>'token_hash' IS NOT NULL THEN
        SELECT * INTO a FROM agents WHERE token_hash = d->>'token_hash' AND disabled_at IS NULL;
        IF NOT FOUND THEN
            RETURN intake_desk_error(401, 'unknown or revoked agent token');
        END IF;
        IF a.role <> 'supervisor' THEN
            RETURN intake_desk_error(403, 'only supervisors may read the audit trail, '
                                          || 'export or erase a customer''s data');
        END IF;
    ELSIF NOT coalesce((d->>'api')::boolean, false) THEN
        RETURN intake_desk_error(401, 'an agent token is required');
    END IF;
    v_actor := CASE WHEN a.id IS NULL THEN 'api' ELSE 'agent:' || a.id END;
    IF d->>'action' = 'audit' THEN
        RETURN intake_desk_ok(intake_audit_page((d->>'after')::bigint,
                                                coalesce((d->>'limit')::int, 50)));
    END IF;

    v_found := intake_customer_find(d->>'customer');
    v_id := (v_found->>'customer')::bigint;
    IF v_id IS NULL THEN
        RETURN intake_desk_error((v_found->>'status')::int, v_found->>'error');
    END IF;
    IF d->>'action' = 'erase' THEN
        RETURN intake_desk_ok(intake_customer_erase_id(v_id, v_actor));
    ELSIF d->>'action' <> 'export' THEN
        RETURN intake_desk_error(400, 'unknown action', 'action');
    END IF;
    IF coalesce((d->>'files')::boolean, false) THEN
        SELECT coalesce(sum(octet_length(s.raw)), 0)
               + coalesce((SELECT sum(octet_length(x.content)) FROM tickets u
                             JOIN messages n ON n.ticket_id = u.id
                             JOIN attachments x ON x.message_id = n.id
                            WHERE u.customer_id = v_id), 0)
          INTO v_bytes
          FROM tickets t JOIN messages m ON m.ticket_id = t.id
          JOIN message_sources s ON s.message_id = m.id
         WHERE t.customer_id = v_id;
        IF v_bytes > (d->>'files_max')::bigint THEN
            RETURN intake_desk_error(413, 'the customer''s mail and attachments ('
                || pg_size_pretty(v_bytes) || ') are too large for the API: ask for '
                || 'application/json, or run intake customer export --output FILE.zip');
        END IF;
    END IF;
    INSERT INTO audit_log (actor, action, subject, detail)
    SELECT v_actor, 'customer.export', number,
           jsonb_build_object('files', coalesce((d->>'files')::boolean, false))
      FROM customers WHERE id = v_id;
    RETURN intake_desk_ok(intake_customer_document(v_id))
           || CASE WHEN coalesce((d->>'files')::boolean, false) THEN jsonb_build_object('files',
                  coalesce((SELECT jsonb_agg(f) FROM intake_customer_files(
                                (SELECT number FROM customers WHERE id = v_id)) f), '[]'))
              ELSE '{}' END;
END
$fn$;
