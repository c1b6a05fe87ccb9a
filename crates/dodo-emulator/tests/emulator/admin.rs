use reqwest::Method;
use serde_json::json;

use crate::support::Api;

#[tokio::test]
async fn health_seed_and_reset() {
    let api = Api::start().await;
    let health = api
        .admin_http(Method::GET, "/_emulator/health", None)
        .await
        .expect(200)
        .body;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["operations"], 174);

    let seeded = api
        .admin_http(
            Method::POST,
            "/_emulator/seed",
            Some(json!({"objects": [
                {"kind": "customer", "id": "cus_seeded", "data": {
                    "customer_id": "cus_seeded", "business_id": "bus_x", "name": "Seed",
                    "email": "seed@example.com", "created_at": "2025-01-01T00:00:00.000000Z",
                    "metadata": {}}, "created_at": "2025-01-01T00:00:00Z"},
                {"kind": "payout", "id": "pyt_1", "data": {"payout_id": "pyt_1", "amount": 100}}
            ]})),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(seeded["inserted"], 2);
    let c = api.get("/customers/cus_seeded").await.expect(200).body;
    assert_eq!(c["email"], "seed@example.com");
    let old = api
        .get("/customers?created_at_lte=2025-06-01T00:00:00Z")
        .await
        .body;
    assert_eq!(old["items"][0]["customer_id"], "cus_seeded");
    let payouts = api.get("/payouts").await.expect(200).body;
    assert_eq!(payouts["items"][0]["payout_id"], "pyt_1");

    let dup = api
        .admin_http(
            Method::POST,
            "/_emulator/seed",
            Some(json!([{"kind": "customer", "id": "cus_seeded", "data": {}}])),
        )
        .await
        .expect(409);
    assert_eq!(dup.body["code"], "SEED_CONFLICT");
    let bad = api
        .admin_http(
            Method::POST,
            "/_emulator/seed",
            Some(json!({"objects": [{"kind": "x"}]})),
        )
        .await
        .expect(422);
    assert!(bad.body["message"].as_str().unwrap().contains("objects"));

    let secret = api.emu.webhook_secret().to_string();
    api.admin_http(Method::POST, "/_emulator/reset", None)
        .await
        .expect(204);
    api.get("/customers/cus_seeded").await.expect(404);
    assert_eq!(api.get("/customers").await.body["items"], json!([]));
    assert_eq!(api.emu.webhook_secret(), secret);
    // The default brand comes back on demand.
    let p = api.one_time_product(10).await;
    assert!(p["brand_id"].as_str().unwrap().starts_with("brnd_"));
}

#[tokio::test]
async fn admin_routes_ignore_faults() {
    let api = Api::start().await;
    api.admin_http(
        Method::POST,
        "/_emulator/faults",
        Some(json!({"status": 500, "count": 10})),
    )
    .await
    .expect(201);
    api.admin_http(Method::GET, "/_emulator/health", None)
        .await
        .expect(200);
    api.admin_http(Method::GET, "/_emulator/faults", None)
        .await
        .expect(200);
}

#[tokio::test]
async fn admin_routes_refuse_missing_or_wrong_credentials() {
    let api = Api::start().await;
    // Health stays open (process managers probe it without a key).
    let health = api
        .http
        .get(api.url("/_emulator/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    for (method, path) in [
        (Method::GET, "/_emulator/faults"),
        (Method::POST, "/_emulator/reset"),
        (Method::POST, "/_emulator/clock/advance"),
        (Method::GET, "/_emulator/deliveries"),
        (Method::GET, "/_emulator/deliveries/stream"),
        (Method::GET, "/_emulator/requests"),
        (Method::POST, "/_emulator/trigger/payment.succeeded"),
        (Method::GET, "/_emulator/endpoints/whk_x/secret"),
        (Method::POST, "/_emulator/health"),
    ] {
        let none = api
            .send(api.http.request(method.clone(), api.url(path)))
            .await;
        assert_eq!(none.status, 401, "{method} {path}: {}", none.body);
        assert_eq!(none.body["code"], "UNAUTHORIZED");
        let wrong = api
            .send(
                api.http
                    .request(method.clone(), api.url(path))
                    .bearer_auth("dodo_test_wrong"),
            )
            .await;
        assert_eq!(wrong.status, 401, "{method} {path}");
    }
    // Nothing was reset or triggered.
    let events = api
        .admin_http(Method::GET, "/_emulator/events", None)
        .await
        .expect(200);
    assert_eq!(events.body["items"], json!([]));
}

#[tokio::test]
async fn admin_routes_refuse_what_a_cross_site_form_can_send() {
    let api = Api::start().await;
    api.customer("keep@example.com").await;
    // A form post: no Authorization header, a form content type.
    let form = api
        .send(
            api.http
                .post(api.url("/_emulator/reset"))
                .form(&[("confirm", "1")]),
        )
        .await;
    assert_eq!(form.status, 401);
    // Even with the key (say, a leaked one in a browser extension), form bodies are refused.
    for ct in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let r = api
            .send(
                api.request(Method::POST, "/_emulator/reset")
                    .header("content-type", ct)
                    .body("a=b"),
            )
            .await;
        assert_eq!(r.status, 415, "{ct}: {}", r.body);
        assert_eq!(r.body["code"], "UNSUPPORTED_MEDIA_TYPE");
    }
    let r = api
        .send(api.request(Method::POST, "/_emulator/reset").body("{}"))
        .await;
    assert_eq!(r.status, 415, "a body without a content type is refused");
    let list = api.get("/customers").await.expect(200).body;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing was reset"
    );
    api.admin_http(Method::POST, "/_emulator/reset", None)
        .await
        .expect(204);
}

#[tokio::test]
async fn endpoint_secret_comes_only_from_the_secret_route() {
    let api = Api::start().await;
    let ep = api
        .admin_http(
            Method::POST,
            "/_emulator/endpoints",
            Some(json!({"url": "http://127.0.0.1:9/hook"})),
        )
        .await
        .expect(201)
        .body;
    assert!(ep.get("secret").is_none(), "{ep}");
    assert!(!ep.to_string().contains("whsec_"));
    let id = ep["id"].as_str().unwrap();
    let listed = api
        .admin_http(Method::GET, "/_emulator/endpoints", None)
        .await
        .expect(200);
    assert!(!listed.body.to_string().contains("whsec_"));
    let secret = api
        .admin_http(
            Method::GET,
            &format!("/_emulator/endpoints/{id}/secret"),
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(secret["secret"], api.emu.webhook_secret());
    api.admin_http(Method::GET, "/_emulator/endpoints/whk_nope/secret", None)
        .await
        .expect(404);
}

#[tokio::test]
async fn a_public_address_with_the_default_key_is_refused() {
    let config = dodo_emulator::EmulatorConfig::default()
        .host(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let err = dodo_emulator::Emulator::start(config).await.unwrap_err();
    assert!(
        matches!(
            err,
            dodo_emulator::StartError::DefaultKeyOnPublicAddress { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("default API key"), "{err}");
    let own_key = dodo_emulator::EmulatorConfig::default()
        .host(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
        .api_key("dodo_test_my_own_key");
    let emu = dodo_emulator::Emulator::start(own_key).await.unwrap();
    emu.shutdown().await;
}
