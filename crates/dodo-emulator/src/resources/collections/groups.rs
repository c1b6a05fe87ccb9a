//! Groups and items of a product collection: add, update and delete a group; add products
//! to a group, update and delete an item. Group and item ids are UUIDs; a group or item not in
//! the addressed collection answers 404. Adding an unknown or archived product, or one already
//! in the group, answers 422 and changes nothing.

use dodo_types::models::{
    AddProductsToGroupRequest, PatchProductCollectionGroupProductRequest,
    PatchProductCollectionGroupRequest, ProductCollectionGroup,
};
use serde_json::{Value, json};

use super::super::common::{self, kind};
use super::super::{Ctx, Registry};
use super::model::{
    WHAT, check_group_name, groups_mut, groups_of, new_group, new_items, product_ids, render_group,
    render_item, reorder, save,
};
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};

/// Registers the group and item handlers.
pub fn register(r: &mut Registry) {
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
    // `group_name: null` clears the name; absent keeps it.
    if let Some(name) = &input.group_name {
        check_group_name(
            groups_of(&record.data),
            name.as_deref(),
            Some(group_id),
            "group_name",
        )?;
    }
    let group = &mut groups_mut(&mut record.data)?[index];
    if let Some(name) = &input.group_name {
        group["group_name"] = json!(name);
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
