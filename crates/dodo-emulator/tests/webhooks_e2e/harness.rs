//! The public test harness (`dodo_emulator::testing`): each operation against a real emulator.

use std::time::Duration;

use dodo_emulator::faults::FaultSpec;
use dodo_emulator::purchase::TestCard;
use dodo_emulator::testing::{
    Admin, DeliveryFilter, HarnessError, SeedObject, TestEmulator, WebhookSchedule,
};
use dodo_webhooks::{EventPayload, EventType};
use serde_json::json;

#[tokio::test]
async fn client_is_configured_for_the_emulator() {
    let emu = TestEmulator::start().await.unwrap();
    let client = emu.client();
    let created = client
        .customers()
        .create(&dodo_client::types::CreateCustomerRequest::new(
            "harness@example.com",
            "Harness",
        ))
        .await
        .unwrap();
    let back = client
        .customers()
        .retrieve(&created.customer_id)
        .await
        .unwrap();
    assert_eq!(back.email, "harness@example.com");
}

#[tokio::test]
async fn pays_a_payment_link_with_a_declining_card_and_waits_for_the_delivery() {
    let emu = TestEmulator::start().await.unwrap();
    let mut hooks = emu.webhook_receiver().await.unwrap();
    let http = reqwest::Client::new();
    let product: serde_json::Value = http
        .post(format!("{}/products", emu.base_url()))
        .bearer_auth(emu.api_key())
        .json(&json!({"name": "Book", "tax_category": "e_book",
            "price": {"type": "one_time_price", "price": 700, "currency": "EUR",
                      "discount": 0, "purchasing_power_parity": false}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payment: serde_json::Value = http
        .post(format!("{}/payments", emu.base_url()))
        .bearer_auth(emu.api_key())
        .json(
            &json!({"product_cart": [{"product_id": product["product_id"], "quantity": 1}],
            "customer": {"email": "link@example.com", "name": "Link"},
            "billing": {"country": "DE"}, "payment_link": true}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pid = payment["payment_id"].as_str().unwrap();
    let paid = emu
        .admin()
        .pay_payment_link(pid, TestCard::Declined)
        .await
        .unwrap();
    assert_eq!(paid.payment_id, pid);
    assert_eq!(paid.status, "failed");
    let event = hooks.next_of(EventType::PaymentFailed).await.unwrap();
    let EventPayload::PaymentFailed(p) = &event.payload else {
        panic!("{:?}", event.event_type());
    };
    assert_eq!(p.payment_id, pid);

    let delivery = emu
        .admin()
        .wait_for_delivery("payment.failed")
        .await
        .unwrap();
    assert_eq!(delivery.status, "succeeded");
    assert_eq!(delivery.endpoint_id, hooks.endpoint_id());
    assert_eq!(delivery.attempt_log[0]["status_code"], 200);
    let listed = emu
        .admin()
        .deliveries(&DeliveryFilter::event_type("payment.failed"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, delivery.id);

    // Paying twice is refused with the API's error.
    let again = emu
        .admin()
        .pay_payment_link(pid, TestCard::Succeeds)
        .await
        .unwrap_err();
    assert!(
        matches!(&again, HarnessError::Api { status: 409, code, .. } if code == "ALREADY_PAID"),
        "{again}"
    );
    assert_eq!(hooks.rejected(), 0);
}

#[tokio::test]
async fn triggers_events_and_the_receiver_verifies_them() {
    let emu = TestEmulator::start().await.unwrap();
    let mut hooks = emu.webhook_receiver().await.unwrap();
    for ty in [
        "dispute.opened",
        "subscription.on_hold",
        "license_key.created",
    ] {
        let t = emu.admin().trigger(ty).await.unwrap();
        assert!(t.events.iter().any(|e| e.event_type == ty), "{t:?}");
        let event = hooks.next_of(EventType::parse(ty)).await.unwrap();
        assert_eq!(event.event_type().as_str(), ty);
    }
    let unknown = emu.admin().trigger("nope.never").await.unwrap_err();
    assert!(
        matches!(unknown, HarnessError::Api { status: 404, .. }),
        "{unknown}"
    );
    // Anything unsigned is refused and not handed to the test.
    let forged = reqwest::Client::new()
        .post(hooks.url())
        .body(r#"{"type":"payment.succeeded"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert_eq!(hooks.rejected(), 1);
}

#[tokio::test]
async fn faults_are_injected_and_cleared() {
    let emu = TestEmulator::start().await.unwrap();
    let id = emu
        .admin()
        .add_fault(&FaultSpec::status(503).times(10).path_prefix("/customers"))
        .await
        .unwrap();
    assert!(id.starts_with("flt_"), "{id}");
    let http = reqwest::Client::new();
    let url = format!("{}/customers", emu.base_url());
    let r = http
        .get(&url)
        .bearer_auth(emu.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let active = emu.admin().faults().await.unwrap();
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(active[0].id, id);
    assert_eq!(active[0].count, 10);
    assert_eq!(active[0].remaining, 9, "one request consumed it once");
    assert_eq!(active[0].status, Some(503));
    assert_eq!(active[0].path_prefix.as_deref(), Some("/customers"));
    emu.admin().clear_faults().await.unwrap();
    assert!(emu.admin().faults().await.unwrap().is_empty());
    let r = http
        .get(&url)
        .bearer_auth(emu.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bad = emu
        .admin()
        .add_fault(&FaultSpec::status(42))
        .await
        .unwrap_err();
    assert!(
        matches!(bad, HarnessError::Api { status: 422, .. }),
        "{bad}"
    );
}

#[tokio::test]
async fn advancing_the_clock_renews_and_waits_time_out_cleanly() {
    let emu = TestEmulator::start().await.unwrap();
    let before = emu.admin().clock().await.unwrap();
    assert_eq!(before.offset_seconds, 0);
    let moved = emu
        .admin()
        .advance_clock(Duration::from_secs(3 * 86_400))
        .await
        .unwrap();
    assert_eq!(moved.offset_seconds, 3 * 86_400);
    assert!(moved.processed["renewed"].is_array());
    let none = emu
        .admin()
        .wait_for_delivery_within("refund.succeeded", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(none, HarnessError::Timeout(..)), "{none}");
}

#[tokio::test]
async fn endpoints_events_replays_and_schedules_are_typed_operations() {
    let emu = TestEmulator::start().await.unwrap();
    let admin = emu.admin();
    let mut hooks = emu.webhook_receiver().await.unwrap();
    admin
        .set_webhook_schedule(&WebhookSchedule::Custom {
            delays_ms: vec![0, 10],
            timeout_ms: Some(2_000),
        })
        .await
        .unwrap();
    let bad = admin
        .set_webhook_schedule(&WebhookSchedule::Profile {
            profile: "sometimes".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(bad, HarnessError::Api { status: 422, .. }),
        "{bad}"
    );
    // A second endpoint for one type, on the same verifying receiver.
    let only = admin
        .add_endpoint(hooks.url(), &["payment.succeeded"])
        .await
        .unwrap();

    let t = admin.trigger("payment.succeeded").await.unwrap();
    let emitted = t
        .events
        .iter()
        .find(|e| e.event_type == "payment.succeeded")
        .unwrap();
    let d = admin
        .wait_for_delivery_matching(&DeliveryFilter::endpoint(&only), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(d.endpoint_id, only);
    assert_eq!(d.event_id, emitted.id);
    assert_eq!(d.status, "succeeded");
    assert_eq!(d.attempt_log[0]["status_code"], 200);

    // The recorded event's body is byte for byte what the receiver verified.
    let events = admin.events(Some("payment.succeeded"), 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].id, emitted.id);
    let received = loop {
        let r = hooks.next().await.unwrap();
        if r.webhook_id == emitted.id {
            break r;
        }
    };
    assert_eq!(events[0].body().as_bytes(), &received.body[..]);

    // A replay is a new delivery of the same event (same webhook-id).
    let again = admin.replay_delivery(&d.id).await.unwrap();
    assert_ne!(again.id, d.id);
    assert_eq!(again.event_id, d.event_id);
    assert_eq!(again.endpoint_id, only);
    let replayed = loop {
        let r = hooks.next().await.unwrap();
        if r.webhook_id == emitted.id {
            break r;
        }
    };
    assert_eq!(replayed.body, received.body);

    // A removed endpoint receives nothing more; removing it twice is a 404.
    admin.remove_endpoint(&only).await.unwrap();
    let gone = admin.remove_endpoint(&only).await.unwrap_err();
    assert!(
        matches!(gone, HarnessError::Api { status: 404, .. }),
        "{gone}"
    );
    admin.trigger("payment.succeeded").await.unwrap();
    hooks.next_of(EventType::PaymentSucceeded).await.unwrap();
    let to_removed = admin
        .deliveries(&DeliveryFilter::endpoint(&only))
        .await
        .unwrap();
    assert_eq!(
        to_removed.len(),
        2,
        "the first delivery and its replay only"
    );

    // A handle over a client of the caller's, with the key checked like any admin call.
    let own = Admin::with_http_client(emu.base_url(), emu.api_key(), reqwest::Client::new());
    assert_eq!(own.base_url(), emu.base_url());
    assert_eq!(own.clock().await.unwrap().offset_seconds, 0);
    let wrong = Admin::with_http_client(emu.base_url(), "sk_wrong", reqwest::Client::new());
    let refused = wrong.clock().await.unwrap_err();
    assert!(
        matches!(refused, HarnessError::Api { status: 401, .. }),
        "{refused}"
    );
}

#[tokio::test]
async fn seeded_objects_read_back_through_the_api_without_events() {
    let emu = TestEmulator::start().await.unwrap();
    let customer = json!({
        "customer_id": "cus_seeded", "business_id": "bus_x", "email": "seed@example.com",
        "name": "Seeded", "created_at": "2025-01-01T00:00:00Z", "phone_number": null,
        "metadata": {},
    });
    let n = emu
        .admin()
        .seed(&[SeedObject::new("customer", "cus_seeded", customer)])
        .await
        .unwrap();
    assert_eq!(n, 1);
    let back = emu
        .client()
        .customers()
        .retrieve("cus_seeded")
        .await
        .unwrap();
    assert_eq!(back.email, "seed@example.com");
    assert!(emu.admin().events(None, 10).await.unwrap().is_empty());
    let again = emu
        .admin()
        .seed(&[SeedObject::new("customer", "cus_seeded", json!({}))])
        .await
        .unwrap_err();
    assert!(
        matches!(again, HarnessError::Api { status: 409, .. }),
        "{again}"
    );
}
