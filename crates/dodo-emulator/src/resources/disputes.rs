//! Disputes: retrieve and list the disputes the platform opened.
//!
//! Only the platform opens a dispute (in the emulator: the `dispute.*` triggers call [`open`]
//! on a settled payment and [`set_status`] to move it along); the API reads them. The
//! payment's `disputes` (and its list item's `dispute_status`) follow every change, and the
//! balance ledger and payouts count a dispute's amount (back, when it is won). The list
//! filters by `dispute_status`, `dispute_stage`, `customer_id` and `created_at_gte/lte`, and
//! answers the `ListDisputeResponse` projection.

use serde_json::{Value, json};

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::Record;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("GET", "/disputes/{dispute_id}", retrieve);
    r.add("GET", "/disputes", list);
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(ctx, kind::DISPUTE, "Dispute", req.param("dispute_id"))
}

fn list_item(r: &Record) -> Value {
    let d = &r.data;
    json!({
        "dispute_id": d["dispute_id"], "payment_id": d["payment_id"],
        "business_id": d["business_id"], "amount": d["amount"], "currency": d["currency"],
        "dispute_status": d["dispute_status"], "dispute_stage": d["dispute_stage"],
        "created_at": d["created_at"], "payment_provider": d["payment_provider"],
        "is_resolved_by_rdr": d["is_resolved_by_rdr"],
    })
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = Vec::new();
    common::eq_filter(req, "dispute_status", "$.dispute_status", &mut filters);
    common::eq_filter(req, "dispute_stage", "$.dispute_stage", &mut filters);
    common::eq_filter(req, "customer_id", "$.customer.customer_id", &mut filters);
    common::created_filters(req, &mut filters)?;
    common::page_list(ctx, req, kind::DISPUTE, &filters, list_item)
}

/// Opens a dispute on a succeeded payment for its whole amount (`dispute_opened`).
pub fn open(ctx: &Ctx<'_>, payment_id: &str, reason: &str) -> Result<Value, ApiError> {
    let payment = common::must_get(ctx, kind::PAYMENT, "Payment", payment_id)?.data;
    if payment["status"] != "succeeded" {
        return Err(ApiError::unprocessable(
            "PAYMENT_NOT_SUCCEEDED",
            format!("only a succeeded payment can be disputed; {payment_id} is not"),
        ));
    }
    let id = new_id("dp_");
    let now = ctx.now_string();
    let data = json!({
        "dispute_id": id, "payment_id": payment_id, "business_id": ctx.env.business_id,
        "brand_id": payment["brand_id"], "amount": payment["total_amount"].to_string(),
        "currency": payment["currency"], "customer": payment["customer"],
        "dispute_stage": "dispute", "dispute_status": "dispute_opened",
        "payment_provider": payment["payment_provider"], "reason": reason, "remarks": null,
        "is_resolved_by_rdr": null, "created_at": now,
    });
    ctx.db.insert(kind::DISPUTE, &id, None, &now, &data)?;
    sync_payment(ctx, &data)?;
    Ok(data)
}

/// Moves a dispute to `status` (`dispute_challenged`, `dispute_won`, …).
pub fn set_status(ctx: &Ctx<'_>, id: &str, status: &str) -> Result<Value, ApiError> {
    let mut record = common::must_get(ctx, kind::DISPUTE, "Dispute", id)?;
    record.data["dispute_status"] = json!(status);
    ctx.db.update(kind::DISPUTE, id, &record.data)?;
    sync_payment(ctx, &record.data)?;
    Ok(record.data)
}

/// Writes the dispute's `DisputeResponse` into its payment's `disputes`.
fn sync_payment(ctx: &Ctx<'_>, d: &Value) -> Result<(), ApiError> {
    let Some(pid) = d["payment_id"].as_str() else {
        return Ok(());
    };
    let Some(mut payment) = ctx.db.get(kind::PAYMENT, pid)? else {
        return Ok(());
    };
    let item = json!({
        "dispute_id": d["dispute_id"], "payment_id": pid, "business_id": d["business_id"],
        "amount": d["amount"], "currency": d["currency"], "dispute_status": d["dispute_status"],
        "dispute_stage": d["dispute_stage"], "created_at": d["created_at"],
        "is_resolved_by_rdr": d["is_resolved_by_rdr"], "remarks": d["remarks"],
    });
    let list = payment.data["disputes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut list: Vec<Value> = list
        .into_iter()
        .filter(|x| x["dispute_id"] != d["dispute_id"])
        .collect();
    list.push(item);
    payment.data["disputes"] = Value::Array(list);
    ctx.db.update(kind::PAYMENT, pid, &payment.data)?;
    Ok(())
}
