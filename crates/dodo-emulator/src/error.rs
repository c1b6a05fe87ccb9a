//! API errors as the emulator answers them: a status plus `{"code": "...", "message": "..."}`.
//!
//! Every failure a handler can produce is an [`ApiError`]; the dispatcher turns it into a JSON
//! response. Codes are UPPER_SNAKE strings as in Dodo's documented error codes.

use http::StatusCode;
use serde_json::json;

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code (`NOT_FOUND`, `INVALID_REQUEST`, ...).
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// An error with any status and code.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 404 `NOT_FOUND` for an object of a kind (`"Payment"`) and id.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} {id} not found"),
        )
    }

    /// 422 `INVALID_REQUEST` naming the offending field.
    pub fn invalid_field(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_REQUEST",
            format!("invalid field `{field}`: {problem}"),
        )
    }

    /// 422 with a business code.
    pub fn unprocessable(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 400 `OUT_OF_RANGE`: a count, interval, amount or date too large to compute with.
    pub fn out_of_range(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "OUT_OF_RANGE", message)
    }

    /// 409 with a business code.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 410 with a business code.
    pub fn gone(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, code, message)
    }

    /// 500 `INTERNAL_ERROR` (storage failures and other bugs of the emulator).
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            format!("emulator error: {message}"),
        )
    }

    /// The JSON body `{"code", "message"}`.
    pub fn body(&self) -> serde_json::Value {
        json!({ "code": self.code, "message": self.message })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        Self::internal(e)
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        Self::internal(e)
    }
}

/// Turns an [`ApiError`] into a JSON response.
pub fn error_response(e: &ApiError) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (e.status, axum::Json(e.body())).into_response()
}
