//! Request-body validation against the operation's request schema.
//!
//! The dispatcher hands the raw body of every operation that declares a request schema to a
//! [`BodyValidator`], which returns the body as normalised JSON or a 422 naming the field.
//! [`JsonValidator`] checks only that the body is a JSON object (handlers then check the
//! fields they use); once `dodo_types::operations::validate_body` is generated, a validator
//! backed by the generated request types replaces it.

use crate::error::ApiError;
use crate::ops::Operation;
use serde_json::Value;

/// Validates and normalises request bodies.
pub trait BodyValidator: Send + Sync + 'static {
    /// Returns the body as JSON, or a 422 error naming the offending field.
    fn validate(&self, op: &Operation, body: &[u8]) -> Result<Value, ApiError>;
}

/// Accepts any JSON object; rejects malformed JSON and non-objects with 422.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonValidator;

impl BodyValidator for JsonValidator {
    fn validate(&self, op: &Operation, body: &[u8]) -> Result<Value, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::unprocessable(
                "INVALID_REQUEST",
                format!("request body is not valid JSON: {e}"),
            )
        })?;
        if !value.is_object() {
            return Err(ApiError::unprocessable(
                "INVALID_REQUEST",
                format!(
                    "request body must be a JSON object ({})",
                    op.request_body.unwrap_or("object")
                ),
            ));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::spec_operations;

    #[test]
    fn rejects_malformed_and_non_object_bodies() {
        let op = &spec_operations()[0];
        assert_eq!(JsonValidator.validate(op, b"{\"a\":1}").unwrap()["a"], 1);
        let e = JsonValidator.validate(op, b"{").unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        let e = JsonValidator.validate(op, b"[1]").unwrap_err();
        assert_eq!(e.code, "INVALID_REQUEST");
    }
}
