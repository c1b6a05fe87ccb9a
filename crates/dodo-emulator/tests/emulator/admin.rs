use reqwest::Method;
use serde_json::json;

use crate::support::Api;

#[tokio::test]
async fn health_seed_and_reset() {
    let api = Api::start().await;
    let health = api
        .admin(Method::GET, "/_emulator/health", None)
        .await
        .expect(200)
        .body;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["operations"], 174);

    let seeded = api
        .admin(
            Method::POST,
            "/_emulator/seed",
            Some(json!({"objects": [
                {"kind": "customer", "id": "cus_seeded", "data": {
                    "customer_id": "cus_seeded", "business_id": "bus_x", "name": "Seed",
                    "email": "seed@example.com", "created_at": "2025-01-01T00:00:00.000000Z",
                    "metadata": {}}, "created_at": "2025-01-01T00:00:00Z"},
                {"kind": "generic:/payouts", "id": "pyt_1", "data": {"payout_id": "pyt_1", "amount": 100}}
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
        .admin(
            Method::POST,
            "/_emulator/seed",
            Some(json!([{"kind": "customer", "id": "cus_seeded", "data": {}}])),
        )
        .await
        .expect(409);
    assert_eq!(dup.body["code"], "SEED_CONFLICT");
    let bad = api
        .admin(
            Method::POST,
            "/_emulator/seed",
            Some(json!({"objects": [{"kind": "x"}]})),
        )
        .await
        .expect(422);
    assert!(bad.body["message"].as_str().unwrap().contains("objects"));

    let secret = api.emu.webhook_secret().to_string();
    api.admin(Method::POST, "/_emulator/reset", None)
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
async fn admin_routes_ignore_auth_and_faults() {
    let api = Api::start().await;
    api.admin(
        Method::POST,
        "/_emulator/faults",
        Some(json!({"status": 500, "count": 10})),
    )
    .await
    .expect(201);
    api.admin(Method::GET, "/_emulator/health", None)
        .await
        .expect(200);
    api.admin(Method::GET, "/_emulator/faults", None)
        .await
        .expect(200);
}
