//! Errors of the inbox's storage operations.
//!
//! Receiving a webhook never returns an error (every problem becomes a
//! [`Receipt`](crate::Receipt) with an HTTP status); the storage, replay and mirror APIs
//! return [`InboxError`].

/// An error from the inbox database or its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InboxError {
    /// The database URL is not a `sqlite:` or `postgres:` URL, or cannot be parsed.
    #[error("unsupported or invalid database URL: {0}")]
    InvalidUrl(String),
    /// A database operation failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Running the bundled migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// No delivery with this `webhook-id` is stored.
    #[error("no stored delivery with webhook-id {0}")]
    NotFound(String),
    /// The delivery is being processed right now and cannot be replayed.
    #[error("delivery {0} is being processed; try again after it finishes")]
    Busy(String),
    /// A stored object or delivery could not be decoded.
    #[error("stored {what} could not be decoded: {source}")]
    Decode {
        /// What was being decoded (e.g. `subscription sub_123`).
        what: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// Writing command output failed.
    #[error("output error: {0}")]
    Io(#[from] std::io::Error),
    /// The delivery's body was dropped after processing (retention), so it cannot be
    /// replayed.
    #[error("the body of delivery {0} was dropped after processing; it cannot be replayed")]
    BodyDropped(String),
    /// [`DeliveryTx::postgres`](crate::DeliveryTx::postgres) or
    /// [`DeliveryTx::sqlite`](crate::DeliveryTx::sqlite) was called on the other backend.
    /// The field names the backend actually in use (`sqlite` or `postgres`).
    #[error("the inbox database is {0}, not the backend asked for")]
    WrongBackend(&'static str),
    /// The attempt that owned this [`DeliveryTx`](crate::DeliveryTx) is over (committed,
    /// rolled back, timed out or lease lost); nothing more can be written in it.
    #[error("the transaction of delivery {0} is closed: its attempt is over")]
    TransactionClosed(String),
    /// A stored column holds a value this version does not understand.
    #[error("unexpected stored value: {0}")]
    Corrupt(String),
}
