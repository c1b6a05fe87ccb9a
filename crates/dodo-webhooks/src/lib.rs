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
//!
//! Verify and parse only:
//!
//! ```
//! use dodo_webhooks::{EventPayload, Verifier};
//! # fn demo(headers: &[(&str, &str)], body: &[u8]) -> Result<(), dodo_webhooks::WebhookError> {
//! let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
//! let (delivery, event) = verifier.verify_and_parse(headers, body)?; // 401 / 400 on error
//! match event.payload {
//!     EventPayload::PaymentSucceeded(payment) => println!("{} paid", payment.payment_id),
//!     EventPayload::SubscriptionPastDue(sub) => println!("{} past due", sub.subscription_id),
//!     other => println!("{} ignored ({})", other.type_str(), delivery.id),
//! }
//! # Ok(()) }
//! ```
//!
//! With the dispatcher (an adaptor answers with `outcome.status` and `outcome.body`):
//!
//! ```
//! use dodo_webhooks::{Dispatcher, Flow, MemoryIdempotency, Verifier};
//!
//! #[derive(Clone)]
//! struct App; // e.g. a database pool
//!
//! # async fn demo(headers: Vec<(String, String)>, body: Vec<u8>) {
//! let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
//! let dispatcher = Dispatcher::new(verifier, App)
//!     .idempotency(MemoryIdempotency::new())
//!     .before("payments", |_ctx, event| async move { Ok(Flow::next(event)) })
//!     .on_payment_succeeded(|ctx, payment| async move {
//!         println!("{} paid, delivery {}", payment.payment_id, ctx.webhook_id);
//!     })
//!     .after("*", |_ctx, outcome, _pass| async move {
//!         println!("{:?}", outcome.disposition);
//!     });
//! let outcome = dispatcher.process(&headers, &body).await;
//! let (_status, _json) = (outcome.status, outcome.body_bytes());
//! # }
//! ```

#![warn(missing_docs)]

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
mod verify_and_parse;

pub use clock::{Clock, ManualClock, SystemClock};
pub use dispatch::{
    Begin, BoxError, BoxFuture, Context, Dispatcher, Disposition, Flow, HandlerErrorPolicy,
    HandlerOutput, HookTarget, IdempotencyGuard, IntoHookTarget, MemoryIdempotency, Outcome,
    OutcomeError, Stage, UnknownHookTarget,
};
pub use event::{EventPayload, ParseError, WebhookEvent, data};
pub use event_type::EventType;
pub use headers::WebhookHeaders;
pub use secret::{SECRET_PREFIX, SecretError, WebhookSecret};
pub use sign::SignedHeaders;
pub use verify::{DEFAULT_TOLERANCE, HeaderKind, VerifiedDelivery, Verifier, VerifyError};
pub use verify_and_parse::WebhookError;
