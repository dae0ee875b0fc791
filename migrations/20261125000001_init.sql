-- krm-intake schema: cases, their messages, the outbox, quarantine, audit and retention records.
-- Identity and exactly-once guarantees rest on the unique keys here, not on process state.

CREATE TABLE mailbox_state (
    channel      text PRIMARY KEY,          -- configured name of the mailbox, e.g. 'ombudsstelle'
    folder       text NOT NULL,
    uidvalidity  bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Gapless, sequential case numbers per year of receipt (Europe/Berlin).
CREATE TABLE case_number_seq (
    year  integer PRIMARY KEY,
    last  integer NOT NULL
);

CREATE TABLE cases (
    id               bigserial PRIMARY KEY,
    number           text NOT NULL UNIQUE,              -- KRM-2026-00042
    year             integer NOT NULL,
    seq              integer NOT NULL,
    channel          text NOT NULL,                     -- mailbox name, or brief/telefon/persoenlich/...
    received_at      timestamptz NOT NULL,              -- IMAP INTERNALDATE, or staff-entered
    status           text NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'on_hold', 'closed', 'discarded', 'merged')),
    -- classification: suggestions from the rules, confirmed values from staff
    suggested_kind   text CHECK (suggested_kind IN ('beschwerde', 'anregung', 'lob')),
    suggested_topics text[] NOT NULL DEFAULT '{}',
    kind             text CHECK (kind IN ('beschwerde', 'anregung', 'lob')),
    topics           text[] NOT NULL DEFAULT '{}',
    justified        boolean,
    -- sender organisation (third-party hint)
    organisation     text,
    category         text,
    third_party      boolean NOT NULL DEFAULT false,
    rule_id          text,
    ruleset_version  text,
    rule_evidence    jsonb,
    third_party_manual boolean NOT NULL DEFAULT false,
    assignee         text,
    -- flags for staff
    review_reason    text,                              -- e.g. 'bulk': marked for staff to check
    possible_duplicate_of bigint REFERENCES cases(id),
    -- deadlines (dates are Europe/Berlin, the last allowed day)
    ack_due          date NOT NULL,
    due_unshifted    date NOT NULL,
    due              date NOT NULL,
    hold_since       timestamptz,
    held_days        integer NOT NULL DEFAULT 0,
    ack_status       text NOT NULL DEFAULT 'pending'
                     CHECK (ack_status IN ('pending', 'sent', 'failed', 'suppressed', 'not_delivered', 'manual', 'none')),
    ack_sent_at      timestamptz,
    ack_detail       text,
    closed_at        timestamptz,
    answered_on      date,
    discard_reason   text,
    merged_into      bigint REFERENCES cases(id),
    purged_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (year, seq)
);
CREATE INDEX cases_status_due ON cases (status, due);
CREATE INDEX cases_received ON cases (received_at);

CREATE TABLE messages (
    id            bigserial PRIMARY KEY,
    case_id       bigint NOT NULL REFERENCES cases(id),
    role          text NOT NULL CHECK (role IN ('initial', 'followup', 'auto_reply', 'bounce')),
    message_id    text,                                 -- with angle brackets
    content_hash  text NOT NULL,
    channel       text NOT NULL,
    uidvalidity   bigint,
    uid           bigint,
    received_at   timestamptz NOT NULL,
    date_header   timestamptz,
    date_raw      text,
    from_addr     text,
    from_name     text,
    reply_to      text[] NOT NULL DEFAULT '{}',
    to_addrs      text[] NOT NULL DEFAULT '{}',
    cc_addrs      text[] NOT NULL DEFAULT '{}',
    subject       text,
    in_reply_to   text[] NOT NULL DEFAULT '{}',
    refs          text[] NOT NULL DEFAULT '{}',
    auto_class    text NOT NULL DEFAULT 'none',
    text_body     text,
    raw           bytea,
    size          integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- A mail's identity: Message-ID plus content hash without trace headers.
CREATE UNIQUE INDEX messages_identity ON messages (coalesce(message_id, ''), content_hash);
CREATE INDEX messages_message_id ON messages (message_id);
CREATE INDEX messages_case ON messages (case_id);

CREATE TABLE attachments (
    id            bigserial PRIMARY KEY,
    message_id    bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    name          text,
    content_type  text NOT NULL,
    size          integer NOT NULL,
    content       bytea
);
CREATE INDEX attachments_message ON attachments (message_id);

-- Audit log and timeline in one: who changed what, when, old -> new.
CREATE TABLE case_events (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases(id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,          -- OS user, or 'krm-intake' for the daemon
    stated_by   text,                   -- --by NAME
    action      text NOT NULL,
    old_value   text,
    new_value   text,
    detail      text
);
CREATE INDEX case_events_case ON case_events (case_id, at);

-- Outgoing mail: acknowledgements and digests, rendered at enqueue.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('ack', 'digest', 'escalation')),
    case_id         bigint REFERENCES cases(id),
    recipient       text NOT NULL,
    message_id      text NOT NULL UNIQUE,
    dedupe_key      text UNIQUE,                 -- digests: one per recipient and local date
    raw             bytea NOT NULL,              -- the complete rendered message
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    last_error      text,
    last_code       text,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_recipient_sent ON outbox (recipient, sent_at) WHERE kind = 'ack';

CREATE TABLE quarantine (
    id           bigserial PRIMARY KEY,
    channel      text NOT NULL,
    uidvalidity  bigint,
    uid          bigint,
    message_id   text,
    content_hash text,
    size         integer,
    reason       text NOT NULL,
    status       text NOT NULL DEFAULT 'quarantined' CHECK (status IN ('quarantined', 'retried', 'purged')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    retried_at   timestamptz
);

CREATE TABLE deletion_log (
    id           bigserial PRIMARY KEY,
    case_number  text NOT NULL,
    deleted_at   timestamptz NOT NULL DEFAULT now(),
    what         text NOT NULL
);

-- Wakes the outbox sender on commit.
CREATE FUNCTION outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('krm_outbox', NEW.id::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_notify();
