//! Customers: create, retrieve, update, list (filters `email`, `name`, `created_at_gte/lte`).
//!
//! The `email` filter matches exactly; `name` matches a case-insensitive substring. A portal
//! session answers a link on the emulator (`{base_url}/portal/{customer_id}?session=...`).
//! Wallets live in [`super::wallets`], credit balances in [`super::credit_balances`]; other
//! sub-resources of a customer (payment methods, emails) are served by the generic fallback;
//! entitlement views are in [`super::entitlements`].

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

/// How long a portal session stays valid.
pub const PORTAL_SESSION_LIFETIME: time::Duration = time::Duration::hours(1);

/// Issues a portal session for a customer (called by the API's portal-session operation);
/// answers the token.
pub fn issue_portal_session(ctx: &Ctx<'_>, customer_id: &str) -> Result<String, ApiError> {
    let token = format!("cps_{}", crate::ids::token());
    let now = ctx.now();
    let expires = now.checked_add(PORTAL_SESSION_LIFETIME).unwrap_or(now);
    let data = serde_json::json!({
        "customer_id": customer_id,
        "expires_at": crate::clock::format(expires),
    });
    ctx.db.insert(
        kind::PORTAL_SESSION,
        &token,
        None,
        &crate::clock::format(now),
        &data,
    )?;
    Ok(token)
}

/// The customer of a live (stored, unexpired) portal session token.
pub fn portal_session_customer(db: &crate::store::Db<'_>, token: &str) -> Option<String> {
    let now = db.now_string();
    db.get(kind::PORTAL_SESSION, token)
        .ok()
        .flatten()
        .filter(|r| {
            r.data["expires_at"]
                .as_str()
                .is_some_and(|e| e > now.as_str())
        })
        .and_then(|r| r.data["customer_id"].as_str().map(str::to_string))
}

fn portal_session(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("customer_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", id)?;
    let token = issue_portal_session(ctx, id)?;
    Ok(Reply::json(serde_json::json!({
        "link": format!("{}/portal/{id}?session={token}", ctx.env.base_url),
    })))
}
