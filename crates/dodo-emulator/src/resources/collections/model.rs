//! The stored form of a product collection and its rendering: groups and items are kept
//! inside the collection object (`groups: [{group_id, group_name, status, products: [{id,
//! product_id, status}]}]`) and rendered as the spec's `ProductCollectionGroupResponse` and
//! `ProductCollectionProductResponse` from the products as they are now. Also the checks
//! shared by the collection and group handlers (live products, unique group names, orders
//! naming exactly the existing ids) and [`save`], which keeps each product's
//! `product_collection_id` pointing at the newest collection holding it.

use std::collections::HashSet;

use dodo_types::models::{GroupProduct, ProductCollectionGroup};
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::super::Ctx;
use super::super::common::{self, kind};
use crate::error::ApiError;
use crate::ids::uuid_v4;
use crate::store::{Filter, State};

/// Name of the object in errors.
pub(super) const WHAT: &str = "Product collection";

/// Checks that a product can be put in a collection (it exists and is not archived).
pub(super) fn check_product(ctx: &Ctx<'_>, field: &str, product_id: &str) -> Result<(), ApiError> {
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
pub(super) fn new_items(
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
pub(super) fn check_group_name(
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
pub(super) fn new_group(
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

/// The `ProductCollectionProductResponse` of a stored item (details from its product).
pub(super) fn render_item(ctx: &Ctx<'_>, item: &Value) -> Result<Value, ApiError> {
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
pub(super) fn render_group(ctx: &Ctx<'_>, group: &Value) -> Result<Value, ApiError> {
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
pub(super) fn render(ctx: &Ctx<'_>, data: &Value) -> Result<Value, ApiError> {
    let mut out = data.clone();
    let groups = groups_of(data)
        .iter()
        .map(|g| render_group(ctx, g))
        .collect::<Result<Vec<_>, _>>()?;
    out["groups"] = Value::Array(groups);
    Ok(out)
}

pub(super) fn groups_of(data: &Value) -> &[Value] {
    data["groups"].as_array().map_or(&[], Vec::as_slice)
}

pub(super) fn groups_mut(data: &mut Value) -> Result<&mut Vec<Value>, ApiError> {
    data["groups"]
        .as_array_mut()
        .ok_or_else(|| ApiError::internal("stored collection has no groups"))
}

/// Distinct product ids of a stored collection.
pub(super) fn product_ids(data: &Value) -> Vec<String> {
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
pub(super) fn sync_products<'a>(
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
pub(super) fn save(
    ctx: &Ctx<'_>,
    id: &str,
    data: &mut Value,
    touched: &[String],
) -> Result<(), ApiError> {
    common::touch(ctx, data);
    ctx.db.update(kind::PRODUCT_COLLECTION, id, data)?;
    sync_products(ctx, touched)
}

/// Checks that `order` names exactly the ids of `items` (by `key`) and reorders them.
pub(super) fn reorder(
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
