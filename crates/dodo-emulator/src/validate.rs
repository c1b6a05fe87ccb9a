//! Request-body validation against the operation's request schema.
//!
//! The dispatcher hands the raw body of every operation that declares a request schema to a
//! [`BodyValidator`], which returns the body as normalised JSON or a 422 naming the field.
//! [`TypedValidator`] (the default) deserialises the body into the operation's generated
//! request type (`dodo_types::operations::validate_body`), so unknown enum values, wrong types
//! and missing required fields answer 422 with the field's path; operations without a request
//! type fall back to [`JsonValidator`], which only checks for a JSON object. Handlers still
//! check the business rules of the fields they use. Top-level fields sent as `null` are kept
//! in the normalised body, so a `PATCH` can tell "clear this" from "leave it".

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

/// Validates against the generated request types, falling back to [`JsonValidator`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TypedValidator;

impl BodyValidator for TypedValidator {
    fn validate(&self, op: &Operation, body: &[u8]) -> Result<Value, ApiError> {
        match dodo_types::operations::validate_body(op.operation_id, body) {
            None => JsonValidator.validate(op, body),
            Some(Ok(value)) => Ok(keep_explicit_nulls(value, body)),
            Some(Err(e)) if e.path.is_empty() || e.path == "." => Err(ApiError::unprocessable(
                "INVALID_REQUEST",
                format!("invalid request body: {}", e.message),
            )),
            Some(Err(e)) => Err(ApiError::invalid_field(&e.path, &e.message)),
        }
    }
}

/// Puts back the top-level fields the caller sent as `null`, which the typed round trip
/// drops: a `PATCH` distinguishes "set to null" (clear) from "left out" (keep).
fn keep_explicit_nulls(mut value: Value, raw: &[u8]) -> Value {
    if !raw.windows(4).any(|w| w == b"null") {
        return value;
    }
    if let (Some(out), Ok(Value::Object(sent))) =
        (value.as_object_mut(), serde_json::from_slice::<Value>(raw))
    {
        for (key, v) in sent {
            if v.is_null() && !out.contains_key(&key) {
                out.insert(key, Value::Null);
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::spec_operations;

    fn op(id: &str) -> &'static Operation {
        spec_operations()
            .iter()
            .find(|o| o.operation_id == id)
            .unwrap()
    }

    #[test]
    fn typed_validation_names_the_field() {
        let create = op("create_customer");
        let ok = TypedValidator
            .validate(create, br#"{"email": "a@b.c", "name": "A"}"#)
            .unwrap();
        assert_eq!(ok["email"], "a@b.c");
        let e = TypedValidator
            .validate(create, br#"{"email": "a@b.c", "name": 5}"#)
            .unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        assert!(e.message.contains("`name`"), "{}", e.message);
        let e = TypedValidator
            .validate(op("create_refund_handler"), br#"{}"#)
            .unwrap_err();
        assert!(e.message.contains("payment_id"), "{}", e.message);
    }

    #[test]
    fn explicit_nulls_survive_typed_validation() {
        let patch = op("patch_product_collection");
        let v = TypedValidator
            .validate(patch, br#"{"description": null, "name": "N"}"#)
            .unwrap();
        assert_eq!(v["name"], "N");
        assert!(v.as_object().unwrap().contains_key("description"));
        assert!(v["description"].is_null());
        let v = TypedValidator.validate(patch, br#"{"name": "N"}"#).unwrap();
        assert!(!v.as_object().unwrap().contains_key("description"));
    }

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
