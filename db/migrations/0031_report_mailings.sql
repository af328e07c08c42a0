-- 0031: the report by mail goes to each recipient once per period, however
-- many gateways run: a mailing is this row, inserted in the same transaction
-- as its outbox row (intake_report_mail_queue), so a second gateway's insert
-- finds it and queues nothing.
CREATE TABLE report_mailings (
    period    text NOT NULL,
    recipient text NOT NULL,
    outbox_id bigint REFERENCES outbox (id) ON DELETE SET NULL,
    queued_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (period, recipient)
);
