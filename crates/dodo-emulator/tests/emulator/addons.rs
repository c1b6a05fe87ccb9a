//! Addons bought with subscriptions: priced and charged with the plan and every renewal,
//! replaced by plan changes, previewed and charged through checkout sessions and the hosted
//! page, and refused (with nothing stored) when the product does not offer them.

use std::time::Duration;

use dodo_emulator::purchase::TestCard;
use serde_json::{Value, json};

use dodo_types as t;

use crate::shapes::fits;
use crate::support::{Api, s};

async fn addon(api: &Api, name: &str, price: i64, currency: &str) -> String {
    let a = api
        .post(
            "/addons",
            json!({"name": name, "price": price, "currency": currency, "tax_category": "saas"}),
        )
        .await
        .expect(200)
        .body;
    s(&a["id"]).to_string()
}

/// A monthly $12 plan offering `addons`.
async fn plan_offering(api: &Api, addons: &[&str]) -> String {
    let p = api
        .post(
            "/products",
            json!({
                "name": "Team plan", "tax_category": "saas", "addons": addons,
                "price": {"type": "recurring_price", "price": 1200, "currency": "USD",
                          "discount": 0, "purchasing_power_parity": false,
                          "payment_frequency_count": 1, "payment_frequency_interval": "Month",
                          "subscription_period_count": 1, "subscription_period_interval": "Year"},
            }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(p["addons"], json!(addons));
    s(&p["product_id"]).to_string()
}

fn subscribe(pid: &str, quantity: i64, addons: Value) -> Value {
    json!({"product_id": pid, "quantity": quantity, "addons": addons,
           "customer": {"email": "team@example.com", "name": "Team"},
           "billing": {"country": "US"}})
}

/// A pending subscription to `quantity` team plans with `seats_bought` $5 seat addons:
/// `(addon id, product id, the create answer)`.
async fn team_subscription(api: &Api, quantity: i64, seats_bought: i64) -> (String, String, Value) {
    let seats = addon(api, "Extra seat", 500, "USD").await;
    let pid = plan_offering(api, &[&seats]).await;
    let created = api
        .post(
            "/subscriptions",
            subscribe(
                &pid,
                quantity,
                json!([{"addon_id": seats, "quantity": seats_bought}]),
            ),
        )
        .await
        .expect(200)
        .body;
    (seats, pid, created)
}

async fn subscription_payments(api: &Api, sid: &str) -> Vec<Value> {
    let list = api
        .get(&format!("/payments?subscription_id={sid}"))
        .await
        .expect(200)
        .body;
    list["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn addons_are_charged_with_their_subscription_and_every_renewal() {
    let api = Api::start().await;
    let (seats, pid, created) = team_subscription(&api, 2, 3).await;
    assert_eq!(created["recurring_pre_tax_amount"], 2 * 1200 + 3 * 500);
    assert_eq!(
        created["addons"],
        json!([{"addon_id": seats, "quantity": 3}])
    );
    let sid = s(&created["subscription_id"]).to_string();
    let pay = s(&created["payment_id"]).to_string();
    let first = api.get(&format!("/payments/{pay}")).await.expect(200).body;
    assert_eq!(first["total_amount"], 3900);
    // The product and the addon are separate line items that add up to the total.
    let lines = api
        .get(&format!("/payments/{pay}/line-items"))
        .await
        .expect(200)
        .body;
    let items: Vec<(String, i64)> = lines["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (s(&i["items_id"]).to_string(), i["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(items, vec![(pid.clone(), 2400), (seats.clone(), 1500)]);
    api.harness()
        .complete_payment(&pay, "succeeded")
        .await
        .unwrap();
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    fits::<t::SubscriptionResponse>("subscription with addons", &sub);
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["addons"], json!([{"addon_id": seats, "quantity": 3}]));
    assert_eq!(sub["recurring_pre_tax_amount"], 3900);

    // A later price of the addon is for new buyers; the subscription renews at its own.
    api.patch(&format!("/addons/{seats}"), json!({"price": 900}))
        .await
        .expect(200);
    api.harness()
        .advance_clock(Duration::from_secs(32 * 86_400))
        .await
        .unwrap();
    let payments = subscription_payments(&api, &sid).await;
    assert_eq!(payments.len(), 2, "{payments:?}");
    for p in &payments {
        assert_eq!(p["total_amount"], 3900, "{p}");
        assert_eq!(p["status"], "succeeded", "{p}");
    }
}

#[tokio::test]
async fn addons_the_product_does_not_offer_are_refused_and_nothing_is_stored() {
    let api = Api::start().await;
    let seats = addon(&api, "Extra seat", 500, "USD").await;
    let other = addon(&api, "Priority support", 2000, "USD").await;
    let euro = addon(&api, "EU hosting", 700, "EUR").await;
    let pid = plan_offering(&api, &[&seats, &euro]).await;
    let one_time = api.one_time_product(900).await;

    let refused = |body: Value| {
        let api = &api;
        async move { api.post("/subscriptions", body).await }
    };
    let cases = [
        (
            json!([{"addon_id": other, "quantity": 1}]),
            422,
            "addons[0].addon_id",
        ),
        (
            json!([{"addon_id": seats, "quantity": 1}, {"addon_id": seats, "quantity": 2}]),
            422,
            "addons[1].addon_id",
        ),
        (
            json!([{"addon_id": euro, "quantity": 1}]),
            422,
            "CART_CURRENCY_MISMATCH",
        ),
        (
            json!([{"addon_id": seats, "quantity": -1}]),
            422,
            "quantity",
        ),
    ];
    for (addons, status, says) in cases {
        let r = refused(subscribe(&pid, 1, addons.clone())).await;
        assert_eq!(r.status, status, "{addons}: {}", r.body);
        assert!(r.body.to_string().contains(says), "{addons}: {}", r.body);
    }
    // An archived addon is no longer sold.
    api.delete(&format!("/addons/{seats}")).await.expect(200);
    let r = refused(subscribe(
        &pid,
        1,
        json!([{"addon_id": seats, "quantity": 1}]),
    ))
    .await
    .expect(422);
    assert_eq!(r.body["code"], "ADDON_ARCHIVED");
    // Only subscription lines take addons.
    api.post(
        "/checkouts",
        json!({"product_cart": [{"product_id": one_time["product_id"], "quantity": 1,
                                      "addons": [{"addon_id": euro, "quantity": 1}]}]}),
    )
    .await
    .expect(422)
    .says("only subscriptions take addons");
    assert_eq!(
        api.get("/subscriptions").await.expect(200).body["items"],
        json!([])
    );
    assert_eq!(
        api.get("/payments").await.expect(200).body["items"],
        json!([])
    );

    // A product offers only addons that exist and are live.
    let r = api
        .post(
            "/products",
            json!({"name": "Bad", "tax_category": "saas", "addons": ["adn_nope"],
                   "price": {"type": "recurring_price", "price": 100, "currency": "USD",
                             "discount": 0, "purchasing_power_parity": false,
                             "payment_frequency_count": 1, "payment_frequency_interval": "Month",
                             "subscription_period_count": 1, "subscription_period_interval": "Year"}}),
        )
        .await
        .expect(422);
    assert!(r.body.to_string().contains("addons[0]"), "{}", r.body);
    let r = api
        .patch(
            &format!("/products/{pid}"),
            json!({"addons": [euro, seats]}),
        )
        .await
        .expect(422);
    assert!(r.body.to_string().contains("archived"), "{}", r.body);
    let product = api.get(&format!("/products/{pid}")).await.expect(200).body;
    assert_eq!(product["addons"], json!([seats, euro]), "unchanged");
}

#[tokio::test]
async fn a_plan_change_replaces_the_addons_and_an_empty_list_removes_them() {
    let api = Api::start().await;
    let (seats, pid, created) = team_subscription(&api, 1, 1).await;
    let sid = s(&created["subscription_id"]).to_string();
    api.harness()
        .complete_payment(s(&created["payment_id"]), "succeeded")
        .await
        .unwrap();
    let more = json!({"product_id": pid, "quantity": 1,
                      "proration_billing_mode": "difference_immediately",
                      "addons": [{"addon_id": seats, "quantity": 4}]});

    let preview = api
        .post(
            &format!("/subscriptions/{sid}/change-plan/preview"),
            more.clone(),
        )
        .await
        .expect(200)
        .body;
    fits::<t::ChangePlanPreviewResponse>("change-plan preview with addons", &preview);
    assert_eq!(preview["new_plan"]["recurring_pre_tax_amount"], 1200 + 2000);
    let lines = preview["immediate_charge"]["line_items"]
        .as_array()
        .unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        (
            lines[1]["type"].clone(),
            lines[1]["id"].clone(),
            lines[1]["quantity"].clone(),
            lines[1]["unit_price"].clone()
        ),
        (json!("addon"), json!(seats), json!(4), json!(500))
    );
    assert_eq!(
        preview["immediate_charge"]["summary"]["total_amount"], 1500,
        "3200 - 1700"
    );

    api.post(&format!("/subscriptions/{sid}/change-plan"), more)
        .await
        .expect(200);
    let sub = api.get(&format!("/subscriptions/{sid}")).await.body;
    assert_eq!(sub["addons"], json!([{"addon_id": seats, "quantity": 4}]));
    assert_eq!(sub["recurring_pre_tax_amount"], 3200);
    assert_eq!(
        subscription_payments(&api, &sid).await[0]["total_amount"],
        1500
    );

    // "Leaving this empty would remove any existing addons" (the spec), scheduled or not.
    api.post(
        &format!("/subscriptions/{sid}/change-plan"),
        json!({"product_id": pid, "quantity": 1, "proration_billing_mode": "do_not_bill",
               "effective_at": "next_billing_date"}),
    )
    .await
    .expect(200);
    let sub = api.get(&format!("/subscriptions/{sid}")).await.body;
    assert_eq!(sub["scheduled_change"]["addons"], json!([]));
    assert_eq!(sub["addons"], json!([{"addon_id": seats, "quantity": 4}]));
    api.delete(&format!("/subscriptions/{sid}/change-plan/scheduled"))
        .await
        .expect(204);
    api.post(
        &format!("/subscriptions/{sid}/change-plan"),
        json!({"product_id": pid, "quantity": 1, "proration_billing_mode": "do_not_bill",
               "effective_at": "next_billing_date",
               "addons": [{"addon_id": seats, "quantity": 2}]}),
    )
    .await
    .expect(200);
    let sub = api.get(&format!("/subscriptions/{sid}")).await.body;
    assert_eq!(
        sub["scheduled_change"]["addons"],
        json!([{"addon_id": seats, "name": "Extra seat", "quantity": 2}])
    );
    api.harness()
        .advance_clock(Duration::from_secs(32 * 86_400))
        .await
        .unwrap();
    let sub = api.get(&format!("/subscriptions/{sid}")).await.body;
    assert_eq!(sub["scheduled_change"], Value::Null);
    assert_eq!(sub["addons"], json!([{"addon_id": seats, "quantity": 2}]));
    assert_eq!(sub["recurring_pre_tax_amount"], 2200);
    assert_eq!(
        subscription_payments(&api, &sid).await[0]["total_amount"],
        2200,
        "the renewal bills the new addons"
    );

    api.post(
        &format!("/subscriptions/{sid}/change-plan"),
        json!({"product_id": pid, "quantity": 1, "proration_billing_mode": "do_not_bill"}),
    )
    .await
    .expect(200);
    let sub = api.get(&format!("/subscriptions/{sid}")).await.body;
    assert_eq!(sub["addons"], json!([]));
    assert_eq!(sub["recurring_pre_tax_amount"], 1200);
}

#[tokio::test]
async fn a_checkout_session_previews_shows_and_charges_its_addons() {
    let api = Api::start().await;
    let seats = addon(&api, "Extra seat", 500, "USD").await;
    let pid = plan_offering(&api, &[&seats]).await;
    api.post(
        "/discounts",
        json!({"type": "percentage", "amount": 1000, "code": "TENOFF"}),
    )
    .await
    .expect(200);
    let body = json!({
        "product_cart": [{"product_id": pid, "quantity": 1,
                          "addons": [{"addon_id": seats, "quantity": 2}]}],
        "discount_code": "TENOFF",
        "customer": {"email": "buyer@example.com", "name": "Buyer"},
    });

    let preview = api
        .post("/checkouts/preview", body.clone())
        .await
        .expect(200)
        .body;
    fits::<t::CalculateSessionResponse>("checkout preview with addons", &preview);
    assert_eq!(preview["total_price"], 1980, "(1200 + 2 x 500) - 10 %");
    assert_eq!(preview["recurring_breakup"]["subtotal"], 2200);
    assert_eq!(preview["recurring_breakup"]["discount"], 220);
    let line = &preview["product_cart"][0];
    assert_eq!(line["discounted_price"], 1080);
    assert_eq!(line["discount_amount"], 1000, "the rate in basis points");
    let a = &line["addons"][0];
    assert_eq!(a["addon_id"], seats.as_str());
    assert_eq!(
        [
            &a["quantity"],
            &a["single_quantity_price"],
            &a["og_price"],
            &a["discounted_price"],
            &a["discount_amount"]
        ],
        [
            &json!(2),
            &json!(500),
            &json!(1000),
            &json!(900),
            &json!(1000)
        ]
    );

    let session = api.post("/checkouts", body).await.expect(200).body;
    let session_id = s(&session["session_id"]).to_string();
    // The hosted page shows the addon it will charge.
    let page = reqwest::get(s(&session["checkout_url"]))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Extra seat (add-on)"), "{page}");
    let paid = api
        .harness()
        .pay_checkout_session(&session_id, TestCard::Succeeds)
        .await
        .unwrap();
    let sid = paid.subscription_id.expect("a subscription");
    let sub = api.get(&format!("/subscriptions/{sid}")).await.body;
    assert_eq!(sub["addons"], json!([{"addon_id": seats, "quantity": 2}]));
    assert_eq!(sub["recurring_pre_tax_amount"], 2200);
    let payment = api
        .get(&format!("/payments/{}", paid.payment_id))
        .await
        .body;
    assert_eq!(payment["total_amount"], 1980, "what the preview said");
}

#[tokio::test]
async fn renewals_go_on_after_the_product_or_addon_is_archived_and_split_their_line_items() {
    let api = Api::start().await;
    let (seats, pid, created) = team_subscription(&api, 1, 2).await;
    let sid = s(&created["subscription_id"]).to_string();
    api.harness()
        .complete_payment(s(&created["payment_id"]), "succeeded")
        .await
        .unwrap();
    // Archiving ends sales to new buyers, not the subscriptions already sold.
    api.delete(&format!("/products/{pid}")).await.expect(200);
    api.delete(&format!("/addons/{seats}")).await.expect(200);
    api.harness()
        .advance_clock(Duration::from_secs(32 * 86_400))
        .await
        .unwrap();
    let payments = subscription_payments(&api, &sid).await;
    assert_eq!(payments.len(), 2, "{payments:?}");
    let renewal = &payments[0];
    assert_eq!(
        (renewal["total_amount"].clone(), renewal["status"].clone()),
        (json!(2200), json!("succeeded"))
    );
    let lines = api
        .get(&format!(
            "/payments/{}/line-items",
            s(&renewal["payment_id"])
        ))
        .await
        .expect(200)
        .body;
    let items: Vec<(String, i64)> = lines["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (s(&i["items_id"]).to_string(), i["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(items, vec![(pid, 1200), (seats, 1000)]);
}
