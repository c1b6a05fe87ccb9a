//! Customers: create, retrieve, update, list (filters `email`, `name`, `created_at_gte/lte`).
//!
//! The `email` filter matches exactly; `name` matches a case-insensitive substring. A portal
//! session answers a link on the emulator (`{base_url}/portal/{customer_id}?session=...`);
//! wallets answer an empty USD wallet. Other sub-resources of a customer (payment methods,
//! wallet ledger, entitlements, emails) are served by the generic fallback.

use rusqlite::types::Value as SqlValue;

use super::common::{self, kind, page_list, patch_fields};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};
use crate::store::Filter;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/customers", create);
    r.add("GET", "/customers/{customer_id}", retrieve);
    r.add("PATCH", "/customers/{customer_id}", update);
    r.add("GET", "/customers", list);
    r.add(
        "POST",
        "/customers/{customer_id}/customer-portal/session",
        portal_session,
    );
    r.add("GET", "/customers/{customer_id}/wallets", wallets);
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let email = req.str_field("email")?;
    let name = req.str_field("name")?;
    let phone = req.opt_str("phone_number")?;
    let data = common::create_customer(ctx, email, name, phone, req.metadata()?)?;
    Ok(Reply::json(data))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(ctx, kind::CUSTOMER, "Customer", req.param("customer_id"))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("customer_id");
    let mut record = common::must_get(ctx, kind::CUSTOMER, "Customer", id)?;
    if let Some(email) = req.opt_str("email")?
        && !email.contains('@')
    {
        return Err(ApiError::invalid_field("email", "is not an email address"));
    }
    if req.field("metadata").is_some() {
        req.metadata()?;
    }
    patch_fields(
        &mut record.data,
        req,
        &["email", "name", "phone_number", "metadata"],
    );
    ctx.db.update(kind::CUSTOMER, id, &record.data)?;
    Ok(Reply::json(record.data))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = Vec::new();
    common::eq_filter(req, "email", "$.email", &mut filters);
    if let Some(name) = req.query("name").filter(|n| !n.is_empty()) {
        let escaped = name
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        filters.push(Filter::Sql(
            "lower(json_extract(data, '$.name')) LIKE ? ESCAPE '\\'",
            vec![SqlValue::Text(format!("%{escaped}%"))],
        ));
    }
    common::created_filters(req, &mut filters)?;
    page_list(ctx, req, kind::CUSTOMER, &filters, common::as_is)
}

fn portal_session(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("customer_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", id)?;
    let token = crate::ids::new_id("cps_");
    Ok(Reply::json(serde_json::json!({
        "link": format!("{}/portal/{id}?session={token}", ctx.env.base_url),
    })))
}

fn wallets(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("customer_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", id)?;
    Ok(Reply::json(
        serde_json::json!({ "items": [], "total_balance_usd": 0 }),
    ))
}
