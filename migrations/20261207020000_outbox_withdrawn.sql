-- An automatic acknowledgement still waiting in the outbox is withdrawn when staff record that
-- the case was acknowledged another way (`case ack-recorded`, the desk's "Bestätigung von Hand
-- erfasst"): the citizen gets one acknowledgement, not two. A sender never takes such a row.
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'withdrawn'));
