//! Derived views of a subscription, computed from state on every read: its usage history per
//! billing period and its credit usage.
//!
//! `GET /subscriptions/{id}/usage-history` answers one item per billing period, newest first,
//! from the subscription's creation up to the period holding the virtual clock's now (periods
//! are `payment_frequency_count × payment_frequency_interval` long). Each item lists the
//! subscription's meters (its `meters`, else the meters of its product's usage-based price):
//! `consumed_units` aggregates the customer's ingested events named like the meter in
//! `[start_date, end_date)` — `count`, or `sum`/`max`/`last` of the metadata key, after the
//! meter's `filter` — `chargeable_units` is what exceeds `free_threshold`, and `total_price`
//! is `chargeable_units × price_per_unit` (a price in the currency's smallest unit) rounded to
//! an integer. `start_date`/`end_date` keep the periods overlapping that range, `meter_id` one
//! meter; pages are numbered. A subscription without meters has no usage history (`[]`).
//!
//! `GET /subscriptions/{id}/credit-usage` answers, for each credit entitlement the subscription
//! carries (its `credit_entitlement_cart`, `meter_credit_entitlement_cart`, and its product's
//! `credit_entitlements` and credit-linked meters), the customer's balance and overage from [`super::credit_balances`],
//! whether the limit is reached (no credits left and no overage allowed, or the overage at its
//! `overage_limit`) and the headroom left (`null` when overage is unlimited).

use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::amounts::{AmountError, Fixed};
use super::common::{self, kind};
use super::credit_balances;
use super::{Ctx, Registry};
use crate::clock;
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, State};

/// Decimal places kept of usage quantities (metadata values with more are ignored).
const USAGE_SCALE: u32 = 9;
/// Decimal places accepted in a meter's `price_per_unit`.
const PRICE_SCALE: u32 = 12;
/// Most billing periods one usage history walks.
const MAX_PERIODS: usize = 10_000;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add(
        "GET",
        "/subscriptions/{subscription_id}/usage-history",
        usage_history,
    );
    r.add(
        "GET",
        "/subscriptions/{subscription_id}/credit-usage",
        credit_usage,
    );
}

/// A meter as priced on a subscription.
struct PricedMeter {
    id: String,
    meter: Value,
    free_threshold: i64,
    price_per_unit: Fixed,
}

fn product_of(ctx: &Ctx<'_>, sub: &Value) -> Result<Option<Value>, ApiError> {
    let Some(pid) = sub["product_id"].as_str() else {
        return Ok(None);
    };
    Ok(ctx.db.get(kind::PRODUCT, pid)?.map(|r| r.data))
}

fn priced_meters(ctx: &Ctx<'_>, sub: &Value) -> Result<Vec<PricedMeter>, ApiError> {
    let own = sub["meters"].as_array().filter(|m| !m.is_empty()).cloned();
    let lines = match own {
        Some(m) => m,
        None => product_of(ctx, sub)?
            .and_then(|p| p["price"]["meters"].as_array().cloned())
            .unwrap_or_default(),
    };
    let mut out = Vec::new();
    for line in lines {
        let Some(id) = line["meter_id"].as_str() else {
            continue;
        };
        // Archived meters still count: history is kept when meter configurations change.
        let Some(meter) = ctx.db.get(kind::METER, id)? else {
            continue;
        };
        let price = match line["price_per_unit"].as_str() {
            Some(p) => Fixed::parse(p, PRICE_SCALE).map_err(|e| {
                ApiError::out_of_range(format!("the price per unit of meter {id} {e}"))
            })?,
            None => Fixed::zero(PRICE_SCALE),
        };
        out.push(PricedMeter {
            id: id.to_string(),
            meter: meter.data,
            free_threshold: line["free_threshold"].as_i64().unwrap_or(0).max(0),
            price_per_unit: price,
        });
    }
    Ok(out)
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn condition_holds(cond: &Value, metadata: &Value) -> bool {
    let op = cond["operator"].as_str().unwrap_or_default();
    let want = &cond["value"];
    let Some(got) = cond["key"].as_str().and_then(|k| metadata.get(k)) else {
        return matches!(op, "not_equals" | "does_not_contain");
    };
    let numeric = as_number(got).zip(as_number(want));
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match op {
        "equals" => numeric.map_or_else(|| text(got) == text(want), |(a, b)| a == b),
        "not_equals" => numeric.map_or_else(|| text(got) != text(want), |(a, b)| a != b),
        "greater_than" => numeric.is_some_and(|(a, b)| a > b),
        "greater_than_or_equals" => numeric.is_some_and(|(a, b)| a >= b),
        "less_than" => numeric.is_some_and(|(a, b)| a < b),
        "less_than_or_equals" => numeric.is_some_and(|(a, b)| a <= b),
        "contains" => text(got).contains(&text(want)),
        "does_not_contain" => !text(got).contains(&text(want)),
        _ => false,
    }
}

/// Whether an event's metadata passes a meter's filter (`null` passes everything).
pub(super) fn filter_passes(filter: &Value, metadata: &Value) -> bool {
    let Some(clauses) = filter["clauses"].as_array() else {
        return true;
    };
    let holds = |c: &Value| {
        if c.get("operator").is_some() {
            condition_holds(c, metadata)
        } else {
            filter_passes(c, metadata)
        }
    };
    if filter["conjunction"] == "or" {
        clauses.iter().any(holds)
    } else {
        clauses.iter().all(holds)
    }
}

pub(super) fn quantity(v: &Value) -> Option<Fixed> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    Fixed::parse(&text, USAGE_SCALE).ok()
}

/// The meter's aggregate of the customer's events in `[start, end)`.
fn consumed(
    ctx: &Ctx<'_>,
    meter: &Value,
    customer_id: &str,
    start: &str,
    end: &str,
) -> Result<Fixed, ApiError> {
    let name = meter["event_name"].as_str().unwrap_or_default();
    let mut events = ctx.db.list(
        kind::EVENT,
        &[
            Filter::Eq("$.customer_id", SqlValue::Text(customer_id.to_string())),
            Filter::Eq("$.event_name", SqlValue::Text(name.to_string())),
            Filter::Gte("$.timestamp", start.to_string()),
            Filter::Sql(
                "json_extract(data, '$.timestamp') < ?",
                vec![SqlValue::Text(end.to_string())],
            ),
        ],
        u32::MAX,
        0,
    )?;
    events.retain(|e| filter_passes(&meter["filter"], &e.data["metadata"]));
    events.sort_by(|a, b| {
        (a.data["timestamp"].as_str(), a.seq).cmp(&(b.data["timestamp"].as_str(), b.seq))
    });
    let key = meter["aggregation"]["key"].as_str().unwrap_or_default();
    let mut values = events
        .iter()
        .filter_map(|e| quantity(&e.data["metadata"][key]));
    let too_big =
        |_: AmountError| ApiError::out_of_range("the meter's usage is too large to add up");
    let zero = Fixed::zero(USAGE_SCALE);
    Ok(match meter["aggregation"]["type"].as_str() {
        Some("sum") => values
            .try_fold(zero, |acc, v| acc.checked_add(v))
            .map_err(too_big)?,
        Some("max") => values
            .fold(None, |m: Option<Fixed>, v| match m {
                Some(m) if m.cmp_value(v).is_ge() => Some(m),
                _ => Some(v),
            })
            .unwrap_or(zero),
        Some("last") => values.next_back().unwrap_or(zero),
        _ => Fixed::from_int(
            i128::try_from(events.len()).unwrap_or(i128::MAX),
            USAGE_SCALE,
        )
        .map_err(too_big)?,
    })
}

fn meter_usage(
    ctx: &Ctx<'_>,
    m: &PricedMeter,
    sub: &Value,
    start: &str,
    end: &str,
) -> Result<Value, ApiError> {
    let customer_id = sub["customer"]["customer_id"].as_str().unwrap_or_default();
    let used = consumed(ctx, &m.meter, customer_id, start, end)?;
    let free = Fixed::from_int(i128::from(m.free_threshold), USAGE_SCALE)
        .map_err(|_| ApiError::out_of_range("the free threshold is too large"))?;
    let chargeable = match used.checked_sub(free) {
        Ok(c) if !c.is_negative() => c,
        _ => Fixed::zero(USAGE_SCALE),
    };
    let total = chargeable
        .mul_round(m.price_per_unit)
        .ok()
        .and_then(|t| i32::try_from(t).ok())
        .ok_or_else(|| {
            ApiError::out_of_range(format!(
                "the usage price of meter {} in the period from {start} does not fit the response",
                m.id
            ))
        })?;
    Ok(json!({
        "id": m.id,
        "name": m.meter["name"],
        "free_threshold": m.free_threshold,
        "price_per_unit": m.price_per_unit.to_plain(),
        "currency": sub["currency"],
        "consumed_units": used.to_plain(),
        "chargeable_units": chargeable.to_plain(),
        "total_price": total,
    }))
}

/// Billing periods `[start, end)` from creation to the one holding now, newest first.
fn periods(sub: &Value, now: &str) -> Result<Vec<(String, String)>, ApiError> {
    let start = sub["created_at"]
        .as_str()
        .and_then(clock::parse)
        .ok_or_else(|| ApiError::internal("subscription without created_at"))?;
    let interval = sub["payment_frequency_interval"]
        .as_str()
        .unwrap_or("Month");
    let count = sub["payment_frequency_count"].as_i64().unwrap_or(1).max(1);
    let mut out = Vec::new();
    let mut s = start;
    while clock::format(s).as_str() <= now && out.len() < MAX_PERIODS {
        let e = clock::add_interval(s, interval, count)
            .ok_or_else(|| ApiError::out_of_range("the billing interval is too large"))?;
        out.push((clock::format(s), clock::format(e)));
        s = e;
    }
    out.reverse();
    Ok(out)
}

fn usage_history(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("subscription_id");
    let sub = common::must_get(ctx, kind::SUBSCRIPTION, "Subscription", id)?.data;
    let page = req.page()?;
    let from = req.query_time("start_date")?;
    let to = req.query_time("end_date")?;
    if let (Some(f), Some(t)) = (&from, &to)
        && f > t
    {
        return Err(ApiError::invalid_field(
            "end_date",
            "must not be before `start_date`",
        ));
    }
    let mut meters = priced_meters(ctx, &sub)?;
    if let Some(only) = req.query("meter_id").filter(|m| !m.is_empty()) {
        meters.retain(|m| m.id == only);
    }
    if meters.is_empty() {
        return Ok(Reply::items(Vec::new()));
    }
    let now = ctx.now_string();
    let mut items = Vec::new();
    let wanted = periods(&sub, &now)?
        .into_iter()
        .filter(|(s, e)| from.as_ref().is_none_or(|f| e > f) && to.as_ref().is_none_or(|t| s <= t));
    for (start, end) in wanted
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.size as usize)
    {
        let usage = meters
            .iter()
            .map(|m| meter_usage(ctx, m, &sub, &start, &end))
            .collect::<Result<Vec<_>, _>>()?;
        items.push(json!({ "start_date": start, "end_date": end, "meters": usage }));
    }
    Ok(Reply::items(items))
}

fn entitlement_ids(ctx: &Ctx<'_>, sub: &Value) -> Result<Vec<String>, ApiError> {
    let mut ids: Vec<String> = Vec::new();
    let mut add = |list: &Value| {
        for item in list.as_array().into_iter().flatten() {
            if let Some(id) = item["credit_entitlement_id"].as_str()
                && !ids.iter().any(|i| i == id)
            {
                ids.push(id.to_string());
            }
        }
    };
    add(&sub["credit_entitlement_cart"]);
    add(&sub["meter_credit_entitlement_cart"]);
    if let Some(product) = product_of(ctx, sub)? {
        add(&product["credit_entitlements"]);
        add(&product["price"]["meters"]);
    }
    Ok(ids)
}

fn credit_usage(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("subscription_id");
    let sub = common::must_get(ctx, kind::SUBSCRIPTION, "Subscription", id)?.data;
    let customer_id = sub["customer"]["customer_id"].as_str().unwrap_or_default();
    let mut items = Vec::new();
    for cde in entitlement_ids(ctx, &sub)? {
        let Some(ent) = ctx
            .db
            .get(kind::CREDIT_ENTITLEMENT, &cde)?
            .filter(|e| e.state != State::Deleted)
        else {
            continue;
        };
        let ent = ent.data;
        let (balance, overage) = credit_balances::balance_and_overage(ctx, &ent, customer_id)?;
        let overage_enabled = ent["overage_enabled"] == true;
        let limit = match ent["overage_limit"].as_i64() {
            Some(l) => Some(
                Fixed::from_int(i128::from(l), balance.scale)
                    .map_err(|_| ApiError::out_of_range("the overage limit is too large"))?,
            ),
            None => None,
        };
        let (limit_reached, headroom) = match (overage_enabled, limit) {
            (false, _) => (balance.units <= 0, Some(balance)),
            (true, Some(l)) => {
                let room = l
                    .checked_sub(overage)
                    .and_then(|r| balance.checked_add(r))
                    .map_err(|_| ApiError::out_of_range("the headroom is too large"))?;
                (
                    overage.cmp_value(l).is_ge() && balance.units <= 0,
                    Some(room),
                )
            }
            (true, None) => (false, None),
        };
        items.push(json!({
            "credit_entitlement_id": cde,
            "credit_entitlement_name": ent["name"],
            "unit": ent["unit"],
            "balance": balance.to_plain(),
            "overage": overage.to_plain(),
            "overage_enabled": overage_enabled,
            "overage_limit": limit.map(Fixed::to_plain),
            "limit_reached": limit_reached,
            "remaining_headroom": headroom.map(Fixed::to_plain),
        }));
    }
    Ok(Reply::json(
        json!({ "subscription_id": id, "items": items }),
    ))
}
