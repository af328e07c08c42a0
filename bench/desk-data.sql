-- A help desk's database at real size, for bench/report-run (and the desk's
-- list benchmarks): :tickets tickets (default 2,000,000) created evenly over
-- the last 300 days, by half as many customers, with what a desk that has run
-- that long holds: three messages a ticket, two timeline events, an outbox
-- row for each acknowledgement, surveys for most resolved tickets (half of
-- them answered), follow-ups for the low ratings, and SLA breaches. Old work
-- is done (97 % resolved or closed); the last week's is half open, which is
-- what the desk's lists filter. Deterministic: setseed() fixes every draw.
--   psql -v tickets=2000000 -f bench/desk-data.sql DB
\if :{?tickets}
\else
\set tickets 2000000
\endif
SET synchronous_commit = off;
SELECT setseed(0.42);

INSERT INTO agents (name, email, role, online, presence, capacity)
SELECT 'Agent ' || g, 'agent' || g || '@desk.example',
       CASE WHEN g <= 2 THEN 'supervisor' WHEN g <= 6 THEN 'lead' ELSE 'agent' END,
       g % 3 = 0, CASE WHEN g % 3 = 0 THEN 'online' ELSE 'offline' END, 50
  FROM generate_series(1, 40) g;
INSERT INTO agent_queues (agent_id, queue)
SELECT a.id, q FROM agents a,
       unnest(ARRAY['presales', 'orders', 'technical', 'complaints', 'general']) q
 WHERE a.id % 5 = array_position(ARRAY['presales', 'orders', 'technical', 'complaints',
                                       'general'], q) - 1 OR a.role <> 'agent';

INSERT INTO customers (number, name, language, created_at)
SELECT intake_number('C-', g), 'Customer ' || g, CASE WHEN g % 3 = 0 THEN 'zh' ELSE 'en' END,
       now() - interval '400 days'
  FROM generate_series(1, :tickets / 2) g;
INSERT INTO customer_identities (kind, value, customer_id)
SELECT 'email', 'c' || id || '@example.com', id FROM customers;
SELECT setval('customer_number_seq', :tickets / 2);

-- One row per ticket with its draws; the tables below are filled from it.
CREATE TEMP TABLE gen AS
SELECT g AS n,
       now() - (300 * (:tickets - g)::double precision / :tickets) * interval '1 day'
             - random() * interval '1 hour' AS created,
       1 + floor(random() * (:tickets / 2))::bigint AS customer,
       (ARRAY['email', 'email', 'chat', 'phone', 'api'])[1 + floor(random() * 5)::int] AS channel,
       floor(random() * 100)::int AS c, random() AS r1, random() AS r2, random() AS r3,
       random() AS r4, 7 + floor(random() * 34)::int AS agent
  FROM generate_series(1, :tickets) g;

INSERT INTO tickets (number, customer_id, status, channel, subject, summary, category, priority,
                     escalation_level, queue, assignee_id, language, first_response_due_at,
                     handling_due_at, resolution_due_at, first_responded_at,
                     handling_started_at, resolved_at, closed_at, created_at, updated_at)
SELECT intake_number('SR-', x.n), x.customer, x.status, x.channel, 'Subject ' || x.n,
       'Summary of ticket ' || x.n, x.category, x.priority,
       CASE WHEN x.r3 < 0.02 THEN 3 WHEN x.r3 < 0.08 THEN 2 ELSE 1 END,
       x.queue, CASE WHEN x.r4 < 0.9 THEN x.agent END, CASE WHEN x.c % 3 = 0 THEN 'zh' ELSE 'en' END,
       x.created + x.fr_due, x.created + interval '48 hours', x.created + interval '24 hours',
       CASE WHEN x.status <> 'new' THEN x.created + x.fr_due * (0.2 + 1.2 * x.r1) END,
       CASE WHEN x.status <> 'new' THEN x.created + x.fr_due * (0.2 + 1.2 * x.r1) END,
       CASE WHEN x.status IN ('resolved', 'closed')
            THEN x.created + interval '30 hours' * (0.1 + 1.5 * x.r2) END,
       CASE WHEN x.status = 'closed' THEN x.created + interval '40 hours' * (0.2 + 2 * x.r2) END,
       x.created, x.created
  FROM (SELECT gen.*,
               CASE WHEN created < now() - interval '7 days'
                    THEN (CASE WHEN r4 < 0.97 THEN (ARRAY['resolved', 'closed'])[1 + (n % 2)::int]
                               ELSE 'open' END)
                    ELSE (ARRAY['new', 'open', 'pending', 'resolved'])[1 + (n % 4)::int] END
                   AS status,
               CASE WHEN c < 25 THEN 'order' WHEN c < 40 THEN 'presale'
                    WHEN c < 60 THEN 'aftersale.fault.software' WHEN c < 70 THEN 'aftersale.usage'
                    WHEN c < 80 THEN 'complaint' WHEN c < 90 THEN 'callback' ELSE 'suggestion' END
                   AS category,
               CASE WHEN c < 25 THEN 'orders' WHEN c < 40 THEN 'presales'
                    WHEN c < 70 THEN 'technical' WHEN c < 80 THEN 'complaints' ELSE 'general' END
                   AS queue,
               CASE WHEN c % 10 = 0 THEN 'urgent' WHEN c % 10 < 4 THEN 'important'
                    ELSE 'normal' END AS priority,
               CASE WHEN c % 10 = 0 THEN interval '5 minutes' ELSE interval '15 minutes' END
                   AS fr_due
          FROM gen) x
 ORDER BY x.n;
SELECT setval('ticket_number_seq', :tickets);

INSERT INTO messages (ticket_id, direction, channel, idempotency_key, sender_address, subject,
                      body, received_at, created_at)
SELECT t.id, d.dir, t.channel, t.channel || ':bench:' || t.id || ':' || d.k,
       CASE WHEN d.dir = 'in' THEN 'c' || t.customer_id || '@example.com' END,
       t.subject, 'Message ' || d.k || ' of ticket ' || t.number
           || ': the printer in room 4 stopped after the update and shows error 0x1F again.',
       t.created_at + d.k * interval '20 minutes', t.created_at + d.k * interval '20 minutes'
  FROM tickets t, (VALUES (0, 'in'), (1, 'out'), (2, 'in')) d(k, dir);

INSERT INTO ticket_events (ticket_id, kind, actor, detail, created_at)
SELECT t.id, e.kind, 'system', '{}', t.created_at
  FROM tickets t, (VALUES ('created'), ('assigned')) e(kind);

INSERT INTO outbox (kind, channel, ticket_id, dedupe_key, payload, status, attempts,
                    next_attempt_at, created_at, sent_at)
SELECT 'ack', t.channel, t.id, 'ack:bench:' || t.id,
       jsonb_build_object('ticket', t.number, 'reply_handle', 'c' || t.customer_id || '@example.com'),
       'sent', 1, t.created_at, t.created_at, t.created_at + interval '2 seconds'
  FROM tickets t;

-- Surveys for 80 % of resolved tickets, half answered, a fifth of those low.
INSERT INTO surveys (ticket_id, token_hash, language, created_at, expires_at, answered_at,
                     response_speed, resolution_efficiency, attitude, professionalism, overall,
                     comment)
SELECT t.id, decode(md5('bench' || t.id), 'hex'), t.language, t.resolved_at,
       t.resolved_at + interval '7 days',
       CASE WHEN t.id % 2 = 0 THEN t.resolved_at + interval '5 hours' END,
       CASE WHEN t.id % 2 = 0 THEN 1 + ((t.id / 2) % 5 + 1) % 5 END,
       CASE WHEN t.id % 2 = 0 THEN 2 + (t.id / 2) % 4 END,
       CASE WHEN t.id % 2 = 0 THEN 3 + (t.id / 2) % 3 END,
       CASE WHEN t.id % 2 = 0 THEN 2 + (t.id / 4) % 4 END,
       CASE WHEN t.id % 2 = 0 THEN CASE WHEN t.id % 10 = 0 THEN 2 ELSE 4 + t.id % 2 END END,
       CASE WHEN t.id % 40 = 0 THEN 'Slow answer on ticket ' || t.number END
  FROM tickets t
 WHERE t.resolved_at IS NOT NULL AND t.id % 5 <> 0;

INSERT INTO followups (ticket_id, survey_id, queue, reason, due_at, created_at, closed_at,
                       closed_by, outcome)
SELECT s.ticket_id, s.id, 'complaints', 'a rating of 3 or less', s.answered_at + interval '3 days',
       s.answered_at,
       CASE WHEN s.id % 10 < 9 THEN s.answered_at + interval '2 days' * (0.5 + (s.id % 7) / 5.0) END,
       CASE WHEN s.id % 10 < 9 THEN 'Agent 1' END, CASE WHEN s.id % 10 < 9 THEN 'called' END
  FROM surveys s
 WHERE s.overall <= 3 AND s.answered_at < now();

INSERT INTO sla_breaches (ticket_id, clock, level, due_at, detected_at)
SELECT t.id, 'first_response', 1, t.first_response_due_at, t.first_response_due_at
  FROM tickets t
 WHERE t.first_responded_at > t.first_response_due_at OR
       (t.first_responded_at IS NULL AND t.first_response_due_at < now());

-- The SLA scanner has kept up, as on a desk that runs: every running clock
-- already past due has been seen at the ticket's level, and the scanner's
-- next look (tickets.sla_next_at) is at the first deadline still ahead.
-- (The same statement that intake_sla_scan ends a look with.)
UPDATE tickets
   SET sla_next_at = (SELECT min(c.due) FROM (VALUES
           (CASE WHEN first_responded_at IS NULL THEN first_response_due_at END),
           (CASE WHEN handling_started_at IS NULL THEN handling_due_at END),
           (CASE WHEN resolved_at IS NULL THEN resolution_due_at END)) AS c(due)
           WHERE c.due >= now())
 WHERE sla_next_at < now();

ANALYZE;
