//! Usage events: batch ingest with idempotent event ids, retrieve, list with filters.
//!
//! `POST /events/ingest` takes at most 1,000 events (413 `TOO_MANY_EVENTS` above). A request
//! repeating an `event_id` is rejected whole (400 `DUPLICATE_EVENT_ID`, as the spec lists; timestamps out of the
//! window and metadata limits are 400 too); ids already stored
//! are skipped silently, and `ingested_count` counts only newly stored events. Timestamps
//! (default: now) older than 1 hour or more than 5 minutes ahead are rejected, as are more
//! than 50 metadata pairs, keys over 100 or values over 500 characters. Lists filter on
//! `customer_id`, `event_name`, `meter_id` (the meter's event name) and `start`/`end`. A newly
//! stored event debits the credits its meters are linked to ([`super::credit_metering`]).

use std::collections::HashSet;

use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::clock;
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};
use crate::store::Filter;

/// Most events per ingest request.
pub const MAX_EVENTS: usize = 1_000;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/events/ingest", ingest);
    r.add("GET", "/events/{event_id}", retrieve);
    r.add("GET", "/events", list);
}

fn check_metadata(at: &str, metadata: &Value) -> Result<(), ApiError> {
    if metadata.is_null() {
        return Ok(());
    }
    let obj = metadata
        .as_object()
        .ok_or_else(|| ApiError::invalid_field(at, "expected an object"))?;
    if obj.len() > 50 {
        return Err(ApiError::invalid_field(at, "at most 50 metadata pairs"));
    }
    for (k, v) in obj {
        if k.chars().count() > 100 {
            return Err(ApiError::invalid_field(
                at,
                "metadata keys are at most 100 characters",
            ));
        }
        let ok = match v {
            Value::String(s) => s.chars().count() <= 500,
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        };
        if !ok {
            return Err(ApiError::invalid_field(
                &format!("{at}.{k}"),
                "expected a string of at most 500 characters, a number or a boolean",
            ));
        }
    }
    Ok(())
}

/// The spec answers 400 for the batch's validation errors (duplicate ids, timestamps out of
/// the window, metadata limits); 422 stays for a body that does not match the schema.
fn bad_request(mut e: ApiError) -> ApiError {
    e.status = http::StatusCode::BAD_REQUEST;
    e
}

fn ingest(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: dodo_types::models::IngestEventsRequest = req.input()?;
    let events = &input.events;
    if events.len() > MAX_EVENTS {
        return Err(ApiError::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "TOO_MANY_EVENTS",
            format!(
                "at most {MAX_EVENTS} events per request, got {}",
                events.len()
            ),
        ));
    }
    let now = ctx.now();
    let oldest = clock::format(now - time::Duration::hours(1));
    let newest = clock::format(now + time::Duration::minutes(5));
    let mut seen = HashSet::new();
    let mut prepared = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let field = |f: &str| format!("events[{i}].{f}");
        let present = |f: &str, v: &str| {
            if v.is_empty() {
                Err(bad_request(ApiError::invalid_field(
                    &field(f),
                    "is required",
                )))
            } else {
                Ok(())
            }
        };
        present("event_id", &e.event_id)?;
        present("customer_id", &e.customer_id)?;
        present("event_name", &e.event_name)?;
        if !seen.insert(e.event_id.as_str()) {
            return Err(ApiError::new(
                http::StatusCode::BAD_REQUEST,
                "DUPLICATE_EVENT_ID",
                format!(
                    "{}: event id {} appears more than once",
                    field("event_id"),
                    e.event_id
                ),
            ));
        }
        let timestamp = clock::format(e.timestamp.unwrap_or(now));
        if timestamp < oldest || timestamp > newest {
            return Err(bad_request(ApiError::invalid_field(
                &field("timestamp"),
                "must be within the last hour and at most 5 minutes ahead",
            )));
        }
        let metadata = match &e.metadata {
            Some(m) => serde_json::to_value(m)?,
            None => Value::Null,
        };
        check_metadata(&field("metadata"), &metadata).map_err(bad_request)?;
        prepared.push(json!({
            "event_id": e.event_id,
            "business_id": ctx.env.business_id,
            "customer_id": e.customer_id,
            "event_name": e.event_name,
            "timestamp": timestamp,
            "metadata": metadata,
        }));
    }
    let mut ingested = 0u64;
    let created = clock::format(now);
    for event in &prepared {
        let id = event["event_id"].as_str().unwrap_or_default();
        if ctx.db.get_raw(kind::EVENT, id)?.is_none() {
            ctx.db.insert(kind::EVENT, id, None, &created, event)?;
            super::credit_metering::on_event(ctx, event)?;
            ingested += 1;
        }
    }
    Ok(Reply::json(json!({ "ingested_count": ingested })))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(ctx, kind::EVENT, "Event", req.param("event_id"))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = Vec::new();
    common::eq_filter(req, "customer_id", "$.customer_id", &mut filters);
    common::eq_filter(req, "event_name", "$.event_name", &mut filters);
    if let Some(meter_id) = req.query("meter_id").filter(|m| !m.is_empty()) {
        let meter = common::must_get(ctx, kind::METER, "Meter", meter_id)?;
        let name = meter.data["event_name"].as_str().unwrap_or_default();
        filters.push(Filter::Eq("$.event_name", SqlValue::Text(name.to_string())));
    }
    if let Some(t) = req.query_time("start")? {
        filters.push(Filter::Gte("$.timestamp", t));
    }
    if let Some(t) = req.query_time("end")? {
        filters.push(Filter::Lte("$.timestamp", t));
    }
    common::page_list(ctx, req, kind::EVENT, &filters, common::as_is)
}
