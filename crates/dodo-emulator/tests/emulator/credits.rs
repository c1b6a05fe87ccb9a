//! Money ledgers read back across routes: credit entitlements, grants, balances and the credit
//! ledger; customer wallets and their transactions; a subscription's usage history and credit
//! usage. Flows use the typed client where it has the operation, raw HTTP for statuses.

use dodo_client::Client;
use dodo_client::types::{
    CreateCreditEntitlementRequest, CreateLedgerEntryRequest, CustomerLedgerEntryRequest,
    LedgerEntryType, ListCreditEntitlementsQuery, ListGrantsCreditEntitlementsBalancesQuery,
    ListLedgerCreditEntitlementsBalancesQuery, ListLedgerEntriesCustomersWalletsQuery,
    UsageHistorySubscriptionsQuery,
};
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

fn dec(s: &str) -> dodo_client::types::Decimal {
    s.parse().unwrap()
}

async fn entitlement(api: &Api, body: Value) -> Value {
    api.post("/credit-entitlements", body)
        .await
        .expect(201)
        .body
}

fn tokens() -> Value {
    json!({"name": "API tokens", "unit": "tokens", "precision": 2,
           "rollover_enabled": false, "overage_enabled": false})
}

#[tokio::test]
async fn credit_entitlements_fill_every_field_patch_delete_and_undelete() {
    let api = Api::start().await;
    let c = client(&api);
    let created = c
        .credit_entitlements()
        .create(&CreateCreditEntitlementRequest::new(
            "API tokens",
            false,
            2,
            false,
            "tokens",
        ))
        .await
        .unwrap();
    assert!(created.id.starts_with("cde_"));
    assert_eq!(created.precision, 2);
    let raw = api
        .get(&format!("/credit-entitlements/{}", created.id))
        .await
        .expect(200)
        .body;
    assert_eq!(raw["overage_behavior"], "forgive_at_reset");
    for f in [
        "currency",
        "price_per_unit",
        "expires_after_days",
        "rollover_percentage",
        "rollover_timeframe_interval",
        "overage_limit",
        "max_rollover_count",
    ] {
        assert!(raw.get(f).is_some_and(Value::is_null), "{f} in {raw}");
    }

    // The merged state is validated: overage needs a price, a price needs a currency.
    let e = api
        .patch(
            &format!("/credit-entitlements/{}", created.id),
            json!({"overage_enabled": true}),
        )
        .await
        .expect(422);
    assert!(
        s(&e.body["message"]).contains("price_per_unit"),
        "{}",
        e.body
    );
    api.patch(
        &format!("/credit-entitlements/{}", created.id),
        json!({"overage_enabled": true, "price_per_unit": "0.5", "currency": "USD",
               "overage_limit": 100, "expires_after_days": 30}),
    )
    .await
    .expect(200);
    let got = c.credit_entitlements().retrieve(&created.id).await.unwrap();
    assert!(got.overage_enabled);
    assert_eq!(got.overage_limit, Some(100));
    assert_eq!(got.price_per_unit.as_ref().map(|p| p.as_str()), Some("0.5"));
    let bad = api
        .post(
            "/credit-entitlements",
            json!({"name": "x", "unit": "u", "precision": 11, "rollover_enabled": false, "overage_enabled": false}),
        )
        .await
        .expect(422);
    assert!(s(&bad.body["message"]).contains("precision"));
    api.post(
        "/credit-entitlements",
        json!({"name": "x", "unit": "u", "precision": 0, "rollover_enabled": true,
               "overage_enabled": false, "rollover_timeframe_count": 2}),
    )
    .await
    .expect(422);

    // Unknown enum values are refused, not stored.
    for (field, value) in [
        ("overage_behavior", "forgive_later"),
        ("rollover_timeframe_interval", "Fortnight"),
        ("currency", "ZZZ"),
    ] {
        let mut body = tokens();
        body[field] = json!(value);
        if field == "rollover_timeframe_interval" {
            body["rollover_timeframe_count"] = json!(1);
        }
        let e = api.post("/credit-entitlements", body).await.expect(422);
        assert!(s(&e.body["message"]).contains(field), "{}", e.body);
    }

    let other = entitlement(&api, tokens()).await;
    c.credit_entitlements().delete(&created.id).await.unwrap();
    api.get(&format!("/credit-entitlements/{}", created.id))
        .await
        .expect(404);
    api.delete(&format!("/credit-entitlements/{}", created.id))
        .await
        .expect(410);
    let live = c
        .credit_entitlements()
        .list(&ListCreditEntitlementsQuery::default())
        .await
        .unwrap();
    let ids: Vec<_> = live.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, [s(&other["id"])]);
    let deleted = api
        .get("/credit-entitlements?deleted=true")
        .await
        .expect(200)
        .body;
    assert_eq!(deleted["items"][0]["id"], created.id.as_str());
    assert_eq!(deleted["items"].as_array().unwrap().len(), 1);

    c.credit_entitlements().undelete(&created.id).await.unwrap();
    assert_eq!(
        c.credit_entitlements()
            .retrieve(&created.id)
            .await
            .unwrap()
            .name,
        "API tokens"
    );
    // Undeleting a live one answers 500, as the spec documents.
    let again = api
        .post(
            &format!("/credit-entitlements/{}/undelete", created.id),
            json!({}),
        )
        .await
        .expect(500);
    assert_eq!(again.body["code"], "CREDIT_ENTITLEMENT_NOT_DELETED");
}

#[tokio::test]
async fn a_grant_shows_in_the_balance_grants_ledger_and_customer_view_at_once() {
    let api = Api::start().await;
    let c = client(&api);
    let ent = entitlement(&api, tokens()).await;
    let cde = s(&ent["id"]);
    let cus = api.customer("credits@example.com").await;
    let cus = s(&cus["customer_id"]);
    let balances = c.credit_entitlements().balances();

    api.get(&format!("/credit-entitlements/{cde}/balances/{cus}"))
        .await
        .expect(404);
    let grant = balances
        .create_ledger_entry(
            cde,
            cus,
            &CreateLedgerEntryRequest::new(dec("100.50"), LedgerEntryType::Credit)
                .reason("welcome bonus"),
        )
        .await
        .unwrap();
    assert_eq!(grant.amount.as_str(), "100.5");
    assert_eq!(grant.balance_before.as_str(), "0");
    assert_eq!(grant.balance_after.as_str(), "100.5");
    assert!(grant.is_credit);
    let grant_id = grant.grant_id.clone().expect("a credit creates a grant");

    let bal = balances.retrieve(cde, cus).await.unwrap();
    assert_eq!(bal.balance.as_str(), "100.5");
    assert_eq!(bal.overage.as_str(), "0");
    assert!(bal.last_transaction_at.is_some());

    let debit = balances
        .create_ledger_entry(
            cde,
            cus,
            &CreateLedgerEntryRequest::new(dec("30.25"), LedgerEntryType::Debit),
        )
        .await
        .unwrap();
    assert_eq!(
        (debit.balance_before.as_str(), debit.balance_after.as_str()),
        ("100.5", "70.25")
    );
    assert_eq!(debit.grant_id.as_deref(), Some(grant_id.as_str()));

    let grants = balances
        .list_grants(
            cde,
            cus,
            &ListGrantsCreditEntitlementsBalancesQuery::default(),
        )
        .await
        .unwrap();
    assert_eq!(grants.items.len(), 1);
    assert_eq!(grants.items[0].initial_amount.as_str(), "100.5");
    assert_eq!(grants.items[0].remaining_amount.as_str(), "70.25");
    assert!(!grants.items[0].is_expired);

    let ledger = balances
        .list_ledger(
            cde,
            cus,
            &ListLedgerCreditEntitlementsBalancesQuery::default(),
        )
        .await
        .unwrap();
    let rows: Vec<_> = ledger
        .items
        .iter()
        .map(|r| {
            (
                serde_json::to_value(&r.transaction_type).unwrap(),
                r.amount.as_str().to_string(),
                r.balance_after.as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (json!("credit_deducted"), "30.25".into(), "70.25".into()),
            (json!("credit_added"), "100.5".into(), "100.5".into()),
        ],
        "newest first"
    );
    let added = api
        .get(&format!(
            "/credit-entitlements/{cde}/balances/{cus}/ledger?transaction_type=credit_added"
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(added["items"].as_array().unwrap().len(), 1);
    assert_eq!(added["items"][0]["description"], "welcome bonus");

    let mine = c.customers().list_credit_entitlements(cus).await.unwrap();
    assert_eq!(mine.items.len(), 1);
    assert_eq!(mine.items[0].credit_entitlement_id, cde);
    assert_eq!(mine.items[0].balance.as_str(), "70.25");
    assert_eq!(mine.items[0].unit, "tokens");

    let listed = api
        .get(&format!("/credit-entitlements/{cde}/balances"))
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"][0]["balance"], "70.25");
    assert_eq!(listed["items"][0]["customer_id"], cus);
}

#[tokio::test]
async fn overdraft_overflow_and_a_reused_idempotency_key_change_nothing() {
    let api = Api::start().await;
    let ent = entitlement(&api, tokens()).await;
    let cde = s(&ent["id"]);
    let cus = api.customer("strict@example.com").await;
    let cus = s(&cus["customer_id"]);
    let entries = format!("/credit-entitlements/{cde}/balances/{cus}/ledger-entries");
    let ledger = format!("/credit-entitlements/{cde}/balances/{cus}/ledger");

    api.post(
        &entries,
        json!({"entry_type": "credit", "amount": "10", "idempotency_key": "grant-1"}),
    )
    .await
    .expect(201);
    let dup = api
        .post(
            &entries,
            json!({"entry_type": "credit", "amount": "10", "idempotency_key": "grant-1"}),
        )
        .await
        .expect(409);
    assert_eq!(dup.body["code"], "IDEMPOTENCY_KEY_EXISTS");
    assert_eq!(
        api.get(&ledger).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "one ledger row"
    );

    let over = api
        .post(&entries, json!({"entry_type": "debit", "amount": "10.01"}))
        .await
        .expect(400);
    assert_eq!(over.body["code"], "INSUFFICIENT_BALANCE");
    let too_precise = api
        .post(&entries, json!({"entry_type": "credit", "amount": "1.001"}))
        .await
        .expect(400);
    assert!(s(&too_precise.body["message"]).contains("amount"));
    api.post(&entries, json!({"entry_type": "credit", "amount": "0"}))
        .await
        .expect(400);
    let loan = api
        .post(&entries, json!({"entry_type": "loan", "amount": "1"}))
        .await
        .expect(400);
    assert!(s(&loan.body["message"]).contains("entry_type"));
    api.post(
        &entries,
        json!({"entry_type": "debit", "amount": "1", "expires_at": "2999-01-01T00:00:00Z"}),
    )
    .await
    .expect(400);

    // Ten integer digits are beyond what the live API stores (NUMERIC(38,28)).
    let big = api
        .post(
            &entries,
            json!({"entry_type": "credit", "amount": "10000000000"}),
        )
        .await
        .expect(400);
    assert_eq!(big.body["code"], "OUT_OF_RANGE", "{}", big.body);
    let sum = api
        .post(
            &entries,
            json!({"entry_type": "credit", "amount": "9999999990"}),
        )
        .await
        .expect(400);
    assert!(s(&sum.body["message"]).contains("balance"), "{}", sum.body);
    let absurd = api
        .post(
            &entries,
            json!({"entry_type": "credit", "amount": "1701411834604692317316873037158841057270"}),
        )
        .await
        .expect(400);
    assert_eq!(absurd.body["code"], "OUT_OF_RANGE");

    let bal = api
        .get(&format!("/credit-entitlements/{cde}/balances/{cus}"))
        .await
        .expect(200)
        .body;
    assert_eq!(bal["balance"], "10");
    assert_eq!(
        api.get(&ledger).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    api.post(
        &format!("/credit-entitlements/nope/balances/{cus}/ledger-entries"),
        json!({"entry_type": "credit", "amount": "1"}),
    )
    .await
    .expect(404);
    api.post(
        &format!("/credit-entitlements/{cde}/balances/cus_nope/ledger-entries"),
        json!({"entry_type": "credit", "amount": "1"}),
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn overage_goes_up_to_its_limit_and_auto_repay_settles_it_first() {
    let api = Api::start().await;
    let ent = entitlement(
        &api,
        json!({"name": "Seats", "unit": "seats", "precision": 0, "rollover_enabled": false,
               "overage_enabled": true, "price_per_unit": "3", "currency": "USD",
               "overage_limit": 5, "overage_behavior": "carry_deficit_auto_repay"}),
    )
    .await;
    let cde = s(&ent["id"]);
    let cus = api.customer("overage@example.com").await;
    let cus = s(&cus["customer_id"]);
    let entries = format!("/credit-entitlements/{cde}/balances/{cus}/ledger-entries");
    api.post(&entries, json!({"entry_type": "credit", "amount": "2"}))
        .await
        .expect(201);
    let d = api
        .post(&entries, json!({"entry_type": "debit", "amount": "6"}))
        .await
        .expect(201)
        .body;
    assert_eq!(
        (
            &d["balance_after"],
            &d["overage_before"],
            &d["overage_after"]
        ),
        (&json!("0"), &json!("0"), &json!("4"))
    );
    let limit = api
        .post(&entries, json!({"entry_type": "debit", "amount": "2"}))
        .await
        .expect(400);
    assert_eq!(limit.body["code"], "OVERAGE_LIMIT_EXCEEDED");
    let repaid = api
        .post(&entries, json!({"entry_type": "credit", "amount": "10"}))
        .await
        .expect(201)
        .body;
    assert_eq!(
        (&repaid["overage_after"], &repaid["balance_after"]),
        (&json!("0"), &json!("6"))
    );
    let types: Vec<Value> = api
        .get(&format!("/credit-entitlements/{cde}/balances/{cus}/ledger"))
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["transaction_type"].clone())
        .collect();
    assert_eq!(
        types,
        [
            json!("credit_added"),
            json!("overage_charged"),
            json!("credit_deducted"),
            json!("credit_added")
        ]
    );
}

#[tokio::test]
async fn grants_expire_with_the_virtual_clock() {
    let api = Api::start().await;
    let ent = entitlement(
        &api,
        json!({"name": "Trial", "unit": "credits", "precision": 0, "rollover_enabled": false,
               "overage_enabled": false, "expires_after_days": 7}),
    )
    .await;
    let cde = s(&ent["id"]);
    let cus = api.customer("expiry@example.com").await;
    let cus = s(&cus["customer_id"]);
    let base = format!("/credit-entitlements/{cde}/balances/{cus}");
    let g = api
        .post(
            &format!("{base}/ledger-entries"),
            json!({"entry_type": "credit", "amount": "50"}),
        )
        .await
        .expect(201)
        .body;
    let grants = api.get(&format!("{base}/grants")).await.body;
    assert!(grants["items"][0]["expires_at"].is_string());
    api.harness()
        .advance_clock(std::time::Duration::from_secs(8 * 86_400))
        .await
        .unwrap();
    assert_eq!(api.get(&base).await.body["balance"], "0");
    let expired = api.get(&format!("{base}/grants?status=expired")).await.body;
    assert_eq!(expired["items"][0]["id"], g["grant_id"]);
    assert_eq!(
        api.get(&format!("{base}/grants?status=active")).await.body["items"],
        json!([])
    );
    let rows = api
        .get(&format!("{base}/ledger?transaction_type=credit_expired"))
        .await
        .body;
    assert_eq!(rows["items"][0]["amount"], "50");
    assert_eq!(rows["items"][0]["balance_before"], "50");
    assert_eq!(rows["items"][0]["balance_after"], "0");
}

#[tokio::test]
async fn wallet_entries_move_the_balance_and_list_as_transactions() {
    let api = Api::start().await;
    let c = client(&api);
    let cus = api.customer("wallet@example.com").await;
    let cus = s(&cus["customer_id"]);
    let wallets = c.customers().wallets();
    let empty = wallets.list(cus).await.unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.total_balance_usd, 0);

    let w = wallets
        .create_ledger_entry(
            cus,
            &CustomerLedgerEntryRequest::new(
                5_000,
                dodo_client::types::Currency::Usd,
                dodo_client::types::CustomerLedgerEntryType::Credit,
            )
            .reason("goodwill"),
        )
        .await
        .unwrap();
    assert_eq!((w.customer_id.as_str(), w.balance), (cus, 5_000));
    let w = wallets
        .create_ledger_entry(
            cus,
            &CustomerLedgerEntryRequest::new(
                1_200,
                dodo_client::types::Currency::Usd,
                dodo_client::types::CustomerLedgerEntryType::Debit,
            ),
        )
        .await
        .unwrap();
    assert_eq!(w.balance, 3_800);
    api.post(
        &format!("/customers/{cus}/wallets/ledger-entries"),
        json!({"entry_type": "credit", "currency": "EUR", "amount": 700}),
    )
    .await
    .expect(200);

    let all = wallets.list(cus).await.unwrap();
    let got: Vec<_> = all
        .items
        .iter()
        .map(|w| (serde_json::to_value(&w.currency).unwrap(), w.balance))
        .collect();
    assert_eq!(got, [(json!("EUR"), 700), (json!("USD"), 3_800)]);
    assert_eq!(all.total_balance_usd, 3_800);

    let txs = wallets
        .list_ledger_entries(cus, &ListLedgerEntriesCustomersWalletsQuery::default())
        .await
        .unwrap();
    let rows: Vec<_> = txs
        .items
        .iter()
        .map(|t| (t.amount, t.is_credit, t.before_balance, t.after_balance))
        .collect();
    assert_eq!(
        rows,
        [
            (700, true, 0, 700),
            (1_200, false, 5_000, 3_800),
            (5_000, true, 0, 5_000)
        ],
        "newest first"
    );
    assert_eq!(txs.items[2].reason.as_deref(), Some("goodwill"));
    let usd = api
        .get(&format!(
            "/customers/{cus}/wallets/ledger-entries?currency=USD&page_size=1&page_number=1"
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(usd["items"].as_array().unwrap().len(), 1);
    assert_eq!(usd["items"][0]["amount"], 5_000);
}

#[tokio::test]
async fn a_wallet_overdraft_is_400_and_an_idempotency_key_applies_once() {
    let api = Api::start().await;
    let cus = api.customer("od@example.com").await;
    let cus = s(&cus["customer_id"]);
    let path = format!("/customers/{cus}/wallets/ledger-entries");
    let credit = json!({"entry_type": "credit", "currency": "USD", "amount": 1_000, "idempotency_key": "topup-1"});
    api.post(&path, credit.clone()).await.expect(200);
    let replay = api.post(&path, credit).await.expect(200).body;
    assert_eq!(replay["balance"], 1_000, "applied once");
    let reused = api
        .post(
            &path,
            json!({"entry_type": "credit", "currency": "USD", "amount": 5, "idempotency_key": "topup-1"}),
        )
        .await
        .expect(422);
    assert_eq!(reused.body["code"], "IDEMPOTENCY_KEY_REUSED");

    let od = api
        .post(
            &path,
            json!({"entry_type": "debit", "currency": "USD", "amount": 1_001}),
        )
        .await
        .expect(400);
    assert_eq!(od.body["code"], "INSUFFICIENT_BALANCE");
    api.post(
        &path,
        json!({"entry_type": "debit", "currency": "EUR", "amount": 1}),
    )
    .await
    .expect(400);
    let overflow = api
        .post(
            &path,
            json!({"entry_type": "credit", "currency": "USD", "amount": i64::MAX}),
        )
        .await
        .expect(400);
    assert_eq!(overflow.body["code"], "OUT_OF_RANGE");
    api.post(
        &path,
        json!({"entry_type": "credit", "currency": "USD", "amount": 0}),
    )
    .await
    .expect(422);

    let zzz = api
        .post(
            &path,
            json!({"entry_type": "credit", "currency": "ZZZ", "amount": 5}),
        )
        .await
        .expect(422);
    assert!(s(&zzz.body["message"]).contains("currency"));
    let wallets = api
        .get(&format!("/customers/{cus}/wallets"))
        .await
        .expect(200)
        .body;
    assert_eq!(
        wallets["items"].as_array().unwrap().len(),
        1,
        "no EUR wallet"
    );
    assert_eq!(wallets["items"][0]["balance"], 1_000);
    let txs = api.get(&path).await.expect(200).body;
    assert_eq!(txs["items"].as_array().unwrap().len(), 1);
    api.get("/customers/cus_nope/wallets").await.expect(404);
}

async fn usage_subscription(api: &Api) -> (String, String, String) {
    let meter = api
        .post("/meters", json!({"name": "Tokens", "event_name": "llm.call",
            "aggregation": {"type": "sum", "key": "tokens"}, "measurement_unit": "tokens",
            "filter": {"conjunction": "and", "clauses": [{"key": "model", "operator": "not_equals", "value": "free"}]}}))
        .await
        .expect(201)
        .body;
    let product = api
        .post("/products", json!({
            "name": "Metered", "tax_category": "saas",
            "price": {"type": "usage_based_price", "fixed_price": 1000, "currency": "USD",
                      "discount": 0, "purchasing_power_parity": false,
                      "payment_frequency_count": 1, "payment_frequency_interval": "Month",
                      "subscription_period_count": 1, "subscription_period_interval": "Year",
                      "meters": [{"meter_id": meter["id"], "free_threshold": 100, "price_per_unit": "0.5"}]},
        }))
        .await
        .expect(200)
        .body;
    let sub = api
        .post("/subscriptions", json!({"product_id": product["product_id"], "quantity": 1,
            "customer": {"email": "metered@example.com", "name": "M"}, "billing": {"country": "US"}}))
        .await
        .expect(200)
        .body;
    let sub_id = s(&sub["subscription_id"]).to_string();
    let cus = s(&sub["customer"]["customer_id"]).to_string();
    (sub_id, cus, s(&meter["id"]).to_string())
}

fn call(id: &str, customer: &str, tokens: i64, model: &str) -> Value {
    json!({"event_id": id, "customer_id": customer, "event_name": "llm.call",
           "metadata": {"tokens": tokens, "model": model}})
}

#[tokio::test]
async fn usage_history_sums_ingested_events_per_billing_period() {
    let api = Api::start().await;
    let c = client(&api);
    let (sub, cus, meter) = usage_subscription(&api).await;
    api.post(
        "/events/ingest",
        json!({"events": [call("a", &cus, 120, "gpt"), call("b", &cus, 30, "gpt"),
                          call("c", &cus, 999, "free"), call("d", "cus_other", 500, "gpt")]}),
    )
    .await
    .expect(200);
    let history = c
        .subscriptions()
        .usage_history(&sub, &UsageHistorySubscriptionsQuery::default())
        .await
        .unwrap();
    assert_eq!(history.items.len(), 1);
    let m = &history.items[0].meters[0];
    assert_eq!(m.id, meter);
    assert_eq!(m.name, "Tokens");
    assert_eq!(
        m.consumed_units.as_str(),
        "150",
        "the filter drops `free`, other customers are apart"
    );
    assert_eq!(m.free_threshold, 100);
    assert_eq!(m.chargeable_units.as_str(), "50");
    assert_eq!(m.total_price, 25, "50 × 0.5 cents");

    api.harness()
        .advance_clock(std::time::Duration::from_secs(32 * 86_400))
        .await
        .unwrap();
    api.post(
        "/events/ingest",
        json!({"events": [call("e", &cus, 40, "gpt")]}),
    )
    .await
    .expect(200);
    let raw = api
        .get(&format!("/subscriptions/{sub}/usage-history"))
        .await
        .expect(200)
        .body;
    let items = raw["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{raw}");
    assert_eq!(items[0]["meters"][0]["consumed_units"], "40");
    assert_eq!(items[0]["meters"][0]["chargeable_units"], "0");
    assert_eq!(items[0]["meters"][0]["total_price"], 0);
    assert_eq!(items[1]["meters"][0]["consumed_units"], "150");
    assert_eq!(items[0]["start_date"], items[1]["end_date"]);

    let page = api
        .get(&format!(
            "/subscriptions/{sub}/usage-history?page_size=1&page_number=1"
        ))
        .await
        .body;
    assert_eq!(page["items"][0]["meters"][0]["consumed_units"], "150");
    let other = api
        .get(&format!(
            "/subscriptions/{sub}/usage-history?meter_id=mtr_other"
        ))
        .await
        .body;
    assert_eq!(other["items"], json!([]));
    api.get("/subscriptions/sub_nope/usage-history")
        .await
        .expect(404);

    let usage = c.subscriptions().credit_usage(&sub).await.unwrap();
    assert_eq!(usage.subscription_id, sub);
    assert!(
        usage.items.is_empty(),
        "the product carries no credit entitlement"
    );
}

#[tokio::test]
async fn credit_usage_reports_balance_overage_and_headroom_per_entitlement() {
    let api = Api::start().await;
    let c = client(&api);
    let capped = entitlement(
        &api,
        json!({"name": "Calls", "unit": "calls", "precision": 0, "rollover_enabled": false,
               "overage_enabled": true, "price_per_unit": "1", "currency": "USD", "overage_limit": 5}),
    )
    .await;
    let plain = entitlement(&api, tokens()).await;
    let cus = api.customer("usage@example.com").await;
    let cus = s(&cus["customer_id"]);
    // A subscription carrying both entitlements (products cannot attach them through the API
    // of this emulator yet, so it is seeded).
    let seeded = api
        .harness()
        .seed(&[SeedObject::new(
            "subscription",
            "sub_credits",
            json!({
                "subscription_id": "sub_credits", "status": "active",
                "customer": {"customer_id": cus},
                "credit_entitlement_cart": [{"credit_entitlement_id": capped["id"]},
                                            {"credit_entitlement_id": plain["id"]}],
                "meter_credit_entitlement_cart": [], "meters": [],
            }),
        )])
        .await
        .unwrap();
    assert_eq!(seeded, 1);
    let entries = format!(
        "/credit-entitlements/{}/balances/{cus}/ledger-entries",
        s(&capped["id"])
    );
    api.post(&entries, json!({"entry_type": "credit", "amount": "3"}))
        .await
        .expect(201);
    api.post(&entries, json!({"entry_type": "debit", "amount": "5"}))
        .await
        .expect(201);

    let usage = c.subscriptions().credit_usage("sub_credits").await.unwrap();
    assert_eq!(usage.items.len(), 2);
    let calls = &usage.items[0];
    assert_eq!(calls.credit_entitlement_name, "Calls");
    assert_eq!((calls.balance.as_str(), calls.overage.as_str()), ("0", "2"));
    assert_eq!(calls.overage_limit.as_ref().map(|l| l.as_str()), Some("5"));
    assert_eq!(calls.remaining_headroom.as_deref(), Some("3"));
    assert!(!calls.limit_reached);
    let toks = &usage.items[1];
    assert_eq!(toks.balance.as_str(), "0");
    assert!(toks.limit_reached, "no credits and no overage");

    api.post(&entries, json!({"entry_type": "debit", "amount": "3"}))
        .await
        .expect(201);
    let usage = c.subscriptions().credit_usage("sub_credits").await.unwrap();
    assert!(usage.items[0].limit_reached);
    assert_eq!(usage.items[0].remaining_headroom.as_deref(), Some("0"));
}

#[tokio::test]
async fn ingested_usage_debits_the_credits_its_meter_is_linked_to() {
    let api = Api::start().await;
    let c = client(&api);
    let ent = entitlement(
        &api,
        json!({"name": "Credits", "unit": "credits", "precision": 1,
               "rollover_enabled": false, "overage_enabled": false}),
    )
    .await;
    let cde = s(&ent["id"]);
    let meter = api
        .post(
            "/meters",
            json!({"name": "Tokens", "event_name": "llm.call",
            "aggregation": {"type": "sum", "key": "tokens"}, "measurement_unit": "tokens"}),
        )
        .await
        .expect(201)
        .body;
    let product = api
        .post(
            "/products",
            json!({
                "name": "Credits plan", "tax_category": "saas",
                "price": {"type": "usage_based_price", "fixed_price": 0, "currency": "USD",
                          "discount": 0, "purchasing_power_parity": false,
                          "payment_frequency_count": 1, "payment_frequency_interval": "Month",
                          "subscription_period_count": 1, "subscription_period_interval": "Year",
                          "meters": [{"meter_id": meter["id"], "credit_entitlement_id": cde,
                                      "meter_units_per_credit": "4"}]},
            }),
        )
        .await
        .expect(200)
        .body;
    let sub = api
        .post(
            "/subscriptions",
            json!({"product_id": product["product_id"], "quantity": 1,
            "customer": {"email": "meter@example.com", "name": "M"}, "billing": {"country": "US"}}),
        )
        .await
        .expect(200)
        .body;
    let pay = s(&sub["payment_id"]);
    api.harness()
        .complete_payment(pay, "succeeded")
        .await
        .unwrap();
    let cus = s(&sub["customer"]["customer_id"]);
    let sub_id = s(&sub["subscription_id"]);
    let base = format!("/credit-entitlements/{cde}/balances/{cus}");
    api.post(
        &format!("{base}/ledger-entries"),
        json!({"entry_type": "credit", "amount": "10"}),
    )
    .await
    .expect(201);

    api.post(
        "/events/ingest",
        json!({"events": [call("u1", cus, 6, "gpt")]}),
    )
    .await
    .expect(200);
    assert_eq!(
        api.get(&base).await.body["balance"],
        "8.5",
        "6 tokens ÷ 4 per credit"
    );
    // The subscription answers the meter link as its `meter_credit_entitlement_cart`.
    let answered = api
        .get(&format!("/subscriptions/{sub_id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(
        answered["meter_credit_entitlement_cart"],
        json!([{"meter_id": meter["id"], "meter_name": "Tokens", "credit_entitlement_id": cde,
                "product_id": product["product_id"], "meter_units_per_credit": "4"}])
    );
    // A repeated event id is stored once and consumes once.
    api.post(
        "/events/ingest",
        json!({"events": [call("u1", cus, 6, "gpt")]}),
    )
    .await
    .expect(200);
    assert_eq!(api.get(&base).await.body["balance"], "8.5");
    // Beyond the balance without overage: what is left is consumed, nothing more.
    api.post(
        "/events/ingest",
        json!({"events": [call("u2", cus, 100, "gpt")]}),
    )
    .await
    .expect(200);
    let bal = api.get(&base).await.body;
    assert_eq!(
        (&bal["balance"], &bal["overage"]),
        (&json!("0"), &json!("0"))
    );
    let ledger = api
        .get(&format!("{base}/ledger?transaction_type=credit_deducted"))
        .await
        .body;
    let amounts: Vec<&str> = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(&r["amount"]))
        .collect();
    assert_eq!(amounts, ["8.5", "1.5"]);
    assert_eq!(ledger["items"][0]["description"], "Usage of Tokens");

    let usage = c.subscriptions().credit_usage(sub_id).await.unwrap();
    assert_eq!(usage.items.len(), 1);
    assert_eq!(usage.items[0].credit_entitlement_id, cde);
    assert!(usage.items[0].limit_reached);
}
