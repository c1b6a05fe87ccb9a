//! Products: one-time, recurring and usage-based prices; archive (`DELETE`) and unarchive.
//!
//! `DELETE /products/{id}` archives (200, empty); the product stays retrievable, leaves the
//! default list (`archived=false`), and a second `DELETE` or a `PATCH` answers 410
//! `PRODUCT_ARCHIVED` until `POST /products/{id}/unarchive`. `PATCH` answers 200 with an
//! empty body, as the spec says; `pricing_mode` set to `null` clears it, and a change archives
//! the localized prices that no longer match ([`super::localized_prices`]). Images and files
//! are uploaded through [`super::uploads`] (the deprecated `digital_product_delivery` keeps its
//! `external_url`, `instructions` and, on `PATCH`, the chosen uploaded `files`), entitlements attach through
//! [`super::entitlements`] and credit entitlements through [`super::credit_mappings`]; translations and short links have their own modules
//! ([`super::translations`], [`super::short_links`]).

use dodo_types::models::{CreateProductRequest, PatchProductRequest};
use serde_json::{Value, json};

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record, State};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/products", create);
    r.add("GET", "/products/{id}", retrieve);
    r.add("PATCH", "/products/{id}", update);
    r.add("GET", "/products", list);
    r.add("DELETE", "/products/{id}", archive);
    r.add("POST", "/products/{id}/unarchive", unarchive);
}

const TAX_CATEGORIES: &[&str] = &[
    "digital_products",
    "saas",
    "e_book",
    "edtech",
    "live_tutoring",
];
const INTERVALS: &[&str] = &["Day", "Week", "Month", "Year"];

/// The amount a product charges per unit (`price`, or `fixed_price` for usage-based prices).
pub fn unit_amount(product: &Value) -> i64 {
    let price = &product["price"];
    price["price"]
        .as_i64()
        .or_else(|| price["fixed_price"].as_i64())
        .unwrap_or(0)
}

/// The currency of a product's price.
pub fn currency(product: &Value) -> Value {
    product["price"]["currency"].clone()
}

/// What a paid trial charges per unit when it starts (`price.trial_amount`, in the price's
/// currency); `None` for a free trial or a price without one.
pub fn trial_amount(product: &Value) -> Option<i64> {
    product["price"]["trial_amount"].as_i64()
}

/// Whether a paid trial's charge is reduced by discount codes (`price.trial_apply_discounts`,
/// default false).
pub fn trial_applies_discounts(product: &Value) -> bool {
    product["price"]["trial_apply_discounts"] == true
}

/// Whether a product bills on a schedule (recurring or usage-based).
pub fn is_recurring(product: &Value) -> bool {
    product["is_recurring"].as_bool().unwrap_or(false)
}

/// A paid trial (`trial_amount`, "requires `trial_period_days > 0`") costs 0..=the price.
fn check_trial_amount(price: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    let Some(amount) = price.get("trial_amount").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let amount = amount.as_i64().filter(|a| *a >= 0).ok_or_else(|| {
        ApiError::invalid_field("price.trial_amount", "must be a non-negative integer")
    })?;
    if price
        .get("trial_period_days")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        <= 0
    {
        return Err(ApiError::invalid_field(
            "price.trial_amount",
            "requires `trial_period_days` > 0 (a paid trial needs a trial)",
        ));
    }
    let full = price.get("price").and_then(Value::as_i64).unwrap_or(0);
    if amount > full {
        return Err(ApiError::invalid_field(
            "price.trial_amount",
            format!("must not exceed the price ({full})"),
        ));
    }
    Ok(())
}

fn check_price(price: &Value) -> Result<Value, ApiError> {
    let obj = price
        .as_object()
        .ok_or_else(|| ApiError::invalid_field("price", "expected an object"))?;
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_field("price.type", "is required"))?;
    let amount_field = match ty {
        "one_time_price" | "recurring_price" => "price",
        "usage_based_price" => "fixed_price",
        other => {
            return Err(ApiError::invalid_field(
                "price.type",
                format!("unknown variant `{other}`"),
            ));
        }
    };
    let amount = obj
        .get(amount_field)
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::invalid_field(&format!("price.{amount_field}"), "is required"))?;
    if amount < 0 {
        return Err(ApiError::invalid_field(
            &format!("price.{amount_field}"),
            "must not be negative",
        ));
    }
    if !obj.get("currency").is_some_and(Value::is_string) {
        return Err(ApiError::invalid_field("price.currency", "is required"));
    }
    let mut out = obj.clone();
    let mut default = |k: &str, v: Value| {
        if out.get(k).is_none_or(Value::is_null) {
            out.insert(k.to_string(), v);
        }
    };
    default("discount", json!(0));
    default("purchasing_power_parity", json!(false));
    default("tax_inclusive", Value::Null);
    if ty != "one_time_price" {
        for f in ["payment_frequency_interval", "subscription_period_interval"] {
            let v = obj
                .get(f)
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid_field(&format!("price.{f}"), "is required"))?;
            if !INTERVALS.contains(&v) {
                return Err(ApiError::invalid_field(
                    &format!("price.{f}"),
                    format!("unknown variant `{v}`"),
                ));
            }
        }
        for f in ["payment_frequency_count", "subscription_period_count"] {
            if obj.get(f).and_then(Value::as_i64).is_none() {
                return Err(ApiError::invalid_field(
                    &format!("price.{f}"),
                    "is required",
                ));
            }
        }
        if ty == "recurring_price" {
            default("trial_period_days", json!(0));
            check_trial_amount(obj)?;
        }
    } else {
        default("pay_what_you_want", json!(false));
    }
    Ok(Value::Object(out))
}

/// Applies a `digital_product_delivery` patch (deprecated by the spec in favour of
/// entitlements, still served): `external_url` and `instructions` replace the stored ones
/// when given; `files` keeps exactly the listed ids among the files uploaded to the product
/// (`PUT /products/{id}/files`), 422 naming an id that is not one of them.
fn patch_delivery(
    delivery: &mut Value,
    patch: &dodo_types::models::PatchDigitalProductDeliveryRequest,
) -> Result<(), ApiError> {
    if !delivery.is_object() {
        *delivery = json!({"external_url": null, "instructions": null, "files": []});
    }
    if let Some(url) = &patch.external_url {
        delivery["external_url"] = json!(url);
    }
    if let Some(text) = &patch.instructions {
        delivery["instructions"] = json!(text);
    }
    if let Some(ids) = &patch.files {
        let uploaded = delivery["files"].as_array().cloned().unwrap_or_default();
        let mut kept = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let Some(file) = uploaded.iter().find(|f| f["file_id"] == id.as_str()) else {
                return Err(ApiError::invalid_field(
                    &format!("digital_product_delivery.files[{i}]"),
                    format!("`{id}` is not a file uploaded to this product"),
                ));
            };
            if !kept.contains(file) {
                kept.push(file.clone());
            }
        }
        delivery["files"] = json!(kept);
    }
    Ok(())
}

fn check_tax_category(v: &str) -> Result<(), ApiError> {
    if TAX_CATEGORIES.contains(&v) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "tax_category",
            format!("unknown variant `{v}`"),
        ))
    }
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateProductRequest = req.input()?;
    check_tax_category(input.tax_category.as_str())?;
    // The dispatcher stored the body as this same typed value serialised, so `json!` gives
    // back exactly the JSON it validated; `check_price` fills the defaults.
    let price = check_price(&json!(&input.price))?;
    // Every meter of a usage-based price must exist (422 naming it otherwise).
    super::usage::price_meters(ctx, &price)?;
    let brand_id = crate::resources::brands::brand_or_default(ctx, input.brand_id.as_deref())?;
    let id = new_id("pdt_");
    let now = ctx.now_string();
    let recurring = price["type"] != "one_time_price";
    let data = json!({
        "product_id": id,
        "business_id": ctx.env.business_id,
        "brand_id": brand_id,
        "name": input.name,
        "description": input.description,
        "price": price,
        "is_recurring": recurring,
        "tax_category": input.tax_category,
        "metadata": input.metadata.unwrap_or_default(),
        "image": null,
        "addons": super::addons::offered(ctx, "addons", input.addons.as_deref().unwrap_or_default())?,
        "credit_entitlements": match input.credit_entitlements.as_deref() {
            Some(items) => super::credit_mappings::attach(ctx, "credit_entitlements", items, &Value::Null)?,
            None => json!([]),
        },
        "entitlements": super::entitlements::attached(ctx, input.entitlements.as_deref())?
            .unwrap_or_else(|| json!([])),
        "digital_product_delivery": input.digital_product_delivery.as_ref().map(|d| json!({
            "external_url": d.external_url, "instructions": d.instructions, "files": [],
        })),
        "license_key_enabled": input.license_key_enabled.unwrap_or(false),
        "license_key_activations_limit": input.license_key_activations_limit,
        "license_key_activation_message": input.license_key_activation_message,
        "license_key_duration": input.license_key_duration,
        "pricing_mode": input.pricing_mode,
        "product_collection_id": null,
        "created_at": now,
        "updated_at": now,
    });
    ctx.db.insert(kind::PRODUCT, &id, None, &now, &data)?;
    Ok(Reply::json(data))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(ctx, kind::PRODUCT, "Product", req.param("id"))
}

fn archived_error(id: &str) -> ApiError {
    ApiError::gone("PRODUCT_ARCHIVED", format!("Product {id} is archived"))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let mut record = common::must_get(ctx, kind::PRODUCT, "Product", id)?;
    if record.state == State::Archived {
        return Err(archived_error(id));
    }
    let input: PatchProductRequest = req.input()?;
    if let Some(tax) = &input.tax_category {
        check_tax_category(tax.as_str())?;
    }
    if let Some(price) = &input.price {
        let price = check_price(&json!(price))?;
        record.data["is_recurring"] = json!(price["type"] != "one_time_price");
        record.data["price"] = price;
    }
    if let Some(brand) = &input.brand_id {
        common::must_get(ctx, kind::BRAND, "Brand", brand)?;
    }
    // A `null` field means "unchanged", as an absent one does.
    let data = &mut record.data;
    common::set_some(data, "name", input.name.as_ref())?;
    common::set_some(data, "description", input.description.as_ref())?;
    common::set_some(data, "tax_category", input.tax_category.as_ref())?;
    common::set_some(data, "metadata", input.metadata.as_ref())?;
    common::set_some(data, "brand_id", input.brand_id.as_ref())?;
    if let Some(ids) = &input.addons {
        data["addons"] = super::addons::offered(ctx, "addons", ids)?;
    }
    common::set_some(
        data,
        "license_key_enabled",
        input.license_key_enabled.as_ref(),
    )?;
    common::set_some(
        data,
        "license_key_activations_limit",
        input.license_key_activations_limit.as_ref(),
    )?;
    common::set_some(
        data,
        "license_key_activation_message",
        input.license_key_activation_message.as_ref(),
    )?;
    common::set_some(
        data,
        "license_key_duration",
        input.license_key_duration.as_ref(),
    )?;
    // `pricing_mode: null` clears the mode; a change archives the rules that no longer match.
    if let Some(mode) = &input.pricing_mode {
        let mode = common::to_json(mode)?;
        if mode != record.data["pricing_mode"] {
            super::localized_prices::on_pricing_mode_change(ctx, id, &mode)?;
            record.data["pricing_mode"] = mode;
        }
    }
    if let Some(patch) = &input.digital_product_delivery {
        patch_delivery(&mut record.data["digital_product_delivery"], patch)?;
    }
    if let Some(image) = &input.image_id {
        record.data["image"] = json!(format!("{}/_emulator/images/{image}", ctx.env.base_url));
    }
    if let Some(entitlements) = super::entitlements::attached(ctx, input.entitlements.as_deref())? {
        record.data["entitlements"] = entitlements;
    }
    // A list replaces every mapping (`[]` removes them all); absent or `null` keeps them.
    if let Some(items) = input.credit_entitlements.as_deref() {
        record.data["credit_entitlements"] = super::credit_mappings::attach(
            ctx,
            "credit_entitlements",
            items,
            &record.data["credit_entitlements"],
        )?;
    }
    common::touch(ctx, &mut record.data);
    ctx.db.update(kind::PRODUCT, id, &record.data)?;
    Ok(Reply::empty())
}

/// The `GetProductsListResponseItem` of a product.
fn list_item(r: &Record) -> Value {
    let p = &r.data;
    json!({
        "product_id": p["product_id"],
        "business_id": p["business_id"],
        "name": p["name"],
        "description": p["description"],
        "image": p["image"],
        "is_recurring": p["is_recurring"],
        "tax_category": p["tax_category"],
        "metadata": p["metadata"],
        "entitlements": p["entitlements"],
        "price": unit_amount(p),
        "currency": currency(p),
        "price_detail": p["price"],
        "tax_inclusive": p["price"]["tax_inclusive"],
        "pricing_mode": p["pricing_mode"],
        "created_at": p["created_at"],
        "updated_at": p["updated_at"],
    })
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let archived = req.query_bool("archived")?.unwrap_or(false);
    let mut filters = vec![Filter::State(if archived {
        State::Archived
    } else {
        State::Active
    })];
    common::bool_filter(req, "recurring", "$.is_recurring", &mut filters)?;
    common::eq_filter(req, "brand_id", "$.brand_id", &mut filters);
    common::page_list(ctx, req, kind::PRODUCT, &filters, list_item)
}

fn archive(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let record = common::must_get(ctx, kind::PRODUCT, "Product", id)?;
    if record.state == State::Archived {
        return Err(archived_error(id));
    }
    ctx.db.set_state(kind::PRODUCT, id, State::Archived)?;
    Ok(Reply::empty())
}

fn unarchive(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    common::must_get(ctx, kind::PRODUCT, "Product", id)?;
    ctx.db.set_state(kind::PRODUCT, id, State::Active)?;
    Ok(Reply::empty())
}
