//! The meters of a usage-based price as subscriptions (`meters`) and checkout previews
//! (`product_cart[].meters`) show them; the usage history built on them is
//! [`super::usage_views`].
//!
//! A usage-based price lists meters by `meter_id` (each must exist: 422 otherwise), with an
//! optional `free_threshold` (default 0), `price_per_unit` (a decimal string in the currency's
//! minor units, default "0") and display overrides.

use serde_json::{Value, json};

use super::Ctx;
use super::common::kind;
use crate::error::ApiError;

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
