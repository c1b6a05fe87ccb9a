//! [`VerifiedWebhook`]: a body-consuming extractor yielding a verified, parsed delivery.
//!
//! It reads the raw body with axum's `Bytes` extractor (so `DefaultBodyLimit` applies; the
//! default is 2 MB, raise or lower it per route), verifies headers and bytes with the
//! [`Verifier`] taken from the state via [`FromRef`], then parses the event. Failures are a
//! [`WebhookRejection`] answered as JSON with a stable code and no internal detail.

use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRef, FromRequest, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dodo_webhooks::{ParseError, VerifiedDelivery, Verifier, VerifyError, WebhookEvent};

use crate::error::{RouteError, to_axum};

/// A delivery whose signature checked out, with its parsed event and raw body.
///
/// ```
/// use axum::{Router, extract::FromRef, routing::post};
/// use dodo_axum::VerifiedWebhook;
/// use dodo_webhooks::{EventPayload, Verifier};
///
/// #[derive(Clone)]
/// struct AppState { verifier: Verifier }
/// impl FromRef<AppState> for Verifier {
///     fn from_ref(s: &AppState) -> Verifier { s.verifier.clone() }
/// }
///
/// async fn hook(webhook: VerifiedWebhook) -> &'static str {
///     if let EventPayload::PaymentSucceeded(payment) = &webhook.event.payload {
///         println!("{} paid (delivery {})", payment.payment_id, webhook.delivery.id);
///     }
///     "ok"
/// }
///
/// let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let app: Router = Router::new()
///     .route("/webhook", post(hook))
///     .with_state(AppState { verifier });
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedWebhook {
    /// What verification established (`webhook-id`, `webhook-timestamp`).
    pub delivery: VerifiedDelivery,
    /// The parsed event (unknown types are [`dodo_webhooks::EventPayload::Unknown`]).
    pub event: WebhookEvent,
    /// The exact bytes that were verified.
    pub body: Bytes,
}

impl VerifiedWebhook {
    /// Verifies `body` against `headers` with `verifier` and parses it.
    pub fn verify(
        verifier: &Verifier,
        headers: &axum::http::HeaderMap,
        body: Bytes,
    ) -> Result<Self, WebhookRejection> {
        let (delivery, event) = dodo_routes::webhook::verify(verifier, headers, &body)
            .map_err(WebhookRejection::from)?;
        Ok(Self {
            delivery,
            event,
            body,
        })
    }
}

/// Why a webhook request was refused before any handler ran.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The body is larger than the limit (413).
    PayloadTooLarge,
    /// The body could not be read (400).
    BodyRead,
    /// The signature or its headers did not verify (401).
    Verify(VerifyError),
    /// The verified body is not a webhook event (400).
    Parse(ParseError),
}

impl WebhookRejection {
    /// The JSON error this rejection is answered with.
    pub fn to_route_error(&self) -> RouteError {
        use dodo_routes::webhook as core;
        match self {
            WebhookRejection::PayloadTooLarge => core::too_large().into(),
            WebhookRejection::BodyRead => dodo_routes::body_read_failed().into(),
            WebhookRejection::Verify(e) => core::verify_error(e).into(),
            WebhookRejection::Parse(e) => core::parse_error(e).into(),
        }
    }
}

impl From<dodo_routes::WebhookRejection> for WebhookRejection {
    fn from(e: dodo_routes::WebhookRejection) -> Self {
        match e {
            dodo_routes::WebhookRejection::PayloadTooLarge => WebhookRejection::PayloadTooLarge,
            dodo_routes::WebhookRejection::Verify(e) => WebhookRejection::Verify(e),
            dodo_routes::WebhookRejection::Parse(e) => WebhookRejection::Parse(e),
            _ => WebhookRejection::BodyRead,
        }
    }
}

impl std::fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.to_route_error(), f)
    }
}

impl std::error::Error for WebhookRejection {}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        to_axum(dodo_routes::webhook::rejected(&self.to_route_error()))
    }
}

impl<S> FromRequest<S> for VerifiedWebhook
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        let (parts, body) = req.into_parts();
        let req = Request::from_parts(parts.clone(), body);
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
                WebhookRejection::PayloadTooLarge
            }
            _ => WebhookRejection::BodyRead,
        })?;
        Self::verify(&verifier, &parts.headers, bytes)
    }
}
