//! Entitlements, their files and their grants.
//!
//! An entitlement (`ent_`) stores the `IntegrationConfig` it was created with, checked against
//! its `integration_type`; reads answer `IntegrationConfigResponse`, where a `digital_files`
//! config shows its files with download URLs ([`super::uploads`]). Files are attached with a
//! `multipart/form-data` `POST /entitlements/{id}/files` ([`attach_file`], reached through
//! [`crate::upload_routes`]) and detached with `DELETE …/files/{file_id}` (204). `DELETE
//! /entitlements/{id}` soft-deletes (then 404) and detaches it from products. Products carry
//! entitlements through `entitlements: [{entitlement_id}]` on create and update
//! ([`product_summaries`]); their summaries follow later edits of the entitlement.
//!
//! Grants (`entg_`) are issued when a payment for a product carrying the entitlement succeeds
//! ([`grant_for_payment`]; a subscription's renewals reuse its live grant). A grant is inserted
//! `Pending` (`entitlement_grant.created`) and delivered at once where the emulator can:
//! `license_key` in `auto` mode issues a real license key (`license_key.created`), `digital_files`
//! lists the files (none attached: `Failed`, `entitlement_grant.failed`), `feature_flag` carries
//! its feature, Telegram and Framer deliver at once; all become `Delivered`
//! (`entitlement_grant.delivered`). As the live API documents, an auto license-key grant is
//! inserted already `Delivered`, so its `created` and `delivered` events arrive back to back.
//! `manual` license keys wait for `POST /grants/{grant_id}/license-key`; OAuth integrations
//! (GitHub, Discord, Notion) stay `Pending` until the customer connects, which the emulator does
//! not model. `DELETE /entitlements/{id}/grants/{grant_id}` revokes (`entitlement_grant.revoked`;
//! a grant's license key is disabled) and is idempotent; a full refund or the end of the
//! subscription revokes the grants it issued ([`revoke_issued`]). Events come from
//! [`crate::emit`] on the status changes.

use rusqlite::types::Value as SqlValue;
use serde_json::{Map, Value, json};

use super::common::{self, kind};
use super::{Ctx, Registry, licenses, uploads};
use crate::error::ApiError;
use crate::ids::{new_id, upper_code};
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record, State};
use dodo_types::models as m;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/entitlements", create);
    r.add("GET", "/entitlements/{id}", retrieve);
    r.add("PATCH", "/entitlements/{id}", update);
    r.add("GET", "/entitlements", list);
    r.add("DELETE", "/entitlements/{id}", delete);
    r.add("POST", "/entitlements/{id}/files", file_without_body);
    r.add("DELETE", "/entitlements/{id}/files/{file_id}", detach_file);
    r.add("GET", "/entitlements/{id}/grants", list_grants);
    r.add("DELETE", "/entitlements/{id}/grants/{grant_id}", revoke);
    r.add(
        "POST",
        "/grants/{grant_id}/license-key",
        fulfill_license_key,
    );
    r.add(
        "GET",
        "/customers/{customer_id}/entitlements",
        customer_entitlements,
    );
    r.add(
        "GET",
        "/customers/{customer_id}/entitlement-grants",
        customer_grants,
    );
}

/// Most entitlements one product may carry.
pub const MAX_PER_PRODUCT: usize = 50;

fn check<T: serde::de::DeserializeOwned + serde::Serialize>(
    config: &Value,
) -> Result<Value, ApiError> {
    let typed: T = serde_path_to_error::deserialize(config.clone()).map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid_field(&format!("integration_config.{path}"), e.into_inner())
    })?;
    Ok(serde_json::to_value(typed)?)
}

/// The stored (request-shaped) config of an integration type, checked.
fn checked_config(ctx: &Ctx<'_>, ty: &str, config: &Value) -> Result<Value, ApiError> {
    let mut out = match ty {
        "feature_flag" => check::<m::IntegrationConfigFeatureFlagConfig>(config)?,
        "github" => check::<m::IntegrationConfigGithubConfig>(config)?,
        "discord" => check::<m::IntegrationConfigDiscordConfig>(config)?,
        "telegram" => check::<m::IntegrationConfigTelegramConfig>(config)?,
        "figma" => check::<m::IntegrationConfigFigmaConfig>(config)?,
        "framer" => check::<m::IntegrationConfigFramerConfig>(config)?,
        "notion" => check::<m::IntegrationConfigNotionConfig>(config)?,
        "digital_files" => check::<m::IntegrationConfigDigitalFilesConfig>(config)?,
        "license_key" => check::<m::IntegrationConfigLicenseKeyConfig>(config)?,
        other => {
            return Err(ApiError::invalid_field(
                "integration_type",
                format!("unknown variant `{other}`"),
            ));
        }
    };
    if ty == "digital_files" {
        let ids = out["digital_file_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for id in &ids {
            let id = id.as_str().unwrap_or_default();
            if uploads::file_entry(ctx, id)?.is_none() {
                return Err(ApiError::invalid_field(
                    "integration_config.digital_file_ids",
                    format!("no file `{id}` has been uploaded"),
                ));
            }
        }
        out["digital_file_ids"] = dedup(ids);
    }
    if ty == "license_key" {
        if out["activations_limit"].as_i64().is_some_and(|n| n < 0) {
            return Err(ApiError::invalid_field(
                "integration_config.activations_limit",
                "must not be negative",
            ));
        }
        let count = out["duration_count"].as_i64();
        match (count, out["duration_interval"].as_str()) {
            (None, None) => {}
            (Some(n), Some(_)) if n > 0 => {}
            _ => {
                return Err(ApiError::invalid_field(
                    "integration_config.duration_count",
                    "give a positive `duration_count` together with `duration_interval`, or neither",
                ));
            }
        }
    }
    Ok(out)
}

fn dedup(ids: Vec<Value>) -> Value {
    let mut out: Vec<Value> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Value::Array(out)
}

/// The `ResolvedDigitalFile`s of stored file ids (files whose bytes are gone are skipped).
fn resolved_files(ctx: &Ctx<'_>, ids: &Value) -> Result<Vec<Value>, ApiError> {
    let mut files = Vec::new();
    for id in ids.as_array().into_iter().flatten() {
        if let Some(entry) = uploads::file_entry(ctx, id.as_str().unwrap_or_default())? {
            files.push(entry);
        }
    }
    Ok(files)
}

/// The `IntegrationConfigResponse` of a stored entitlement.
fn config_response(ctx: &Ctx<'_>, e: &Value) -> Result<Value, ApiError> {
    let config = &e["integration_config"];
    if e["integration_type"] != "digital_files" {
        return Ok(config.clone());
    }
    Ok(json!({"digital_files": {
        "files": resolved_files(ctx, &config["digital_file_ids"])?,
        "external_url": config.get("external_url").cloned().unwrap_or(Value::Null),
        "instructions": config.get("instructions").cloned().unwrap_or(Value::Null),
    }}))
}

/// The `EntitlementResponse` of a stored entitlement.
fn render(ctx: &Ctx<'_>, e: &Value) -> Result<Value, ApiError> {
    let mut out = e.clone();
    out["integration_config"] = config_response(ctx, e)?;
    Ok(out)
}

/// The `ProductEntitlementSummary` of a stored entitlement.
fn summary(ctx: &Ctx<'_>, e: &Value) -> Result<Value, ApiError> {
    Ok(json!({
        "id": e["id"],
        "name": e["name"],
        "description": e["description"],
        "integration_type": e["integration_type"],
        "integration_config": config_response(ctx, e)?,
    }))
}

fn get_live(ctx: &Ctx<'_>, id: &str) -> Result<Record, ApiError> {
    common::must_get(ctx, kind::ENTITLEMENT, "Entitlement", id)
}

/// The `entitlements` of a product from the `entitlements: [{entitlement_id}]` of a product
/// create or update (422 for an unknown entitlement or more than [`MAX_PER_PRODUCT`]).
pub fn product_summaries(
    ctx: &Ctx<'_>,
    attach: &[m::AttachProductEntitlementRequest],
) -> Result<Value, ApiError> {
    if attach.len() > MAX_PER_PRODUCT {
        return Err(ApiError::invalid_field(
            "entitlements",
            format!("at most {MAX_PER_PRODUCT} entitlements per product"),
        ));
    }
    let mut out: Vec<Value> = Vec::new();
    for (i, a) in attach.iter().enumerate() {
        if out.iter().any(|s| s["id"] == a.entitlement_id.as_str()) {
            continue;
        }
        let e = match ctx.db.get(kind::ENTITLEMENT, &a.entitlement_id)? {
            Some(r) if r.state != State::Deleted => r,
            _ => {
                return Err(ApiError::invalid_field(
                    &format!("entitlements[{i}].entitlement_id"),
                    format!("no entitlement `{}`", a.entitlement_id),
                ));
            }
        };
        out.push(summary(ctx, &e.data)?);
    }
    Ok(Value::Array(out))
}

/// The summaries for the `entitlements` field of a product create or update body, `None`
/// when the body has none.
pub fn attached(
    ctx: &Ctx<'_>,
    attach: Option<&[m::AttachProductEntitlementRequest]>,
) -> Result<Option<Value>, ApiError> {
    attach
        .map(|attach| product_summaries(ctx, attach))
        .transpose()
}

/// Rewrites (or, with `None`, removes) the summary of entitlement `id` on every product
/// carrying it.
fn refresh_products(ctx: &Ctx<'_>, id: &str, new: Option<&Value>) -> Result<(), ApiError> {
    let carrying = ctx.db.list(
        kind::PRODUCT,
        &[Filter::ArrayContains {
            array: "$.entitlements",
            field: "$.id",
            value: id.to_string(),
        }],
        u32::MAX,
        0,
    )?;
    for mut p in carrying {
        let Some(list) = p.data["entitlements"].as_array_mut() else {
            continue;
        };
        match new {
            Some(s) => list
                .iter_mut()
                .filter(|x| x["id"] == id)
                .for_each(|x| *x = s.clone()),
            None => list.retain(|x| x["id"] != id),
        }
        ctx.db.update(kind::PRODUCT, &p.id, &p.data)?;
    }
    Ok(())
}

fn type_name(t: &m::EntitlementIntegrationType) -> Result<String, ApiError> {
    Ok(serde_json::to_value(t)?
        .as_str()
        .unwrap_or_default()
        .to_string())
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: m::CreateEntitlementRequest = req.input()?;
    if input.name.trim().is_empty() {
        return Err(ApiError::invalid_field("name", "must not be empty"));
    }
    let ty = type_name(&input.integration_type)?;
    let config = checked_config(ctx, &ty, &common::to_json(&input.integration_config)?)?;
    let id = new_id("ent_");
    let now = ctx.now_string();
    let data = json!({
        "id": id,
        "business_id": ctx.env.business_id,
        "name": input.name,
        "description": input.description,
        "integration_type": ty,
        "integration_config": config,
        "is_active": true,
        "metadata": common::metadata_json(input.metadata.as_ref())?,
        "created_at": now,
        "updated_at": now,
    });
    ctx.db.insert(kind::ENTITLEMENT, &id, None, &now, &data)?;
    Ok(Reply::json(render(ctx, &data)?))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let e = get_live(ctx, req.param("id"))?;
    Ok(Reply::json(render(ctx, &e.data)?))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: m::PatchEntitlementRequest = req.input()?;
    let id = req.param("id");
    let mut e = get_live(ctx, id)?;
    if let Some(name) = &input.name {
        if name.trim().is_empty() {
            return Err(ApiError::invalid_field("name", "must not be empty"));
        }
        e.data["name"] = json!(name);
    }
    if input.description.is_some() {
        e.data["description"] = json!(input.description);
    }
    common::set_some(&mut e.data, "metadata", input.metadata.as_ref())?;
    if let Some(config) = &input.integration_config {
        let ty = e.data["integration_type"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        e.data["integration_config"] = checked_config(ctx, &ty, &common::to_json(config)?)?;
    }
    common::touch(ctx, &mut e.data);
    ctx.db.update(kind::ENTITLEMENT, id, &e.data)?;
    refresh_products(ctx, id, Some(&summary(ctx, &e.data)?))?;
    Ok(Reply::json(render(ctx, &e.data)?))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = vec![Filter::NotState(State::Deleted)];
    common::eq_filter(req, "integration_type", "$.integration_type", &mut filters);
    let page = req.page()?;
    let records = ctx
        .db
        .list(kind::ENTITLEMENT, &filters, page.size, page.offset())?;
    let items = records
        .iter()
        .map(|r| render(ctx, &r.data))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::items(items))
}

fn delete(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    get_live(ctx, id)?;
    ctx.db.set_state(kind::ENTITLEMENT, id, State::Deleted)?;
    refresh_products(ctx, id, None)?;
    Ok(Reply::empty())
}

fn file_without_body(_: &Ctx<'_>, _: &ApiRequest) -> Result<Reply, ApiError> {
    Err(ApiError::invalid_field(
        "file",
        "is required: send the file as multipart/form-data with a part named `file`",
    ))
}

/// Attaches an uploaded file to a `digital_files` entitlement (404 for an unknown entitlement,
/// 422 for another integration type); answers the new file id.
pub fn attach_file(
    ctx: &Ctx<'_>,
    id: &str,
    file_name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<String, ApiError> {
    let mut e = get_live(ctx, id)?;
    if e.data["integration_type"] != "digital_files" {
        return Err(ApiError::unprocessable(
            "INVALID_INTEGRATION_TYPE",
            format!("entitlement {id} is not a `digital_files` entitlement"),
        ));
    }
    let file_id = crate::ids::uuid_v4();
    uploads::store_file(ctx, &file_id, file_name, content_type, bytes)?;
    let config = &mut e.data["integration_config"];
    match config["digital_file_ids"].as_array_mut() {
        Some(ids) => ids.push(json!(file_id)),
        None => config["digital_file_ids"] = json!([file_id]),
    }
    common::touch(ctx, &mut e.data);
    ctx.db.update(kind::ENTITLEMENT, id, &e.data)?;
    refresh_products(ctx, id, Some(&summary(ctx, &e.data)?))?;
    Ok(file_id)
}

fn detach_file(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let file_id = req.param("file_id");
    let mut e = get_live(ctx, id)?;
    let ids = e.data["integration_config"]["digital_file_ids"].as_array_mut();
    let Some(ids) = ids.filter(|ids| ids.iter().any(|x| x == file_id)) else {
        return Err(ApiError::not_found("File", file_id));
    };
    ids.retain(|x| x != file_id);
    uploads::remove_file(ctx, file_id)?;
    common::touch(ctx, &mut e.data);
    ctx.db.update(kind::ENTITLEMENT, id, &e.data)?;
    refresh_products(ctx, id, Some(&summary(ctx, &e.data)?))?;
    Ok(Reply::empty())
}

// ---- grants ----

fn license_expiry(ctx: &Ctx<'_>, config: &Value) -> Result<Option<String>, ApiError> {
    let (Some(count), Some(interval)) = (
        config["duration_count"].as_i64(),
        config["duration_interval"].as_str(),
    ) else {
        return Ok(None);
    };
    crate::clock::add_interval(ctx.now(), interval, count)
        .map(|t| Some(crate::clock::format(t)))
        .ok_or_else(|| {
            ApiError::out_of_range("the entitlement's license key duration is too large")
        })
}

/// Issues a license key for a grant and marks the grant delivered.
fn deliver_key(
    ctx: &Ctx<'_>,
    grant: &mut Value,
    product: &Value,
    key: &str,
    limit: Option<i64>,
    expires_at: Option<String>,
    source: &str,
) -> Result<(), ApiError> {
    let payment = grant["payment_id"]
        .as_str()
        .and_then(|p| ctx.db.get(kind::PAYMENT, p).ok().flatten())
        .map(|r| r.data);
    let customer = grant["customer_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    licenses::insert_key(
        ctx,
        key,
        &customer,
        product,
        limit,
        expires_at.clone(),
        source,
        payment.as_ref(),
    )?;
    grant["license_key"] = json!({
        "key": key,
        "activations_used": 0,
        "activations_limit": limit,
        "expires_at": expires_at,
    });
    delivered(ctx, grant);
    Ok(())
}

fn delivered(ctx: &Ctx<'_>, grant: &mut Value) {
    let now = ctx.now_string();
    grant["status"] = json!("Delivered");
    grant["delivered_at"] = json!(now);
    grant["updated_at"] = json!(now);
}

/// Creates one grant of `entitlement` for a payment's customer and delivers it where the
/// emulator can (see the module docs for each integration).
fn issue_grant(
    ctx: &Ctx<'_>,
    entitlement: &Value,
    product: &Value,
    payment: &Value,
) -> Result<(), ApiError> {
    let customer = payment["customer"]["customer_id"]
        .as_str()
        .unwrap_or_default();
    let id = new_id("entg_");
    let now = ctx.now_string();
    let ty = entitlement["integration_type"].as_str().unwrap_or_default();
    let mut grant = json!({
        "id": id,
        "business_id": ctx.env.business_id,
        "brand_id": product["brand_id"],
        "entitlement_id": entitlement["id"],
        "customer_id": customer,
        "integration_type": ty,
        "status": "Pending",
        "metadata": {},
        "payment_id": payment["payment_id"],
        "subscription_id": payment["subscription_id"],
        "delivered_at": null,
        "revoked_at": null,
        "revocation_reason": null,
        "error_code": null,
        "error_message": null,
        "license_key": null,
        "digital_product_delivery": null,
        "feature": null,
        "oauth_url": null,
        "oauth_expires_at": null,
        "created_at": now,
        "updated_at": now,
    });
    let config = &entitlement["integration_config"];
    if ty == "license_key" && config["fulfillment_mode"] != "manual" {
        // License-key grants are inserted already delivered: `created` and `delivered`
        // arrive back to back, both with the key.
        let key = format!(
            "{}-{}-{}-{}",
            upper_code(4),
            upper_code(4),
            upper_code(4),
            upper_code(4)
        );
        let expires = license_expiry(ctx, config)?;
        let limit = config["activations_limit"].as_i64();
        deliver_key(ctx, &mut grant, product, &key, limit, expires, "auto")?;
        ctx.db
            .insert(kind::ENTITLEMENT_GRANT, &id, Some(customer), &now, &grant)?;
        return Ok(());
    }
    ctx.db
        .insert(kind::ENTITLEMENT_GRANT, &id, Some(customer), &now, &grant)?;
    match ty {
        "digital_files" => {
            let files = resolved_files(ctx, &config["digital_file_ids"])?;
            if files.is_empty() {
                grant["status"] = json!("Failed");
                grant["error_code"] = json!("NO_FILES_ATTACHED");
                grant["error_message"] = json!("The entitlement has no files to deliver.");
                grant["updated_at"] = json!(ctx.now_string());
            } else {
                grant["digital_product_delivery"] = json!({
                    "files": files,
                    "external_url": config.get("external_url").cloned().unwrap_or(Value::Null),
                    "instructions": config.get("instructions").cloned().unwrap_or(Value::Null),
                });
                delivered(ctx, &mut grant);
            }
        }
        "feature_flag" => {
            grant["feature"] = json!({
                "feature_type": config["feature_type"],
                "feature_id": config["feature_id"],
            });
            delivered(ctx, &mut grant);
        }
        // Platform-direct integrations: delivered once the platform call returns.
        "telegram" | "framer" => delivered(ctx, &mut grant),
        // OAuth integrations (and manual license keys) wait for the customer or the merchant.
        _ => return Ok(()),
    }
    ctx.db.update(kind::ENTITLEMENT_GRANT, &id, &grant)?;
    Ok(())
}

/// Issues the grants of a succeeded payment: one per entitlement of each product in its cart.
/// A subscription's later payments (renewals) issue nothing while its grant is not revoked.
pub fn grant_for_payment(ctx: &Ctx<'_>, payment: &Value) -> Result<(), ApiError> {
    let customer = payment["customer"]["customer_id"]
        .as_str()
        .unwrap_or_default();
    let subscription = payment["subscription_id"].as_str();
    for item in payment["product_cart"].as_array().into_iter().flatten() {
        let Some(product) = item["product_id"]
            .as_str()
            .map(|p| ctx.db.get(kind::PRODUCT, p))
            .transpose()?
            .flatten()
        else {
            continue;
        };
        for s in product.data["entitlements"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let ent_id = s["id"].as_str().unwrap_or_default();
            let Some(ent) = ctx.db.get(kind::ENTITLEMENT, ent_id)? else {
                continue;
            };
            if ent.state == State::Deleted {
                continue;
            }
            if let Some(sub) = subscription {
                let live = ctx.db.find_one(
                    kind::ENTITLEMENT_GRANT,
                    &[
                        Filter::Parent(customer.to_string()),
                        Filter::Eq("$.entitlement_id", SqlValue::Text(ent_id.to_string())),
                        Filter::Eq("$.subscription_id", SqlValue::Text(sub.to_string())),
                        Filter::Sql("json_extract(data, '$.status') <> 'Revoked'", Vec::new()),
                    ],
                )?;
                if live.is_some() {
                    continue;
                }
            }
            issue_grant(ctx, &ent.data, &product.data, payment)?;
        }
    }
    Ok(())
}

fn grant_filters(req: &ApiRequest, filters: &mut Vec<Filter>) {
    common::eq_filter(req, "status", "$.status", filters);
}

fn list_grants(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    get_live(ctx, id)?;
    let mut filters = vec![Filter::Eq(
        "$.entitlement_id",
        SqlValue::Text(id.to_string()),
    )];
    grant_filters(req, &mut filters);
    common::eq_filter(req, "customer_id", "$.customer_id", &mut filters);
    common::page_list(ctx, req, kind::ENTITLEMENT_GRANT, &filters, common::as_is)
}

/// Revokes one grant (a no-op for a revoked one); disables its license key.
fn revoke_grant(ctx: &Ctx<'_>, g: &mut Record, reason: &str) -> Result<(), ApiError> {
    if g.data["status"] == "Revoked" {
        return Ok(());
    }
    let now = ctx.now_string();
    g.data["status"] = json!("Revoked");
    g.data["revoked_at"] = json!(now);
    g.data["revocation_reason"] = json!(reason);
    g.data["updated_at"] = json!(now);
    if let Some(key) = g.data["license_key"]["key"].as_str()
        && let Some(mut lic) = ctx.db.find_one(
            kind::LICENSE_KEY,
            &[Filter::Eq("$.key", SqlValue::Text(key.to_string()))],
        )?
    {
        lic.data["status"] = json!("disabled");
        ctx.db.update(kind::LICENSE_KEY, &lic.id, &lic.data)?;
    }
    ctx.db.update(kind::ENTITLEMENT_GRANT, &g.id, &g.data)?;
    Ok(())
}

/// Why a grant is revoked by the payment lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation<'a> {
    /// The payment was refunded in full (its grants).
    Refunded {
        /// The payment.
        payment_id: &'a str,
    },
    /// The subscription ended (`cancelled` or `expired`; its grants).
    SubscriptionEnded {
        /// The subscription.
        subscription_id: &'a str,
        /// Its new status.
        status: &'a str,
    },
}

/// Revokes the grants a payment or subscription issued, as the live API does on a refund or
/// when a subscription ends (`entitlement_grant.revoked` for each).
pub fn revoke_issued(ctx: &Ctx<'_>, why: Revocation<'_>) -> Result<(), ApiError> {
    let (field, id, reason) = match why {
        Revocation::Refunded { payment_id } => {
            ("$.payment_id", payment_id, "payment_refunded".to_string())
        }
        Revocation::SubscriptionEnded {
            subscription_id,
            status,
        } => (
            "$.subscription_id",
            subscription_id,
            format!("subscription_{status}"),
        ),
    };
    let live = ctx.db.list(
        kind::ENTITLEMENT_GRANT,
        &[
            Filter::Eq(field, SqlValue::Text(id.to_string())),
            Filter::Sql("json_extract(data, '$.status') <> 'Revoked'", Vec::new()),
        ],
        u32::MAX,
        0,
    )?;
    for mut g in live {
        revoke_grant(ctx, &mut g, &reason)?;
    }
    Ok(())
}

/// [`revoke_issued`] for a subscription that became `status` (`cancelled`, `expired`).
pub fn subscription_ended(
    ctx: &Ctx<'_>,
    subscription_id: &str,
    status: &str,
) -> Result<(), ApiError> {
    revoke_issued(
        ctx,
        Revocation::SubscriptionEnded {
            subscription_id,
            status,
        },
    )
}

fn revoke(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let grant_id = req.param("grant_id");
    get_live(ctx, id)?;
    let mut g = match ctx.db.get(kind::ENTITLEMENT_GRANT, grant_id)? {
        Some(g) if g.data["entitlement_id"] == id => g,
        _ => return Err(ApiError::not_found("Grant", grant_id)),
    };
    revoke_grant(ctx, &mut g, "revoked_by_merchant")?;
    Ok(Reply::json(g.data))
}

fn fulfill_license_key(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: m::FulfillLicenseKeyRequest = req.input()?;
    let grant_id = req.param("grant_id");
    let mut g = common::must_get(ctx, kind::ENTITLEMENT_GRANT, "Grant", grant_id)?;
    if g.data["integration_type"] != "license_key" {
        return Err(ApiError::new(
            http::StatusCode::BAD_REQUEST,
            "INVALID_INTEGRATION_TYPE",
            format!("grant {grant_id} is not a license-key grant"),
        ));
    }
    if g.data["status"] != "Pending" {
        return Err(ApiError::conflict(
            "GRANT_NOT_PENDING",
            format!(
                "grant {grant_id} is {}, not Pending",
                g.data["status"].as_str().unwrap_or("?")
            ),
        ));
    }
    let key = input.key.trim();
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::invalid_field(
            "key",
            "must be 1 to 255 characters",
        ));
    }
    if input.activations_limit.is_some_and(|n| n < 0) {
        return Err(ApiError::invalid_field(
            "activations_limit",
            "must not be negative",
        ));
    }
    let ent_id = g.data["entitlement_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let config = ctx
        .db
        .get(kind::ENTITLEMENT, &ent_id)?
        .map(|r| r.data["integration_config"].clone())
        .unwrap_or(Value::Null);
    let limit = input
        .activations_limit
        .or_else(|| config["activations_limit"].as_i64());
    let expires = match input.expires_at.map(crate::clock::format) {
        Some(t) => Some(t),
        None => license_expiry(ctx, &config)?,
    };
    let product = g.data["payment_id"]
        .as_str()
        .and_then(|p| ctx.db.get(kind::PAYMENT, p).ok().flatten())
        .and_then(|pay| first_product(ctx, &pay.data, &ent_id))
        .unwrap_or_else(|| json!({"brand_id": g.data["brand_id"], "product_id": null}));
    deliver_key(ctx, &mut g.data, &product, key, limit, expires, "manual")?;
    ctx.db.update(kind::ENTITLEMENT_GRANT, grant_id, &g.data)?;
    Ok(Reply::json(g.data))
}

/// The first product in a payment's cart that carries the entitlement.
fn first_product(ctx: &Ctx<'_>, payment: &Value, ent_id: &str) -> Option<Value> {
    let items = payment["product_cart"].as_array()?;
    items.iter().find_map(|l| {
        let p = ctx
            .db
            .get(kind::PRODUCT, l["product_id"].as_str()?)
            .ok()??;
        p.data["entitlements"]
            .as_array()?
            .iter()
            .any(|s| s["id"] == ent_id)
            .then_some(p.data)
    })
}

fn customer_grants(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let customer = req.param("customer_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", customer)?;
    let mut filters = vec![Filter::Parent(customer.to_string())];
    grant_filters(req, &mut filters);
    common::eq_filter(req, "integration_type", "$.integration_type", &mut filters);
    common::page_list(ctx, req, kind::ENTITLEMENT_GRANT, &filters, common::as_is)
}

fn customer_entitlements(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let customer = req.param("customer_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", customer)?;
    let grants = ctx.db.list(
        kind::ENTITLEMENT_GRANT,
        &[Filter::Parent(customer.to_string())],
        u32::MAX,
        0,
    )?;
    let mut names: Map<String, Value> = Map::new();
    let mut items = Vec::with_capacity(grants.len());
    for g in &grants {
        let d = &g.data;
        let ent_id = d["entitlement_id"].as_str().unwrap_or_default();
        if !names.contains_key(ent_id) {
            let e = ctx.db.get(kind::ENTITLEMENT, ent_id)?.map(|r| r.data);
            names.insert(ent_id.to_string(), e.unwrap_or(Value::Null));
        }
        let e = &names[ent_id];
        items.push(json!({
            "grant_id": d["id"],
            "entitlement_id": ent_id,
            "entitlement_name": e["name"].as_str().unwrap_or(ent_id),
            "entitlement_description": e["description"],
            "integration_type": d["integration_type"],
            "status": d["status"].as_str().unwrap_or("Pending").to_ascii_lowercase(),
            "created_at": d["created_at"],
            "updated_at": d["updated_at"],
            "delivered_at": d.get("delivered_at").cloned().unwrap_or(Value::Null),
            "revoked_at": d.get("revoked_at").cloned().unwrap_or(Value::Null),
        }));
    }
    Ok(Reply::items(items))
}
