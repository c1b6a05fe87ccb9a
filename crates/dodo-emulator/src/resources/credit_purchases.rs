//! Credits a settled payment brings: the checkout session overrides it carries, and the one-time
//! grants of the products it bought.
//!
//! [`settle`] runs when a payment settles, before the subscription credit cycle
//! ([`super::credit_cycles::settle`]). A payment made for a checkout session first keeps the
//! session's `credits_amount` overrides for the subscription it pays (or, for a one-time
//! payment, for itself; [`super::credit_mappings::remember_session`]). A one-time payment that
//! succeeds then grants, once, every credit entitlement its products carry: for each cart line
//! `credits_amount × quantity` (each unit bought is one purchase of the product), as a
//! `one_time` grant whose source is the payment, expiring after the mapping's
//! `expires_after_days` (else never), with the payment's metadata on its `credit_added` row
//! (`credit.added`). Subscription payments grant through the billing cycles instead.

use serde_json::{Value, json};

use super::Ctx;
use super::amounts::Fixed;
use super::common::kind;
use super::credit_entitlements::precision;
use super::credit_ledger::{NewGrant, credit_entry, fits, overflow};
use super::credit_mappings::{credit_items, effective, remember_session};
use crate::clock;
use crate::error::ApiError;
use crate::store::State;

/// Reacts to a payment settling with `status`: keeps its checkout session's overrides, and
/// grants a succeeded one-time payment's credits.
pub fn settle(ctx: &Ctx<'_>, payment: &Value, status: &str) -> Result<(), ApiError> {
    let Some(payment_id) = payment["payment_id"].as_str() else {
        return Ok(());
    };
    let products: Vec<&str> = payment["product_cart"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["product_id"].as_str())
        .collect();
    let subscription = payment["subscription_id"].as_str();
    if let Some(session) = payment["checkout_session_id"].as_str() {
        remember_session(ctx, subscription.unwrap_or(payment_id), session, &products)?;
    }
    if status == "succeeded" && subscription.is_none() {
        grant_one_time(ctx, payment, payment_id)?;
    }
    Ok(())
}

fn grant_one_time(ctx: &Ctx<'_>, payment: &Value, payment_id: &str) -> Result<(), ApiError> {
    let Some(customer_id) = payment["customer"]["customer_id"].as_str() else {
        return Ok(());
    };
    let metadata = match &payment["metadata"] {
        m @ Value::Object(_) => m.clone(),
        _ => json!({}),
    };
    for line in payment["product_cart"].as_array().into_iter().flatten() {
        let Some(product) = line["product_id"]
            .as_str()
            .map(|pid| ctx.db.get(kind::PRODUCT, pid))
            .transpose()?
            .flatten()
        else {
            continue;
        };
        let quantity = line["quantity"].as_i64().unwrap_or(1).max(0);
        for item in credit_items(ctx, payment_id, &product.data)? {
            let Some(ent) = item["credit_entitlement_id"]
                .as_str()
                .map(|cde| ctx.db.get(kind::CREDIT_ENTITLEMENT, cde))
                .transpose()?
                .flatten()
                .filter(|e| e.state != State::Deleted)
            else {
                continue;
            };
            let ent = effective(&ent.data, &item);
            let scale = precision(&ent);
            let credits = item["credits_amount"].as_str().unwrap_or("0");
            let each = Fixed::parse(credits, scale).map_err(|e| {
                ApiError::out_of_range(format!("the product's credits_amount `{credits}` {e}"))
            })?;
            let amount = Fixed {
                units: each
                    .units
                    .checked_mul(i128::from(quantity))
                    .ok_or_else(|| overflow("grant"))?,
                scale,
            };
            if amount.is_zero() {
                continue;
            }
            fits(amount, "credits amount")?;
            let expires_at = match ent["expires_after_days"].as_i64() {
                Some(days) => Some(clock::format(
                    clock::add_interval(ctx.now(), "Day", days).ok_or_else(|| {
                        ApiError::out_of_range("`expires_after_days` is too large")
                    })?,
                )),
                None => None,
            };
            credit_entry(
                ctx,
                &ent,
                customer_id,
                &NewGrant {
                    amount,
                    expires_at,
                    metadata: metadata.clone(),
                    reason: None,
                    source: ("one_time", Some(payment_id)),
                    row_metadata: Some(&metadata),
                },
            )?;
        }
    }
    Ok(())
}
