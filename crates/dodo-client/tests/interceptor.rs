//! The open transport: a caller's own `reqwest::Client`, and interceptors that see and
//! change each attempt but never the credentials.

mod support;

use std::sync::{Arc, Mutex};

use dodo_client::{AttemptRequest, AttemptResult, Client, Interceptor, Method, RequestSpec};
use support::{API_KEY, Reply, Server};

#[path = "../examples/trace_context.rs"]
#[allow(dead_code)]
mod trace_context;

#[tokio::test]
async fn the_trace_context_example_propagates_traceparent() {
    let seen = trace_context::run().await.unwrap();
    assert_eq!(
        seen,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000001-01"
    );
}

/// Attempt number and status of each attempt an interceptor was told about.
type Seen = Arc<Mutex<Vec<(u32, Option<u16>)>>>;

/// Records what it was shown and tries to tamper with the client's own headers.
#[derive(Default, Clone)]
struct Spy {
    seen_auth: Arc<Mutex<Vec<bool>>>,
    results: Seen,
}

impl Interceptor for Spy {
    fn before_attempt(&self, attempt: &mut AttemptRequest<'_>) {
        self.seen_auth
            .lock()
            .unwrap()
            .push(attempt.headers.contains_key("authorization"));
        attempt.headers.insert("x-tenant", "acme".parse().unwrap());
        attempt
            .headers
            .insert("authorization", "Bearer stolen".parse().unwrap());
        attempt
            .headers
            .insert("x-retry-count", "99".parse().unwrap());
    }

    fn after_attempt(&self, result: &AttemptResult<'_>) {
        self.results
            .lock()
            .unwrap()
            .push((result.attempt, result.status.map(|s| s.as_u16())));
    }
}

#[tokio::test]
async fn interceptors_add_headers_see_every_attempt_and_cannot_touch_credentials() {
    let server = Server::start().await;
    server
        .push(Reply::json(503, serde_json::json!({})).header("retry-after-ms", "0"))
        .push(Reply::json(200, serde_json::json!({"ok": true})));
    let spy = Spy::default();
    let client = server.builder().interceptor(spy.clone()).build().unwrap();
    let spec = RequestSpec::new(Method::GET, Ok("/payments/p".into()));
    client
        .execute_json::<serde_json::Value>(spec)
        .await
        .unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for (i, r) in requests.iter().enumerate() {
        assert_eq!(r.header("x-tenant"), Some("acme"));
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {API_KEY}").as_str())
        );
        assert_eq!(r.header("x-retry-count"), Some(i.to_string().as_str()));
    }
    assert_eq!(*spy.seen_auth.lock().unwrap(), vec![false, false]);
    assert_eq!(
        *spy.results.lock().unwrap(),
        vec![(1, Some(503)), (2, Some(200))]
    );
}

#[tokio::test]
async fn a_callers_reqwest_client_carries_the_requests() {
    let server = Server::start().await;
    server.push(Reply::json(200, serde_json::json!({"ok": true})));
    let http = reqwest::Client::builder()
        .user_agent("ignored-by-dodo-client")
        .default_headers(
            [(
                reqwest::header::HeaderName::from_static("x-from-own-client"),
                reqwest::header::HeaderValue::from_static("yes"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let client = server.builder().http_client(http).build().unwrap();
    let v: serde_json::Value = client.get("/payments/p").await.unwrap();
    assert_eq!(v["ok"], true);
    let r = &server.requests()[0];
    assert_eq!(r.header("x-from-own-client"), Some("yes"));
    assert!(
        r.header("user-agent")
            .unwrap()
            .starts_with("dodopayments-rust/")
    );
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );

    let err = Client::builder()
        .api_key("k")
        .http_client(reqwest::Client::new())
        .proxy("http://127.0.0.1:9")
        .build()
        .unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.to_string().contains("http_client"), "{err}");
}
