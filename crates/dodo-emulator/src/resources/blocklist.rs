//! The customer blocklist: block a customer by id or by email, list, retrieve, unblock, notes.
//!
//! `POST /blocklist/customers` takes `{customer_id}` or `{email}` (an email names an existing
//! customer; 404 when there is none), with an optional `reason` and `source` (default `api`).
//! Blocking an already blocked customer answers 409 `ALREADY_BLOCKED`. The entry lists the
//! customer's subscriptions that are still running in `remaining_subscription_ids` (the emulator
//! does not cancel them: `subscriptions_swept: false`). `DELETE` unblocks (the entry then reads
//! 404 and the customer can be blocked again). Notes are added with `POST …/notes` and edited
//! with `PATCH …/notes/{note_id}`; they are part of the entry. The list filters by
//! `identifier` (customer id or email), `blocked_by_email` and `created_at_gte/lte`.
//! The documented API says nothing of blocked customers' new payments, so the emulator does not
//! refuse them.

use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, State};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/blocklist/customers", create);
    r.add("GET", "/blocklist/customers", list);
    r.add("GET", "/blocklist/customers/{entry_id}", retrieve);
    r.add("DELETE", "/blocklist/customers/{entry_id}", unblock);
    r.add("POST", "/blocklist/customers/{entry_id}/notes", add_note);
    r.add(
        "PATCH",
        "/blocklist/customers/{entry_id}/notes/{note_id}",
        update_note,
    );
}

/// The active blocklist entry of a customer, if any.
pub fn entry_of(ctx: &Ctx<'_>, customer_id: &str) -> Result<Option<Value>, ApiError> {
    Ok(ctx
        .db
        .find_one(
            kind::BLOCKED_CUSTOMER,
            &[
                Filter::Eq("$.customer_id", SqlValue::Text(customer_id.to_string())),
                Filter::NotState(State::Deleted),
            ],
        )?
        .map(|r| r.data))
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    use dodo_types::models::CreateBlockedCustomerRequest as Req;
    let (customer, reason, source) = match req.input::<Req>()? {
        Req::BlockByCustomerId(b) => (
            common::must_get(ctx, kind::CUSTOMER, "Customer", &b.customer_id)?.data,
            b.reason,
            b.source.map(serde_json::to_value).transpose()?,
        ),
        Req::BlockByEmail(b) => {
            let found = ctx.db.find_one(
                kind::CUSTOMER,
                &[Filter::Eq("$.email", SqlValue::Text(b.email.clone()))],
            )?;
            let customer = found
                .ok_or_else(|| ApiError::not_found("Customer with email", &b.email))?
                .data;
            (
                customer,
                b.reason,
                b.source.map(serde_json::to_value).transpose()?,
            )
        }
        other => {
            return Err(ApiError::invalid_field(
                "customer_id",
                format!("expected `customer_id` or `email`, got {other:?}"),
            ));
        }
    };
    let customer_id = customer["customer_id"].as_str().unwrap_or_default();
    if entry_of(ctx, customer_id)?.is_some() {
        return Err(ApiError::conflict(
            "ALREADY_BLOCKED",
            format!("Customer {customer_id} is already blocked"),
        ));
    }
    let running: Vec<Value> = ctx
        .db
        .list(
            kind::SUBSCRIPTION,
            &[Filter::Eq(
                "$.customer.customer_id",
                SqlValue::Text(customer_id.to_string()),
            )],
            u32::MAX,
            0,
        )?
        .into_iter()
        .filter(|s| {
            matches!(
                s.data["status"].as_str(),
                Some("active" | "on_hold" | "paused" | "pending" | "past_due")
            )
        })
        .map(|s| s.data["subscription_id"].clone())
        .collect();
    let id = new_id("blk_");
    let now = ctx.now_string();
    let data = json!({
        "id": id, "created_at": now, "customer_id": customer_id,
        "customer_email": customer["email"], "customer_name": customer["name"],
        "identifier": customer["email"], "source": source.unwrap_or_else(|| json!("api")),
        "reason": reason, "blocked_by_email": null, "notes": [],
        "cancelled_subscription_ids": [], "remaining_subscription_ids": running,
        "subscriptions_swept": false, "unblocked_at": null,
    });
    ctx.db
        .insert(kind::BLOCKED_CUSTOMER, &id, None, &now, &data)?;
    Ok(Reply::json(data))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = vec![Filter::NotState(State::Deleted)];
    if let Some(ident) = req.query("identifier").filter(|v| !v.is_empty()) {
        filters.push(Filter::Sql(
            "(json_extract(data, '$.customer_id') = ? OR json_extract(data, '$.customer_email') = ?)",
            vec![SqlValue::Text(ident.into()), SqlValue::Text(ident.into())],
        ));
    }
    common::eq_filter(req, "blocked_by_email", "$.blocked_by_email", &mut filters);
    common::created_filters(req, &mut filters)?;
    common::page_list(ctx, req, kind::BLOCKED_CUSTOMER, &filters, common::as_is)
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(
        ctx,
        kind::BLOCKED_CUSTOMER,
        "Blocklist entry",
        req.param("entry_id"),
    )
}

fn unblock(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("entry_id");
    let mut entry = common::must_get(ctx, kind::BLOCKED_CUSTOMER, "Blocklist entry", id)?;
    entry.data["unblocked_at"] = json!(ctx.now_string());
    ctx.db.update(kind::BLOCKED_CUSTOMER, id, &entry.data)?;
    ctx.db
        .set_state(kind::BLOCKED_CUSTOMER, id, State::Deleted)?;
    Ok(Reply::empty())
}

fn add_note(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: dodo_types::models::BlocklistNoteRequest = req.input()?;
    let id = req.param("entry_id");
    let mut entry = common::must_get(ctx, kind::BLOCKED_CUSTOMER, "Blocklist entry", id)?;
    let note = json!({
        "id": new_id("bln_"), "note": input.note, "created_at": ctx.now_string(),
        "updated_at": null, "author_email": null,
    });
    match entry.data["notes"].as_array_mut() {
        Some(notes) => notes.push(note.clone()),
        None => entry.data["notes"] = json!([note.clone()]),
    }
    ctx.db.update(kind::BLOCKED_CUSTOMER, id, &entry.data)?;
    Ok(Reply::json(note))
}

fn update_note(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: dodo_types::models::BlocklistNoteRequest = req.input()?;
    let id = req.param("entry_id");
    let note_id = req.param("note_id");
    let mut entry = common::must_get(ctx, kind::BLOCKED_CUSTOMER, "Blocklist entry", id)?;
    let now = ctx.now_string();
    let note = entry.data["notes"]
        .as_array_mut()
        .and_then(|notes| notes.iter_mut().find(|n| n["id"] == note_id))
        .ok_or_else(|| ApiError::not_found("Note", note_id))?;
    note["note"] = json!(input.note);
    note["updated_at"] = json!(now);
    let answer = note.clone();
    ctx.db.update(kind::BLOCKED_CUSTOMER, id, &entry.data)?;
    Ok(Reply::json(answer))
}
