//! Verify-then-parse in one call.
//!
//! [`Verifier::verify_and_parse`] is the building block for the client's `webhooks().verify_and_parse(...)`:
//! it verifies the signature over the raw bytes and only then parses the typed event,
//! returning a single [`WebhookError`] that says which of the two steps failed.

use crate::event::{ParseError, WebhookEvent};
use crate::headers::WebhookHeaders;
use crate::verify::{VerifiedDelivery, Verifier, VerifyError};

/// Why [`Verifier::verify_and_parse`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The delivery is not authentic (answer 401).
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The delivery is authentic but its body is not a webhook event (answer 400).
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl WebhookError {
    /// A stable machine-readable code (that of the underlying error).
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::Verify(e) => e.code(),
            WebhookError::Parse(e) => e.code(),
        }
    }

    /// The HTTP status a receiver should answer with: 401 or 400.
    pub fn status(&self) -> u16 {
        match self {
            WebhookError::Verify(_) => 401,
            WebhookError::Parse(_) => 400,
        }
    }
}

impl Verifier {
    /// Verifies a delivery and parses its body into a typed event.
    ///
    /// ```
    /// use dodo_webhooks::{EventPayload, ManualClock, Verifier, WebhookError};
    /// let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    ///     .unwrap()
    ///     .with_clock(ManualClock::new(1_700_000_000));
    /// let body = br#"{"business_id":"bus_1","type":"widget.made","timestamp":"2025-01-01T00:00:00Z","data":{}}"#;
    /// let headers = verifier.signed_headers("msg_1", 1_700_000_000, body);
    /// let (delivery, event) = verifier.verify_and_parse(&headers, body).unwrap();
    /// assert_eq!(delivery.id, "msg_1");
    /// assert!(matches!(event.payload, EventPayload::Unknown { .. }));
    /// let err = verifier.verify_and_parse(&headers, b"{}").unwrap_err();
    /// assert_eq!((err.status(), err.code()), (401, "invalid_signature"));
    /// ```
    pub fn verify_and_parse<H: WebhookHeaders + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<(VerifiedDelivery, WebhookEvent), WebhookError> {
        let delivery = self.verify(headers, body)?;
        let event = WebhookEvent::parse(body)?;
        Ok((delivery, event))
    }
}
