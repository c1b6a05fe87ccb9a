//! [`verify_webhook`]: middleware that verifies deliveries before the inner handler runs.
//!
//! Use it with `axum::middleware::from_fn_with_state(guard, verify_webhook)` on a route or a
//! sub-router. It buffers the body up to the [`WebhookGuard`]'s limit (413 beyond it),
//! verifies and parses it, inserts the [`VerifiedWebhook`] into the request extensions
//! (read it with `Extension<VerifiedWebhook>`), and passes the request on with the same
//! bytes as its body. Refused deliveries never reach the inner handler.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dodo_webhooks::Verifier;

use super::DEFAULT_WEBHOOK_BODY_LIMIT;
use super::extract::VerifiedWebhook;
use crate::body::read_checked;

/// The middleware's state: the verifier and the body limit.
#[derive(Debug, Clone)]
pub struct WebhookGuard {
    verifier: Verifier,
    body_limit: usize,
}

impl WebhookGuard {
    /// A guard verifying with `verifier` and the default body limit.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            body_limit: DEFAULT_WEBHOOK_BODY_LIMIT,
        }
    }

    /// Maximum body size in bytes; larger bodies get 413.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }
}

/// Middleware function: verify, put the [`VerifiedWebhook`] in the extensions, run `next`.
///
/// ```
/// use axum::{Extension, Router, middleware, routing::post};
/// use dodo_axum::{VerifiedWebhook, WebhookGuard, verify_webhook};
/// use dodo_webhooks::Verifier;
///
/// async fn hook(Extension(webhook): Extension<VerifiedWebhook>) -> String {
///     webhook.event.event_type().to_string()
/// }
///
/// let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let guard = WebhookGuard::new(verifier).body_limit(512 * 1024);
/// let app: Router = Router::new()
///     .route("/webhook", post(hook))
///     .route_layer(middleware::from_fn_with_state(guard, verify_webhook));
/// ```
pub async fn verify_webhook(
    State(guard): State<WebhookGuard>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let bytes = match read_checked(&parts.headers, body, guard.body_limit).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    let verified = match VerifiedWebhook::verify(&guard.verifier, &parts.headers, bytes.clone()) {
        Ok(v) => v,
        Err(rejection) => return rejection.into_response(),
    };
    parts.extensions.insert(verified);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
