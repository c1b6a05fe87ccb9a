//! Saved payment methods: a customer's cards, saved from their succeeded payments; list and
//! delete; a subscription's payment method update.
//!
//! A payment that succeeds saves its card for its customer (one saved method per card: the
//! same network and last four digits reuse it and move its `last_used_at`) and records the
//! method's id on the payment (`payment_method_id`). `GET /customers/{id}/payment-methods`
//! lists them newest first; `DELETE …/{payment_method_id}` removes one (404 when the customer
//! has no such method). Subscriptions switch methods in [`super::subscriptions`].

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
    r.add("GET", "/customers/{customer_id}/payment-methods", list);
    r.add(
        "DELETE",
        "/customers/{customer_id}/payment-methods/{payment_method_id}",
        delete,
    );
}

/// Saves the card of a succeeded payment for its customer (or refreshes the saved one) and
/// answers the saved method's id.
pub fn save_from_payment(ctx: &Ctx<'_>, payment: &Value) -> Result<Option<String>, ApiError> {
    let Some(customer_id) = payment["customer"]["customer_id"].as_str() else {
        return Ok(None);
    };
    let now = ctx.now_string();
    let last4 = payment["card_last_four"].clone();
    let network = payment["card_network"].clone();
    let existing = ctx
        .db
        .list(
            kind::PAYMENT_METHOD,
            &[
                Filter::Parent(customer_id.to_string()),
                Filter::NotState(State::Deleted),
            ],
            u32::MAX,
            0,
        )?
        .into_iter()
        .find(|r| {
            r.data["card"]["last4_digits"] == last4 && r.data["card"]["card_network"] == network
        });
    if let Some(mut r) = existing {
        r.data["last_used_at"] = json!(now);
        ctx.db.update(kind::PAYMENT_METHOD, &r.id, &r.data)?;
        return Ok(Some(r.id));
    }
    let id = new_id("pm_");
    let data = json!({
        "payment_method_id": id,
        "payment_method": payment["payment_method"].as_str().unwrap_or("card"),
        "payment_method_type": payment["payment_method_type"],
        "card": {
            "card_holder_name": payment["card_holder_name"],
            "card_issuing_country": payment["card_issuing_country"],
            "card_network": network,
            "card_type": payment["card_type"],
            "expiry_month": "12",
            "expiry_year": "2030",
            "last4_digits": last4,
        },
        "last_used_at": now,
        "recurring_enabled": true,
    });
    ctx.db
        .insert(kind::PAYMENT_METHOD, &id, Some(customer_id), &now, &data)?;
    Ok(Some(id))
}

/// A saved method of the customer, if it exists.
pub fn find(ctx: &Ctx<'_>, customer_id: &str, id: &str) -> Result<Option<Value>, ApiError> {
    Ok(ctx
        .db
        .find_one(
            kind::PAYMENT_METHOD,
            &[
                Filter::Parent(customer_id.to_string()),
                Filter::Sql("id = ?", vec![SqlValue::Text(id.to_string())]),
                Filter::NotState(State::Deleted),
            ],
        )?
        .map(|r| r.data))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let customer_id = req.param("customer_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", customer_id)?;
    let items = ctx.db.list(
        kind::PAYMENT_METHOD,
        &[
            Filter::Parent(customer_id.to_string()),
            Filter::NotState(State::Deleted),
        ],
        u32::MAX,
        0,
    )?;
    Ok(Reply::items(items.into_iter().map(|r| r.data).collect()))
}

fn delete(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let customer_id = req.param("customer_id");
    let id = req.param("payment_method_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", customer_id)?;
    if find(ctx, customer_id, id)?.is_none() {
        return Err(ApiError::not_found("Payment method", id));
    }
    ctx.db.set_state(kind::PAYMENT_METHOD, id, State::Deleted)?;
    Ok(Reply::empty())
}
