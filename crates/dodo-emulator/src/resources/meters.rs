//! Meters: create (201), retrieve, update, list (`archived` filter), archive (`DELETE`, 204)
//! and unarchive. Translations are generic.

use dodo_types::models::{CreateMeterRequest, MeterAggregation, PatchMeterRequest};
use serde_json::json;

use super::common::{self, kind, set_some};
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

fn check_aggregation(a: &MeterAggregation) -> Result<(), ApiError> {
    match a.r#type.as_str() {
        "count" => Ok(()),
        "sum" | "max" | "last" if a.key.as_deref().is_some_and(|k| !k.is_empty()) => Ok(()),
        ty @ ("sum" | "max" | "last") => Err(ApiError::invalid_field(
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
    let input: CreateMeterRequest = req.input()?;
    check_aggregation(&input.aggregation)?;
    let id = new_id("mtr_");
    let now = ctx.now_string();
    let data = json!({
        "id": id,
        "business_id": ctx.env.business_id,
        "name": input.name,
        "event_name": input.event_name,
        "measurement_unit": input.measurement_unit,
        "aggregation": common::to_json(&input.aggregation)?,
        "description": input.description,
        "filter": input.filter.as_ref().map(common::to_json).transpose()?,
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
    let input: PatchMeterRequest = req.input()?;
    let mut record = common::must_get(ctx, kind::METER, "Meter", id)?;
    let data = &mut record.data;
    set_some(data, "name", input.name.as_ref())?;
    set_some(data, "measurement_unit", input.measurement_unit.as_ref())?;
    set_some(data, "description", input.description.as_ref())?;
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
