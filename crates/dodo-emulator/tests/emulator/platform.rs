//! The platform's own objects and the misc operations, read back across routes: saved payment
//! methods, manual retries, disputes, payouts and their breakup, the balance ledger, the
//! blocklist and moderation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Api, Resp, s};

/// An admin call (same API key), through the plain request helpers every version of the
/// support module has.
async fn admin(api: &Api, method: Method, path: &str, body: Option<Value>) -> Resp {
    let mut rb = api.request(method, path);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    api.send(rb).await
}

#[tokio::test]
async fn a_succeeded_payment_saves_its_card_once_and_it_can_be_deleted() {
    let api = Api::start().await;
    let p = api.one_time_product(3000).await;
    let first = api.paid_payment(s(&p["product_id"]), 1).await;
    let second = api.paid_payment(s(&p["product_id"]), 2).await;
    let cid = s(&first["customer"]["customer_id"]);
    let list = api
        .get(&format!("/customers/{cid}/payment-methods"))
        .await
        .expect(200)
        .body;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let pm = s(&items[0]["payment_method_id"]);
    assert_eq!(items[0]["card"]["last4_digits"], "4242");
    assert_eq!(first["payment_method_id"], pm);
    assert_eq!(second["payment_method_id"], pm);
    let path = format!("/customers/{cid}/payment-methods/{pm}");
    api.delete(&path).await.expect(204);
    let after = api
        .get(&format!("/customers/{cid}/payment-methods"))
        .await
        .body;
    assert_eq!(after["items"], json!([]));
    api.delete(&path).await.expect(404);
}

#[tokio::test]
async fn a_subscription_switches_to_a_saved_method_and_refuses_a_foreign_one() {
    let api = Api::start().await;
    let t = admin(
        &api,
        Method::POST,
        "/_emulator/trigger/subscription.active",
        None,
    )
    .await
    .expect(200)
    .body;
    let sub = s(&t["objects"]["subscription_id"]);
    let cid = s(&t["objects"]["customer_id"]);
    let pms = api
        .get(&format!("/customers/{cid}/payment-methods"))
        .await
        .body;
    let pm = s(&pms["items"][0]["payment_method_id"]).to_string();
    let path = format!("/subscriptions/{sub}/update-payment-method");
    api.post(
        &path,
        json!({"type": "existing", "payment_method_id": "pm_nope"}),
    )
    .await
    .expect(422);
    let ok = api
        .post(&path, json!({"type": "existing", "payment_method_id": pm}))
        .await
        .expect(200);
    assert_eq!(ok.body["payment_link"], json!(null));
    let got = api.get(&format!("/subscriptions/{sub}")).await.body;
    assert_eq!(got["payment_method_id"], pm);
    let new = api
        .post(&path, json!({"type": "new"}))
        .await
        .expect(200)
        .body;
    assert!(s(&new["payment_link"]).contains("/pay/"), "{new}");
    let payment = api
        .get(&format!("/payments/{}", s(&new["payment_id"])))
        .await
        .body;
    assert_eq!(payment["is_update_payment_method"], true);
    assert_eq!(payment["total_amount"], 0);
}

#[tokio::test]
async fn a_failed_payment_is_retried_until_it_succeeds_then_refuses() {
    let api = Api::start().await;
    let t = admin(
        &api,
        Method::POST,
        "/_emulator/trigger/payment.failed",
        None,
    )
    .await
    .expect(200)
    .body;
    let pay = s(&t["objects"]["payment_id"]);
    let state = api
        .get(&format!("/payments/{pay}/retry"))
        .await
        .expect(200)
        .body;
    assert_eq!(state["can_retry"], true);
    assert_eq!(state["sends_used"], 0);
    let r = api
        .post(&format!("/payments/{pay}/retry"), json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(
        (r["status"].clone(), r["retry_attempt"].clone()),
        (json!("succeeded"), json!(1))
    );
    let payment = api.get(&format!("/payments/{pay}")).await.body;
    assert_eq!(payment["status"], "succeeded");
    assert_eq!(payment["retry_attempt"], 1);
    let state = api.get(&format!("/payments/{pay}/retry")).await.body;
    assert_eq!(
        (state["can_retry"].clone(), state["sends_used"].clone()),
        (json!(false), json!(1))
    );
    let again = api
        .post(&format!("/payments/{pay}/retry"), json!({}))
        .await
        .expect(422);
    assert_eq!(again.body["code"], "RETRY_NOT_ALLOWED");
}

#[tokio::test]
async fn a_triggered_dispute_reads_back_and_filters() {
    let api = Api::start().await;
    let t = admin(&api, Method::POST, "/_emulator/trigger/dispute.won", None)
        .await
        .expect(200)
        .body;
    let id = s(&t["objects"]["dispute_id"]);
    let d = api.get(&format!("/disputes/{id}")).await.expect(200).body;
    assert_eq!(d["dispute_status"], "dispute_won");
    assert_eq!(d["payment_id"], t["objects"]["payment_id"]);
    let won = api.get("/disputes?dispute_status=dispute_won").await.body;
    assert_eq!(won["items"][0]["dispute_id"], id);
    let open = api
        .get("/disputes?dispute_status=dispute_opened")
        .await
        .body;
    assert_eq!(open["items"], json!([]));
    api.get("/disputes/dp_unknown").await.expect(404);
    // The payment shows the dispute, and the ledger debits then gives back its amount.
    let pay = s(&t["objects"]["payment_id"]);
    let payment = api.get(&format!("/payments/{pay}")).await.body;
    assert_eq!(payment["disputes"][0]["dispute_id"], id);
    assert_eq!(payment["disputes"][0]["dispute_status"], "dispute_won");
    let listed = api.get("/payments?status=succeeded").await.body;
    let item = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["payment_id"] == pay)
        .unwrap()
        .clone();
    assert_eq!(item["dispute_status"], "dispute_won");
    let amount: i64 = s(&d["amount"]).parse().unwrap();
    let rows = api
        .get(&format!("/balances/ledger?reference_object_id={id}"))
        .await
        .body;
    let kinds: Vec<_> = rows["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["event_type"].clone(),
                r["amount"].clone(),
                r["is_credit"].clone(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&(json!("dispute"), json!(amount), json!(false))),
        "{rows}"
    );
    assert!(
        kinds.contains(&(json!("dispute_reversal"), json!(amount), json!(true))),
        "{rows}"
    );
}

#[tokio::test]
async fn a_payout_settles_payments_refunds_and_fees_and_the_ledger_agrees() {
    let api = Api::start().await;
    let p = api.one_time_product(3000).await;
    let paid = api.paid_payment(s(&p["product_id"]), 1).await;
    api.post(
        "/refunds",
        json!({"payment_id": paid["payment_id"], "items": [{"item_id": p["product_id"], "amount": 500}]}),
    )
    .await
    .expect(200);
    // The trigger adds its own settled payment of 2500 before paying out.
    let t = admin(
        &api,
        Method::POST,
        "/_emulator/trigger/payout.success",
        None,
    )
    .await
    .expect(200)
    .body;
    let id = s(&t["objects"]["payout_id"]);
    let fees = (3000 * 4 / 100 + 40) + (2500 * 4 / 100 + 40);
    let payouts = api.get("/payouts").await.expect(200).body;
    let payout = &payouts["items"][0];
    assert_eq!(payout["payout_id"], id);
    assert_eq!(payout["status"], "success");
    assert_eq!(payout["fee"], fees);
    assert_eq!(payout["amount"], 3000 + 2500 - 500 - fees);
    let breakup = api
        .get(&format!("/payouts/{id}/breakup"))
        .await
        .expect(200)
        .body;
    let total = |t: &str| {
        breakup
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["event_type"] == t)
            .map(|r| r["total"].as_i64().unwrap())
    };
    assert_eq!(total("payment"), Some(5500));
    assert_eq!(total("refund"), Some(-500));
    assert_eq!(total("payment_fees"), Some(-fees));
    let details = api
        .get(&format!("/payouts/{id}/breakup/details?page_size=100"))
        .await
        .body;
    assert_eq!(details["items"].as_array().unwrap().len(), 5);
    let csv = api
        .request(Method::GET, &format!("/payouts/{id}/breakup/details/csv"))
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(csv.text().await.unwrap().lines().count(), 6);
    let pdf = api
        .request(Method::GET, &format!("/invoices/payouts/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);

    let ledger = api
        .get("/balances/ledger?page_size=100")
        .await
        .expect(200)
        .body;
    let entries = ledger["items"].as_array().unwrap();
    assert_eq!(entries.len(), 6, "{ledger}");
    assert_eq!(entries[0]["event_type"], "payout");
    assert_eq!(entries[0]["after_balance"], 0);
    let refunds = api.get("/balances/ledger?event_type=refund").await.body;
    assert_eq!(refunds["items"][0]["amount"], 500);
    assert_eq!(refunds["items"][0]["is_credit"], false);

    // The next payout pays only what settled since.
    let t2 = admin(
        &api,
        Method::POST,
        "/_emulator/trigger/payout.created",
        None,
    )
    .await
    .expect(200)
    .body;
    let second = api.get("/payouts?page_size=1").await.body;
    assert_eq!(second["items"][0]["payout_id"], t2["objects"]["payout_id"]);
    assert_eq!(second["items"][0]["amount"], 2500 - (2500 * 4 / 100 + 40));
    api.get(&format!(
        "/invoices/payouts/{}",
        s(&t2["objects"]["payout_id"])
    ))
    .await
    .expect(404);
}

#[tokio::test]
async fn a_blocked_email_cannot_pay_loses_its_subscriptions_and_is_unblocked() {
    let api = Api::start().await;
    let t = admin(
        &api,
        Method::POST,
        "/_emulator/trigger/subscription.active",
        None,
    )
    .await
    .expect(200)
    .body;
    let sub = s(&t["objects"]["subscription_id"]);
    let cid = s(&t["objects"]["customer_id"]);
    let customer = api.get(&format!("/customers/{cid}")).await.body;
    let email = s(&customer["email"]).to_string();
    let e = api
        .post(
            "/blocklist/customers",
            json!({"customer_id": cid, "reason": "fraud", "source": "dispute_page"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(e["identifier"], cid);
    assert_eq!(e["source"], "api", "an API-key caller always records api");
    assert_eq!(e["customer_email"], email.as_str());
    assert_eq!(e["cancelled_subscription_ids"], json!([sub]));
    assert_eq!(e["subscriptions_swept"], true);
    let got = api.get(&format!("/subscriptions/{sub}")).await.body;
    assert_eq!(got["status"], "cancelled");
    let id = s(&e["id"]).to_string();

    // The same email (any case, any +alias) is blocked, whichever customer record it is on.
    let (local, domain) = email.split_once('@').unwrap();
    let alias = format!("{}+promo@{}", local.to_uppercase(), domain);
    api.post("/blocklist/customers", json!({"email": alias}))
        .await
        .expect(409);
    let p = api.one_time_product(900).await;
    let refused = api
        .post(
            "/payments",
            json!({"product_cart": [{"product_id": p["product_id"], "quantity": 1}],
                   "customer": {"email": alias, "name": "Alias"}, "billing": {"country": "US"}}),
        )
        .await
        .expect(422);
    assert_eq!(refused.body["code"], "CUSTOMER_BLOCKED");
    api.post(
        "/checkouts",
        json!({"product_cart": [{"product_id": p["product_id"], "quantity": 1}],
               "customer": {"customer_id": cid}}),
    )
    .await
    .expect(422);
    api.post(
        "/blocklist/customers",
        json!({"email": "nobody@example.com"}),
    )
    .await
    .expect(404);

    let note = api
        .post(
            &format!("/blocklist/customers/{id}/notes"),
            json!({"note": "chargebacks"}),
        )
        .await
        .expect(200)
        .body;
    let nid = s(&note["id"]);
    api.patch(
        &format!("/blocklist/customers/{id}/notes/{nid}"),
        json!({"note": "three chargebacks"}),
    )
    .await
    .expect(200);
    let got = api.get(&format!("/blocklist/customers/{id}")).await.body;
    assert_eq!(got["notes"][0]["note"], "three chargebacks");
    let listed = api
        .get(&format!("/blocklist/customers?identifier={cid}"))
        .await
        .body;
    assert_eq!(listed["items"][0]["id"], id.as_str());

    api.delete(&format!("/blocklist/customers/{id}"))
        .await
        .expect(204);
    api.get(&format!("/blocklist/customers/{id}"))
        .await
        .expect(404);
    api.post(
        "/payments",
        json!({"product_cart": [{"product_id": p["product_id"], "quantity": 1}],
               "customer": {"customer_id": cid}, "billing": {"country": "US"}}),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn moderation_screens_by_its_documented_rules_and_counts_usage() {
    let api = Api::start().await;
    let deny = api
        .post(
            "/moderation/screen",
            json!({"text": "I will  KILL the bomb", "request_id": "r1"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(deny["decision"], "deny");
    assert_eq!(deny["normalized_applied"], true);
    assert_eq!(deny["compound_triggered"], true);
    assert_eq!(deny["request_id"], "r1");
    assert_eq!(deny["provenance"]["violent_crimes"], "targeted");
    let flag = api
        .post(
            "/moderation/screen",
            json!({"text": "buy a counterfeit watch"}),
        )
        .await
        .body;
    assert_eq!(flag["decision"], "flag");
    assert_eq!(flag["triggered"], json!(["non_violent_crimes"]));
    let allow = api
        .post("/moderation/screen", json!({"text": "hello"}))
        .await
        .body;
    assert_eq!(allow["decision"], "allow");
    api.post("/moderation/screen", json!({})).await.expect(422);
    let usage = api.get("/moderation/usage").await.expect(200).body;
    assert_eq!(usage["daily"][0]["screens"], 3);
    assert_eq!(usage["unbilled_screens"], 3);
    assert_eq!(usage["screens_to_next_block"], 997);
}

#[tokio::test]
async fn a_usage_based_subscription_carries_its_meters_and_bills_usage_per_period() {
    let api = Api::start().await;
    let meter = api
        .post(
            "/meters",
            json!({"name": "API calls", "event_name": "api_call", "measurement_unit": "call",
                   "aggregation": {"type": "count"}}),
        )
        .await
        .expect(201)
        .body;
    let mid = s(&meter["id"]);
    let price = |meter_id: &str| {
        json!({"name": "Metered", "tax_category": "saas", "price": {
            "type": "usage_based_price", "fixed_price": 1000, "currency": "USD", "discount": 0,
            "purchasing_power_parity": false, "payment_frequency_count": 1,
            "payment_frequency_interval": "Month", "subscription_period_count": 1,
            "subscription_period_interval": "Year",
            "meters": [{"meter_id": meter_id, "free_threshold": 2, "price_per_unit": "10.5"}]}})
    };
    api.post("/products", price("mtr_missing"))
        .await
        .expect(422);
    let product = api.post("/products", price(mid)).await.expect(200).body;
    let c = api.customer("metered@example.com").await;
    let cid = s(&c["customer_id"]);
    let sub = api
        .post(
            "/subscriptions",
            json!({"product_id": product["product_id"], "quantity": 1,
                   "customer": {"customer_id": cid}, "billing": {"country": "US"}}),
        )
        .await
        .expect(200)
        .body;
    let sid = s(&sub["subscription_id"]);
    admin(
        &api,
        Method::POST,
        &format!("/_emulator/payments/{}/complete", s(&sub["payment_id"])),
        None,
    )
    .await
    .expect(200);
    let got = api.get(&format!("/subscriptions/{sid}")).await.body;
    assert_eq!(got["meters"][0]["meter_id"], mid);
    assert_eq!(got["meters"][0]["name"], "API calls");
    assert_eq!(got["meters"][0]["free_threshold"], 2);

    let events: Vec<_> = (0..5)
        .map(|i| json!({"event_id": format!("e{i}"), "customer_id": cid, "event_name": "api_call"}))
        .collect();
    api.post("/events/ingest", json!({"events": events}))
        .await
        .expect(200);
    // Another customer's usage does not count.
    api.post(
        "/events/ingest",
        json!({"events": [{"event_id": "other", "customer_id": "cus_other", "event_name": "api_call"}]}),
    )
    .await
    .expect(200);
    let h = api
        .get(&format!("/subscriptions/{sid}/usage-history"))
        .await
        .expect(200)
        .body;
    let items = h["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{h}");
    let m = &items[0]["meters"][0];
    assert_eq!(
        (
            m["consumed_units"].clone(),
            m["chargeable_units"].clone(),
            m["total_price"].clone()
        ),
        (json!("5"), json!("3"), json!(32))
    );

    // A month later the subscription renews: a new period, empty so far.
    admin(
        &api,
        Method::POST,
        "/_emulator/clock/advance",
        Some(json!({"by": "32d"})),
    )
    .await
    .expect(200);
    api.post(
        "/events/ingest",
        json!({"events": [{"event_id": "late", "customer_id": cid, "event_name": "api_call"}]}),
    )
    .await
    .expect(200);
    let h = api
        .get(&format!("/subscriptions/{sid}/usage-history"))
        .await
        .body;
    let items = h["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{h}");
    assert_eq!(items[0]["meters"][0]["consumed_units"], "1");
    assert_eq!(items[0]["meters"][0]["total_price"], 0);
    assert_eq!(items[1]["meters"][0]["consumed_units"], "5");
    assert_eq!(items[1]["end_date"], items[0]["start_date"]);
}

#[tokio::test]
async fn a_checkout_preview_defers_a_trialled_plan_and_charges_the_rest_now() {
    let api = Api::start().await;
    let plan = api
        .post(
            "/products",
            json!({"name": "Trial plan", "tax_category": "saas", "price": {
                "type": "recurring_price", "price": 1500, "currency": "USD", "discount": 0,
                "purchasing_power_parity": false, "payment_frequency_count": 1,
                "payment_frequency_interval": "Month", "subscription_period_count": 1,
                "subscription_period_interval": "Year", "trial_period_days": 7}}),
        )
        .await
        .expect(200)
        .body;
    let book = api.one_time_product(700).await;
    let cart = json!([{"product_id": plan["product_id"], "quantity": 1},
                      {"product_id": book["product_id"], "quantity": 1}]);
    let p = api
        .post("/checkouts/preview", json!({"product_cart": cart}))
        .await
        .expect(200)
        .body;
    assert_eq!(p["trial_period_days"], 7);
    assert_eq!(p["current_breakup"]["total_amount"], 700);
    assert_eq!(p["recurring_breakup"]["total_amount"], 1500);
    assert_eq!(p["total_price"], 2200);
    let no_trial = api
        .post(
            "/checkouts/preview",
            json!({"product_cart": cart, "subscription_data": {"trial_period_days": 0}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(no_trial["trial_period_days"], json!(null));
    assert_eq!(no_trial["current_breakup"]["total_amount"], 2200);
}

#[tokio::test]
async fn retrying_an_on_hold_subscriptions_charge_fails_while_the_card_does_then_reactivates() {
    let api = Api::start().await;
    let t = admin(
        &api,
        Method::POST,
        "/_emulator/trigger/subscription.on_hold",
        None,
    )
    .await
    .expect(200)
    .body;
    let sub = s(&t["objects"]["subscription_id"]);
    let failed = api
        .get(&format!("/payments?subscription_id={sub}&status=failed"))
        .await
        .body;
    let pay = s(&failed["items"][0]["payment_id"]).to_string();
    let path = format!("/payments/{pay}/retry");
    let again = api.post(&path, json!({})).await.expect(200).body;
    assert_eq!(again["status"], "failed", "the card still fails");
    let got = api.get(&format!("/subscriptions/{sub}")).await.body;
    assert_eq!(got["status"], "on_hold");
    admin(
        &api,
        Method::POST,
        &format!("/_emulator/subscriptions/{sub}/card"),
        Some(json!({"fail_renewals": false})),
    )
    .await
    .expect(200);
    let ok = api.post(&path, json!({})).await.expect(200).body;
    assert_eq!(
        (ok["status"].clone(), ok["sends_used"].clone()),
        (json!("succeeded"), json!(2))
    );
    let got = api.get(&format!("/subscriptions/{sub}")).await.body;
    assert_eq!(got["status"], "active");
}
