//! Brands: create, retrieve, update, list, archive (409 when already archived).
//!
//! Archiving moves the brand's products, live subscriptions and product collections to
//! `move_products_to` (a live brand of this business; the business id names the primary
//! brand) and answers the counts; without a target it is refused (422) while the brand holds
//! products or live subscriptions, as the spec says.
//!
//! The emulator creates one default brand at start; objects that take an optional `brand_id`
//! get it when none is given. Image upload (`PUT /brands/{id}/images`) is in [`super::uploads`].

use dodo_types::models::{ArchiveBrandRequest, CreateBrandRequest, PatchBrandRequest};
use serde_json::{Value, json};

use super::common::{self, kind, page_list, set_some};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record, State};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/brands", create);
    r.add("GET", "/brands/{id}", retrieve);
    r.add("PATCH", "/brands/{id}", update);
    r.add("GET", "/brands", list);
    r.add("POST", "/brands/{id}/archive", archive);
}

/// A `BrandResponse`.
pub fn brand_object(
    id: &str,
    business_id: &str,
    name: Option<&str>,
    statement_descriptor: &str,
    description: Option<&str>,
    support_email: Option<&str>,
    url: Option<&str>,
) -> Value {
    json!({
        "brand_id": id,
        "business_id": business_id,
        "name": name,
        "description": description,
        "statement_descriptor": statement_descriptor,
        "support_email": support_email,
        "url": url,
        "image": null,
        "enabled": true,
        "verification_enabled": false,
        "verification_status": "Success",
        "reason_for_hold": null,
        "archived_at": null,
    })
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateBrandRequest = req.input()?;
    let name = input.name.as_deref();
    let descriptor = match input.statement_descriptor {
        Some(d) => d,
        None => name
            .unwrap_or("EMULATOR")
            .to_ascii_uppercase()
            .chars()
            .take(22)
            .collect(),
    };
    let id = new_id("brnd_");
    let data = brand_object(
        &id,
        &ctx.env.business_id,
        name,
        &descriptor,
        input.description.as_deref(),
        input.support_email.as_deref(),
        input.url.as_deref(),
    );
    ctx.db
        .insert(kind::BRAND, &id, None, &ctx.now_string(), &data)?;
    Ok(Reply::json(data))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(ctx, kind::BRAND, "Brand", req.param("id"))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let input: PatchBrandRequest = req.input()?;
    let mut record = common::must_get(ctx, kind::BRAND, "Brand", id)?;
    let data = &mut record.data;
    set_some(data, "name", input.name.as_ref())?;
    set_some(data, "description", input.description.as_ref())?;
    set_some(
        data,
        "statement_descriptor",
        input.statement_descriptor.as_ref(),
    )?;
    set_some(data, "support_email", input.support_email.as_ref())?;
    set_some(data, "url", input.url.as_ref())?;
    if let Some(image) = input.image_id.as_deref() {
        record.data["image"] = json!(format!("{}/_emulator/images/{image}", ctx.env.base_url));
    }
    ctx.db.update(kind::BRAND, id, &record.data)?;
    Ok(Reply::json(record.data))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    page_list(
        ctx,
        req,
        kind::BRAND,
        &[Filter::NotState(State::Deleted)],
        common::as_is,
    )
}

fn archive(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let record = common::must_get(ctx, kind::BRAND, "Brand", id)?;
    if record.state == State::Archived {
        return Err(ApiError::conflict(
            "BRAND_ALREADY_ARCHIVED",
            format!("Brand {id} is already archived"),
        ));
    }
    let input: ArchiveBrandRequest = req.input()?;
    let target = match input.move_products_to.as_deref() {
        Some(t) => Some(move_target(ctx, id, t)?),
        None => None,
    };
    let (products, subscriptions, collections) = (
        holding(ctx, kind::PRODUCT, id, &[])?,
        holding(
            ctx,
            kind::SUBSCRIPTION,
            id,
            &["cancelled", "expired", "failed"],
        )?,
        holding(ctx, kind::PRODUCT_COLLECTION, id, &[])?,
    );
    let Some(target) = target else {
        if !products.is_empty() || !subscriptions.is_empty() {
            return Err(ApiError::invalid_field(
                "move_products_to",
                format!(
                    "is required: brand {id} holds {} products and {} live subscriptions",
                    products.len(),
                    subscriptions.len()
                ),
            ));
        }
        return finish_archive(ctx, record, None, [0, 0, 0]);
    };
    let counts = [products.len(), subscriptions.len(), collections.len()];
    for (k, records) in [
        (kind::PRODUCT, products),
        (kind::SUBSCRIPTION, subscriptions),
        (kind::PRODUCT_COLLECTION, collections),
    ] {
        for mut r in records {
            r.data["brand_id"] = json!(target);
            ctx.db.update(k, &r.id, &r.data)?;
        }
    }
    finish_archive(ctx, record, Some(target), counts)
}

/// The brand `move_products_to` names, checked as the spec says: a live brand of this
/// business other than the one archived; the business id names the primary (default) brand.
fn move_target(ctx: &Ctx<'_>, archived: &str, target: &str) -> Result<String, ApiError> {
    let target = if target == ctx.env.business_id {
        default_brand_id(ctx)?
    } else {
        target.to_string()
    };
    let problem = match ctx.db.get(kind::BRAND, &target)? {
        None => Some(format!("brand {target} does not exist")),
        Some(_) if target == archived => Some("is the brand being archived".to_string()),
        Some(r) if r.state != State::Active => Some(format!("brand {target} is archived")),
        Some(_) => None,
    };
    match problem {
        Some(p) => Err(ApiError::invalid_field("move_products_to", p)),
        None => Ok(target),
    }
}

/// The objects of `kind` on brand `brand_id`, except those whose `status` is in `skip`.
fn holding(
    ctx: &Ctx<'_>,
    kind: &str,
    brand_id: &str,
    skip: &[&str],
) -> Result<Vec<Record>, ApiError> {
    let on_brand = [Filter::Eq(
        "$.brand_id",
        rusqlite::types::Value::Text(brand_id.to_string()),
    )];
    Ok(ctx
        .db
        .list(kind, &on_brand, u32::MAX, 0)?
        .into_iter()
        .filter(|r| !skip.iter().any(|s| r.data["status"] == *s))
        .collect())
}

/// Archives the brand and answers what moved to `target` (`[products, subscriptions,
/// collections]`; without a target nothing moves, and its collections stay on it).
fn finish_archive(
    ctx: &Ctx<'_>,
    mut record: Record,
    target: Option<String>,
    moved: [usize; 3],
) -> Result<Reply, ApiError> {
    let now = ctx.now_string();
    let id = record.id.clone();
    record.data["archived_at"] = json!(now);
    record.data["enabled"] = json!(false);
    ctx.db.update(kind::BRAND, &id, &record.data)?;
    ctx.db.set_state(kind::BRAND, &id, State::Archived)?;
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(Reply::json(json!({
        "brand_id": id,
        "archived_at": now,
        "moved_to_brand_id": target,
        "products_moved": count(moved[0]),
        "subscriptions_moved": count(moved[1]),
        "collections_moved": count(moved[2]),
    })))
}

/// Meta key holding the default brand id.
const DEFAULT_BRAND_KEY: &str = "default_brand_id";

/// The id of the default brand, creating the brand on first use.
pub fn default_brand_id(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    if let Some(id) = ctx.db.meta_get(DEFAULT_BRAND_KEY)? {
        return Ok(id);
    }
    let id = new_id("brnd_");
    let now = ctx.now_string();
    let data = brand_object(
        &id,
        &ctx.env.business_id,
        Some("Default brand"),
        "EMULATOR",
        None,
        None,
        None,
    );
    ctx.db.insert(kind::BRAND, &id, None, &now, &data)?;
    ctx.db.meta_set(DEFAULT_BRAND_KEY, &id)?;
    Ok(id)
}

/// `brand_id` (must exist) or, when `None`, the default brand.
pub fn brand_or_default(ctx: &Ctx<'_>, brand_id: Option<&str>) -> Result<String, ApiError> {
    match brand_id {
        Some(id) => {
            super::common::must_get(ctx, kind::BRAND, "Brand", id)?;
            Ok(id.to_string())
        }
        None => default_brand_id(ctx),
    }
}
