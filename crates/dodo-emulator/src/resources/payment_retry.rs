//! Manual retries of a failed payment: `GET /payments/{id}/retry` (may it be retried, how many
//! sends are left) and `POST /payments/{id}/retry` (retry it now).
//!
//! A payment can be retried while it is `failed` and fewer than [`SENDS_ALLOWED`] manual retries
//! were sent; otherwise `can_retry` is false with a `reason`, and `POST` answers 422
//! `RETRY_NOT_ALLOWED`. A retry charges the card again: it goes through `processing` and
//! succeeds (activating a pending subscription, saving the card, issuing license keys), unless
//! the subscription's card is flagged to fail (`/_emulator/subscriptions/{id}/card`), in which
//! case it fails again. `retry_attempt` on the payment counts the retries. A successful retry of
//! an on-hold subscription's charge makes it `active` again and its dunning `recovered`.

use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::common::{self, kind};
use super::{Ctx, Registry, payments};
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};
use crate::store::Filter;

/// Manual retries allowed per payment.
pub const SENDS_ALLOWED: i64 = 3;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("GET", "/payments/{payment_id}/retry", state);
    r.add("POST", "/payments/{payment_id}/retry", retry);
}

fn sends_used(ctx: &Ctx<'_>, id: &str) -> Result<i64, ApiError> {
    Ok(ctx
        .db
        .get(kind::PAYMENT_RETRY, id)?
        .and_then(|r| r.data["sends_used"].as_i64())
        .unwrap_or(0))
}

/// Why a payment cannot be retried now, if it cannot.
fn refusal(payment: &Value, used: i64) -> Option<String> {
    if payment["status"] != "failed" {
        return Some(format!(
            "only a failed payment can be retried; this one is {}",
            payment["status"].as_str().unwrap_or("unknown")
        ));
    }
    (used >= SENDS_ALLOWED).then(|| format!("all {SENDS_ALLOWED} manual retries were used"))
}

fn state(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("payment_id");
    let payment = common::must_get(ctx, kind::PAYMENT, "Payment", id)?.data;
    let used = sends_used(ctx, id)?;
    let reason = refusal(&payment, used);
    Ok(Reply::json(json!({
        "can_retry": reason.is_none(), "reason": reason,
        "sends_allowed": SENDS_ALLOWED, "sends_used": used,
        "retry_available_at": null, "next_automatic_retry_at": null,
        "automatic_retry_number": null, "automatic_retry_total": null,
    })))
}

fn card_fails(ctx: &Ctx<'_>, payment: &Value) -> Result<bool, ApiError> {
    Ok(match payment["subscription_id"].as_str() {
        Some(sub) => ctx
            .db
            .get(kind::CARD, sub)?
            .is_some_and(|r| r.data["fail_renewals"] == true),
        None => false,
    })
}

/// A successful retry of an on-hold subscription's failed charge reactivates it and ends its
/// dunning (`subscription.active`, `dunning.recovered`).
fn recover_subscription(ctx: &Ctx<'_>, payment: &Value) -> Result<(), ApiError> {
    let Some(sub_id) = payment["subscription_id"].as_str() else {
        return Ok(());
    };
    let Some(mut sub) = ctx.db.get(kind::SUBSCRIPTION, sub_id)? else {
        return Ok(());
    };
    if sub.data["status"] != "on_hold" {
        return Ok(());
    }
    sub.data["status"] = json!("active");
    ctx.db.update(kind::SUBSCRIPTION, sub_id, &sub.data)?;
    let pid = payment["payment_id"].as_str().unwrap_or_default();
    let attempts = ctx.db.list(
        kind::DUNNING_ATTEMPT,
        &[Filter::Eq(
            "$.subscription_id",
            SqlValue::Text(sub_id.into()),
        )],
        u32::MAX,
        0,
    )?;
    for mut d in attempts {
        if d.data["status"] == "recovering" && d.data["payment_id"] == pid {
            d.data["status"] = json!("recovered");
            ctx.db.update(kind::DUNNING_ATTEMPT, &d.id, &d.data)?;
        }
    }
    Ok(())
}

fn retry(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("payment_id");
    let mut record = common::must_get(ctx, kind::PAYMENT, "Payment", id)?;
    let used = sends_used(ctx, id)?;
    if let Some(reason) = refusal(&record.data, used) {
        return Err(ApiError::unprocessable("RETRY_NOT_ALLOWED", reason));
    }
    let used = used.saturating_add(1);
    let now = ctx.now_string();
    let counter = json!({ "sends_used": used, "last_at": now });
    if ctx.db.get(kind::PAYMENT_RETRY, id)?.is_some() {
        ctx.db.update(kind::PAYMENT_RETRY, id, &counter)?;
    } else {
        ctx.db
            .insert(kind::PAYMENT_RETRY, id, Some(id), &now, &counter)?;
    }
    let attempt = record.data["retry_attempt"]
        .as_i64()
        .unwrap_or(0)
        .saturating_add(1);
    record.data["retry_attempt"] = json!(attempt);
    record.data["status"] = json!("processing");
    record.data["error_code"] = Value::Null;
    record.data["error_message"] = Value::Null;
    ctx.db.update(kind::PAYMENT, id, &record.data)?;
    let outcome = if card_fails(ctx, &record.data)? {
        "failed"
    } else {
        "succeeded"
    };
    let settled = payments::complete(ctx, id, outcome)?;
    if outcome == "succeeded" {
        recover_subscription(ctx, &settled)?;
    }
    Ok(Reply::json(json!({
        "payment_id": id,
        "invoice_id": settled["invoice_id"].as_str().unwrap_or(id),
        "is_manual_retry": true,
        "retry_attempt": attempt,
        "sends_allowed": SENDS_ALLOWED,
        "sends_used": used,
        "retry_available_at": null,
        "status": settled["status"],
    })))
}
