-- Search over tickets (GET /v1/search, the console's search box): ticket
-- numbers, subjects and message text, customers' names, email addresses and
-- phone numbers, in Chinese and English. The text side reads the tsvectors
-- that db/migrations/0045 keeps in message_search and customers.search
-- (English stems, CJK bigrams); docs/desk.md ("Search") says why.
-- message_search is filled after registration (intake_search_catch_up, run
-- by the gateway's outbox dispatcher after each pass).

-- The tsvector of a text, exactly as 0045 wrote it out for the messages it
-- found and customers' names (a migration cannot call this function: it is
-- made after the migrations). The tests check that both agree.
CREATE OR REPLACE FUNCTION intake_search_text(x text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN coalesce(x, '') ~ '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]'
    THEN to_tsvector('english'::regconfig,
             regexp_replace(coalesce(x, ''), '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+', ' ', 'g'))
         || to_tsvector('simple'::regconfig,
             regexp_replace(' ' || regexp_replace(coalesce(x, ''),
                                                  '[^\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+', ' ', 'g'),
                            '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]{2}', '\& ', 'g')
             || regexp_replace(regexp_replace(' ' || regexp_replace(coalesce(x, ''),
                                                                    '[^\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+', ' ', 'g'),
                                              ' [\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]', ' ', 'g'),
                               '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]{2}', '\& ', 'g'))
    ELSE to_tsvector('english'::regconfig, coalesce(x, '')) END
$fn$;

-- Indexes the messages registered since the last call, oldest first, at
-- most p_limit; answers how many. New messages are those above the newest
-- indexed one, and those up to 1,000 ids below it that are not indexed yet:
-- a registration that committed after a later one (ids are taken in order,
-- commits land in any order) is indexed by the next call that finds a newer
-- message. Several gateways may call it at once: a message indexed twice is
-- kept once.
--
-- An erase (intake_messages_erase) holds intake_search_lock_key()
-- exclusively while it rewrites messages; a pass that finds it held does
-- nothing this time. Without it a pass that read a message before the
-- erase committed wrote the message's old words into the index after it.
CREATE OR REPLACE FUNCTION intake_search_catch_up(p_limit int) RETURNS int
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $fn$
DECLARE
    v_high bigint := coalesce((SELECT max(message_id) FROM message_search), 0);
    v_n    int;
BEGIN
    IF coalesce((SELECT max(id) FROM messages), 0) <= v_high THEN
        RETURN 0; -- nothing new: the idle pass costs two index lookups
    END IF;
    IF NOT pg_try_advisory_xact_lock_shared(intake_search_lock_key()) THEN
        RETURN 0; -- an erase is rewriting messages; the next pass reads them as erased
    END IF;
    -- v_high - 1000 a value the plan sees (a generic plan would guess a third of
    -- messages), on both sides: two short index ranges merged.
    INSERT INTO message_search (message_id, ticket_id, received_at, search)
    SELECT m.id, m.ticket_id, m.received_at,
           intake_search_text(coalesce(m.subject, '') || ' ' || m.body)
      FROM messages m
     WHERE m.id > v_high - 1000
       AND NOT EXISTS (SELECT 1 FROM message_search s
                        WHERE s.message_id = m.id AND s.message_id > v_high - 1000)
     ORDER BY m.id
     LIMIT p_limit
    ON CONFLICT (message_id) DO NOTHING;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$fn$;

-- The advisory lock between the indexer's passes (shared) and an erase of
-- messages (exclusive).
CREATE OR REPLACE FUNCTION intake_search_lock_key() RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT hashtextextended('message_search', 0)
$fn$;

-- A message whose text changes (an erasure rewrites it) is indexed again at
-- once, so that no search finds the words it no longer holds.
CREATE OR REPLACE FUNCTION intake_search_reindex() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE message_search
       SET search = intake_search_text(coalesce(NEW.subject, '') || ' ' || NEW.body)
     WHERE message_id = NEW.id;
    RETURN NULL;
END
$fn$;

-- A deleted message takes its words along. A trigger, not a foreign key:
-- the key's check would lock every message row the indexer reads (a WAL
-- record each, on the pages registration is writing).
CREATE OR REPLACE FUNCTION intake_search_forget() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM message_search WHERE message_id = OLD.id;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE TRIGGER messages_search_forget AFTER DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION intake_search_forget();

CREATE OR REPLACE TRIGGER messages_search_reindex AFTER UPDATE OF subject, body ON messages
    FOR EACH ROW WHEN (OLD.subject IS DISTINCT FROM NEW.subject OR OLD.body IS DISTINCT FROM NEW.body)
    EXECUTE FUNCTION intake_search_reindex();

-- What a query asks of those tsvectors: its words in Latin letters as a web
-- search engine reads them ("quoted phrase", or, -not), stemmed by the
-- 'english' configuration; each run of CJK characters as all of its
-- bigrams, a single character as the prefix of a word (0045 keeps the last
-- character of every run alone, so each character starts a word). NULL when
-- nothing is left to look for (only stop words or punctuation).
CREATE OR REPLACE FUNCTION intake_search_query(q text) RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE SET client_min_messages = warning AS $fn$
DECLARE
    v_query tsquery := websearch_to_tsquery('english'::regconfig,
        regexp_replace(q, '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+', ' ', 'g'));
    v_run   text;
BEGIN
    FOR v_run IN SELECT m[1] FROM regexp_matches(q, '([\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+)', 'g') m
    LOOP
        v_query := v_query && CASE WHEN length(v_run) = 1
            THEN to_tsquery('simple'::regconfig, v_run || ':*')
            ELSE to_tsquery('simple'::regconfig, (SELECT string_agg(substr(v_run, i, 2), ' & ')
                                                    FROM generate_series(1, length(v_run) - 1) i))
            END;
    END LOOP;
    RETURN CASE WHEN numnode(v_query) > 0 THEN v_query END;
END
$fn$;

-- The phone number a query is, as digits without the leading zeros of a
-- trunk or international prefix (0138..., 0086...), or NULL: a query of
-- digits and the separators people write numbers with, at least 7 digits.
CREATE OR REPLACE FUNCTION intake_search_phone(q text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT CASE WHEN q ~ '^\+?[0-9(][0-9 ().\-/]*[0-9]$'
                 AND length(regexp_replace(q, '[^0-9]', '', 'g')) BETWEEN 7 AND 17
           THEN ltrim(regexp_replace(q, '[^0-9]', '', 'g'), '0') END
$fn$;

-- The agent a's search (d: q, limit <= 50, after = the page before's next,
-- ticket_prefix). A ticket is found by its number (SR-000123, or 123: 3
-- points), an address its customer is known by (email, phone: 2), its
-- customer's name (1 + how well it matches) or its messages' text (how well
-- the best one matches, ts_rank normalized to 0..1), plus up to 0.25 for
-- recency (0.25 today, half that at a month, a tenth at nine months); the
-- best of its ways counts. Newest-first candidates are bounded: the 100
-- newest matching messages the agent may see, the 50 newest customers by
-- name, 100 tickets of each customer found by address, 20 by name; so a
-- word found in millions of messages costs about as much as a rare one, and
-- such a word ranks among its most recent matches. Pages are a keyset over
-- (score, ticket id) of one snapshot: the first page's newest message and
-- time, which its "next" carries, so later pages neither repeat nor skip a
-- ticket while messages arrive.
--
-- Whether walking a table's search column newest first is expected to find
-- a query's newest matches sooner than reading all of them by the GIN index:
-- matches M among N rows spread over time are met about every N / M rows, so
-- the walk reads ~100 N / M rows and the index M; the walk wins when M is
-- above 10 sqrt(N). M is the planner's estimate from the column's statistics
-- (its most common words and their frequencies, kept by ANALYZE), asked
-- through EXPLAIN: no row is read. A word without statistics is estimated
-- rare, which the newest-1,000 probe of intake_desk_search covers.
CREATE OR REPLACE FUNCTION intake_search_is_common(p_table regclass, p_query tsquery)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $fn$ -- VOLATILE: PostgreSQL runs EXPLAIN in no other function
DECLARE
    v_plan    json;
    v_matches float8;
    v_all     float8;
BEGIN
    IF coalesce((SELECT reltuples FROM pg_class WHERE oid = p_table), 0) < 10000 THEN
        RETURN false; -- small (or never analyzed): the probe decides
    END IF;
    -- Both estimates from one plan: the planner scales the table's rows to
    -- its size now, so a table grown since its last ANALYZE estimates more
    -- of everything; judged against reltuples, the 0.5 % guess for an
    -- unknown word passed 0.51 % once the table had grown 2 % (an e-mail
    -- address or a ticket number then walked all 7 M messages: 1.9 s).
    EXECUTE format('EXPLAIN (FORMAT JSON) SELECT 1 FROM %1$s probe WHERE search @@ %2$L::tsquery '
                   'UNION ALL SELECT 1 FROM %1$s probe_all', p_table, p_query) INTO v_plan;
    v_matches := (v_plan->0->'Plan'->'Plans'->0->>'Plan Rows')::float8;
    v_all := (v_plan->0->'Plan'->'Plans'->1->>'Plan Rows')::float8;
    -- Above 0.5 % too: that is what the planner guesses for a word it has no
    -- statistics of (a rare one), and at 4 M rows and more it passes 10 sqrt(N).
    RETURN v_matches > greatest(10 * sqrt(v_all), 0.0051 * v_all);
END
$fn$;

-- How the candidates are read depends on how common the words are, and the
-- planner cannot know that for a word it has no statistics of (it guesses
-- 0.5 % and, at millions of messages, would walk them all for a rare one):
-- so the newest 1,000 messages (and customers) are tried first. A
-- query found in 1 % or more of them walks the messages newest first until
-- it has its 100; so does one that the column's statistics say is common in
-- the whole table (intake_search_is_common: a word of last year's messages,
-- absent from today's, would otherwise read every one of its matches by the
-- index and sort them: 7-60 s for an English word at 6 M messages); a rarer
-- one reads the GIN index and sorts what it found.
-- The 'coalesce' and 'id + 0' (no index is on either) keep the planner to
-- that choice; enable_seqscan
-- is off so that a small table is read by its indexes too (the plan test).
-- plan_cache_mode: every search is planned with its own values.
CREATE OR REPLACE FUNCTION intake_desk_search(a agents, d jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan SET enable_seqscan = off
    SET jit = off AS $fn$
DECLARE
    v_q      text := btrim(d->>'q');
    v_query  tsquery := intake_search_query(v_q);
    v_phone  text := intake_search_phone(v_q);
    v_email  text := CASE WHEN v_q ~ '^[^@\s]+@[^@\s]+$' THEN lower(v_q) END;
    v_number text[];
    v_cjk    text := substring(v_q FROM '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+');
    v_limit  int := least(coalesce((d->>'limit')::int, 20), 50);
    v_after  text[] := string_to_array(d->>'after', ':');
    v_snap   bigint;      -- the newest message the first page could see
    v_at     timestamptz; -- the first page's time: ages count from it
    v_queues text[];
    v_rows   jsonb[];
    v_common_text boolean; -- in 1 % or more of the newest messages
    v_common_name boolean; -- in 1 % or more of the newest customers' names
BEGIN
    IF v_q IS NULL OR v_q = '' THEN
        RETURN intake_desk_error(400, 'required', 'q');
    END IF;
    IF v_q ~ '^[A-Za-z]{0,10}-?[0-9]{1,18}$' THEN
        v_number := ARRAY[upper(v_q), intake_number(d->>'ticket_prefix',
                                                    substring(v_q FROM '[0-9]+$')::bigint)];
    END IF;
    IF v_after IS NULL THEN
        v_snap := coalesce((SELECT max(message_id) FROM message_search), 0);
        v_at := date_trunc('second', now());
    ELSE
        v_snap := v_after[1]::bigint;
        v_at := to_timestamp(v_after[2]::bigint);
    END IF;
    IF a.id IS NOT NULL AND a.role NOT IN ('lead', 'supervisor') THEN
        v_queues := ARRAY(SELECT queue FROM agent_queues WHERE agent_id = a.id);
    END IF;
    IF v_query IS NOT NULL THEN
        v_common_text := (SELECT count(*) >= 10 FROM (SELECT search FROM message_search
                                                       WHERE message_id <= v_snap
                                                       ORDER BY message_id DESC LIMIT 1000) m
                           WHERE m.search @@ v_query)
                         OR intake_search_is_common('message_search', v_query);
        v_common_name := (SELECT count(*) >= 10 FROM (SELECT search FROM customers
                                                       ORDER BY id DESC LIMIT 1000) c
                           WHERE c.search @@ v_query)
                         OR intake_search_is_common('customers', v_query);
    END IF;

    v_rows := ARRAY(
        WITH hits (ticket_id, how, relevance, at) AS (
            SELECT t.id, 'number', 3.0::float8, t.created_at
              FROM tickets t WHERE v_number IS NOT NULL AND t.number = ANY (v_number)
            UNION ALL
            SELECT t.id, 'email', 2.0, t.created_at
              FROM customer_identities i
              CROSS JOIN LATERAL (SELECT id, created_at FROM tickets WHERE customer_id = i.customer_id
                                   ORDER BY id DESC LIMIT 100) t
             WHERE v_email IS NOT NULL AND i.kind = 'email' AND i.value = v_email
            UNION ALL
            SELECT t.id, 'phone', 2.0, t.created_at
              FROM customer_identities i
              CROSS JOIN LATERAL (SELECT id, created_at FROM tickets WHERE customer_id = i.customer_id
                                   ORDER BY id DESC LIMIT 100) t
             WHERE v_phone IS NOT NULL AND i.kind = 'phone'
               AND reverse(i.value) LIKE reverse(v_phone) || '%'
            UNION ALL
            SELECT t.id, 'customer', 1.0 + ts_rank(c.search, v_query, 32), t.created_at
              FROM (SELECT id, search FROM customers -- a common name: walk the newest
                     WHERE v_query IS NOT NULL AND v_common_name
                       AND coalesce(search @@ v_query, false)
                     ORDER BY id DESC LIMIT 50) c
              CROSS JOIN LATERAL (SELECT id, created_at FROM tickets WHERE customer_id = c.id
                                   ORDER BY id DESC LIMIT 20) t
            UNION ALL
            SELECT t.id, 'customer', 1.0 + ts_rank(c.search, v_query, 32), t.created_at
              FROM (SELECT id, search FROM customers -- a rare one: the index
                     WHERE v_query IS NOT NULL AND NOT v_common_name AND search @@ v_query
                     ORDER BY id + 0 DESC LIMIT 50) c
              CROSS JOIN LATERAL (SELECT id, created_at FROM tickets WHERE customer_id = c.id
                                   ORDER BY id DESC LIMIT 20) t
            UNION ALL
            SELECT m.ticket_id, 'text', ts_rank(m.search, v_query, 32), m.received_at
              FROM (SELECT m.ticket_id, m.search, m.received_at -- common words: the newest
                      FROM message_search m
                     WHERE v_query IS NOT NULL AND v_common_text
                       AND coalesce(m.search @@ v_query, false) AND m.message_id <= v_snap
                       AND (v_queues IS NULL OR EXISTS (
                            SELECT 1 FROM tickets t WHERE t.id = m.ticket_id
                               AND (t.queue = ANY (v_queues) OR t.assignee_id = a.id)))
                     ORDER BY m.message_id DESC LIMIT 100) m
            UNION ALL
            SELECT m.ticket_id, 'text', ts_rank(m.search, v_query, 32), m.received_at
              FROM (SELECT m.ticket_id, m.search, m.received_at -- rare ones: the index
                      FROM message_search m
                     WHERE v_query IS NOT NULL AND NOT v_common_text
                       AND m.search @@ v_query AND m.message_id + 0 <= v_snap
                       AND (v_queues IS NULL OR EXISTS (
                            SELECT 1 FROM tickets t WHERE t.id = m.ticket_id
                               AND (t.queue = ANY (v_queues) OR t.assignee_id = a.id)))
                     ORDER BY m.message_id + 0 DESC LIMIT 100) m
        ), scored AS (
            SELECT ticket_id,
                   round(max(relevance + 0.25 / (1 + greatest(extract(epoch FROM v_at - at), 0)
                                                      / 2592000))::numeric, 9) AS score,
                   (array_agg(how ORDER BY relevance DESC))[1] AS how
              FROM hits GROUP BY ticket_id
        )
        SELECT intake_ticket_brief(t) || jsonb_build_object(
                   'match', s.how, 'score', s.score, 'ticket_id', t.id,
                   'snippet', (SELECT CASE WHEN strpos(m.body, v_cjk) > 0
                                           THEN substr(m.body, greatest(1, strpos(m.body, v_cjk) - 30), 90)
                                           ELSE ts_headline('english'::regconfig, m.body, v_query,
                                                    'StartSel="", StopSel="", MaxWords=24, MinWords=10')
                                      END
                                 FROM messages m JOIN message_search s ON s.message_id = m.id
                                WHERE m.ticket_id = t.id AND m.id <= v_snap AND s.search @@ v_query
                                ORDER BY m.id + 0 DESC LIMIT 1)) -- its own, not the newest of all
          FROM scored s JOIN tickets t ON t.id = s.ticket_id
         WHERE (v_queues IS NULL OR t.queue = ANY (v_queues) OR t.assignee_id = a.id)
           AND (v_after IS NULL OR (s.score, t.id) < (v_after[3]::numeric, v_after[4]::bigint))
         ORDER BY s.score DESC, t.id DESC
         LIMIT v_limit + 1); -- one more: whether a next page exists

    RETURN intake_desk_ok(jsonb_build_object(
        'tickets', coalesce((SELECT jsonb_agg(v_rows[i] - 'score' - 'ticket_id' ORDER BY i)
                               FROM generate_subscripts(v_rows, 1) i WHERE i <= v_limit), '[]'),
        'next', CASE WHEN cardinality(v_rows) > v_limit
                     THEN v_snap || ':' || extract(epoch FROM v_at)::bigint || ':'
                          || (v_rows[v_limit]->>'score') || ':' || (v_rows[v_limit]->>'ticket_id')
                END));
END
$fn$;
