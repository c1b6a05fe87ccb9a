//! Discounts as the spec documents them: stacked `discount_codes` (in order, each on what the
//! previous ones left) on payments, subscriptions, checkout sessions and plan changes;
//! `subscription_cycles` on renewals; `preserve_on_plan_change`; `currency_options` (flat
//! deduction, percentage cap, minimum subtotal); and refusals that store nothing.

use std::time::Duration;

use dodo_emulator::purchase::TestCard;
use serde_json::{Value, json};

use dodo_types as t;

use crate::shapes::fits;
use crate::support::{Api, s};

const MONTH: Duration = Duration::from_secs(31 * 86_400);

/// Creates a discount; answers its id.
async fn discount(api: &Api, body: Value) -> String {
    let d = api.post("/discounts", body).await.expect(200).body;
    s(&d["discount_id"]).to_string()
}

/// A 10 % code.
async fn ten_percent(api: &Api, code: &str) -> String {
    discount(
        api,
        json!({"type": "percentage", "amount": 1000, "code": code}),
    )
    .await
}

/// A flat code taking `off` cents off USD carts.
async fn flat_usd(api: &Api, code: &str, off: i64) -> String {
    discount(
        api,
        json!({"type": "flat", "amount": 1, "code": code,
               "currency_options": [{"currency": "USD", "max_amount_possible": off}]}),
    )
    .await
}

async fn times_used(api: &Api, id: &str) -> i64 {
    api.get(&format!("/discounts/{id}")).await.expect(200).body["times_used"]
        .as_i64()
        .unwrap()
}

fn pay_body(pid: &Value, codes: Value) -> Value {
    json!({"product_cart": [{"product_id": pid, "quantity": 1}],
           "customer": {"email": "stack@example.com", "name": "Stack"},
           "billing": {"country": "US"}, "discount_codes": codes})
}

fn subscribe_body(pid: &Value, codes: Value) -> Value {
    json!({"product_id": pid, "quantity": 1,
           "customer": {"email": "sub@example.com", "name": "Sub"},
           "billing": {"country": "US"}, "discount_codes": codes})
}

async fn payments_of(api: &Api, sid: &str) -> Vec<Value> {
    let mut items = api
        .get(&format!("/payments?subscription_id={sid}"))
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    items.sort_by(|a, b| s(&a["created_at"]).cmp(s(&b["created_at"])));
    items
}

async fn payment_count(api: &Api) -> usize {
    api.get("/payments?page_size=100").await.expect(200).body["items"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn stacked_codes_apply_in_order_each_on_what_the_previous_left() {
    let api = Api::start().await;
    let product = api.one_time_product(10_000).await;
    let pid = &product["product_id"];
    let ten = ten_percent(&api, "TEN").await;
    let five = flat_usd(&api, "FIVE", 500).await;

    // 10 % of 100.00 = 10.00, then 5.00 off the 90.00 left.
    let created = api
        .post("/payments", pay_body(pid, json!(["TEN", "FIVE"])))
        .await
        .expect(200)
        .body;
    assert_eq!(created["total_amount"], 8500);
    assert_eq!(
        created["discount_id"], ten,
        "the first code, for compatibility"
    );
    assert_eq!(created["discount_ids"], json!([ten, five]));
    let id = s(&created["payment_id"]);
    let payment = api.get(&format!("/payments/{id}")).await.expect(200).body;
    fits::<t::PaymentResponse>("payment with stacked discounts", &payment);
    assert_eq!(payment["total_amount"], 8500);
    assert_eq!(payment["discount_id"], ten);
    let stacked: Vec<(String, i64)> = payment["discounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                s(&d["discount_id"]).to_string(),
                d["position"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(stacked, vec![(ten.clone(), 0), (five.clone(), 1)]);
    assert_eq!(payment["discounts"][0]["cycles_remaining"], Value::Null);
    let lines = api
        .get(&format!("/payments/{id}/line-items"))
        .await
        .expect(200)
        .body;
    assert_eq!(lines["items"][0]["amount"], 8500);

    // The other order: 5.00 off first, then 10 % of the 95.00 left.
    let reversed = api
        .post("/payments", pay_body(pid, json!(["FIVE", "TEN"])))
        .await
        .expect(200)
        .body;
    assert_eq!(reversed["total_amount"], 8550);
    assert_eq!(reversed["discount_id"], five);

    // Each redemption counts one use of each code.
    assert_eq!(times_used(&api, &ten).await, 2);
    assert_eq!(times_used(&api, &five).await, 2);
}

#[tokio::test]
async fn bad_code_lists_are_refused_and_use_nothing() {
    let api = Api::start().await;
    let product = api.one_time_product(2000).await;
    let pid = &product["product_id"];
    let plan = api.recurring_product(1000).await;
    let ten = ten_percent(&api, "TEN").await;
    discount(
        &api,
        json!({"type": "percentage", "amount": 500, "code": "OLD",
               "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let limited = discount(
        &api,
        json!({"type": "percentage", "amount": 500, "code": "ONCE", "usage_limit": 1}),
    )
    .await;

    let mut both = pay_body(pid, json!(["TEN"]));
    both["discount_code"] = json!("TEN");
    api.post("/payments", both)
        .await
        .expect(422)
        .says("discount_codes")
        .says("discount_code");

    let many: Vec<String> = (0..21).map(|i| format!("C{i}")).collect();
    api.post("/payments", pay_body(pid, json!(many)))
        .await
        .expect(422)
        .says("at most 20");

    api.post("/payments", pay_body(pid, json!(["TEN", "ONCE", "TEN"])))
        .await
        .expect(422)
        .says("discount_codes[2]");

    // A bad code after good ones refuses the whole request: no use of the good ones.
    let r = api
        .post("/payments", pay_body(pid, json!(["TEN", "ONCE", "OLD"])))
        .await
        .expect(422);
    assert_eq!(r.body["code"], "DISCOUNT_CODE_EXPIRED");
    let r = api
        .post(
            "/subscriptions",
            subscribe_body(&plan["product_id"], json!(["TEN", "NOPE"])),
        )
        .await
        .expect(422);
    assert_eq!(r.body["code"], "DISCOUNT_CODE_NOT_FOUND");
    api.post(
        "/checkouts",
        json!({"product_cart": [{"product_id": pid, "quantity": 1}],
                   "discount_code": "TEN", "discount_codes": ["ONCE"]}),
    )
    .await
    .expect(422)
    .says("discount_codes");
    assert_eq!(times_used(&api, &ten).await, 0);
    assert_eq!(times_used(&api, &limited).await, 0);
    assert_eq!(payment_count(&api).await, 0);
    let subs = api.get("/subscriptions").await.expect(200).body;
    assert_eq!(subs["items"], json!([]));

    // The limited code still has its one use, then refuses.
    api.post("/payments", pay_body(pid, json!(["ONCE"])))
        .await
        .expect(200);
    let r = api
        .post("/payments", pay_body(pid, json!(["TEN", "ONCE"])))
        .await
        .expect(422);
    assert_eq!(r.body["code"], "DISCOUNT_USAGE_LIMIT_REACHED");
    assert_eq!(times_used(&api, &ten).await, 0);
    assert_eq!(times_used(&api, &limited).await, 1);
}

#[tokio::test]
async fn checkout_preview_equals_what_the_session_charges() {
    let api = Api::start().await;
    let product = api.one_time_product(4000).await;
    let pid = &product["product_id"];
    let ten = ten_percent(&api, "TEN").await;
    let five = flat_usd(&api, "FIVE", 500).await;
    let body = json!({"product_cart": [{"product_id": pid, "quantity": 2}],
                      "billing_address": {"country": "US"},
                      "customer": {"email": "cks@example.com", "name": "Cks"},
                      "discount_codes": ["FIVE", "TEN"]});
    let preview = api
        .post("/checkouts/preview", body.clone())
        .await
        .expect(200)
        .body;
    // 80.00 - 5.00 = 75.00, less 10 % (7.50) = 67.50.
    assert_eq!(preview["total_price"], 6750);
    assert_eq!(preview["current_breakup"]["discount"], 1250);
    assert_eq!(preview["product_cart"][0]["discounted_price"], 6750);
    assert_eq!(
        preview["product_cart"][0]["discount_amount"],
        Value::Null,
        "a stack has no single rate"
    );
    // Previewing and creating a session use nothing; paying it uses each code once.
    let session = api.post("/checkouts", body).await.expect(200).body;
    assert_eq!(times_used(&api, &ten).await, 0);
    let sid = s(&session["session_id"]);

    // The hosted page shows the deduction it will charge.
    let html = reqwest::get(api.url(&format!("/checkout/{sid}")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Discount (FIVE, TEN)"), "{html}");
    assert!(html.contains("$67.50"), "{html}");

    let paid = api
        .harness()
        .pay_checkout_session(sid, TestCard::Succeeds)
        .await
        .unwrap();
    let payment = api
        .get(&format!("/payments/{}", paid.payment_id))
        .await
        .expect(200)
        .body;
    assert_eq!(payment["total_amount"], preview["total_price"]);
    assert_eq!(payment["discount_id"], five);
    assert_eq!(times_used(&api, &ten).await, 1);
    assert_eq!(times_used(&api, &five).await, 1);
}

#[tokio::test]
async fn subscription_cycles_limit_the_discounted_renewals() {
    let api = Api::start().await;
    let plan = api.recurring_product(1000).await;
    let limited = discount(
        &api,
        json!({"type": "percentage", "amount": 2000, "code": "TWO", "subscription_cycles": 2,
               "per_customer_usage_limit": 1}),
    )
    .await;
    let created = api
        .post(
            "/subscriptions",
            subscribe_body(&plan["product_id"], json!(["TWO"])),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(created["discount_ids"], json!([limited]));
    let sid = s(&created["subscription_id"]).to_string();
    let first = s(&created["payment_id"]);
    api.harness()
        .complete_payment(first, "succeeded")
        .await
        .unwrap();
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    fits::<t::SubscriptionResponse>("subscription with a discount", &sub);
    assert_eq!(sub["discount_id"], limited);
    assert_eq!(
        sub["discount_cycles_remaining"], 1,
        "the first payment used one"
    );
    assert_eq!(sub["discounts"][0]["cycles_remaining"], 1);
    let listed = api.get("/subscriptions").await.expect(200).body;
    assert_eq!(
        listed["items"][0]["discounts"],
        json!([{"discount_id": limited, "discount_cycles_remaining": 1}])
    );

    for _ in 0..3 {
        api.harness().advance_clock(MONTH).await.unwrap();
    }
    let charged: Vec<i64> = payments_of(&api, &sid)
        .await
        .iter()
        .map(|p| p["total_amount"].as_i64().unwrap())
        .collect();
    assert_eq!(charged, vec![800, 800, 1000, 1000], "two discounted cycles");
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["discount_id"], Value::Null, "dropped when exhausted");
    assert_eq!(sub["discount_cycles_remaining"], Value::Null);
    // Renewals are not redemptions: one use, and the customer's one use is spent.
    assert_eq!(times_used(&api, &limited).await, 1);
    let again = api
        .post(
            "/subscriptions",
            subscribe_body(&plan["product_id"], json!(["TWO"])),
        )
        .await
        .expect(422);
    assert_eq!(again.body["code"], "DISCOUNT_CUSTOMER_LIMIT_REACHED");
}

#[tokio::test]
async fn discounts_without_cycles_apply_to_every_renewal_even_once_deleted_or_expired() {
    let api = Api::start().await;
    let plan = api.recurring_product(2000).await;
    let forever = discount(
        &api,
        json!({"type": "percentage", "amount": 2500, "code": "QUARTER",
               "expires_at": "2999-01-01T00:00:00Z"}),
    )
    .await;
    let flat = flat_usd(&api, "TWO_OFF", 200).await;
    let created = api
        .post(
            "/subscriptions",
            subscribe_body(&plan["product_id"], json!(["QUARTER", "TWO_OFF"])),
        )
        .await
        .expect(200)
        .body;
    let sid = s(&created["subscription_id"]).to_string();
    api.harness()
        .complete_payment(s(&created["payment_id"]), "succeeded")
        .await
        .unwrap();
    // Deleting a code and ending another's validity stops new redemptions, not this one.
    api.delete(&format!("/discounts/{flat}")).await.expect(204);
    api.patch(
        &format!("/discounts/{forever}"),
        json!({"expires_at": "2000-01-01T00:00:00Z"}),
    )
    .await
    .expect(200);
    api.harness().advance_clock(MONTH).await.unwrap();
    api.harness().advance_clock(MONTH).await.unwrap();
    let payments = payments_of(&api, &sid).await;
    // 25 % of 20.00 = 5.00, then 2.00 off: 13.00 every cycle.
    let charged: Vec<i64> = payments
        .iter()
        .map(|p| p["total_amount"].as_i64().unwrap())
        .collect();
    assert_eq!(charged, vec![1300, 1300, 1300]);
    assert!(payments.iter().all(|p| p["status"] == "succeeded"));
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["discounts"].as_array().unwrap().len(), 2);
    assert_eq!(
        sub["discount_cycles_remaining"],
        Value::Null,
        "indefinitely"
    );
    assert_eq!(times_used(&api, &forever).await, 1);
}

#[tokio::test]
async fn plan_changes_apply_codes_and_keep_only_preserved_discounts() {
    let api = Api::start().await;
    let basic = api.recurring_product(1000).await;
    let pro = api.recurring_product(3000).await;
    let dropped = ten_percent(&api, "TEN").await;
    let kept = discount(
        &api,
        json!({"type": "percentage", "amount": 2000, "code": "KEEP",
               "preserve_on_plan_change": true, "subscription_cycles": 6}),
    )
    .await;
    let fresh = flat_usd(&api, "NEW5", 500).await;
    let created = api
        .post(
            "/subscriptions",
            subscribe_body(&basic["product_id"], json!(["TEN", "KEEP"])),
        )
        .await
        .expect(200)
        .body;
    let sid = s(&created["subscription_id"]).to_string();
    api.harness()
        .complete_payment(s(&created["payment_id"]), "succeeded")
        .await
        .unwrap();

    // Without codes: only the discount preserved on plan changes stays, its cycles intact.
    let change = json!({"product_id": pro["product_id"], "quantity": 1,
                        "proration_billing_mode": "full_immediately"});
    let preview = api
        .post(
            &format!("/subscriptions/{sid}/change-plan/preview"),
            change.clone(),
        )
        .await
        .expect(200)
        .body;
    // 20 % off 30.00.
    assert_eq!(preview["immediate_charge"]["summary"]["total_amount"], 2400);
    api.post(&format!("/subscriptions/{sid}/change-plan"), change)
        .await
        .expect(200);
    let payments = payments_of(&api, &sid).await;
    assert_eq!(payments.last().unwrap()["total_amount"], 2400);
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["discount_id"], kept);
    assert_eq!(sub["discounts"].as_array().unwrap().len(), 1);
    assert_eq!(sub["discount_cycles_remaining"], 5);

    // New codes replace the stack and apply to the immediate charge, as previewed.
    let change = json!({"product_id": basic["product_id"], "quantity": 1,
                        "proration_billing_mode": "full_immediately",
                        "discount_codes": ["NEW5"]});
    let preview = api
        .post(
            &format!("/subscriptions/{sid}/change-plan/preview"),
            change.clone(),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(preview["immediate_charge"]["summary"]["total_amount"], 500);
    assert_eq!(times_used(&api, &fresh).await, 0, "a preview uses nothing");
    api.post(&format!("/subscriptions/{sid}/change-plan"), change)
        .await
        .expect(200);
    assert_eq!(
        payments_of(&api, &sid).await.last().unwrap()["total_amount"],
        500
    );
    assert_eq!(times_used(&api, &fresh).await, 1);
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["discount_id"], fresh);

    // Both fields together are refused, and nothing changes.
    let both = json!({"product_id": pro["product_id"], "quantity": 1,
                      "proration_billing_mode": "full_immediately",
                      "discount_code": "NEW5", "discount_codes": ["KEEP"]});
    let r = api
        .post(&format!("/subscriptions/{sid}/change-plan"), both)
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("discount_codes"));
    // An empty list removes every discount; the next renewal is full price.
    api.post(
        &format!("/subscriptions/{sid}/change-plan"),
        json!({"product_id": basic["product_id"], "quantity": 2,
               "proration_billing_mode": "do_not_bill", "discount_codes": []}),
    )
    .await
    .expect(200);
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["discounts"], Value::Null);
    assert_eq!(sub["product_id"], basic["product_id"]);
    api.harness().advance_clock(MONTH).await.unwrap();
    assert_eq!(
        payments_of(&api, &sid).await.last().unwrap()["total_amount"],
        2000
    );
    assert_eq!(times_used(&api, &dropped).await, 1);
    assert_eq!(times_used(&api, &kept).await, 1);
}

#[tokio::test]
async fn a_scheduled_plan_change_takes_its_codes_at_the_next_billing_date() {
    let api = Api::start().await;
    let basic = api.recurring_product(1000).await;
    let pro = api.recurring_product(3000).await;
    ten_percent(&api, "TEN").await;
    let half = discount(
        &api,
        json!({"type": "percentage", "amount": 5000, "code": "HALF"}),
    )
    .await;
    let created = api
        .post(
            "/subscriptions",
            subscribe_body(&basic["product_id"], json!(["TEN"])),
        )
        .await
        .expect(200)
        .body;
    let sid = s(&created["subscription_id"]).to_string();
    api.harness()
        .complete_payment(s(&created["payment_id"]), "succeeded")
        .await
        .unwrap();
    api.post(
        &format!("/subscriptions/{sid}/change-plan"),
        json!({"product_id": pro["product_id"], "quantity": 1,
               "proration_billing_mode": "prorated_immediately",
               "effective_at": "next_billing_date", "discount_codes": ["HALF"]}),
    )
    .await
    .expect(200);
    // Until then the old plan and its discount stay.
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["discounts"][0]["code"], "TEN");
    api.harness().advance_clock(MONTH).await.unwrap();
    let charged: Vec<i64> = payments_of(&api, &sid)
        .await
        .iter()
        .map(|p| p["total_amount"].as_i64().unwrap())
        .collect();
    assert_eq!(charged, vec![900, 1500], "the new plan at half price");
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["discount_id"], half);
}

#[tokio::test]
async fn currency_options_set_the_flat_deduction_cap_and_minimum() {
    let api = Api::start().await;
    let product = api.one_time_product(10_000).await;
    let pid = &product["product_id"];
    let cheap = api.one_time_product(2000).await;

    // "Required for flat codes (must include a resolvable default)".
    for (options, says) in [
        (Value::Null, "currency_options"),
        (json!([]), "currency_options"),
        (
            json!([{"currency": "USD", "max_amount_possible": 100},
                   {"currency": "EUR", "max_amount_possible": 90}]),
            "default",
        ),
        (
            json!([{"currency": "USD", "max_amount_possible": 0}]),
            "currency_options[0].max_amount_possible",
        ),
        (
            json!([{"currency": "USD", "is_default": true, "max_amount_possible": 100},
                   {"currency": "EUR", "is_default": true, "max_amount_possible": 90}]),
            "at most one",
        ),
    ] {
        let mut body = json!({"type": "flat", "amount": 1, "code": "FLAT"});
        if !options.is_null() {
            body["currency_options"] = options.clone();
        }
        let r = api.post("/discounts", body).await.expect(422);
        assert!(
            s(&r.body["message"]).contains(says),
            "{options}: {}",
            r.body
        );
    }
    let listed = api.get("/discounts").await.expect(200).body;
    assert_eq!(listed["items"], json!([]), "nothing stored");

    // A percentage code capped at 7.00 with a 50.00 minimum, in USD.
    let capped = discount(
        &api,
        json!({"type": "percentage", "amount": 5000, "code": "HALFCAP",
               "currency_options": [{"currency": "USD", "max_amount_possible": 700,
                                     "minimum_subtotal": 5000}]}),
    )
    .await;
    let stored = api
        .get(&format!("/discounts/{capped}"))
        .await
        .expect(200)
        .body;
    fits::<t::DiscountResponse>("discount with currency options", &stored);
    assert_eq!(
        stored["currency_options"],
        json!([{"currency": "USD", "is_default": true, "max_amount_possible": 700,
                "minimum_subtotal": 5000}])
    );
    let preview = api
        .post(
            "/checkouts/preview",
            json!({"product_cart": [{"product_id": pid, "quantity": 1}],
                   "discount_codes": ["HALFCAP"]}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(preview["total_price"], 9300);
    let paid = api
        .post("/payments", pay_body(pid, json!(["HALFCAP"])))
        .await
        .expect(200)
        .body;
    assert_eq!(paid["total_amount"], 9300, "50 % capped at 7.00");
    let below = api
        .post(
            "/payments",
            pay_body(&cheap["product_id"], json!(["HALFCAP"])),
        )
        .await
        .expect(422);
    assert_eq!(below.body["code"], "DISCOUNT_MINIMUM_SUBTOTAL_NOT_MET");
    assert_eq!(times_used(&api, &capped).await, 1);

    // A flat code deducts its currency's max_amount_possible, not `amount`.
    flat_usd(&api, "SEVEN", 700).await;
    let paid = api
        .post("/payments", pay_body(pid, json!(["SEVEN"])))
        .await
        .expect(200)
        .body;
    assert_eq!(paid["total_amount"], 9300);
}

#[tokio::test]
async fn a_code_without_an_option_for_the_charged_currency_is_refused() {
    let api = Api::start().await;
    let product = api.one_time_product(2000).await;
    let pid = s(&product["product_id"]).to_string();
    api.patch(
        &format!("/products/{pid}"),
        json!({"pricing_mode": "by_currency"}),
    )
    .await
    .expect(200);
    api.post(
        &format!("/products/{pid}/localized-prices"),
        json!({"currency": "EUR", "amount": 1800}),
    )
    .await
    .expect(200);
    let usd_only = flat_usd(&api, "USD3", 300).await;
    discount(
        &api,
        json!({"type": "flat", "amount": 1, "code": "BOTH",
               "currency_options": [{"currency": "USD", "is_default": true, "max_amount_possible": 300},
                                    {"currency": "EUR", "max_amount_possible": 250}]}),
    )
    .await;
    let mut body = pay_body(&json!(pid), json!(["USD3"]));
    body["billing_currency"] = json!("EUR");
    let r = api.post("/payments", body.clone()).await.expect(422);
    assert_eq!(r.body["code"], "DISCOUNT_CURRENCY_NOT_SUPPORTED");
    assert_eq!(times_used(&api, &usd_only).await, 0);
    body["discount_codes"] = json!(["BOTH"]);
    let paid = api.post("/payments", body).await.expect(200).body;
    assert_eq!(
        paid["total_amount"], 1550,
        "€18.00 less the EUR row's €2.50"
    );
}

/// A hosted checkout page as a browser holds it: its HTML, CSRF cookie, token and quote.
struct Page {
    html: String,
    cookie: String,
    token: String,
    quote: String,
}

fn hidden(html: &str, name: &str) -> String {
    html.split_once(&format!(r#"name="{name}" value=""#))
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        .to_string()
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn open_page(url: &str, cookie: Option<&str>) -> Page {
    let mut req = browser().get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .or_else(|| cookie.map(str::to_string))
        .unwrap();
    let html = r.text().await.unwrap();
    Page {
        token: hidden(&html, "csrf_token"),
        quote: hidden(&html, "quote"),
        html,
        cookie,
    }
}

/// Submits the page's form; `codes: None` leaves the discount field out (a page without it).
async fn submit_page(url: &str, page: &Page, codes: Option<&str>) -> (u16, String) {
    let mut fields = vec![
        ("full_name", "Ada"),
        ("email", "ada@example.com"),
        ("country", "US"),
        ("card_number", "4242424242424242"),
        ("quote", &page.quote),
        ("csrf_token", &page.token),
    ];
    if let Some(codes) = codes {
        fields.push(("discount_code", codes));
    }
    let r = browser()
        .post(url)
        .header("cookie", &page.cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn the_hosted_page_never_charges_a_deduction_it_did_not_show() {
    let api = Api::start().await;
    let product = api.one_time_product(4000).await;
    let ten = ten_percent(&api, "TEN").await;
    flat_usd(&api, "FIVE", 500).await;
    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": product["product_id"], "quantity": 2}],
                   "discount_codes": ["FIVE", "TEN"]}),
        )
        .await
        .expect(200)
        .body;
    let url = api.url(&format!("/checkout/{}", s(&session["session_id"])));
    let page = open_page(&url, None).await;
    assert!(page.html.contains("Discount (FIVE, TEN)"), "{}", page.html);
    assert!(page.html.contains("$67.50"), "{}", page.html);

    // The buyer drops a code: shown the new total (10 % off 80.00), not charged.
    let (status, html) = submit_page(&url, &page, Some("TEN")).await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("$72.00"), "{html}");
    assert_eq!(payment_count(&api).await, 0);
    assert_eq!(times_used(&api, &ten).await, 0);

    // Submitted again from the page that showed it, it is charged what was shown.
    let shown = Page {
        quote: hidden(&html, "quote"),
        ..page
    };
    let (status, html) = submit_page(&url, &shown, Some("TEN")).await;
    assert!(status == 200 || status == 303, "{status}: {html}");
    let paid = api.get("/payments").await.expect(200).body;
    assert_eq!(paid["items"][0]["total_amount"], 7200);
    assert_eq!(times_used(&api, &ten).await, 1);
}

#[tokio::test]
async fn a_page_without_the_discount_field_charges_the_session_codes() {
    let api = Api::start().await;
    let product = api.one_time_product(4000).await;
    let ten = ten_percent(&api, "TEN").await;
    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": product["product_id"], "quantity": 1}],
                   "discount_codes": ["TEN"],
                   "feature_flags": {"allow_discount_code": false}}),
        )
        .await
        .expect(200)
        .body;
    let url = api.url(&format!("/checkout/{}", s(&session["session_id"])));
    let page = open_page(&url, None).await;
    assert!(!page.html.contains(r#"id="discount_code""#), "no field");
    assert!(page.html.contains("$36.00"), "{}", page.html);
    let (status, html) = submit_page(&url, &page, None).await;
    assert!(status == 200 || status == 303, "{status}: {html}");
    let paid = api.get("/payments").await.expect(200).body;
    assert_eq!(paid["items"][0]["total_amount"], 3600);
    assert_eq!(times_used(&api, &ten).await, 1);
}

#[tokio::test]
async fn a_free_trial_uses_no_discount_cycle() {
    let api = Api::start().await;
    let plan = api.recurring_product(1000).await;
    let once = discount(
        &api,
        json!({"type": "percentage", "amount": 2000, "code": "ONCE20", "subscription_cycles": 1}),
    )
    .await;
    let mut body = subscribe_body(&plan["product_id"], json!(["ONCE20"]));
    body["trial_period_days"] = json!(7);
    let created = api.post("/subscriptions", body).await.expect(200).body;
    let sid = s(&created["subscription_id"]).to_string();
    api.harness()
        .complete_payment(s(&created["payment_id"]), "succeeded")
        .await
        .unwrap();
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["discount_id"], once);
    assert_eq!(sub["discount_cycles_remaining"], 1, "the trial used none");
    api.harness().advance_clock(MONTH).await.unwrap();
    api.harness().advance_clock(MONTH).await.unwrap();
    let charged: Vec<i64> = payments_of(&api, &sid)
        .await
        .iter()
        .map(|p| p["total_amount"].as_i64().unwrap())
        .collect();
    assert_eq!(
        charged,
        vec![0, 800, 1000],
        "the first paid cycle is discounted"
    );
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["discounts"], Value::Null);
}

#[tokio::test]
async fn the_hosted_page_shows_a_code_restricted_to_its_product() {
    let api = Api::start().await;
    let product = api.one_time_product(4000).await;
    api.post(
        "/discounts",
        json!({"type": "percentage", "amount": 1000, "code": "ONLYTHIS",
               "restricted_to": [product["product_id"]]}),
    )
    .await
    .expect(200);
    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": product["product_id"], "quantity": 1}],
                   "discount_codes": ["ONLYTHIS"]}),
        )
        .await
        .expect(200)
        .body;
    let url = api.url(&format!("/checkout/{}", s(&session["session_id"])));
    let page = open_page(&url, None).await;
    assert!(page.html.contains("Discount (ONLYTHIS)"), "{}", page.html);
    assert!(page.html.contains("$36.00"), "{}", page.html);
    let (status, html) = submit_page(&url, &page, Some("ONLYTHIS")).await;
    assert!(status == 200 || status == 303, "{status}: {html}");
    let paid = api.get("/payments").await.expect(200).body;
    assert_eq!(paid["items"][0]["total_amount"], 3600);
}
