-- 0045: search over tickets (issue 26). Each message and each customer's name
-- keeps a tsvector of its text in a stored generated column, indexed by GIN:
-- English words by the 'english' configuration (stemmed: printers ->
-- printer), Chinese, Japanese and Korean text as overlapping two-character
-- words (bigrams: 我的发票丢了 -> 我的 的发 发票 票丢 丢了), plus the last
-- character of each run alone, so that a one-character query can be a
-- prefix of the words. Debian's PostgreSQL has no Chinese parser (zhparser,
-- pg_bigm, PGroonga); docs/desk.md ("Search") says why bigrams in a tsvector
-- rather than pg_trgm, with the figures.
--
-- A generated column rather than a trigger: PostgreSQL computes it in the
-- insert itself (no trigger call), so every path that writes a message (a
-- registration, a reply, an acknowledgement stored, an erasure rewriting the
-- text) keeps it current in the same statement. The expression cannot call a
-- function of db/functions (those are made after the migrations), so it is
-- written out here; db/functions/search.sql's intake_search_text() is the
-- same expression, for the query side and the tests, and
-- tests/integration/test_desk_search.c checks that both agree.
--
-- The CJK runs are found without capturing groups (PostgreSQL's regular
-- expressions take a much slower path with them): the runs, separated by
-- spaces, are cut into pairs from their first character ('\&' is the whole
-- match) and again from their second; a text without CJK skips all of it.

ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    CASE WHEN (coalesce(subject, '') || ' ' || body) ~ '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]'
    THEN to_tsvector('english'::regconfig,
             regexp_replace(coalesce(subject, '') || ' ' || body,
                            '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+', ' ', 'g'))
         || to_tsvector('simple'::regconfig,
             regexp_replace(' ' || regexp_replace(coalesce(subject, '') || ' ' || body,
                                                  '[^\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+', ' ', 'g'),
                            '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]{2}', '\& ', 'g')
             || regexp_replace(regexp_replace(' ' || regexp_replace(coalesce(subject, '') || ' ' || body,
                                                                    '[^\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+', ' ', 'g'),
                                              ' [\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]', ' ', 'g'),
                               '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]{2}', '\& ', 'g'))
    ELSE to_tsvector('english'::regconfig, coalesce(subject, '') || ' ' || body) END) STORED;

CREATE INDEX messages_search ON messages USING gin (search);

ALTER TABLE customers ADD COLUMN search tsvector GENERATED ALWAYS AS (
    CASE WHEN coalesce(name, '') ~ '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]'
    THEN to_tsvector('english'::regconfig,
             regexp_replace(coalesce(name, ''), '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+', ' ', 'g'))
         || to_tsvector('simple'::regconfig,
             regexp_replace(' ' || regexp_replace(coalesce(name, ''),
                                                  '[^\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+', ' ', 'g'),
                            '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]{2}', '\& ', 'g')
             || regexp_replace(regexp_replace(' ' || regexp_replace(coalesce(name, ''),
                                                                    '[^\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+', ' ', 'g'),
                                              ' [\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]', ' ', 'g'),
                               '[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]{2}', '\& ', 'g'))
    ELSE to_tsvector('english'::regconfig, coalesce(name, '')) END) STORED;

CREATE INDEX customers_search ON customers USING gin (search);

-- A phone number however it is written (138-0013-8000, (555) 123-4567, with
-- or without the country code) is the end of the E.164 number stored: the
-- reversed value's prefix.
CREATE INDEX customer_identities_phone_suffix ON customer_identities (reverse(value) text_pattern_ops)
    WHERE kind = 'phone';

-- The planner chooses between walking messages newest first and reading the
-- index by how common the words asked for are: give it their frequencies now.
ANALYZE messages (search);
ANALYZE customers (search);
