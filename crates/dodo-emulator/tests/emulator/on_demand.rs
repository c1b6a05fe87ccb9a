//! What a new subscription's first payment charges and when the clock bills it: on-demand
//! subscriptions (mandate only, or an initial charge at an overridden price), one-time products
//! bundled into the first payment, and a checkout session's `subscription_data`.

use std::time::Duration;

use dodo_emulator::purchase::TestCard;
use serde_json::{Value, json};

use crate::support::{Api, new_subscription, s};

const DAY: u64 = 86_400;

async fn payments_of(api: &Api, sid: &str) -> Vec<Value> {
    let list = api
        .get(&format!("/payments?subscription_id={sid}"))
        .await
        .expect(200)
        .body;
    list["items"].as_array().cloned().unwrap_or_default()
}

async fn line_items(api: &Api, payment_id: &str) -> Vec<(String, i64, Value)> {
    let lines = api
        .get(&format!("/payments/{payment_id}/line-items"))
        .await
        .expect(200)
        .body;
    lines["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                s(&i["items_id"]).to_string(),
                i["amount"].as_i64().unwrap(),
                i["description"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn on_demand_subscriptions_are_charged_only_when_asked() {
    let api = Api::start().await;
    let product = api.recurring_product(1000).await;
    let created = api
        .post(
            "/subscriptions",
            new_subscription(
                &product["product_id"],
                json!({"on_demand": {"mandate_only": true}, "payment_link": true}),
            ),
        )
        .await
        .expect(200)
        .body;
    let sid = s(&created["subscription_id"]).to_string();
    let pay = s(&created["payment_id"]).to_string();
    let first = api.get(&format!("/payments/{pay}")).await.expect(200).body;
    assert_eq!(
        first["total_amount"], 0,
        "a mandate is authorised, not charged"
    );
    api.harness()
        .complete_payment(&pay, "succeeded")
        .await
        .unwrap();
    let sub = api.get(&format!("/subscriptions/{sid}")).await.body;
    assert_eq!(
        (sub["status"].clone(), sub["on_demand"].clone()),
        (json!("active"), json!(true))
    );

    // Two billing periods pass: nothing is charged on a schedule.
    api.harness()
        .advance_clock(Duration::from_secs(65 * DAY))
        .await
        .unwrap();
    assert_eq!(payments_of(&api, &sid).await.len(), 1);
    let charged = api
        .post(
            &format!("/subscriptions/{sid}/charge"),
            json!({"product_price": 250}),
        )
        .await
        .expect(200)
        .body;
    let p = api
        .get(&format!("/payments/{}", s(&charged["payment_id"])))
        .await
        .body;
    assert_eq!(
        (p["total_amount"].clone(), p["status"].clone()),
        (json!(250), json!("succeeded"))
    );

    // `disable_on_demand` turns it into a scheduled subscription from the date given.
    let now = api.harness().clock().await.unwrap().now;
    let tomorrow =
        time::OffsetDateTime::parse(&now, &time::format_description::well_known::Rfc3339).unwrap()
            + time::Duration::days(1);
    let next = tomorrow
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let patched = api
        .patch(
            &format!("/subscriptions/{sid}"),
            json!({"disable_on_demand": {"next_billing_date": next}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(patched["on_demand"], false);
    api.harness()
        .advance_clock(Duration::from_secs(2 * DAY))
        .await
        .unwrap();
    let payments = payments_of(&api, &sid).await;
    assert_eq!(payments.len(), 3, "{payments:?}");
    assert_eq!(
        payments[0]["total_amount"], 1000,
        "the plan's price, on schedule"
    );
}

#[tokio::test]
async fn an_on_demand_initial_charge_takes_its_price_currency_and_description() {
    let api = Api::start().await;
    let product = api.recurring_product(1000).await;
    let pid = &product["product_id"];
    let created = api
        .post(
            "/subscriptions",
            new_subscription(
                pid,
                json!({"quantity": 2, "on_demand": {"mandate_only": false,
                        "product_price": 777, "product_description": "Setup fee"}}),
            ),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        created["recurring_pre_tax_amount"], 2000,
        "the plan is unchanged"
    );
    let pay = s(&created["payment_id"]);
    let first = api.get(&format!("/payments/{pay}")).await.body;
    assert_eq!(first["total_amount"], 1554);
    assert_eq!(
        line_items(&api, pay).await,
        vec![(s(pid).to_string(), 1554, json!("Setup fee"))]
    );

    let eur = api
        .post(
            "/subscriptions",
            new_subscription(
                pid,
                json!({"on_demand": {"mandate_only": false, "product_price": 900,
                                     "product_currency": "EUR"}}),
            ),
        )
        .await
        .expect(200)
        .body;
    let p = api
        .get(&format!("/payments/{}", s(&eur["payment_id"])))
        .await
        .body;
    assert_eq!(
        (p["total_amount"].clone(), p["currency"].clone()),
        (json!(900), json!("EUR"))
    );

    // Refusals store nothing.
    let before = api.get("/subscriptions").await.body["items"]
        .as_array()
        .unwrap()
        .len();
    let r = api
        .post(
            "/subscriptions",
            new_subscription(
                pid,
                json!({"on_demand": {"mandate_only": false, "product_currency": "EUR"}}),
            ),
        )
        .await
        .expect(422);
    assert_eq!(r.body["code"], "CURRENCY_MISMATCH");
    let once = api.one_time_product(300).await;
    api
        .post(
            "/subscriptions",
            new_subscription(
                pid,
                json!({"on_demand": {"mandate_only": true},
                       "one_time_product_cart": [{"product_id": once["product_id"], "quantity": 1}]}),
            ),
        )
        .await
        .expect(422)
        .says("one_time_product_cart");
    let after = api.get("/subscriptions").await.body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);
}

#[tokio::test]
async fn one_time_products_are_bundled_into_the_first_payment_only() {
    let api = Api::start().await;
    let plan = api.recurring_product(1000).await;
    let pid = &plan["product_id"];
    let once = api.one_time_product(300).await;
    let oid = &once["product_id"];
    let created = api
        .post(
            "/subscriptions",
            new_subscription(
                pid,
                json!({"one_time_product_cart": [{"product_id": oid, "quantity": 2}]}),
            ),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        created["one_time_product_cart"],
        json!([{"product_id": oid, "quantity": 2}])
    );
    assert_eq!(created["recurring_pre_tax_amount"], 1000);
    let sid = s(&created["subscription_id"]).to_string();
    let pay = s(&created["payment_id"]).to_string();
    let first = api.get(&format!("/payments/{pay}")).await.body;
    assert_eq!(first["total_amount"], 1600);
    let items: Vec<(String, i64)> = line_items(&api, &pay)
        .await
        .into_iter()
        .map(|(id, amount, _)| (id, amount))
        .collect();
    assert_eq!(
        items,
        vec![(s(pid).to_string(), 1000), (s(oid).to_string(), 600)]
    );
    api.harness()
        .complete_payment(&pay, "succeeded")
        .await
        .unwrap();
    api.harness()
        .advance_clock(Duration::from_secs(32 * DAY))
        .await
        .unwrap();
    let payments = payments_of(&api, &sid).await;
    assert_eq!(payments.len(), 2);
    assert_eq!(
        payments[0]["total_amount"], 1000,
        "renewals bill the plan alone"
    );

    // During a free trial the one-time products are still paid now.
    let trial = api
        .post(
            "/subscriptions",
            new_subscription(
                pid,
                json!({"trial_period_days": 7,
                       "one_time_product_cart": [{"product_id": oid, "quantity": 1}]}),
            ),
        )
        .await
        .expect(200)
        .body;
    let p = api
        .get(&format!("/payments/{}", s(&trial["payment_id"])))
        .await
        .body;
    assert_eq!(p["total_amount"], 300);

    api.post(
        "/subscriptions",
        new_subscription(
            pid,
            json!({"one_time_product_cart": [{"product_id": pid, "quantity": 1}]}),
        ),
    )
    .await
    .expect(422)
    .says("one_time_product_cart[0]");
}

#[tokio::test]
async fn a_checkout_sessions_subscription_data_shapes_the_subscription_it_starts() {
    let api = Api::start().await;
    let plan = api.recurring_product(1000).await;
    let pid = &plan["product_id"];
    let session_with = |data: Value| {
        json!({"product_cart": [{"product_id": pid, "quantity": 1}],
               "customer": {"email": "sd@example.com", "name": "SD"},
               "subscription_data": data})
    };

    let body = session_with(json!({"trial_period_days": 14}));
    let preview = api
        .post("/checkouts/preview", body.clone())
        .await
        .expect(200)
        .body;
    assert_eq!(preview["trial_period_days"], 14);
    assert_eq!(preview["current_breakup"]["total_amount"], 0);
    let session = api.post("/checkouts", body).await.expect(200).body;
    let paid = api
        .harness()
        .pay_checkout_session(s(&session["session_id"]), TestCard::Succeeds)
        .await
        .unwrap();
    let sub = api
        .get(&format!("/subscriptions/{}", paid.subscription_id.unwrap()))
        .await
        .body;
    assert_eq!(sub["trial_period_days"], 14);
    let p = api
        .get(&format!("/payments/{}", paid.payment_id))
        .await
        .body;
    assert_eq!(p["total_amount"], 0, "what the preview said is due now");

    let session = api
        .post(
            "/checkouts",
            session_with(json!({"on_demand": {"mandate_only": true}})),
        )
        .await
        .expect(200)
        .body;
    let paid = api
        .harness()
        .pay_checkout_session(s(&session["session_id"]), TestCard::Succeeds)
        .await
        .unwrap();
    let sub = api
        .get(&format!("/subscriptions/{}", paid.subscription_id.unwrap()))
        .await
        .body;
    assert_eq!(sub["on_demand"], true);
    let p = api
        .get(&format!("/payments/{}", paid.payment_id))
        .await
        .body;
    assert_eq!(p["total_amount"], 0);

    api.post(
        "/checkouts",
        session_with(json!({"trial_period_days": 20_000})),
    )
    .await
    .expect(422)
    .says("trial_period_days");
}

/// A monthly $12 plan with a 7-day trial that costs `trial_amount` per unit (if any).
async fn trial_plan(api: &Api, trial_amount: Option<i64>, applies_discounts: bool) -> Value {
    api.post(
        "/products",
        json!({"name": "Trial plan", "tax_category": "saas",
               "price": {"type": "recurring_price", "price": 1200, "currency": "USD",
                         "discount": 0, "purchasing_power_parity": false,
                         "trial_period_days": 7, "trial_amount": trial_amount,
                         "trial_apply_discounts": applies_discounts,
                         "payment_frequency_count": 1, "payment_frequency_interval": "Month",
                         "subscription_period_count": 1, "subscription_period_interval": "Year"}}),
    )
    .await
    .expect(200)
    .body
}

#[tokio::test]
async fn a_paid_trial_charges_its_trial_amount_today_and_the_plan_after() {
    let api = Api::start().await;
    let plan = trial_plan(&api, Some(100), false).await;
    let pid = &plan["product_id"];
    let created = api
        .post(
            "/subscriptions",
            new_subscription(pid, json!({"quantity": 2})),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(created["trial_amount"], 100);
    let sid = s(&created["subscription_id"]).to_string();
    let pay = s(&created["payment_id"]).to_string();
    assert_eq!(
        api.get(&format!("/payments/{pay}")).await.body["total_amount"],
        200
    );
    api.harness()
        .complete_payment(&pay, "succeeded")
        .await
        .unwrap();
    assert_eq!(
        api.get(&format!("/subscriptions/{sid}")).await.body["trial_amount"],
        100
    );
    api.harness()
        .advance_clock(Duration::from_secs(8 * DAY))
        .await
        .unwrap();
    let payments = payments_of(&api, &sid).await;
    assert_eq!(payments.len(), 2);
    assert_eq!(
        payments[0]["total_amount"], 2400,
        "the plan once the trial ends"
    );

    // Discount codes reduce a paid trial only with `trial_apply_discounts`.
    api.post(
        "/discounts",
        json!({"type": "percentage", "amount": 1000, "code": "TRIAL10"}),
    )
    .await
    .expect(200);
    let code = json!({"quantity": 2, "discount_code": "TRIAL10"});
    let plain = api
        .post("/subscriptions", new_subscription(pid, code.clone()))
        .await
        .expect(200)
        .body;
    assert_eq!(plain["trial_amount"], 100);
    let p = api
        .get(&format!("/payments/{}", s(&plain["payment_id"])))
        .await
        .body;
    assert_eq!(p["total_amount"], 200);
    let with = trial_plan(&api, Some(100), true).await;
    let discounted = api
        .post(
            "/subscriptions",
            new_subscription(&with["product_id"], code),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(discounted["trial_amount"], 90);
    let p = api
        .get(&format!("/payments/{}", s(&discounted["payment_id"])))
        .await
        .body;
    assert_eq!(p["total_amount"], 180);

    // The checkout preview and the hosted page say what is due today, and it is charged.
    let session_body = json!({"product_cart": [{"product_id": pid, "quantity": 2}],
                              "customer": {"email": "trial@example.com", "name": "Trial"}});
    let preview = api
        .post("/checkouts/preview", session_body.clone())
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            preview["trial_period_days"].clone(),
            preview["trial_amount"].clone(),
            preview["current_breakup"]["total_amount"].clone()
        ),
        (json!(7), json!(100), json!(200))
    );
    let session = api.post("/checkouts", session_body).await.expect(200).body;
    let page = reqwest::get(s(&session["checkout_url"]))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("7-day paid trial; then $12.00 each"),
        "{page}"
    );
    assert!(page.contains("Pay $2.00"), "{page}");
    let paid = api
        .harness()
        .pay_checkout_session(s(&session["session_id"]), TestCard::Succeeds)
        .await
        .unwrap();
    let p = api
        .get(&format!("/payments/{}", paid.payment_id))
        .await
        .body;
    assert_eq!(p["total_amount"], 200);

    // A free trial's page shows nothing due today.
    let free = trial_plan(&api, None, false).await;
    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": free["product_id"], "quantity": 1}]}),
        )
        .await
        .expect(200)
        .body;
    let page = reqwest::get(s(&session["checkout_url"]))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("7-day free trial"), "{page}");
    assert!(page.contains("Pay $0.00"), "{page}");
}

#[tokio::test]
async fn a_paid_trial_needs_a_trial_and_costs_at_most_the_price() {
    let api = Api::start().await;
    for (days, amount, says) in [(0, 100, "trial_period_days"), (7, 1300, "exceed")] {
        api
            .post(
                "/products",
                json!({"name": "Bad trial", "tax_category": "saas",
                       "price": {"type": "recurring_price", "price": 1200, "currency": "USD",
                                 "discount": 0, "purchasing_power_parity": false,
                                 "trial_period_days": days, "trial_amount": amount,
                                 "payment_frequency_count": 1, "payment_frequency_interval": "Month",
                                 "subscription_period_count": 1, "subscription_period_interval": "Year"}}),
            )
            .await
            .expect(422)
        .says(says);
    }
}

#[tokio::test]
async fn a_session_confirmed_with_a_saved_card_starts_its_subscription() {
    let api = Api::start().await;
    let plan = api.recurring_product(1000).await;
    let once = api.one_time_product(300).await;
    let earlier = api.paid_payment(s(&once["product_id"]), 1).await;
    let customer = earlier["customer"]["customer_id"].clone();
    let session = |cart: Value| {
        json!({"product_cart": cart, "confirm": true, "customer": {"customer_id": customer},
               "billing_address": {"country": "US"},
               "payment_method_id": earlier["payment_method_id"]})
    };
    let paid = api
        .post(
            "/checkouts",
            session(json!([{"product_id": plan["product_id"], "quantity": 1},
                           {"product_id": once["product_id"], "quantity": 1}])),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(paid["checkout_url"], Value::Null);
    let p = api
        .get(&format!("/payments/{}", s(&paid["payment_id"])))
        .await
        .body;
    assert_eq!(
        (p["total_amount"].clone(), p["status"].clone()),
        (json!(1300), json!("succeeded"))
    );
    assert_eq!(p["checkout_session_id"], paid["session_id"]);
    let sub = api
        .get(&format!("/subscriptions/{}", s(&p["subscription_id"])))
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            sub["status"].clone(),
            sub["product_id"].clone(),
            sub["customer"]["customer_id"].clone()
        ),
        (
            json!("active"),
            plan["product_id"].clone(),
            customer.clone()
        )
    );
    let status = api
        .get(&format!("/checkouts/{}", s(&paid["session_id"])))
        .await
        .body;
    assert_eq!(status["payment_status"], "succeeded");

    api.post(
        "/checkouts",
        session(json!([{"product_id": plan["product_id"], "quantity": 1},
                           {"product_id": plan["product_id"], "quantity": 1}])),
    )
    .await
    .expect(422)
    .says("product_cart[1]");
}

#[tokio::test]
async fn a_paid_session_carries_its_tax_id_business_name_and_customer_choice() {
    let api = Api::start().await;
    let plan = api.recurring_product(1000).await;
    let known = api.customer("known@example.com").await;
    let pay = |flags: Value| {
        let api = &api;
        let body = json!({"product_cart": [{"product_id": plan["product_id"], "quantity": 1}],
                          "customer": {"email": "known@example.com", "name": "Known"},
                          "billing_address": {"country": "DE"},
                          "tax_id": "DE123456789", "customer_business_name": "Acme GmbH",
                          "feature_flags": flags});
        async move {
            let session = api.post("/checkouts", body).await.expect(200).body;
            let paid = api
                .harness()
                .pay_checkout_session(s(&session["session_id"]), TestCard::Succeeds)
                .await
                .unwrap();
            api.get(&format!("/subscriptions/{}", paid.subscription_id.unwrap()))
                .await
                .expect(200)
                .body
        }
    };
    let sub = pay(json!({})).await;
    assert_eq!(
        (sub["tax_id"].clone(), sub["customer_business_name"].clone()),
        (json!("DE123456789"), json!("Acme GmbH"))
    );
    assert_eq!(
        sub["customer"]["customer_id"], known["customer_id"],
        "found by email"
    );
    let fresh = pay(json!({"always_create_new_customer": true})).await;
    assert_ne!(fresh["customer"]["customer_id"], known["customer_id"]);
    assert_eq!(fresh["customer"]["email"], "known@example.com");
}

#[tokio::test]
async fn the_harness_answers_a_sessions_custom_fields_for_its_subscription() {
    let api = Api::start().await;
    let plan = api.recurring_product(1000).await;
    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": plan["product_id"], "quantity": 1}],
                   "custom_fields": [{"key": "team", "label": "Team name", "field_type": "text",
                                      "required": true},
                                     {"key": "size", "label": "Size", "field_type": "dropdown",
                                      "options": ["small", "large"]}]}),
        )
        .await
        .expect(200)
        .body;
    let sid = s(&session["session_id"]).to_string();
    let unanswered = api
        .harness()
        .pay_checkout_session(&sid, TestCard::Succeeds)
        .await;
    assert!(
        format!("{unanswered:?}").contains("Team name is required"),
        "{unanswered:?}"
    );
    let wrong = api
        .harness()
        .pay_checkout_session_answering(
            &sid,
            TestCard::Succeeds,
            &[("team", "A"), ("size", "huge")],
        )
        .await;
    assert!(
        format!("{wrong:?}").contains("Size must be one of"),
        "{wrong:?}"
    );
    let paid = api
        .harness()
        .pay_checkout_session_answering(
            &sid,
            TestCard::Succeeds,
            &[("team", "Platform"), ("size", "large")],
        )
        .await
        .unwrap();
    let sub = api
        .get(&format!("/subscriptions/{}", paid.subscription_id.unwrap()))
        .await
        .body;
    let answers = json!([{"key": "team", "value": "Platform"}, {"key": "size", "value": "large"}]);
    assert_eq!(sub["custom_field_responses"], answers);
    assert_eq!(
        api.get(&format!("/payments/{}", paid.payment_id))
            .await
            .body["custom_field_responses"],
        answers
    );
}
