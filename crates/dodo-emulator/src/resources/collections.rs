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

use std::collections::HashSet;

use dodo_types::models::{
    AddProductsToGroupRequest, CreateProductCollectionRequest, GroupProduct,
    PatchProductCollectionGroupProductRequest, PatchProductCollectionGroupRequest,
    PatchProductCollectionRequest, ProductCollectionGroup,
};
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::{new_id, uuid_v4};
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record, State};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/product-collections", create);
    r.add("GET", "/product-collections/{id}", retrieve);
    r.add("PATCH", "/product-collections/{id}", update);
    r.add("GET", "/product-collections", list);
    r.add("DELETE", "/product-collections/{id}", archive);
    r.add("POST", "/product-collections/{id}/unarchive", unarchive);
    r.add("POST", "/product-collections/{id}/groups", add_group);
    r.add(
        "PATCH",
        "/product-collections/{id}/groups/{group_id}",
        update_group,
    );
    r.add(
        "DELETE",
        "/product-collections/{id}/groups/{group_id}",
        delete_group,
    );
    r.add(
        "POST",
        "/product-collections/{id}/groups/{group_id}/items",
        add_items,
    );
    r.add(
        "PATCH",
        "/product-collections/{id}/groups/{group_id}/items/{item_id}",
        update_item,
    );
    r.add(
        "DELETE",
        "/product-collections/{id}/groups/{group_id}/items/{item_id}",
        delete_item,
    );
}

const WHAT: &str = "Product collection";

/// The optional settings a collection carries (set on create, set or cleared by `PATCH`).
const SETTINGS: &[&str] = &[
    "effective_at_on_downgrade",
    "effective_at_on_upgrade",
    "on_payment_failure",
    "proration_billing_mode_on_downgrade",
    "proration_billing_mode_on_upgrade",
];

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    Ok(serde_json::to_value(v)?)
}

/// Checks that a product can be put in a collection (it exists and is not archived).
fn check_product(ctx: &Ctx<'_>, field: &str, product_id: &str) -> Result<(), ApiError> {
    match ctx.db.get(kind::PRODUCT, product_id)? {
        Some(r) if r.state == State::Active => Ok(()),
        Some(r) if r.state == State::Archived => Err(ApiError::invalid_field(
            field,
            format!("product {product_id} is archived"),
        )),
        _ => Err(ApiError::invalid_field(
            field,
            format!("product {product_id} does not exist"),
        )),
    }
}

/// New items for `products`, checked against the products and the group's existing items.
fn new_items(
    ctx: &Ctx<'_>,
    field: &str,
    products: &[GroupProduct],
    existing: &[Value],
) -> Result<Vec<Value>, ApiError> {
    let mut taken: HashSet<&str> = existing
        .iter()
        .filter_map(|item| item["product_id"].as_str())
        .collect();
    let mut out: Vec<Value> = Vec::with_capacity(products.len());
    for (i, p) in products.iter().enumerate() {
        let f = format!("{field}[{i}].product_id");
        if !taken.insert(p.product_id.as_str()) {
            return Err(ApiError::invalid_field(
                &f,
                format!("product {} is already in this group", p.product_id),
            ));
        }
        check_product(ctx, &f, &p.product_id)?;
        out.push(json!({
            "id": uuid_v4(),
            "product_id": p.product_id,
            "status": p.status.unwrap_or(true),
        }));
    }
    Ok(out)
}

/// Checks that a group name is free in the collection (unnamed groups never clash).
fn check_group_name(
    groups: &[Value],
    name: Option<&str>,
    except: Option<&str>,
    field: &str,
) -> Result<(), ApiError> {
    let Some(name) = name else { return Ok(()) };
    let clash = groups
        .iter()
        .any(|g| g["group_name"].as_str() == Some(name) && g["group_id"].as_str() != except);
    if clash {
        return Err(ApiError::invalid_field(
            field,
            format!("a group named `{name}` already exists in this collection"),
        ));
    }
    Ok(())
}

/// A new stored group.
fn new_group(
    ctx: &Ctx<'_>,
    field: &str,
    group: &ProductCollectionGroup,
    siblings: &[Value],
) -> Result<Value, ApiError> {
    check_group_name(
        siblings,
        group.group_name.as_deref(),
        None,
        &format!("{field}.group_name"),
    )?;
    let items = new_items(ctx, &format!("{field}.products"), &group.products, &[])?;
    Ok(json!({
        "group_id": uuid_v4(),
        "group_name": group.group_name,
        "status": group.status.unwrap_or(true),
        "products": items,
    }))
}

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

/// The `ProductCollectionProductResponse` of a stored item (details from its product).
fn render_item(ctx: &Ctx<'_>, item: &Value) -> Result<Value, ApiError> {
    let product_id = item["product_id"].as_str().unwrap_or_default();
    let product = ctx
        .db
        .get(kind::PRODUCT, product_id)?
        .map(|r| r.data)
        .unwrap_or(Value::Null);
    let price = &product["price"];
    let len = |v: &Value| v.as_array().map_or(0, Vec::len);
    Ok(json!({
        "id": item["id"],
        "product_id": product_id,
        "status": item["status"],
        "name": product["name"],
        "description": product["description"],
        "is_recurring": product["is_recurring"].as_bool().unwrap_or(false),
        "license_key_enabled": product["license_key_enabled"].as_bool().unwrap_or(false),
        "meters_count": len(&price["meters"]),
        "files_count": len(&product["digital_product_delivery"]["files"]),
        "addons_count": len(&product["addons"]),
        "has_credit_entitlements": len(&product["credit_entitlements"]) > 0,
        "price": price["price"].as_i64().or_else(|| price["fixed_price"].as_i64()),
        "price_detail": if price.is_object() { price.clone() } else { Value::Null },
        "currency": price["currency"],
        "tax_category": product["tax_category"],
        "tax_inclusive": price["tax_inclusive"],
    }))
}

/// The `ProductCollectionGroupResponse` of a stored group.
fn render_group(ctx: &Ctx<'_>, group: &Value) -> Result<Value, ApiError> {
    let products = group["products"]
        .as_array()
        .map(|items| items.iter().map(|i| render_item(ctx, i)).collect())
        .transpose()?
        .unwrap_or_default();
    Ok(json!({
        "group_id": group["group_id"],
        "group_name": group["group_name"],
        "status": group["status"],
        "products": Value::Array(products),
    }))
}

/// The `ProductCollectionResponse` of a stored collection.
fn render(ctx: &Ctx<'_>, data: &Value) -> Result<Value, ApiError> {
    let mut out = data.clone();
    let groups = groups_of(data)
        .iter()
        .map(|g| render_group(ctx, g))
        .collect::<Result<Vec<_>, _>>()?;
    out["groups"] = Value::Array(groups);
    Ok(out)
}

fn groups_of(data: &Value) -> &[Value] {
    data["groups"].as_array().map_or(&[], Vec::as_slice)
}

fn groups_mut(data: &mut Value) -> Result<&mut Vec<Value>, ApiError> {
    data["groups"]
        .as_array_mut()
        .ok_or_else(|| ApiError::internal("stored collection has no groups"))
}

/// Distinct product ids of a stored collection.
fn product_ids(data: &Value) -> Vec<String> {
    let mut ids: Vec<String> = groups_of(data)
        .iter()
        .flat_map(|g| g["products"].as_array().map_or(&[][..], Vec::as_slice))
        .filter_map(|i| i["product_id"].as_str().map(str::to_string))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Points each product's `product_collection_id` at the newest collection holding it.
fn sync_products<'a>(
    ctx: &Ctx<'_>,
    products: impl IntoIterator<Item = &'a String>,
) -> Result<(), ApiError> {
    for product_id in products {
        let Some(mut product) = ctx.db.get(kind::PRODUCT, product_id)? else {
            continue;
        };
        let holder = ctx.db.find_one(
            kind::PRODUCT_COLLECTION,
            &[Filter::Sql(
                "EXISTS (SELECT 1 FROM json_each(data, '$.groups') AS g, \
                 json_each(g.value, '$.products') AS p \
                 WHERE json_extract(p.value, '$.product_id') = ?)",
                vec![SqlValue::Text(product_id.clone())],
            )],
        )?;
        let wanted = holder.map_or(Value::Null, |r| Value::String(r.id));
        if product.data["product_collection_id"] != wanted {
            product.data["product_collection_id"] = wanted;
            ctx.db.update(kind::PRODUCT, product_id, &product.data)?;
        }
    }
    Ok(())
}

/// Stores a changed collection (touching `updated_at`) and re-points the products whose
/// membership may have changed.
fn save(ctx: &Ctx<'_>, id: &str, data: &mut Value, touched: &[String]) -> Result<(), ApiError> {
    common::touch(ctx, data);
    ctx.db.update(kind::PRODUCT_COLLECTION, id, data)?;
    sync_products(ctx, touched)
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

/// Checks that `order` names exactly the ids of `items` (by `key`) and reorders them.
fn reorder(
    items: &mut Vec<Value>,
    order: &[String],
    key: &str,
    field: &str,
) -> Result<(), ApiError> {
    let mut current: Vec<&str> = items.iter().filter_map(|g| g[key].as_str()).collect();
    let mut wanted: Vec<&str> = order.iter().map(String::as_str).collect();
    current.sort_unstable();
    wanted.sort_unstable();
    if current != wanted {
        return Err(ApiError::invalid_field(
            field,
            format!(
                "must list each of the {} existing ids exactly once",
                current.len()
            ),
        ));
    }
    let mut sorted = Vec::with_capacity(items.len());
    for id in order {
        if let Some(pos) = items
            .iter()
            .position(|g| g[key].as_str() == Some(id.as_str()))
        {
            sorted.push(items.remove(pos));
        }
    }
    *items = sorted;
    Ok(())
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: PatchProductCollectionRequest = req.input()?;
    let id = req.param("id");
    let mut record = common::must_get(ctx, kind::PRODUCT_COLLECTION, WHAT, id)?;
    let present = |k: &str| req.body_obj().contains_key(k);
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
    if present("description") {
        record.data["description"] = json!(input.description);
    }
    if present("image_id") {
        record.data["image"] = match &input.image_id {
            Some(image) => json!(format!("{}/_emulator/images/{image}", ctx.env.base_url)),
            None => Value::Null,
        };
    }
    let settings = [
        to_json(&input.effective_at_on_downgrade)?,
        to_json(&input.effective_at_on_upgrade)?,
        to_json(&input.on_payment_failure)?,
        to_json(&input.proration_billing_mode_on_downgrade)?,
        to_json(&input.proration_billing_mode_on_upgrade)?,
    ];
    for (key, value) in SETTINGS.iter().zip(settings) {
        if present(key) {
            record.data[*key] = value;
        }
    }
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

/// The index of a group in a stored collection (404 when it has no such group).
fn group_index(data: &Value, group_id: &str) -> Result<usize, ApiError> {
    groups_of(data)
        .iter()
        .position(|g| g["group_id"].as_str() == Some(group_id))
        .ok_or_else(|| ApiError::not_found("Product collection group", group_id))
}

fn add_group(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: ProductCollectionGroup = req.input()?;
    let id = req.param("id");
    let mut record = common::must_get(ctx, kind::PRODUCT_COLLECTION, WHAT, id)?;
    let group = new_group(ctx, "body", &input, groups_of(&record.data))?;
    let touched = product_ids(&json!({"groups": [group.clone()]}));
    groups_mut(&mut record.data)?.push(group.clone());
    save(ctx, id, &mut record.data, &touched)?;
    Ok(Reply::json(render_group(ctx, &group)?))
}

fn update_group(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: PatchProductCollectionGroupRequest = req.input()?;
    let id = req.param("id");
    let group_id = req.param("group_id");
    let mut record = common::must_get(ctx, kind::PRODUCT_COLLECTION, WHAT, id)?;
    let index = group_index(&record.data, group_id)?;
    if req.body_obj().contains_key("group_name") {
        check_group_name(
            groups_of(&record.data),
            input.group_name.as_deref(),
            Some(group_id),
            "group_name",
        )?;
    }
    let group = &mut groups_mut(&mut record.data)?[index];
    if req.body_obj().contains_key("group_name") {
        group["group_name"] = json!(input.group_name);
    }
    if let Some(status) = input.status {
        group["status"] = json!(status);
    }
    if let Some(order) = &input.product_order {
        let items = group["products"]
            .as_array_mut()
            .ok_or_else(|| ApiError::internal("stored group has no products"))?;
        reorder(items, order, "id", "product_order")?;
    }
    save(ctx, id, &mut record.data, &[])?;
    Ok(Reply::empty())
}

fn delete_group(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let mut record = common::must_get(ctx, kind::PRODUCT_COLLECTION, WHAT, id)?;
    let index = group_index(&record.data, req.param("group_id"))?;
    let removed = groups_mut(&mut record.data)?.remove(index);
    let touched = product_ids(&json!({"groups": [removed]}));
    save(ctx, id, &mut record.data, &touched)?;
    Ok(Reply::empty())
}

fn add_items(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: AddProductsToGroupRequest = req.input()?;
    let id = req.param("id");
    let mut record = common::must_get(ctx, kind::PRODUCT_COLLECTION, WHAT, id)?;
    let index = group_index(&record.data, req.param("group_id"))?;
    if input.products.is_empty() {
        return Err(ApiError::invalid_field("products", "must not be empty"));
    }
    let group = &mut groups_mut(&mut record.data)?[index];
    let items = group["products"]
        .as_array_mut()
        .ok_or_else(|| ApiError::internal("stored group has no products"))?;
    let added = new_items(ctx, "products", &input.products, items)?;
    items.extend(added.iter().cloned());
    let touched: Vec<String> = input
        .products
        .iter()
        .map(|p| p.product_id.clone())
        .collect();
    save(ctx, id, &mut record.data, &touched)?;
    let rendered = added
        .iter()
        .map(|i| render_item(ctx, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::json(Value::Array(rendered)))
}

/// The group index and item index of an item path (404 when either is missing).
fn item_index(data: &Value, group_id: &str, item_id: &str) -> Result<(usize, usize), ApiError> {
    let g = group_index(data, group_id)?;
    let i = groups_of(data)[g]["products"]
        .as_array()
        .and_then(|items| items.iter().position(|i| i["id"].as_str() == Some(item_id)))
        .ok_or_else(|| ApiError::not_found("Product collection item", item_id))?;
    Ok((g, i))
}

fn update_item(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: PatchProductCollectionGroupProductRequest = req.input()?;
    let id = req.param("id");
    let mut record = common::must_get(ctx, kind::PRODUCT_COLLECTION, WHAT, id)?;
    let (g, i) = item_index(&record.data, req.param("group_id"), req.param("item_id"))?;
    groups_mut(&mut record.data)?[g]["products"][i]["status"] = json!(input.status);
    save(ctx, id, &mut record.data, &[])?;
    Ok(Reply::empty())
}

fn delete_item(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let mut record = common::must_get(ctx, kind::PRODUCT_COLLECTION, WHAT, id)?;
    let (g, i) = item_index(&record.data, req.param("group_id"), req.param("item_id"))?;
    let removed = groups_mut(&mut record.data)?[g]["products"]
        .as_array_mut()
        .map(|items| items.remove(i))
        .ok_or_else(|| ApiError::internal("stored group has no products"))?;
    let touched: Vec<String> = removed["product_id"]
        .as_str()
        .map(str::to_string)
        .into_iter()
        .collect();
    save(ctx, id, &mut record.data, &touched)?;
    Ok(Reply::empty())
}
