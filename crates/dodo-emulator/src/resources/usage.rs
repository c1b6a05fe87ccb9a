//! Usage-based billing derived from state: the meters of a usage-based price as subscriptions
//! (`meters`) and checkout previews (`product_cart[].meters`) show them, and a subscription's
//! usage history (`GET /subscriptions/{id}/usage-history`).
//!
//! A usage-based price lists meters by `meter_id` (each must exist: 422 otherwise), with an
//! optional `free_threshold` (default 0), `price_per_unit` (a decimal string in the currency's
//! minor units, default "0") and display overrides. The history has one item per billing period
//! of the subscription, newest first: the periods from its creation up to its
//! `previous_billing_date` in steps of its payment frequency, then the current period up to
//! `next_billing_date`. For each of the subscription's meters, `consumed_units` aggregates the
//! customer's usage events of the meter's `event_name` with a timestamp inside the period
//! (`count`; `sum`, `max` or `last` of the numeric metadata value at the aggregation `key`);
//! `chargeable_units` is what exceeds `free_threshold`, `total_price` that times
//! `price_per_unit`, rounded. The meter's `filter` clauses are not applied. Query filters:
//! `start_date`/`end_date` (periods overlapping them), `meter_id`, pages.

use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::clock;
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};
use crate::store::Filter;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add(
        "GET",
        "/subscriptions/{subscription_id}/usage-history",
        history,
    );
}

/// The meters of a usage-based price, resolved against the stored meters, as
/// `MeterCartResponseItem`s (`meter_id`, `name`, `measurement_unit`, `free_threshold`,
/// `price_per_unit`, `currency`). Other prices have none.
pub fn price_meters(ctx: &Ctx<'_>, price: &Value) -> Result<Vec<Value>, ApiError> {
    let Some(meters) = price["meters"].as_array() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(meters.len());
    for (i, m) in meters.iter().enumerate() {
        let field = format!("price.meters[{i}].meter_id");
        let id = m["meter_id"]
            .as_str()
            .ok_or_else(|| ApiError::invalid_field(&field, "is required"))?;
        let meter = match ctx.db.get(kind::METER, id)? {
            Some(r) => r.data,
            None => return Err(ApiError::invalid_field(&field, format!("no meter {id}"))),
        };
        let pick = |k: &str| {
            m[k].as_str()
                .map(str::to_string)
                .unwrap_or_else(|| meter[k].as_str().unwrap_or_default().to_string())
        };
        out.push(json!({
            "meter_id": id,
            "name": pick("name"),
            "measurement_unit": pick("measurement_unit"),
            "free_threshold": m["free_threshold"].as_i64().unwrap_or(0),
            "price_per_unit": m["price_per_unit"].as_str().unwrap_or("0"),
            "currency": price["currency"],
        }));
    }
    Ok(out)
}

/// The `MeterDetails` of a checkout preview line.
pub fn meter_details(ctx: &Ctx<'_>, price: &Value) -> Result<Vec<Value>, ApiError> {
    Ok(price_meters(ctx, price)?
        .into_iter()
        .map(|m| {
            json!({"name": m["name"], "measurement_unit": m["measurement_unit"],
                   "price_per_unit": m["price_per_unit"], "free_threshold": m["free_threshold"]})
        })
        .collect())
}

/// Aggregated usage of a meter by a customer in `[start, end)`.
pub fn consumed(
    ctx: &Ctx<'_>,
    meter: &Value,
    customer_id: &str,
    start: &str,
    end: &str,
) -> Result<f64, ApiError> {
    let name = meter["event_name"].as_str().unwrap_or_default();
    let mut events = ctx.db.list(
        kind::EVENT,
        &[
            Filter::Eq("$.customer_id", SqlValue::Text(customer_id.into())),
            Filter::Eq("$.event_name", SqlValue::Text(name.into())),
            Filter::Gte("$.timestamp", start.into()),
            Filter::Sql(
                "json_extract(data, '$.timestamp') < ?",
                vec![SqlValue::Text(end.into())],
            ),
        ],
        u32::MAX,
        0,
    )?;
    events.sort_by(|a, b| {
        a.data["timestamp"]
            .as_str()
            .cmp(&b.data["timestamp"].as_str())
    });
    let key = meter["aggregation"]["key"].as_str().unwrap_or_default();
    let value = |e: &Value| match &e["metadata"][key] {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    };
    let mut values = events.iter().map(|r| value(&r.data));
    Ok(match meter["aggregation"]["type"].as_str() {
        Some("sum") => values.sum(),
        Some("max") => values.fold(0.0, f64::max),
        Some("last") => values.next_back().unwrap_or(0.0),
        _ => events.len() as f64,
    })
}

fn units(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        x.to_string()
    }
}

/// The billing periods of a subscription, oldest first.
fn periods(sub: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let field = |k: &str| {
        sub[k]
            .as_str()
            .and_then(clock::parse)
            .ok_or_else(|| ApiError::internal(format!("subscription has no valid {k}")))
    };
    let created = field("created_at")?;
    let previous = field("previous_billing_date")?;
    let next = field("next_billing_date")?;
    let interval = sub["payment_frequency_interval"]
        .as_str()
        .unwrap_or("Month");
    let count = sub["payment_frequency_count"].as_i64().unwrap_or(1).max(1);
    let mut out = Vec::new();
    let mut start = created;
    while start < previous && out.len() < 10_000 {
        let end = clock::add_interval(start, interval, count)
            .unwrap_or(previous)
            .min(previous);
        out.push((clock::format(start), clock::format(end)));
        start = end;
    }
    out.push((clock::format(previous), clock::format(next)));
    Ok(out)
}

fn history(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("subscription_id");
    let sub = common::must_get(ctx, kind::SUBSCRIPTION, "Subscription", id)?.data;
    let from = req.query_time("start_date")?;
    let to = req.query_time("end_date")?;
    let only = req.query("meter_id").filter(|m| !m.is_empty());
    let customer = sub["customer"]["customer_id"].as_str().unwrap_or_default();
    let page = req.page()?;
    let mut items = Vec::new();
    let mut all = periods(&sub)?;
    all.reverse();
    for (start, end) in all {
        if from.as_deref().is_some_and(|f| end.as_str() < f)
            || to.as_deref().is_some_and(|t| start.as_str() > t)
        {
            continue;
        }
        let mut meters = Vec::new();
        for m in sub["meters"].as_array().into_iter().flatten() {
            let meter_id = m["meter_id"].as_str().unwrap_or_default();
            if only.is_some_and(|o| o != meter_id) {
                continue;
            }
            let Some(meter) = ctx.db.get(kind::METER, meter_id)? else {
                continue;
            };
            let used = consumed(ctx, &meter.data, customer, &start, &end)?;
            let free = m["free_threshold"].as_i64().unwrap_or(0) as f64;
            let chargeable = (used - free).max(0.0);
            let unit: f64 = m["price_per_unit"]
                .as_str()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0.0);
            let total = (chargeable * unit).round();
            meters.push(json!({
                "id": meter_id, "name": m["name"], "free_threshold": m["free_threshold"],
                "price_per_unit": m["price_per_unit"].as_str().unwrap_or("0"),
                "currency": m["currency"], "consumed_units": units(used),
                "chargeable_units": units(chargeable),
                "total_price": if total.is_finite() { total.clamp(0.0, f64::from(i32::MAX)) as i64 } else { 0 },
            }));
        }
        items.push(json!({"start_date": start, "end_date": end, "meters": meters}));
    }
    let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    Ok(Reply::items(
        items
            .into_iter()
            .skip(skip)
            .take(page.size as usize)
            .collect(),
    ))
}
