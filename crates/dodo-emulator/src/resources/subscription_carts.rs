//! A subscription's credit carts as the API answers them: `credit_entitlement_cart`
//! (`CreditEntitlementCartResponse`: each credit entitlement the subscription grants, its
//! settings and the customer's current `remaining_balance` and `overage_balance`) and
//! `meter_credit_entitlement_cart` (`MeterCreditEntitlementCartResponse`: each meter whose
//! usage debits one of them).
//!
//! Both are derived when the subscription is read, from what the credit modules act on: its
//! own stored carts, or else its product's attached credit entitlements (with the checkout
//! session's overrides) and the meters of its usage-based price. Balances change with every
//! grant and debit, so they are never stored: the server installs [`render`] as the store's
//! [`crate::store::PayloadView`] of subscriptions, so `subscription.*` events carry the carts
//! as they stood when the change happened.

use serde_json::{Value, json};

use super::Ctx;
use super::common::kind;
use super::credit_balances::balance_and_overage;
use super::credit_ledger::credit_items;
use super::credit_mappings::effective;
use super::credit_metering::links;
use crate::error::ApiError;

/// `sub` with both carts filled in (unchanged when it grants no credits).
pub fn render(ctx: &Ctx<'_>, mut sub: Value) -> Result<Value, ApiError> {
    let customer = sub["customer"]["customer_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let product_id = sub["product_id"].clone();
    let mut cart = Vec::new();
    for item in credit_items(ctx, &sub)? {
        let Some(id) = item["credit_entitlement_id"].as_str() else {
            continue;
        };
        let Some(ent) = ctx.db.get(kind::CREDIT_ENTITLEMENT, id)? else {
            continue;
        };
        let settings = effective(&ent.data, &item);
        let (balance, overage) = balance_and_overage(ctx, &ent.data, &customer)?;
        // The item's own setting (a product mapping or an own cart carries most), else the
        // credit entitlement's.
        let setting = |key: &str| {
            item.get(key)
                .filter(|v| !v.is_null())
                .unwrap_or(&settings[key])
                .clone()
        };
        let flag = |key: &str| setting(key).as_bool().unwrap_or(false);
        cart.push(json!({
            "credit_entitlement_id": id,
            "credit_entitlement_name": ent.data["name"],
            "unit": ent.data["unit"],
            "product_id": product_id,
            "credits_amount": item["credits_amount"],
            "expires_after_days": setting("expires_after_days"),
            "low_balance_threshold_percent": setting("low_balance_threshold_percent"),
            "max_rollover_count": setting("max_rollover_count"),
            "overage_behavior": setting("overage_behavior"),
            "overage_enabled": flag("overage_enabled"),
            "overage_limit": setting("overage_limit"),
            "rollover_enabled": flag("rollover_enabled"),
            "rollover_percentage": setting("rollover_percentage"),
            "rollover_timeframe_count": setting("rollover_timeframe_count"),
            "rollover_timeframe_interval": setting("rollover_timeframe_interval"),
            "remaining_balance": balance.to_plain(),
            "overage_balance": overage.to_plain(),
        }));
    }
    let mut meters = Vec::new();
    for (meter_id, entitlement_id, per_credit) in links(ctx, &sub)? {
        let name = ctx
            .db
            .get(kind::METER, &meter_id)?
            .map_or(Value::Null, |m| m.data["name"].clone());
        meters.push(json!({
            "meter_id": meter_id,
            "meter_name": name.as_str().unwrap_or(&meter_id),
            "credit_entitlement_id": entitlement_id,
            "product_id": product_id,
            "meter_units_per_credit": per_credit,
        }));
    }
    sub["credit_entitlement_cart"] = Value::Array(cart);
    sub["meter_credit_entitlement_cart"] = Value::Array(meters);
    Ok(sub)
}
