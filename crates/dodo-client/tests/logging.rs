//! Logging: events are emitted through `tracing` up to the configured level, carry
//! method/path/status/attempt, and never contain the API key, sensitive headers or bodies.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use dodo_client::{LogLevel, Method, RequestSpec};
use support::{API_KEY, Reply, Server};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Everything at trace level, or only this crate's events when `only_crate`.
fn subscriber(captured: &Captured, only_crate: bool) -> impl tracing::Subscriber + Send + Sync {
    let filter = if only_crate {
        "dodo_client=trace"
    } else {
        "trace"
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish()
}

const BODY_SECRET: &str = "customer-email@private.example";

async fn scripted_calls(level: LogLevel, only_crate: bool) -> String {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(subscriber(&captured, only_crate));
    let server = Server::start().await;
    let client = server
        .builder()
        .log_level(level)
        .default_header("X-Api-Key", "hdr-secret-value")
        .build()
        .unwrap();
    server
        .push(
            Reply::json(503, serde_json::json!({"message": "busy"})).header("retry-after-ms", "0"),
        )
        .push(
            Reply::json(200, serde_json::json!({"email": BODY_SECRET}))
                .header("set-cookie", "session=cookie-secret"),
        );
    let spec = RequestSpec::new(Method::PATCH, Ok("/customers/cus_1".into()))
        .query(&[("email", BODY_SECRET)])
        .json(&serde_json::json!({"email": BODY_SECRET}));
    let v: serde_json::Value = client.execute_json(spec).await.unwrap();
    assert_eq!(v["email"], BODY_SECRET);
    captured.text()
}

#[tokio::test]
async fn debug_logs_have_attempts_and_headers_but_no_secrets_or_bodies() {
    let text = scripted_calls(LogLevel::Debug, false).await;
    assert!(text.contains("dodo_request"), "{text}");
    assert!(text.contains("path=/customers/cus_1"), "{text}");
    assert!(text.contains("status=503"), "{text}");
    assert!(text.contains("status=200"), "{text}");
    assert!(
        text.contains("attempt=1") && text.contains("attempt=2"),
        "{text}"
    );
    assert!(text.contains("duration_ms="), "{text}");
    assert!(text.contains("retrying"), "{text}");
    assert!(text.contains("query_params=email"), "{text}");
    assert!(text.contains("authorization: ***"), "{text}");
    assert!(text.contains("user-agent: dodopayments-rust/"), "{text}");
    for secret in [API_KEY, "hdr-secret-value", "cookie-secret", BODY_SECRET] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
}

#[tokio::test]
async fn level_filter_is_applied_inside_the_crate() {
    let info = scripted_calls(LogLevel::Info, true).await;
    assert!(info.contains("status=503"), "{info}");
    assert!(!info.contains("authorization"), "{info}");

    // A warn cap: a call that recovers after a retry logs nothing.
    let warn = scripted_calls(LogLevel::Warn, true).await;
    assert!(!warn.contains("dodo"), "{warn}");

    let off = scripted_calls(LogLevel::Off, true).await;
    assert_eq!(off, "");
}

#[tokio::test]
async fn final_failures_are_warnings() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(subscriber(&captured, true));
    let server = Server::start().await;
    let client = server.builder().max_retries(0).build().unwrap();
    server.push(Reply::json(
        500,
        serde_json::json!({"code": "BOOM", "message": format!("no customer {BODY_SECRET}")}),
    ));
    let spec = RequestSpec::new(Method::GET, Ok("/payments/p".into()));
    client
        .execute_json::<serde_json::Value>(spec)
        .await
        .unwrap_err();
    let text = captured.text();
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("BOOM"), "{text}");
    assert!(
        text.contains("500 Internal Server Error from GET /payments/p"),
        "{text}"
    );
    assert!(!text.contains(API_KEY));
    assert!(
        !text.contains(BODY_SECRET),
        "error messages may carry customer data: {text}"
    );
}

#[tokio::test]
async fn by_default_the_apps_filter_decides_and_the_span_uses_otel_names() {
    let captured = Captured::default();
    // The app asks for this crate's info events; the client sets no cap of its own.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("dodo_client=info"))
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = Server::start().await;
    server.push(
        Reply::json(200, serde_json::json!({"ok": true})).header("x-request-id", "req_otel_1"),
    );
    let client = server.client();
    assert_eq!(client.log_level(), LogLevel::Debug);
    let spec = RequestSpec::new(Method::GET, Ok("/payments/pay_1".into()));
    client
        .execute_json::<serde_json::Value>(spec)
        .await
        .unwrap();
    let text = captured.text();
    assert!(text.contains("dodo request attempt answered"), "{text}");
    assert!(text.contains("http.request.method=GET"), "{text}");
    assert!(text.contains("url.path=/payments/pay_1"), "{text}");
    assert!(text.contains("server.address=\"127.0.0.1:"), "{text}");
    // Debug events stay out: the app's filter said info.
    assert!(!text.contains("authorization"), "{text}");
}
