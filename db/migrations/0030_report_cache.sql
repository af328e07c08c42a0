-- 0030: reports served from a cache (db/functions/report_serve.sql). A
-- month's report takes seconds at 200,000 tickets; the console's Reports view
-- must answer in under one. One row per report asked for (its period, time
-- zone, queue and calendar: key), with what its figures were made of
-- (fingerprint), so a report is made again only when that changed, and when
-- it was last asked for, so the poller keeps the reports people look at
-- fresh without making those nobody reads.
CREATE TABLE report_cache (
    key          text PRIMARY KEY,
    request      jsonb NOT NULL,
    report       jsonb NOT NULL,
    fingerprint  text NOT NULL,
    computed_at  timestamptz NOT NULL,
    checked_at   timestamptz NOT NULL,
    requested_at timestamptz NOT NULL
);
