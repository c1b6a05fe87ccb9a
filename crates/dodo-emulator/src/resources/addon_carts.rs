//! Addons bought with a subscription: what `addons: [{addon_id, quantity}]` attaches to a
//! subscription line (`POST /subscriptions`, a checkout session's `product_cart` item, a plan
//! change) and what it costs.
//!
//! An addon line is checked against the product before anything is stored: only a
//! subscription product takes addons (422 naming the field), each addon must be one the
//! product offers (its `addons` list; 422 otherwise), exist (404) and be live (422
//! `ADDON_ARCHIVED`), appear once per line, and be priced in the currency the line is charged
//! in (422 `CART_CURRENCY_MISMATCH`: the emulator has no exchange rates). Each unit costs the
//! addon's `price` at the time of purchase; `quantity` 0 is accepted (the spec's minimum) and
//! costs nothing. The subscription answers the lines as `addons: [{addon_id, quantity}]`, its
//! `recurring_pre_tax_amount` includes them, so renewals charge them, and a plan change
//! replaces them (an empty or absent list removes them, as the spec says).

use dodo_types::models::AttachAddonReq;
use serde_json::{Value, json};

use super::Ctx;
use super::common::{self, kind};
use crate::error::ApiError;
use crate::money::MAX_AMOUNT;
use crate::store::State;

/// One addon on a subscription line, priced.
#[derive(Debug, Clone)]
pub struct AddonLine {
    /// The stored addon.
    pub addon: Value,
    /// Units bought.
    pub quantity: i64,
    /// Price per unit in minor units.
    pub unit_amount: i64,
}

impl AddonLine {
    /// The addon's id.
    pub fn addon_id(&self) -> &str {
        self.addon["id"].as_str().unwrap_or("")
    }

    /// `unit_amount × quantity` ([`price`] refused lines whose product overflows).
    pub fn total(&self) -> i64 {
        self.unit_amount.saturating_mul(self.quantity)
    }
}

/// Checks and prices the addons `asked` for (at body field `field`) on a line of `product`
/// charged in `currency`; see the module docs for the rules.
pub fn price(
    ctx: &Ctx<'_>,
    field: &str,
    product: &Value,
    asked: &[AttachAddonReq],
    currency: &str,
) -> Result<Vec<AddonLine>, ApiError> {
    if asked.is_empty() {
        return Ok(Vec::new());
    }
    let product_id = product["product_id"].as_str().unwrap_or_default();
    if product["is_recurring"] != true {
        return Err(ApiError::invalid_field(
            field,
            format!(
                "product {product_id} is not a subscription product; only subscriptions take addons"
            ),
        ));
    }
    let offered = product["addons"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut lines: Vec<AddonLine> = Vec::with_capacity(asked.len());
    for (i, a) in asked.iter().enumerate() {
        let at = |f: &str| format!("{field}[{i}].{f}");
        let id = a.addon_id.as_str();
        if !(0..=i64::from(i32::MAX)).contains(&a.quantity) {
            return Err(ApiError::invalid_field(
                &at("quantity"),
                "must be between 0 and 2147483647",
            ));
        }
        if lines.iter().any(|l| l.addon_id() == id) {
            return Err(ApiError::invalid_field(
                &at("addon_id"),
                format!("addon {id} is listed twice; give one line with its quantity"),
            ));
        }
        if !offered.iter().any(|o| o.as_str() == Some(id)) {
            return Err(ApiError::invalid_field(
                &at("addon_id"),
                format!(
                    "addon {id} is not offered with product {product_id} (the product's `addons`)"
                ),
            ));
        }
        let record = common::must_get(ctx, kind::ADDON, "Addon", id)?;
        if record.state != State::Active {
            return Err(ApiError::unprocessable(
                "ADDON_ARCHIVED",
                format!("Addon {id} is archived"),
            ));
        }
        let addon_currency = record.data["currency"].as_str().unwrap_or_default();
        if addon_currency != currency {
            return Err(ApiError::unprocessable(
                "CART_CURRENCY_MISMATCH",
                format!(
                    "`{}`: addon {id} is priced in {addon_currency} but the line is charged in \
                     {currency}; a cart is paid in one currency",
                    at("addon_id")
                ),
            ));
        }
        let unit_amount = record.data["price"].as_i64().unwrap_or(0);
        unit_amount
            .checked_mul(a.quantity)
            .filter(|t| *t <= MAX_AMOUNT)
            .ok_or_else(|| {
                ApiError::out_of_range(format!(
                    "`{}`: the addon's price times quantity exceeds {} minor units",
                    at("quantity"),
                    MAX_AMOUNT
                ))
            })?;
        lines.push(AddonLine {
            addon: record.data,
            quantity: a.quantity,
            unit_amount,
        });
    }
    Ok(lines)
}

/// The addons of a cart item kept as JSON (`item.addons`: absent or `null` for none), at body
/// field `field`.
pub fn parse(field: &str, value: &Value) -> Result<Vec<AttachAddonReq>, ApiError> {
    if value.is_null() {
        return Ok(Vec::new());
    }
    serde_json::from_value(value.clone()).map_err(|e| {
        ApiError::invalid_field(
            field,
            format!("is not a list of {{addon_id, quantity}}: {e}"),
        )
    })
}

/// The sum of the lines (each within [`MAX_AMOUNT`]; saturating).
pub fn sum(lines: &[AddonLine]) -> i64 {
    lines
        .iter()
        .map(AddonLine::total)
        .fold(0_i64, i64::saturating_add)
}

/// `[{addon_id, quantity}]`, as a subscription answers its addons (`AddonCartResponseItem`).
pub fn cart(lines: &[AddonLine]) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|l| json!({ "addon_id": l.addon_id(), "quantity": l.quantity }))
            .collect(),
    )
}

/// `[{addon_id, name, quantity}]`, as a scheduled plan change answers its addons
/// (`ScheduledAddonResponse`).
pub fn scheduled(lines: &[AddonLine]) -> Value {
    Value::Array(
        lines
            .iter()
            .map(|l| json!({ "addon_id": l.addon_id(), "name": l.addon["name"], "quantity": l.quantity }))
            .collect(),
    )
}

/// The addons a subscription already carries (`[{addon_id, quantity}]`), priced at each
/// addon's current price whatever its state (an archived addon stops new sales, not the
/// subscriptions that have it); an addon that no longer exists is left out.
pub fn stored_lines(ctx: &Ctx<'_>, stored: &Value) -> Result<Vec<AddonLine>, ApiError> {
    let mut lines = Vec::new();
    for a in requests(stored) {
        if let Some(r) = ctx.db.get(kind::ADDON, &a.addon_id)? {
            let unit_amount = r.data["price"].as_i64().unwrap_or(0);
            lines.push(AddonLine {
                addon: r.data,
                quantity: a.quantity,
                unit_amount,
            });
        }
    }
    Ok(lines)
}

/// The `[{addon_id, quantity}]` requests a stored addon list (a subscription's `addons` or a
/// scheduled change's) stands for.
pub fn requests(stored: &Value) -> Vec<AttachAddonReq> {
    stored
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|a| {
            Some(AttachAddonReq {
                addon_id: a["addon_id"].as_str()?.to_string(),
                quantity: a["quantity"].as_i64()?,
            })
        })
        .collect()
}
