//! Credit ledger changes reach a verifying receiver as `credit.*` events whose data is the
//! ledger row (`CreditLedgerEntry`), with the amounts and balances the API answered.

use std::time::Duration;

use dodo_emulator::testing::{TestEmulator, WebhookReceiver};
use dodo_webhooks::{EventPayload, EventType};
use serde_json::{Value, json};

async fn post(emu: &TestEmulator, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", emu.base_url()))
        .bearer_auth(emu.api_key())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test]
async fn grants_debits_overage_and_expiry_are_delivered_as_credit_events() {
    let emu = TestEmulator::start().await.unwrap();
    let mut hooks = WebhookReceiver::start(
        &emu,
        &[
            "credit.added",
            "credit.deducted",
            "credit.overage_charged",
            "credit.expired",
        ],
    )
    .await
    .unwrap();
    let ent = post(
        &emu,
        "/credit-entitlements",
        json!({"name": "Tokens", "unit": "tokens", "precision": 1, "rollover_enabled": false,
               "overage_enabled": true, "price_per_unit": "2", "currency": "USD",
               "expires_after_days": 3}),
    )
    .await;
    let cde = ent["id"].as_str().unwrap();
    let cus = post(
        &emu,
        "/customers",
        json!({"email": "hooks@example.com", "name": "Hooks"}),
    )
    .await;
    let cus = cus["customer_id"].as_str().unwrap();
    let entries = format!("/credit-entitlements/{cde}/balances/{cus}/ledger-entries");

    let grant = post(
        &emu,
        &entries,
        json!({"entry_type": "credit", "amount": "12.5"}),
    )
    .await;
    let event = hooks.next_of(EventType::CreditAdded).await.unwrap();
    let EventPayload::CreditAdded(row) = &event.payload else {
        panic!("{event:?}");
    };
    assert_eq!(row.customer_id, cus);
    assert_eq!(row.credit_entitlement_id, cde);
    assert_eq!(row.amount.as_str(), "12.5");
    assert_eq!(
        (row.balance_before.as_str(), row.balance_after.as_str()),
        ("0", "12.5")
    );
    assert!(row.is_credit);
    assert_eq!(row.grant_id.as_deref(), grant["grant_id"].as_str());
    assert_eq!(
        row.id,
        grant["id"].as_str().unwrap(),
        "the event's row is the answered entry"
    );

    post(
        &emu,
        &entries,
        json!({"entry_type": "debit", "amount": "15"}),
    )
    .await;
    let event = hooks.next_of(EventType::CreditDeducted).await.unwrap();
    let EventPayload::CreditDeducted(row) = &event.payload else {
        panic!("{event:?}");
    };
    assert_eq!(
        (row.balance_before.as_str(), row.balance_after.as_str()),
        ("12.5", "0")
    );
    assert_eq!(
        (row.overage_before.as_str(), row.overage_after.as_str()),
        ("0", "2.5")
    );
    assert!(!row.is_credit);
    let event = hooks
        .next_of(EventType::CreditOverageCharged)
        .await
        .unwrap();
    let EventPayload::CreditOverageCharged(row) = &event.payload else {
        panic!("{event:?}");
    };
    assert_eq!(row.amount.as_str(), "2.5");

    post(
        &emu,
        &entries,
        json!({"entry_type": "credit", "amount": "4"}),
    )
    .await;
    emu.admin()
        .advance_clock(Duration::from_secs(4 * 86_400))
        .await
        .unwrap();
    let event = hooks.next_of(EventType::CreditExpired).await.unwrap();
    let EventPayload::CreditExpired(row) = &event.payload else {
        panic!("{event:?}");
    };
    assert_eq!(row.amount.as_str(), "4");
    assert_eq!(
        (row.balance_before.as_str(), row.balance_after.as_str()),
        ("4", "0")
    );
    assert_eq!(hooks.rejected(), 0);
}
