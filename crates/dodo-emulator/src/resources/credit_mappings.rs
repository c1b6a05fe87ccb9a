//! Credit entitlements attached to products: the `credit_entitlements` of a product create or
//! patch, the `CreditEntitlementMappingResponse` items a product answers, and the
//! per-checkout-session `credits_amount` overrides of those mappings.
//!
//! An attach list holds at most [`MAX_PER_PRODUCT`] items, each naming a live credit
//! entitlement of this business once; `credits_amount` (and `trial_credits`, `overage_limit`)
//! are non-negative exact decimals within the entitlement's `precision`, percentages lie in
//! 0–100, day and cycle counts are positive as on the entitlement itself. Any violation is 422
//! naming the item's field, and nothing is stored. A mapping is resolved when attached: each
//! setting the request leaves out is taken from the credit entitlement as it is then
//! (`proration_behavior` defaults to `prorate`, `trial_credits_expire_after_trial` to `false`),
//! and the product stores and answers that snapshot; a later patch of the entitlement does not
//! change the product's mappings. A mapping keeps its `id` (a UUID) while a patch re-attaches
//! the same entitlement. The stored items carry `credit_entitlement_id`, `credits_amount` and
//! `low_balance_threshold_percent`, which the credit ledger and cycles read.
//!
//! A checkout session's `product_cart[].credit_entitlements` overrides the `credits_amount` of
//! entitlements already attached to that product (greater than zero; 422 otherwise);
//! [`remember_session`] keeps them for the subscription or payment the session creates, and
//! [`credit_items`] applies them.

use dodo_types::models::{
    AttachCreditEntitlementRequest, CreditEntitlementOverride, ProductItemReq,
    UpdateCreditEntitlementCartItem,
};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::amounts::{AmountError, Fixed, MAX_SCALE};
use super::common::{self, kind};
use super::credit_entitlements::{MAX_INTEGER_DIGITS, PRICE_SCALE, precision};
use crate::error::ApiError;
use crate::ids::uuid_v4;
use crate::store::State;

/// Most credit entitlements one product may carry (the spec's "max 5").
pub const MAX_PER_PRODUCT: usize = 5;

/// Largest `expires_after_days`, as on a credit entitlement.
const MAX_DAYS: i64 = 36_500;

/// Settings a mapping carries that override its credit entitlement's in the billing cycles.
const CYCLE_SETTINGS: &[&str] = &[
    "expires_after_days",
    "rollover_enabled",
    "rollover_percentage",
    "rollover_timeframe_count",
    "rollover_timeframe_interval",
    "max_rollover_count",
    "overage_behavior",
];

fn bad(field: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_field(field, problem)
}

fn decimal(field: &str, v: &str, scale: u32, positive: bool) -> Result<Fixed, ApiError> {
    let amount = Fixed::parse(v, scale).map_err(|e| match e {
        AmountError::TooPrecise(_) => bad(
            field,
            format!(
                "`{v}` has more than {scale} decimal places (the credit entitlement's precision)"
            ),
        ),
        e => bad(field, format!("`{v}` {e}")),
    })?;
    if amount.is_negative() || (positive && amount.is_zero()) {
        let want = if positive {
            "greater than zero"
        } else {
            "not negative"
        };
        return Err(bad(field, format!("must be {want}, got `{v}`")));
    }
    let limit = Fixed::from_int(10i128.pow(MAX_INTEGER_DIGITS), amount.scale)
        .map_err(|_| bad(field, "is too large"))?;
    if amount.cmp_value(limit).is_ge() {
        return Err(bad(
            field,
            format!("`{v}` has more than {} integer digits", MAX_INTEGER_DIGITS),
        ));
    }
    Ok(amount)
}

fn range(field: &str, v: Option<i64>, min: i64, max: i64) -> Result<(), ApiError> {
    match v {
        Some(n) if n < min || n > max => Err(bad(
            field,
            format!("must be between {min} and {max}, got {n}"),
        )),
        _ => Ok(()),
    }
}

/// A typed enum as its wire name, refused (422) when it is not one the spec lists.
fn known<T: serde::Serialize>(
    field: &str,
    v: Option<&T>,
    allowed: &[&str],
) -> Result<Option<Value>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    let wire = common::to_json(v)?;
    match wire.as_str() {
        Some(s) if allowed.contains(&s) => Ok(Some(wire)),
        _ => Err(bad(
            field,
            format!("expected one of {}, got {wire}", allowed.join(", ")),
        )),
    }
}

/// A live credit entitlement of this business, else 422 naming the field (another business's
/// entitlement reads as unknown, as the live API scopes every lookup to the caller).
fn live_entitlement(ctx: &Ctx<'_>, field: &str, id: &str) -> Result<Value, ApiError> {
    match ctx.db.get(kind::CREDIT_ENTITLEMENT, id)? {
        Some(r) if r.state != State::Deleted && r.data["business_id"] == ctx.env.business_id => {
            Ok(r.data)
        }
        Some(r) if r.state == State::Deleted && r.data["business_id"] == ctx.env.business_id => {
            Err(bad(field, format!("credit entitlement `{id}` is deleted")))
        }
        _ => Err(bad(field, format!("no credit entitlement `{id}`"))),
    }
}

/// The resolved `CreditEntitlementMappingResponse` of one attach item.
fn mapping(
    ctx: &Ctx<'_>,
    at: &str,
    a: &AttachCreditEntitlementRequest,
    id: String,
) -> Result<Value, ApiError> {
    let f = |name: &str| format!("{at}.{name}");
    let ent = live_entitlement(ctx, &f("credit_entitlement_id"), &a.credit_entitlement_id)?;
    let scale = precision(&ent);
    let credits = decimal(
        &f("credits_amount"),
        a.credits_amount.as_str(),
        scale,
        false,
    )?;
    let trial = a
        .trial_credits
        .as_deref()
        .map(|t| decimal(&f("trial_credits"), t, scale, false))
        .transpose()?;
    let overage_limit = match &a.overage_limit {
        Some(l) => json!(decimal(&f("overage_limit"), l.as_str(), scale, false)?.to_plain()),
        None => ent["overage_limit"]
            .as_i64()
            .map_or(Value::Null, |n| json!(n.to_string())),
    };
    let price_per_unit = match &a.price_per_unit {
        Some(p) => json!(decimal(&f("price_per_unit"), p.as_str(), PRICE_SCALE, false)?.to_plain()),
        None => ent["price_per_unit"].clone(),
    };
    range(
        &f("low_balance_threshold_percent"),
        a.low_balance_threshold_percent,
        0,
        100,
    )?;
    range(&f("rollover_percentage"), a.rollover_percentage, 0, 100)?;
    range(&f("expires_after_days"), a.expires_after_days, 1, MAX_DAYS)?;
    range(&f("max_rollover_count"), a.max_rollover_count, 0, i64::MAX)?;
    range(
        &f("rollover_timeframe_count"),
        a.rollover_timeframe_count,
        1,
        i64::MAX,
    )?;
    if let Some(c) = &a.currency {
        common::known_currency(&f("currency"), c)?;
    }
    let overage_behavior = known(
        &f("overage_behavior"),
        a.overage_behavior.as_ref(),
        &[
            "forgive_at_reset",
            "invoice_at_billing",
            "carry_deficit",
            "carry_deficit_auto_repay",
        ],
    )?;
    let proration = known(
        &f("proration_behavior"),
        a.proration_behavior.as_ref(),
        &["prorate", "no_prorate"],
    )?;
    let interval = known(
        &f("rollover_timeframe_interval"),
        a.rollover_timeframe_interval.as_ref(),
        &["Day", "Week", "Month", "Year"],
    )?;
    let or = |given: Option<Value>, key: &str| given.unwrap_or_else(|| ent[key].clone());
    let m = json!({
        "id": id,
        "credit_entitlement_id": a.credit_entitlement_id,
        "credit_entitlement_name": ent["name"],
        "credit_entitlement_unit": ent["unit"],
        "credits_amount": credits.to_plain(),
        "currency": or(a.currency.as_ref().map(|c| json!(c)), "currency"),
        "expires_after_days": or(a.expires_after_days.map(Value::from), "expires_after_days"),
        "low_balance_threshold_percent": a.low_balance_threshold_percent,
        "max_rollover_count": or(a.max_rollover_count.map(Value::from), "max_rollover_count"),
        "overage_behavior": overage_behavior
            .unwrap_or_else(|| ent["overage_behavior"].as_str().map_or(json!("forgive_at_reset"), Value::from)),
        "overage_enabled": a.overage_enabled.unwrap_or(ent["overage_enabled"] == true),
        "overage_limit": overage_limit,
        "price_per_unit": price_per_unit,
        "proration_behavior": proration.unwrap_or_else(|| json!("prorate")),
        "rollover_enabled": a.rollover_enabled.unwrap_or(ent["rollover_enabled"] == true),
        "rollover_percentage": or(a.rollover_percentage.map(Value::from), "rollover_percentage"),
        "rollover_timeframe_count": or(a.rollover_timeframe_count.map(Value::from), "rollover_timeframe_count"),
        "rollover_timeframe_interval": or(interval, "rollover_timeframe_interval"),
        "trial_credits": trial.map(Fixed::to_plain),
        "trial_credits_expire_after_trial": a.trial_credits_expire_after_trial.unwrap_or(false),
    });
    // The resolved mapping obeys the rules of a credit entitlement.
    if !m["price_per_unit"].is_null() && m["currency"].is_null() {
        return Err(bad(
            &f("currency"),
            "is required when `price_per_unit` is set",
        ));
    }
    if m["overage_enabled"] == true && m["price_per_unit"].is_null() {
        return Err(bad(
            &f("price_per_unit"),
            "is required when `overage_enabled` is true",
        ));
    }
    if m["rollover_timeframe_count"].is_null() != m["rollover_timeframe_interval"].is_null() {
        return Err(bad(
            &f("rollover_timeframe_interval"),
            "`rollover_timeframe_count` and `rollover_timeframe_interval` must both be set or both be null",
        ));
    }
    Ok(m)
}

/// The `credit_entitlements` a product stores and answers for the attach list of a create or
/// patch (`field` names it in errors); `current` is what the product carries now, whose
/// mapping ids are kept for entitlements attached again.
pub fn attach(
    ctx: &Ctx<'_>,
    field: &str,
    items: &[AttachCreditEntitlementRequest],
    current: &Value,
) -> Result<Value, ApiError> {
    if items.len() > MAX_PER_PRODUCT {
        return Err(bad(
            field,
            format!(
                "at most {MAX_PER_PRODUCT} credit entitlements per product, got {}",
                items.len()
            ),
        ));
    }
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for (i, a) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        if out
            .iter()
            .any(|m| m["credit_entitlement_id"] == a.credit_entitlement_id.as_str())
        {
            return Err(bad(
                &format!("{at}.credit_entitlement_id"),
                format!(
                    "credit entitlement `{}` is attached twice",
                    a.credit_entitlement_id
                ),
            ));
        }
        let id = current
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["credit_entitlement_id"] == a.credit_entitlement_id.as_str())
            .and_then(|m| m["id"].as_str())
            .map_or_else(uuid_v4, str::to_string);
        out.push(mapping(ctx, &at, a, id)?);
    }
    Ok(Value::Array(out))
}

/// The `CheckoutCreditEntitlementItem`s of a product's mappings, with a session's overrides
/// applied.
pub fn checkout_items(product: &Value, overrides: &[CreditEntitlementOverride]) -> Value {
    let items = with_overrides(&product["credit_entitlements"], overrides);
    Value::Array(
        items
            .iter()
            .map(|m| {
                json!({
                    "credit_entitlement_id": m["credit_entitlement_id"],
                    "credit_entitlement_name": m["credit_entitlement_name"],
                    "credit_entitlement_unit": m["credit_entitlement_unit"],
                    "credits_amount": m["credits_amount"],
                })
            })
            .collect(),
    )
}

/// Checks a checkout line's overrides against the product it buys (`at` names the line): each
/// must name an entitlement attached to the product, once, with a positive `credits_amount`
/// within its precision (422 otherwise).
pub fn check_overrides(
    ctx: &Ctx<'_>,
    at: &str,
    product: &Value,
    overrides: &[CreditEntitlementOverride],
) -> Result<(), ApiError> {
    for (j, o) in overrides.iter().enumerate() {
        let f = format!("{at}.credit_entitlements[{j}]");
        let attached = product["credit_entitlements"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["credit_entitlement_id"] == o.credit_entitlement_id.as_str());
        if !attached {
            return Err(bad(
                &format!("{f}.credit_entitlement_id"),
                format!(
                    "credit entitlement `{}` is not attached to product `{}`",
                    o.credit_entitlement_id,
                    product["product_id"].as_str().unwrap_or_default()
                ),
            ));
        }
        if overrides[..j]
            .iter()
            .any(|p| p.credit_entitlement_id == o.credit_entitlement_id)
        {
            return Err(bad(
                &format!("{f}.credit_entitlement_id"),
                format!(
                    "credit entitlement `{}` is overridden twice",
                    o.credit_entitlement_id
                ),
            ));
        }
        let scale = match ctx
            .db
            .get(kind::CREDIT_ENTITLEMENT, &o.credit_entitlement_id)?
        {
            Some(e) => precision(&e.data),
            None => 0,
        };
        decimal(
            &format!("{f}.credits_amount"),
            o.credits_amount.as_str(),
            scale,
            true,
        )?;
    }
    Ok(())
}

/// A product's mapping items with `credits_amount` replaced where an override names them
/// (overrides of entitlements no longer attached are ignored).
fn with_overrides(mappings: &Value, overrides: &[CreditEntitlementOverride]) -> Vec<Value> {
    mappings
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let mut m = m.clone();
            if let Some(o) = overrides
                .iter()
                .find(|o| m["credit_entitlement_id"] == o.credit_entitlement_id.as_str())
            {
                // Canonical, as the product's own amounts (checked when the session was made).
                let raw = o.credits_amount.as_str();
                m["credits_amount"] = json!(
                    Fixed::parse(raw, MAX_SCALE).map_or_else(|_| raw.to_string(), Fixed::to_plain)
                );
            }
            m
        })
        .collect()
}

/// The overrides a stored checkout session request gives the line buying `product_id`.
fn session_overrides(
    ctx: &Ctx<'_>,
    session_id: &str,
    product_id: &str,
) -> Result<Vec<CreditEntitlementOverride>, ApiError> {
    let Some(req) = ctx.db.get(kind::CHECKOUT_SESSION_REQUEST, session_id)? else {
        return Ok(Vec::new());
    };
    Ok(req.data["product_cart"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| serde_json::from_value::<ProductItemReq>(l.clone()).ok())
        .find(|l| l.product_id == product_id)
        .and_then(|l| l.credit_entitlements)
        .unwrap_or_default())
}

/// Keeps the checkout session's overrides for what its payment created: the subscription
/// (`source` = its id, one product) or the one-time payment (`source` = the payment id, every
/// product of its cart). Written once; later payments of a subscription keep them.
pub fn remember_session(
    ctx: &Ctx<'_>,
    source: &str,
    session_id: &str,
    product_ids: &[&str],
) -> Result<(), ApiError> {
    if ctx.db.get(kind::CREDIT_OVERRIDE, source)?.is_some() {
        return Ok(());
    }
    let mut by_product = Map::new();
    for pid in product_ids {
        let o = session_overrides(ctx, session_id, pid)?;
        if !o.is_empty() {
            by_product.insert((*pid).to_string(), common::to_json(&o)?);
        }
    }
    if by_product.is_empty() {
        return Ok(());
    }
    let now = ctx.now_string();
    ctx.db.insert(
        kind::CREDIT_OVERRIDE,
        source,
        None,
        &now,
        &json!({"checkout_session_id": session_id, "products": by_product}),
    )?;
    Ok(())
}

/// The credit items (`credit_entitlement_id`, `credits_amount`, settings) that `source` (a
/// subscription or payment id) grants for one product: the product's mappings with the
/// remembered checkout session overrides applied.
pub fn credit_items(ctx: &Ctx<'_>, source: &str, product: &Value) -> Result<Vec<Value>, ApiError> {
    let pid = product["product_id"].as_str().unwrap_or_default();
    let overrides: Vec<CreditEntitlementOverride> =
        match ctx.db.get(kind::CREDIT_OVERRIDE, source)? {
            Some(r) => serde_json::from_value(r.data["products"][pid].clone()).unwrap_or_default(),
            None => Vec::new(),
        };
    Ok(with_overrides(&product["credit_entitlements"], &overrides))
}

/// A subscription's credit cart after `PATCH` `credit_entitlement_cart`: each update names a
/// credit entitlement the subscription carries (`items`, from
/// [`super::credit_ledger::credit_items`]; 422 naming the item otherwise) and replaces the
/// settings it gives, checked as an attach item's are (decimals at the entitlement's
/// precision, percentages 0–100, day counts 1–36500, rollover count and interval together).
/// The answer becomes the subscription's own cart, which its billing cycles then follow.
pub fn update_cart(
    ctx: &Ctx<'_>,
    mut items: Vec<Value>,
    updates: &[UpdateCreditEntitlementCartItem],
) -> Result<Vec<Value>, ApiError> {
    for (i, u) in updates.iter().enumerate() {
        let f = |name: &str| format!("credit_entitlement_cart[{i}].{name}");
        let Some(item) = items
            .iter_mut()
            .find(|it| it["credit_entitlement_id"] == u.credit_entitlement_id.as_str())
        else {
            return Err(bad(
                &f("credit_entitlement_id"),
                format!(
                    "the subscription carries no credit entitlement `{}`",
                    u.credit_entitlement_id
                ),
            ));
        };
        let ent = live_entitlement(ctx, &f("credit_entitlement_id"), &u.credit_entitlement_id)?;
        let scale = precision(&ent);
        if let Some(c) = &u.credits_amount {
            item["credits_amount"] =
                json!(decimal(&f("credits_amount"), c.as_str(), scale, false)?.to_plain());
        }
        if let Some(l) = &u.overage_limit {
            item["overage_limit"] =
                json!(decimal(&f("overage_limit"), l.as_str(), scale, false)?.to_plain());
        }
        range(
            &f("low_balance_threshold_percent"),
            u.low_balance_threshold_percent,
            0,
            100,
        )?;
        range(&f("rollover_percentage"), u.rollover_percentage, 0, 100)?;
        range(&f("expires_after_days"), u.expires_after_days, 1, MAX_DAYS)?;
        range(&f("max_rollover_count"), u.max_rollover_count, 0, i64::MAX)?;
        range(
            &f("rollover_timeframe_count"),
            u.rollover_timeframe_count,
            1,
            i64::MAX,
        )?;
        let interval = known(
            &f("rollover_timeframe_interval"),
            u.rollover_timeframe_interval.as_ref(),
            &["Day", "Week", "Month", "Year"],
        )?;
        let numbers = [
            ("expires_after_days", u.expires_after_days),
            (
                "low_balance_threshold_percent",
                u.low_balance_threshold_percent,
            ),
            ("max_rollover_count", u.max_rollover_count),
            ("rollover_percentage", u.rollover_percentage),
            ("rollover_timeframe_count", u.rollover_timeframe_count),
        ];
        for (key, v) in numbers {
            if let Some(v) = v {
                item[key] = json!(v);
            }
        }
        for (key, v) in [
            ("overage_enabled", u.overage_enabled),
            ("rollover_enabled", u.rollover_enabled),
        ] {
            if let Some(v) = v {
                item[key] = json!(v);
            }
        }
        if let Some(interval) = interval {
            item["rollover_timeframe_interval"] = interval;
        }
        let settled = effective(&ent, item);
        if settled["rollover_timeframe_count"].is_null()
            != settled["rollover_timeframe_interval"].is_null()
        {
            return Err(bad(
                &f("rollover_timeframe_interval"),
                "`rollover_timeframe_count` and `rollover_timeframe_interval` must both be set or both be null",
            ));
        }
    }
    Ok(items)
}

/// The settings one grant follows: the credit entitlement's, with those its product mapping
/// sets (items without them, such as a seeded cart's, leave the entitlement's).
pub fn effective(entitlement: &Value, item: &Value) -> Value {
    let mut out = entitlement.clone();
    for key in CYCLE_SETTINGS {
        if let Some(v) = item.get(*key).filter(|v| !v.is_null()) {
            out[*key] = v.clone();
        }
    }
    out
}
