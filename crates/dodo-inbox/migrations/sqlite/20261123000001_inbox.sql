-- Durable webhook inbox and local mirror of Dodo objects (SQLite).
-- All *_at columns are Unix microseconds; webhook_timestamp is Unix seconds.

CREATE TABLE webhook_deliveries (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id        TEXT    NOT NULL UNIQUE,
    event_type        TEXT    NOT NULL,
    business_id       TEXT    NOT NULL,
    event_timestamp   INTEGER NOT NULL,
    webhook_timestamp INTEGER NOT NULL,
    headers           TEXT    NOT NULL,
    raw_body          BLOB    NOT NULL,
    received_at       INTEGER NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'received',
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    claimed_by        TEXT,
    lease_until       INTEGER,
    last_error        TEXT,
    disposition       TEXT,
    after_error       TEXT,
    processed_at      INTEGER,
    replay_count      INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX webhook_deliveries_ready ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_type ON webhook_deliveries (event_type, id);

CREATE TABLE dodo_objects (
    kind              TEXT    NOT NULL,
    id                TEXT    NOT NULL,
    data              TEXT    NOT NULL,
    customer_id       TEXT,
    status            TEXT,
    source_event_at   INTEGER NOT NULL,
    source_updated_at INTEGER,
    source_webhook_id TEXT    NOT NULL,
    source_event_type TEXT    NOT NULL,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE INDEX dodo_objects_customer ON dodo_objects (kind, customer_id);
