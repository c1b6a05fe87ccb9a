//! Credit ledger changes reach a verifying receiver as `credit.*` events whose data is the
//! ledger row (`CreditLedgerEntry`), with the amounts and balances the API answered.

use std::time::Duration;

use dodo_client::types::{
    CreateCreditEntitlementRequest, CreateCustomerRequest, CreateLedgerEntryRequest, Currency,
    Decimal, LedgerEntryType,
};
use dodo_emulator::purchase::TestCard;
use dodo_emulator::testing::{TestEmulator, WebhookReceiver};
use dodo_webhooks::{EventPayload, EventType};
use serde_json::{Value, json};

/// A monthly plan (9.00 USD) carrying the given credit entitlement mappings.
fn monthly_plan(credits: Value) -> Value {
    json!({"name": "Calls plan", "tax_category": "saas",
           "price": {"type": "recurring_price", "price": 900, "currency": "USD", "discount": 0,
                     "purchasing_power_parity": false, "payment_frequency_count": 1,
                     "payment_frequency_interval": "Month", "subscription_period_count": 1,
                     "subscription_period_interval": "Year"},
           "credit_entitlements": credits})
}

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
    let client = emu.client();
    let ent = client
        .credit_entitlements()
        .create(
            &CreateCreditEntitlementRequest::new("Tokens", true, 1, false, "tokens")
                .price_per_unit("2".parse::<Decimal>().unwrap())
                .currency(Currency::Usd)
                .expires_after_days(3),
        )
        .await
        .unwrap();
    let cde = ent.id.as_str();
    let cus = client
        .customers()
        .create(&CreateCustomerRequest::new("hooks@example.com", "Hooks"))
        .await
        .unwrap()
        .customer_id;
    let cus = cus.as_str();
    let entries = format!("/credit-entitlements/{cde}/balances/{cus}/ledger-entries");

    let grant = client
        .credit_entitlements()
        .balances()
        .create_ledger_entry(
            cde,
            cus,
            &CreateLedgerEntryRequest::new("12.5".parse().unwrap(), LedgerEntryType::Credit),
        )
        .await
        .unwrap();
    let grant = serde_json::to_value(&grant).unwrap();
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

#[tokio::test]
async fn a_debit_below_the_subscription_threshold_is_delivered_as_balance_low_once() {
    let emu = TestEmulator::start().await.unwrap();
    let mut hooks = WebhookReceiver::start(&emu, &["credit.balance_low", "credit.added"])
        .await
        .unwrap();
    let ent = post(
        &emu,
        "/credit-entitlements",
        json!({"name": "Calls", "unit": "calls", "precision": 0, "rollover_enabled": false,
               "overage_enabled": false}),
    )
    .await;
    let cde = ent["id"].as_str().unwrap();
    // A monthly product whose mapping sets a 20 % threshold on 100 credits; its subscription
    // brings the 100 credits with its first payment.
    let product = post(
        &emu,
        "/products",
        monthly_plan(
            json!([{"credit_entitlement_id": cde, "credits_amount": "100",
                             "low_balance_threshold_percent": 20}]),
        ),
    )
    .await;
    let sub = post(
        &emu,
        "/subscriptions",
        json!({"product_id": product["product_id"], "quantity": 1,
               "customer": {"email": "low@example.com", "name": "Low"},
               "billing": {"country": "US"}}),
    )
    .await;
    emu.admin()
        .complete_payment(sub["payment_id"].as_str().unwrap(), "succeeded")
        .await
        .unwrap();
    let cus = sub["customer"]["customer_id"].as_str().unwrap();
    let sub_id = sub["subscription_id"].as_str().unwrap();
    let granted = hooks.next_of(EventType::CreditAdded).await.unwrap();
    let EventPayload::CreditAdded(row) = &granted.payload else {
        panic!("{granted:?}");
    };
    assert_eq!(row.amount.as_str(), "100");
    let entries = format!("/credit-entitlements/{cde}/balances/{cus}/ledger-entries");
    post(
        &emu,
        &entries,
        json!({"entry_type": "debit", "amount": "70"}),
    )
    .await;
    post(
        &emu,
        &entries,
        json!({"entry_type": "debit", "amount": "15"}),
    )
    .await;
    post(
        &emu,
        &entries,
        json!({"entry_type": "debit", "amount": "1"}),
    )
    .await;

    let event = hooks.next_of(EventType::CreditBalanceLow).await.unwrap();
    let EventPayload::CreditBalanceLow(low) = &event.payload else {
        panic!("{event:?}");
    };
    assert_eq!(low.customer_id, cus);
    assert_eq!(low.subscription_id, sub_id);
    assert_eq!(low.credit_entitlement_id, cde);
    assert_eq!(low.credit_entitlement_name, "Calls");
    assert_eq!(low.available_balance.as_str(), "15");
    assert_eq!(low.threshold_amount.as_str(), "20");
    assert_eq!(low.threshold_percent, 20);
    assert_eq!(low.subscription_credits_amount.as_str(), "100");
    // A last grant: once it is delivered, every earlier event has been fanned out.
    let last = post(
        &emu,
        &entries,
        json!({"entry_type": "credit", "amount": "1"}),
    )
    .await;
    loop {
        let event = hooks.next_of(EventType::CreditAdded).await.unwrap();
        if let EventPayload::CreditAdded(row) = &event.payload
            && row.id == last["id"].as_str().unwrap()
        {
            break;
        }
    }
    let deliveries = emu
        .admin()
        .deliveries(&dodo_emulator::testing::DeliveryFilter::event_type(
            "credit.balance_low",
        ))
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1, "only the crossing announces it");
}

async fn get(emu: &TestEmulator, path: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", emu.base_url()))
        .bearer_auth(emu.api_key())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

fn ledger_row(event: &dodo_webhooks::WebhookEvent) -> Value {
    match &event.payload {
        EventPayload::CreditAdded(r)
        | EventPayload::CreditRolledOver(r)
        | EventPayload::CreditRolloverForfeited(r)
        | EventPayload::CreditOverageReset(r) => serde_json::to_value(r).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn subscription_credits_are_granted_rolled_over_and_reset_each_billing_cycle() {
    let emu = TestEmulator::start().await.unwrap();
    let mut hooks = WebhookReceiver::start(
        &emu,
        &[
            "credit.added",
            "credit.rolled_over",
            "credit.rollover_forfeited",
            "credit.overage_reset",
            "credit.balance_low",
        ],
    )
    .await
    .unwrap();
    let ent = post(
        &emu,
        "/credit-entitlements",
        json!({"name": "Minutes", "unit": "minutes", "precision": 0, "rollover_enabled": true,
               "rollover_percentage": 50, "overage_enabled": true, "price_per_unit": "1",
               "currency": "USD", "overage_behavior": "forgive_at_reset"}),
    )
    .await;
    let cde = ent["id"].as_str().unwrap();
    // A monthly product carrying 100 minutes per cycle, attached through the API.
    let product = post(
        &emu,
        "/products",
        monthly_plan(
            json!([{"credit_entitlement_id": cde, "credits_amount": "100",
                             "low_balance_threshold_percent": 50}]),
        ),
    )
    .await;
    assert_eq!(product["credit_entitlements"][0]["credits_amount"], "100");
    let sub = post(
        &emu,
        "/subscriptions",
        json!({"product_id": product["product_id"], "quantity": 1, "metadata": {"org": "acme"},
               "customer": {"email": "minutes@example.com", "name": "M"},
               "billing": {"country": "US"}}),
    )
    .await;
    let pay = sub["payment_id"].as_str().unwrap();
    emu.admin()
        .complete_payment(pay, "succeeded")
        .await
        .unwrap();
    let cus = sub["customer"]["customer_id"].as_str().unwrap().to_string();
    let base = format!("/credit-entitlements/{cde}/balances/{cus}");

    // The first period's credits arrive with the first payment.
    let added = ledger_row(&hooks.next_of(EventType::CreditAdded).await.unwrap());
    assert_eq!(added["amount"], "100");
    assert_eq!(
        added["metadata"],
        json!({"org": "acme"}),
        "the subscription's metadata"
    );
    assert_eq!(get(&emu, &base).await["balance"], "100");
    // The subscription answers its credit cart with the customer's live balance.
    let sub_path = format!(
        "/subscriptions/{}",
        sub["subscription_id"].as_str().unwrap()
    );
    let cart = &get(&emu, &sub_path).await["credit_entitlement_cart"];
    assert_eq!(
        cart,
        &json!([{"credit_entitlement_id": cde, "credit_entitlement_name": "Minutes",
                 "unit": "minutes", "product_id": product["product_id"],
                 "credits_amount": "100", "low_balance_threshold_percent": 50,
                 "expires_after_days": null, "max_rollover_count": null,
                 "overage_behavior": "forgive_at_reset", "overage_enabled": true,
                 "overage_limit": null, "rollover_enabled": true, "rollover_percentage": 50,
                 "rollover_timeframe_count": null, "rollover_timeframe_interval": null,
                 "remaining_balance": "100", "overage_balance": "0"}])
    );
    post(
        &emu,
        &format!("{base}/ledger-entries"),
        json!({"entry_type": "debit", "amount": "60"}),
    )
    .await;
    let cart = &get(&emu, &sub_path).await["credit_entitlement_cart"][0];
    assert_eq!(
        (&cart["remaining_balance"], &cart["overage_balance"]),
        (&json!("40"), &json!("0"))
    );

    let event = hooks.next_of(EventType::CreditBalanceLow).await.unwrap();
    let EventPayload::CreditBalanceLow(low) = &event.payload else {
        panic!("{event:?}");
    };
    assert_eq!(
        (
            low.available_balance.as_str(),
            low.threshold_amount.as_str()
        ),
        ("40", "50")
    );
    assert_eq!(
        low.subscription_id,
        sub["subscription_id"].as_str().unwrap()
    );

    // A month on: 40 left, half rolls over, half is forfeited, 100 new.
    emu.admin()
        .advance_clock(Duration::from_secs(32 * 86_400))
        .await
        .unwrap();
    let mut rows = std::collections::HashMap::new();
    while rows.len() < 3 {
        let r = hooks.next().await.unwrap();
        rows.insert(
            r.event.event_type().as_str().to_string(),
            ledger_row(&r.event),
        );
    }
    let rolled = &rows["credit.rolled_over"];
    assert_eq!(rolled["amount"], "20");
    let forfeited = &rows["credit.rollover_forfeited"];
    assert_eq!(forfeited["amount"], "20");
    assert_eq!(
        (&forfeited["balance_before"], &forfeited["balance_after"]),
        (&json!("40"), &json!("20"))
    );
    let added = &rows["credit.added"];
    assert_eq!(
        (&added["balance_before"], &added["balance_after"]),
        (&json!("20"), &json!("120"))
    );
    assert_eq!(get(&emu, &base).await["balance"], "120");
    let rollover = get(&emu, &format!("{base}/grants?status=active")).await;
    let sources: Vec<&str> = rollover["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["source_type"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["subscription", "rollover"]);

    // Overage is forgiven at the next reset.
    post(
        &emu,
        &format!("{base}/ledger-entries"),
        json!({"entry_type": "debit", "amount": "125"}),
    )
    .await;
    emu.admin()
        .advance_clock(Duration::from_secs(31 * 86_400))
        .await
        .unwrap();
    let reset = ledger_row(&hooks.next_of(EventType::CreditOverageReset).await.unwrap());
    assert_eq!(
        (&reset["overage_before"], &reset["overage_after"]),
        (&json!("5"), &json!("0"))
    );
    let bal = get(&emu, &base).await;
    assert_eq!(
        (&bal["balance"], &bal["overage"]),
        (&json!("100"), &json!("0"))
    );
    // Typed: the cart fits the spec's `CreditEntitlementCartResponse`.
    let typed: dodo_types::models::SubscriptionResponse =
        serde_json::from_value(get(&emu, &sub_path).await).unwrap();
    let line = &typed.credit_entitlement_cart[0];
    assert_eq!(
        (
            line.remaining_balance.as_str(),
            line.overage_balance.as_str()
        ),
        ("100", "0")
    );
    assert!(typed.meter_credit_entitlement_cart.is_empty());
}

#[tokio::test]
async fn a_checkout_session_override_changes_the_credits_its_purchases_grant() {
    let emu = TestEmulator::start().await.unwrap();
    let mut hooks = WebhookReceiver::start(&emu, &["credit.added"])
        .await
        .unwrap();
    let ent = post(
        &emu,
        "/credit-entitlements",
        json!({"name": "Seats", "unit": "seats", "precision": 1, "rollover_enabled": false,
               "overage_enabled": false}),
    )
    .await;
    let cde = ent["id"].as_str().unwrap();
    let plan = post(
        &emu,
        "/products",
        monthly_plan(json!([{"credit_entitlement_id": cde, "credits_amount": "100"}])),
    )
    .await;
    let pack = post(
        &emu,
        "/products",
        json!({"name": "Seat pack", "tax_category": "saas",
               "price": {"type": "one_time_price", "price": 500, "currency": "USD",
                         "discount": 0, "purchasing_power_parity": false},
               "credit_entitlements": [{"credit_entitlement_id": cde, "credits_amount": "10"}]}),
    )
    .await;

    // A subscription bought through a session that grants 250.5 instead of 100.
    let session = post(
        &emu,
        "/checkouts",
        json!({"product_cart": [{"product_id": plan["product_id"], "quantity": 1,
                   "credit_entitlements": [{"credit_entitlement_id": cde,
                                            "credits_amount": "250.5"}]}],
               "customer": {"email": "seats@example.com", "name": "Seats"}}),
    )
    .await;
    let paid = emu
        .admin()
        .pay_checkout_session(session["session_id"].as_str().unwrap(), TestCard::Succeeds)
        .await
        .unwrap();
    let sub_id = paid.subscription_id.clone().expect("a subscription");
    let row = ledger_row(&hooks.next_of(EventType::CreditAdded).await.unwrap());
    assert_eq!(row["amount"], "250.5", "the session's override");
    let cus = row["customer_id"].as_str().unwrap().to_string();
    let base = format!("/credit-entitlements/{cde}/balances/{cus}");
    let grants = get(&emu, &format!("{base}/grants")).await;
    assert_eq!(grants["items"][0]["source_type"], "subscription");
    assert_eq!(grants["items"][0]["source_id"], sub_id.as_str());

    // The next cycle grants the overridden amount again (no rollover: the rest expires).
    emu.admin()
        .advance_clock(Duration::from_secs(32 * 86_400))
        .await
        .unwrap();
    let row = ledger_row(&hooks.next_of(EventType::CreditAdded).await.unwrap());
    assert_eq!(row["amount"], "250.5");
    assert_eq!(get(&emu, &base).await["balance"], "250.5");

    // A one-time pack bought through a session with an override: granted once, overridden.
    let session = post(
        &emu,
        "/checkouts",
        json!({"product_cart": [{"product_id": pack["product_id"], "quantity": 2,
                   "credit_entitlements": [{"credit_entitlement_id": cde,
                                            "credits_amount": "15"}]}],
               "customer": {"email": "seats@example.com", "name": "Seats"}}),
    )
    .await;
    let paid = emu
        .admin()
        .pay_checkout_session(session["session_id"].as_str().unwrap(), TestCard::Succeeds)
        .await
        .unwrap();
    let row = ledger_row(&hooks.next_of(EventType::CreditAdded).await.unwrap());
    assert_eq!(row["amount"], "30", "15 per pack, two packs");
    assert_eq!(
        (&row["balance_before"], &row["balance_after"]),
        (&json!("250.5"), &json!("280.5"))
    );
    let grants = get(&emu, &format!("{base}/grants")).await;
    let one_time: Vec<&Value> = grants["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["source_type"] == "one_time")
        .collect();
    assert_eq!(one_time.len(), 1);
    assert_eq!(one_time[0]["source_id"], paid.payment_id.as_str());
    assert_eq!(hooks.rejected(), 0);
}

#[tokio::test]
async fn subscription_events_carry_the_credit_cart_the_api_answers() {
    let emu = TestEmulator::start().await.unwrap();
    let mut hooks = WebhookReceiver::start(&emu, &["subscription.active"])
        .await
        .unwrap();
    let ent = post(
        &emu,
        "/credit-entitlements",
        json!({"name": "Seats", "unit": "seats", "precision": 0,
               "rollover_enabled": false, "overage_enabled": false}),
    )
    .await;
    let cde = ent["id"].as_str().unwrap();
    let product = post(
        &emu,
        "/products",
        monthly_plan(json!([{"credit_entitlement_id": cde, "credits_amount": "30"}])),
    )
    .await;
    let sub = post(
        &emu,
        "/subscriptions",
        json!({"product_id": product["product_id"], "quantity": 1,
               "customer": {"email": "seats@example.com", "name": "S"},
               "billing": {"country": "US"}}),
    )
    .await;
    emu.admin()
        .complete_payment(sub["payment_id"].as_str().unwrap(), "succeeded")
        .await
        .unwrap();
    let event = hooks.next_of(EventType::SubscriptionActive).await.unwrap();
    let EventPayload::SubscriptionActive(active) = &event.payload else {
        panic!("{:?}", event.payload);
    };
    let cart = &active.credit_entitlement_cart;
    assert_eq!(cart.len(), 1, "{cart:?}");
    assert_eq!(cart[0].credit_entitlement_id, cde);
    assert_eq!(cart[0].credits_amount.as_str(), "30");
}
