//! Addons: create, retrieve, update, list (live ones), archive (`DELETE`, 200 empty) and
//! unarchive. Images are uploaded through [`super::uploads`]; translations are served by
//! [`super::translations`]. A product offers addons by id ([`offered`]); what buying them
//! with a subscription costs is [`super::addon_carts`].

use dodo_types::models::{CreateAddonRequest, PatchAddonRequest};
use serde_json::{Value, json};

use super::common::{self, kind, set_some};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, State};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/addons", create);
    r.add("GET", "/addons/{id}", retrieve);
    r.add("PATCH", "/addons/{id}", update);
    r.add("GET", "/addons", list);
    r.add("DELETE", "/addons/{id}", archive);
    r.add("POST", "/addons/{id}/unarchive", unarchive);
}

/// The addon ids a product offers (`addons` on product create and `PATCH`, body field
/// `field`): each must be a live addon of this business (422 naming the item otherwise); an id
/// listed twice is kept once.
pub fn offered(ctx: &Ctx<'_>, field: &str, ids: &[String]) -> Result<Value, ApiError> {
    let mut out: Vec<&str> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if out.contains(&id.as_str()) {
            continue;
        }
        match ctx.db.get(kind::ADDON, id)? {
            Some(r) if r.state == State::Active => out.push(id),
            Some(_) => {
                return Err(ApiError::invalid_field(
                    &format!("{field}[{i}]"),
                    format!("addon `{id}` is archived"),
                ));
            }
            None => {
                return Err(ApiError::invalid_field(
                    &format!("{field}[{i}]"),
                    format!("no addon `{id}`"),
                ));
            }
        }
    }
    Ok(json!(out))
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateAddonRequest = req.input()?;
    if input.price < 0 {
        return Err(ApiError::invalid_field("price", "must not be negative"));
    }
    let id = new_id("adn_");
    let now = ctx.now_string();
    let data = json!({
        "id": id,
        "business_id": ctx.env.business_id,
        "name": input.name,
        "price": input.price,
        "currency": input.currency,
        "tax_category": input.tax_category,
        "description": input.description,
        "image": null,
        "created_at": now,
        "updated_at": now,
    });
    ctx.db.insert(kind::ADDON, &id, None, &now, &data)?;
    Ok(Reply::json(data))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(ctx, kind::ADDON, "Addon", req.param("id"))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let input: PatchAddonRequest = req.input()?;
    let mut record = common::must_get(ctx, kind::ADDON, "Addon", id)?;
    if input.price.is_some_and(|p| p < 0) {
        return Err(ApiError::invalid_field("price", "must not be negative"));
    }
    let data = &mut record.data;
    set_some(data, "name", input.name.as_ref())?;
    set_some(data, "price", input.price.as_ref())?;
    set_some(data, "currency", input.currency.as_ref())?;
    set_some(data, "tax_category", input.tax_category.as_ref())?;
    set_some(data, "description", input.description.as_ref())?;
    super::uploads::patch_image(ctx, &mut record.data, input.image_id.as_ref());
    common::touch(ctx, &mut record.data);
    ctx.db.update(kind::ADDON, id, &record.data)?;
    Ok(Reply::json(record.data))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::page_list(
        ctx,
        req,
        kind::ADDON,
        &[Filter::State(State::Active)],
        common::as_is,
    )
}

fn archive(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    common::must_get(ctx, kind::ADDON, "Addon", id)?;
    ctx.db.set_state(kind::ADDON, id, State::Archived)?;
    Ok(Reply::empty())
}

fn unarchive(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    common::must_get(ctx, kind::ADDON, "Addon", id)?;
    ctx.db.set_state(kind::ADDON, id, State::Active)?;
    Ok(Reply::empty())
}
