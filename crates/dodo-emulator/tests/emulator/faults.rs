//! Fault injection through the admin API.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::Api;

#[tokio::test]
async fn a_503_fault_then_success() {
    let api = Api::start().await;
    let rule = api
        .admin_http(
            Method::POST,
            "/_emulator/faults",
            Some(
                json!({"count": 1, "path_prefix": "/customers", "status": 503,
                        "retry_after": 2, "x_should_retry": true}),
            ),
        )
        .await
        .expect(201)
        .body;
    assert!(rule["id"].as_str().unwrap().starts_with("flt_"));
    assert_eq!(rule["remaining"], 1);
    // Other paths are unaffected.
    api.get("/products").await.expect(200);
    let failed = api.get("/customers").await.expect(503);
    assert_eq!(failed.body["code"], "EMULATED_FAULT");
    assert_eq!(failed.header("retry-after"), Some("2"));
    assert_eq!(failed.header("x-should-retry"), Some("true"));
    assert!(failed.header("x-request-id").is_some());
    api.get("/customers").await.expect(200);
    let rules = api
        .admin_http(Method::GET, "/_emulator/faults", None)
        .await
        .expect(200)
        .body;
    assert_eq!(rules["items"], json!([]));
}

#[tokio::test]
async fn faults_match_method_and_count_down() {
    let api = Api::start().await;
    api.admin_http(
        Method::POST,
        "/_emulator/faults",
        Some(json!({"count": 2, "method": "POST", "status": 429})),
    )
    .await
    .expect(201);
    api.get("/customers").await.expect(200);
    let body = json!({"email": "f@x.io", "name": "F"});
    api.post("/customers", body.clone()).await.expect(429);
    let rules = api
        .admin_http(Method::GET, "/_emulator/faults", None)
        .await
        .body;
    assert_eq!(rules["items"][0]["remaining"], 1);
    api.post("/customers", body.clone()).await.expect(429);
    api.post("/customers", body).await.expect(200);

    api.admin_http(
        Method::POST,
        "/_emulator/faults",
        Some(json!({"status": 500, "count": 5})),
    )
    .await
    .expect(201);
    api.admin_http(Method::DELETE, "/_emulator/faults", None)
        .await
        .expect(204);
    api.get("/customers").await.expect(200);

    let bad = api
        .admin_http(Method::POST, "/_emulator/faults", Some(json!({"count": 1})))
        .await
        .expect(422);
    assert_eq!(bad.body["code"], "INVALID_REQUEST");
    let bad = api
        .admin_http(
            Method::POST,
            "/_emulator/faults",
            Some(json!({"status": "x"})),
        )
        .await
        .expect(422);
    assert!(bad.body["message"].as_str().unwrap().contains("status"));
}

#[tokio::test]
async fn a_delay_fault_outlasts_a_short_client_timeout() {
    let api = Api::start().await;
    api.admin_http(
        Method::POST,
        "/_emulator/faults",
        Some(json!({"path_prefix": "/customers", "delay_ms": 5000})),
    )
    .await
    .expect(201);
    let err = api
        .request(Method::GET, "/customers")
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // The rule was used up; the next request is served normally.
    api.get("/customers").await.expect(200);
}

#[tokio::test]
async fn a_delay_without_status_still_answers() {
    let api = Api::start().await;
    api.admin_http(
        Method::POST,
        "/_emulator/faults",
        Some(json!({"delay_ms": 20})),
    )
    .await
    .expect(201);
    api.get("/customers").await.expect(200);
}

#[tokio::test]
async fn a_dropped_connection_fails_the_request_without_a_response() {
    let api = Api::start().await;
    api.admin_http(
        Method::POST,
        "/_emulator/faults",
        Some(json!({"path_prefix": "/customers", "drop_connection": true})),
    )
    .await
    .expect(201);
    let err = api
        .request(Method::GET, "/customers")
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err}");
    api.get("/customers").await.expect(200);
}
