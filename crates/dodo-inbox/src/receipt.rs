//! What [`Inbox::receive`](crate::Inbox::receive) answers.
//!
//! A [`Receipt`] carries the HTTP status to send, what happened, and the JSON body: on
//! success `{"received": true, "id", "type", "status"}`, on failure
//! `{"error": {"code", "message"}}` with a stable code and a public message (internal
//! details are kept in [`ReceiptError::detail`] for logs and never sent).

use serde_json::{Value, json};

/// What happened to a received delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReceiptKind {
    /// Verified and committed to the database; a worker will process it (200).
    Stored,
    /// This `webhook-id` was already stored (200; nothing stored or run again).
    Duplicate,
    /// Inline mode: stored and processed successfully (200).
    Processed,
    /// Inline mode: stored, every allowed attempt failed, now a dead letter (200: Dodo
    /// retrying would not help; replay it after fixing the cause).
    DeadLettered,
    /// Inline mode: stored, the handler failed, a retry is scheduled (500 so Dodo also
    /// retries).
    Failed,
    /// Correctly signed but not a webhook envelope: stored as unparseable for inspection
    /// and replay (200, so Dodo does not retry it for days).
    Unparseable,
    /// Refused: too large (413), bad signature (401), or the store failed (500).
    Rejected,
}

impl ReceiptKind {
    /// Lower-case name used in response bodies, e.g. `stored`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::Stored => "stored",
            ReceiptKind::Duplicate => "duplicate",
            ReceiptKind::Processed => "processed",
            ReceiptKind::DeadLettered => "dead_letter",
            ReceiptKind::Failed => "failed",
            ReceiptKind::Unparseable => "unparseable",
            ReceiptKind::Rejected => "rejected",
        }
    }
}

/// Why a delivery was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptError {
    /// Stable machine-readable code, sent in the body (e.g. `invalid_signature`).
    pub code: &'static str,
    /// Public message, sent in the body.
    pub message: String,
    /// Internal detail for logs; never sent.
    pub detail: String,
}

/// The answer to one received delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// HTTP status to answer with.
    pub status: u16,
    /// What happened.
    pub kind: ReceiptKind,
    /// The `webhook-id`, once verified.
    pub webhook_id: Option<String>,
    /// The event type, once parsed.
    pub event_type: Option<String>,
    /// The error for non-2xx answers.
    pub error: Option<ReceiptError>,
}

impl Receipt {
    pub(crate) fn ok(kind: ReceiptKind, webhook_id: &str, event_type: &str) -> Self {
        Self {
            status: 200,
            kind,
            webhook_id: Some(webhook_id.to_owned()),
            event_type: Some(event_type.to_owned()),
            error: None,
        }
    }

    pub(crate) fn rejected(
        status: u16,
        code: &'static str,
        message: &str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind: ReceiptKind::Rejected,
            webhook_id: None,
            event_type: None,
            error: Some(ReceiptError {
                code,
                message: message.to_owned(),
                detail: detail.into(),
            }),
        }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The JSON body to answer with.
    pub fn body(&self) -> Value {
        match &self.error {
            Some(e) => json!({ "error": { "code": e.code, "message": e.message } }),
            None => json!({
                "received": true,
                "id": self.webhook_id,
                "type": self.event_type,
                "status": self.kind.as_str(),
            }),
        }
    }

    /// The body as JSON bytes.
    pub fn body_bytes(&self) -> Vec<u8> {
        self.body().to_string().into_bytes()
    }
}
