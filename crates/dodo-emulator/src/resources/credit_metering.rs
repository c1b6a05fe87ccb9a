//! Usage that consumes credits: a newly ingested event debits the credit entitlements its
//! meters are linked to.
//!
//! For each `active` subscription of the event's customer, the links are its
//! `meter_credit_entitlement_cart`, or else the meters of its product's usage-based price that
//! name a `credit_entitlement_id`. When the event matches a linked meter (its `event_name` and
//! `filter`), the meter's units — one per event for `count`, the metadata value of the
//! aggregation key for `sum`; `max` and `last` are not incremental and consume nothing — are
//! divided by `meter_units_per_credit` (default 1) and rounded half away from zero to the
//! entitlement's precision. The credits are debited by [`super::credit_ledger`]
//! (`credit.deducted`, the subscription's metadata on the row): beyond the balance only as far
//! as overage is allowed (up to `overage_limit`, `credit.overage_charged`); usage is never
//! refused, what exceeds that is not charged.

use serde_json::Value;

use super::Ctx;
use super::amounts::Fixed;
use super::common::kind;
use super::credit_entitlements::precision;
use super::credit_ledger::{self, amount_at, balance_now, overage_limit, scope};
use super::usage_views::{filter_passes, quantity};
use crate::error::ApiError;
use crate::store::{Filter, State};

/// Decimal places accepted in `meter_units_per_credit`.
const RATIO_SCALE: u32 = 12;

/// `(meter_id, credit_entitlement_id, meter_units_per_credit)` links of a subscription (also
/// rendered as its `meter_credit_entitlement_cart`).
pub fn links(ctx: &Ctx<'_>, sub: &Value) -> Result<Vec<(String, String, String)>, ApiError> {
    let from = |list: &Value| -> Vec<(String, String, String)> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| {
                Some((
                    l["meter_id"].as_str()?.to_string(),
                    l["credit_entitlement_id"].as_str()?.to_string(),
                    l["meter_units_per_credit"]
                        .as_str()
                        .unwrap_or("1")
                        .to_string(),
                ))
            })
            .collect()
    };
    let own = from(&sub["meter_credit_entitlement_cart"]);
    if !own.is_empty() {
        return Ok(own);
    }
    let Some(pid) = sub["product_id"].as_str() else {
        return Ok(Vec::new());
    };
    Ok(ctx
        .db
        .get(kind::PRODUCT, pid)?
        .map(|p| from(&p.data["price"]["meters"]))
        .unwrap_or_default())
}

/// Credits for `units` at `ratio` units per credit, at `scale` decimal places.
fn credits_for(units: Fixed, ratio: Fixed, scale: u32) -> Option<Fixed> {
    // units·10^-us ÷ (ratio·10^-rs) at 10^-scale = units·10^(rs+scale-us) ÷ ratio.
    let shift = (ratio.scale + scale).checked_sub(units.scale)?;
    let num = units.units.checked_mul(10i128.checked_pow(shift)?)?;
    let q = num / ratio.units;
    let r = num % ratio.units;
    let q = if r.checked_mul(2)?.abs() >= ratio.units.abs() {
        q + num.signum()
    } else {
        q
    };
    Some(Fixed { units: q, scale })
}

/// Debits the credits one newly stored usage event consumes.
pub fn on_event(ctx: &Ctx<'_>, event: &Value) -> Result<(), ApiError> {
    let Some(customer_id) = event["customer_id"].as_str() else {
        return Ok(());
    };
    let subs = ctx.db.list(
        kind::SUBSCRIPTION,
        &[
            Filter::Eq("$.status", rusqlite::types::Value::Text("active".into())),
            Filter::Eq(
                "$.customer.customer_id",
                rusqlite::types::Value::Text(customer_id.to_string()),
            ),
        ],
        u32::MAX,
        0,
    )?;
    for sub in subs {
        for (meter_id, cde, ratio) in links(ctx, &sub.data)? {
            let Some(meter) = ctx.db.get(kind::METER, &meter_id)? else {
                continue;
            };
            let meter = meter.data;
            if meter["event_name"] != event["event_name"]
                || !filter_passes(&meter["filter"], &event["metadata"])
            {
                continue;
            }
            let units = match meter["aggregation"]["type"].as_str() {
                Some("count") => Fixed::parse("1", 0).ok(),
                Some("sum") => meter["aggregation"]["key"]
                    .as_str()
                    .and_then(|k| quantity(&event["metadata"][k])),
                _ => None,
            };
            let Some(units) = units.filter(|u| !u.is_negative() && !u.is_zero()) else {
                continue;
            };
            let Some(ent) = ctx
                .db
                .get(kind::CREDIT_ENTITLEMENT, &cde)?
                .filter(|e| e.state != State::Deleted)
            else {
                continue;
            };
            let ent = ent.data;
            let scale = precision(&ent);
            let ratio = match Fixed::parse(&ratio, RATIO_SCALE) {
                Ok(r) if !r.is_negative() && !r.is_zero() => r,
                _ => continue,
            };
            let wanted = credits_for(units, ratio, scale).ok_or_else(|| {
                ApiError::out_of_range(format!(
                    "the usage of meter {meter_id} is too large to convert into credits"
                ))
            })?;
            let allowed = chargeable(ctx, &ent, customer_id, wanted, scale)?;
            if allowed.is_zero() {
                continue;
            }
            let reason = format!(
                "Usage of {}",
                meter["name"].as_str().unwrap_or(meter_id.as_str())
            );
            let metadata = match &sub.data["metadata"] {
                m @ Value::Object(_) => m.clone(),
                _ => Value::Object(Default::default()),
            };
            credit_ledger::debit_entry(
                ctx,
                &ent,
                customer_id,
                allowed,
                Some(&reason),
                Some(&metadata),
            )?;
        }
    }
    Ok(())
}

/// How much of `wanted` may be debited: the balance, plus overage up to its limit if allowed.
fn chargeable(
    ctx: &Ctx<'_>,
    ent: &Value,
    customer_id: &str,
    wanted: Fixed,
    scale: u32,
) -> Result<Fixed, ApiError> {
    let cde = ent["id"].as_str().unwrap_or_default();
    let sc = scope(cde, customer_id);
    let balance = balance_now(ctx, &sc, scale)?;
    if wanted.cmp_value(balance).is_le() {
        return Ok(wanted);
    }
    if ent["overage_enabled"] != true {
        return Ok(balance.min(wanted).max_zero());
    }
    let Some(limit) = overage_limit(ent, scale)? else {
        return Ok(wanted);
    };
    let overage = match ctx.db.get(kind::CREDIT_BALANCE, &sc)? {
        Some(b) => amount_at(&b.data["overage"], scale),
        None => Fixed::zero(scale),
    };
    let room = limit
        .checked_sub(overage)
        .and_then(|r| r.checked_add(balance))
        .map_err(|_| ApiError::out_of_range("the overage headroom is too large"))?;
    Ok(wanted.min(room).max_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_to_credits_rounding_half_away_from_zero() {
        let units = Fixed::parse("6", 9).unwrap();
        let ratio = Fixed::parse("4", 12).unwrap();
        assert_eq!(credits_for(units, ratio, 1).unwrap().to_plain(), "1.5");
        assert_eq!(credits_for(units, ratio, 0).unwrap().to_plain(), "2");
        let third = Fixed::parse("3", 12).unwrap();
        assert_eq!(
            credits_for(Fixed::parse("1", 9).unwrap(), third, 2)
                .unwrap()
                .to_plain(),
            "0.33"
        );
    }
}
