//! Each emulator owns its clock: several in one test binary move time independently and in
//! parallel, and moves or intervals too large to compute answer 400 instead of panicking.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::{Api, s};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn emulators_in_one_process_keep_independent_clocks_in_parallel() {
    let days = [0_i64, 3, 30, 400];
    let mut tasks = Vec::new();
    for d in days {
        tasks.push(tokio::spawn(async move {
            let api = Api::start().await;
            for _ in 0..d.min(5) {
                // Several moves interleaved with the other emulators' moves.
                tokio::task::yield_now().await;
            }
            let by = Duration::from_secs(u64::try_from(d).unwrap() * 86_400);
            api.harness().advance_clock(by).await.unwrap();
            let clock = api.harness().clock().await.unwrap();
            let customer = api.customer("clock@example.com").await;
            (d, clock, customer, api)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let real_now = time::OffsetDateTime::now_utc();
    for (d, clock, customer, _api) in &results {
        assert_eq!(clock.offset_seconds, d * 86_400, "{clock:?}");
        let created = time::OffsetDateTime::parse(
            s(&customer["created_at"]),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let ahead = (created - real_now).whole_days();
        assert!(
            (d - 1..=*d).contains(&ahead),
            "emulator advanced {d} days made a customer {ahead} days ahead"
        );
    }
}

#[tokio::test]
async fn clock_moves_too_large_or_backwards_answer_400_or_422() {
    let api = Api::start().await;
    for by in [
        json!("40000d"),
        json!("99999999999999999999999w"),
        json!(i64::MAX),
        json!(-5),
    ] {
        let r = api
            .admin_http(
                Method::POST,
                "/_emulator/clock/advance",
                Some(json!({"by": by})),
            )
            .await
            .expect(400);
        assert_eq!(r.body["code"], "CLOCK_OUT_OF_RANGE", "{}", r.body);
    }
    for by in [json!("-1d"), json!("soon"), json!(null)] {
        api.admin_http(
            Method::POST,
            "/_emulator/clock/advance",
            Some(json!({"by": by})),
        )
        .await
        .expect(422);
    }
    let clock = api.harness().clock().await.unwrap();
    assert_eq!(
        clock.offset_seconds, 0,
        "refused moves leave the clock alone"
    );
}

#[tokio::test]
async fn huge_trials_and_intervals_answer_400() {
    let api = Api::start().await;
    let plan = api.recurring_product(900).await;
    let customer = api.customer("trial@example.com").await;
    let r = api
        .post(
            "/subscriptions",
            json!({"product_id": s(&plan["product_id"]), "quantity": 1,
                   "trial_period_days": i64::MAX / 2,
                   "customer": {"customer_id": s(&customer["customer_id"])},
                   "billing": {"country": "US"}}),
        )
        .await;
    assert!(matches!(r.status, 400 | 422), "{} {}", r.status, r.body);
    let huge = api
        .post(
            "/products",
            json!({
                "name": "Forever", "tax_category": "saas",
                "price": {"type": "recurring_price", "price": 100, "currency": "USD",
                          "discount": 0, "purchasing_power_parity": false,
                          "payment_frequency_count": i64::MAX, "payment_frequency_interval": "Year",
                          "subscription_period_count": 1, "subscription_period_interval": "Year"},
            }),
        )
        .await;
    if huge.status == 200 {
        let r = api
            .post(
                "/subscriptions",
                json!({"product_id": s(&huge.body["product_id"]), "quantity": 1,
                       "customer": {"customer_id": s(&customer["customer_id"])},
                       "billing": {"country": "US"}}),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.body["code"], "OUT_OF_RANGE");
    } else {
        assert!(matches!(huge.status, 400 | 422), "{}", huge.body);
    }
}
