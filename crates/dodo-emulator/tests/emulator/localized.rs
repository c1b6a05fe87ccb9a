//! Localized prices apply to what the customer is charged: payments, checkout sessions and
//! their preview, subscriptions and their renewals; mixed-currency carts are refused.

use std::time::Duration;

use dodo_emulator::purchase::TestCard;
use serde_json::{Value, json};

use crate::support::{Api, s};

/// Sets the product's `pricing_mode` and adds one rule; answers the rule.
async fn localize(api: &Api, pid: &str, mode: &str, rule: Value) -> Value {
    api.patch(&format!("/products/{pid}"), json!({"pricing_mode": mode}))
        .await
        .expect(200);
    api.post(&format!("/products/{pid}/localized-prices"), rule)
        .await
        .expect(200)
        .body
}

/// A $20 one-time product sold for ₹999 in India.
async fn india_product(api: &Api) -> String {
    let product = api.one_time_product(2000).await;
    let pid = s(&product["product_id"]).to_string();
    localize(
        api,
        &pid,
        "by_country",
        json!({"currency": "INR", "amount": 99900, "country_code": "IN"}),
    )
    .await;
    pid
}

/// A $20 one-time product sold for €9.99 to buyers paying in euros.
async fn euro_product(api: &Api) -> String {
    let product = api.one_time_product(2000).await;
    let pid = s(&product["product_id"]).to_string();
    localize(
        api,
        &pid,
        "by_currency",
        json!({"currency": "EUR", "amount": 999}),
    )
    .await;
    pid
}

async fn pay(
    api: &Api,
    cart: Value,
    country: &str,
    currency: Option<&str>,
) -> crate::support::Resp {
    let mut body = json!({
        "product_cart": cart,
        "customer": {"email": "buyer@example.com", "name": "Buyer"},
        "billing": {"country": country},
    });
    if let Some(c) = currency {
        body["billing_currency"] = json!(c);
    }
    api.post("/payments", body).await
}

async fn payment(api: &Api, id: &Value) -> Value {
    api.get(&format!("/payments/{}", s(id)))
        .await
        .expect(200)
        .body
}

#[tokio::test]
async fn by_country_charges_the_billing_countrys_rule_and_falls_back_to_the_base_price() {
    let api = Api::start().await;
    let pid = india_product(&api).await;
    let cart = json!([{"product_id": pid, "quantity": 2}]);

    let india = pay(&api, cart.clone(), "IN", None).await.expect(200).body;
    assert_eq!(india["total_amount"], 199_800);
    let stored = payment(&api, &india["payment_id"]).await;
    assert_eq!(stored["currency"], "INR");
    assert_eq!(stored["total_amount"], 199_800);
    let lines = api
        .get(&format!("/payments/{}/line-items", s(&india["payment_id"])))
        .await
        .expect(200)
        .body;
    assert_eq!(lines["currency"], "INR");
    assert_eq!(lines["items"][0]["amount"], 199_800);

    let us = pay(&api, cart.clone(), "US", None).await.expect(200).body;
    let stored = payment(&api, &us["payment_id"]).await;
    assert_eq!(
        (stored["total_amount"].clone(), stored["currency"].clone()),
        (json!(4000), json!("USD"))
    );

    // A requested currency never picks another country's price on a by_country product…
    let sneaky = pay(&api, cart.clone(), "US", Some("INR"))
        .await
        .expect(200)
        .body;
    let stored = payment(&api, &sneaky["payment_id"]).await;
    assert_eq!(
        (stored["total_amount"].clone(), stored["currency"].clone()),
        (json!(4000), json!("USD"))
    );
    // …nor moves an Indian buyer off India's price.
    let indian_in_euros = pay(&api, cart, "IN", Some("EUR")).await.expect(200).body;
    let stored = payment(&api, &indian_in_euros["payment_id"]).await;
    assert_eq!(
        (stored["total_amount"].clone(), stored["currency"].clone()),
        (json!(199_800), json!("INR"))
    );
}

#[tokio::test]
async fn by_currency_follows_the_billing_currency_and_the_preview_agrees_with_the_payment() {
    let api = Api::start().await;
    let pid = euro_product(&api).await;
    let cart = json!([{"product_id": pid, "quantity": 3}]);

    let preview = api
        .post(
            "/checkouts/preview",
            json!({"product_cart": cart, "billing_currency": "EUR",
                   "billing_address": {"country": "DE"}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(preview["currency"], "EUR");
    assert_eq!(preview["total_price"], 2997);
    assert_eq!(preview["current_breakup"]["total_amount"], 2997);
    let line = &preview["product_cart"][0];
    assert_eq!(line["currency"], "EUR");
    assert_eq!(line["discounted_price"], 2997);
    // `og_*`: the product's own price and currency.
    assert_eq!(
        (line["og_price"].clone(), line["og_currency"].clone()),
        (json!(2000), json!("USD"))
    );

    // The session the buyer pays is charged what the preview said.
    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": cart, "billing_currency": "EUR",
                   "billing_address": {"country": "DE"},
                   "customer": {"email": "eu@example.com", "name": "EU Buyer"}}),
        )
        .await
        .expect(200)
        .body;
    let paid = api
        .harness()
        .pay_checkout_session(s(&session["session_id"]), TestCard::Succeeds)
        .await
        .unwrap();
    let charged = payment(&api, &json!(paid.payment_id)).await;
    assert_eq!(charged["total_amount"], preview["total_price"]);
    assert_eq!(charged["currency"], preview["currency"]);
    assert_eq!(charged["status"], "succeeded");

    // GBP has no rule: the base price in the base currency (the emulator has no FX rates).
    let gbp = api
        .post(
            "/checkouts/preview",
            json!({"product_cart": cart, "billing_currency": "GBP"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (gbp["total_price"].clone(), gbp["currency"].clone()),
        (json!(6000), json!("USD"))
    );
    let direct = pay(&api, cart, "GB", Some("GBP")).await.expect(200).body;
    assert_eq!(direct["total_amount"], 6000);
    assert_eq!(
        payment(&api, &direct["payment_id"]).await["currency"],
        "USD"
    );
}

#[tokio::test]
async fn discounts_apply_to_the_localized_amount() {
    let api = Api::start().await;
    let pid = euro_product(&api).await;
    api.post(
        "/discounts",
        json!({"type": "percentage", "amount": 1000, "code": "TENOFF"}),
    )
    .await
    .expect(200);
    let cart = json!([{"product_id": pid, "quantity": 1}]);
    let preview = api
        .post(
            "/checkouts/preview",
            json!({"product_cart": cart, "billing_currency": "EUR", "discount_code": "TENOFF"}),
        )
        .await
        .expect(200)
        .body;
    // 10 % of €9.99 is 99 cents (rounded down), not 10 % of the $20 base.
    assert_eq!(preview["current_breakup"]["discount"], 99);
    assert_eq!(preview["total_price"], 900);
    assert_eq!(preview["currency"], "EUR");

    let mut body = json!({
        "product_cart": cart,
        "customer": {"email": "d@example.com", "name": "D"},
        "billing": {"country": "FR"},
        "billing_currency": "EUR",
        "discount_code": "TENOFF",
    });
    let paid = api.post("/payments", body.clone()).await.expect(200).body;
    assert_eq!(paid["total_amount"], 900);
    let stored = payment(&api, &paid["payment_id"]).await;
    assert_eq!(stored["currency"], "EUR");
    assert_eq!(stored["total_amount"], preview["total_price"]);

    // Same code, no rule for the currency: 10 % of the base price.
    body["billing_currency"] = json!("USD");
    let base = api.post("/payments", body.clone()).await.expect(200).body;
    assert_eq!(base["total_amount"], 1800);

    // A rule in the base currency prices buyers who ask for no currency (they pay in it).
    api.post(
        &format!("/products/{pid}/localized-prices"),
        json!({"currency": "USD", "amount": 1900}),
    )
    .await
    .expect(200);
    body.as_object_mut().unwrap().remove("billing_currency");
    body.as_object_mut().unwrap().remove("discount_code");
    let usd_rule = api.post("/payments", body).await.expect(200).body;
    assert_eq!(usd_rule["total_amount"], 1900);
}

#[tokio::test]
async fn archived_and_updated_rules() {
    let api = Api::start().await;
    let product = api.one_time_product(2000).await;
    let pid = s(&product["product_id"]).to_string();
    let rule = localize(
        &api,
        &pid,
        "by_country",
        json!({"currency": "INR", "amount": 99900, "country_code": "IN"}),
    )
    .await;
    let path = format!("/products/{pid}/localized-prices/{}", s(&rule["id"]));
    let cart = json!([{"product_id": pid, "quantity": 1}]);

    // An updated amount is what the next buyer pays.
    api.patch(&path, json!({"amount": 79900})).await.expect(200);
    let promo = pay(&api, cart.clone(), "IN", None).await.expect(200).body;
    assert_eq!(promo["total_amount"], 79900);

    // The promotion ends: the rule is archived and India pays the base price again.
    api.delete(&path).await.expect(200);
    let after = pay(&api, cart.clone(), "IN", None).await.expect(200).body;
    let stored = payment(&api, &after["payment_id"]).await;
    assert_eq!(
        (stored["total_amount"].clone(), stored["currency"].clone()),
        (json!(2000), json!("USD"))
    );

    // Clearing the pricing mode archives the rules too.
    localize(
        &api,
        &pid,
        "by_country",
        json!({"currency": "INR", "amount": 50000, "country_code": "IN"}),
    )
    .await;
    assert_eq!(
        pay(&api, cart.clone(), "IN", None).await.expect(200).body["total_amount"],
        50000
    );
    api.patch(&format!("/products/{pid}"), json!({"pricing_mode": null}))
        .await
        .expect(200);
    assert_eq!(
        pay(&api, cart, "IN", None).await.expect(200).body["total_amount"],
        2000
    );
}

#[tokio::test]
async fn subscriptions_and_their_renewals_charge_the_localized_amount() {
    let api = Api::start().await;
    let product = api.recurring_product(1500).await;
    let pid = s(&product["product_id"]).to_string();
    let rule = localize(
        &api,
        &pid,
        "by_country",
        json!({"currency": "INR", "amount": 49900, "country_code": "IN"}),
    )
    .await;
    let created = api
        .post(
            "/subscriptions",
            json!({"product_id": pid, "quantity": 2,
                   "customer": {"email": "in@example.com", "name": "IN"},
                   "billing": {"country": "IN"}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(created["recurring_pre_tax_amount"], 99_800);
    let sid = s(&created["subscription_id"]).to_string();
    let first = payment(&api, &created["payment_id"]).await;
    assert_eq!(
        (first["total_amount"].clone(), first["currency"].clone()),
        (json!(99_800), json!("INR"))
    );
    api.harness()
        .complete_payment(s(&created["payment_id"]), "succeeded")
        .await
        .unwrap();
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["currency"], "INR");
    assert_eq!(sub["recurring_pre_tax_amount"], 99_800);

    // A subscription keeps the price it began with (as it keeps a base price changed later):
    // archiving the rule ends it for new buyers, not for this renewal.
    api.delete(&format!(
        "/products/{pid}/localized-prices/{}",
        s(&rule["id"])
    ))
    .await
    .expect(200);
    api.harness()
        .advance_clock(Duration::from_secs(32 * 86_400))
        .await
        .unwrap();
    let payments = api
        .get(&format!("/payments?subscription_id={sid}"))
        .await
        .expect(200)
        .body;
    let items = payments["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{payments}");
    for p in items {
        assert_eq!(p["currency"], "INR", "{p}");
        assert_eq!(p["total_amount"], 99_800, "{p}");
        assert_eq!(p["status"], "succeeded", "{p}");
    }

    // A US subscriber pays the base price.
    let us = api
        .post(
            "/subscriptions",
            json!({"product_id": pid, "quantity": 1,
                   "customer": {"email": "us@example.com", "name": "US"},
                   "billing": {"country": "US"}, "billing_currency": "INR"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(us["recurring_pre_tax_amount"], 1500);
    assert_eq!(payment(&api, &us["payment_id"]).await["currency"], "USD");
}

#[tokio::test]
async fn a_checkout_session_starts_a_subscription_at_the_localized_price() {
    let api = Api::start().await;
    let product = api.recurring_product(1500).await;
    let pid = s(&product["product_id"]).to_string();
    localize(
        &api,
        &pid,
        "by_currency",
        json!({"currency": "EUR", "amount": 1299}),
    )
    .await;
    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": pid, "quantity": 1}],
                   "billing_currency": "EUR",
                   "customer": {"email": "sub@example.com", "name": "Sub"}}),
        )
        .await
        .expect(200)
        .body;
    let paid = api
        .harness()
        .pay_checkout_session(s(&session["session_id"]), TestCard::Succeeds)
        .await
        .unwrap();
    let sid = paid.subscription_id.expect("a subscription");
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["currency"], "EUR");
    assert_eq!(sub["recurring_pre_tax_amount"], 1299);
    let first = payment(&api, &json!(paid.payment_id)).await;
    assert_eq!(
        (first["total_amount"].clone(), first["currency"].clone()),
        (json!(1299), json!("EUR"))
    );
}

#[tokio::test]
async fn carts_whose_prices_resolve_to_different_currencies_are_refused() {
    let api = Api::start().await;
    let india = india_product(&api).await;
    let plain = api.one_time_product(500).await;
    let plain = s(&plain["product_id"]).to_string();
    let cart = json!([{"product_id": plain, "quantity": 1}, {"product_id": india, "quantity": 1}]);

    let refused = pay(&api, cart.clone(), "IN", None).await.expect(422);
    assert_eq!(refused.body["code"], "CART_CURRENCY_MISMATCH");
    assert!(
        s(&refused.body["message"]).contains("product_cart[1]"),
        "{}",
        refused.body
    );
    let preview = api
        .post(
            "/checkouts/preview",
            json!({"product_cart": cart, "billing_address": {"country": "IN"}}),
        )
        .await
        .expect(422);
    assert_eq!(preview.body["code"], "CART_CURRENCY_MISMATCH");
    // Nothing was created by the refused payment.
    let listed = api.get("/payments").await.expect(200).body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);

    // The same cart outside India is one currency and is charged.
    let us = pay(&api, cart, "US", None).await.expect(200).body;
    assert_eq!(us["total_amount"], 2500);

    // Products whose base prices differ in currency were summed as if at par before; now refused.
    let euro = api
        .post(
            "/products",
            json!({"name": "Euro book", "tax_category": "e_book",
                   "price": {"type": "one_time_price", "price": 700, "currency": "EUR",
                             "discount": 0, "purchasing_power_parity": false}}),
        )
        .await
        .expect(200)
        .body;
    let mixed = json!([{"product_id": plain, "quantity": 1}, {"product_id": euro["product_id"], "quantity": 1}]);
    let refused = pay(&api, mixed, "US", None).await.expect(422);
    assert_eq!(refused.body["code"], "CART_CURRENCY_MISMATCH");
}

#[tokio::test]
async fn pay_what_you_want_prices_keep_their_base_price() {
    let api = Api::start().await;
    let product = api
        .post(
            "/products",
            json!({"name": "Tip", "tax_category": "digital_products",
                   "price": {"type": "one_time_price", "price": 500, "currency": "USD",
                             "discount": 0, "purchasing_power_parity": false,
                             "pay_what_you_want": true}}),
        )
        .await
        .expect(200)
        .body;
    let pid = s(&product["product_id"]).to_string();
    localize(
        &api,
        &pid,
        "by_country",
        json!({"currency": "INR", "amount": 100, "country_code": "IN"}),
    )
    .await;
    let paid = pay(
        &api,
        json!([{"product_id": pid, "quantity": 1, "amount": 800}]),
        "IN",
        None,
    )
    .await
    .expect(200)
    .body;
    let stored = payment(&api, &paid["payment_id"]).await;
    assert_eq!(
        (stored["total_amount"].clone(), stored["currency"].clone()),
        (json!(800), json!("USD"))
    );
}

#[tokio::test]
async fn a_plan_change_keeps_the_subscriptions_localization() {
    let api = Api::start().await;
    let mut plans = Vec::new();
    for (base, inr) in [(1000, 40_000), (3000, 90_000)] {
        let product = api.recurring_product(base).await;
        let pid = s(&product["product_id"]).to_string();
        localize(
            &api,
            &pid,
            "by_country",
            json!({"currency": "INR", "amount": inr, "country_code": "IN"}),
        )
        .await;
        plans.push(pid);
    }
    let unlocalized = api.recurring_product(5000).await;
    let created = api
        .post(
            "/subscriptions",
            json!({"product_id": plans[0], "quantity": 1,
                   "customer": {"email": "in@example.com", "name": "IN"},
                   "billing": {"country": "IN"}}),
        )
        .await
        .expect(200)
        .body;
    api.harness()
        .complete_payment(s(&created["payment_id"]), "succeeded")
        .await
        .unwrap();
    let id = s(&created["subscription_id"]).to_string();
    let change = json!({"product_id": plans[1], "quantity": 1,
                        "proration_billing_mode": "difference_immediately"});
    let preview = api
        .post(
            &format!("/subscriptions/{id}/change-plan/preview"),
            change.clone(),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(preview["new_plan"]["recurring_pre_tax_amount"], 90_000);
    assert_eq!(preview["new_plan"]["currency"], "INR");
    let line = &preview["immediate_charge"]["line_items"][0];
    assert_eq!(
        (line["unit_price"].clone(), line["currency"].clone()),
        (json!(90_000), json!("INR"))
    );
    assert_eq!(
        preview["immediate_charge"]["summary"]["total_amount"],
        50_000
    );

    // A difference between rupees and dollars cannot be billed without exchange rates.
    let to_dollars = json!({"product_id": unlocalized["product_id"], "quantity": 1,
                            "proration_billing_mode": "difference_immediately"});
    let refused = api
        .post(&format!("/subscriptions/{id}/change-plan"), to_dollars)
        .await
        .expect(422);
    assert_eq!(refused.body["code"], "CURRENCY_MISMATCH");
    let unchanged = api
        .get(&format!("/subscriptions/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(unchanged["product_id"], plans[0].as_str());

    api.post(&format!("/subscriptions/{id}/change-plan"), change)
        .await
        .expect(200);
    let now = api
        .get(&format!("/subscriptions/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            now["recurring_pre_tax_amount"].clone(),
            now["currency"].clone()
        ),
        (json!(90_000), json!("INR"))
    );
    let payments = api
        .get(&format!("/payments?subscription_id={id}"))
        .await
        .expect(200)
        .body;
    let charged: Vec<(Value, Value)> = payments["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["total_amount"].clone(), p["currency"].clone()))
        .collect();
    assert!(
        charged.contains(&(json!(50_000), json!("INR"))),
        "{charged:?}"
    );
}

#[tokio::test]
async fn a_payment_link_page_shows_the_localized_amount() {
    let api = Api::start().await;
    let pid = india_product(&api).await;
    let mut body = json!({
        "product_cart": [{"product_id": pid, "quantity": 1}],
        "customer": {"email": "link@example.com", "name": "Link"},
        "billing": {"country": "IN"},
    });
    body["payment_link"] = json!(true);
    let created = api.post("/payments", body).await.expect(200).body;
    let html = api
        .http
        .get(s(&created["payment_link"]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"id="total">₹999.00<"#), "{html}");
    // The line's unit price too, not the $20 base amount read as rupees.
    assert!(
        html.contains(r#"<td class="num">₹999.00</td><td class="num">₹999.00</td>"#),
        "{html}"
    );
    assert!(!html.contains("₹20.00"), "{html}");
}
