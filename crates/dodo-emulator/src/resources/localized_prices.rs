//! Localized prices of a product: create, retrieve, update the amount, list the active ones,
//! archive (`DELETE`).
//!
//! A rule (`lcp_` id) belongs to one product and takes the product's `pricing_mode` at
//! creation: `by_currency` rules name a currency and no country, `by_country` rules a country
//! (and its currency); a product without a pricing mode has no localized prices (422). At
//! most one active rule per currency (`by_currency`) or per country (`by_country`) — a second
//! one answers 409. Amounts are minor units, greater than zero and within 32 bits (422
//! otherwise). Only the amount can change. `DELETE` archives (200, also when already
//! archived); an archived rule answers 404 to `GET` and `PATCH` and leaves the list. A rule
//! addressed under another product answers 404. When a product's `pricing_mode` changes,
//! [`on_pricing_mode_change`] archives the rules that no longer match it.

use dodo_types::models::{CreateLocalizedPriceRequest, PatchLocalizedPriceRequest};
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record, State};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/products/{product_id}/localized-prices", create);
    r.add(
        "GET",
        "/products/{product_id}/localized-prices/{id}",
        retrieve,
    );
    r.add(
        "PATCH",
        "/products/{product_id}/localized-prices/{id}",
        update,
    );
    r.add("GET", "/products/{product_id}/localized-prices", list);
    r.add(
        "DELETE",
        "/products/{product_id}/localized-prices/{id}",
        archive,
    );
}

const WHAT: &str = "Localized price";

/// Checks an amount: greater than zero and within the spec's `int32`.
fn check_amount(amount: i64) -> Result<i64, ApiError> {
    if amount <= 0 {
        return Err(ApiError::invalid_field(
            "amount",
            "must be greater than zero",
        ));
    }
    if amount > i64::from(i32::MAX) {
        return Err(ApiError::invalid_field(
            "amount",
            format!("must be at most {}", i32::MAX),
        ));
    }
    Ok(amount)
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateLocalizedPriceRequest = req.input()?;
    let product_id = req.param("product_id");
    let product = common::must_get(ctx, kind::PRODUCT, "Product", product_id)?;
    let amount = check_amount(input.amount)?;
    let currency = serde_json::to_value(&input.currency)?;
    let country = serde_json::to_value(&input.country_code)?;
    let mode = product.data["pricing_mode"].as_str().unwrap_or_default();
    let (key_path, key) = match mode {
        "by_currency" => {
            if !country.is_null() {
                return Err(ApiError::invalid_field(
                    "country_code",
                    "must not be set: the product's pricing_mode is by_currency",
                ));
            }
            ("$.currency", currency.clone())
        }
        "by_country" => {
            if country.is_null() {
                return Err(ApiError::invalid_field(
                    "country_code",
                    "is required: the product's pricing_mode is by_country",
                ));
            }
            ("$.country_code", country.clone())
        }
        _ => {
            return Err(ApiError::unprocessable(
                "PRICING_MODE_NOT_SET",
                format!(
                    "product {product_id} has no pricing_mode; set it to by_currency or \
                     by_country before adding localized prices"
                ),
            ));
        }
    };
    let key_text = key.as_str().unwrap_or_default().to_string();
    let clash = ctx.db.find_one(
        kind::LOCALIZED_PRICE,
        &[
            Filter::Parent(product_id.to_string()),
            Filter::State(State::Active),
            Filter::Eq(key_path, SqlValue::Text(key_text.clone())),
        ],
    )?;
    if let Some(existing) = clash {
        return Err(ApiError::conflict(
            "LOCALIZED_PRICE_EXISTS",
            format!(
                "product {product_id} already has an active localized price for {key_text} ({})",
                existing.id
            ),
        ));
    }
    let id = new_id("lcp_");
    let now = ctx.now_string();
    let data = json!({
        "id": id,
        "product_id": product_id,
        "mode": mode,
        "currency": currency,
        "country_code": country,
        "amount": amount,
        "created_at": now,
        "updated_at": now,
    });
    ctx.db
        .insert(kind::LOCALIZED_PRICE, &id, Some(product_id), &now, &data)?;
    Ok(Reply::json(data))
}

/// The active rule `id` of the path's product (404 when missing, archived or another
/// product's).
fn active_rule(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Record, ApiError> {
    let product_id = req.param("product_id");
    let id = req.param("id");
    common::must_get(ctx, kind::PRODUCT, "Product", product_id)?;
    match ctx.db.get(kind::LOCALIZED_PRICE, id)? {
        Some(r) if r.state == State::Active && r.data["product_id"] == product_id => Ok(r),
        _ => Err(ApiError::not_found(WHAT, id)),
    }
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    Ok(Reply::json(active_rule(ctx, req)?.data))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: PatchLocalizedPriceRequest = req.input()?;
    let mut record = active_rule(ctx, req)?;
    if let Some(amount) = input.amount {
        record.data["amount"] = json!(check_amount(amount)?);
    }
    common::touch(ctx, &mut record.data);
    ctx.db
        .update(kind::LOCALIZED_PRICE, &record.id, &record.data)?;
    Ok(Reply::json(record.data))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let product_id = req.param("product_id");
    common::must_get(ctx, kind::PRODUCT, "Product", product_id)?;
    let records = ctx.db.list(
        kind::LOCALIZED_PRICE,
        &[
            Filter::Parent(product_id.to_string()),
            Filter::State(State::Active),
        ],
        u32::MAX,
        0,
    )?;
    Ok(Reply::items(records.into_iter().map(|r| r.data).collect()))
}

fn archive(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let product_id = req.param("product_id");
    let id = req.param("id");
    common::must_get(ctx, kind::PRODUCT, "Product", product_id)?;
    match ctx.db.get(kind::LOCALIZED_PRICE, id)? {
        Some(r) if r.data["product_id"] == product_id && r.state != State::Deleted => {
            ctx.db
                .set_state(kind::LOCALIZED_PRICE, id, State::Archived)?;
            Ok(Reply::empty())
        }
        _ => Err(ApiError::not_found(WHAT, id)),
    }
}

/// Archives the active rules of `product_id` that do not match its new `pricing_mode`
/// (all of them when the mode is cleared), as `PATCH /products/{id}` documents.
pub fn on_pricing_mode_change(
    ctx: &Ctx<'_>,
    product_id: &str,
    new_mode: &Value,
) -> Result<(), ApiError> {
    let active = ctx.db.list(
        kind::LOCALIZED_PRICE,
        &[
            Filter::Parent(product_id.to_string()),
            Filter::State(State::Active),
        ],
        u32::MAX,
        0,
    )?;
    for rule in active {
        if new_mode.is_null() || rule.data["mode"] != *new_mode {
            ctx.db
                .set_state(kind::LOCALIZED_PRICE, &rule.id, State::Archived)?;
        }
    }
    Ok(())
}
