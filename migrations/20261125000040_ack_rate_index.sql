-- The hourly acknowledgement cap counts recent rows of one address: index exactly that, so the
-- count reads one address's last hour instead of every acknowledgement ever enqueued.
-- `recipient` holds the normalised (lower-case) address.
CREATE INDEX outbox_ack_recipient_created ON outbox (recipient, created_at) WHERE kind = 'ack';
