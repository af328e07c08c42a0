-- 0045: search over tickets (issue 26). Each message's text has a tsvector
-- in message_search, and each customer's name one in a stored generated
-- column, both indexed by GIN: English words by the 'english' configuration
-- (stemmed: printers -> printer), Chinese, Japanese and Korean text as
-- overlapping two-character words (bigrams: 我的发票丢了 -> 我的 的发 发票 票丢
-- 丢了), plus the last character of each run alone, so that a one-character
-- query can be a prefix of the words. Debian's PostgreSQL has no Chinese
-- parser (zhparser, pg_bigm, PGroonga); docs/desk.md ("Search") says why
-- bigrams in a tsvector rather than pg_trgm, with the figures.
--
-- Messages are indexed after their registration, not in it: the gateway's
-- outbox dispatcher calls intake_search_catch_up() after each of its passes
-- (it is kicked by every registration), so a message is found within a
-- fraction of a second, and registration, which one worker runs back to
-- back, pays nothing (the tsvector and the GIN insert cost it ~30 % when they
-- were a generated column). A rewritten text (an erasure) is indexed again
-- by a trigger, and a deleted message's row goes by one. Customers'
-- names stay a generated column: short, and written only for new customers.
-- The expressions cannot call a function of db/functions (those are made
-- after the migrations), so they are written out here; search.sql's
-- intake_search_text() is the same expression, and
-- tests/integration/test_desk_search.c checks that both agree.
--
-- The CJK runs are found without capturing groups (PostgreSQL's regular
-- expressions take a much slower path with them): the runs, separated by
-- spaces, are cut into pairs from their first character ('\&' is the whole
-- match) and again from their second; a text without CJK skips all of it.

CREATE TABLE message_search (
    message_id  bigint PRIMARY KEY, -- no foreign key: its check would lock each message row
    ticket_id   bigint NOT NULL,
    received_at timestamptz NOT NULL,
    search      tsvector NOT NULL
);
INSERT INTO message_search (message_id, ticket_id, received_at, search)
SELECT id, ticket_id, received_at,
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
    ELSE to_tsvector('english'::regconfig, coalesce(subject, '') || ' ' || body) END
  FROM messages;
CREATE INDEX message_search_words ON message_search USING gin (search);

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
ANALYZE message_search;
ANALYZE customers (search);
