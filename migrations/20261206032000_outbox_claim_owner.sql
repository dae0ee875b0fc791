-- A claimed outbox row names its sender: `claimed_by` is a random token whose session-level
-- advisory lock (two-key form: class 1263684943 = "KRMO", then the token) the sending process
-- holds on a dedicated connection. When that process dies, PostgreSQL ends its session and the
-- lock is gone, so another sender may take the row over at once instead of waiting for
-- `locked_until`, which stays as the lease for rows claimed without a token.
ALTER TABLE outbox ADD COLUMN claimed_by integer;
