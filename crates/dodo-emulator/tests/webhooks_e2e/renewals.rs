//! The virtual clock: advancing it renews subscriptions through real payments, and a card
//! flagged to fail puts them on hold.

use std::time::Duration;

use dodo_webhooks::{EventPayload, EventType};
use reqwest::Method;
use serde_json::json;

use crate::receiver::Receiver;
use crate::support::{Api, s};

#[tokio::test]
async fn advancing_renews_then_a_failing_card_puts_the_subscription_on_hold() {
    let api = Api::start().await;
    let mut rx = Receiver::start(vec![]).await;
    api.harness().add_endpoint(&rx.url, &[]).await.unwrap();
    let secret = api.emu.webhook_secret().to_string();
    let out = api.harness().trigger("subscription.active").await.unwrap();
    let sub_id = s(&out.objects["subscription_id"]).to_string();
    let before = api
        .get(&format!("/subscriptions/{sub_id}"))
        .await
        .expect(200)
        .body;
    let first_due = s(&before["next_billing_date"]).to_string();

    let leaving = api.harness().trigger("subscription.active").await.unwrap();
    let leaving_id = s(&leaving.objects["subscription_id"]).to_string();
    api.patch(
        &format!("/subscriptions/{leaving_id}"),
        json!({"cancel_at_next_billing_date": true}),
    )
    .await
    .expect(200);

    let plan = api.recurring_product(900).await;
    let trial = api
        .post(
            "/subscriptions",
            json!({"product_id": s(&plan["product_id"]), "quantity": 1, "trial_period_days": 7,
                   "customer": {"email": "trial@example.com", "name": "Trial"},
                   "billing": {"country": "US"}}),
        )
        .await
        .expect(200)
        .body;
    let trial_id = s(&trial["subscription_id"]).to_string();
    api.harness()
        .complete_payment(s(&trial["payment_id"]), "succeeded")
        .await
        .unwrap();
    let trial_sub = api
        .get(&format!("/subscriptions/{trial_id}"))
        .await
        .expect(200)
        .body;
    let trial_end = s(&trial_sub["next_billing_date"]).to_string();

    let bad = api
        .admin_http(
            Method::POST,
            "/_emulator/clock/advance",
            Some(json!({"by": "soon"})),
        )
        .await;
    assert_eq!(bad.status, 422);

    let adv = api
        .harness()
        .advance_clock(Duration::from_secs(32 * 86_400))
        .await
        .unwrap();
    assert!(
        adv.processed["renewed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == &json!(sub_id))
    );
    assert_eq!(adv.processed["cancelled"], json!([leaving_id]));
    let after_trial = api
        .get(&format!("/subscriptions/{trial_id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(after_trial["status"], "active");
    assert_eq!(
        after_trial["previous_billing_date"],
        json!(trial_end),
        "charged at trial end"
    );
    let gone = api
        .get(&format!("/subscriptions/{leaving_id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(gone["status"], "cancelled");
    let cancelled = rx.next_of("subscription.cancelled").await.verify(&secret);
    assert_eq!(cancelled.event_type(), EventType::SubscriptionCancelled);
    let after = api
        .get(&format!("/subscriptions/{sub_id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(after["status"], "active");
    assert_eq!(after["previous_billing_date"], json!(first_due));
    assert!(s(&after["next_billing_date"]) > first_due.as_str());

    let renewed = rx.next_of("subscription.renewed").await.verify(&secret);
    assert_eq!(renewed.event_type(), EventType::SubscriptionRenewed);
    let EventPayload::SubscriptionRenewed(sub) = &renewed.payload else {
        panic!()
    };
    assert_eq!(sub.subscription_id, sub_id);
    let payments = api
        .get(&format!(
            "/payments?subscription_id={sub_id}&status=succeeded"
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(
        payments["items"].as_array().unwrap().len(),
        2,
        "first charge + renewal"
    );

    api.harness()
        .set_fail_renewals(&sub_id, true)
        .await
        .unwrap();
    let adv = api
        .harness()
        .advance_clock(Duration::from_secs(31 * 86_400))
        .await
        .unwrap();
    assert_eq!(adv.processed["on_hold"], json!([sub_id]));
    let held = api
        .get(&format!("/subscriptions/{sub_id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(held["status"], "on_hold");
    let on_hold = rx.next_of("subscription.on_hold").await.verify(&secret);
    assert_eq!(on_hold.event_type(), EventType::SubscriptionOnHold);
    let failed = api
        .get(&format!("/payments?subscription_id={sub_id}&status=failed"))
        .await
        .expect(200)
        .body;
    assert_eq!(failed["items"].as_array().unwrap().len(), 1);
    let clock = api.harness().clock().await.unwrap();
    assert!(clock.offset_seconds >= 63 * 86_400);
}

/// A plan change scheduled for the next billing date takes over when the clock reaches that
/// date: the renewal bills the new plan, `subscription.plan_changed` is delivered, and the
/// scheduled change is gone. Before that date nothing changes.
#[tokio::test]
async fn a_plan_change_scheduled_for_the_next_billing_date_is_applied_when_it_comes() {
    let api = Api::start().await;
    let mut rx = Receiver::start(vec![]).await;
    api.harness().add_endpoint(&rx.url, &[]).await.unwrap();
    let secret = api.emu.webhook_secret().to_string();
    let pro = api.recurring_product(3000).await;
    let basic = api.recurring_product(1000).await;
    let sub = api
        .post(
            "/subscriptions",
            json!({"product_id": s(&pro["product_id"]), "quantity": 1,
                   "customer": {"email": "downgrade@example.com", "name": "D"},
                   "billing": {"country": "US"}}),
        )
        .await
        .expect(200)
        .body;
    let id = s(&sub["subscription_id"]).to_string();
    api.harness()
        .complete_payment(s(&sub["payment_id"]), "succeeded")
        .await
        .unwrap();
    api.post(
        &format!("/subscriptions/{id}/change-plan"),
        json!({"product_id": s(&basic["product_id"]), "quantity": 2,
               "proration_billing_mode": "do_not_bill", "effective_at": "next_billing_date"}),
    )
    .await
    .expect(200);

    // Two weeks on, before the billing date: still the old plan.
    api.harness()
        .advance_clock(Duration::from_secs(14 * 86_400))
        .await
        .unwrap();
    let mid = api
        .get(&format!("/subscriptions/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(mid["product_id"], pro["product_id"]);
    assert!(!mid["scheduled_change"].is_null());

    api.harness()
        .advance_clock(Duration::from_secs(18 * 86_400))
        .await
        .unwrap();
    let after = api
        .get(&format!("/subscriptions/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            &after["product_id"],
            &after["quantity"],
            &after["recurring_pre_tax_amount"]
        ),
        (&basic["product_id"], &json!(2), &json!(2000))
    );
    assert!(after["scheduled_change"].is_null());
    let changed = rx
        .next_of("subscription.plan_changed")
        .await
        .verify(&secret);
    let EventPayload::SubscriptionPlanChanged(changed) = &changed.payload else {
        panic!()
    };
    assert_eq!(changed.product_id, s(&basic["product_id"]));
    let payments = api
        .get(&format!("/payments?subscription_id={id}&status=succeeded"))
        .await
        .expect(200)
        .body;
    let amounts: Vec<&serde_json::Value> = payments["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["total_amount"])
        .collect();
    assert_eq!(
        amounts,
        [&json!(2000), &json!(3000)],
        "the renewal bills the new plan"
    );
}
