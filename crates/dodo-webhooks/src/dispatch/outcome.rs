//! The result of processing one delivery.
//!
//! An [`Outcome`] is everything an HTTP adaptor needs to answer (status code and JSON body)
//! plus what happened, for logs and tests: the [`Disposition`], the webhook id and event
//! type when known, the handler's return value, and any error with a public message (safe to
//! send) and an internal detail (for logs only).

use serde_json::{Value, json};

use crate::event_type::EventType;

/// What the dispatcher did with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Disposition {
    /// Handlers ran and succeeded.
    Delivered,
    /// The webhook id was already processed; nothing ran.
    Duplicate,
    /// Another attempt with the same webhook id is being processed right now; nothing ran.
    InProgress,
    /// A `before` hook skipped the event; no handler ran.
    Skipped,
    /// No handler is registered for the event type (including unknown types).
    Unhandled,
    /// A hook or handler failed or panicked (see [`Outcome::error`]).
    Failed,
    /// The delivery was refused before any hook ran (bad signature, malformed body, or the
    /// idempotency store failed).
    Rejected,
}

impl Disposition {
    /// Lower-case name used in response bodies, e.g. `delivered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Delivered => "delivered",
            Disposition::Duplicate => "duplicate",
            Disposition::InProgress => "in_progress",
            Disposition::Skipped => "skipped",
            Disposition::Unhandled => "unhandled",
            Disposition::Failed => "failed",
            Disposition::Rejected => "rejected",
        }
    }
}

/// Where in the pipeline an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Signature or header verification.
    Verify,
    /// JSON / envelope / data parsing.
    Parse,
    /// The idempotency guard (`begin` or `complete`).
    Idempotency,
    /// A `before` hook.
    Before,
    /// The catch-all `on_payload` handler.
    OnPayload,
    /// The typed (or per-type) handler.
    Handler,
    /// An `after` hook.
    After,
}

/// An error recorded in an [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeError {
    /// Where it happened.
    pub stage: Stage,
    /// Stable machine-readable code, also sent in the response body.
    pub code: &'static str,
    /// Public message, also sent in the response body; never contains secrets or internals.
    pub message: String,
    /// Internal detail (error text, panic message) for logs; never sent to the caller.
    pub detail: String,
    /// Whether the failure was a panic.
    pub panicked: bool,
}

/// What to answer when a hook or handler fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HandlerErrorPolicy {
    /// Answer 500 so Dodo retries the delivery (the default).
    #[default]
    Retry,
    /// Answer 200 (the failure is recorded in the outcome and not retried by Dodo).
    Acknowledge,
}

/// The result of [`Dispatcher::process`](crate::Dispatcher::process).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Outcome {
    /// HTTP status an adaptor should answer with.
    pub status: u16,
    /// JSON body an adaptor should answer with.
    pub body: Value,
    /// What happened.
    pub disposition: Disposition,
    /// The `webhook-id`, once verified.
    pub webhook_id: Option<String>,
    /// The event type, once parsed.
    pub event_type: Option<EventType>,
    /// What the handler returned (serialised), if it returned something other than `()`.
    pub output: Option<Value>,
    /// The value a `before` hook passed along to `after` hooks, if any.
    pub pass_along: Option<Value>,
    /// The error that decided the disposition (for `Failed` and `Rejected`).
    pub error: Option<OutcomeError>,
    /// Errors that did not change the answer: `after` hook failures, a failed
    /// idempotency `complete`.
    pub warnings: Vec<OutcomeError>,
}

impl Outcome {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body serialised as JSON bytes.
    pub fn body_bytes(&self) -> Vec<u8> {
        // Serialising a `Value` cannot fail.
        serde_json::to_vec(&self.body).unwrap_or_default()
    }

    /// An outcome for a delivery refused before dispatch.
    pub(crate) fn rejected(status: u16, error: OutcomeError) -> Self {
        Self {
            status,
            body: error_body(&error),
            disposition: Disposition::Rejected,
            webhook_id: None,
            event_type: None,
            output: None,
            pass_along: None,
            error: Some(error),
            warnings: Vec::new(),
        }
    }

    /// An acknowledged outcome (`200` with a `received` body).
    pub(crate) fn acknowledged(
        disposition: Disposition,
        webhook_id: String,
        event_type: EventType,
    ) -> Self {
        Self {
            status: 200,
            body: received_body(disposition, &webhook_id, event_type.as_str()),
            disposition,
            webhook_id: Some(webhook_id),
            event_type: Some(event_type),
            output: None,
            pass_along: None,
            error: None,
            warnings: Vec::new(),
        }
    }

    /// Rebuilds the body after the disposition or status changed.
    pub(crate) fn rebuild_body(&mut self) {
        self.body = match (&self.error, self.is_success()) {
            (Some(error), false) => error_body(error),
            _ => received_body(
                self.disposition,
                self.webhook_id.as_deref().unwrap_or_default(),
                self.event_type.as_ref().map_or("", |t| t.as_str()),
            ),
        };
    }
}

fn error_body(error: &OutcomeError) -> Value {
    json!({ "error": { "code": error.code, "message": error.message } })
}

fn received_body(disposition: Disposition, id: &str, event_type: &str) -> Value {
    json!({
        "received": true,
        "id": id,
        "type": event_type,
        "status": disposition.as_str(),
    })
}
