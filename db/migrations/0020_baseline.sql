-- 0020: the schema as nineteen migrations had made it, in one file.
--
-- Tables, domains, sequences, indexes and seed rows only: every function
-- lives in db/functions/, one current version each, applied after the
-- migrations whenever a file changes (src/migrate.c). A database made by the
-- old migrations (schema version 18 or 19) has all of this already; migrate
-- records this one as applied there instead of running it, and the upgrade
-- test (tests/integration/test_migrate_upgrade.c) checks that such a database
-- ends with the same schema as a new one. Numbering goes on from the old
-- migrations so that versions only grow.
--
-- The value checks of the tables every contact writes are domains: a
-- domain's check is planned once per connection and a statement checks only
-- the columns it writes, where a table CHECK is prepared again in every
-- statement (about 9 % of a call event's backend time).

CREATE DOMAIN intake_direction AS text CHECK (VALUE IN ('in', 'out'));
CREATE DOMAIN intake_language AS text CHECK (VALUE IN ('zh', 'en'));
CREATE DOMAIN intake_ticket_status AS text
    CHECK (VALUE IN ('new', 'open', 'pending', 'resolved', 'closed'));
CREATE DOMAIN intake_priority AS text CHECK (VALUE IN ('urgent', 'important', 'normal'));
CREATE DOMAIN intake_escalation_level AS smallint CHECK (VALUE BETWEEN 1 AND 3);
CREATE DOMAIN intake_outbox_status AS text
    CHECK (VALUE IN ('pending', 'sending', 'sent', 'skipped', 'failed'));
CREATE DOMAIN intake_call_state AS text
    CHECK (VALUE IN ('unknown', 'ringing', 'answered', 'ended', 'missed', 'forwarded'));
CREATE DOMAIN intake_seconds AS integer CHECK (VALUE >= 0);
CREATE DOMAIN intake_identity_kind AS text CHECK (VALUE IN ('email', 'phone', 'chat'));

-- Readable numbers (intake_number(): the prefix and at least six digits).
CREATE SEQUENCE customer_number_seq;
CREATE SEQUENCE ticket_number_seq;

CREATE TABLE queues (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9_-]{1,31}$'),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO queues (name, description) VALUES
    ('presales',   'product and price questions before a sale'),
    ('orders',     'orders, delivery, invoices, returns'),
    ('technical',  'faults and usage questions'),
    ('complaints', 'complaints, handled by supervisors'),
    ('general',    'everything not classified, callbacks, suggestions');

CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number      text NOT NULL UNIQUE,
    name        text,
    company     text,
    industry    text,
    language    intake_language,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One identity (an email address, a phone number, a chat id) belongs to one
-- customer. The form of a value depends on its kind, so that rule stays a
-- table check.
CREATE TABLE customer_identities (
    kind        intake_identity_kind NOT NULL,
    value       text NOT NULL,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value),
    CONSTRAINT customer_identities_value_form CHECK (CASE kind
        WHEN 'email' THEN value = lower(value)
        WHEN 'phone' THEN value ~ '^\+[1-9][0-9]{6,14}$'
        ELSE true END)
);
CREATE INDEX customer_identities_customer ON customer_identities (customer_id);

-- stream_id: the agent's own live session, their stream of numbered events
-- (resume and cross-node pushes work as for a chat customer); its foreign
-- key follows live_sessions below.
CREATE TABLE agents (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL,
    email            text UNIQUE,
    role             text NOT NULL DEFAULT 'agent' CHECK (role IN ('agent', 'lead', 'supervisor')),
    online           boolean NOT NULL DEFAULT false,
    token_hash       text UNIQUE,
    last_assigned_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    capacity         int NOT NULL DEFAULT 10 CHECK (capacity BETWEEN 0 AND 10000),
    presence         text NOT NULL DEFAULT 'offline' CHECK (presence IN ('online', 'away', 'offline')),
    presence_at      timestamptz,
    stream_id        bigint UNIQUE,
    disabled_at      timestamptz
);

CREATE TABLE agent_queues (
    agent_id bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    queue    text NOT NULL REFERENCES queues (name),
    PRIMARY KEY (queue, agent_id)
);

-- fillfactor: room on each page for the updates a ticket's life makes
-- (status, deadlines met), so they stay on their page (HOT).
CREATE TABLE tickets (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number                text NOT NULL UNIQUE,
    customer_id           bigint NOT NULL REFERENCES customers (id),
    status                intake_ticket_status NOT NULL DEFAULT 'new',
    channel               text NOT NULL,
    subject               text,
    summary               text,
    product               text,
    category              text NOT NULL,
    priority              intake_priority NOT NULL,
    escalation_level      intake_escalation_level NOT NULL DEFAULT 1,
    queue                 text NOT NULL REFERENCES queues (name),
    assignee_id           bigint REFERENCES agents (id),
    language              intake_language NOT NULL,
    first_response_due_at timestamptz NOT NULL,
    handling_due_at       timestamptz NOT NULL,
    resolution_due_at     timestamptz NOT NULL,
    first_responded_at    timestamptz,
    handling_started_at   timestamptz,
    resolved_at           timestamptz,
    closed_at             timestamptz,
    solution              text,
    result                text,
    customer_confirmed_at timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 85);
CREATE INDEX tickets_customer ON tickets (customer_id);
CREATE INDEX tickets_assignee_open ON tickets (assignee_id)
    WHERE status IN ('new', 'open', 'pending');
-- A customer's open tickets, newest first (the caller's open ticket).
CREATE INDEX tickets_customer_open ON tickets (customer_id, id)
    WHERE status IN ('new', 'open', 'pending');
-- Unassigned work waiting for someone of its queue to come online.
CREATE INDEX tickets_waiting ON tickets (queue, created_at)
    WHERE assignee_id IS NULL AND status IN ('new', 'open', 'pending');
-- Open clocks by due time, for the SLA scanner.
CREATE INDEX tickets_open_first_response ON tickets (first_response_due_at)
    WHERE status IN ('new', 'open') AND first_responded_at IS NULL;
CREATE INDEX tickets_open_resolution ON tickets (resolution_due_at)
    WHERE status IN ('new', 'open', 'pending');

CREATE TABLE messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id       bigint NOT NULL REFERENCES tickets (id),
    direction       intake_direction NOT NULL,
    channel         text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    external_ref    text,
    sender_name     text,
    sender_address  text,
    subject         text,
    body            text NOT NULL DEFAULT '',
    cc              text[],  -- addresses copied on an email; they may reply on the ticket
    language        text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_ticket ON messages (ticket_id);
CREATE INDEX messages_external_ref ON messages (external_ref) WHERE external_ref IS NOT NULL;

-- The message exactly as it arrived (an email's RFC 5322 bytes), kept apart
-- from messages so that listing a ticket's messages never reads it.
CREATE TABLE message_sources (
    message_id bigint PRIMARY KEY,
    raw        bytea NOT NULL
);

CREATE TABLE attachments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id   bigint NOT NULL REFERENCES messages (id),
    filename     text,
    content_type text NOT NULL DEFAULT 'application/octet-stream',
    size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
    sha256       bytea NOT NULL CHECK (length(sha256) = 32),
    content      bytea,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_message ON attachments (message_id);

-- The ticket's timeline: created, message, reopened, assigned, escalated, resolved ...
CREATE TABLE ticket_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  bigint NOT NULL REFERENCES tickets (id),
    kind       text NOT NULL,
    actor      text NOT NULL DEFAULT 'system',
    detail     jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id);

-- Everything sent out. A row is written in the registering transaction and
-- delivered later; dedupe_key makes "at most once per idempotency key" a
-- constraint. 'sending' rows carry a lease in next_attempt_at and return to
-- the pool when it expires.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL,
    channel         text,
    ticket_id       bigint REFERENCES tickets (id),
    message_id      bigint REFERENCES messages (id),
    dedupe_key      text NOT NULL UNIQUE,
    payload         jsonb NOT NULL,
    status          intake_outbox_status NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
-- Agent notifications are published in bulk and the rest are delivered one
-- by one; separate due-lists keep either from scanning past the other's backlog.
CREATE INDEX outbox_due ON outbox (next_attempt_at)
    WHERE status IN ('pending', 'sending') AND kind <> 'agent_notify';
CREATE INDEX outbox_agent_due ON outbox (next_attempt_at)
    WHERE status IN ('pending', 'sending') AND kind = 'agent_notify';
-- Acknowledgements sent to one address in the last hour (per-sender ack limit).
CREATE INDEX outbox_ack_recipient ON outbox ((payload->>'reply_handle'), sent_at)
    WHERE kind = 'ack' AND status = 'sent';

-- A phone call: a conversation reported by several webhook events, which
-- phone systems send late, twice or out of order. States only move forward
-- (ringing < answered < an end state); call_events makes every event
-- idempotent by its key.
CREATE TABLE calls (
    provider      text NOT NULL,
    call_id       text NOT NULL,
    direction     intake_direction NOT NULL DEFAULT 'in',
    from_number   text,
    to_number     text,
    caller_name   text,
    state         intake_call_state NOT NULL,
    cause         text,
    started_at    timestamptz,
    answered_at   timestamptz,
    ended_at      timestamptz,
    duration_s    intake_seconds,
    recording_url text,
    transcript    text,
    ticket_id     bigint REFERENCES tickets (id),
    events        integer NOT NULL DEFAULT 0,
    last_event_at timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, call_id)
);
-- Calls still waiting for their end, oldest first (the stale-call sweep).
CREATE INDEX calls_unfinished ON calls (last_event_at) WHERE state IN ('unknown', 'ringing', 'answered');

CREATE TABLE call_events (
    event_key   text PRIMARY KEY,
    provider    text NOT NULL,
    call_id     text NOT NULL,
    kind        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Live sessions: a conversation held open from one browser (the web chat),
-- or an agent's stream. Everything its reader should see is an event with a
-- number (1, 2, 3 ... per session), so a client that reconnects asks for the
-- events after the last one it saw and gets exactly those, none twice.
-- fillfactor: every event updates its session's row (last_seq).
CREATE TABLE live_sessions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash     bytea NOT NULL UNIQUE, -- SHA-256 of the token only the browser keeps
    visitor        text NOT NULL UNIQUE,  -- the customer's chat identity, 'v-...'
    channel        text NOT NULL,
    name           text,
    email          text,
    phone          text,
    language       text,
    origin         text,
    ticket_id      bigint REFERENCES tickets (id),
    last_seq       bigint NOT NULL DEFAULT 0,
    agent_answered boolean NOT NULL DEFAULT false,
    left_at        timestamptz, -- the customer ended the conversation
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 70);
CREATE INDEX live_sessions_ticket ON live_sessions (ticket_id) WHERE ticket_id IS NOT NULL;

ALTER TABLE agents ADD CONSTRAINT agents_stream_id_fkey
    FOREIGN KEY (stream_id) REFERENCES live_sessions (id);

CREATE TABLE session_events (
    session_id bigint NOT NULL REFERENCES live_sessions (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    client_id  text, -- the client's id for a message it sent; one event per id
    event      jsonb NOT NULL, -- {"type": ...} as the client sees it, without seq
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, seq)
);
CREATE UNIQUE INDEX session_events_client ON session_events (session_id, client_id)
    WHERE client_id IS NOT NULL;

-- Clocks found breached, one row per ticket, clock and escalation level, so
-- a breach escalates once however often the scanner runs.
CREATE TABLE sla_breaches (
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    clock       text NOT NULL CHECK (clock IN ('first_response', 'handling', 'resolution')),
    level       smallint NOT NULL,
    due_at      timestamptz NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_id, clock, level)
);

CREATE TABLE surveys (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id             bigint NOT NULL REFERENCES tickets (id),
    token_hash            bytea NOT NULL UNIQUE, -- SHA-256 of the token in the link
    language              text NOT NULL CHECK (language IN ('zh', 'en')),
    created_at            timestamptz NOT NULL DEFAULT now(),
    expires_at            timestamptz NOT NULL,
    superseded_at         timestamptz, -- a later resolution sent a newer survey
    answered_at           timestamptz,
    response_speed        smallint CHECK (response_speed BETWEEN 1 AND 5),
    resolution_efficiency smallint CHECK (resolution_efficiency BETWEEN 1 AND 5),
    attitude              smallint CHECK (attitude BETWEEN 1 AND 5),
    professionalism       smallint CHECK (professionalism BETWEEN 1 AND 5),
    overall               smallint CHECK (overall BETWEEN 1 AND 5),
    comment               text
);
CREATE INDEX surveys_ticket ON surveys (ticket_id);

-- A task opened by an unhappy answer (any rating <= 3), for the supervisors.
CREATE TABLE followups (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  bigint NOT NULL REFERENCES tickets (id),
    survey_id  bigint UNIQUE REFERENCES surveys (id),
    queue      text NOT NULL REFERENCES queues (name),
    reason     text NOT NULL,
    due_at     timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    closed_at  timestamptz,
    closed_by  text,
    outcome    text
);
CREATE INDEX followups_open ON followups (due_at) WHERE closed_at IS NULL;

-- Every open agent stream socket, whichever gateway holds it, renewed by its
-- gateway every third of its lease and swept by any gateway's poller after
-- it; the agent goes offline when their last row goes.
CREATE TABLE agent_streams (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id   bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    lease_s    int NOT NULL CHECK (lease_s > 0),
    opened_at  timestamptz NOT NULL DEFAULT now(),
    renewed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_streams_of_agent ON agent_streams (agent_id);

-- When the last sweep ran (any gateway's), so sweeping starts over after a
-- gap (an outage) instead of sweeping every stream at once.
CREATE TABLE agent_stream_sweeps (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_at timestamptz NOT NULL, -- the last sweep, by any gateway
    since   timestamptz NOT NULL  -- when sweeping last started over after a gap
);
