//! Discounts: codes, usage limits, validity windows, currency options, soft delete, lookup by
//! code, and how stacked codes are checked, redeemed and priced.
//!
//! `amount` is at least 1; for `percentage` codes it is basis points (540 = 5.4 %, at most
//! 10000). `currency_options` (`CurrencyOptionRequest`) are stored normalized: per currency,
//! `max_amount_possible` is "the flat deduction for `flat` codes, or the max-discount cap for
//! `percentage` codes" and `minimum_subtotal` the "eligible-cart threshold"; they are
//! "required for `flat` codes (must include a resolvable default)" (a lone row is the
//! default), so a flat code without them is refused (422). A code is priced in the currency
//! charged: that currency's row, else none when no row is the default; when only another
//! currency's default row applies the live API converts it at its exchange rates, which the
//! emulator does not have, so such a redemption is refused (422
//! `DISCOUNT_CURRENCY_NOT_SUPPORTED`) rather than charged a guessed amount. A cart below the
//! row's `minimum_subtotal` (before any discount) is refused (422
//! `DISCOUNT_MINIMUM_SUBTOTAL_NOT_MET`). Codes are unique among live discounts (409
//! `DISCOUNT_CODE_ALREADY_EXISTS`); `DELETE` soft-deletes (204), and the discount then answers
//! 404 everywhere.
//!
//! Payments, subscriptions, plan changes and checkout sessions take `discount_codes` ("stacked
//! discount codes to apply, in order of application. Max 20") or the deprecated
//! `discount_code`, never both ([`requested`]: 422 naming `discount_codes`; more than 20 or a
//! code twice, 422 too). Each code is checked as a single one ([`check_all`]: existence,
//! `starts_at`/`expires_at`, `usage_limit`, `restricted_to`, currency and minimum; then
//! [`check_customer`]: `customer_eligibility`, `per_customer_usage_limit`), and [`redeem_all`]
//! counts one use of each (`times_used`) per redemption. Stacked codes apply in order, each on
//! what the ones before it left ([`apply`]: a 10 % code then a 5.00 flat code on 100.00 take
//! 10.00 then 5.00). The customers of `specific` discounts are attached through
//! [`super::discount_customers`].
//!
//! On a subscription the stack is kept as `discounts` with each one's `cycles_remaining`
//! ([`for_subscription`]): `subscription_cycles` billing cycles ("if not provided, the
//! discount will be applied indefinitely"), the first payment being the first cycle unless it
//! is a free trial's. Each renewal applies the discounts with cycles left to the renewed amount
//! and takes one; a discount with none left is dropped ([`for_renewal`]). Renewals are not
//! redemptions: they count no use, and the redemption rules (validity window, usage limits,
//! `minimum_subtotal`) are not checked again, so a discount deleted or expired since still
//! applies (the emulator's reading: those fields govern new redemptions); a renewal never
//! fails because of a discount. A plan change without codes keeps only the discounts with
//! `preserve_on_plan_change` ([`preserved`]).

use dodo_types::models::{CreateDiscountRequest, CurrencyOptionRequest, PatchDiscountRequest};
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
    if amount < 1 {
        return Err(ApiError::invalid_field("amount", "must be at least 1"));
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

/// Normalizes `currency_options` as the API stores them (`CurrencyOptionResponse`: every
/// row with `is_default` and `minimum_subtotal`). Each row's `max_amount_possible` must be
/// positive and `minimum_subtotal` not negative, a currency appears once, at most one row is
/// the default (a lone row is the default). `flat` codes need them with a resolvable default
/// carrying the deduction (`max_amount_possible`).
fn normalize_options(
    ty: &str,
    options: Option<&[CurrencyOptionRequest]>,
) -> Result<Value, ApiError> {
    let rows = options.unwrap_or_default();
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let at = |f: &str| format!("currency_options[{i}].{f}");
        let currency = row.currency.as_str();
        if rows[..i].iter().any(|r| r.currency.as_str() == currency) {
            return Err(ApiError::invalid_field(
                &at("currency"),
                format!("{currency} has more than one row"),
            ));
        }
        if row.max_amount_possible.is_some_and(|m| m <= 0) {
            return Err(ApiError::invalid_field(
                &at("max_amount_possible"),
                "must be > 0",
            ));
        }
        if row.minimum_subtotal.is_some_and(|m| m < 0) {
            return Err(ApiError::invalid_field(
                &at("minimum_subtotal"),
                "must not be negative",
            ));
        }
        out.push(json!({
            "currency": currency,
            "is_default": row.is_default.unwrap_or(rows.len() == 1),
            "max_amount_possible": row.max_amount_possible,
            "minimum_subtotal": row.minimum_subtotal.unwrap_or(0),
        }));
    }
    let defaults: Vec<&Value> = out.iter().filter(|r| r["is_default"] == true).collect();
    if defaults.len() > 1 {
        return Err(ApiError::invalid_field(
            "currency_options",
            "at most one row may be the default (is_default)",
        ));
    }
    if ty == "flat" {
        let Some(default) = defaults.first() else {
            return Err(ApiError::invalid_field(
                "currency_options",
                "is required for flat codes and must include a default row (is_default: true)",
            ));
        };
        if default["max_amount_possible"].is_null() {
            return Err(ApiError::invalid_field(
                "currency_options",
                "the default row of a flat code needs max_amount_possible (the deduction)",
            ));
        }
    }
    Ok(Value::Array(out))
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
    let options = normalize_options(ty, input.currency_options.as_deref())?;
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
        "currency_options": options,
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
    // Replace-set semantics; a flat code (after this patch) must keep resolvable options.
    if input.currency_options.is_some() || input.r#type.is_some() {
        let kept: Option<Vec<CurrencyOptionRequest>> = match &input.currency_options {
            Some(rows) => Some(rows.clone()),
            None => serde_json::from_value(data["currency_options"].clone()).ok(),
        };
        data["currency_options"] = normalize_options(&ty, kept.as_deref())?;
    }
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

/// Most codes one request may stack (`discount_codes`: "Max 20").
pub const MAX_STACKED: usize = 20;

/// The codes a request asks for, in order of application: the deprecated `discount_code` or
/// `discount_codes` ("Cannot be used together"); `None` when neither field was sent (an empty
/// `discount_codes` is `Some` of nothing: on a plan change it removes every discount). More
/// than [`MAX_STACKED`] codes or one code twice is refused (422 naming `discount_codes`).
pub fn requested(
    single: Option<&str>,
    many: Option<&[String]>,
) -> Result<Option<Vec<String>>, ApiError> {
    match (single, many) {
        (Some(_), Some(_)) => Err(ApiError::invalid_field(
            "discount_codes",
            "cannot be used together with discount_code",
        )),
        (Some(code), None) => Ok(Some(vec![code.to_string()])),
        (None, None) => Ok(None),
        (None, Some(codes)) => {
            if codes.len() > MAX_STACKED {
                return Err(ApiError::invalid_field(
                    "discount_codes",
                    format!(
                        "at most {MAX_STACKED} codes can be stacked, got {}",
                        codes.len()
                    ),
                ));
            }
            for (i, code) in codes.iter().enumerate() {
                if codes[..i].contains(code) {
                    return Err(ApiError::invalid_field(
                        &format!("discount_codes[{i}]"),
                        format!("code {code} is already in the list"),
                    ));
                }
            }
            Ok(Some(codes.to_vec()))
        }
    }
}

/// What a cart looks like to the discounts applied to it.
#[derive(Debug, Clone)]
pub struct Basket<'a> {
    /// Product ids of the cart (for `restricted_to`).
    pub product_ids: Vec<&'a str>,
    /// The currency charged (for `currency_options`).
    pub currency: &'a str,
    /// What the cart comes to before any discount (for `minimum_subtotal`).
    pub subtotal: i64,
}

/// What one discount does in one currency: a percentage `rate` (basis points) or a `flat`
/// deduction, a `cap` on the deduction and the `minimum` subtotal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Terms {
    rate: Option<i64>,
    flat: Option<i64>,
    cap: Option<i64>,
    minimum: i64,
}

/// The `currency_options` row that applies in `currency`: the currency's own row, else none
/// when no row is the default. Answers `Err(default currency)` when only the default row of
/// another currency applies: the live API converts it at its exchange rates, which the
/// emulator does not have.
fn option_for<'a>(discount: &'a Value, currency: &str) -> Result<Option<&'a Value>, String> {
    let rows = discount["currency_options"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    if let Some(row) = rows.iter().find(|r| r["currency"] == currency) {
        return Ok(Some(row));
    }
    match rows.iter().find(|r| r["is_default"] == true) {
        Some(default) => Err(default["currency"].as_str().unwrap_or("").to_string()),
        None => Ok(None),
    }
}

/// The [`Terms`] of `discount` in `currency`; `Err` is the message of a discount that cannot
/// be priced in that currency.
fn terms(discount: &Value, currency: &str) -> Result<Terms, String> {
    let code = discount["code"].as_str().unwrap_or("");
    let row = option_for(discount, currency).map_err(|default| {
        format!(
            "discount code {code} has no currency option for {currency}; the live API converts \
             its default ({default}) option at exchange rates the emulator does not have: add a \
             {currency} row to its currency_options"
        )
    })?;
    let minimum = row
        .and_then(|r| r["minimum_subtotal"].as_i64())
        .unwrap_or(0)
        .max(0);
    let max = row.and_then(|r| r["max_amount_possible"].as_i64());
    if discount["type"] == "percentage" {
        let rate = discount["amount"].as_i64().unwrap_or(0).clamp(0, 10_000);
        return Ok(Terms {
            rate: Some(rate),
            flat: None,
            cap: max,
            minimum,
        });
    }
    // A flat code deducts its currency option's `max_amount_possible`; codes stored before
    // `currency_options` were required (none at all) deduct `amount` minor units.
    let flat = match (max, row) {
        (Some(m), _) => m,
        (None, None)
            if discount["currency_options"]
                .as_array()
                .is_none_or(Vec::is_empty) =>
        {
            discount["amount"].as_i64().unwrap_or(0)
        }
        _ => {
            return Err(format!(
                "discount code {code} has no flat deduction (max_amount_possible) for {currency}"
            ));
        }
    };
    Ok(Terms {
        rate: None,
        flat: Some(flat.max(0)),
        cap: None,
        minimum,
    })
}

/// The deduction of `terms` on `base`, never more than `base`.
fn deduction(t: Terms, base: i64) -> i64 {
    let base = base.max(0);
    let off = match (t.rate, t.flat) {
        (Some(rate), _) => i64::try_from(i128::from(base) * i128::from(rate) / 10_000).unwrap_or(0),
        (None, Some(flat)) => flat,
        (None, None) => 0,
    };
    let off = t.cap.map_or(off, |cap| off.min(cap.max(0)));
    off.clamp(0, base)
}

/// The discount a code gives on `subtotal` (minor units) in `currency`, never more than the
/// subtotal: 0 when the code cannot be priced in that currency (see [`check_all`]).
pub fn discount_amount(discount: &Value, currency: &str, subtotal: i64) -> i64 {
    terms(discount, currency).map_or(0, |t| deduction(t, subtotal))
}

/// How the [`discount_amount`] of `discount` on the sum of `totals` (each entry of a cart: a
/// product line or an addon, in order) splits over the entries: an uncapped percentage code
/// takes its rate off each entry (rounded down) and the few minor units rounding left over
/// from the earliest entries with room; a capped one splits its capped deduction in
/// proportion to the entries; a flat code is taken from the entries in order. The parts never
/// exceed their entry and always add up to the discount.
pub fn allocate(discount: &Value, currency: &str, totals: &[i64]) -> Vec<i64> {
    let subtotal = totals
        .iter()
        .fold(0_i64, |a, t| a.saturating_add((*t).max(0)));
    let Ok(t) = terms(discount, currency) else {
        return vec![0; totals.len()];
    };
    let off = deduction(t, subtotal);
    let mut parts: Vec<i64> = match t.rate {
        Some(rate) => {
            let capped = off < deduction(Terms { cap: None, ..t }, subtotal);
            totals
                .iter()
                .map(|e| {
                    let e = i128::from((*e).max(0));
                    let part = if capped {
                        e * i128::from(off) / i128::from(subtotal.max(1))
                    } else {
                        e * i128::from(rate) / 10_000
                    };
                    i64::try_from(part).unwrap_or(0)
                })
                .collect()
        }
        None => vec![0; totals.len()],
    };
    let mut left = off.saturating_sub(parts.iter().sum::<i64>()).max(0);
    for (part, total) in parts.iter_mut().zip(totals) {
        let more = left.min(total.saturating_sub(*part).max(0));
        *part += more;
        left -= more;
    }
    parts
}

/// A stack of discounts applied to the entries of a cart: each discount in order, on what the
/// ones before it left of each entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// What the whole stack takes off each entry.
    pub per_entry: Vec<i64>,
    /// What each discount takes off in all, in stack order.
    pub per_discount: Vec<i64>,
}

impl Applied {
    /// The stack's whole deduction.
    pub fn total(&self) -> i64 {
        self.per_discount.iter().sum()
    }
}

/// Applies `discounts` in order to a cart's entry `totals` in `currency` ([`allocate`] each on
/// What `stack` takes off a paid trial's charge of `amount` (`currency`): nothing unless the
/// product's price `trial_apply_discounts`.
pub fn off_trial(product: &Value, stack: &[Value], currency: &str, amount: i64) -> i64 {
    if super::products::trial_applies_discounts(product) {
        apply(stack, currency, &[amount]).total()
    } else {
        0
    }
}

/// what the previous ones left).
pub fn apply(discounts: &[Value], currency: &str, totals: &[i64]) -> Applied {
    let mut left: Vec<i64> = totals.iter().map(|t| (*t).max(0)).collect();
    let mut per_entry = vec![0_i64; totals.len()];
    let mut per_discount = Vec::with_capacity(discounts.len());
    for d in discounts {
        let parts = allocate(d, currency, &left);
        for ((l, e), p) in left.iter_mut().zip(per_entry.iter_mut()).zip(&parts) {
            *l -= p;
            *e += p;
        }
        per_discount.push(parts.iter().sum());
    }
    Applied {
        per_entry,
        per_discount,
    }
}

/// Checks stacked `codes` for a cart without using them: each as [`check`] (existence,
/// validity window, usage limit, `restricted_to`), priced in the cart's currency (422
/// `DISCOUNT_CURRENCY_NOT_SUPPORTED` when only another currency's default option applies),
/// and the cart's subtotal at least the option's `minimum_subtotal` (422
/// `DISCOUNT_MINIMUM_SUBTOTAL_NOT_MET`). Answers the discounts in order.
pub fn check_all(
    ctx: &Ctx<'_>,
    codes: &[String],
    basket: &Basket<'_>,
) -> Result<Vec<Record>, ApiError> {
    let mut out = Vec::with_capacity(codes.len());
    for code in codes {
        let record = check(ctx, code, &basket.product_ids)?;
        let t = terms(&record.data, basket.currency)
            .map_err(|m| ApiError::unprocessable("DISCOUNT_CURRENCY_NOT_SUPPORTED", m))?;
        if basket.subtotal < t.minimum {
            return Err(ApiError::unprocessable(
                "DISCOUNT_MINIMUM_SUBTOTAL_NOT_MET",
                format!(
                    "discount code {code} needs a subtotal of at least {} {} (the cart comes to {})",
                    t.minimum, basket.currency, basket.subtotal
                ),
            ));
        }
        out.push(record);
    }
    Ok(out)
}

/// Checks that `customer_id` may redeem each of `discounts` (`customer_eligibility`,
/// `per_customer_usage_limit`) without using them.
pub fn check_customer(
    ctx: &Ctx<'_>,
    discounts: &[Record],
    customer_id: Option<&str>,
) -> Result<(), ApiError> {
    for record in discounts {
        let code = record.data["code"].as_str().unwrap_or("");
        check_eligibility(ctx, record, code, customer_id)?;
        if let (Some(limit), Some(customer)) = (
            record.data["per_customer_usage_limit"].as_i64(),
            customer_id,
        ) {
            let used = ctx.db.count(
                kind::DISCOUNT_REDEMPTION,
                &[
                    Filter::Parent(record.id.clone()),
                    Filter::Eq("$.customer_id", SqlValue::Text(customer.to_string())),
                ],
            )?;
            if i64::try_from(used).unwrap_or(i64::MAX) >= limit {
                return Err(ApiError::unprocessable(
                    "DISCOUNT_CUSTOMER_LIMIT_REACHED",
                    format!("discount code {code} was already used {used} times by this customer"),
                ));
            }
        }
    }
    Ok(())
}

/// Redeems stacked `codes` for a cart and a customer: [`check_all`], [`check_customer`], then
/// counts one use of each (`times_used`, and a redemption of `customer_id` for
/// `per_customer_usage_limit`). Answers the discount objects in order. A refused code refuses
/// the whole request, and the request's transaction keeps no use of any code.
pub fn redeem_all(
    ctx: &Ctx<'_>,
    codes: &[String],
    basket: &Basket<'_>,
    customer_id: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
    let records = check_all(ctx, codes, basket)?;
    check_customer(ctx, &records, customer_id)?;
    let now = ctx.now_string();
    let mut out = Vec::with_capacity(records.len());
    for mut record in records {
        let used = record.data["times_used"].as_i64().unwrap_or(0);
        record.data["times_used"] = json!(used.saturating_add(1));
        ctx.db.update(kind::DISCOUNT, &record.id, &record.data)?;
        ctx.db.insert(
            kind::DISCOUNT_REDEMPTION,
            &new_id("dsr_"),
            Some(&record.id),
            &now,
            &json!({"discount_id": record.id, "customer_id": customer_id}),
        )?;
        out.push(record.data);
    }
    Ok(out)
}

/// The stack put on a subscription whose first payment is charged now: each discount's
/// [`detail`] with the billing cycles it has left (`subscription_cycles`, less the one
/// `charged_now` when that first payment is a discounted billing cycle rather than a free
/// trial; `null` = "applied indefinitely"). A discount with no cycle left is dropped.
pub fn for_subscription(discounts: &[Value], charged_now: bool) -> Vec<Value> {
    let cycles = |d: &Value| {
        d["subscription_cycles"]
            .as_i64()
            .map(|n| if charged_now { n.saturating_sub(1) } else { n }.max(0))
    };
    let kept: Vec<&Value> = discounts.iter().filter(|d| cycles(d) != Some(0)).collect();
    kept.iter()
        .enumerate()
        .map(|(i, d)| detail(d, i, cycles(d)))
        .collect()
}

/// The discounts a subscription's renewal applies, and its stack after the renewal. Each
/// discount of the stack applies while it has cycles left and loses one; one that reaches 0
/// is dropped. A renewal prices a discount as it is stored now (a `PATCH` applies to later
/// renewals), even deleted or past its `expires_at` since: those end new redemptions, not a
/// subscription's discount; only a discount missing altogether falls back to the copy the
/// subscription keeps. A discount that cannot be priced in the subscription's currency
/// deducts nothing ([`discount_amount`]); a renewal never fails because of a discount.
pub fn for_renewal(ctx: &Ctx<'_>, sub: &Value) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
    let mut stack: Vec<Value> = sub["discounts"].as_array().cloned().unwrap_or_default();
    // Subscriptions stored before stacking kept only the deprecated fields.
    if stack.is_empty()
        && let Some(id) = sub["discount_id"].as_str()
    {
        stack.push(json!({
            "discount_id": id,
            "cycles_remaining": sub["discount_cycles_remaining"],
        }));
    }
    let mut applied = Vec::with_capacity(stack.len());
    let mut after = Vec::with_capacity(stack.len());
    for entry in stack {
        let left = entry["cycles_remaining"].as_i64();
        if left.is_some_and(|n| n <= 0) {
            continue;
        }
        let id = entry["discount_id"].as_str().unwrap_or_default();
        let current = match ctx.db.get(kind::DISCOUNT, id)? {
            Some(r) => r.data,
            None => entry.clone(),
        };
        let left = left.map(|n| n - 1);
        applied.push(detail(&current, applied.len(), left));
        if left != Some(0) {
            after.push(detail(&current, after.len(), left));
        }
    }
    Ok((applied, after))
}

/// The discounts of subscription `sub` that survive a plan change made without discount
/// codes: those whose discount (as stored now, else the subscription's copy) has
/// `preserve_on_plan_change` ("Default: false (discount is removed on plan change)"), with the
/// cycles they had, renumbered.
pub fn preserved(ctx: &Ctx<'_>, sub: &Value) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for entry in sub["discounts"].as_array().into_iter().flatten() {
        let id = entry["discount_id"].as_str().unwrap_or_default();
        let current = match ctx.db.get(kind::DISCOUNT, id)? {
            Some(r) => r.data,
            None => entry.clone(),
        };
        if current["preserve_on_plan_change"] == true {
            out.push(detail(
                &current,
                out.len(),
                entry["cycles_remaining"].as_i64(),
            ));
        }
    }
    Ok(out)
}

/// Puts a stack of [`detail`]s on a stored subscription: `discounts` (null when empty) and
/// the deprecated `discount_id` / `discount_cycles_remaining` of the first.
pub fn set_on_subscription(sub: &mut Value, stack: Vec<Value>) {
    let first = stack.first();
    sub["discount_id"] = first.map_or(Value::Null, |d| d["discount_id"].clone());
    sub["discount_cycles_remaining"] = first.map_or(Value::Null, |d| d["cycles_remaining"].clone());
    sub["discounts"] = if stack.is_empty() {
        Value::Null
    } else {
        Value::Array(stack)
    };
}

/// A `DiscountDetailResponse`: the discount at `position` in a stack, with the billing cycles
/// it has left on a subscription (`null` for one-time payments and for discounts without
/// `subscription_cycles`, which apply indefinitely).
pub fn detail(discount: &Value, position: usize, cycles_remaining: Option<i64>) -> Value {
    let mut d = discount.clone();
    d["position"] = json!(position);
    d["cycles_remaining"] = json!(cycles_remaining);
    d
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
        let pct = |a: i64| json!({"type": "percentage", "amount": a, "currency_options": []});
        assert_eq!(discount_amount(&pct(540), "USD", 10_000), 540);
        assert_eq!(discount_amount(&pct(10_000), "USD", 999), 999);
        let flat = json!({"type": "flat", "amount": 1, "currency_options": [
            {"currency": "USD", "is_default": true, "max_amount_possible": 500, "minimum_subtotal": 0}]});
        assert_eq!(discount_amount(&flat, "USD", 300), 300);
        assert_eq!(discount_amount(&flat, "USD", 3000), 500);
        // Another currency would need an exchange rate: no deduction (refused at redemption).
        assert_eq!(discount_amount(&flat, "EUR", 3000), 0);
    }

    #[test]
    fn percentage_caps_apply_in_their_currency() {
        let d = json!({"type": "percentage", "amount": 5000, "currency_options": [
            {"currency": "USD", "is_default": true, "max_amount_possible": 700, "minimum_subtotal": 0}]});
        assert_eq!(discount_amount(&d, "USD", 1000), 500);
        assert_eq!(discount_amount(&d, "USD", 10_000), 700);
        // The capped deduction splits in proportion and adds up.
        assert_eq!(allocate(&d, "USD", &[6000, 4000]), vec![420, 280]);
    }

    #[test]
    fn discounts_split_over_entries_and_add_up() {
        let ten = json!({"type": "percentage", "amount": 1000});
        assert_eq!(allocate(&ten, "USD", &[1200, 1000]), vec![120, 100]);
        // 10 % of 3 × 5 = 1 (of 15), though each 5 alone rounds to 0.
        assert_eq!(allocate(&ten, "USD", &[5, 5, 5]), vec![1, 0, 0]);
        let flat = json!({"type": "flat", "amount": 500});
        assert_eq!(allocate(&flat, "USD", &[300, 1000]), vec![300, 200]);
        assert_eq!(allocate(&flat, "USD", &[100, 200]), vec![100, 200]);
        assert_eq!(allocate(&flat, "USD", &[]), Vec::<i64>::new());
    }

    #[test]
    fn stacks_apply_in_order_on_what_is_left() {
        let ten = json!({"type": "percentage", "amount": 1000});
        let flat = json!({"type": "flat", "amount": 500});
        // 10 % of 10000 = 1000, then 500 off the 9000 left.
        let a = apply(&[ten.clone(), flat.clone()], "USD", &[10_000]);
        assert_eq!(a.per_discount, vec![1000, 500]);
        // 500 off first, then 10 % of the 9500 left.
        let b = apply(&[flat, ten], "USD", &[10_000]);
        assert_eq!(b.per_discount, vec![500, 950]);
        assert_eq!(b.total(), 1450);
    }

    #[test]
    fn requested_codes_follow_the_spec() {
        let many = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(requested(None, None).unwrap(), None);
        assert_eq!(requested(Some("A"), None).unwrap(), Some(many(&["A"])));
        assert_eq!(requested(None, Some(&[])).unwrap(), Some(vec![]));
        assert!(requested(Some("A"), Some(&many(&["B"]))).is_err());
        assert!(requested(None, Some(&many(&["A", "B", "A"]))).is_err());
        let max: Vec<String> = (0..20).map(|i| format!("C{i}")).collect();
        assert!(requested(None, Some(&max)).is_ok());
        let over: Vec<String> = (0..21).map(|i| format!("C{i}")).collect();
        assert!(requested(None, Some(&over)).is_err());
    }
}
