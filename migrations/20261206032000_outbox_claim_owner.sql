-- A claimed outbox row names its sender: `claimed_by` is a token whose session-level advisory
-- lock (two-key form, class `krm-intake:outbox`) the sending process holds on a dedicated
-- connection. When that process dies, PostgreSQL ends its session and the lock is gone, so
-- another sender may take the row over at once instead of waiting for `locked_until`.
-- `locked_until` stays as the lease for rows claimed by a sender without a token.
ALTER TABLE outbox ADD COLUMN claimed_by integer;
