-- Retention: server copies of purged cases that are still to be deleted on the IMAP server.
-- The database side of a purge commits first (one transaction per case, together with its
-- deletion_log row); the IMAP side follows and is retried on every run until it is done.
-- A row holds technical identifiers only (Message-ID, content hash, size), never content.
CREATE TABLE purge_imap_pending (
    id            bigserial PRIMARY KEY,
    case_number   text NOT NULL,
    -- which configured folder: 'processed' or 'quarantine' (resolved at run time, so a renamed
    -- folder in the configuration is followed)
    folder        text NOT NULL CHECK (folder IN ('processed', 'quarantine')),
    message_id    text,                         -- with angle brackets; NULL: found by size + hash
    content_hash  text,                         -- a copy is deleted only when its hash matches
    size          integer,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX purge_imap_pending_case ON purge_imap_pending (case_number);

CREATE INDEX deletion_log_case ON deletion_log (case_number);
-- Retention candidates: closed cases not yet purged.
CREATE INDEX cases_retention ON cases (closed_at) WHERE purged_at IS NULL;
