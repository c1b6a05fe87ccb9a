//! License keys, their instances, and the public activate/deactivate/validate endpoints.
//!
//! Keys are created explicitly (`POST /license_keys`, 201, 409 `LICENSE_KEY_ALREADY_EXISTS`)
//! or issued automatically when a payment for a product with `license_key_enabled` succeeds.
//! A key is usable when its status is `active` and `expires_at` has not passed (retrieval
//! reports `expired` then). `POST /licenses/activate` answers 201 with a new instance, 403
//! `LICENSE_KEY_INACTIVE` for a disabled or expired key, 422
//! `LICENSE_KEY_ACTIVATION_LIMIT_REACHED` at the limit; `deactivate` removes an instance (200,
//! empty); `validate` answers `{"valid": bool}` (also `false` for an unknown key). The three
//! public endpoints need no API key.

use dodo_types::models::{
    ActivateLicenseKeyRequest, CreateLicenseKeyRequest, DeactivateLicenseKeyRequest,
    PatchLicenseKeyInstanceRequest, PatchLicenseKeyRequest, ValidateLicenseKeyRequest,
};
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::clock;
use crate::error::ApiError;
use crate::ids::{new_id, upper_code};
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/license_keys", create);
    r.add("GET", "/license_keys/{id}", retrieve);
    r.add("PATCH", "/license_keys/{id}", update);
    r.add("GET", "/license_keys", list);
    r.add("GET", "/license_key_instances/{id}", retrieve_instance);
    r.add("PATCH", "/license_key_instances/{id}", update_instance);
    r.add("GET", "/license_key_instances", list_instances);
    r.add("POST", "/licenses/activate", activate);
    r.add("POST", "/licenses/deactivate", deactivate);
    r.add("POST", "/licenses/validate", validate);
}

/// A key's status as of now (`expired` once `expires_at` has passed).
fn effective(ctx: &Ctx<'_>, mut key: Value) -> Value {
    let now = ctx.now_string();
    if key["status"] == "active"
        && key["expires_at"]
            .as_str()
            .is_some_and(|t| t <= now.as_str())
    {
        key["status"] = json!("expired");
    }
    key
}

/// Stores a new license key (409 `LICENSE_KEY_ALREADY_EXISTS` for a key in use).
#[allow(clippy::too_many_arguments)]
pub fn insert_key(
    ctx: &Ctx<'_>,
    key: &str,
    customer_id: &str,
    product: &Value,
    activations_limit: Option<i64>,
    expires_at: Option<String>,
    source: &str,
    payment: Option<&Value>,
) -> Result<Value, ApiError> {
    let existing = ctx.db.find_one(
        kind::LICENSE_KEY,
        &[Filter::Eq("$.key", SqlValue::Text(key.to_string()))],
    )?;
    if existing.is_some() {
        return Err(ApiError::conflict(
            "LICENSE_KEY_ALREADY_EXISTS",
            "a license key with this key already exists",
        ));
    }
    let id = new_id("lic_");
    let now = ctx.now_string();
    let data = json!({
        "id": id,
        "business_id": ctx.env.business_id,
        "brand_id": product["brand_id"],
        "key": key,
        "status": "active",
        "customer_id": customer_id,
        "product_id": product["product_id"],
        "payment_id": payment.map(|p| p["payment_id"].clone()),
        "subscription_id": payment.map(|p| p["subscription_id"].clone()),
        "instances_count": 0,
        "activations_limit": activations_limit,
        "expires_at": expires_at,
        "source": source,
        "created_at": now,
    });
    ctx.db.insert(kind::LICENSE_KEY, &id, None, &now, &data)?;
    Ok(data)
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateLicenseKeyRequest = req.input()?;
    if input.key.trim().is_empty() {
        return Err(ApiError::invalid_field("key", "must not be empty"));
    }
    common::must_get(ctx, kind::CUSTOMER, "Customer", &input.customer_id)?;
    let product = common::must_get(ctx, kind::PRODUCT, "Product", &input.product_id)?.data;
    let limit = input.activations_limit;
    if limit.is_some_and(|l| l < 0) {
        return Err(ApiError::invalid_field(
            "activations_limit",
            "must not be negative",
        ));
    }
    let data = insert_key(
        ctx,
        &input.key,
        &input.customer_id,
        &product,
        limit,
        input.expires_at.map(clock::format),
        "manual",
        None,
    )?;
    Ok(Reply::json(data))
}

/// Issues license keys for the license-enabled products of a succeeded payment.
pub fn issue_for_payment(ctx: &Ctx<'_>, payment: &Value) -> Result<(), ApiError> {
    let customer_id = payment["customer"]["customer_id"]
        .as_str()
        .unwrap_or_default();
    let Some(cart) = payment["product_cart"].as_array() else {
        return Ok(());
    };
    for item in cart {
        let Some(pid) = item["product_id"].as_str() else {
            continue;
        };
        let Some(product) = ctx.db.get(kind::PRODUCT, pid)? else {
            continue;
        };
        let p = &product.data;
        if p["license_key_enabled"] != json!(true) {
            continue;
        }
        let expires = p["license_key_duration"]
            .as_object()
            .and_then(|d| Some((d.get("count")?.as_i64()?, d.get("interval")?.as_str()?)))
            .map(|(count, interval)| {
                clock::add_interval(ctx.now(), interval, count)
                    .map(clock::format)
                    .ok_or_else(|| {
                        ApiError::out_of_range("the product's `license_key_duration` is too large")
                    })
            })
            .transpose()?;
        let key = format!(
            "{}-{}-{}-{}",
            upper_code(4),
            upper_code(4),
            upper_code(4),
            upper_code(4)
        );
        insert_key(
            ctx,
            &key,
            customer_id,
            p,
            p["license_key_activations_limit"].as_i64(),
            expires,
            "auto",
            Some(payment),
        )?;
    }
    Ok(())
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let record = common::must_get(ctx, kind::LICENSE_KEY, "License key", req.param("id"))?;
    Ok(Reply::json(effective(ctx, record.data)))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let input: PatchLicenseKeyRequest = req.input()?;
    let mut record = common::must_get(ctx, kind::LICENSE_KEY, "License key", id)?;
    // `activations_limit` and `expires_at`: absent keeps, `null` removes, a value sets.
    if let Some(limit) = input.activations_limit {
        if limit.is_some_and(|l| l < 0) {
            return Err(ApiError::invalid_field(
                "activations_limit",
                "must not be negative",
            ));
        }
        record.data["activations_limit"] = json!(limit);
    }
    if let Some(disabled) = input.disabled {
        record.data["status"] = json!(if disabled { "disabled" } else { "active" });
    }
    if let Some(t) = input.expires_at {
        record.data["expires_at"] = json!(t.map(clock::format));
    }
    save_key(ctx, &record)?;
    Ok(Reply::json(effective(ctx, record.data)))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = Vec::new();
    common::eq_filter(req, "customer_id", "$.customer_id", &mut filters);
    common::eq_filter(req, "status", "$.status", &mut filters);
    common::eq_filter(req, "product_id", "$.product_id", &mut filters);
    common::eq_filter(req, "source", "$.source", &mut filters);
    common::created_filters(req, &mut filters)?;
    common::page_list(ctx, req, kind::LICENSE_KEY, &filters, |r: &Record| {
        effective(ctx, r.data.clone())
    })
}

fn retrieve_instance(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(
        ctx,
        kind::LICENSE_KEY_INSTANCE,
        "License key instance",
        req.param("id"),
    )
}

fn update_instance(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let input: PatchLicenseKeyInstanceRequest = req.input()?;
    let mut record = common::must_get(ctx, kind::LICENSE_KEY_INSTANCE, "License key instance", id)?;
    record.data["name"] = json!(input.name);
    ctx.db
        .update(kind::LICENSE_KEY_INSTANCE, id, &record.data)?;
    Ok(Reply::json(record.data))
}

fn list_instances(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = Vec::new();
    if let Some(k) = req.query("license_key_id").filter(|k| !k.is_empty()) {
        filters.push(Filter::Parent(k.to_string()));
    }
    common::page_list(
        ctx,
        req,
        kind::LICENSE_KEY_INSTANCE,
        &filters,
        common::as_is,
    )
}

fn find_key(ctx: &Ctx<'_>, key: &str) -> Result<Option<Record>, ApiError> {
    Ok(ctx.db.find_one(
        kind::LICENSE_KEY,
        &[Filter::Eq("$.key", SqlValue::Text(key.to_string()))],
    )?)
}

fn activate(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: ActivateLicenseKeyRequest = req.input()?;
    let name = input.name;
    let mut record = find_key(ctx, &input.license_key)?
        .ok_or_else(|| ApiError::not_found("License key", "(given)"))?;
    let data = effective(ctx, record.data.clone());
    if data["status"] != "active" {
        return Err(ApiError::new(
            http::StatusCode::FORBIDDEN,
            "LICENSE_KEY_INACTIVE",
            format!(
                "the license key is {}",
                data["status"].as_str().unwrap_or("inactive")
            ),
        ));
    }
    let count = data["instances_count"].as_i64().unwrap_or(0);
    if data["activations_limit"]
        .as_i64()
        .is_some_and(|l| count >= l)
    {
        return Err(ApiError::unprocessable(
            "LICENSE_KEY_ACTIVATION_LIMIT_REACHED",
            "the license key has reached its activation limit",
        ));
    }
    let id = new_id("lki_");
    let now = ctx.now_string();
    let instance = json!({
        "id": id,
        "business_id": ctx.env.business_id,
        "name": name,
        "license_key_id": record.id,
        "created_at": now,
    });
    ctx.db.insert(
        kind::LICENSE_KEY_INSTANCE,
        &id,
        Some(&record.id),
        &now,
        &instance,
    )?;
    record.data["instances_count"] = json!(count + 1);
    save_key(ctx, &record)?;
    let product_id = record.data["product_id"].as_str().unwrap_or_default();
    let product_name = ctx
        .db
        .get(kind::PRODUCT, product_id)?
        .map(|p| p.data["name"].clone())
        .unwrap_or(Value::Null);
    let customer_id = record.data["customer_id"].as_str().unwrap_or_default();
    let customer = ctx
        .db
        .get(kind::CUSTOMER, customer_id)?
        .map(|c| common::customer_limited(&c.data))
        .unwrap_or_else(|| json!({"customer_id": customer_id, "name": "", "email": ""}));
    let mut out = instance;
    out["product"] = json!({ "product_id": product_id, "name": product_name });
    out["customer"] = customer;
    Ok(Reply::json(out))
}

/// Stores a changed key and what the entitlement grants that delivered it say of it (their
/// `license_key.activations_used`, `activations_limit` and `expires_at`).
fn save_key(ctx: &Ctx<'_>, record: &Record) -> Result<(), ApiError> {
    ctx.db.update(kind::LICENSE_KEY, &record.id, &record.data)?;
    let Some(key) = record.data["key"].as_str() else {
        return Ok(());
    };
    let delivered = [Filter::Eq(
        "$.license_key.key",
        SqlValue::Text(key.to_string()),
    )];
    for mut grant in ctx
        .db
        .list(kind::ENTITLEMENT_GRANT, &delivered, u32::MAX, 0)?
    {
        let k = &mut grant.data["license_key"];
        k["activations_used"] = record.data["instances_count"].clone();
        k["activations_limit"] = record.data["activations_limit"].clone();
        k["expires_at"] = record.data["expires_at"].clone();
        ctx.db
            .update(kind::ENTITLEMENT_GRANT, &grant.id, &grant.data)?;
    }
    Ok(())
}

fn deactivate(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: DeactivateLicenseKeyRequest = req.input()?;
    let instance_id = input.license_key_instance_id.as_str();
    let mut record = find_key(ctx, &input.license_key)?
        .ok_or_else(|| ApiError::not_found("License key", "(given)"))?;
    match ctx.db.get(kind::LICENSE_KEY_INSTANCE, instance_id)? {
        Some(i) if i.data["license_key_id"] == record.id.as_str() => {}
        _ => return Err(ApiError::not_found("License key instance", instance_id)),
    }
    ctx.db.delete(kind::LICENSE_KEY_INSTANCE, instance_id)?;
    let count = record.data["instances_count"].as_i64().unwrap_or(1);
    record.data["instances_count"] = json!((count - 1).max(0));
    save_key(ctx, &record)?;
    Ok(Reply::empty())
}

fn validate(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: ValidateLicenseKeyRequest = req.input()?;
    let instance = input.license_key_instance_id.as_deref();
    let valid = match find_key(ctx, &input.license_key)? {
        None => false,
        Some(record) => {
            let active = effective(ctx, record.data)["status"] == "active";
            let instance_ok = match instance {
                None => true,
                Some(i) => ctx
                    .db
                    .get(kind::LICENSE_KEY_INSTANCE, i)?
                    .is_some_and(|r| r.data["license_key_id"] == record.id.as_str()),
            };
            active && instance_ok
        }
    };
    Ok(Reply::json(json!({ "valid": valid })))
}
