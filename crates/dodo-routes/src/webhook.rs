//! The webhook route's decisions: raw bytes + headers → verified event or dispatcher outcome.
//!
//! Adaptors read the raw body (refusing a declared `Content-Length` above the limit first,
//! then capping what they buffer) and hand headers and bytes here. [`process`] runs a
//! [`Dispatcher`], logs the outcome (webhook id, event type, disposition, status; never the
//! body) and answers its status and JSON body; [`verify`] serves the adaptors' verifying
//! extractors and answers a [`WebhookRejection`] with a stable code and no internal detail.

use bytes::Bytes;
use dodo_webhooks::{
    Dispatcher, Disposition, Outcome, ParseError, VerifiedDelivery, Verifier, VerifyError,
    WebhookEvent, WebhookHeaders,
};
use http::StatusCode;

use crate::error::{RouteError, json_response};

/// Default webhook body limit (1 MiB; Dodo's events are a few KB).
pub const DEFAULT_WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

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
        match self {
            WebhookRejection::PayloadTooLarge => too_large(),
            WebhookRejection::BodyRead => crate::body::body_read_failed(),
            WebhookRejection::Verify(e) => verify_error(e),
            WebhookRejection::Parse(e) => parse_error(e),
        }
    }

    /// Logs the rejection (status and code) and answers it.
    pub fn to_response(&self) -> http::Response<Bytes> {
        rejected(&self.to_route_error())
    }
}

/// 413 for a webhook body above the route's limit.
pub fn too_large() -> RouteError {
    RouteError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is larger than this route accepts",
    )
}

/// 401 for a delivery that did not verify, with the verifier's code.
pub fn verify_error(e: &VerifyError) -> RouteError {
    RouteError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string())
}

/// 400 for a verified body that is not a webhook event.
pub fn parse_error(e: &ParseError) -> RouteError {
    RouteError::new(
        StatusCode::BAD_REQUEST,
        e.code(),
        "the request body is not a valid webhook event",
    )
}

/// Logs a webhook rejection (status and code) and answers it.
pub fn rejected(e: &RouteError) -> http::Response<Bytes> {
    tracing::info!(
        status = e.status.as_u16(),
        code = e.code,
        "webhook rejected"
    );
    e.to_response()
}

impl std::fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.to_route_error(), f)
    }
}

impl std::error::Error for WebhookRejection {}

/// Verifies `body` against `headers` with `verifier`, then parses the event.
///
/// ```
/// use dodo_webhooks::Verifier;
///
/// let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let e = dodo_routes::webhook::verify(&verifier, &http::HeaderMap::new(), b"{}").unwrap_err();
/// assert_eq!(e.to_route_error().status, 401);
/// ```
pub fn verify<H: WebhookHeaders + ?Sized>(
    verifier: &Verifier,
    headers: &H,
    body: &[u8],
) -> Result<(VerifiedDelivery, WebhookEvent), WebhookRejection> {
    let delivery = verifier
        .verify(headers, body)
        .map_err(WebhookRejection::Verify)?;
    let event = WebhookEvent::parse(body).map_err(WebhookRejection::Parse)?;
    Ok((delivery, event))
}

/// Runs `dispatcher` on one delivery, logs the outcome and answers it.
pub async fn process<C: Clone + Send + Sync + 'static, H: WebhookHeaders + ?Sized>(
    dispatcher: &Dispatcher<C>,
    headers: &H,
    body: &[u8],
) -> http::Response<Bytes> {
    let outcome = dispatcher.process(headers, body).await;
    log_outcome(&outcome);
    outcome_response(&outcome)
}

/// The HTTP answer for an outcome: its status and JSON body.
pub fn outcome_response(outcome: &Outcome) -> http::Response<Bytes> {
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &outcome.body)
}

/// Logs an outcome without personal data: ids, type, disposition, status and error codes.
/// Handler failures include the handler's own error text (the app controls it).
pub fn log_outcome(outcome: &Outcome) {
    let id = outcome.webhook_id.as_deref().unwrap_or("");
    let event_type = outcome.event_type.as_ref().map_or("", |t| t.as_str());
    let disposition = outcome.disposition.as_str();
    match (&outcome.error, outcome.disposition) {
        (Some(e), Disposition::Failed) => tracing::warn!(
            webhook_id = id,
            event_type,
            disposition,
            status = outcome.status,
            stage = ?e.stage,
            code = e.code,
            panicked = e.panicked,
            detail = %e.detail,
            "webhook handler failed"
        ),
        (Some(e), _) => tracing::info!(
            webhook_id = id,
            event_type,
            disposition,
            status = outcome.status,
            stage = ?e.stage,
            code = e.code,
            "webhook rejected"
        ),
        (None, _) => tracing::info!(
            webhook_id = id,
            event_type,
            disposition,
            status = outcome.status,
            "webhook processed"
        ),
    }
    for w in &outcome.warnings {
        tracing::warn!(webhook_id = id, event_type, stage = ?w.stage, code = w.code, detail = %w.detail, "webhook warning");
    }
}
