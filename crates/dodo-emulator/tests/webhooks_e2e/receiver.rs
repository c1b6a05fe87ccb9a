//! A webhook receiver for tests: an axum server on 127.0.0.1:0 that records every request,
//! answers a scripted status sequence, and hands requests to the test through a channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use dodo_webhooks::{Verifier, WebhookEvent};
use tokio::sync::mpsc;

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Verifies with `secret` and parses into the typed event.
    pub fn verify(&self, secret: &str) -> WebhookEvent {
        let verifier = Verifier::from_secret(secret).unwrap();
        verifier
            .verify_parts(
                self.header("webhook-id"),
                self.header("webhook-timestamp"),
                self.header("webhook-signature"),
                &self.body,
            )
            .unwrap_or_else(|e| panic!("verification failed: {e}"));
        WebhookEvent::parse(&self.body).unwrap()
    }
}

/// A scripted "status" that makes the receiver hang instead of answering.
pub const HANG: u16 = 999;

struct Inner {
    script: Mutex<Vec<u16>>,
    tx: mpsc::UnboundedSender<Received>,
}

pub struct Receiver {
    pub url: String,
    /// A page to return to after checkout (`GET /return`).
    pub return_url: String,
    rx: mpsc::UnboundedReceiver<Received>,
}

async fn handle(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let status = {
        let mut script = inner.script.lock().unwrap();
        if script.is_empty() {
            200
        } else {
            script.remove(0)
        }
    };
    if status == HANG {
        // Far longer than any timeout a test configures: the sender gives up first.
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let _ = inner.tx.send(Received {
        headers,
        body,
        answered: status,
    });
    StatusCode::from_u16(if status == HANG { 200 } else { status }).unwrap()
}

impl Receiver {
    /// Starts a receiver answering `script` in order, then 200 forever.
    pub async fn start(script: Vec<u16>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            script: Mutex::new(script),
            tx,
        });
        let app = Router::new()
            .route("/hook", post(handle))
            .route(
                "/return",
                axum::routing::get(|| async {
                    axum::response::Html(
                        "<!doctype html><title>Shop</title><h1>Back at the shop</h1>",
                    )
                }),
            )
            .with_state(inner);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/hook"),
            return_url: format!("http://{addr}/return"),
            rx,
        }
    }

    /// The next request (fails the test after 60 s without one: a hang guard, not a timing check).
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(60), self.rx.recv())
            .await
            .expect("no webhook arrived within 60 s")
            .expect("receiver closed")
    }

    /// The next request of `event_type`, skipping others.
    pub async fn next_of(&mut self, event_type: &str) -> Received {
        loop {
            let r = self.next().await;
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            if v["type"] == event_type {
                return r;
            }
        }
    }
}
