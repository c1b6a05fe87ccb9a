//! Webhook endpoints: create, retrieve, update, delete, the cursor list, secret and headers.
//!
//! `GET /webhooks` is the API's one cursor list: `limit` (default 50, max 250) and `iterator`
//! give `{"data", "done", "iterator", "prev_iterator"}`, newest first. `iterator` is an opaque
//! cursor after the last item of the page (null on an empty page); `prev_iterator` echoes the
//! cursor the page was requested with. Each endpoint gets its own secret (`whsec_` + base64 of
//! 32 random bytes), kept apart from the endpoint object. A create with an `idempotency_key`
//! already used answers the endpoint created the first time.

use base64::Engine as _;
use dodo_types::models::{CreateWebhookRequest, PatchWebhookRequest, WebhookHeadersReq};
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::common::{self, kind, set_some};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::{new_id, webhook_secret};
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record, State};

/// Default `limit` of the cursor list.
pub const DEFAULT_LIMIT: u64 = 50;
/// Largest accepted `limit`.
pub const MAX_LIMIT: u64 = 250;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/webhooks", create);
    r.add("GET", "/webhooks/{webhook_id}", retrieve);
    r.add("PATCH", "/webhooks/{webhook_id}", update);
    r.add("GET", "/webhooks", list);
    r.add("DELETE", "/webhooks/{webhook_id}", delete);
    r.add("GET", "/webhooks/{webhook_id}/secret", secret);
    r.add("GET", "/webhooks/{webhook_id}/headers", get_headers);
    r.add("PATCH", "/webhooks/{webhook_id}/headers", patch_headers);
}

fn encode_cursor(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

fn decode_cursor(s: &str) -> Option<i64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("seq:")?
        .parse()
        .ok()
}

/// One page of a cursor list over `kind`.
pub fn cursor_page(
    ctx: &Ctx<'_>,
    req: &ApiRequest,
    kind: &str,
    mut filters: Vec<Filter>,
    project: impl Fn(&Record) -> Value,
) -> Result<Reply, ApiError> {
    let limit = req.query_u64("limit")?.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::invalid_field(
            "limit",
            format!("must be within 1..={MAX_LIMIT}"),
        ));
    }
    let iterator = req.query("iterator").filter(|s| !s.is_empty());
    if let Some(it) = iterator {
        let seq = decode_cursor(it)
            .ok_or_else(|| ApiError::invalid_field("iterator", "is not a valid cursor"))?;
        filters.push(Filter::SeqBelow(seq));
    }
    let limit32 = u32::try_from(limit).unwrap_or(u32::MAX);
    let mut rows = ctx.db.list(kind, &filters, limit32 + 1, 0)?;
    let done = rows.len() <= limit32 as usize;
    rows.truncate(limit32 as usize);
    let next = rows.last().map(|r| encode_cursor(r.seq));
    Ok(Reply::json(json!({
        "data": rows.iter().map(project).collect::<Vec<_>>(),
        "done": done,
        "iterator": next,
        "prev_iterator": iterator,
    })))
}

fn check_url(url: &str) -> Result<(), ApiError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(ApiError::invalid_field("url", "must be an http(s) URL"))
    }
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateWebhookRequest = req.input()?;
    check_url(&input.url)?;
    if let Some(key) = input.idempotency_key.as_deref() {
        let filters = [Filter::Eq(
            "$.idempotency_key",
            SqlValue::Text(key.to_string()),
        )];
        if let Some(existing) = ctx.db.find_one(kind::WEBHOOK_SECRET, &filters)? {
            return common::retrieve_raw(ctx, kind::WEBHOOK, "Webhook", &existing.id);
        }
    }
    let id = new_id("whk_");
    let now = ctx.now_string();
    let data = json!({
        "id": id,
        "url": input.url,
        "description": input.description.as_deref().unwrap_or(""),
        "metadata": input.metadata.unwrap_or_default(),
        "disabled": input.disabled.unwrap_or(false),
        "filter_types": input
            .filter_types
            .as_ref()
            .map_or_else(|| Ok(json!([])), common::to_json)?,
        "rate_limit": input.rate_limit,
        "created_at": now,
        "updated_at": now,
    });
    ctx.db.insert(kind::WEBHOOK, &id, None, &now, &data)?;
    let secret = json!({
        "secret": webhook_secret(),
        "idempotency_key": input.idempotency_key,
    });
    ctx.db
        .insert(kind::WEBHOOK_SECRET, &id, None, &now, &secret)?;
    ctx.db.insert(
        kind::WEBHOOK_HEADERS,
        &id,
        None,
        &now,
        &json!({ "headers": input.headers.unwrap_or_default(), "sensitive": [] }),
    )?;
    Ok(Reply::json(data))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(ctx, kind::WEBHOOK, "Webhook", req.param("webhook_id"))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("webhook_id");
    let input: PatchWebhookRequest = req.input()?;
    let mut record = common::must_get(ctx, kind::WEBHOOK, "Webhook", id)?;
    if let Some(url) = input.url.as_deref() {
        check_url(url)?;
    }
    let data = &mut record.data;
    set_some(data, "metadata", input.metadata.as_ref())?;
    set_some(data, "url", input.url.as_ref())?;
    set_some(data, "description", input.description.as_ref())?;
    set_some(data, "disabled", input.disabled.as_ref())?;
    set_some(data, "filter_types", input.filter_types.as_ref())?;
    set_some(data, "rate_limit", input.rate_limit.as_ref())?;
    common::touch(ctx, &mut record.data);
    ctx.db.update(kind::WEBHOOK, id, &record.data)?;
    Ok(Reply::json(record.data))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    cursor_page(
        ctx,
        req,
        kind::WEBHOOK,
        vec![Filter::NotState(State::Deleted)],
        common::as_is,
    )
}

fn delete(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("webhook_id");
    common::must_get(ctx, kind::WEBHOOK, "Webhook", id)?;
    ctx.db.delete(kind::WEBHOOK, id)?;
    ctx.db.delete(kind::WEBHOOK_SECRET, id)?;
    ctx.db.delete(kind::WEBHOOK_HEADERS, id)?;
    Ok(Reply::empty())
}

fn secret(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("webhook_id");
    let record = common::must_get(ctx, kind::WEBHOOK_SECRET, "Webhook", id)?;
    Ok(Reply::json(json!({ "secret": record.data["secret"] })))
}

fn get_headers(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(
        ctx,
        kind::WEBHOOK_HEADERS,
        "Webhook",
        req.param("webhook_id"),
    )
}

fn patch_headers(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("webhook_id");
    let mut record = common::must_get(ctx, kind::WEBHOOK_HEADERS, "Webhook", id)?;
    let input: WebhookHeadersReq = req.input()?;
    if let Some(headers) = record.data["headers"].as_object_mut() {
        headers.extend(
            input
                .headers
                .into_iter()
                .map(|(k, v)| (k, Value::String(v))),
        );
    }
    ctx.db.update(kind::WEBHOOK_HEADERS, id, &record.data)?;
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("not-a-cursor"), None);
    }
}
