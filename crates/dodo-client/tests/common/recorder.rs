//! A local HTTP server that records every request and answers each with one fixed response.
//!
//! Used by the generated per-endpoint tests: they call a typed method, then read back what
//! reached the wire (method, raw path, raw query, headers, body).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path exactly as sent (still percent-encoded).
    pub path: String,
    /// The raw query string, empty when there is none.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// The first value of a header, by lower-case name.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

#[derive(Clone)]
struct Shared {
    status: StatusCode,
    body: Bytes,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

/// The running recorder; stops when dropped.
pub struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<Recorded>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn record(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    shared.seen.lock().expect("lock").push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body,
    });
    let content_type = if shared.body.starts_with(b"%PDF") {
        "application/pdf"
    } else {
        "application/json"
    };
    (
        shared.status,
        [("content-type", content_type)],
        shared.body.clone(),
    )
        .into_response()
}

impl Recorder {
    /// Starts on 127.0.0.1 port 0, answering every request with `status` and `body`.
    pub async fn start(status: u16, body: Vec<u8>) -> Recorder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            status: StatusCode::from_u16(status).expect("status"),
            body: Bytes::from(body),
            seen: seen.clone(),
        };
        let app = axum::Router::new().fallback(record).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Recorder {
            url,
            seen,
            _shutdown: tx,
        }
    }

    /// A client for this server: key `test-key`, no retries.
    pub fn client(&self) -> dodo_client::Client {
        dodo_client::Client::builder()
            .api_key("test-key")
            .base_url(self.url.clone())
            .max_retries(0)
            .build()
            .expect("client")
    }

    /// The one request received; fails the test if there were zero or several.
    pub fn single_request(&self) -> Recorded {
        let seen = self.seen.lock().expect("lock");
        assert_eq!(seen.len(), 1, "expected exactly one request, got {seen:?}");
        seen[0].clone()
    }
}
