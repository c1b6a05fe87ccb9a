//! Retry behaviour against a real local server: what is retried, how often, with which
//! idempotency key, and per-request timeouts. Delays come from `retry-after-ms: 0` so the
//! tests stay fast; delay arithmetic is unit-tested in `retry.rs`.

mod support;

use std::time::Duration;

use dodo_client::{Call, Method, RequestSpec};
use serde::Serialize;
use support::{Reply, Server, dead_address};

fn ok() -> Reply {
    Reply::json(200, serde_json::json!({"ok": true}))
}

/// A retryable failure asking for an immediate retry.
fn fail(status: u16) -> Reply {
    Reply::json(
        status,
        serde_json::json!({"code": "X", "message": "try again"}),
    )
    .header("retry-after-ms", "0")
}

fn get(client: &dodo_client::Client) -> Call<serde_json::Value> {
    Call::json(
        client,
        RequestSpec::new(Method::GET, Ok("/payments/p".into())),
    )
}

fn post(client: &dodo_client::Client) -> Call<serde_json::Value> {
    Call::json(
        client,
        RequestSpec::new(Method::POST, Ok("/refunds".into()))
            .json(&serde_json::json!({"payment_id": "pay_1"})),
    )
}

fn retry_counts(server: &Server) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| r.header("x-retry-count").unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn transient_failure_then_success() {
    let server = Server::start().await;
    server.push(fail(503)).push(ok());
    let v = get(&server.client()).await.unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(retry_counts(&server), vec!["0", "1"]);
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let server = Server::start().await;
    for _ in 0..5 {
        server.push(fail(502));
    }
    let err = get(&server.client()).await.unwrap_err();
    assert!(err.is_server_error() && err.is_retryable());
    assert_eq!(err.status(), Some(502));
    assert_eq!(retry_counts(&server), vec!["0", "1", "2"]);

    // Per-request override.
    let server = Server::start().await;
    for _ in 0..5 {
        server.push(fail(500));
    }
    let err = get(&server.client()).max_retries(0).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(server.requests().len(), 1);

    let server = Server::start().await;
    for _ in 0..5 {
        server.push(fail(429));
    }
    let client = server.builder().max_retries(4).build().unwrap();
    get(&client).await.unwrap_err();
    assert_eq!(server.requests().len(), 5);
}

#[tokio::test]
async fn statuses_that_are_retried_or_not() {
    for (status, expected_requests) in [
        (408, 2),
        (409, 1),
        (429, 2),
        (500, 2),
        (504, 2),
        (400, 1),
        (401, 1),
        (404, 1),
        (422, 1),
    ] {
        let server = Server::start().await;
        server.push(fail(status)).push(ok());
        let result = get(&server.client()).await;
        assert_eq!(
            server.requests().len(),
            expected_requests,
            "status {status}"
        );
        assert_eq!(result.is_ok(), expected_requests == 2, "status {status}");
    }
}

#[tokio::test]
async fn should_retry_header_overrides() {
    let server = Server::start().await;
    server
        .push(fail(503).header("x-should-retry", "false"))
        .push(ok());
    let err = get(&server.client()).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);

    let server = Server::start().await;
    server
        .push(fail(400).header("x-should-retry", "true"))
        .push(ok());
    get(&server.client()).await.unwrap();
    assert_eq!(server.requests().len(), 2);

    // A 2xx is never retried, whatever the header says.
    let server = Server::start().await;
    server
        .push(ok().header("x-should-retry", "true"))
        .push(ok());
    get(&server.client()).await.unwrap();
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn retry_after_seconds_header_is_used() {
    let server = Server::start().await;
    server
        .push(Reply::status(429).header("retry-after", "0"))
        .push(ok());
    get(&server.client()).await.unwrap();
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn post_without_key_is_not_retried_on_ambiguous_failures() {
    let server = Server::start().await;
    let client = server.client();
    server.push(fail(500));
    let err = post(&client).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(server.requests().len(), 1);
    assert!(server.requests()[0].header("idempotency-key").is_none());

    // 429: the request was rejected, so retrying is safe even without a key.
    server.push(fail(429)).push(ok());
    post(&client).await.unwrap();
    assert_eq!(server.requests().len(), 3);

    // The server may explicitly allow it.
    server
        .push(fail(503).header("x-should-retry", "true"))
        .push(ok());
    post(&client).await.unwrap();
    assert_eq!(server.requests().len(), 5);

    // A caller-given key is sent, but the live API documents no such header: one attempt.
    server.push(fail(500));
    let err = post(&client)
        .idempotency_key("refund-42")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert!(err.may_have_been_processed());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 6);
    assert_eq!(reqs[5].header("idempotency-key"), Some("refund-42"));

    // The caller's explicit assertion makes it repeatable (the queued 200 answers it).
    server.push(fail(500)).push(ok());
    post(&client).assume_safe_to_repeat().await.unwrap();
    assert_eq!(server.requests().len(), 8);
}

#[tokio::test]
async fn default_client_sends_no_generated_key() {
    let server = Server::start().await;
    server.push(ok());
    post(&server.client()).await.unwrap();
    assert!(server.requests()[0].header("idempotency-key").is_none());
}

#[tokio::test]
async fn honoured_key_server_gets_one_generated_key_for_all_attempts() {
    let server = Server::start().await;
    let client = server
        .builder()
        .server_honours_idempotency_key(true)
        .build()
        .unwrap();
    server.push(fail(500)).push(fail(503)).push(ok());
    post(&client).await.unwrap();
    let keys: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys[0].starts_with("dodo-rs-retry-"), "{}", keys[0]);
    assert!(keys.iter().all(|k| k == &keys[0]));

    // A new call gets a new key.
    server.push(ok());
    post(&client).await.unwrap();
    let last = server.requests().pop().unwrap();
    assert_ne!(last.header("idempotency-key").unwrap(), keys[0]);

    // GETs carry no key.
    server.push(ok());
    get(&client).await.unwrap();
    assert!(
        server
            .requests()
            .pop()
            .unwrap()
            .header("idempotency-key")
            .is_none()
    );
}

#[derive(Serialize)]
struct CreateWebhook {
    url: String,
    idempotency_key: Option<String>,
}

fn create_webhook(client: &dodo_client::Client, key: Option<&str>) -> Call<serde_json::Value> {
    let body = CreateWebhook {
        url: "https://example.com/hook".into(),
        idempotency_key: key.map(str::to_owned),
    };
    Call::json(
        client,
        RequestSpec::new(Method::POST, Ok("/webhooks".into()))
            .json(&body)
            .body_idempotency_field(),
    )
}

#[tokio::test]
async fn body_idempotency_field_matches_header_on_every_attempt() {
    let server = Server::start().await;
    let client = server.client();

    // Generated key: same in header and body, on both attempts.
    server.push(fail(500)).push(ok());
    create_webhook(&client, None).await.unwrap();
    let reqs = server.requests();
    let key = reqs[0].header("idempotency-key").unwrap().to_owned();
    for r in &reqs {
        assert_eq!(r.header("idempotency-key").unwrap(), key);
        assert_eq!(r.json()["idempotency_key"], key.as_str());
        assert_eq!(r.json()["url"], "https://example.com/hook");
    }

    // Caller key fills the body too.
    server.push(ok());
    create_webhook(&client, None)
        .idempotency_key("wh-1")
        .await
        .unwrap();
    let r = server.requests().pop().unwrap();
    assert_eq!(r.header("idempotency-key"), Some("wh-1"));
    assert_eq!(r.json()["idempotency_key"], "wh-1");

    // A key already in the body is kept and reused as the header.
    server.push(fail(503)).push(ok());
    create_webhook(&client, Some("body-key")).await.unwrap();
    let reqs = server.requests();
    for r in &reqs[reqs.len() - 2..] {
        assert_eq!(r.header("idempotency-key"), Some("body-key"));
        assert_eq!(r.json()["idempotency_key"], "body-key");
    }
}

#[tokio::test]
async fn per_request_timeout_is_a_timeout_error() {
    let server = Server::start().await;
    server.push(ok().delay(Duration::from_secs(30)));
    let err = get(&server.client())
        .timeout(Duration::from_millis(200))
        .max_retries(0)
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.is_retryable());
    assert!(
        err.to_string()
            .contains("GET /payments/p timed out after 200 ms"),
        "{err}"
    );
}

#[tokio::test]
async fn timed_out_get_is_retried() {
    let server = Server::start().await;
    server.push(ok().delay(Duration::from_secs(30))).push(ok());
    // Per-attempt timeout: the second attempt must be answered within it, so keep it
    // generous for loaded CI machines.
    let v = get(&server.client())
        .timeout(Duration::from_millis(1500))
        .await
        .unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(retry_counts(&server), vec!["0", "1"]);
}

#[tokio::test]
async fn timed_out_post_without_key_is_not_retried() {
    let server = Server::start().await;
    let client = server.client();
    server.push(ok().delay(Duration::from_secs(30))).push(ok());
    let err = post(&client)
        .timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn total_timeout_bounds_the_whole_call() {
    let server = Server::start().await;
    server.push(ok().delay(Duration::from_secs(30)));
    let err = get(&server.client())
        .total_timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn connection_refused_is_a_connection_error() {
    let client = dodo_client::Client::builder()
        .api_key("k")
        .base_url(dead_address().await)
        .max_retries(0)
        .build()
        .unwrap();
    let err = get(&client).await.unwrap_err();
    assert!(err.is_connection(), "{err}");
    assert!(err.is_retryable());
    assert_eq!(err.status(), None);
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn retry_budget_stops_retry_storms_and_refills_on_success() {
    let server = Server::start().await;
    // Room for exactly one retry after an error response (cost 5).
    let client = server.builder().retry_budget(Some(5)).build().unwrap();
    server.push(fail(503)).push(fail(503));
    get(&client).await.unwrap_err();
    assert_eq!(
        server.requests().len(),
        2,
        "one retry, then the budget is empty"
    );

    // Clones share the budget: no retry left.
    server.push(fail(503));
    let err = get(&client.clone()).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(server.requests().len(), 3);

    // Successes refill it (1 token each): five of them pay for one retry again.
    for _ in 0..5 {
        server.push(ok());
    }
    for _ in 0..5 {
        get(&client).await.unwrap();
    }
    assert_eq!(server.requests().len(), 8);
    server.push(fail(503)).push(ok());
    get(&client).await.unwrap();
    assert_eq!(server.requests().len(), 10);

    // Disabled budget: plain max_retries.
    let server = Server::start().await;
    let client = server.builder().retry_budget(None).build().unwrap();
    for _ in 0..3 {
        server.push(fail(503));
    }
    get(&client).await.unwrap_err();
    assert_eq!(server.requests().len(), 3);
}
