-- Writing outbox rows costs less (issue 17, the backlog's one INSERT per batch):
-- the sender only needs waking once per writing statement, not once per row, and nothing reads
-- the notification's payload: one notification per statement.
DROP TRIGGER outbox_notify ON outbox;
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('krm_outbox', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- No query reads acknowledgements by recipient and sending time any more (the hourly cap
-- counts by creation time, index outbox_ack_recipient_created); the index was only written.
DROP INDEX outbox_recipient_sent;
