//! The virtual clock's admin API and what time passing does: renewals, on-hold after a failed
//! renewal, cancellations at period end, expiries.
//!
//! `POST /_emulator/clock/advance` with `{"by": "30d"}` (also `+30d`, `12h`, `90m`, `45s`,
//! `2w`, or a number of seconds) moves [`crate::clock`] forward, then processes everything that
//! fell due, in time order, one billing cycle at a time:
//!
//! - an `active` subscription whose `next_billing_date` passed is charged through a real
//!   payment (`recurring_pre_tax_amount` in its `currency`, so a localized price stays
//!   localized, less the subscription's discounts that still have billing cycles left, each
//!   of which then loses one: [`discounts::for_renewal`]); on success the period moves on
//!   (`payment.succeeded`, `subscription.renewed`); when its card is flagged to fail renewals
//!   (a checkout paid with `4000 0000 0000 0341`, or `POST /_emulator/subscriptions/{id}/card
//!   {"fail_renewals": true}`) the payment fails and the subscription goes `on_hold`
//!   (`payment.failed`, `subscription.on_hold`, `dunning.started`); a trial ending is the first
//!   such charge;
//! - a plan change scheduled for that billing date (`change-plan` with `effective_at:
//!   next_billing_date`) takes over first, so the renewal bills the new plan
//!   (`subscription.plan_changed`);
//! - `cancel_at_next_billing_date` subscriptions become `cancelled` instead of renewing;
//! - an on-demand subscription (`on_demand` on create) is never charged by the clock: the
//!   merchant charges it (`POST /subscriptions/{id}/charge`) until `PATCH` with
//!   `disable_on_demand` gives it a billing date;
//! - a subscription whose `expires_at` (the end of its subscription period) passed becomes
//!   `expired`, after the billing dates that came before it;
//! - license keys whose `expires_at` passed become `expired`.
//!
//! Each emulator has its own clock ([`crate::clock::Clock`]); it only moves forward, at most
//! 36,525 days per move (larger or malformed moves answer 400 `CLOCK_OUT_OF_RANGE` / 422).
//! `GET /_emulator/clock` answers `{now, offset_seconds}`. After the renewals, subscriptions'
//! credits roll over and are granted per period ([`crate::resources::credit_cycles`]), and
//! credit grants past their `expires_at` expire ([`crate::resources::credit_ledger::expire_due`],
//! `credit.expired`). Last, the payout schedule closes the billing periods that ended and
//! moves scheduled payouts on ([`crate::resources::payout_cycles`]).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::{Value, json};
use time::Duration;

use crate::clock;
use crate::dispatch::{AppState, error_response};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::resources::common::{self, kind};
use crate::resources::payments::{self, Cart, Line, NewPayment};
use crate::resources::{Ctx, Env};
use crate::resources::{addon_carts, discounts, products, subscriptions};
use crate::store::{Db, Filter};

/// Store kind of per-subscription card flags (id = subscription id).
pub use crate::schema::kind::CARD;
/// Most billing cycles one advance processes per subscription.
const MAX_CYCLES: usize = 1_000;

/// Routes of the clock admin API.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_emulator/clock", get(get_clock))
        .route("/_emulator/clock/advance", post(advance))
        .route("/_emulator/subscriptions/{id}/card", post(set_card))
}

/// Parses `30d`, `+30d`, `12h`, `90m`, `45s`, `2w` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    // Digits beyond `i64` saturate: the clock then refuses the move as too far (400).
    let n: i64 = match num.parse::<u128>() {
        Ok(n) => i64::try_from(n).unwrap_or(i64::MAX),
        Err(_) => return None,
    };
    let unit_seconds: i64 = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    Some(Duration::seconds(n.saturating_mul(unit_seconds)))
}

async fn get_clock(State(state): State<Arc<AppState>>) -> Json<Value> {
    let clock = state.store.clock();
    Json(json!({
        "now": clock.now_string(),
        "offset_seconds": clock.offset().whole_seconds(),
    }))
}

async fn advance(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error_response(&ApiError::invalid_field("body", e)),
    };
    let by = match &v["by"] {
        Value::String(s) => parse_duration(s),
        Value::Number(n) => n.as_i64().map(Duration::seconds),
        _ => None,
    };
    let Some(by) = by else {
        return error_response(&ApiError::invalid_field(
            "by",
            "expected a forward duration like \"30d\", \"+12h\", \"90m\" or seconds (at most 36525 days)",
        ));
    };
    let clock = state.store.clock();
    if let Err(e) = clock.advance(by) {
        return error_response(&ApiError::new(
            StatusCode::BAD_REQUEST,
            "CLOCK_OUT_OF_RANGE",
            format!("cannot advance the clock by `{}`: {e}", v["by"]),
        ));
    }
    match process_due(&state.store, &state.env) {
        Ok(report) => Json(json!({
            "now": clock.now_string(),
            "offset_seconds": clock.offset().whole_seconds(),
            "processed": report,
        }))
        .into_response(),
        Err(e) => error_response(&e),
    }
}

async fn set_card(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
    let fail = v["fail_renewals"].as_bool().unwrap_or(true);
    let out = state.store.write(|db| {
        let ctx = Ctx {
            db,
            env: &state.env,
        };
        common::must_get(&ctx, kind::SUBSCRIPTION, "Subscription", &id)?;
        set_fail_renewals(db, &id, fail)?;
        Ok::<_, ApiError>(())
    });
    match out {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"subscription_id": id, "fail_renewals": fail})),
        )
            .into_response(),
        Err(e) => error_response(&e),
    }
}

/// Flags (or clears) a subscription's card as failing renewals.
pub fn set_fail_renewals(db: &Db<'_>, sub_id: &str, fail: bool) -> rusqlite::Result<()> {
    let data = json!({ "fail_renewals": fail });
    if db.get(CARD, sub_id)?.is_some() {
        db.update(CARD, sub_id, &data)?;
    } else {
        db.insert(CARD, sub_id, None, &db.now_string(), &data)?;
    }
    Ok(())
}

/// Processes everything due at the current virtual time; answers what happened.
pub fn process_due(store: &crate::store::Store, env: &Env) -> Result<Value, ApiError> {
    store.write(|db| {
        let ctx = Ctx { db, env };
        let now = db.now_string();
        let mut renewed = Vec::new();
        let mut on_hold = Vec::new();
        let mut cancelled = Vec::new();
        let mut expired = Vec::new();
        let subs = db.list(
            kind::SUBSCRIPTION,
            &[Filter::Eq(
                "$.status",
                rusqlite::types::Value::Text("active".into()),
            )],
            u32::MAX,
            0,
        )?;
        for sub in subs {
            let id = sub.id.clone();
            for _ in 0..MAX_CYCLES {
                let Some(current) = db.get(kind::SUBSCRIPTION, &id)? else {
                    break;
                };
                let d = &current.data;
                if d["status"] != "active" {
                    break;
                }
                let next = d["next_billing_date"].as_str().and_then(clock::canonical);
                // It expires when its period ends, unless a billing date comes first.
                if let Some(exp) = d["expires_at"].as_str().and_then(clock::canonical)
                    && exp <= now
                    && next.as_ref().is_none_or(|n| exp <= *n)
                {
                    let mut data = current.data.clone();
                    data["status"] = json!("expired");
                    db.update(kind::SUBSCRIPTION, &id, &data)?;
                    crate::resources::entitlements::subscription_ended(&ctx, &id, "expired")?;
                    expired.push(id.clone());
                    break;
                }
                let Some(next) = next else {
                    break;
                };
                if next > now {
                    break;
                }
                if d["cancel_at_next_billing_date"] == true {
                    let mut data = current.data.clone();
                    data["status"] = json!("cancelled");
                    data["cancelled_at"] = json!(next);
                    db.update(kind::SUBSCRIPTION, &id, &data)?;
                    crate::resources::entitlements::subscription_ended(&ctx, &id, "cancelled")?;
                    cancelled.push(id.clone());
                    break;
                }
                // An on-demand subscription is charged only when asked (`…/charge`), never on a
                // schedule, until `disable_on_demand` gives it a billing date.
                if d["on_demand"] == true {
                    break;
                }
                // A plan change scheduled for this billing date takes over before it is billed.
                let current = if subscriptions::apply_scheduled_change(&ctx, &id, &next)? {
                    match db.get(kind::SUBSCRIPTION, &id)? {
                        Some(changed) => changed,
                        None => break,
                    }
                } else {
                    current
                };
                if renew(&ctx, &current.data, &next)? {
                    renewed.push(id.clone());
                } else {
                    on_hold.push(id.clone());
                    break;
                }
            }
        }
        let keys = db.list(kind::LICENSE_KEY, &[], u32::MAX, 0)?;
        let mut keys_expired = Vec::new();
        for k in keys {
            if k.data["status"] == "active"
                && let Some(exp) = k.data["expires_at"].as_str().and_then(clock::canonical)
                && exp <= now
            {
                let mut data = k.data.clone();
                data["status"] = json!("expired");
                db.update(kind::LICENSE_KEY, &k.id, &data)?;
                keys_expired.push(k.id);
            }
        }
        let credit_grants_issued = crate::resources::credit_cycles::process(&ctx)?;
        let credit_grants_expired = crate::resources::credit_ledger::expire_due(&ctx, None)?;
        let payouts = crate::resources::payout_cycles::process(&ctx)?;
        Ok(json!({
            "renewed": renewed, "on_hold": on_hold, "cancelled": cancelled,
            "expired": expired, "license_keys_expired": keys_expired,
            "credit_grants_issued": credit_grants_issued,
            "credit_grants_expired": credit_grants_expired,
            "payouts": payouts,
        }))
    })
}

/// What a renewal of `sub` charges, as a cart: its product (in whatever state: archiving a
/// product or an addon ends new sales, not the subscriptions already sold) and its addons,
/// in the subscription's own currency, the plan's unit being what the stored
/// `recurring_pre_tax_amount` leaves after the addons at their current prices. When that does
/// not divide evenly (an addon's price changed since), the whole amount is one line.
fn renewal_cart(ctx: &Ctx<'_>, sub: &Value) -> Result<Cart, ApiError> {
    let product_id = sub["product_id"].as_str().unwrap_or_default();
    let product = ctx
        .db
        .get(kind::PRODUCT, product_id)?
        .map_or_else(|| json!({"product_id": product_id}), |r| r.data);
    let quantity = sub["quantity"].as_i64().unwrap_or(1).max(1);
    let amount = sub["recurring_pre_tax_amount"].as_i64().unwrap_or(0);
    let addons = addon_carts::stored_lines(ctx, &sub["addons"])?;
    let plan = amount
        .checked_sub(addon_carts::sum(&addons))
        .filter(|p| *p >= 0);
    let line = match plan {
        Some(p) if p % quantity == 0 => Line {
            product,
            quantity,
            unit_amount: p / quantity,
            addons,
        },
        _ => Line::new(product, 1, amount),
    };
    let currency = match &sub["currency"] {
        Value::String(c) => json!(c),
        _ => products::currency(&line.product),
    };
    Ok(Cart {
        lines: vec![line],
        currency,
    })
}

/// Charges one billing cycle of an active subscription due at `due`; `true` when renewed,
/// `false` when the charge failed and the subscription went on hold.
pub fn renew(ctx: &Ctx<'_>, sub: &Value, due: &str) -> Result<bool, ApiError> {
    let id = sub["subscription_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let cart = renewal_cart(ctx, sub)?;
    let brand_id = match sub["brand_id"].as_str() {
        Some(b) => b.to_string(),
        None => crate::resources::brands::default_brand_id(ctx)?,
    };
    let amount = sub["recurring_pre_tax_amount"]
        .as_i64()
        .unwrap_or_else(|| cart.subtotal());
    // The subscription's discounts still running apply to that amount, one cycle each.
    let (stack, stack_after) = discounts::for_renewal(ctx, sub)?;
    let payment = payments::create_payment(
        ctx,
        NewPayment {
            customer: &sub["customer"],
            billing: sub["billing"].clone(),
            cart: &cart,
            discounts: &stack,
            metadata: sub["metadata"].clone(),
            subscription_id: Some(&id),
            checkout_session_id: None,
            brand_id,
            payment_method_id: None,
            payment_link: false,
            amount_override: Some(amount),
        },
    )?;
    let pay_id = payment["payment_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let fail = subscriptions::card_fails(ctx.db, &id)?;
    payments::complete(ctx, &pay_id, if fail { "failed" } else { "succeeded" })?;
    let Some(mut current) = ctx.db.get(kind::SUBSCRIPTION, &id)? else {
        return Ok(false);
    };
    let d = &mut current.data;
    if fail {
        d["status"] = json!("on_hold");
        ctx.db.update(kind::SUBSCRIPTION, &id, &current.data)?;
        start_dunning(ctx, &current.data, &pay_id)?;
        return Ok(false);
    }
    let due_t = clock::parse(due).unwrap_or_else(|| ctx.now());
    let next = clock::add_interval(
        due_t,
        d["payment_frequency_interval"].as_str().unwrap_or("Month"),
        d["payment_frequency_count"].as_i64().unwrap_or(1),
    )
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INTERVAL_OUT_OF_RANGE",
            format!("subscription {id}: the next billing date is out of range"),
        )
    })?;
    d["previous_billing_date"] = json!(clock::format(due_t));
    d["next_billing_date"] = json!(clock::format(next));
    discounts::set_on_subscription(d, stack_after);
    ctx.db.update(kind::SUBSCRIPTION, &id, &current.data)?;
    Ok(true)
}

/// Records a dunning attempt for a subscription that went on hold (`dunning.started`).
pub fn start_dunning(ctx: &Ctx<'_>, sub: &Value, payment_id: &str) -> Result<Value, ApiError> {
    let id = new_id("dun_");
    let now = ctx.now_string();
    let data = json!({
        "subscription_id": sub["subscription_id"],
        "customer_id": sub["customer"]["customer_id"],
        "brand_id": sub["brand_id"],
        "trigger_state": "on_hold",
        "status": "recovering",
        "payment_id": payment_id,
        "created_at": now,
    });
    ctx.db
        .insert(crate::emit::DUNNING_ATTEMPT, &id, None, &now, &data)?;
    Ok(json!({"id": id, "attempt": data}))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Some(Duration::days(30)));
        assert_eq!(parse_duration("+12h"), Some(Duration::hours(12)));
        assert_eq!(parse_duration("90m"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("45"), Some(Duration::seconds(45)));
        assert_eq!(parse_duration("2w"), Some(Duration::weeks(2)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("3y"), None);
        assert_eq!(
            parse_duration("99999999999999999999999w"),
            Some(Duration::seconds(i64::MAX))
        );
    }
}
