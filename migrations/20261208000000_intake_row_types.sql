-- The rows an intake batch writes, as composite types: the batch's statement receives each
-- table's new rows as one binary array of such a type (`unnest($n::intake_message[])`), which
-- PostgreSQL reads field by field, instead of JSON it has to lex and look up key by key. The
-- fields are the columns intake fills, in the order `store::pending` encodes them; a column
-- intake does not fill keeps its default. An older instance keeps working (it does not use them).
CREATE TYPE intake_case AS (
    id                    bigint,
    number                text,
    year                  integer,
    seq                   integer,
    channel               text,
    received_at           timestamptz,
    suggested_kind        text,
    suggested_topics      text[],
    kind                  text,
    organisation          text,
    category              text,
    third_party           boolean,
    rule_id               text,
    ruleset_version       text,
    rule_evidence         jsonb,
    review_reason         text,
    possible_duplicate_of bigint,
    ack_due               date,
    due_unshifted         date,
    due                   date,
    ack_status            text,
    ack_detail            text
);

CREATE TYPE intake_message AS (
    id           bigint,
    case_id      bigint,
    role         text,
    message_id   text,
    content_hash text,
    channel      text,
    uidvalidity  bigint,
    uid          bigint,
    received_at  timestamptz,
    date_header  timestamptz,
    date_raw     text,
    from_addr    text,
    from_name    text,
    reply_to     text[],
    to_addrs     text[],
    cc_addrs     text[],
    subject      text,
    in_reply_to  text[],
    refs         text[],
    auto_class   text,
    text_body    text,
    raw          bytea,
    size         integer,
    has_html     boolean
);

CREATE TYPE intake_event AS (
    case_id   bigint,
    actor     text,
    stated_by text,
    action    text,
    old_value text,
    new_value text,
    detail    text
);

CREATE TYPE intake_outbox AS (
    id         bigint,
    kind       text,
    case_id    bigint,
    recipient  text,
    message_id text,
    dedupe_key text,
    raw        bytea
);
