//! Refunds: full and partial (per line item), never more than was paid.
//!
//! Only `succeeded` payments refund (422 `PAYMENT_NOT_SUCCEEDED`). Without `items` the whole
//! remaining amount is refunded (422 `PAYMENT_ALREADY_REFUNDED` when nothing remains); with
//! `items` each `{item_id, amount?}` refunds up to that line's remaining amount (422
//! `REFUND_EXCEEDS_REFUNDABLE_AMOUNT` above it). Refunds succeed at once; the payment's
//! `refunds` list and `refund_status` (`partial`/`full`) follow. A refund is stored with its
//! payment's subscription as parent, which serves the `subscription_id` list filter.

use dodo_types::models::CreateRefundRequest;
use serde_json::{Value, json};

use super::common::{self, kind};
use super::payments::LINES;
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/refunds", create);
    r.add("GET", "/refunds/{refund_id}", retrieve);
    r.add("GET", "/refunds", list);
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateRefundRequest = req.input()?;
    let payment_id = input.payment_id.as_str();
    let mut payment = common::must_get(ctx, kind::PAYMENT, "Payment", payment_id)?;
    if payment.data["status"] != "succeeded" {
        return Err(ApiError::unprocessable(
            "PAYMENT_NOT_SUCCEEDED",
            format!("Payment {payment_id} has not succeeded"),
        ));
    }
    let mut lines = common::must_get(ctx, LINES, "Payment", payment_id)?;
    let Some(items) = lines.data["items"].as_array_mut() else {
        return Err(ApiError::internal("payment line items are malformed"));
    };
    let amount = match input.items.as_deref() {
        None => {
            let total: i64 = items
                .iter()
                .map(|l| l["refundable_amount"].as_i64().unwrap_or(0))
                .fold(0_i64, i64::saturating_add);
            if total <= 0 {
                return Err(ApiError::unprocessable(
                    "PAYMENT_ALREADY_REFUNDED",
                    format!("Payment {payment_id} is already fully refunded"),
                ));
            }
            for l in items.iter_mut() {
                l["refundable_amount"] = json!(0);
            }
            total
        }
        Some(wanted) => {
            if wanted.is_empty() {
                return Err(ApiError::invalid_field("items", "must not be empty"));
            }
            let mut sum = 0i64;
            for (i, w) in wanted.iter().enumerate() {
                let item_id = w.item_id.as_str();
                let line = items
                    .iter_mut()
                    .find(|l| l["items_id"] == item_id)
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            &format!("items[{i}].item_id"),
                            format!("{item_id} is not an item of payment {payment_id}"),
                        )
                    })?;
                let left = line["refundable_amount"].as_i64().unwrap_or(0);
                let amt = w.amount.unwrap_or(left);
                if amt <= 0 && left > 0 {
                    return Err(ApiError::invalid_field(
                        &format!("items[{i}].amount"),
                        "must be positive",
                    ));
                }
                if amt > left || left == 0 {
                    return Err(ApiError::unprocessable(
                        "REFUND_EXCEEDS_REFUNDABLE_AMOUNT",
                        format!(
                            "items[{i}]: refund of {amt} exceeds the refundable amount {left} of item {item_id}"
                        ),
                    ));
                }
                line["refundable_amount"] = json!(left - amt);
                sum += amt;
            }
            sum
        }
    };
    let fully = items
        .iter()
        .all(|l| l["refundable_amount"].as_i64().unwrap_or(0) == 0);
    let total = payment.data["total_amount"].as_i64().unwrap_or(0);
    let id = new_id("ref_");
    let now = ctx.now_string();
    let refund = json!({
        "refund_id": id,
        "payment_id": payment_id,
        "business_id": ctx.env.business_id,
        "brand_id": payment.data["brand_id"],
        "status": "succeeded",
        "amount": amount,
        "currency": payment.data["currency"],
        "is_partial": amount < total,
        "reason": input.reason,
        "metadata": common::metadata_json(input.metadata.as_ref())?,
        "customer": payment.data["customer"],
        "created_at": now,
    });
    let parent = payment.data["subscription_id"].as_str().map(str::to_string);
    ctx.db
        .insert(kind::REFUND, &id, parent.as_deref(), &now, &refund)?;
    ctx.db.update(LINES, payment_id, &lines.data)?;
    let item = list_item_of(&refund);
    if let Some(list) = payment.data["refunds"].as_array_mut() {
        list.push(item);
    }
    payment.data["refund_status"] = json!(if fully { "full" } else { "partial" });
    payment.data["updated_at"] = json!(now);
    ctx.db.update(kind::PAYMENT, payment_id, &payment.data)?;
    if fully {
        use super::entitlements::{Revocation, revoke_issued};
        revoke_issued(ctx, Revocation::Refunded { payment_id })?;
    }
    Ok(Reply::json(refund))
}

fn list_item_of(r: &Value) -> Value {
    json!({
        "refund_id": r["refund_id"],
        "payment_id": r["payment_id"],
        "business_id": r["business_id"],
        "status": r["status"],
        "created_at": r["created_at"],
        "is_partial": r["is_partial"],
        "amount": r["amount"],
        "currency": r["currency"],
        "reason": r["reason"],
    })
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(ctx, kind::REFUND, "Refund", req.param("refund_id"))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = Vec::new();
    common::eq_filter(req, "status", "$.status", &mut filters);
    common::eq_filter(req, "customer_id", "$.customer.customer_id", &mut filters);
    if let Some(s) = req.query("subscription_id").filter(|s| !s.is_empty()) {
        filters.push(Filter::Parent(s.to_string()));
    }
    common::created_filters(req, &mut filters)?;
    common::page_list(ctx, req, kind::REFUND, &filters, |r: &Record| {
        list_item_of(&r.data)
    })
}
