-- Reminder digests: one row per Berlin working day on which the digests were composed.
-- The scheduler composes each day's digests once, in the transaction that inserts this row;
-- the outbox's UNIQUE dedupe_key (digest:<recipient>:<date>) still guards each single mail.
CREATE TABLE digest_runs (
    day          date PRIMARY KEY,               -- Europe/Berlin local date
    composed_at  timestamptz NOT NULL,           -- the scheduler's "now" when it ran
    enqueued     integer NOT NULL DEFAULT 0,     -- outbox rows written for the day
    created_at   timestamptz NOT NULL DEFAULT now()
);
