-- Fencing tokens, dropped bodies, and pruning of processed deliveries (PostgreSQL).
-- lease_until, next_attempt_at and every *_at column are now written with the database's
-- clock (Unix microseconds), never an application host's clock.

ALTER TABLE webhook_deliveries ADD COLUMN claim_token TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN body_dropped_at BIGINT;

-- Pruning scans processed rows by age.
CREATE INDEX webhook_deliveries_processed ON webhook_deliveries (processed_at)
    WHERE status = 'processed';

