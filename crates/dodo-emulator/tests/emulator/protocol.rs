//! Auth, errors, request ids, pagination limits, idempotency.

use dodo_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::json;

use crate::support::{Api, s};

#[tokio::test]
async fn auth_is_required_except_on_public_endpoints() {
    let api = Api::start().await;
    let anon = reqwest::Client::new();
    let r = anon.get(api.url("/customers")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "UNAUTHORIZED");
    assert!(body["message"].is_string());
    let r = anon
        .get(api.url("/customers"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = anon
        .get(api.url("/checkout/supported_countries"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let countries: serde_json::Value = r.json().await.unwrap();
    assert!(countries.as_array().unwrap().iter().any(|c| c == "US"));
    let r = anon
        .post(api.url("/licenses/validate"))
        .json(&json!({"license_key": "k"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn custom_api_key_is_enforced() {
    let api = Api::with(dodo_emulator::EmulatorConfig::default().api_key("sk_custom")).await;
    assert_eq!(api.emu.api_key(), "sk_custom");
    api.get("/customers").await.expect(200);
    let r = reqwest::Client::new()
        .get(api.url("/customers"))
        .bearer_auth(dodo_emulator::DEFAULT_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let api = Api::start().await;
    let ok = api.get("/customers").await.expect(200);
    let a = ok.header("x-request-id").unwrap().to_string();
    assert!(a.starts_with("req_"));
    let missing = api.get("/nowhere").await.expect(404);
    assert_eq!(missing.body["code"], "NOT_FOUND");
    assert!(missing.header("x-request-id").unwrap().starts_with("req_"));
    let unauth = api
        .send(api.http.get(api.url("/customers")))
        .await
        .expect(401);
    let b = unauth.header("x-request-id").unwrap();
    assert_ne!(a, b);
}

#[tokio::test]
async fn malformed_bodies_and_params_are_422() {
    let api = Api::start().await;
    let r = api
        .send(
            api.request(Method::POST, "/customers")
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await
        .expect(422);
    assert_eq!(r.body["code"], "INVALID_REQUEST");
    let r = api.get("/customers?page_size=101").await.expect(422);
    assert!(s(&r.body["message"]).contains("page_size"));
    api.get("/customers?page_size=100").await.expect(200);
    let r = api.get("/customers?page_number=abc").await.expect(422);
    assert!(s(&r.body["message"]).contains("page_number"));
    let r = api.get("/customers?page_size=0").await.expect(200);
    assert_eq!(r.body["items"], json!([]));
}

#[tokio::test]
async fn idempotency_key_is_ignored_by_default_like_the_live_api() {
    let api = Api::start().await;
    let body = json!({"email": "twice@example.com", "name": "Twice"});
    for _ in 0..2 {
        let r = api
            .send(
                api.request(Method::POST, "/customers")
                    .header("Idempotency-Key", "k-same")
                    .json(&body),
            )
            .await
            .expect(200);
        assert!(r.header("idempotent-replayed").is_none());
    }
    let customers = api.get("/customers").await.body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(customers, 2, "two creates, as the live API would make");
}

#[tokio::test]
async fn idempotency_key_replays_and_detects_reuse_when_turned_on() {
    let api = Api::with(EmulatorConfig::default().replay_idempotency_key(true)).await;
    let body = json!({"email": "idem@example.com", "name": "Idem"});
    let first = api
        .send(
            api.request(Method::POST, "/customers")
                .header("Idempotency-Key", "k-1")
                .json(&body),
        )
        .await
        .expect(200);
    assert!(first.header("idempotent-replayed").is_none());
    let second = api
        .send(
            api.request(Method::POST, "/customers")
                .header("Idempotency-Key", "k-1")
                .json(&body),
        )
        .await
        .expect(200);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.body, first.body);
    assert_eq!(
        api.get("/customers").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let other = api
        .send(
            api.request(Method::POST, "/customers")
                .header("Idempotency-Key", "k-1")
                .json(&json!({"email": "other@example.com", "name": "Other"})),
        )
        .await
        .expect(422);
    assert_eq!(other.body["code"], "IDEMPOTENCY_KEY_REUSED");

    // Client errors are recorded and replayed too.
    let bad = json!({"name": "no email"});
    api.send(
        api.request(Method::POST, "/customers")
            .header("Idempotency-Key", "k-2")
            .json(&bad),
    )
    .await
    .expect(422);
    let replay = api
        .send(
            api.request(Method::POST, "/customers")
                .header("Idempotency-Key", "k-2")
                .json(&bad),
        )
        .await
        .expect(422);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));

    // Without a key, the same body creates again.
    api.post(
        "/customers",
        json!({"email": "idem2@example.com", "name": "x"}),
    )
    .await
    .expect(200);
    api.post(
        "/customers",
        json!({"email": "idem3@example.com", "name": "x"}),
    )
    .await
    .expect(200);
    assert_eq!(
        api.get("/customers").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let api = Api::start().await;
    api.get("/customers").await.expect(200);
    let addr = api.emu.emulator().addr();
    api.emu.shutdown().await;
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// Enum values the spec does not list are refused as the API refuses them (clients keep
/// unknown values from responses; a request is judged strictly), with the operation's
/// documented status: 422, or 400 where the spec lists only that.
#[tokio::test]
async fn unknown_enum_values_are_refused_with_the_documented_status() {
    let api = Api::start().await;
    let r = api
        .post(
            "/webhooks",
            json!({"url": "https://example.com/hook", "filter_types": ["customer.created"]}),
        )
        .await
        .expect(422);
    assert!(
        s(&r.body["message"]).contains("filter_types[0]"),
        "{}",
        r.body
    );
    let r = api
        .post(
            "/addons",
            json!({"name": "Seat", "price": 100, "currency": "XYZ", "tax_category": "saas"}),
        )
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("currency"), "{}", r.body);
    let r = api.get("/payments?status=mostly_paid").await.expect(422);
    assert!(s(&r.body["message"]).contains("status"), "{}", r.body);

    // The credit ledger documents 400 ("Invalid request") and no 422.
    let customer = api
        .post(
            "/customers",
            json!({"email": "ada@example.com", "name": "Ada"}),
        )
        .await
        .expect(200)
        .body;
    let r = api
        .post(
            &format!(
                "/credit-entitlements/cde_none/balances/{}/ledger-entries",
                s(&customer["customer_id"])
            ),
            json!({"entry_type": "loan", "amount": "1"}),
        )
        .await
        .expect(400);
    assert!(s(&r.body["message"]).contains("entry_type"), "{}", r.body);
}
