//! `client.webhooks().verify_and_parse(body, headers)`: verify a delivery with the client's
//! webhook key, then parse it into a typed event (the TypeScript SDK's `webhooks.unwrap`),
//! over the raw bytes and never skipping verification.
//!
//! Built on `dodo-webhooks`; enabled by the `unwrap` feature (on by default).

use dodo_webhooks::{ParseError, SecretError, Verifier, VerifyError, WebhookEvent, WebhookHeaders};

use crate::resources::Webhooks;

/// Why a delivery could not be unwrapped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnwrapError {
    /// Neither the call nor the client (`DODO_PAYMENTS_WEBHOOK_SECRET` or
    /// `DODO_PAYMENTS_WEBHOOK_KEY`) has a webhook key.
    #[error(
        "no webhook key: set DODO_PAYMENTS_WEBHOOK_SECRET (or DODO_PAYMENTS_WEBHOOK_KEY) or pass one to verify_and_parse_with_key"
    )]
    MissingKey,
    /// The configured webhook key is empty or not base64.
    #[error("invalid webhook key: {0}")]
    InvalidKey(#[from] SecretError),
    /// The signature, timestamp or headers did not verify.
    #[error("webhook verification failed: {0}")]
    Verify(#[from] VerifyError),
    /// The verified body is not a webhook event.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl Webhooks<'_> {
    /// Verifies a delivery against the client's webhook key over the exact bytes received,
    /// then parses it into a typed event.
    ///
    /// ```no_run
    /// # fn demo(client: &dodo_client::Client, body: &[u8], headers: &[(&str, &str)]) {
    /// match client.webhooks().verify_and_parse(body, &headers) {
    ///     Ok(event) => println!("{}", event.event_type()),
    ///     Err(err) => eprintln!("rejected: {err}"),
    /// }
    /// # }
    /// ```
    pub fn verify_and_parse<H: WebhookHeaders + ?Sized>(
        &self,
        body: &[u8],
        headers: &H,
    ) -> Result<WebhookEvent, UnwrapError> {
        let key = self.client.webhook_key().ok_or(UnwrapError::MissingKey)?;
        self.verify_and_parse_with_key(body, headers, key)
    }

    /// Like [`verify_and_parse`](Self::verify_and_parse) with an explicit key (`whsec_...` or bare base64).
    pub fn verify_and_parse_with_key<H: WebhookHeaders + ?Sized>(
        &self,
        body: &[u8],
        headers: &H,
        key: &str,
    ) -> Result<WebhookEvent, UnwrapError> {
        let verifier = Verifier::from_secret(key)?;
        verifier.verify(headers, body)?;
        Ok(WebhookEvent::parse(body)?)
    }

    /// Parses a delivery **without verifying it**. Only for bodies verified elsewhere or
    /// read back from trusted storage.
    pub fn parse_unverified(&self, body: &[u8]) -> Result<WebhookEvent, ParseError> {
        WebhookEvent::parse(body)
    }
}
