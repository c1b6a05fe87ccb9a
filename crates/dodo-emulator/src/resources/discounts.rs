//! Discounts: codes, usage limits, validity windows, soft delete, lookup by code.
//!
//! `amount` is basis points for `percentage` (540 = 5.4 %, at most 10000) and minor units for
//! `flat`. Codes are unique among live discounts (409 `DISCOUNT_CODE_ALREADY_EXISTS`).
//! `DELETE` soft-deletes (204); the discount then answers 404 everywhere. Payments,
//! subscriptions and checkout sessions redeem codes through [`redeem`], which enforces
//! `starts_at`/`expires_at`, `usage_limit`, `per_customer_usage_limit`, `restricted_to` and
//! `customer_eligibility`.
//! The customers of `specific` discounts are attached through [`super::discount_customers`].

use dodo_types::models::{CreateDiscountRequest, PatchDiscountRequest};
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::common::{self, kind, set_some};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::{new_id, upper_code};
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record, State};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/discounts", create);
    r.add("GET", "/discounts/{discount_id}", retrieve);
    r.add("PATCH", "/discounts/{discount_id}", update);
    r.add("GET", "/discounts", list);
    r.add("DELETE", "/discounts/{discount_id}", delete);
    r.add("GET", "/discounts/code/{code}", by_code);
}

fn check_amount(ty: &str, amount: i64) -> Result<(), ApiError> {
    if amount < 0 {
        return Err(ApiError::invalid_field("amount", "must not be negative"));
    }
    match ty {
        "percentage" if amount > 10_000 => Err(ApiError::invalid_field(
            "amount",
            "a percentage is in basis points and at most 10000",
        )),
        "percentage" | "flat" => Ok(()),
        other => Err(ApiError::invalid_field(
            "type",
            format!("unknown variant `{other}`"),
        )),
    }
}

fn live_by_code(ctx: &Ctx<'_>, code: &str) -> Result<Option<Record>, ApiError> {
    Ok(ctx.db.find_one(
        kind::DISCOUNT,
        &[
            Filter::Eq("$.code", SqlValue::Text(code.to_string())),
            Filter::NotState(State::Deleted),
        ],
    )?)
}

fn check_products(ctx: &Ctx<'_>, list: Option<&[String]>) -> Result<Value, ApiError> {
    let Some(items) = list else {
        return Ok(json!([]));
    };
    for (i, id) in items.iter().enumerate() {
        if ctx.db.get(kind::PRODUCT, id)?.is_none() {
            return Err(ApiError::invalid_field(
                &format!("restricted_to[{i}]"),
                format!("unknown product {id}"),
            ));
        }
    }
    Ok(json!(items))
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateDiscountRequest = req.input()?;
    let ty = input.r#type.as_str();
    check_amount(ty, input.amount)?;
    let code = match input.code {
        Some(c) if c.trim().is_empty() => {
            return Err(ApiError::invalid_field("code", "must not be empty"));
        }
        Some(c) => c,
        None => upper_code(16),
    };
    if live_by_code(ctx, &code)?.is_some() {
        return Err(ApiError::conflict(
            "DISCOUNT_CODE_ALREADY_EXISTS",
            format!("a discount with code {code} already exists"),
        ));
    }
    let restricted = check_products(ctx, input.restricted_to.as_deref())?;
    let id = new_id("dsc_");
    let now = ctx.now_string();
    let data = json!({
        "discount_id": id,
        "business_id": ctx.env.business_id,
        "type": common::to_json(&input.r#type)?,
        "amount": input.amount,
        "code": code,
        "name": input.name,
        "times_used": 0,
        "usage_limit": input.usage_limit,
        "per_customer_usage_limit": input.per_customer_usage_limit,
        "restricted_to": restricted,
        "currency_options": input
            .currency_options
            .as_ref()
            .map_or_else(|| Ok(json!([])), common::to_json)?,
        "customer_eligibility": input
            .customer_eligibility
            .as_ref()
            .map_or_else(|| Ok(json!("any")), common::to_json)?,
        "preserve_on_plan_change": input.preserve_on_plan_change.unwrap_or(false),
        "subscription_cycles": input.subscription_cycles,
        "starts_at": common::time_json(input.starts_at.as_ref()),
        "expires_at": common::time_json(input.expires_at.as_ref()),
        "metadata": common::metadata_json(input.metadata.as_ref())?,
        "created_at": now,
    });
    ctx.db.insert(kind::DISCOUNT, &id, None, &now, &data)?;
    Ok(Reply::json(data))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(ctx, kind::DISCOUNT, "Discount", req.param("discount_id"))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("discount_id");
    let input: PatchDiscountRequest = req.input()?;
    let mut record = common::must_get(ctx, kind::DISCOUNT, "Discount", id)?;
    let ty = input
        .r#type
        .as_ref()
        .map(|t| t.as_str().to_string())
        .or_else(|| record.data["type"].as_str().map(str::to_string))
        .unwrap_or_default();
    let amount = input
        .amount
        .or_else(|| record.data["amount"].as_i64())
        .unwrap_or(0);
    check_amount(&ty, amount)?;
    if let Some(code) = input.code.as_deref()
        && let Some(other) = live_by_code(ctx, code)?
        && other.id != id
    {
        return Err(ApiError::conflict(
            "DISCOUNT_CODE_ALREADY_EXISTS",
            format!("a discount with code {code} already exists"),
        ));
    }
    if input.restricted_to.is_some() {
        record.data["restricted_to"] = check_products(ctx, input.restricted_to.as_deref())?;
    }
    let data = &mut record.data;
    // `starts_at: null` clears it; `expires_at` can only be set.
    if let Some(t) = &input.starts_at {
        data["starts_at"] = common::time_json(t.as_ref());
    }
    if input.expires_at.is_some() {
        data["expires_at"] = common::time_json(input.expires_at.as_ref());
    }
    set_some(data, "type", input.r#type.as_ref())?;
    set_some(data, "amount", input.amount.as_ref())?;
    set_some(data, "code", input.code.as_ref())?;
    set_some(data, "name", input.name.as_ref())?;
    set_some(data, "usage_limit", input.usage_limit.as_ref())?;
    set_some(
        data,
        "per_customer_usage_limit",
        input.per_customer_usage_limit.as_ref(),
    )?;
    set_some(data, "currency_options", input.currency_options.as_ref())?;
    set_some(
        data,
        "customer_eligibility",
        input.customer_eligibility.as_ref(),
    )?;
    set_some(
        data,
        "preserve_on_plan_change",
        input.preserve_on_plan_change.as_ref(),
    )?;
    set_some(
        data,
        "subscription_cycles",
        input.subscription_cycles.as_ref(),
    )?;
    set_some(data, "metadata", input.metadata.as_ref())?;
    ctx.db.update(kind::DISCOUNT, id, &record.data)?;
    Ok(Reply::json(record.data))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = vec![Filter::NotState(State::Deleted)];
    common::eq_filter(req, "code", "$.code", &mut filters);
    common::eq_filter(req, "discount_type", "$.type", &mut filters);
    if let Some(p) = req.query("product_id").filter(|p| !p.is_empty()) {
        filters.push(Filter::Sql(
            "EXISTS (SELECT 1 FROM json_each(data, '$.restricted_to') AS e WHERE e.value = ?)",
            vec![SqlValue::Text(p.to_string())],
        ));
    }
    if let Some(active) = req.query_bool("active")? {
        let cond = if active {
            "(json_extract(data, '$.expires_at') IS NULL OR json_extract(data, '$.expires_at') > ?) \
             AND (json_extract(data, '$.usage_limit') IS NULL \
             OR json_extract(data, '$.times_used') < json_extract(data, '$.usage_limit'))"
        } else {
            "NOT ((json_extract(data, '$.expires_at') IS NULL OR json_extract(data, '$.expires_at') > ?) \
             AND (json_extract(data, '$.usage_limit') IS NULL \
             OR json_extract(data, '$.times_used') < json_extract(data, '$.usage_limit')))"
        };
        filters.push(Filter::Sql(cond, vec![SqlValue::Text(ctx.now_string())]));
    }
    common::page_list(ctx, req, kind::DISCOUNT, &filters, common::as_is)
}

fn delete(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("discount_id");
    common::must_get(ctx, kind::DISCOUNT, "Discount", id)?;
    ctx.db.set_state(kind::DISCOUNT, id, State::Deleted)?;
    Ok(Reply::empty())
}

fn by_code(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let code = req.param("code");
    match live_by_code(ctx, code)? {
        Some(r) => Ok(Reply::json(r.data)),
        None => Err(ApiError::not_found("Discount with code", code)),
    }
}

/// The discount a code gives on `subtotal` (minor units), never more than the subtotal.
pub fn discount_amount(discount: &Value, subtotal: i64) -> i64 {
    let amount = discount["amount"].as_i64().unwrap_or(0);
    let off = if discount["type"] == "percentage" {
        subtotal.saturating_mul(amount) / 10_000
    } else {
        amount
    };
    off.clamp(0, subtotal.max(0))
}

/// How the [`discount_amount`] of `discount` on the sum of `totals` (each entry of a cart: a
/// product line or an addon, in order) splits over the entries: a percentage code takes its
/// rate off each entry (rounded down) and the few minor units rounding left over from the
/// earliest entries with room; a flat code is taken from the entries in order. The parts
/// never exceed their entry and always add up to the discount.
pub fn allocate(discount: &Value, totals: &[i64]) -> Vec<i64> {
    let subtotal = totals.iter().fold(0_i64, |a, t| a.saturating_add(*t));
    let off = discount_amount(discount, subtotal);
    let mut parts: Vec<i64> = if discount["type"] == "percentage" {
        let rate = discount["amount"].as_i64().unwrap_or(0).clamp(0, 10_000);
        totals
            .iter()
            .map(|t| (*t).max(0).saturating_mul(rate) / 10_000)
            .collect()
    } else {
        vec![0; totals.len()]
    };
    let mut left = off.saturating_sub(parts.iter().sum::<i64>()).max(0);
    for (part, total) in parts.iter_mut().zip(totals) {
        let more = left.min(total.saturating_sub(*part).max(0));
        *part += more;
        left -= more;
    }
    parts
}

/// Redeems a code for a cart of product ids: [`check`]s it, enforces
/// `per_customer_usage_limit` for `customer_id` (uses counted from the customer's payments),
/// then counts one use. Answers the discount object.
pub fn redeem(
    ctx: &Ctx<'_>,
    code: &str,
    product_ids: &[&str],
    customer_id: Option<&str>,
) -> Result<Value, ApiError> {
    let mut record = check(ctx, code, product_ids)?;
    check_eligibility(ctx, &record, code, customer_id)?;
    if let (Some(limit), Some(customer)) = (
        record.data["per_customer_usage_limit"].as_i64(),
        customer_id,
    ) {
        let used = ctx.db.count(
            kind::PAYMENT,
            &[
                Filter::Eq("$.discount_id", SqlValue::Text(record.id.clone())),
                Filter::Eq(
                    "$.customer.customer_id",
                    SqlValue::Text(customer.to_string()),
                ),
            ],
        )?;
        if i64::try_from(used).unwrap_or(i64::MAX) >= limit {
            return Err(ApiError::unprocessable(
                "DISCOUNT_CUSTOMER_LIMIT_REACHED",
                format!("discount code {code} was already used {used} times by this customer"),
            ));
        }
    }
    let used = record.data["times_used"].as_i64().unwrap_or(0);
    record.data["times_used"] = json!(used + 1);
    ctx.db.update(kind::DISCOUNT, &record.id, &record.data)?;
    Ok(record.data)
}

/// Enforces `customer_eligibility`: `specific` admits only the customers attached to the
/// discount ([`super::discount_customers`]), `first_time` only customers without a succeeded
/// payment, `existing` only customers with one; `any` admits everyone. A buyer not known yet
/// is admitted only by `any`.
fn check_eligibility(
    ctx: &Ctx<'_>,
    discount: &Record,
    code: &str,
    customer_id: Option<&str>,
) -> Result<(), ApiError> {
    let rule = discount.data["customer_eligibility"]
        .as_str()
        .unwrap_or("any");
    if rule == "any" {
        return Ok(());
    }
    let paid_before = |c: &str| -> Result<bool, ApiError> {
        Ok(ctx.db.count(
            kind::PAYMENT,
            &[
                Filter::Eq("$.status", SqlValue::Text("succeeded".into())),
                Filter::Eq("$.customer.customer_id", SqlValue::Text(c.to_string())),
            ],
        )? > 0)
    };
    let eligible = match (rule, customer_id) {
        (_, None) => false,
        ("specific", Some(c)) => super::discount_customers::is_attached(ctx, &discount.id, c)?,
        ("first_time", Some(c)) => !paid_before(c)?,
        ("existing", Some(c)) => paid_before(c)?,
        _ => true,
    };
    if eligible {
        return Ok(());
    }
    let who = match rule {
        "specific" => "specific customers",
        "first_time" => "first-time customers",
        _ => "existing customers",
    };
    Err(ApiError::unprocessable(
        "DISCOUNT_CUSTOMER_NOT_ELIGIBLE",
        format!("discount code {code} is restricted to {who}"),
    ))
}

/// Checks that a code can be used for a cart of product ids (validity window, usage limit,
/// product restrictions) without using it.
pub fn check(ctx: &Ctx<'_>, code: &str, product_ids: &[&str]) -> Result<Record, ApiError> {
    let Some(record) = live_by_code(ctx, code)? else {
        return Err(ApiError::unprocessable(
            "DISCOUNT_CODE_NOT_FOUND",
            format!("discount code {code} does not exist"),
        ));
    };
    let now = ctx.now_string();
    let d = &record.data;
    if d["expires_at"].as_str().is_some_and(|t| t <= now.as_str()) {
        return Err(ApiError::unprocessable(
            "DISCOUNT_CODE_EXPIRED",
            format!("discount code {code} has expired"),
        ));
    }
    if d["starts_at"].as_str().is_some_and(|t| t > now.as_str()) {
        return Err(ApiError::unprocessable(
            "DISCOUNT_CODE_NOT_STARTED",
            format!("discount code {code} is not valid yet"),
        ));
    }
    let used = d["times_used"].as_i64().unwrap_or(0);
    if d["usage_limit"].as_i64().is_some_and(|limit| used >= limit) {
        return Err(ApiError::unprocessable(
            "DISCOUNT_USAGE_LIMIT_REACHED",
            format!("discount code {code} has reached its usage limit"),
        ));
    }
    if let Some(restricted) = d["restricted_to"].as_array()
        && !restricted.is_empty()
        && !product_ids
            .iter()
            .any(|p| restricted.iter().any(|r| r.as_str() == Some(p)))
    {
        return Err(ApiError::unprocessable(
            "DISCOUNT_NOT_APPLICABLE",
            format!("discount code {code} does not apply to these products"),
        ));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentage_is_basis_points_and_flat_is_capped() {
        assert_eq!(
            discount_amount(&json!({"type": "percentage", "amount": 540}), 10_000),
            540
        );
        assert_eq!(
            discount_amount(&json!({"type": "percentage", "amount": 10000}), 999),
            999
        );
        assert_eq!(
            discount_amount(&json!({"type": "flat", "amount": 500}), 300),
            300
        );
        assert_eq!(
            discount_amount(&json!({"type": "flat", "amount": 500}), 3000),
            500
        );
    }

    #[test]
    fn discounts_split_over_entries_and_add_up() {
        let ten = json!({"type": "percentage", "amount": 1000});
        assert_eq!(allocate(&ten, &[1200, 1000]), vec![120, 100]);
        // 10 % of 3 × 5 = 1 (of 15), though each 5 alone rounds to 0.
        assert_eq!(allocate(&ten, &[5, 5, 5]), vec![1, 0, 0]);
        let flat = json!({"type": "flat", "amount": 500});
        assert_eq!(allocate(&flat, &[300, 1000]), vec![300, 200]);
        assert_eq!(allocate(&flat, &[100, 200]), vec![100, 200]);
        assert_eq!(allocate(&flat, &[]), Vec::<i64>::new());
    }
}
