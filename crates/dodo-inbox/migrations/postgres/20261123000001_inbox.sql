-- Durable webhook inbox and local mirror of Dodo objects (PostgreSQL).
-- All *_at columns are Unix microseconds; webhook_timestamp is Unix seconds.

CREATE TABLE webhook_deliveries (
    id                BIGSERIAL PRIMARY KEY,
    webhook_id        TEXT      NOT NULL UNIQUE,
    event_type        TEXT      NOT NULL,
    business_id       TEXT      NOT NULL,
    event_timestamp   BIGINT    NOT NULL,
    webhook_timestamp BIGINT    NOT NULL,
    headers           TEXT      NOT NULL,
    raw_body          BYTEA     NOT NULL,
    received_at       BIGINT    NOT NULL,
    status            TEXT      NOT NULL DEFAULT 'received',
    attempts          BIGINT    NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT    NOT NULL,
    claimed_by        TEXT,
    lease_until       BIGINT,
    last_error        TEXT,
    disposition       TEXT,
    after_error       TEXT,
    processed_at      BIGINT,
    replay_count      BIGINT    NOT NULL DEFAULT 0
);

-- Only unfinished rows are ever scanned by workers.
CREATE INDEX webhook_deliveries_ready ON webhook_deliveries (next_attempt_at, id)
    WHERE status IN ('received', 'failed', 'processing');
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, id);
CREATE INDEX webhook_deliveries_type ON webhook_deliveries (event_type, id);

CREATE TABLE dodo_objects (
    kind              TEXT   NOT NULL,
    id                TEXT   NOT NULL,
    data              JSONB  NOT NULL,
    customer_id       TEXT,
    status            TEXT,
    source_event_at   BIGINT NOT NULL,
    source_updated_at BIGINT,
    source_webhook_id TEXT   NOT NULL,
    source_event_type TEXT   NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE INDEX dodo_objects_customer ON dodo_objects (kind, customer_id);
