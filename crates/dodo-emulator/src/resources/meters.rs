//! Meters: create (201), retrieve, update, list (`archived` filter), archive (`DELETE`, 204)
//! and unarchive. Translations are generic.

use serde_json::{Value, json};

use super::common::{self, kind, patch_fields};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, State};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/meters", create);
    r.add("GET", "/meters/{id}", retrieve);
    r.add("PATCH", "/meters/{id}", update);
    r.add("GET", "/meters", list);
    r.add("DELETE", "/meters/{id}", archive);
    r.add("POST", "/meters/{id}/unarchive", unarchive);
}

fn check_aggregation(v: &Value) -> Result<(), ApiError> {
    let ty = v["type"]
        .as_str()
        .ok_or_else(|| ApiError::invalid_field("aggregation.type", "is required"))?;
    match ty {
        "count" => Ok(()),
        "sum" | "max" | "last" if v["key"].as_str().is_some_and(|k| !k.is_empty()) => Ok(()),
        "sum" | "max" | "last" => Err(ApiError::invalid_field(
            "aggregation.key",
            format!("is required for `{ty}`"),
        )),
        other => Err(ApiError::invalid_field(
            "aggregation.type",
            format!("unknown variant `{other}`"),
        )),
    }
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let name = req.str_field("name")?;
    let event_name = req.str_field("event_name")?;
    let unit = req.str_field("measurement_unit")?;
    let aggregation = req
        .field("aggregation")
        .cloned()
        .ok_or_else(|| ApiError::invalid_field("aggregation", "is required"))?;
    check_aggregation(&aggregation)?;
    let id = new_id("mtr_");
    let now = ctx.now_string();
    let data = json!({
        "id": id,
        "business_id": ctx.env.business_id,
        "name": name,
        "event_name": event_name,
        "measurement_unit": unit,
        "aggregation": aggregation,
        "description": req.opt_str("description")?,
        "filter": req.field("filter").cloned(),
        "created_at": now,
        "updated_at": now,
    });
    ctx.db.insert(kind::METER, &id, None, &now, &data)?;
    Ok(Reply::json(data))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(ctx, kind::METER, "Meter", req.param("id"))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    let mut record = common::must_get(ctx, kind::METER, "Meter", id)?;
    if let Some(a) = req.field("aggregation") {
        check_aggregation(a)?;
    }
    patch_fields(
        &mut record.data,
        req,
        &[
            "name",
            "event_name",
            "measurement_unit",
            "aggregation",
            "description",
            "filter",
        ],
    );
    common::touch(ctx, &mut record.data);
    ctx.db.update(kind::METER, id, &record.data)?;
    Ok(Reply::json(record.data))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let archived = req.query_bool("archived")?.unwrap_or(false);
    let state = if archived {
        State::Archived
    } else {
        State::Active
    };
    common::page_list(
        ctx,
        req,
        kind::METER,
        &[Filter::State(state)],
        common::as_is,
    )
}

fn archive(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    common::must_get(ctx, kind::METER, "Meter", id)?;
    ctx.db.set_state(kind::METER, id, State::Archived)?;
    Ok(Reply::empty())
}

fn unarchive(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("id");
    common::must_get(ctx, kind::METER, "Meter", id)?;
    ctx.db.set_state(kind::METER, id, State::Active)?;
    Ok(Reply::empty())
}
