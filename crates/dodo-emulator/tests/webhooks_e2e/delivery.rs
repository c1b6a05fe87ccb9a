use dodo_webhooks::{EventPayload, EventType};
use reqwest::Method;
use serde_json::{Value, json};

use dodo_emulator::testing::{DeliveryFilter, SeedObject, WebhookSchedule};

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
        let d = serde_json::to_value(api.harness().delivery(id).await.unwrap()).unwrap();
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
        .harness()
        .events(Some("payment.succeeded"), 100)
        .await
        .unwrap();
    json!(events[0].business_id)
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

    let items = api
        .harness()
        .deliveries(&DeliveryFilter::endpoint(&endpoint))
        .await
        .unwrap();
    assert_eq!(items.len(), 1, "filter_types keeps only payment.succeeded");
    let did = items[0].id.clone();
    let d = wait_delivery(&api, &did, |d| d["status"] == "succeeded").await;
    assert_eq!(d["attempts"], 3);
    let log = d["attempt_log"].as_array().unwrap();
    let codes: Vec<i64> = log
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 503, 200]);
    assert_eq!(d["payload"]["type"], "payment.succeeded");

    let replayed = api.harness().replay_delivery(&did).await.unwrap();
    let again = rx.next().await;
    assert_eq!(again.header("webhook-id"), id);
    assert_eq!(
        again.verify(&secret).event_type(),
        EventType::PaymentSucceeded
    );
    let rid = replayed.id.clone();
    assert_ne!(rid, did);
    wait_delivery(&api, &rid, |d| d["status"] == "succeeded").await;
}

#[tokio::test]
async fn exhausted_schedule_marks_the_delivery_failed_and_disabled_endpoints_are_skipped() {
    let api = Api::start().await;
    api.harness()
        .set_webhook_schedule(&WebhookSchedule::Custom {
            delays_ms: vec![0, 10],
            timeout_ms: None,
        })
        .await
        .unwrap();
    let mut rx = Receiver::start(vec![500, 500, 500, 500]).await;
    let (endpoint, _) = register(&api, &rx.url, &["payment.succeeded"]).await;
    let product = api.one_time_product(100).await;
    api.paid_payment(s(&product["product_id"]), 1).await;
    for _ in 0..3 {
        assert_eq!(rx.next().await.answered, 500);
    }
    let list = api
        .harness()
        .deliveries(&DeliveryFilter::default())
        .await
        .unwrap();
    let did = list[0].id.clone();
    let d = wait_delivery(&api, &did, |d| d["status"] == "failed").await;
    assert_eq!(d["attempts"], 3);

    api.patch(&format!("/webhooks/{endpoint}"), json!({"disabled": true}))
        .await
        .expect(200);
    api.paid_payment(s(&product["product_id"]), 1).await;
    let list = api
        .harness()
        .deliveries(&DeliveryFilter::default())
        .await
        .unwrap();
    assert_eq!(list.len(), 1);

    let bad = api
        .admin_http(
            Method::PUT,
            "/_emulator/webhook-schedule",
            Some(json!({"profile": "sometimes"})),
        )
        .await;
    assert_eq!(bad.status, 422);
    let realistic = api
        .admin_http(
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
    api.harness().add_endpoint(&rx.url, &[]).await.unwrap();
    let product = api.one_time_product(100).await;
    api.paid_payment(s(&product["product_id"]), 1).await;
    let got = rx.next_of("payment.succeeded").await;
    got.verify(api.emu.webhook_secret());
}

#[tokio::test]
async fn a_timeout_is_retried_and_410_disables_the_endpoint() {
    let api = Api::start().await;
    api.harness()
        .set_webhook_schedule(&WebhookSchedule::Custom {
            delays_ms: vec![0, 0],
            timeout_ms: Some(300),
        })
        .await
        .unwrap();
    let mut rx = Receiver::start(vec![crate::receiver::HANG]).await;
    let (_, secret) = register(&api, &rx.url, &["payment.succeeded"]).await;
    let product = api.one_time_product(100).await;
    api.paid_payment(s(&product["product_id"]), 1).await;
    let got = rx.next().await;
    assert_eq!(got.answered, 200);
    got.verify(&secret);
    let list = api
        .harness()
        .deliveries(&DeliveryFilter::default())
        .await
        .unwrap();
    let did = list[0].id.clone();
    let d = wait_delivery(&api, &did, |d| d["status"] == "succeeded").await;
    assert_eq!(d["attempt_log"][0]["error"], "timeout");
    assert_eq!(d["attempt_log"][1]["status_code"], 200);

    let mut gone = Receiver::start(vec![410]).await;
    let (endpoint, _) = register(&api, &gone.url, &["payment.succeeded"]).await;
    api.paid_payment(s(&product["product_id"]), 1).await;
    assert_eq!(gone.next().await.answered, 410);
    let list = api
        .harness()
        .deliveries(&DeliveryFilter::endpoint(&endpoint))
        .await
        .unwrap();
    let did = list[0].id.clone();
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
    api.harness().trigger("payment.succeeded").await.unwrap();
    assert!(!api.harness().events(None, 100).await.unwrap().is_empty());
    api.harness().reset().await.unwrap();
    assert_eq!(api.harness().events(None, 100).await.unwrap(), vec![]);
}

#[tokio::test]
async fn seeded_objects_emit_no_events_but_later_changes_do() {
    let api = Api::start().await;
    let inserted = api
        .harness()
        .seed(&[SeedObject::new(
            "license_key",
            "lic_seeded",
            json!({"id": "lic_seeded"}),
        )])
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    assert_eq!(api.harness().events(None, 100).await.unwrap(), vec![]);
    let product = api.one_time_product(100).await;
    api.paid_payment(s(&product["product_id"]), 1).await;
    let events = api
        .harness()
        .events(Some("payment.succeeded"), 100)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
}
