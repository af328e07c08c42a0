-- bench/scale-run's filler: a help desk's history made the way a running desk
-- makes it, through the project's own functions (db/functions/*.sql), so that
-- every index, trigger and sequence is exercised: contacts registered with
-- intake_register_many (e-mail, API, phone) and intake_session_message (chat,
-- with its session events), customers coming back on every channel and
-- answering their tickets (threaded by the Message-ID the desk sent them), the
-- dispatcher's side (intake_publish_agent_events, intake_outbox_claim and
-- intake_outbox_record: acknowledgements, replies and survey links sent and
-- recorded), and agents' work through intake_desk (a reply, a resolution with
-- its survey, the survey answered with intake_survey_answer, a close).
--
-- It only defines the helpers, in a schema of their own (scale_bench; `intake
-- migrate` never touches it): bench/scale-run calls scale_bench.fill_step() from
-- many connections at once (pgbench) and scale_bench.finish() at the end.
-- What is not the product's: the texts and their classification (the
-- gateway's default rules give these; src/classify.c), and the clock: every
-- row carries the time it was made, so the whole history is "today".
CREATE SCHEMA IF NOT EXISTS scale_bench;

CREATE TABLE IF NOT EXISTS scale_bench.templates (
    id int PRIMARY KEY, language text, subject text, body text, category text, queue text,
    priority text, first_response_s int, handling_s int);
INSERT INTO scale_bench.templates VALUES
 (1, 'en', 'Printer stopped after the update', 'Since the update the printer in room 4 stops with error 0x1F. We restarted it twice.', 'aftersale.fault.hardware', 'technical', 'important', 900, 86400),
 (2, 'en', 'Where is my order?', 'I ordered two toner cartridges last week and the delivery has not arrived. Order number 55812.', 'order', 'orders', 'normal', 900, 172800),
 (3, 'en', 'Price for 20 licences', 'Could you send a quote for 20 licences of the professional edition with a year of support?', 'presale', 'presales', 'normal', 900, 172800),
 (4, 'en', 'The app crashes on login', 'The mobile app crashes every time I log in since version 4.2. This blocks our whole team.', 'aftersale.fault.software', 'technical', 'urgent', 300, 7200),
 (5, 'en', 'Very unhappy with the service', 'This is the third time I write about the same problem and nobody answered. I want to complain.', 'complaint', 'complaints', 'important', 900, 86400),
 (6, 'zh', '发票开错了', '上周的订单发票抬头开错了，请帮忙重新开具发票，谢谢。', 'order', 'orders', 'normal', 900, 172800),
 (7, 'zh', '打印机无法打印', '更新以后打印机一直报错，无法打印，请尽快安排维修。', 'aftersale.fault.hardware', 'technical', 'important', 900, 86400),
 (8, 'zh', '投诉：退款一直没到账', '申请退款已经两周了，退款还没有到账，客服也没有回复，我要投诉。', 'complaint', 'complaints', 'important', 900, 86400),
 (9, 'zh', '请问产品价格', '想了解一下企业版的价格和密码管理功能，可以发一份报价吗？', 'presale', 'presales', 'normal', 900, 172800),
 (10, 'en', 'How do I export reports?', 'How can I export the monthly reports to a spreadsheet? I could not find the option.', 'aftersale.usage', 'technical', 'normal', 900, 172800)
ON CONFLICT DO NOTHING;

CREATE SEQUENCE IF NOT EXISTS scale_bench.contact_seq;
-- The one-step-at-a-time filler of before (one transaction for a step's
-- contacts, work and dispatch).
DROP FUNCTION IF EXISTS scale_bench.step(int, bigint, bigint);
DROP FUNCTION IF EXISTS scale_bench.work(text, bigint);
DROP FUNCTION IF EXISTS scale_bench.work_part(int, int, bigint);
DROP FUNCTION IF EXISTS scale_bench.answer_part(int);
DROP FUNCTION IF EXISTS scale_bench.dispatch();
DROP FUNCTION IF EXISTS scale_bench.work(text, bigint, int);
DROP FUNCTION IF EXISTS scale_bench.answer(bigint, text);

-- The desk's staff as `intake agent add` makes them: 40 agents, two
-- supervisors and four leads on every queue, the others on one queue each,
-- a third of them online.
CREATE OR REPLACE FUNCTION scale_bench.staff() RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_queues text[] := ARRAY['presales', 'orders', 'technical', 'complaints', 'general'];
    v_brief  jsonb;
BEGIN
    FOR g IN 1 .. 40 LOOP
        v_brief := intake_agent_add(jsonb_build_object('name', 'Agent ' || g,
            'email', 'agent' || g || '@desk.example', 'capacity', 50,
            'role', CASE WHEN g <= 2 THEN 'supervisor' WHEN g <= 6 THEN 'lead' ELSE 'agent' END,
            'queues', CASE WHEN g <= 6 THEN to_jsonb(v_queues)
                           ELSE jsonb_build_array(v_queues[1 + g % 5]) END));
        IF g % 3 = 0 THEN
            PERFORM intake_agent_set_presence((v_brief->>'id')::bigint, 'online');
        END IF;
    END LOOP;
    RETURN 40;
END
$fn$;

-- A contact from customer k of the pool on its channel: k's address, phone
-- number and chat id are fixed, so customers come back on every channel and
-- one who gives an e-mail address and a phone number ties them together.
CREATE OR REPLACE FUNCTION scale_bench.contact(p_key text, p_k bigint, p_channel text)
RETURNS jsonb
LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'key', p_key, 'channel', p_channel,
        'name', CASE WHEN t.language = 'zh' THEN '客户' || p_k ELSE 'Customer ' || p_k END,
        'email', CASE WHEN p_channel IN ('email', 'api') THEN 'c' || p_k || '@example.com' END,
        'phone', CASE WHEN p_channel = 'phone' OR (p_channel = 'api' AND p_k % 2 = 0)
                      THEN '+86138' || lpad((p_k % 100000000)::text, 8, '0') END,
        'chat_id', CASE WHEN p_channel = 'chat' THEN 'visitor-' || p_k END,
        'reply_handle', CASE WHEN p_channel IN ('email', 'api') THEN 'c' || p_k || '@example.com'
                             WHEN p_channel = 'phone'
                             THEN '+86138' || lpad((p_k % 100000000)::text, 8, '0') END,
        'external_ref', CASE WHEN p_channel = 'email' THEN '<' || p_key || '@mail.example.com>' END,
        'language_detected', t.language, 'subject', t.subject, 'body', t.body,
        'summary', left(t.body, 120), 'received_at', floor(extract(epoch FROM now()))::bigint,
        'category', t.category, 'queue', t.queue, 'priority', t.priority,
        'first_response_s', t.first_response_s, 'handling_s', t.handling_s, 'resolve_s', 86400,
        'ticket_prefix', 'SR-', 'customer_prefix', 'C-'))
      FROM scale_bench.templates t WHERE t.id = 1 + (abs(hashtext(p_key)) % 10)
$fn$;

-- The visitor's first session; a visitor opening theirs on another
-- connection at the same moment wins, and that one is used.
CREATE OR REPLACE FUNCTION scale_bench.session_open(p_token text, p_k bigint, p_doc jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    RETURN intake_session_open(jsonb_build_object('token_hash', p_token,
        'visitor', 'visitor-' || p_k, 'channel', 'chat',
        'name', p_doc->>'name', 'language', p_doc->>'language_detected'));
EXCEPTION WHEN unique_violation THEN
    RETURN jsonb_build_object('session', (SELECT id FROM live_sessions
                                           WHERE visitor = 'visitor-' || p_k));
END
$fn$;

-- What the fill made, per connection (its part, pgbench's client_id): every
-- ticket a contact of that part opened, or brought back to work (reopened,
-- or answered while pending), in the order agents are to take them up; and
-- how far that part's agents have come. A part's customers are its own (k
-- modulo the parts), so two connections never write one customer's rows.
CREATE TABLE IF NOT EXISTS scale_bench.queue (
    part int, n bigint, ticket_id bigint, PRIMARY KEY (part, n));
CREATE SEQUENCE IF NOT EXISTS scale_bench.queue_seq;
CREATE TABLE IF NOT EXISTS scale_bench.taken (part int PRIMARY KEY, n bigint NOT NULL);
-- Survey links the customers of a part are to answer (the token as the
-- link carries it; the dispatcher drops it from the outbox row once sent).
CREATE TABLE IF NOT EXISTS scale_bench.answers (
    part int, ticket_id bigint, token text, PRIMARY KEY (part, ticket_id));

-- New contacts of part p_part (0 .. p_parts - 1): p_batch of them, a
-- quarter of the e-mail, API and phone ones a customer writing again on a
-- ticket of theirs. Chats go through the widget's session functions one by
-- one; the others through intake_register_many in one statement, as the
-- gateway's batches send them. p_pool: how many customers there are to come
-- back; p_recent: how many of the part's newest tickets count as still
-- being worked.
CREATE OR REPLACE FUNCTION scale_bench.register(p_part int, p_parts int, p_batch int,
                                                p_pool bigint, p_recent bigint)
RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_docs    jsonb := '[]';
    v_n       bigint;
    v_k       bigint;
    v_channel text;
    v_doc     jsonb;
    v_top     bigint := (SELECT max(n) FROM scale_bench.queue WHERE part = p_part);
    v_pick    bigint;
    r         record;
    v_session jsonb;
    v_token   text;
    v_res     jsonb;
    v_made    int := 0;
BEGIN
    FOR i IN 1 .. p_batch LOOP
        v_n := nextval('scale_bench.contact_seq');
        v_k := 1 + p_part + p_parts * floor(random() * greatest(p_pool / p_parts, 1))::bigint;
        v_channel := (ARRAY['email', 'email', 'email', 'email', 'api', 'api', 'phone', 'phone',
                            'chat', 'chat'])[1 + v_n % 10];
        v_doc := scale_bench.contact('scale:' || v_n, v_k, v_channel);
        IF random() < 0.25 AND v_top IS NOT NULL AND v_channel <> 'chat' THEN
            -- A customer writes again on a ticket of theirs: in answer to the
            -- desk's last mail (threaded by its Message-ID), else naming it.
            -- Mostly on a ticket still being worked (the part's newest); one
            -- in twenty on any, which reopens it if it was resolved.
            SELECT q.ticket_id INTO v_pick FROM scale_bench.queue q
             WHERE q.part = p_part
               AND q.n <= CASE WHEN random() < 0.95
                               THEN v_top - floor(random() * p_recent * p_parts)::bigint
                               ELSE 1 + floor(random() * v_top)::bigint END
             ORDER BY q.n DESC LIMIT 1;
            SELECT t.number, t.customer_id,
                   (SELECT m.external_ref FROM messages m WHERE m.ticket_id = t.id
                       AND m.direction = 'out' AND m.external_ref IS NOT NULL
                     ORDER BY m.id DESC LIMIT 1) AS ref,
                   (SELECT i.value FROM customer_identities i WHERE i.customer_id = t.customer_id
                       AND i.kind = 'email' LIMIT 1) AS email,
                   (SELECT i.value FROM customer_identities i WHERE i.customer_id = t.customer_id
                       AND i.kind = 'phone' LIMIT 1) AS phone
              INTO r FROM tickets t WHERE t.id = v_pick;
            IF FOUND AND (r.email IS NOT NULL OR r.phone IS NOT NULL) THEN
                v_doc := (v_doc - 'email' - 'phone' - 'reply_handle') || jsonb_strip_nulls(
                    jsonb_build_object('email', r.email, 'phone', r.phone,
                        'reply_handle', coalesce(r.email, r.phone), 'ticket_ref', r.number,
                        'thread_refs', CASE WHEN r.ref IS NOT NULL
                                            THEN jsonb_build_array(r.ref) END,
                        'subject', 'Re: ' || (v_doc->>'subject')));
            END IF;
        END IF;
        IF v_channel = 'chat' THEN
            -- A chat: the widget's session of this visitor (opened on their
            -- first visit, resumed on later ones), two customer messages, and
            -- the customer leaving.
            v_token := md5('scale-visitor-' || v_k) || md5('scale-token-' || v_k);
            v_session := intake_session_events(jsonb_build_object('token_hash', v_token,
                                                                  'limit', 1));
            IF NOT (v_session->>'found')::boolean THEN
                v_session := scale_bench.session_open(v_token, v_k, v_doc);
            END IF;
            v_res := intake_session_message(v_doc || jsonb_build_object('session',
                jsonb_build_object('id', v_session->'session', 'client_id', 'm' || v_n)));
            PERFORM intake_session_message(v_doc || jsonb_build_object('key', 'scale:' || v_n || ':2',
                'body', 'Are you still there?', 'session',
                jsonb_build_object('id', v_session->'session', 'client_id', 'm' || v_n || ':2')));
            PERFORM intake_session_leave(jsonb_build_object('session', v_session->'session'));
            INSERT INTO scale_bench.queue (part, n, ticket_id)
            SELECT p_part, nextval('scale_bench.queue_seq'), t.id FROM tickets t
             WHERE t.number = v_res->>'ticket'
               AND ((v_res->>'new_ticket')::boolean OR t.status = 'open');
        ELSE
            v_docs := v_docs || jsonb_build_array(v_doc);
        END IF;
    END LOOP;
    -- What needs an agent: a new ticket, or one a message made open again
    -- (reopened, or answered while it waited on the customer). The answers
    -- first, in a statement of their own: a statement sees only the rows
    -- that were there when it began, not the tickets its function makes.
    v_res := to_jsonb(ARRAY(SELECT intake_register_many(v_docs)));
    INSERT INTO scale_bench.queue (part, n, ticket_id)
    SELECT p_part, nextval('scale_bench.queue_seq'), t.id
      FROM jsonb_array_elements(v_res) WITH ORDINALITY x(res, i)
      JOIN tickets t ON t.number = x.res->>'ticket'
     WHERE (x.res->>'new_ticket')::boolean OR t.status = 'open'
     ORDER BY x.i;
    RETURN p_batch;
END
$fn$;

-- The next p_batch tickets of part p_part for agents to take up, in the
-- order they came (the part's newest p_keep are left open: the desk's
-- current work); the part's agents have come that far.
CREATE OR REPLACE FUNCTION scale_bench.take(p_part int, p_batch int, p_keep bigint)
RETURNS bigint[]
LANGUAGE plpgsql AS $fn$
DECLARE
    v_from bigint;
    v_line bigint;
    v_ids  bigint[];
    v_last bigint;
BEGIN
    SELECT n INTO v_from FROM scale_bench.taken WHERE part = p_part;
    IF NOT FOUND THEN
        INSERT INTO scale_bench.taken VALUES (p_part, 0);
        v_from := 0;
    END IF;
    SELECT n INTO v_line FROM scale_bench.queue WHERE part = p_part
     ORDER BY n DESC OFFSET p_keep LIMIT 1;
    SELECT array_agg(ticket_id ORDER BY n), max(n) INTO v_ids, v_last
      FROM (SELECT ticket_id, n FROM scale_bench.queue
             WHERE part = p_part AND n > v_from AND n <= v_line ORDER BY n LIMIT p_batch) q;
    UPDATE scale_bench.taken SET n = v_last WHERE part = p_part AND v_last IS NOT NULL;
    RETURN coalesce(v_ids, '{}');
END
$fn$;

-- A survey link part p_part's customer got for ticket p_ticket, answered
-- (and crossed off): a tenth of the answers low, which opens a follow-up
-- for the supervisors.
CREATE OR REPLACE FUNCTION scale_bench.answer(p_part int, p_ticket bigint) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_rating int := CASE WHEN p_ticket % 10 = 0 THEN 2 ELSE 4 + (p_ticket / 2) % 2 END;
    v_token  text;
BEGIN
    DELETE FROM scale_bench.answers WHERE part = p_part AND ticket_id = p_ticket
    RETURNING token INTO v_token;
    PERFORM intake_survey_answer(jsonb_build_object(
        'token_hash', encode(sha256(convert_to(v_token, 'UTF8')), 'hex'),
        'ratings', jsonb_build_object('response_speed', v_rating,
            'resolution_efficiency', v_rating, 'attitude', 5, 'professionalism', 4,
            'overall', v_rating),
        'comment', CASE WHEN p_ticket % 40 = 0 THEN 'Slow answer' END));
    RETURN 1;
END
$fn$;

-- One step of part p_part (bench/scale-run runs it from every connection,
-- p_part being pgbench's client id): p_batch new contacts, the agents' work
-- on up to twice as many tickets of the part's list (so that the backlog
-- stays near p_keep), the survey links of earlier steps answered, and the
-- dispatcher's pass. Each run of ten contacts, each ticket's work and each
-- answer commits on its own, as on a desk: the agents' rows and streams
-- that every connection writes are held for one ticket's work, not for a
-- step's (held for a step, the connections waited for each other's commit
-- and took turns).
CREATE OR REPLACE PROCEDURE scale_bench.fill_step(p_part int, p_parts int, p_batch int,
                                                  p_pool bigint, p_keep bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_id bigint;
BEGIN
    FOR i IN 1 .. greatest(p_batch / 10, 1) LOOP
        PERFORM scale_bench.again(format('SELECT scale_bench.register(%s, %s, 10, %s, %s)',
                                         p_part, p_parts, p_pool, p_keep));
        COMMIT;
    END LOOP;
    FOREACH v_id IN ARRAY scale_bench.take(p_part, 2 * p_batch, p_keep) LOOP
        PERFORM scale_bench.again(format('SELECT scale_bench.work(%s, %s)', v_id, p_part));
        COMMIT;
    END LOOP;
    FOR v_id IN SELECT ticket_id FROM scale_bench.answers WHERE part = p_part LOOP
        PERFORM scale_bench.again(format('SELECT scale_bench.answer(%s, %s)', p_part, v_id));
        COMMIT;
    END LOOP;
    -- The dispatcher's passes, one connection's (as a desk runs a
    -- dispatcher or two, not one per agent): its notices write the agents'
    -- streams, and its records lock the tickets they store outbound
    -- messages on, which every connection's work also locks: dispatchers on
    -- every connection, a thousand rows a pass, deadlocked again and again.
    -- A hundred rows a transaction, until what is due is sent.
    FOR pass IN 1 .. CASE WHEN p_part = 0 THEN 100 ELSE 0 END LOOP
        EXIT WHEN scale_bench.again('SELECT scale_bench.dispatch(100)') < 100;
        COMMIT;
    END LOOP;
END
$fn$;

-- Runs p_sql (a SELECT of one int) and answers its value. Two connections
-- may take the same rows in opposite orders (a registration's agent and the
-- ticket it threads on, a hand-out's ticket and agent, the dispatcher's
-- notices): PostgreSQL undoes one transaction's work, which is done again,
-- up to five times (then the step stops, and pgbench runs another).
CREATE OR REPLACE FUNCTION scale_bench.again(p_sql text) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_n int;
BEGIN
    FOR attempt IN 1 .. 5 LOOP
        BEGIN
            EXECUTE p_sql INTO v_n;
            RETURN v_n;
        EXCEPTION WHEN deadlock_detected THEN
            IF attempt = 5 THEN
                RAISE;
            END IF;
            PERFORM pg_sleep(0.01 * attempt); -- the other one finishes first
        END;
    END LOOP;
END
$fn$;

-- An agent's work on one ticket, through intake_desk as the console asks
-- it: a reply; most tickets resolved (a survey sent; half of them to be
-- answered in the part's next step), half the resolved closed; 3 % left
-- waiting on the customer (pending).
CREATE OR REPLACE FUNCTION scale_bench.work(p_id bigint, p_part int) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_res    jsonb;
    v_ticket text := (SELECT number FROM tickets WHERE id = p_id AND status IN ('new', 'open'));
BEGIN
    IF v_ticket IS NULL THEN
        RETURN 0; -- worked already, or waiting on the customer
    END IF;
    PERFORM intake_desk(jsonb_build_object('action', 'reply', 'api', true,
        'agent_name', 'Agent ' || (7 + p_id % 34), 'ticket', v_ticket,
        'text', 'Thank you for writing. We have looked at this and here is what to do: '
                || 'restart the device after the update and tell us if the error comes back.'));
    IF p_id % 100 < 3 THEN
        PERFORM intake_desk(jsonb_build_object('action', 'status', 'api', true,
            'ticket', v_ticket, 'status', 'pending'));
        RETURN 1;
    END IF;
    v_res := intake_desk(jsonb_build_object('action', 'status', 'api', true, 'ticket', v_ticket,
        'status', 'resolved', 'solution', 'Restarted after the update', 'result', 'fixed'));
    IF p_id % 2 = 0 AND v_res->'body' ? 'survey' THEN
        INSERT INTO scale_bench.answers (part, ticket_id, token)
        SELECT p_part, p_id, payload->>'token' FROM outbox
         WHERE dedupe_key = 'survey:' || (v_res->'body'->>'survey')
        ON CONFLICT DO NOTHING;
    END IF;
    IF p_id % 4 < 2 THEN
        PERFORM intake_desk(jsonb_build_object('action', 'status', 'api', true,
            'ticket', v_ticket, 'status', 'closed'));
    END IF;
    RETURN 1;
END
$fn$;

-- The dispatcher's pass (src/outbox.c does the sending): agent
-- notifications published, what is due claimed and recorded as sent (a
-- mail's Message-ID kept on its ticket as an outbound message), and the
-- search index caught up (the dispatcher's tend hook).
CREATE OR REPLACE FUNCTION scale_bench.dispatch(p_limit int DEFAULT 1000) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    v_ids  bigint[];
    v_recs jsonb;
BEGIN
    PERFORM intake_publish_agent_events(p_limit, 'scale_bench');
    PERFORM intake_search_catch_up(2 * p_limit);
    SELECT array_agg(c.id),
           coalesce(jsonb_agg(jsonb_build_object('id', c.id,
               'ref', '<out.' || c.id || '@desk.example>', 'subject', 'Your ticket',
               'text', 'Thank you, we have your message.'))
               FILTER (WHERE c.channel IN ('email', 'api')), '[]')
      INTO v_ids, v_recs FROM intake_outbox_claim(30, p_limit) c;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM intake_outbox_record(jsonb_build_object('sent', to_jsonb(v_ids), 'records', v_recs),
                                 5, v_ids);
    RETURN cardinality(v_ids);
END
$fn$;

-- The end of the fill: the dispatcher drained and the SLA scanner's passes
-- made until nothing is due (as on a desk whose gateways have kept up).
CREATE OR REPLACE FUNCTION scale_bench.finish() RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v_sent   int := 0;
    v_n      int;
    v_passes int := 0;
BEGIN
    LOOP
        v_n := scale_bench.dispatch();
        v_sent := v_sent + v_n;
        EXIT WHEN v_n = 0;
    END LOOP;
    LOOP
        EXIT WHEN intake_search_catch_up(5000) = 0;
    END LOOP;
    LOOP
        v_passes := v_passes + 1;
        EXIT WHEN jsonb_array_length(coalesce(intake_sla_scan('{}')->'breaches', '[]')) = 0
                  OR v_passes >= 1000;
    END LOOP;
    RETURN jsonb_build_object('sent', v_sent, 'sla_passes', v_passes);
END
$fn$;

-- What a filled database must hold to be one the product could have made;
-- one line a broken rule (none: the fill is sound). bench/scale-run fails
-- the fill when any is returned.
CREATE OR REPLACE FUNCTION scale_bench.check() RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
DECLARE
    v_n bigint;
BEGIN
    -- Registration made every ticket: its 'created' event and a customer's message.
    SELECT count(*) INTO v_n FROM tickets t
     WHERE NOT EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind = 'created');
    IF v_n > 0 THEN RETURN NEXT v_n || ' tickets without their created event'; END IF;
    SELECT count(*) INTO v_n FROM tickets t
     WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = t.id AND m.direction = 'in');
    IF v_n > 0 THEN RETURN NEXT v_n || ' tickets without a customer message'; END IF;
    -- Readable numbers: unique, and the sequences ahead of every number given.
    SELECT count(*) - count(DISTINCT number) INTO v_n FROM tickets;
    IF v_n > 0 THEN RETURN NEXT v_n || ' ticket numbers given twice'; END IF;
    IF (SELECT max(substring(number FROM '[0-9]+$')::bigint) FROM tickets)
       > (SELECT last_value FROM ticket_number_seq) THEN
        RETURN NEXT 'ticket_number_seq behind the highest ticket number';
    END IF;
    IF (SELECT max(substring(number FROM '[0-9]+$')::bigint) FROM customers)
       > (SELECT last_value FROM customer_number_seq) THEN
        RETURN NEXT 'customer_number_seq behind the highest customer number';
    END IF;
    IF (SELECT max(id) FROM tickets) > (SELECT last_value FROM tickets_id_seq)
       OR (SELECT max(id) FROM messages) > (SELECT last_value FROM messages_id_seq) THEN
        RETURN NEXT 'an id sequence behind its table';
    END IF;
    -- The search index holds every message (the dispatcher caught up).
    SELECT count(*) INTO v_n FROM messages m
     WHERE NOT EXISTS (SELECT 1 FROM message_search s WHERE s.message_id = m.id);
    IF v_n > 0 THEN RETURN NEXT v_n || ' messages missing from message_search'; END IF;
    -- The dispatcher sent everything due: acknowledgements, replies, survey links.
    SELECT count(*) INTO v_n FROM outbox
     WHERE status IN ('pending', 'sending') AND next_attempt_at <= now();
    IF v_n > 0 THEN RETURN NEXT v_n || ' outbox rows due and not sent'; END IF;
    -- Each agent's open_tickets (what routing reads) agrees with their tickets.
    SELECT count(*) INTO v_n FROM intake_agent_load_drift();
    IF v_n > 0 THEN RETURN NEXT v_n || ' agents whose open_tickets is not their open work'; END IF;
    -- The clocks: open work carries its SLA deadlines, finished work none running.
    SELECT count(*) INTO v_n FROM tickets
     WHERE first_response_due_at IS NULL OR handling_due_at IS NULL OR resolution_due_at IS NULL
        OR (status IN ('resolved', 'closed') AND sla_next_at IS NOT NULL);
    IF v_n > 0 THEN RETURN NEXT v_n || ' tickets with deadlines that do not add up'; END IF;
    -- Every resolution sent a survey; every answer with a low rating a follow-up.
    SELECT count(*) INTO v_n FROM tickets t
     WHERE t.status IN ('resolved', 'closed') AND t.imported_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM surveys s WHERE s.ticket_id = t.id);
    IF v_n > 0 THEN RETURN NEXT v_n || ' resolved tickets without a survey'; END IF;
    SELECT count(*) INTO v_n FROM surveys s
     WHERE least(s.response_speed, s.resolution_efficiency, s.attitude, s.professionalism,
                 s.overall) <= 3
       AND NOT EXISTS (SELECT 1 FROM followups f WHERE f.survey_id = s.id);
    IF v_n > 0 THEN RETURN NEXT v_n || ' low survey answers without a follow-up'; END IF;
END
$fn$;
