//! Disputes: retrieve and list the disputes the platform opened.
//!
//! Only the platform opens a dispute (in the emulator: the `dispute.*` triggers, which open one
//! on a settled payment and move it through its statuses); the API reads them. The list
//! filters by `dispute_status`, `dispute_stage`, `customer_id` and `created_at_gte/lte`, and
//! answers the `ListDisputeResponse` projection.

use serde_json::{Value, json};

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::error::ApiError;
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
