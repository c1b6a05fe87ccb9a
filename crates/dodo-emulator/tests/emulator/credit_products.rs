//! Products attach credit entitlements through the API: the mappings they answer, every refusal
//! (which leaves the product as it was), PATCH replace and clear, the checkout preview's
//! credits with per-session overrides, collections, and a one-time purchase's grant.

use dodo_client::Client;
use dodo_emulator::testing::SeedObject;
use serde_json::{Value, json};

use crate::support::{Api, s};

fn client(api: &Api) -> Client {
    Client::builder()
        .api_key(api.emu.api_key())
        .base_url(api.emu.base_url())
        .max_retries(0)
        .build()
        .unwrap()
}

fn is_uuid(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && v.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

async fn entitlement(api: &Api, body: Value) -> String {
    let e = api
        .post("/credit-entitlements", body)
        .await
        .expect(201)
        .body;
    s(&e["id"]).to_string()
}

/// Precision 2, rollover 50 %, overage at 0.5 USD a credit, credits expire after 30 days.
async fn minutes(api: &Api) -> String {
    entitlement(
        api,
        json!({"name": "Minutes", "unit": "minutes", "precision": 2, "rollover_enabled": true,
               "rollover_percentage": 50, "overage_enabled": true, "price_per_unit": "0.5",
               "currency": "USD", "expires_after_days": 30,
               "overage_behavior": "carry_deficit"}),
    )
    .await
}

async fn tokens(api: &Api) -> String {
    entitlement(
        api,
        json!({"name": "Tokens", "unit": "tokens", "precision": 0,
               "rollover_enabled": false, "overage_enabled": false}),
    )
    .await
}

fn one_time(credits: Value) -> Value {
    json!({"name": "Credit pack", "tax_category": "saas",
           "price": {"type": "one_time_price", "price": 500, "currency": "USD", "discount": 0,
                     "purchasing_power_parity": false},
           "credit_entitlements": credits})
}

#[tokio::test]
async fn a_created_product_answers_full_mappings_defaulted_from_the_entitlement() {
    let api = Api::start().await;
    let (min, tok) = (minutes(&api).await, tokens(&api).await);
    let created = api
        .post(
            "/products",
            one_time(json!([
                {"credit_entitlement_id": min, "credits_amount": "100.50",
                 "low_balance_threshold_percent": 20},
                {"credit_entitlement_id": tok, "credits_amount": "7", "expires_after_days": 3,
                 "rollover_enabled": true, "rollover_percentage": 10,
                 "proration_behavior": "no_prorate", "trial_credits": "2",
                 "trial_credits_expire_after_trial": true},
            ])),
        )
        .await
        .expect(200)
        .body;
    let id = s(&created["product_id"]);
    let got = api.get(&format!("/products/{id}")).await.expect(200).body;
    assert_eq!(got["credit_entitlements"], created["credit_entitlements"]);
    let m = &got["credit_entitlements"][0];
    assert!(is_uuid(s(&m["id"])), "{m}");
    assert_eq!(m["credit_entitlement_id"], min.as_str());
    assert_eq!(m["credit_entitlement_name"], "Minutes");
    assert_eq!(m["credit_entitlement_unit"], "minutes");
    assert_eq!(m["credits_amount"], "100.5");
    assert_eq!(m["low_balance_threshold_percent"], 20);
    // Taken from the entitlement.
    assert_eq!(m["rollover_enabled"], true);
    assert_eq!(m["rollover_percentage"], 50);
    assert_eq!(m["overage_enabled"], true);
    assert_eq!(m["overage_behavior"], "carry_deficit");
    assert_eq!(m["price_per_unit"], "0.5");
    assert_eq!(m["currency"], "USD");
    assert_eq!(m["expires_after_days"], 30);
    // The mapping's own defaults.
    assert_eq!(m["proration_behavior"], "prorate");
    assert_eq!(m["trial_credits_expire_after_trial"], false);
    assert_eq!(m["trial_credits"], Value::Null);
    let t = &got["credit_entitlements"][1];
    assert_ne!(t["id"], m["id"]);
    assert_eq!(t["credits_amount"], "7");
    assert_eq!(
        (
            &t["expires_after_days"],
            &t["rollover_enabled"],
            &t["rollover_percentage"]
        ),
        (&json!(3), &json!(true), &json!(10))
    );
    assert_eq!(t["proration_behavior"], "no_prorate");
    assert_eq!(
        (&t["trial_credits"], &t["trial_credits_expire_after_trial"]),
        (&json!("2"), &json!(true))
    );
    assert_eq!(t["overage_enabled"], false);
    assert_eq!(t["overage_behavior"], "forgive_at_reset");

    // The typed client reads the mapping as the spec types it.
    let typed = client(&api).products().retrieve(id).await.unwrap();
    assert_eq!(typed.credit_entitlements.len(), 2);
    assert_eq!(
        typed.credit_entitlements[0].credits_amount.as_str(),
        "100.5"
    );
    assert_eq!(
        typed.credit_entitlements[1].credit_entitlement_name,
        "Tokens"
    );
}

#[tokio::test]
async fn every_bad_attach_is_422_and_leaves_the_product_unchanged() {
    let api = Api::start().await;
    let (min, tok) = (minutes(&api).await, tokens(&api).await);
    let gone = tokens(&api).await;
    api.delete(&format!("/credit-entitlements/{gone}"))
        .await
        .expect(200);
    // Another business's entitlement, present in this store (a hostile caller guessing ids).
    api.harness()
        .seed(&[SeedObject::new(
            "credit_entitlement",
            "cde_other_business",
            json!({"id": "cde_other_business", "business_id": "bus_someone_else",
                   "name": "Theirs", "unit": "u", "precision": 0, "rollover_enabled": false,
                   "overage_enabled": false, "overage_behavior": "forgive_at_reset"}),
        )])
        .await
        .unwrap();
    let created = api
        .post(
            "/products",
            one_time(json!([{"credit_entitlement_id": min, "credits_amount": "10"}])),
        )
        .await
        .expect(200)
        .body;
    let id = s(&created["product_id"]);
    let path = format!("/products/{id}");
    let before = api.get(&path).await.expect(200).body;
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"credit_entitlement_id": format!("cde_{i}"), "credits_amount": "1"}))
        .collect();
    let cases = [
        (
            json!([{"credit_entitlement_id": "cde_nope", "credits_amount": "1"}]),
            "cde_nope",
        ),
        (
            json!([{"credit_entitlement_id": gone, "credits_amount": "1"}]),
            "is deleted",
        ),
        (
            json!([{"credit_entitlement_id": "cde_other_business", "credits_amount": "1"}]),
            "no credit entitlement `cde_other_business`",
        ),
        (json!(six), "at most 5"),
        (
            json!([{"credit_entitlement_id": tok, "credits_amount": "1"},
                   {"credit_entitlement_id": tok, "credits_amount": "2"}]),
            "attached twice",
        ),
        (
            json!([{"credit_entitlement_id": min, "credits_amount": "1.234"}]),
            "more than 2 decimal places",
        ),
        (
            json!([{"credit_entitlement_id": tok, "credits_amount": "1.5"}]),
            "more than 0 decimal places",
        ),
        (
            json!([{"credit_entitlement_id": tok, "credits_amount": "-3"}]),
            "not negative",
        ),
        (
            json!([{"credit_entitlement_id": tok, "credits_amount": "12345678901"}]),
            "integer digits",
        ),
        (
            json!([{"credit_entitlement_id": tok, "credits_amount": "1",
                    "low_balance_threshold_percent": 101}]),
            "low_balance_threshold_percent",
        ),
        (
            json!([{"credit_entitlement_id": tok, "credits_amount": "1",
                    "rollover_percentage": -1}]),
            "rollover_percentage",
        ),
        (
            json!([{"credit_entitlement_id": tok, "credits_amount": "1",
                    "expires_after_days": 0}]),
            "expires_after_days",
        ),
        (
            json!([{"credit_entitlement_id": tok, "credits_amount": "1",
                    "max_rollover_count": -2}]),
            "max_rollover_count",
        ),
        (
            json!([{"credit_entitlement_id": tok, "credits_amount": "1",
                    "overage_enabled": true}]),
            "price_per_unit",
        ),
        (
            json!([{"credit_entitlement_id": tok, "credits_amount": "1",
                    "proration_behavior": "sometimes"}]),
            "proration_behavior",
        ),
    ];
    for (items, why) in cases {
        let r = api
            .patch(&path, json!({"credit_entitlements": items}))
            .await
            .expect(422);
        let message = s(&r.body["message"]);
        assert!(message.contains(why), "{why}: {message}");
        assert!(message.contains("credit_entitlements"), "{message}");
        assert_eq!(api.get(&path).await.body, before, "{why}: unchanged");
    }
    // A malformed decimal is refused by the body's type itself.
    let r = api
        .patch(
            &path,
            json!({"credit_entitlements": [{"credit_entitlement_id": tok, "credits_amount": "ten"}]}),
        )
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("credits_amount"));
    // A refused create stores no product.
    let listed = api.get("/products").await.expect(200).body["items"]
        .as_array()
        .unwrap()
        .len();
    api.post(
        "/products",
        one_time(json!([{"credit_entitlement_id": gone, "credits_amount": "1"}])),
    )
    .await
    .expect(422);
    let after = api.get("/products").await.expect(200).body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, listed);
    assert_eq!(api.get(&path).await.body, before);
}

#[tokio::test]
async fn patch_replaces_keeps_and_clears_the_mappings() {
    let api = Api::start().await;
    let (min, tok) = (minutes(&api).await, tokens(&api).await);
    let created = api
        .post(
            "/products",
            one_time(json!([{"credit_entitlement_id": min, "credits_amount": "10"}])),
        )
        .await
        .expect(200)
        .body;
    let path = format!("/products/{}", s(&created["product_id"]));
    let first_id = created["credit_entitlements"][0]["id"].clone();

    // Replaced: the same entitlement keeps its mapping id, a new one gets its own.
    api.patch(
        &path,
        json!({"credit_entitlements": [
            {"credit_entitlement_id": tok, "credits_amount": "5"},
            {"credit_entitlement_id": min, "credits_amount": "20.25"}]}),
    )
    .await
    .expect(200);
    let got = api.get(&path).await.body;
    let list = got["credit_entitlements"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["credit_entitlement_id"], tok.as_str());
    assert_eq!(list[1]["credits_amount"], "20.25");
    assert_eq!(
        list[1]["id"], first_id,
        "a re-attached mapping keeps its id"
    );
    assert_ne!(list[0]["id"], first_id);

    // Absent and `null` keep them (as every other PATCH field).
    api.patch(&path, json!({"name": "Renamed"}))
        .await
        .expect(200);
    api.patch(&path, json!({"credit_entitlements": null}))
        .await
        .expect(200);
    let kept = api.get(&path).await.body;
    assert_eq!(kept["name"], "Renamed");
    assert_eq!(kept["credit_entitlements"], got["credit_entitlements"]);

    // `[]` removes them all.
    api.patch(&path, json!({"credit_entitlements": []}))
        .await
        .expect(200);
    assert_eq!(api.get(&path).await.body["credit_entitlements"], json!([]));
}

#[tokio::test]
async fn checkout_preview_lists_credits_with_session_overrides_and_refuses_unattached_ones() {
    let api = Api::start().await;
    let (min, tok) = (minutes(&api).await, tokens(&api).await);
    let product = api
        .post(
            "/products",
            one_time(
                json!([{"credit_entitlement_id": min, "credits_amount": "100"},
                            {"credit_entitlement_id": tok, "credits_amount": "3"}]),
            ),
        )
        .await
        .expect(200)
        .body;
    let pid = s(&product["product_id"]);
    let preview = |cart: Value| {
        let api = &api;
        async move {
            api.post(
                "/checkouts/preview",
                json!({"product_cart": cart, "billing_address": {"country": "US"}}),
            )
            .await
        }
    };
    let plain = preview(json!([{"product_id": pid, "quantity": 1}]))
        .await
        .expect(200)
        .body;
    assert_eq!(
        plain["product_cart"][0]["credit_entitlements"],
        json!([
            {"credit_entitlement_id": min, "credit_entitlement_name": "Minutes",
             "credit_entitlement_unit": "minutes", "credits_amount": "100"},
            {"credit_entitlement_id": tok, "credit_entitlement_name": "Tokens",
             "credit_entitlement_unit": "tokens", "credits_amount": "3"},
        ])
    );
    let overridden = preview(json!([{"product_id": pid, "quantity": 1,
        "credit_entitlements": [{"credit_entitlement_id": min, "credits_amount": "250.50"}]}]))
    .await
    .expect(200)
    .body;
    let items = &overridden["product_cart"][0]["credit_entitlements"];
    assert_eq!(
        (&items[0]["credits_amount"], &items[1]["credits_amount"]),
        (&json!("250.5"), &json!("3"))
    );

    let other = tokens(&api).await;
    for (o, why) in [
        (
            json!({"credit_entitlement_id": other, "credits_amount": "5"}),
            "is not attached",
        ),
        (
            json!({"credit_entitlement_id": min, "credits_amount": "0"}),
            "greater than zero",
        ),
        (
            json!({"credit_entitlement_id": tok, "credits_amount": "1.5"}),
            "decimal places",
        ),
    ] {
        let cart = json!([{"product_id": pid, "quantity": 1, "credit_entitlements": [o]}]);
        for path in ["/checkouts/preview", "/checkouts"] {
            let r = api
                .post(path, json!({"product_cart": cart}))
                .await
                .expect(422);
            let message = s(&r.body["message"]);
            assert!(
                message.contains(why) && message.contains("product_cart[0].credit_entitlements[0]"),
                "{path} {why}: {message}"
            );
        }
    }
}

#[tokio::test]
async fn a_one_time_purchase_grants_its_credits_once_and_collections_flag_them() {
    let api = Api::start().await;
    let min = minutes(&api).await;
    let product = api
        .post(
            "/products",
            one_time(json!([{"credit_entitlement_id": min, "credits_amount": "12.5"}])),
        )
        .await
        .expect(200)
        .body;
    let pid = s(&product["product_id"]);
    let paid = api.paid_payment(pid, 2).await;
    let cus = s(&paid["customer"]["customer_id"]);
    let base = format!("/credit-entitlements/{min}/balances/{cus}");
    assert_eq!(api.get(&base).await.expect(200).body["balance"], "25");
    let grants = api.get(&format!("{base}/grants")).await.expect(200).body;
    let grants = grants["items"].as_array().unwrap();
    assert_eq!(grants.len(), 1, "granted once");
    assert_eq!(grants[0]["source_type"], "one_time");
    assert_eq!(grants[0]["source_id"], paid["payment_id"]);
    assert_eq!(grants[0]["initial_amount"], "25");
    assert!(
        grants[0]["expires_at"].is_string(),
        "the entitlement's 30 days"
    );

    let collection = api
        .post(
            "/product-collections",
            json!({"name": "Packs", "groups": [{"products": [{"product_id": pid}]}]}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        collection["groups"][0]["products"][0]["has_credit_entitlements"],
        true
    );
}

#[tokio::test]
async fn a_subscription_grants_by_the_mapping_settings_not_only_the_entitlement() {
    let api = Api::start().await;
    // The entitlement keeps credits 30 days; the product's mapping only 3.
    let min = minutes(&api).await;
    let plan = api
        .post(
            "/products",
            json!({"name": "Plan", "tax_category": "saas",
                   "price": {"type": "recurring_price", "price": 900, "currency": "USD",
                             "discount": 0, "purchasing_power_parity": false,
                             "payment_frequency_count": 1, "payment_frequency_interval": "Month",
                             "subscription_period_count": 1, "subscription_period_interval": "Year"},
                   "credit_entitlements": [{"credit_entitlement_id": min, "credits_amount": "40",
                                            "expires_after_days": 3}]}),
        )
        .await
        .expect(200)
        .body;
    let sub = api
        .post(
            "/subscriptions",
            json!({"product_id": plan["product_id"], "quantity": 1,
                   "customer": {"email": "plan@example.com", "name": "Plan"},
                   "billing": {"country": "US"}}),
        )
        .await
        .expect(200)
        .body;
    api.harness()
        .complete_payment(s(&sub["payment_id"]), "succeeded")
        .await
        .unwrap();
    let cus = s(&sub["customer"]["customer_id"]);
    let base = format!("/credit-entitlements/{min}/balances/{cus}");
    assert_eq!(api.get(&base).await.expect(200).body["balance"], "40");
    api.harness()
        .advance_clock(std::time::Duration::from_secs(4 * 86_400))
        .await
        .unwrap();
    assert_eq!(
        api.get(&base).await.expect(200).body["balance"],
        "0",
        "expired after the mapping's 3 days"
    );
}

#[tokio::test]
async fn patching_a_subscriptions_credit_cart_changes_what_its_next_cycle_grants() {
    let api = Api::start().await;
    let tok = tokens(&api).await;
    let plan = api
        .post(
            "/products",
            json!({"name": "Plan", "tax_category": "saas",
                   "price": {"type": "recurring_price", "price": 900, "currency": "USD",
                             "discount": 0, "purchasing_power_parity": false,
                             "payment_frequency_count": 1, "payment_frequency_interval": "Month",
                             "subscription_period_count": 1, "subscription_period_interval": "Year"},
                   "credit_entitlements": [{"credit_entitlement_id": tok, "credits_amount": "100"}]}),
        )
        .await
        .expect(200)
        .body;
    let sub = api
        .post(
            "/subscriptions",
            json!({"product_id": plan["product_id"], "quantity": 1,
                   "customer": {"email": "cart@example.com", "name": "Cart"},
                   "billing": {"country": "US"}}),
        )
        .await
        .expect(200)
        .body;
    let sid = s(&sub["subscription_id"]).to_string();
    api.harness()
        .complete_payment(s(&sub["payment_id"]), "succeeded")
        .await
        .unwrap();
    let cus = s(&sub["customer"]["customer_id"]).to_string();
    let base = format!("/credit-entitlements/{tok}/balances/{cus}");
    assert_eq!(api.get(&base).await.expect(200).body["balance"], "100");

    // Refused: an entitlement the subscription does not carry, a bad amount or percentage.
    let other = minutes(&api).await;
    for (item, says) in [
        (
            json!({"credit_entitlement_id": other, "credits_amount": "5"}),
            "carries no credit entitlement",
        ),
        (
            json!({"credit_entitlement_id": tok, "credits_amount": "2.5"}),
            "decimal places",
        ),
        (
            json!({"credit_entitlement_id": tok, "low_balance_threshold_percent": 150}),
            "between 0 and 100",
        ),
    ] {
        api.patch(
            &format!("/subscriptions/{sid}"),
            json!({"credit_entitlement_cart": [item]}),
        )
        .await
        .expect(422)
        .says(says);
    }
    let patched = api
        .patch(
            &format!("/subscriptions/{sid}"),
            json!({"credit_entitlement_cart": [{"credit_entitlement_id": tok,
                   "credits_amount": "250", "low_balance_threshold_percent": 10}]}),
        )
        .await
        .expect(200)
        .body;
    let cart = &patched["credit_entitlement_cart"][0];
    assert_eq!(
        (
            cart["credits_amount"].clone(),
            cart["low_balance_threshold_percent"].clone()
        ),
        (json!("250"), json!(10))
    );
    assert_eq!(
        api.get(&base).await.expect(200).body["balance"],
        "100",
        "granted later"
    );
    api.harness()
        .advance_clock(std::time::Duration::from_secs(32 * 86_400))
        .await
        .unwrap();
    let grants = api.get(&format!("{base}/grants")).await.expect(200).body;
    let amounts: Vec<&str> = grants["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["initial_amount"].as_str().unwrap())
        .collect();
    assert!(
        amounts.contains(&"250"),
        "the next cycle grants the new amount: {amounts:?}"
    );
}
