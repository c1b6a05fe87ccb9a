//! Product collections with their groups and items: create, retrieve, update, list, archive
//! (`DELETE`) and unarchive; add, update and delete groups; add, update and delete items.
//!
//! A collection is stored as one object (`pdc_` id) whose `groups` hold `{group_id,
//! group_name, status, products: [{id, product_id, status}]}`; group and item ids are UUIDs
//! as in the spec. Every answer renders the product details of each item (name, price,
//! currency, counts of meters, files and addons, …) from the product as it is now. Items refer
//! to live products: an unknown or archived product, the same product twice in one group, or
//! two groups with the same name answer 422. A product's `product_collection_id` names the
//! newest collection that holds it. `DELETE` archives (200; a second one answers 410): the
//! collection leaves the default list and shows under `archived=true`, stays retrievable, and
//! `POST …/unarchive` brings it back, dropping the items whose products were archived
//! meanwhile (answered as `excluded_product_ids`). `PATCH` answers 200 with an empty body;
//! `group_order` and `product_order` must name exactly the existing ids. Collection images
//! are uploaded through `PUT /product-collections/{id}/images` (not here); `image_id` in a
//! `PATCH` points the collection at an uploaded image.

mod groups;
mod model;

use std::collections::HashSet;

use dodo_types::models::{CreateProductCollectionRequest, PatchProductCollectionRequest};
use serde_json::{Value, json};

use self::model::{WHAT, groups_mut, new_group, product_ids, render, reorder, save, sync_products};
use super::common::{self, kind, set_some, to_json};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record, State};

/// Registers the handlers of this group (collections, and their groups and items).
pub fn register(r: &mut Registry) {
    r.add("POST", "/product-collections", create);
    r.add("GET", "/product-collections/{id}", retrieve);
    r.add("PATCH", "/product-collections/{id}", update);
    r.add("GET", "/product-collections", list);
    r.add("DELETE", "/product-collections/{id}", archive);
    r.add("POST", "/product-collections/{id}/unarchive", unarchive);
    groups::register(r);
}

/// The optional settings a collection carries (set on create, set or cleared by `PATCH`).
const SETTINGS: &[&str] = &[
    "effective_at_on_downgrade",
    "effective_at_on_upgrade",
    "on_payment_failure",
    "proration_billing_mode_on_downgrade",
    "proration_billing_mode_on_upgrade",
];

/// A brand id given in a body: it must name a brand (422 otherwise).
fn check_brand(ctx: &Ctx<'_>, brand_id: &str) -> Result<(), ApiError> {
    match ctx.db.get(kind::BRAND, brand_id)? {
        Some(r) if r.state != State::Deleted => Ok(()),
        _ => Err(ApiError::invalid_field(
            "brand_id",
            format!("brand {brand_id} does not exist"),
        )),
    }
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateProductCollectionRequest = req.input()?;
    if input.name.trim().is_empty() {
        return Err(ApiError::invalid_field("name", "must not be empty"));
    }
    let brand_id = match &input.brand_id {
        Some(b) => {
            check_brand(ctx, b)?;
            b.clone()
        }
        None => super::brands::default_brand_id(ctx)?,
    };
    let mut groups: Vec<Value> = Vec::with_capacity(input.groups.len());
    let mut names: HashSet<&str> = HashSet::new();
    for (i, g) in input.groups.iter().enumerate() {
        let field = format!("groups[{i}]");
        if let Some(name) = g.group_name.as_deref()
            && !names.insert(name)
        {
            return Err(ApiError::invalid_field(
                &format!("{field}.group_name"),
                format!("a group named `{name}` already exists in this collection"),
            ));
        }
        groups.push(new_group(ctx, &field, g, &[])?);
    }
    let id = new_id("pdc_");
    let now = ctx.now_string();
    let data = json!({
        "id": id,
        "brand_id": brand_id,
        "name": input.name,
        "description": input.description,
        "image": null,
        "effective_at_on_downgrade": to_json(&input.effective_at_on_downgrade)?,
        "effective_at_on_upgrade": to_json(&input.effective_at_on_upgrade)?,
        "on_payment_failure": to_json(&input.on_payment_failure)?,
        "proration_billing_mode_on_downgrade": to_json(&input.proration_billing_mode_on_downgrade)?,
        "proration_billing_mode_on_upgrade": to_json(&input.proration_billing_mode_on_upgrade)?,
        "groups": groups,
        "created_at": now,
        "updated_at": now,
    });
    ctx.db
        .insert(kind::PRODUCT_COLLECTION, &id, None, &now, &data)?;
    sync_products(ctx, &product_ids(&data))?;
    Ok(Reply::json(render(ctx, &data)?))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let record = common::must_get(ctx, kind::PRODUCT_COLLECTION, WHAT, req.param("id"))?;
    Ok(Reply::json(render(ctx, &record.data)?))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: PatchProductCollectionRequest = req.input()?;
    let id = req.param("id");
    let mut record = common::must_get(ctx, kind::PRODUCT_COLLECTION, WHAT, id)?;
    if let Some(name) = &input.name {
        if name.trim().is_empty() {
            return Err(ApiError::invalid_field("name", "must not be empty"));
        }
        record.data["name"] = json!(name);
    }
    if let Some(brand) = &input.brand_id {
        check_brand(ctx, brand)?;
        record.data["brand_id"] = json!(brand);
    }
    // Each of these is absent (kept), `null` (cleared) or a value (set).
    let data = &mut record.data;
    set_some(data, "description", input.description.as_ref())?;
    super::uploads::patch_image(ctx, data, input.image_id.as_ref());
    set_some(data, SETTINGS[0], input.effective_at_on_downgrade.as_ref())?;
    set_some(data, SETTINGS[1], input.effective_at_on_upgrade.as_ref())?;
    set_some(data, SETTINGS[2], input.on_payment_failure.as_ref())?;
    set_some(
        data,
        SETTINGS[3],
        input.proration_billing_mode_on_downgrade.as_ref(),
    )?;
    set_some(
        data,
        SETTINGS[4],
        input.proration_billing_mode_on_upgrade.as_ref(),
    )?;
    if let Some(order) = &input.group_order {
        reorder(
            groups_mut(&mut record.data)?,
            order,
            "group_id",
            "group_order",
        )?;
    }
    save(ctx, id, &mut record.data, &[])?;
    Ok(Reply::empty())
}

/// The `ProductCollectionListItem` of a stored collection.
fn list_item(r: &Record) -> Value {
    let d = &r.data;
    json!({
        "id": d["id"],
        "name": d["name"],
        "description": d["description"],
        "image": d["image"],
        "products_count": product_ids(d).len(),
        "created_at": d["created_at"],
        "updated_at": d["updated_at"],
    })
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let archived = req.query_bool("archived")?.unwrap_or(false);
    let mut filters = vec![Filter::State(if archived {
        State::Archived
    } else {
        State::Active
    })];
    common::eq_filter(req, "brand_id", "$.brand_id", &mut filters);
    common::page_list(ctx, req, kind::PRODUCT_COLLECTION, &filters, list_item)
}

fn archive(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let record = common::must_get(ctx, kind::PRODUCT_COLLECTION, WHAT, id)?;
    if record.state == State::Archived {
        return Err(ApiError::gone(
            "PRODUCT_COLLECTION_ARCHIVED",
            format!("Product collection {id} is already deleted"),
        ));
    }
    ctx.db
        .set_state(kind::PRODUCT_COLLECTION, id, State::Archived)?;
    Ok(Reply::empty())
}

fn unarchive(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let mut record = common::must_get(ctx, kind::PRODUCT_COLLECTION, WHAT, id)?;
    let mut excluded: Vec<String> = Vec::new();
    for group in groups_mut(&mut record.data)? {
        let Some(items) = group["products"].as_array_mut() else {
            continue;
        };
        let mut kept = Vec::with_capacity(items.len());
        for item in items.drain(..) {
            let pid = item["product_id"].as_str().unwrap_or_default().to_string();
            let live = ctx
                .db
                .get(kind::PRODUCT, &pid)?
                .is_some_and(|p| p.state == State::Active);
            if live {
                kept.push(item);
            } else if !excluded.contains(&pid) {
                excluded.push(pid);
            }
        }
        *items = kept;
    }
    if !excluded.is_empty() {
        save(ctx, id, &mut record.data, &excluded)?;
    }
    ctx.db
        .set_state(kind::PRODUCT_COLLECTION, id, State::Active)?;
    Ok(Reply::json(json!({
        "message": format!("Product collection {id} unarchived"),
        "collection_id": id,
        "excluded_product_ids": excluded,
    })))
}
