-- Retries of quarantined mails queued in the desk (which holds no IMAP secret). The daemon
-- carries them out on its next pass, holding the intake lock, with the code of
-- `quarantine retry`, and records the outcome with a German reason.
CREATE TABLE quarantine_retries (
    id             bigserial PRIMARY KEY,
    quarantine_id  bigint NOT NULL REFERENCES quarantine (id) ON DELETE CASCADE,
    requested_by   text NOT NULL,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    state          text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'failed')),
    done_at        timestamptz,
    reason         text
);
-- One queued retry per quarantined mail at a time.
CREATE UNIQUE INDEX quarantine_retries_one_queued ON quarantine_retries (quarantine_id)
    WHERE state = 'queued';
