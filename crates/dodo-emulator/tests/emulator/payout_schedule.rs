//! The payout schedule: payouts made by the clock on the documented cycles (bi-monthly,
//! weekly, monthly), the threshold carrying money forward, refunds in later periods, the
//! triggers and the schedule never paying a row twice, and big vs small clock moves. The
//! clock starts at the real time, so every date is computed from the emulator's clock.

use dodo_emulator::config::PayoutCycle;
use dodo_emulator::testing::WebhookReceiver;
use dodo_emulator::{Emulator, EmulatorConfig, StartError};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

use crate::support::{Api, s};

/// 4 % + 40 minor units, the emulator's fee per payment.
fn fee(amount: i64) -> i64 {
    amount * 4 / 100 + 40
}

async fn now(api: &Api) -> OffsetDateTime {
    let clock = api.harness().clock().await.unwrap();
    OffsetDateTime::parse(&clock.now, &Rfc3339).unwrap()
}

/// The first day of the month after `d`'s.
fn next_month(d: Date) -> Date {
    let (y, m) = match d.month() {
        Month::December => (d.year() + 1, Month::January),
        m => (d.year(), m.next()),
    };
    Date::from_calendar_date(y, m, 1).unwrap()
}

/// Day `n` of `first`'s month.
fn day(first: Date, n: u8) -> Date {
    first.replace_day(n).unwrap()
}

fn midnight(d: Date) -> OffsetDateTime {
    d.midnight().assume_utc()
}

fn at(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(s(v), &Rfc3339).unwrap()
}

/// The first day of the next month: a fresh month whose every day lies ahead of the clock.
async fn month_ahead(api: &Api) -> Date {
    next_month(now(api).await.date())
}

/// Moves the clock to noon of `d` (far from every period boundary); answers what it processed.
async fn advance_to_noon(api: &Api, d: Date) -> Value {
    advance_to(api, d.midnight().assume_utc() + time::Duration::hours(12)).await
}

async fn advance_to(api: &Api, t: OffsetDateTime) -> Value {
    let secs = (t - now(api).await).whole_seconds();
    assert!(secs > 0, "the target {t} is not ahead of the clock");
    let state = api
        .harness()
        .advance_clock(std::time::Duration::from_secs(secs.unsigned_abs()))
        .await
        .unwrap();
    state.processed
}

/// A succeeded one-off payment of `amount`, settled now; answers `(payment, product_id)`.
async fn pay(api: &Api, amount: i64) -> (Value, String) {
    let p = api.one_time_product(amount).await;
    let pid = s(&p["product_id"]).to_string();
    (api.paid_payment(&pid, 1).await, pid)
}

/// Every payout, oldest first.
async fn payouts(api: &Api) -> Vec<Value> {
    let mut items = api.get("/payouts?page_size=100").await.expect(200).body["items"]
        .as_array()
        .unwrap()
        .clone();
    items.reverse();
    items
}

async fn details(api: &Api, payout: &Value) -> Vec<Value> {
    let id = s(&payout["payout_id"]);
    api.get(&format!("/payouts/{id}/breakup/details?page_size=100"))
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn payout_webhook(rx: &mut WebhookReceiver) -> Value {
    let r = rx.next().await.unwrap();
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn payments_of_one_half_month_are_paid_on_the_18th_then_succeed() {
    let api = Api::start().await;
    let mut rx = WebhookReceiver::start(
        &api.emu,
        &["payout.created", "payout.in_progress", "payout.success"],
    )
    .await
    .unwrap();
    let m = month_ahead(&api).await;
    advance_to_noon(&api, day(m, 3)).await;
    let (first, _) = pay(&api, 6000).await;
    advance_to_noon(&api, day(m, 10)).await;
    let (second, _) = pay(&api, 5000).await;
    advance_to_noon(&api, day(m, 15)).await;
    assert!(payouts(&api).await.is_empty(), "the period has not closed");

    let processed = advance_to_noon(&api, day(m, 16)).await;
    let all = payouts(&api).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let p = &all[0];
    let id = s(&p["payout_id"]).to_string();
    assert_eq!(processed["payouts"]["payouts_created"], json!([id]));
    let fees = fee(6000) + fee(5000);
    assert_eq!(p["status"], "not_initiated");
    assert_eq!(p["fee"], fees);
    assert_eq!(p["amount"], 11000 - fees);
    assert_eq!(p["refunds"], 0);
    assert_eq!(p["currency"], "USD");
    assert_eq!(at(&p["created_at"]), midnight(day(m, 16)));
    assert_eq!(
        p["name"],
        format!("Payout for {} to {}", day(m, 1), day(m, 15))
    );
    // Breakup, details, CSV and invoice work as for a triggered payout.
    let breakup = api
        .get(&format!("/payouts/{id}/breakup"))
        .await
        .expect(200)
        .body;
    assert_eq!(
        breakup,
        json!([{"event_type": "payment", "total": 11000}, {"event_type": "payment_fees", "total": -fees}])
    );
    let rows = details(&api, p).await;
    let refs: HashSet<&str> = rows.iter().map(|r| s(&r["reference_object_id"])).collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(
        refs,
        HashSet::from([s(&first["payment_id"]), s(&second["payment_id"])])
    );
    let csv = api
        .request(Method::GET, &format!("/payouts/{id}/breakup/details/csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 5);
    api.get(&format!("/invoices/payouts/{id}"))
        .await
        .expect(404);
    let created = payout_webhook(&mut rx).await;
    assert_eq!(created["type"], "payout.created");
    assert_eq!(created["data"]["payout_id"], id);
    assert_eq!(created["data"]["status"], "not_initiated");

    advance_to_noon(&api, day(m, 17)).await;
    assert_eq!(payouts(&api).await[0]["status"], "not_initiated");
    let processed = advance_to_noon(&api, day(m, 18)).await;
    assert_eq!(processed["payouts"]["payouts_in_progress"], json!([id]));
    let p = &payouts(&api).await[0];
    assert_eq!(p["status"], "in_progress");
    assert_eq!(at(&p["updated_at"]), midnight(day(m, 18)));
    let started = payout_webhook(&mut rx).await;
    assert_eq!(started["type"], "payout.in_progress");
    assert_eq!(started["data"]["payout_id"], id);
    assert_eq!(started["data"]["status"], "in_progress");

    let processed = advance_to_noon(&api, day(m, 19)).await;
    assert_eq!(processed["payouts"]["payouts_succeeded"], json!([id]));
    let p = &payouts(&api).await[0];
    assert_eq!(p["status"], "success");
    assert_eq!(at(&p["updated_at"]), midnight(day(m, 19)));
    let done = payout_webhook(&mut rx).await;
    assert_eq!(done["type"], "payout.success");
    assert_eq!(done["data"]["payout_id"], id);
    let document = api.url(&format!("/invoices/payouts/{id}"));
    assert_eq!(p["payout_document_url"], document.as_str());
    assert_eq!(done["data"]["payout_document_url"], document.as_str());
    api.get(&format!("/invoices/payouts/{id}"))
        .await
        .expect(200);

    // Nothing is paid twice: the next period has no money and makes no payout.
    advance_to_noon(&api, day(next_month(m), 10)).await;
    assert_eq!(payouts(&api).await.len(), 1);
    // The balance ledger agrees: everything settled was paid out.
    let ledger = api
        .get("/balances/ledger?page_size=100")
        .await
        .expect(200)
        .body;
    assert_eq!(ledger["items"][0]["event_type"], "payout");
    assert_eq!(ledger["items"][0]["after_balance"], 0);
}

#[tokio::test]
async fn a_period_under_the_threshold_carries_forward_into_the_next_payout() {
    let api = Api::start().await;
    let m = month_ahead(&api).await;
    advance_to_noon(&api, day(m, 3)).await;
    let (small, _) = pay(&api, 5000).await;
    advance_to_noon(&api, day(m, 20)).await;
    assert!(payouts(&api).await.is_empty(), "$47.60 is under $100");
    let (other, _) = pay(&api, 6000).await;
    let next = next_month(m);
    advance_to_noon(&api, day(next, 2)).await;
    let all = payouts(&api).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let p = &all[0];
    assert_eq!(p["amount"], 11000 - fee(5000) - fee(6000));
    assert_eq!(at(&p["created_at"]), midnight(next));
    assert_eq!(p["status"], "not_initiated");
    let refs: HashSet<String> = details(&api, p)
        .await
        .iter()
        .map(|r| s(&r["reference_object_id"]).to_string())
        .collect();
    assert!(refs.contains(s(&small["payment_id"])), "carried forward");
    assert!(refs.contains(s(&other["payment_id"])));
    advance_to_noon(&api, day(next, 4)).await;
    assert_eq!(payouts(&api).await[0]["status"], "in_progress");
    advance_to_noon(&api, day(next, 5)).await;
    assert_eq!(payouts(&api).await[0]["status"], "success");
}

#[tokio::test]
async fn a_raised_threshold_waits_for_more_money_and_a_low_one_is_refused() {
    let err = Emulator::start(EmulatorConfig::default().payout_threshold(9_999))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            StartError::PayoutThresholdTooLow {
                threshold: 9_999,
                min: 10_000
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("$100.00"), "{err}");

    let api = Api::with(EmulatorConfig::default().payout_threshold(20_000)).await;
    let m = month_ahead(&api).await;
    advance_to_noon(&api, day(m, 3)).await;
    pay(&api, 15_000).await;
    advance_to_noon(&api, day(m, 20)).await;
    assert!(payouts(&api).await.is_empty(), "$143.60 is under $200");
    pay(&api, 15_000).await;
    advance_to_noon(&api, day(next_month(m), 2)).await;
    let all = payouts(&api).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["amount"], 30_000 - 2 * fee(15_000));
}

#[tokio::test]
async fn weekly_periods_are_paid_on_the_11th_18th_25th_and_4th() {
    let api = Api::with(EmulatorConfig::default().payout_cycle(PayoutCycle::Weekly)).await;
    let m = month_ahead(&api).await;
    let next = next_month(m);
    for d in [2, 9, 16, 23] {
        advance_to_noon(&api, day(m, d)).await;
        pay(&api, 20_000).await;
    }
    advance_to_noon(&api, day(next, 6)).await;
    let all = payouts(&api).await;
    let closed = [day(m, 8), day(m, 15), day(m, 22), next];
    let paid = [day(m, 11), day(m, 18), day(m, 25), day(next, 4)];
    assert_eq!(all.len(), 4, "{all:?}");
    for ((p, close), pay_day) in all.iter().zip(closed).zip(paid) {
        assert_eq!(at(&p["created_at"]), midnight(close));
        assert_eq!(p["amount"], 20_000 - fee(20_000));
        assert_eq!(p["status"], "success");
        // Success is one day after the payout date.
        assert_eq!(at(&p["updated_at"]), midnight(pay_day.next_day().unwrap()));
    }
}

#[tokio::test]
async fn a_monthly_period_is_paid_on_the_11th_of_the_next_month() {
    let api = Api::with(EmulatorConfig::default().payout_cycle(PayoutCycle::Monthly)).await;
    let m = month_ahead(&api).await;
    let next = next_month(m);
    advance_to_noon(&api, day(m, 5)).await;
    pay(&api, 12_000).await;
    advance_to_noon(&api, day(m, 25)).await;
    pay(&api, 12_000).await;
    advance_to_noon(&api, day(next, 10)).await;
    let all = payouts(&api).await;
    assert_eq!(all.len(), 1, "one payout for the whole month");
    assert_eq!(at(&all[0]["created_at"]), midnight(next));
    assert_eq!(all[0]["amount"], 24_000 - 2 * fee(12_000));
    assert_eq!(all[0]["status"], "not_initiated");
    advance_to_noon(&api, day(next, 11)).await;
    let p = &payouts(&api).await[0];
    assert_eq!(p["status"], "in_progress");
    assert_eq!(at(&p["updated_at"]), midnight(day(next, 11)));
}

#[tokio::test]
async fn a_refund_in_a_later_period_reduces_that_later_payout() {
    let api = Api::start().await;
    let m = month_ahead(&api).await;
    advance_to_noon(&api, day(m, 3)).await;
    let (paid, product) = pay(&api, 15_000).await;
    advance_to_noon(&api, day(m, 17)).await;
    let first = payouts(&api).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["amount"], 15_000 - fee(15_000));
    // Refunds exceeding the period's sales: the negative net carries forward.
    api.post(
        "/refunds",
        json!({"payment_id": paid["payment_id"], "items": [{"item_id": product, "amount": 10_000}]}),
    )
    .await
    .expect(200);
    let next = next_month(m);
    advance_to_noon(&api, day(next, 2)).await;
    assert_eq!(
        payouts(&api).await.len(),
        1,
        "a negative period pays nothing"
    );
    advance_to_noon(&api, day(next, 20)).await;
    pay(&api, 30_000).await;
    advance_to_noon(&api, day(next_month(next), 2)).await;
    let all = payouts(&api).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(
        all[0]["amount"],
        15_000 - fee(15_000),
        "the first is unchanged"
    );
    let later = &all[1];
    assert_eq!(later["amount"], 30_000 - fee(30_000) - 10_000);
    assert_eq!(later["refunds"], 10_000);
    assert_eq!(at(&later["created_at"]), midnight(next_month(next)));
    let breakup = api
        .get(&format!("/payouts/{}/breakup", s(&later["payout_id"])))
        .await
        .body;
    assert!(
        breakup
            .as_array()
            .unwrap()
            .contains(&json!({"event_type": "refund", "total": -10_000})),
        "{breakup}"
    );
}

#[tokio::test]
async fn triggered_and_scheduled_payouts_never_pay_the_same_money() {
    let api = Api::start().await;
    let m = month_ahead(&api).await;
    advance_to_noon(&api, day(m, 3)).await;
    let (before, _) = pay(&api, 15_000).await;
    advance_to_noon(&api, day(m, 5)).await;
    // Off-cycle: the trigger pays everything settled so far (plus its own 2500 payment).
    let t = api.harness().trigger("payout.created").await.unwrap();
    let off_cycle = t.objects["payout_id"].as_str().unwrap().to_string();
    advance_to_noon(&api, day(m, 10)).await;
    let (after, _) = pay(&api, 12_000).await;
    advance_to_noon(&api, day(m, 16)).await;
    let all = payouts(&api).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0]["payout_id"], off_cycle);
    assert_eq!(all[0]["amount"], 17_500 - fee(15_000) - fee(2_500));
    assert_eq!(
        all[1]["amount"],
        12_000 - fee(12_000),
        "only what settled since"
    );
    // A trigger after the schedule pays only its own payment.
    api.harness().trigger("payout.created").await.unwrap();
    let all = payouts(&api).await;
    assert_eq!(all[2]["amount"], 2_500 - fee(2_500));
    let mut seen = HashSet::new();
    for p in &all {
        for r in details(&api, p).await {
            assert!(seen.insert(s(&r["id"]).to_string()), "paid twice: {r}");
        }
    }
    assert!(seen.contains(&format!("{}_payment", s(&before["payment_id"]))));
    assert!(seen.contains(&format!("{}_payment", s(&after["payment_id"]))));
    // The scheduled payout still moves on; the off-cycle one stays where the trigger left it.
    advance_to_noon(&api, day(m, 19)).await;
    let all = payouts(&api).await;
    assert_eq!(all[0]["status"], "not_initiated");
    assert_eq!(all[1]["status"], "success");
}

/// The payouts reduced to what must not depend on how the clock moved.
fn summary(all: &[Value]) -> Vec<Value> {
    all.iter()
        .map(|p| {
            json!([
                p["amount"],
                p["fee"],
                p["refunds"],
                p["status"],
                p["name"],
                p["created_at"],
                p["updated_at"]
            ])
        })
        .collect()
}

async fn scenario(step_hours: Option<i64>) -> Vec<Value> {
    let api = Api::start().await;
    let m = month_ahead(&api).await;
    advance_to_noon(&api, day(m, 3)).await;
    pay(&api, 15_000).await;
    advance_to_noon(&api, day(m, 14)).await;
    pay(&api, 4_000).await;
    advance_to_noon(&api, day(m, 15)).await;
    let end = midnight(day(next_month(next_month(m)), 20));
    match step_hours {
        None => {
            advance_to(&api, end).await;
        }
        Some(h) => {
            while now(&api).await < end {
                let left = (end - now(&api).await).whole_seconds();
                let secs = left.min(h * 3_600).max(1);
                api.harness()
                    .advance_clock(std::time::Duration::from_secs(secs.unsigned_abs()))
                    .await
                    .unwrap();
            }
        }
    }
    summary(&payouts(&api).await)
}

#[tokio::test]
async fn one_big_clock_move_and_many_small_ones_make_the_same_payouts() {
    let big = scenario(None).await;
    let small = scenario(Some(7)).await;
    assert_eq!(big.len(), 1, "{big:?}");
    assert_eq!(big, small);
}

/// The first day of the month before `d`'s.
fn previous_month(d: Date) -> Date {
    let (y, m) = match d.month() {
        Month::January => (d.year() - 1, Month::December),
        m => (d.year(), m.previous()),
    };
    Date::from_calendar_date(y, m, 1).unwrap()
}

#[tokio::test]
async fn several_periods_in_one_move_are_processed_in_time_order_each_once() {
    let api = Api::start().await;
    let mut rx = WebhookReceiver::start(
        &api.emu,
        &["payout.created", "payout.in_progress", "payout.success"],
    )
    .await
    .unwrap();
    // Money settled last month, in both of its periods (seeded history).
    let last = previous_month(now(&api).await.date());
    let seeded: Vec<Value> = [
        (3, "pay_seededpaymentA0000001"),
        (20, "pay_seededpaymentB0000001"),
    ]
    .into_iter()
    .map(|(d, id)| {
        let t = midnight(day(last, d)) + time::Duration::hours(12);
        let t = t.format(&Rfc3339).unwrap();
        json!({"kind": "payment", "id": id, "created_at": t, "data": {
                "payment_id": id, "status": "succeeded", "total_amount": 15_000,
                "currency": "USD", "created_at": t, "updated_at": t}})
    })
    .collect();
    api.admin_http(
        Method::POST,
        "/_emulator/seed",
        Some(json!({ "objects": seeded })),
    )
    .await
    .expect(200);
    let target = day(next_month(now(&api).await.date()), 6);
    advance_to_noon(&api, target).await;
    let all = payouts(&api).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(at(&all[0]["created_at"]), midnight(day(last, 16)));
    assert_eq!(at(&all[1]["created_at"]), midnight(next_month(last)));
    let (a, b) = (s(&all[0]["payout_id"]), s(&all[1]["payout_id"]));
    let mut got = Vec::new();
    for _ in 0..6 {
        let e = payout_webhook(&mut rx).await;
        got.push(format!("{} {}", s(&e["type"]), s(&e["data"]["payout_id"])));
    }
    assert_eq!(
        got,
        [
            format!("payout.created {a}"),
            format!("payout.in_progress {a}"),
            format!("payout.success {a}"),
            format!("payout.created {b}"),
            format!("payout.in_progress {b}"),
            format!("payout.success {b}"),
        ]
    );
    for p in &all {
        assert_eq!(p["status"], "success");
        assert_eq!(p["amount"], 15_000 - fee(15_000));
    }
    // Moving on again changes nothing.
    advance_to_noon(&api, day(next_month(target), 20)).await;
    assert_eq!(summary(&payouts(&api).await), summary(&all));
}

#[tokio::test]
async fn with_the_cycle_off_only_the_triggers_pay_out() {
    let api = Api::with(EmulatorConfig::default().payout_cycle(PayoutCycle::Off)).await;
    let m = month_ahead(&api).await;
    advance_to_noon(&api, day(m, 3)).await;
    pay(&api, 50_000).await;
    advance_to_noon(&api, day(next_month(m), 20)).await;
    assert!(payouts(&api).await.is_empty());
    api.harness().trigger("payout.created").await.unwrap();
    let all = payouts(&api).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["amount"], 52_500 - fee(50_000) - fee(2_500));
}
