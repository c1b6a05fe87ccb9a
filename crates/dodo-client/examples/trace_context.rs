//! Propagating a trace context to the Dodo Payments API with an [`Interceptor`].
//!
//! An app handling an incoming request knows its W3C trace id (here kept in a tokio
//! task-local, as a tracing/OpenTelemetry layer would); the interceptor adds a
//! `traceparent` header to every attempt the client makes on that request's behalf, and
//! records the status of each attempt. Run it with `cargo run -p dodo-client --example
//! trace_context`: it starts a local stand-in for the API that echoes the header back.

use std::sync::atomic::{AtomicU64, Ordering};

use dodo_client::{AttemptRequest, AttemptResult, BoxError, Client, Interceptor};

tokio::task_local! {
    /// The trace id of the incoming request being served (32 hex digits).
    pub static TRACE_ID: String;
}

/// Adds `traceparent: 00-<trace id>-<fresh span id>-01` to every attempt.
#[derive(Default)]
pub struct TraceContext {
    next_span: AtomicU64,
    /// Attempts that got an answer, for the example's output.
    pub answered: AtomicU64,
}

impl Interceptor for TraceContext {
    fn before_attempt(&self, attempt: &mut AttemptRequest<'_>) {
        let Ok(trace_id) = TRACE_ID.try_with(Clone::clone) else {
            return; // not inside a traced request: send nothing
        };
        let span_id = self.next_span.fetch_add(1, Ordering::Relaxed) + 1;
        let value = format!("00-{trace_id}-{span_id:016x}-01");
        if let Ok(value) = value.parse() {
            attempt.headers.insert("traceparent", value);
        }
    }

    fn after_attempt(&self, result: &AttemptResult<'_>) {
        if result.status.is_some() {
            self.answered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Serves a stand-in API on 127.0.0.1:0 that answers every request with the `traceparent`
/// it received, then calls it once inside a "request" with a known trace id. Returns the
/// header the API saw.
pub async fn run() -> Result<String, BoxError> {
    let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
        let seen = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        axum::Json(serde_json::json!({ "traceparent": seen }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::builder()
        .api_key("sk_test_example")
        .base_url(base_url)
        .interceptor(TraceContext::default())
        .build()?;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736".to_owned();
    let answer: serde_json::Value = TRACE_ID
        .scope(trace_id, async { client.get("/payments/pay_123").await })
        .await?;
    Ok(answer["traceparent"].as_str().unwrap_or("").to_owned())
}

#[tokio::main]
#[allow(dead_code)] // also compiled into the tests, which call `run` themselves
async fn main() -> Result<(), BoxError> {
    let seen = run().await?;
    println!("the API saw traceparent: {seen}");
    Ok(())
}
