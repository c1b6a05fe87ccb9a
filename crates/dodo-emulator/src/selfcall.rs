//! Calls from the emulator to its own API over loopback, so pages and scripts drive the same
//! state machine (validation, discount redemption, pricing) as any client.

use serde_json::Value;

use crate::dispatch::AppState;
use crate::error::ApiError;

/// Why a call to the emulator's own API did not succeed.
#[derive(Debug)]
pub struct CallError {
    /// HTTP status (0 when the request itself failed).
    pub status: u16,
    /// The API's `message`, or the transport error.
    pub message: String,
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        ApiError::internal(format!(
            "internal call answered {}: {}",
            e.status, e.message
        ))
    }
}

/// Calls `method path` on the emulator itself with its API key; a `Null` body sends none.
pub async fn call(
    state: &AppState,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> Result<Value, CallError> {
    let url = format!("{}{path}", state.env.base_url);
    let mut req = reqwest::Client::new()
        .request(method, &url)
        .bearer_auth(&state.api_key);
    if !body.is_null() {
        req = req.json(body);
    }
    let resp = req.send().await.map_err(|e| CallError {
        status: 0,
        message: e.to_string(),
    })?;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(v)
    } else {
        Err(CallError {
            status: status.as_u16(),
            message: v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string()),
        })
    }
}
