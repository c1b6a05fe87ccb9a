//! The request log: a bounded in-memory record of the requests the emulator answered.
//!
//! A middleware around every route records, when a response is ready, its method, path
//! (without the query string), status, `x-request-id` and duration. Query strings and bodies
//! are never logged: they may carry secrets. The log keeps the newest `capacity` items
//! ([`crate::EmulatorConfig::request_log_capacity`], default 1,000) and publishes each item
//! to a broadcast channel for `GET /_emulator/requests/stream`. Requests to the request log's
//! own routes are not logged (a tail would otherwise log itself).
//!
//! | route | answer |
//! |---|---|
//! | `GET /_emulator/requests` | `{"items": [...]}` newest first; filters `limit` (100), `method`, `path_prefix`, `status` |
//! | `GET /_emulator/requests/stream` | Server-Sent Events, one `data:` per finished request |

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::HeaderValue;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::{broadcast, watch};

use crate::clock::Clock;
use crate::error::{ApiError, error_response};

/// Header carrying the request id on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Default number of requests the log keeps.
pub const DEFAULT_CAPACITY: usize = crate::config::DEFAULT_REQUEST_LOG_CAPACITY;
/// Path prefix of the log's own routes (not logged).
const OWN_PREFIX: &str = "/_emulator/requests";

/// One answered request.
#[derive(Debug, Clone, Serialize)]
pub struct RequestLogItem {
    /// `log_<n>`, increasing.
    pub id: String,
    /// When the request arrived (emulator clock, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// HTTP method.
    pub method: String,
    /// Path, without the query string.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// The response's `x-request-id`.
    pub request_id: String,
    /// Time to the response head, in milliseconds.
    pub duration_ms: u64,
}

/// The bounded log and its live feed.
#[derive(Debug)]
pub struct RequestLog {
    capacity: usize,
    items: Mutex<VecDeque<RequestLogItem>>,
    seq: AtomicU64,
    feed: broadcast::Sender<RequestLogItem>,
    clock: Clock,
    closing: watch::Receiver<bool>,
}

impl RequestLog {
    /// An empty log keeping at most `capacity` items (0 keeps none but still streams),
    /// stamping items with `clock`; its streams end when `closing` turns true.
    pub fn new(capacity: usize, clock: Clock, closing: watch::Receiver<bool>) -> Self {
        Self {
            capacity,
            items: Mutex::new(VecDeque::with_capacity(capacity.min(DEFAULT_CAPACITY))),
            seq: AtomicU64::new(0),
            feed: crate::live::feed(),
            clock,
            closing,
        }
    }

    fn push(&self, item: RequestLogItem) {
        if self.feed.receiver_count() > 0 {
            let _ = self.feed.send(item.clone());
        }
        if self.capacity == 0 {
            return;
        }
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        while items.len() >= self.capacity {
            items.pop_front();
        }
        items.push_back(item);
    }

    /// Items newest first that match `q`, at most `limit`.
    fn query(&self, q: &LogQuery, limit: usize) -> Vec<RequestLogItem> {
        let items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        items
            .iter()
            .rev()
            .filter(|i| q.matches(i))
            .take(limit)
            .cloned()
            .collect()
    }
}

/// Filters of the list and stream routes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    limit: Option<usize>,
    method: Option<String>,
    path_prefix: Option<String>,
    status: Option<u16>,
}

impl LogQuery {
    fn matches(&self, i: &RequestLogItem) -> bool {
        self.method
            .as_ref()
            .is_none_or(|m| m.eq_ignore_ascii_case(&i.method))
            && self
                .path_prefix
                .as_ref()
                .is_none_or(|p| i.path.starts_with(p.as_str()))
            && self.status.is_none_or(|s| s == i.status)
    }
}

/// A request being answered, from [`RequestLog::begin`].
#[derive(Debug)]
pub struct Pending {
    method: http::Method,
    path: String,
    at: OffsetDateTime,
    started: Instant,
}

impl RequestLog {
    /// Starts recording a request (`None` for the log's own routes, which are not logged).
    pub fn begin(&self, method: &http::Method, uri: &http::Uri) -> Option<Pending> {
        let path = uri.path();
        if path.starts_with(OWN_PREFIX) {
            return None;
        }
        Some(Pending {
            method: method.clone(),
            path: path.to_string(),
            at: self.clock.now(),
            started: Instant::now(),
        })
    }

    /// Records the answered request (giving the response an `x-request-id` if it has none).
    pub fn finish(&self, p: Pending, response: &mut Response) {
        let request_id = match response
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            Some(id) => id.to_string(),
            None => {
                let id = crate::ids::request_id();
                if let Ok(v) = HeaderValue::from_str(&id) {
                    response.headers_mut().insert(REQUEST_ID_HEADER, v);
                }
                id
            }
        };
        let n = self.seq.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        self.push(RequestLogItem {
            id: format!("log_{n}"),
            at: p.at,
            method: p.method.as_str().to_string(),
            path: p.path,
            status: response.status().as_u16(),
            request_id,
            duration_ms: u64::try_from(p.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
}

/// Middleware recording every answered request, for routers other than the emulator's own
/// (the emulator records at the connection level, see [`crate::server`]).
pub async fn record(State(log): State<Arc<RequestLog>>, req: Request, next: Next) -> Response {
    let pending = log.begin(req.method(), req.uri());
    let mut response = next.run(req).await;
    if let Some(p) = pending {
        log.finish(p, &mut response);
    }
    response
}

/// Routes of the request log (for any router state: they carry their own).
pub fn routes<S: Clone + Send + Sync + 'static>(log: Arc<RequestLog>) -> Router<S> {
    Router::new()
        .route("/_emulator/requests", get(list))
        .route("/_emulator/requests/stream", get(stream))
        .with_state(log)
}

fn parse_query(raw: Option<&str>) -> Result<LogQuery, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::unprocessable("INVALID_REQUEST", format!("invalid query: {e}")))
}

async fn list(State(log): State<Arc<RequestLog>>, uri: http::Uri) -> Response {
    match parse_query(uri.query()) {
        Ok(q) => match crate::request::admin_limit(q.limit) {
            Ok(limit) => Json(json!({ "items": log.query(&q, limit) })).into_response(),
            Err(e) => error_response(&e),
        },
        Err(e) => error_response(&e),
    }
}

async fn stream(State(log): State<Arc<RequestLog>>, uri: http::Uri) -> Response {
    let q = match parse_query(uri.query()) {
        Ok(q) => q,
        Err(e) => return error_response(&e),
    };
    let rx = log.feed.subscribe();
    crate::live::sse(rx, log.closing.clone(), move |item| {
        q.matches(item)
            .then(|| serde_json::to_value(item).unwrap_or(Value::Null))
    })
    .into_response()
}
