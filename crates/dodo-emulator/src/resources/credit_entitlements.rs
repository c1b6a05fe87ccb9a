//! Credit entitlements: create (201), retrieve, patch (200 empty, as the spec), list
//! (`deleted` switches to the deleted ones), soft delete (200 empty; 410 when already deleted)
//! and undelete.
//!
//! Every field of `CreditEntitlementResponse` is filled: optional settings default to `null`,
//! `overage_behavior` to `forgive_at_reset`. The create and the merged patch state are checked
//! as the spec describes (precision 0–10, rollover percentage 0–100, `currency` with
//! `price_per_unit`, `price_per_unit` with `overage_enabled`, both rollover timeframe fields or
//! neither); a violation is 422 naming the field. A deleted entitlement answers 404 on retrieve
//! and patch until it is undeleted. A patch's explicit `null` cannot clear a setting yet: the
//! dispatcher normalises bodies through the generated request type, which has no
//! double-option fields, so `null` reads as absent (the field is left unchanged). Undeleting
//! an entitlement that is not deleted answers 500, as the spec documents for the live API (it
//! reports "0 rows affected" that way).

use dodo_types::models::{CreateCreditEntitlementRequest, Currency, PatchCreditEntitlementRequest};
use http::StatusCode;
use serde_json::{Value, json};

use super::amounts::Fixed;
use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record, State};

/// Largest `precision` (decimal places of credit amounts).
pub const MAX_PRECISION: i64 = 10;
/// Digits the live API keeps before the decimal point of credit amounts (`NUMERIC(38,28)`).
pub const MAX_INTEGER_DIGITS: u32 = 10;
/// Decimal places accepted in `price_per_unit`.
pub const PRICE_SCALE: u32 = 12;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/credit-entitlements", create);
    r.add("GET", "/credit-entitlements/{id}", retrieve);
    r.add("PATCH", "/credit-entitlements/{id}", patch);
    r.add("GET", "/credit-entitlements", list);
    r.add("DELETE", "/credit-entitlements/{id}", delete);
    r.add("POST", "/credit-entitlements/{id}/undelete", undelete);
}

/// A live (not deleted) credit entitlement, or 404.
pub fn must_get_live(ctx: &Ctx<'_>, id: &str) -> Result<Record, ApiError> {
    common::must_get(ctx, kind::CREDIT_ENTITLEMENT, "Credit entitlement", id)
}

/// The `precision` of a stored entitlement (its amounts' decimal places).
pub fn precision(entitlement: &Value) -> u32 {
    entitlement["precision"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0)
}

fn check_len(field: &str, v: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = v.chars().count();
    if n < min || n > max {
        return Err(ApiError::invalid_field(
            field,
            format!("must be {min} to {max} characters, got {n}"),
        ));
    }
    Ok(())
}

fn check_range(field: &str, v: &Value, min: i64, max: i64) -> Result<(), ApiError> {
    match v.as_i64() {
        Some(n) if n < min || n > max => Err(ApiError::invalid_field(
            field,
            format!("must be between {min} and {max}, got {n}"),
        )),
        _ => Ok(()),
    }
}

/// The typed request keeps unknown enum values; the live API refuses them (422).
fn check_one_of(field: &str, v: &Value, allowed: &[&str]) -> Result<(), ApiError> {
    match v.as_str() {
        Some(s) if allowed.contains(&s) => Ok(()),
        _ => Err(ApiError::invalid_field(
            field,
            format!("expected one of {}, got {v}", allowed.join(", ")),
        )),
    }
}

/// Checks a whole entitlement (after create or merge).
fn validate(e: &Value) -> Result<(), ApiError> {
    check_len("name", e["name"].as_str().unwrap_or_default(), 1, 255)?;
    check_len("unit", e["unit"].as_str().unwrap_or_default(), 1, 50)?;
    if let Some(d) = e["description"].as_str() {
        check_len("description", d, 0, 1000)?;
    }
    check_range("precision", &e["precision"], 0, MAX_PRECISION)?;
    check_one_of(
        "overage_behavior",
        &e["overage_behavior"],
        &[
            "forgive_at_reset",
            "invoice_at_billing",
            "carry_deficit",
            "carry_deficit_auto_repay",
        ],
    )?;
    if !e["rollover_timeframe_interval"].is_null() {
        check_one_of(
            "rollover_timeframe_interval",
            &e["rollover_timeframe_interval"],
            &["Day", "Week", "Month", "Year"],
        )?;
    }
    if let Some(c) = e["currency"].as_str() {
        common::known_currency(
            "currency",
            &c.parse().unwrap_or(Currency::Unknown(c.into())),
        )?;
    }
    check_range("rollover_percentage", &e["rollover_percentage"], 0, 100)?;
    check_range("expires_after_days", &e["expires_after_days"], 1, 36_500)?;
    check_range("max_rollover_count", &e["max_rollover_count"], 0, i64::MAX)?;
    check_range(
        "rollover_timeframe_count",
        &e["rollover_timeframe_count"],
        1,
        i64::MAX,
    )?;
    check_range("overage_limit", &e["overage_limit"], 0, i64::MAX)?;
    if let Some(p) = e["price_per_unit"].as_str() {
        let price = Fixed::parse(p, PRICE_SCALE)
            .map_err(|err| ApiError::invalid_field("price_per_unit", err))?;
        if price.is_negative() {
            return Err(ApiError::invalid_field(
                "price_per_unit",
                "must not be negative",
            ));
        }
        if e["currency"].is_null() {
            return Err(ApiError::invalid_field(
                "currency",
                "is required when `price_per_unit` is set",
            ));
        }
    }
    if e["overage_enabled"] == true && e["price_per_unit"].is_null() {
        return Err(ApiError::invalid_field(
            "price_per_unit",
            "is required when `overage_enabled` is true",
        ));
    }
    if e["rollover_timeframe_count"].is_null() != e["rollover_timeframe_interval"].is_null() {
        return Err(ApiError::invalid_field(
            "rollover_timeframe_interval",
            "`rollover_timeframe_count` and `rollover_timeframe_interval` must both be set or both be null",
        ));
    }
    Ok(())
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateCreditEntitlementRequest = req.input()?;
    let id = new_id("cde_");
    let now = ctx.now_string();
    let data = json!({
        "id": id,
        "business_id": ctx.env.business_id,
        "name": input.name,
        "description": input.description,
        "precision": input.precision,
        "unit": input.unit,
        "expires_after_days": input.expires_after_days,
        "rollover_enabled": input.rollover_enabled,
        "rollover_percentage": input.rollover_percentage,
        "rollover_timeframe_count": input.rollover_timeframe_count,
        "rollover_timeframe_interval": input.rollover_timeframe_interval,
        "max_rollover_count": input.max_rollover_count,
        "overage_enabled": input.overage_enabled,
        "overage_limit": input.overage_limit,
        "overage_behavior": input.overage_behavior.map_or_else(|| json!("forgive_at_reset"), |b| json!(b)),
        "currency": input.currency,
        "price_per_unit": input.price_per_unit.as_ref().map(|p| p.as_str()),
        "created_at": now,
        "updated_at": now,
    });
    validate(&data)?;
    ctx.db
        .insert(kind::CREDIT_ENTITLEMENT, &id, None, &now, &data)?;
    Ok(Reply::json(data))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(
        ctx,
        kind::CREDIT_ENTITLEMENT,
        "Credit entitlement",
        req.param("id"),
    )
}

fn patch(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let input: PatchCreditEntitlementRequest = req.input()?;
    let mut record = must_get_live(ctx, id)?;
    let e = &mut record.data;
    let mut set = |field: &str, v: Option<Value>| {
        if let Some(v) = v {
            e[field] = v;
        }
    };
    set("name", input.name.map(Value::from));
    set("description", input.description.map(Value::from));
    set("unit", input.unit.map(Value::from));
    set(
        "expires_after_days",
        input.expires_after_days.map(Value::from),
    );
    set("rollover_enabled", input.rollover_enabled.map(Value::from));
    set(
        "rollover_percentage",
        input.rollover_percentage.map(Value::from),
    );
    set(
        "rollover_timeframe_count",
        input.rollover_timeframe_count.map(Value::from),
    );
    set(
        "rollover_timeframe_interval",
        input.rollover_timeframe_interval.map(|v| json!(v)),
    );
    set(
        "max_rollover_count",
        input.max_rollover_count.map(Value::from),
    );
    set("overage_enabled", input.overage_enabled.map(Value::from));
    set("overage_limit", input.overage_limit.map(Value::from));
    set("overage_behavior", input.overage_behavior.map(|v| json!(v)));
    set("currency", input.currency.map(|v| json!(v)));
    set(
        "price_per_unit",
        input.price_per_unit.map(|p| Value::from(p.as_str())),
    );
    validate(e)?;
    common::touch(ctx, e);
    ctx.db.update(kind::CREDIT_ENTITLEMENT, id, &record.data)?;
    // The spec's 200 has no body; the updated entitlement is read back with a retrieve.
    Ok(Reply::empty())
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let state = if req.query_bool("deleted")?.unwrap_or(false) {
        Filter::State(State::Deleted)
    } else {
        Filter::NotState(State::Deleted)
    };
    common::page_list(ctx, req, kind::CREDIT_ENTITLEMENT, &[state], common::as_is)
}

fn delete(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    match ctx.db.get(kind::CREDIT_ENTITLEMENT, id)? {
        None => Err(ApiError::not_found("Credit entitlement", id)),
        Some(r) if r.state == State::Deleted => Err(ApiError::gone(
            "CREDIT_ENTITLEMENT_DELETED",
            format!("Credit entitlement {id} is already deleted"),
        )),
        Some(mut r) => {
            common::touch(ctx, &mut r.data);
            ctx.db.update(kind::CREDIT_ENTITLEMENT, id, &r.data)?;
            ctx.db
                .set_state(kind::CREDIT_ENTITLEMENT, id, State::Deleted)?;
            Ok(Reply::empty())
        }
    }
}

fn undelete(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    match ctx.db.get(kind::CREDIT_ENTITLEMENT, id)? {
        Some(mut r) if r.state == State::Deleted => {
            common::touch(ctx, &mut r.data);
            ctx.db.update(kind::CREDIT_ENTITLEMENT, id, &r.data)?;
            ctx.db
                .set_state(kind::CREDIT_ENTITLEMENT, id, State::Active)?;
            Ok(Reply::empty())
        }
        // The live API answers 500 here (documented): nothing matched `deleted_at IS NOT NULL`.
        found => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "CREDIT_ENTITLEMENT_NOT_DELETED",
            if found.is_some() {
                format!("Credit entitlement {id} is not deleted")
            } else {
                format!("Credit entitlement {id} not found")
            },
        )),
    }
}
