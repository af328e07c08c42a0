-- pgbench's side of bench/run: the gateway's registration transaction, one
-- contact per transaction, as a client without the gateway would run it.
-- The jsonb has the keys src/register.c (gw_register_document) builds for an
-- API contact; subject, body and the classification the gateway computes for
-- them (category, queue, priority, SLA seconds, summary, detected language,
-- number prefixes) come from bench_templates, which bench/run fills from
-- what the gateway stored for contacts.lua's texts during its warm-up.
-- Variables (pgbench -D): nonce (this run), emails (pool size), templates
-- (rows in bench_templates). pgbench reads a colon followed by a name as a
-- variable even inside quotes and comments, hence 'api:' || 'pgbench-'.
\set c random(1, :emails)
\set t random(1, :templates)
SELECT intake_register(jsonb_build_object(
           'key', k.key,
           'channel', 'api',
           'name', 'Customer ' || :c::int,
           'email', 'customer' || :c::int || '@example.com',
           'language_detected', t.language_detected,
           'subject', t.subject,
           'body', t.body,
           'summary', t.summary,
           'received_at', floor(extract(epoch FROM now()))::bigint,
           'category', t.category,
           'queue', t.queue,
           'priority', t.priority,
           'first_response_s', t.first_response_s,
           'handling_s', t.handling_s,
           'resolve_s', t.resolve_s,
           'ticket_prefix', t.ticket_prefix,
           'customer_prefix', t.customer_prefix))
  FROM bench_templates t,
       (SELECT 'api:' || 'pgbench-' || :nonce::text || '-' || gen_random_uuid() AS key) k
 WHERE t.id = :t::int;
