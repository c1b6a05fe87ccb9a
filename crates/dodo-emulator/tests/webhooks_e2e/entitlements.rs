//! `entitlement_grant.*` deliveries: a paid checkout of a product carrying entitlements
//! emits `created` and `delivered` (or `failed`), a revoke emits `revoked`, each verified at a
//! `testing::WebhookReceiver` and carrying the grant as the API shows it.

use dodo_emulator::purchase::TestCard;
use std::collections::HashMap;

use dodo_emulator::testing::{TestEmulator, WebhookReceiver};
use dodo_webhooks::{EventPayload, EventType, WebhookEvent};
use serde_json::{Value, json};

async fn call(
    emu: &TestEmulator,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut rb = reqwest::Client::new()
        .request(method, format!("{}{path}", emu.base_url()))
        .bearer_auth(emu.api_key());
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

/// The grant of an `entitlement_grant.*` event as JSON.
fn grant(event: &WebhookEvent) -> Value {
    match &event.payload {
        EventPayload::EntitlementGrantCreated(g)
        | EventPayload::EntitlementGrantDelivered(g)
        | EventPayload::EntitlementGrantFailed(g)
        | EventPayload::EntitlementGrantRevoked(g) => serde_json::to_value(g).unwrap(),
        other => panic!("not a grant event: {other:?}"),
    }
}

/// Receives verified deliveries until one of each wanted type has arrived (in any order, as
/// deliveries may be), answering each event's raw `data` by type.
async fn collect(hooks: &mut WebhookReceiver, wanted: &[EventType]) -> HashMap<String, Vec<Value>> {
    let mut got: HashMap<String, Vec<Value>> = HashMap::new();
    while !wanted.iter().all(|t| got.contains_key(t.as_str())) {
        let r = hooks.next().await.unwrap();
        let raw: Value = serde_json::from_slice(&r.body).unwrap();
        got.entry(r.event.event_type().as_str().to_string())
            .or_default()
            .push(raw["data"].clone());
    }
    got
}

#[tokio::test]
async fn grants_emit_created_delivered_failed_and_revoked() {
    let emu = TestEmulator::start().await.unwrap();
    let mut hooks = emu.webhook_receiver().await.unwrap();
    let post = reqwest::Method::POST;
    let flag = call(
        &emu,
        post.clone(),
        "/entitlements",
        Some(json!({"name": "Beta", "integration_type": "feature_flag",
                    "integration_config": {"feature_type": "boolean", "feature_id": "beta-ui"}})),
    )
    .await;
    // A digital_files entitlement without files cannot be delivered.
    let files = call(
        &emu,
        post.clone(),
        "/entitlements",
        Some(
            json!({"name": "Assets", "integration_type": "digital_files",
                    "integration_config": {"digital_file_ids": []}}),
        ),
    )
    .await;
    let product = call(
        &emu,
        post.clone(),
        "/products",
        Some(json!({"name": "Kit", "tax_category": "digital_products",
            "price": {"type": "one_time_price", "price": 2_500, "currency": "USD",
                      "discount": 0, "purchasing_power_parity": false},
            "entitlements": [{"entitlement_id": flag["id"]}, {"entitlement_id": files["id"]}]})),
    )
    .await;
    assert_eq!(product["entitlements"].as_array().unwrap().len(), 2);
    let session = call(
        &emu,
        post.clone(),
        "/checkouts",
        Some(json!({"product_cart": [{"product_id": product["product_id"], "quantity": 1}]})),
    )
    .await;
    let paid = emu
        .admin()
        .pay_checkout_session(session["session_id"].as_str().unwrap(), TestCard::Succeeds)
        .await
        .unwrap();

    let got = collect(
        &mut hooks,
        &[
            EventType::EntitlementGrantCreated,
            EventType::EntitlementGrantDelivered,
            EventType::EntitlementGrantFailed,
        ],
    )
    .await;
    // Two created events (wait for the second if it is still on its way).
    let mut created = got["entitlement_grant.created"].clone();
    while created.len() < 2 {
        let r = hooks
            .next_of(EventType::EntitlementGrantCreated)
            .await
            .unwrap();
        created.push(grant(&r));
    }
    for c in &created {
        assert_eq!(c["status"], "Pending");
        assert_eq!(c["payment_id"], paid.payment_id.as_str());
    }
    let customer_id = created[0]["customer_id"].as_str().unwrap().to_string();
    assert!(customer_id.starts_with("cus_"));
    assert_eq!(created[1]["customer_id"], customer_id.as_str());

    let delivered = got["entitlement_grant.delivered"][0].clone();
    assert_eq!(delivered["entitlement_id"], flag["id"]);
    assert_eq!(delivered["status"], "Delivered");
    assert_eq!(delivered["feature"]["feature_id"], "beta-ui");
    assert!(delivered["delivered_at"].is_string());

    let failed = got["entitlement_grant.failed"][0].clone();
    assert_eq!(failed["entitlement_id"], files["id"]);
    assert_eq!(failed["status"], "Failed");
    assert_eq!(failed["error_code"], "NO_FILES_ATTACHED");

    // The event carries the grant as the API lists it.
    let listed = call(
        &emu,
        reqwest::Method::GET,
        &format!("/customers/{customer_id}/entitlement-grants?status=Delivered"),
        None,
    )
    .await;
    assert_eq!(listed["items"][0]["id"], delivered["id"]);
    // The same instant (webhook payloads may print fewer fractional digits).
    let at = |v: &Value| dodo_emulator::clock::parse(v.as_str().unwrap()).unwrap();
    assert_eq!(
        at(&listed["items"][0]["delivered_at"]),
        at(&delivered["delivered_at"])
    );

    let gid = delivered["id"].as_str().unwrap();
    let flag_id = flag["id"].as_str().unwrap();
    call(
        &emu,
        reqwest::Method::DELETE,
        &format!("/entitlements/{flag_id}/grants/{gid}"),
        None,
    )
    .await;
    let revoked = grant(
        &hooks
            .next_of(EventType::EntitlementGrantRevoked)
            .await
            .unwrap(),
    );
    assert_eq!(revoked["id"], gid);
    assert_eq!(revoked["status"], "Revoked");
    assert!(revoked["revoked_at"].is_string());
    emu.shutdown().await;
}

#[tokio::test]
async fn license_key_grants_arrive_delivered_and_a_refund_revokes_them() {
    let emu = TestEmulator::start().await.unwrap();
    let mut hooks = emu.webhook_receiver().await.unwrap();
    let post = reqwest::Method::POST;
    let lic = call(
        &emu,
        post.clone(),
        "/entitlements",
        Some(json!({"name": "Pro key", "integration_type": "license_key",
                    "integration_config": {"activations_limit": 3}})),
    )
    .await;
    let product = call(
        &emu,
        post.clone(),
        "/products",
        Some(json!({"name": "App", "tax_category": "saas",
            "price": {"type": "one_time_price", "price": 4_900, "currency": "USD",
                      "discount": 0, "purchasing_power_parity": false},
            "entitlements": [{"entitlement_id": lic["id"]}]})),
    )
    .await;
    let session = call(
        &emu,
        post.clone(),
        "/checkouts",
        Some(json!({"product_cart": [{"product_id": product["product_id"], "quantity": 1}]})),
    )
    .await;
    let paid = emu
        .admin()
        .pay_checkout_session(session["session_id"].as_str().unwrap(), TestCard::Succeeds)
        .await
        .unwrap();
    let got = collect(
        &mut hooks,
        &[
            EventType::EntitlementGrantCreated,
            EventType::EntitlementGrantDelivered,
            EventType::LicenseKeyCreated,
        ],
    )
    .await;
    // Inserted delivered: both events carry the key.
    let created = &got["entitlement_grant.created"][0];
    let delivered = &got["entitlement_grant.delivered"][0];
    assert_eq!(created["status"], "Delivered");
    assert_eq!(created["id"], delivered["id"]);
    let key = created["license_key"]["key"].as_str().unwrap();
    assert_eq!(delivered["license_key"]["key"], key);
    assert_eq!(created["license_key"]["activations_limit"], 3);
    let keys = &got["license_key.created"];
    assert_eq!(keys[0]["key"], key);
    assert_eq!(keys[0]["customer_id"], created["customer_id"]);

    call(
        &emu,
        post.clone(),
        "/refunds",
        Some(json!({"payment_id": paid.payment_id})),
    )
    .await;
    let revoked = grant(
        &hooks
            .next_of(EventType::EntitlementGrantRevoked)
            .await
            .unwrap(),
    );
    assert_eq!(revoked["id"], created["id"]);
    assert_eq!(revoked["revocation_reason"], "payment_refunded");
    emu.shutdown().await;
}
