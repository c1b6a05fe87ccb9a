//! Standard Webhooks verification and signing, typed Dodo Payments webhook events, and a
//! framework-free dispatcher with per-event handlers and before/after hooks.
//!
//! The pipeline is: [`Verifier::verify`] checks the signature over the exact raw body bytes
//! (several secrets for rotation, ±300 s tolerance, injectable [`Clock`]); then
//! [`WebhookEvent::parse`] turns the body into a typed [`EventPayload`] (all 48 Dodo event
//! types, unknown ones kept as raw JSON); the [`Dispatcher`] runs both and then hooks and
//! handlers, and answers with an [`Outcome`] carrying the HTTP status and JSON body an
//! adaptor should send. Nothing here depends on a web framework: headers are read through
//! the [`WebhookHeaders`] trait (with `http` 1.x and 0.2 impls behind the `http1` / `http02`
//! features) and the dispatcher uses plain boxed futures, so any async runtime works.

mod clock;
mod dispatch;
mod envelope;
mod event;
pub mod event_table;
mod event_type;
mod headers;
mod secret;
mod sign;
mod verify;

pub use clock::{Clock, ManualClock, SystemClock};
pub use dispatch::{
    Begin, BoxError, BoxFuture, Context, Dispatcher, Disposition, Flow, HandlerErrorPolicy,
    HookTarget, IdempotencyGuard, MemoryIdempotency, Outcome, OutcomeError, Stage,
};
pub use event::{EventPayload, ParseError, WebhookEvent, data};
pub use event_type::EventType;
pub use headers::WebhookHeaders;
pub use secret::{SECRET_PREFIX, SecretError, WebhookSecret};
pub use sign::SignedHeaders;
pub use verify::{DEFAULT_TOLERANCE, HeaderKind, VerifiedDelivery, Verifier, VerifyError};
