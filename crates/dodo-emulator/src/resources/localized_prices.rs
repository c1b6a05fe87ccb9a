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
//!
//! [`resolve`] decides what one unit of a product costs a buyer, everywhere a price becomes
//! money (payments, checkout sessions and their preview, subscriptions, the hosted pages):
//! `by_country` → the active rule of the buyer's billing country; `by_currency` → the active
//! rule of the currency the buyer asked to pay in (`billing_currency`, a static link's
//! `paymentCurrency`; the base currency when they asked for none); no matching rule → the
//! product's base price and currency. The billing country alone picks a `by_country` price: a
//! requested currency never selects another country's rule. A subscription keeps the amount
//! and currency it was priced at for its renewals. Rules apply to fixed one-time and
//! recurring prices only: the spec says nothing of pay-what-you-want prices (the buyer picks
//! the amount, bounded by the base minimum), and while the docs say localized pricing covers
//! usage-based products they do not say how a localized amount combines with meter prices set
//! in the base currency, so both keep their base price. The emulator has no exchange rates:
//! where the live API would convert a base price through Adaptive Currency (no rule matches
//! and the buyer asked for another currency), the emulator charges the base price in the base
//! currency — a documented limit, not a conversion at an invented rate.

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

/// What one unit of a product costs a given buyer: an amount in the minor units of
/// `currency`, and the localized price rule that set it (`None`: the base price).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPrice {
    /// Minor units per unit.
    pub amount: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// The `lcp_` rule that set the price, if one did.
    pub rule_id: Option<String>,
}

/// The buyer facts that select a localized price.
#[derive(Debug, Clone, Copy, Default)]
pub struct PriceContext<'a> {
    /// Billing country (ISO 3166 alpha-2), when known.
    pub country: Option<&'a str>,
    /// The currency the buyer asked to pay in (`billing_currency`), if any.
    pub currency: Option<&'a str>,
}

/// Whether localized rules apply to a product's price: fixed one-time and recurring prices.
fn localizable(price: &Value) -> bool {
    matches!(
        price["type"].as_str(),
        Some("one_time_price" | "recurring_price")
    ) && price["pay_what_you_want"] != true
}

/// The product's base unit price (`price`, or `fixed_price` for usage-based prices).
fn base_price(product: &Value) -> UnitPrice {
    let price = &product["price"];
    UnitPrice {
        amount: price["price"]
            .as_i64()
            .or_else(|| price["fixed_price"].as_i64())
            .unwrap_or(0),
        currency: price["currency"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_uppercase(),
        rule_id: None,
    }
}

/// The price per unit `product` (a stored product) charges a buyer in `buyer`'s billing
/// country asking for `buyer`'s currency: the matching active localized rule per the
/// product's `pricing_mode`, else the base price (see the module doc).
pub fn resolve(
    ctx: &Ctx<'_>,
    product: &Value,
    buyer: PriceContext<'_>,
) -> Result<UnitPrice, ApiError> {
    let base = base_price(product);
    if !localizable(&product["price"]) {
        return Ok(base);
    }
    let (key_path, key) = match product["pricing_mode"].as_str() {
        Some("by_country") => ("$.country_code", buyer.country),
        // A buyer who asks for no currency pays in the base currency, which a rule may price.
        Some("by_currency") => ("$.currency", buyer.currency.or(Some(&base.currency))),
        _ => return Ok(base),
    };
    let Some(key) = key.map(str::trim).filter(|k| !k.is_empty()) else {
        return Ok(base);
    };
    let mode = product["pricing_mode"].as_str().unwrap_or_default();
    let product_id = product["product_id"].as_str().unwrap_or_default();
    let rule = ctx.db.find_one(
        kind::LOCALIZED_PRICE,
        &[
            Filter::Parent(product_id.to_string()),
            Filter::State(State::Active),
            Filter::Eq("$.mode", SqlValue::Text(mode.to_string())),
            Filter::Eq(key_path, SqlValue::Text(key.to_ascii_uppercase())),
        ],
    )?;
    Ok(match rule {
        Some(r) => match (r.data["amount"].as_i64(), r.data["currency"].as_str()) {
            (Some(amount), Some(currency)) => UnitPrice {
                amount,
                currency: currency.to_ascii_uppercase(),
                rule_id: Some(r.id),
            },
            _ => base,
        },
        None => base,
    })
}
