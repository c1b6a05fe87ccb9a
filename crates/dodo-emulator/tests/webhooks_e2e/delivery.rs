use dodo_webhooks::{EventPayload, EventType};
use reqwest::Method;
use serde_json::{Value, json};

use crate::receiver::Receiver;
use crate::support::{Api, s};

/// Registers `url` through the public API; answers (endpoint id, its secret).
pub async fn register(api: &Api, url: &str, filter: &[&str]) -> (String, String) {
    let ep = api
        .post("/webhooks", json!({"url": url, "filter_types": filter}))
        .await
        .expect(200)
        .body;
    let id = s(&ep["id"]).to_string();
    let secret = api
        .get(&format!("/webhooks/{id}/secret"))
        .await
        .expect(200)
        .body;
    (id, s(&secret["secret"]).to_string())
}

/// Polls the delivery log until `pred` holds for the delivery (a hang guard of 60 s).
pub async fn wait_delivery(api: &Api, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..3000 {
        let d = api
            .admin(Method::GET, &format!("/_emulator/deliveries/{id}"), None)
            .await
            .expect(200)
            .body;
        if pred(&d) {
            return d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("delivery {id} never reached the expected state");
}

#[tokio::test]
async fn payment_success_is_delivered_signed_and_typed() {
    let api = Api::start().await;
    let mut rx = Receiver::start(vec![]).await;
    let (_, secret) = register(&api, &rx.url, &[]).await;
    let product = api.one_time_product(1500).await;
    let paid = api.paid_payment(s(&product["product_id"]), 2).await;
    let got = rx.next_of("payment.succeeded").await;
    let event = got.verify(&secret);
    assert_eq!(event.event_type(), EventType::PaymentSucceeded);
    let EventPayload::PaymentSucceeded(p) = &event.payload else {
        panic!("wrong variant: {:?}", event.event_type());
    };
    assert_eq!(p.payment_id, s(&paid["payment_id"]));
    assert_eq!(p.total_amount, 3000);
    let raw: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(raw["business_id"], api_business(&api).await);
    assert_eq!(raw["data"]["payload_type"], "Payment");
    assert_eq!(raw["data"]["status"], "succeeded");
}

async fn api_business(api: &Api) -> Value {
    let events = api
        .admin(
            Method::GET,
            "/_emulator/events?type=payment.succeeded",
            None,
        )
        .await
        .expect(200)
        .body;
    events["items"][0]["business_id"].clone()
}

#[tokio::test]
async fn failing_receiver_gets_three_attempts_with_one_webhook_id_then_replay() {
    let api = Api::start().await;
    let mut rx = Receiver::start(vec![500, 503]).await;
    let (endpoint, secret) = register(&api, &rx.url, &["payment.succeeded"]).await;
    let product = api.one_time_product(700).await;
    api.paid_payment(s(&product["product_id"]), 1).await;
    let first = rx.next().await;
    let second = rx.next().await;
    let third = rx.next().await;
    assert_eq!(
        [first.answered, second.answered, third.answered],
        [500, 503, 200]
    );
    let id = first.header("webhook-id").to_string();
    assert!(id.starts_with("msg_"));
    assert_eq!(second.header("webhook-id"), id);
    assert_eq!(third.header("webhook-id"), id);
    assert_eq!(
        third.verify(&secret).event_type(),
        EventType::PaymentSucceeded
    );

    let list = api
        .admin(
            Method::GET,
            &format!("/_emulator/deliveries?endpoint_id={endpoint}"),
            None,
        )
        .await
        .expect(200)
        .body;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "filter_types keeps only payment.succeeded");
    let did = s(&items[0]["id"]).to_string();
    let d = wait_delivery(&api, &did, |d| d["status"] == "succeeded").await;
    assert_eq!(d["attempts"], 3);
    let log = d["attempt_log"].as_array().unwrap();
    let codes: Vec<i64> = log
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 503, 200]);
    assert_eq!(d["payload"]["type"], "payment.succeeded");

    let replayed = api
        .admin(
            Method::POST,
            &format!("/_emulator/deliveries/{did}/replay"),
            None,
        )
        .await
        .expect(202)
        .body;
    let again = rx.next().await;
    assert_eq!(again.header("webhook-id"), id);
    assert_eq!(
        again.verify(&secret).event_type(),
        EventType::PaymentSucceeded
    );
    let rid = s(&replayed["id"]).to_string();
    assert_ne!(rid, did);
    wait_delivery(&api, &rid, |d| d["status"] == "succeeded").await;
}

#[tokio::test]
async fn exhausted_schedule_marks_the_delivery_failed_and_disabled_endpoints_are_skipped() {
    let api = Api::start().await;
    api.admin(
        Method::PUT,
        "/_emulator/webhook-schedule",
        Some(json!({"delays_ms": [0, 10]})),
    )
    .await
    .expect(200);
    let mut rx = Receiver::start(vec![500, 500, 500, 500]).await;
    let (endpoint, _) = register(&api, &rx.url, &["payment.succeeded"]).await;
    let product = api.one_time_product(100).await;
    api.paid_payment(s(&product["product_id"]), 1).await;
    for _ in 0..3 {
        assert_eq!(rx.next().await.answered, 500);
    }
    let list = api
        .admin(Method::GET, "/_emulator/deliveries", None)
        .await
        .expect(200)
        .body;
    let did = s(&list["items"][0]["id"]).to_string();
    let d = wait_delivery(&api, &did, |d| d["status"] == "failed").await;
    assert_eq!(d["attempts"], 3);

    api.patch(&format!("/webhooks/{endpoint}"), json!({"disabled": true}))
        .await
        .expect(200);
    api.paid_payment(s(&product["product_id"]), 1).await;
    let list = api
        .admin(Method::GET, "/_emulator/deliveries", None)
        .await
        .expect(200)
        .body;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let bad = api
        .admin(
            Method::PUT,
            "/_emulator/webhook-schedule",
            Some(json!({"profile": "sometimes"})),
        )
        .await;
    assert_eq!(bad.status, 422);
    let realistic = api
        .admin(
            Method::PUT,
            "/_emulator/webhook-schedule",
            Some(json!({"profile": "realistic"})),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(realistic["delays_ms"][2], 300_000);
}

#[tokio::test]
async fn admin_endpoints_are_signed_with_the_emulator_wide_secret() {
    let api = Api::start().await;
    let mut rx = Receiver::start(vec![]).await;
    api.admin(
        Method::POST,
        "/_emulator/endpoints",
        Some(json!({"url": rx.url})),
    )
    .await
    .expect(201);
    let product = api.one_time_product(100).await;
    api.paid_payment(s(&product["product_id"]), 1).await;
    let got = rx.next_of("payment.succeeded").await;
    got.verify(api.emu.webhook_secret());
}

#[tokio::test]
async fn a_timeout_is_retried_and_410_disables_the_endpoint() {
    let api = Api::start().await;
    api.admin(
        Method::PUT,
        "/_emulator/webhook-schedule",
        Some(json!({"delays_ms": [0, 0], "timeout_ms": 300})),
    )
    .await
    .expect(200);
    let mut rx = Receiver::start(vec![crate::receiver::HANG]).await;
    let (_, secret) = register(&api, &rx.url, &["payment.succeeded"]).await;
    let product = api.one_time_product(100).await;
    api.paid_payment(s(&product["product_id"]), 1).await;
    let got = rx.next().await;
    assert_eq!(got.answered, 200);
    got.verify(&secret);
    let list = api
        .admin(Method::GET, "/_emulator/deliveries", None)
        .await
        .expect(200)
        .body;
    let did = s(&list["items"][0]["id"]).to_string();
    let d = wait_delivery(&api, &did, |d| d["status"] == "succeeded").await;
    assert_eq!(d["attempt_log"][0]["error"], "timeout");
    assert_eq!(d["attempt_log"][1]["status_code"], 200);

    let mut gone = Receiver::start(vec![410]).await;
    let (endpoint, _) = register(&api, &gone.url, &["payment.succeeded"]).await;
    api.paid_payment(s(&product["product_id"]), 1).await;
    assert_eq!(gone.next().await.answered, 410);
    let list = api
        .admin(
            Method::GET,
            &format!("/_emulator/deliveries?endpoint_id={endpoint}"),
            None,
        )
        .await
        .expect(200)
        .body;
    let did = s(&list["items"][0]["id"]).to_string();
    let d = wait_delivery(&api, &did, |d| d["status"] == "failed").await;
    assert_eq!(d["attempts"], 1, "410 is final");
    let ep = api
        .get(&format!("/webhooks/{endpoint}"))
        .await
        .expect(200)
        .body;
    assert_eq!(ep["disabled"], true);
}

#[tokio::test]
async fn reset_clears_events_and_deliveries() {
    let api = Api::start().await;
    api.admin(Method::POST, "/_emulator/trigger/payment.succeeded", None)
        .await
        .expect(200);
    api.admin(Method::POST, "/_emulator/reset", None)
        .await
        .expect(204);
    let events = api
        .admin(Method::GET, "/_emulator/events", None)
        .await
        .expect(200)
        .body;
    assert_eq!(events["items"], json!([]));
}

#[tokio::test]
async fn seeded_objects_emit_no_events_but_later_changes_do() {
    let api = Api::start().await;
    api.admin(
        Method::POST,
        "/_emulator/seed",
        Some(json!([{"kind": "license_key", "id": "lic_seeded", "data": {"id": "lic_seeded"}}])),
    )
    .await
    .expect(200);
    let events = api
        .admin(Method::GET, "/_emulator/events", None)
        .await
        .expect(200)
        .body;
    assert_eq!(events["items"], json!([]));
    let product = api.one_time_product(100).await;
    api.paid_payment(s(&product["product_id"]), 1).await;
    let events = api
        .admin(
            Method::GET,
            "/_emulator/events?type=payment.succeeded",
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
}
