//! Webhook routes: the dispatcher as an axum route, a verifying extractor, and a middleware.
//!
//! Three ways to receive Dodo Payments webhooks, all verifying the **raw body bytes** (never
//! a re-serialised JSON value) with a body limit (413 with a JSON error beyond it):
//!
//! - [`WebhookRoute`]: mounts a [`dodo_webhooks::Dispatcher`] (typed handlers for all event
//!   types, unknown types acknowledged with 2xx, handler-error policy, `webhook-id`
//!   deduplication) and answers its [`Outcome`](dodo_webhooks::Outcome); 405 for other
//!   methods. Handlers get the dispatcher's app state in their
//!   [`Context`](dodo_webhooks::Context).
//! - [`VerifiedWebhook`]: a body-consuming extractor (put it last) for apps that write their
//!   own handler; the [`Verifier`](dodo_webhooks::Verifier) comes from the state via
//!   `FromRef`.
//! - [`verify_webhook`]: a `middleware::from_fn_with_state` function that verifies, then
//!   puts the [`VerifiedWebhook`] in the request extensions for the inner handler.

mod extract;
mod layer;
mod route;

pub use extract::{VerifiedWebhook, WebhookRejection};
pub use layer::{WebhookGuard, verify_webhook};
pub use route::WebhookRoute;

pub use dodo_routes::DEFAULT_WEBHOOK_BODY_LIMIT;
