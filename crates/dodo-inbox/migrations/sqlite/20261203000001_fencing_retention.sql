-- Fencing tokens, dropped bodies, and pruning of processed deliveries (SQLite).
-- lease_until, next_attempt_at and every *_at column are now written with the database's
-- clock (Unix microseconds), never an application host's clock.

ALTER TABLE webhook_deliveries ADD COLUMN claim_token TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN body_dropped_at INTEGER;

-- Pruning scans processed rows by age.
CREATE INDEX webhook_deliveries_processed ON webhook_deliveries (processed_at)
    WHERE status = 'processed';

-- Claims walk the unfinished rows in due order, whatever the number of processed rows.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id)
    WHERE status IN ('received', 'failed', 'processing');
