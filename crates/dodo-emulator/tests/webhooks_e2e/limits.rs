//! Bounded resources: amounts that overflow, admin list limits, retry schedules and pruning
//! of old deliveries answer clearly instead of panicking or growing without end.

use std::time::Duration;

use dodo_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::json;

use crate::delivery::register;
use crate::receiver::Receiver;
use dodo_emulator::testing::DeliveryFilter;

use crate::support::{Api, s};

#[tokio::test]
async fn overflowing_cart_totals_answer_400() {
    let api = Api::start().await;
    let product = api.one_time_product(i64::MAX / 2).await;
    let r = api
        .post(
            "/payments",
            json!({
                "product_cart": [{"product_id": s(&product["product_id"]), "quantity": 3}],
                "customer": {"email": "big@example.com", "name": "Big"},
                "billing": {"country": "US"},
            }),
        )
        .await
        .expect(400);
    assert_eq!(r.body["code"], "OUT_OF_RANGE");
    assert!(
        s(&r.body["message"]).contains("product_cart[0]"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn admin_lists_and_schedules_are_bounded() {
    let api = Api::start().await;
    for path in [
        "/_emulator/deliveries?limit=1001",
        "/_emulator/events?limit=5000",
        "/_emulator/requests?limit=100000",
    ] {
        let r = api.admin_http(Method::GET, path, None).await.expect(422);
        assert!(
            s(&r.body["message"]).contains("limit"),
            "{path}: {}",
            r.body
        );
    }
    api.admin_http(Method::GET, "/_emulator/deliveries?limit=1000", None)
        .await
        .expect(200);
    let too_many = api
        .admin_http(
            Method::PUT,
            "/_emulator/webhook-schedule",
            Some(json!({"delays_ms": vec![0; 21]})),
        )
        .await
        .expect(422);
    assert!(s(&too_many.body["message"]).contains("delays_ms"));
    api.admin_http(
        Method::PUT,
        "/_emulator/webhook-schedule",
        Some(json!({"delays_ms": [0, u64::MAX]})),
    )
    .await
    .expect(422);
    api.admin_http(
        Method::PUT,
        "/_emulator/webhook-schedule",
        Some(json!({"timeout_ms": 10_000_000})),
    )
    .await
    .expect(422);
    let big = "x".repeat(6 * 1024 * 1024);
    api.post("/customers", json!({"email": "a@b.c", "name": big}))
        .await
        .expect(413);
}

#[tokio::test]
async fn old_deliveries_are_pruned_past_the_configured_size() {
    let api = Api::with(EmulatorConfig::default().max_deliveries(2)).await;
    let mut rx = Receiver::start(vec![]).await;
    register(&api, &rx.url, &["payment.succeeded"]).await;
    let product = api.one_time_product(100).await;
    for _ in 0..5 {
        api.paid_payment(s(&product["product_id"]), 1).await;
    }
    for _ in 0..5 {
        rx.next_of("payment.succeeded").await;
    }
    let mut left = usize::MAX;
    for _ in 0..300 {
        left = api
            .harness()
            .deliveries(&DeliveryFilter::default())
            .await
            .unwrap()
            .len();
        if left <= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        left, 2,
        "finished deliveries beyond the newest 2 are pruned"
    );
}
