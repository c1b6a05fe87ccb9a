//! The customer blocklist: block a customer by id or by email, list, retrieve, unblock, notes,
//! and what a block does, as the live API documents it.
//!
//! A block applies to the customer's email, not only the record: every customer with that
//! email is blocked, compared in lower case with any `+alias` of the local part removed
//! (`Buyer+promo@example.com` is `buyer@example.com`; dots are kept). While blocked, every
//! payment attempt for such a customer is refused with 422 `CUSTOMER_BLOCKED`: payments,
//! subscriptions and checkout sessions created through the API, and payment links and sessions
//! paid on the hosted pages ([`refuse_if_blocked`]). Blocking sweeps the customer's live
//! subscriptions (`pending`, `active`, `on_hold`, `paused`): they are cancelled (the usual
//! `subscription.cancelled` follows) and listed in `cancelled_subscription_ids`. Past payments
//! are not refunded.
//!
//! `POST /blocklist/customers` takes `{customer_id}` or `{email}` (an email must name an
//! existing customer; 404 otherwise) with an optional `reason`; `identifier` is what the
//! merchant supplied, `source` is always `api` for an API-key caller. Blocking an email that is
//! already blocked answers 409 `ALREADY_BLOCKED`. `DELETE` unblocks (the entry then reads 404 and
//! payments are accepted again). Notes are added with `POST …/notes` and edited with
//! `PATCH …/notes/{note_id}`; they are part of the entry. The list filters by `identifier`
//! (as supplied, or the customer's id or email), `blocked_by_email` and `created_at_gte/lte`.

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

/// An email as blocks compare it: lower case, without a `+alias` in the local part.
pub fn normalize(email: &str) -> String {
    let lower = email.trim().to_lowercase();
    match lower.split_once('@') {
        Some((local, domain)) => {
            let local = local.split('+').next().unwrap_or(local);
            format!("{local}@{domain}")
        }
        None => lower,
    }
}

/// The active block of an email, if any.
pub fn entry_for_email(ctx: &Ctx<'_>, email: &str) -> Result<Option<Value>, ApiError> {
    let wanted = normalize(email);
    Ok(ctx
        .db
        .list(
            kind::BLOCKED_CUSTOMER,
            &[Filter::NotState(State::Deleted)],
            u32::MAX,
            0,
        )?
        .into_iter()
        .map(|r| r.data)
        .find(|e| e["customer_email"].as_str().map(normalize).as_deref() == Some(&wanted)))
}

/// Refuses a payment attempt for a blocked customer (422 `CUSTOMER_BLOCKED`).
pub fn refuse_if_blocked(ctx: &Ctx<'_>, customer: &Value) -> Result<(), ApiError> {
    let Some(email) = customer["email"].as_str() else {
        return Ok(());
    };
    match entry_for_email(ctx, email)? {
        Some(_) => Err(ApiError::unprocessable(
            "CUSTOMER_BLOCKED",
            format!(
                "customer {} is blocked by this business and cannot pay",
                customer["customer_id"].as_str().unwrap_or(email)
            ),
        )),
        None => Ok(()),
    }
}

/// Cancels the live subscriptions of every customer with this (normalised) email; answers
/// their ids.
fn sweep(ctx: &Ctx<'_>, email: &str) -> Result<Vec<Value>, ApiError> {
    let wanted = normalize(email);
    let customers: Vec<String> = ctx
        .db
        .list(kind::CUSTOMER, &[], u32::MAX, 0)?
        .into_iter()
        .filter(|c| c.data["email"].as_str().map(normalize).as_deref() == Some(&wanted))
        .map(|c| c.id)
        .collect();
    let now = ctx.now_string();
    let mut cancelled = Vec::new();
    for cid in customers {
        let subs = ctx.db.list(
            kind::SUBSCRIPTION,
            &[Filter::Eq(
                "$.customer.customer_id",
                SqlValue::Text(cid.clone()),
            )],
            u32::MAX,
            0,
        )?;
        for mut sub in subs {
            if matches!(
                sub.data["status"].as_str(),
                Some("pending" | "active" | "on_hold" | "paused")
            ) {
                sub.data["status"] = json!("cancelled");
                sub.data["cancelled_at"] = json!(now);
                ctx.db.update(kind::SUBSCRIPTION, &sub.id, &sub.data)?;
                cancelled.push(json!(sub.id));
            }
        }
    }
    Ok(cancelled)
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    use dodo_types::models::CreateBlockedCustomerRequest as Req;
    let (customer, reason, identifier) = match req.input::<Req>()? {
        Req::BlockByCustomerId(b) => (
            common::must_get(ctx, kind::CUSTOMER, "Customer", &b.customer_id)?.data,
            b.reason,
            b.customer_id,
        ),
        Req::BlockByEmail(b) => {
            let wanted = normalize(&b.email);
            let customer = ctx
                .db
                .list(kind::CUSTOMER, &[], u32::MAX, 0)?
                .into_iter()
                .find(|c| c.data["email"].as_str().map(normalize).as_deref() == Some(&wanted))
                .ok_or_else(|| ApiError::not_found("Customer with email", &b.email))?
                .data;
            (customer, b.reason, b.email)
        }
        other => {
            return Err(ApiError::invalid_field(
                "customer_id",
                format!("expected `customer_id` or `email`, got {other:?}"),
            ));
        }
    };
    let customer_id = customer["customer_id"].as_str().unwrap_or_default();
    let email = customer["email"].as_str().unwrap_or_default();
    if entry_for_email(ctx, email)?.is_some() {
        return Err(ApiError::conflict(
            "ALREADY_BLOCKED",
            format!("Customer {customer_id} ({email}) is already blocked"),
        ));
    }
    let cancelled = sweep(ctx, email)?;
    let id = new_id("blk_");
    let now = ctx.now_string();
    let data = json!({
        "id": id, "created_at": now, "customer_id": customer_id,
        "customer_email": email, "customer_name": customer["name"],
        "identifier": identifier, "source": "api",
        "reason": reason, "blocked_by_email": null, "notes": [],
        "cancelled_subscription_ids": cancelled, "remaining_subscription_ids": [],
        "subscriptions_swept": true, "unblocked_at": null,
    });
    ctx.db
        .insert(kind::BLOCKED_CUSTOMER, &id, None, &now, &data)?;
    Ok(Reply::json(data))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = vec![Filter::NotState(State::Deleted)];
    if let Some(ident) = req.query("identifier").filter(|v| !v.is_empty()) {
        filters.push(Filter::Sql(
            "(json_extract(data, '$.identifier') = ? OR json_extract(data, '$.customer_id') = ? \
             OR json_extract(data, '$.customer_email') = ?)",
            vec![
                SqlValue::Text(ident.into()),
                SqlValue::Text(ident.into()),
                SqlValue::Text(ident.into()),
            ],
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

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn emails_compare_lower_case_without_their_alias() {
        assert_eq!(normalize("Buyer+promo@Example.com"), "buyer@example.com");
        assert_eq!(normalize(" buyer@example.com "), "buyer@example.com");
        assert_eq!(normalize("first.last+x+y@ex.com"), "first.last@ex.com");
        assert_ne!(
            normalize("firstlast@ex.com"),
            normalize("first.last@ex.com")
        );
        assert_eq!(normalize("not-an-email"), "not-an-email");
    }
}
