//! The one generic dispatcher every API request goes through.
//!
//! Order: request id → faults → route lookup (404) → auth (401) → body size (413) →
//! idempotency replay/conflict (only with `replay_idempotency_key`) → body validation (422) → handler under the store lock (a
//! transaction for anything but `GET`) → idempotency record → response with `x-request-id`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::faults::FaultSpec;
use crate::ids;
use crate::ops::Operation;
use crate::request::{ApiRequest, Reply, ReplyBody};
use crate::resources::Ctx;
use crate::store::IdempotentResponse;
use crate::validate::{BodyValidator, JsonValidator};

pub use crate::error::error_response;
pub use crate::request_log::REQUEST_ID_HEADER;
pub use crate::state::AppState;
/// Request header naming an idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Response header set on a replayed idempotent response.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "idempotent-replayed";

/// Per-connection switch that lets a fault close the connection without answering.
#[derive(Debug, Clone)]
pub struct ConnectionKill(pub Arc<tokio::sync::Notify>);

/// The axum fallback handler serving every API path.
pub async fn api(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let request_id = ids::request_id();
    let mut response = match serve(&state, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    response
}

async fn serve(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str();
    let path = parts.uri.path();

    if let Some(fault) = state.faults.take(method, path)
        && let Some(r) = apply_fault(&fault, parts.extensions.get::<ConnectionKill>()).await
    {
        return Ok(r);
    }

    let matched = state.table.lookup(method, path).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no such endpoint: {method} {path}"),
        )
    })?;
    let op = matched.op;
    if op.auth {
        crate::auth::check_bearer(&parts.headers, &state.api_key)?;
    }

    let bytes = axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("request body exceeds {} bytes", state.max_body_bytes),
            )
        })?;

    let idempotency = if parts.method != Method::GET && state.replay_idempotency_key {
        idempotency_key(&parts.headers)?.map(|key| {
            let fingerprint = fingerprint(method, &parts.uri.to_string(), &bytes);
            (key, fingerprint)
        })
    } else {
        None
    };
    let _inflight = match &idempotency {
        Some((key, fp)) => {
            if let Some(stored) = state.store.read(|db| db.idempotency_get(key))? {
                return replay(&stored, fp);
            }
            Some(InflightGuard::acquire(&state.inflight, key)?)
        }
        None => None,
    };

    let result = run(state, op, matched.params, parts.uri.query(), &bytes);
    let (status, content_type, body_bytes) =
        match result.and_then(|reply| render(op.success_status, reply)) {
            Ok(ok) => ok,
            Err(e) => (e.status, JSON, serde_json::to_vec(&e.body())?),
        };
    if let Some((key, fp)) = &idempotency
        && !status.is_server_error()
    {
        let record = IdempotentResponse {
            fingerprint: fp.clone(),
            status: status.as_u16(),
            body: body_bytes.clone(),
        };
        let now = state.store.clock().now_string();
        state
            .store
            .write(|db| db.idempotency_put(key, &record, &now))?;
    }
    Ok(build(status, content_type, body_bytes))
}

const JSON: &str = "application/json";

/// The answer of an in-process call ([`invoke`]).
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The status the API would answer.
    pub status: StatusCode,
    /// Its content type.
    pub content_type: &'static str,
    /// Its body.
    pub body: Vec<u8>,
}

impl Invoked {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Runs one API operation in-process, exactly as an authenticated request would run it
/// (route lookup, typed body and query validation, the domain handler under the store lock),
/// without HTTP, faults or idempotency records. Pages, triggers and the test harness use it
/// instead of calling the emulator over loopback. `target` is a path with an optional query
/// string; a `Null` body sends none.
pub fn invoke(
    state: &AppState,
    method: &str,
    target: &str,
    body: &Value,
) -> Result<Invoked, ApiError> {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let matched = state.table.lookup(method, path).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no such endpoint: {method} {path}"),
        )
    })?;
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body)?
    };
    let reply = run(state, matched.op, matched.params, query, &bytes)?;
    let (status, content_type, body) = render(matched.op.success_status, reply)?;
    Ok(Invoked {
        status,
        content_type,
        body,
    })
}

/// Checks a query string against the operation's generated query type (types of known
/// parameters; unknown parameters are ignored). The error names the offending parameter.
fn check_query(op: &Operation, query: &str) -> Result<(), ApiError> {
    use dodo_types::operations::validate_query;
    let Some(Err(whole)) = validate_query(op.operation_id, query) else {
        return Ok(());
    };
    // The form deserialiser reports no path: find the first parameter that fails alone.
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default();
    for (name, value) in &pairs {
        let single = serde_urlencoded::to_string([(name, value)]).unwrap_or_default();
        if let Some(Err(e)) = validate_query(op.operation_id, &single) {
            return Err(ApiError::invalid_field(name, &e.message));
        }
    }
    Err(ApiError::unprocessable(
        "INVALID_REQUEST",
        format!("invalid query string: {}", whole.message),
    ))
}

/// The request's validated body and query pairs.
fn validated(
    state: &AppState,
    op: &'static Operation,
    query: Option<&str>,
    bytes: &[u8],
) -> Result<(Value, Vec<(String, String)>), ApiError> {
    let blank = bytes.iter().all(u8::is_ascii_whitespace);
    let body = match op.request_body {
        Some(_) => state
            .validator
            .validate(op, if blank { b"{}" } else { bytes })?,
        // Operations without a known schema still get their JSON body.
        None if !blank => JsonValidator.validate(op, bytes)?,
        None => Value::Null,
    };
    let query = match query {
        Some(q) => {
            check_query(op, q)?;
            serde_urlencoded::from_str::<Vec<(String, String)>>(q).map_err(|e| {
                ApiError::unprocessable("INVALID_REQUEST", format!("invalid query string: {e}"))
            })?
        }
        None => Vec::new(),
    };
    Ok((body, query))
}

/// Validates the body and query, then runs the handler under the store lock. A request
/// that fails validation is answered with the operation's documented status for it
/// ([`Operation::invalid_status`]: 422, or 400 where the spec lists only that).
fn run(
    state: &AppState,
    op: &'static Operation,
    params: Vec<(&'static str, String)>,
    query: Option<&str>,
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    let (body, query) = validated(state, op, query, bytes).map_err(|mut e| {
        if e.status == StatusCode::UNPROCESSABLE_ENTITY {
            e.status = StatusCode::from_u16(op.invalid_status).unwrap_or(e.status);
        }
        e
    })?;
    let req = ApiRequest {
        op,
        params,
        query,
        body,
    };
    let handler = state
        .registry
        .get(op.method, op.path)
        .ok_or_else(|| not_implemented(op))?;
    let env = &state.env;
    if op.method == "GET" {
        state.store.read(|db| handler(&Ctx { db, env }, &req))
    } else {
        state.store.write(|db| handler(&Ctx { db, env }, &req))
    }
}

/// The answer of an operation of the spec that has no domain handler: 501 naming it, never a
/// made-up body.
fn not_implemented(op: &Operation) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
        format!(
            "the emulator does not implement {} {} (operation `{}`)",
            op.method, op.path, op.operation_id
        ),
    )
}

fn render(success: u16, reply: Reply) -> Result<(StatusCode, &'static str, Vec<u8>), ApiError> {
    let status = reply
        .status
        .unwrap_or_else(|| StatusCode::from_u16(success).unwrap_or(StatusCode::OK));
    Ok(match reply.body {
        _ if status == StatusCode::NO_CONTENT => (status, JSON, Vec::new()),
        ReplyBody::Empty => (status, JSON, Vec::new()),
        ReplyBody::Json(v) => (status, JSON, serde_json::to_vec(&v)?),
        ReplyBody::Raw(s) => (status, JSON, s.into_bytes()),
        ReplyBody::Bytes(content_type, bytes) => (status, content_type, bytes),
    })
}

fn build(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = if body.is_empty() {
        Response::new(Body::empty())
    } else {
        let mut r = Response::new(Body::from(body));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    *response.status_mut() = status;
    response
}

fn replay(stored: &IdempotentResponse, fingerprint: &str) -> Result<Response, ApiError> {
    if stored.fingerprint != fingerprint {
        return Err(ApiError::unprocessable(
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was used with a different request",
        ));
    }
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = build(status, JSON, stored.body.clone());
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED_HEADER, HeaderValue::from_static("true"));
    Ok(response)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get(IDEMPOTENCY_KEY_HEADER) {
        None => Ok(None),
        Some(v) => {
            let s = v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.len() <= 255)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "Idempotency-Key",
                        "must be 1 to 255 visible ASCII characters",
                    )
                })?;
            Ok(Some(s.to_string()))
        }
    }
}

fn fingerprint(method: &str, uri: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(uri.as_bytes());
    h.update(b"\n");
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes an in-flight idempotency key when the request finishes.
struct InflightGuard<'a> {
    set: &'a Mutex<HashSet<String>>,
    key: String,
}

impl<'a> InflightGuard<'a> {
    fn acquire(set: &'a Mutex<HashSet<String>>, key: &str) -> Result<Self, ApiError> {
        let mut guard = set.lock().unwrap_or_else(|e| e.into_inner());
        if !guard.insert(key.to_string()) {
            return Err(ApiError::conflict(
                "IDEMPOTENCY_KEY_IN_USE",
                "a request with this Idempotency-Key is still in progress",
            ));
        }
        Ok(Self {
            set,
            key: key.to_string(),
        })
    }
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// Applies a fault; `None` means "delay done, now handle normally".
async fn apply_fault(fault: &FaultSpec, kill: Option<&ConnectionKill>) -> Option<Response> {
    if let Some(ms) = fault.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if fault.drop_connection {
        if let Some(kill) = kill {
            kill.0.notify_one();
            // The connection task drops the connection; never answer.
            std::future::pending::<()>().await;
        }
        let e = ApiError::new(
            StatusCode::BAD_GATEWAY,
            "EMULATED_FAULT",
            "connection drop requested but not supported on this transport",
        );
        return Some(error_response(&e));
    }
    let status = StatusCode::from_u16(fault.status?).ok()?;
    let e = ApiError::new(
        status,
        "EMULATED_FAULT",
        format!("fault injected by the emulator ({})", status.as_u16()),
    );
    let mut response = error_response(&e);
    if let Some(secs) = fault.retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(b) = fault.x_should_retry {
        response.headers_mut().insert(
            "x-should-retry",
            HeaderValue::from_static(if b { "true" } else { "false" }),
        );
    }
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_query_errors_name_the_parameter() {
        let op = crate::ops::spec_operations()
            .iter()
            .find(|o| o.operation_id == "list_customers")
            .unwrap();
        assert!(check_query(op, "email=a%40b.c&page_size=5").is_ok());
        let e = check_query(op, "email=a%40b.c&page_size=abc").unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        assert!(e.message.contains("`page_size`"), "{}", e.message);
        assert!(check_query(op, "unknown=1").is_ok());
    }

    #[test]
    fn an_operation_without_a_handler_is_named_in_a_501() {
        let op = crate::ops::spec_operations()
            .iter()
            .find(|o| o.operation_id == "list_customers")
            .unwrap();
        let e = not_implemented(op);
        assert_eq!(e.status, StatusCode::NOT_IMPLEMENTED);
        assert_eq!(e.code, "NOT_IMPLEMENTED");
        assert!(
            e.message.contains("GET /customers") && e.message.contains("`list_customers`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn fingerprint_depends_on_body_and_path() {
        let a = fingerprint("POST", "/a", b"{}");
        assert_eq!(a, fingerprint("POST", "/a", b"{}"));
        assert_ne!(a, fingerprint("POST", "/b", b"{}"));
        assert_ne!(a, fingerprint("POST", "/a", b"{ }"));
    }

    #[test]
    fn inflight_keys_conflict_until_released() {
        let set = Mutex::new(HashSet::new());
        let g = InflightGuard::acquire(&set, "k").unwrap();
        assert_eq!(
            InflightGuard::acquire(&set, "k").err().unwrap().code,
            "IDEMPOTENCY_KEY_IN_USE"
        );
        drop(g);
        assert!(InflightGuard::acquire(&set, "k").is_ok());
    }
}
