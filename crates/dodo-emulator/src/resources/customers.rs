//! Customers: create, retrieve, update, list (filters `email`, `name`, `created_at_gte/lte`).
//!
//! The `email` filter matches exactly; `name` matches a case-insensitive substring. A portal
//! session answers a link on the emulator (`{base_url}/portal/{customer_id}?session=...`)
//! and, with `send_email=true`, mails it to the customer (the outbox of [`super::emails`],
//! which also serves the customer's email log); its `return_url` (http(s)) becomes the
//! portal's "Return to the shop" link. Wallets live in [`super::wallets`], credit balances in
//! [`super::credit_balances`]; other sub-resources of a customer (payment methods) are served
//! by the generic fallback; entitlement views are in [`super::entitlements`].

use dodo_types::models::{CreateCustomerRequest, PatchCustomerRequest};
use rusqlite::types::Value as SqlValue;

use super::common::{self, kind, page_list, set_some};
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
    let input: CreateCustomerRequest = req.input()?;
    let metadata = common::metadata_json(input.metadata.as_ref())?;
    let data = common::create_customer(
        ctx,
        &input.email,
        &input.name,
        input.phone_number.as_deref(),
        metadata,
    )?;
    Ok(Reply::json(data))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(ctx, kind::CUSTOMER, "Customer", req.param("customer_id"))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("customer_id");
    let input: PatchCustomerRequest = req.input()?;
    let mut record = common::must_get(ctx, kind::CUSTOMER, "Customer", id)?;
    if let Some(email) = input.email.as_deref()
        && !email.contains('@')
    {
        return Err(ApiError::invalid_field("email", "is not an email address"));
    }
    let data = &mut record.data;
    set_some(data, "email", input.email.as_ref())?;
    set_some(data, "name", input.name.as_ref())?;
    set_some(data, "phone_number", input.phone_number.as_ref())?;
    set_some(data, "metadata", input.metadata.as_ref())?;
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

/// The `return_url` a portal session was issued with, if any.
pub fn portal_session_return_url(db: &crate::store::Db<'_>, token: &str) -> Option<String> {
    db.get(kind::PORTAL_SESSION, token)
        .ok()
        .flatten()
        .and_then(|r| r.data["return_url"].as_str().map(str::to_string))
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
    let customer = common::must_get(ctx, kind::CUSTOMER, "Customer", id)?;
    let send_email = req.query_bool("send_email")?.unwrap_or(false);
    let return_url = req.query("return_url").filter(|u| !u.is_empty());
    if let Some(u) = return_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(ApiError::invalid_field(
            "return_url",
            "must be an absolute http(s) URL",
        ));
    }
    let token = issue_portal_session(ctx, id)?;
    if let Some(u) = return_url
        && let Some(mut session) = ctx.db.get(kind::PORTAL_SESSION, &token)?
    {
        session.data["return_url"] = serde_json::json!(u);
        ctx.db.update(kind::PORTAL_SESSION, &token, &session.data)?;
    }
    let link = format!("{}/portal/{id}?session={token}", ctx.env.base_url);
    if send_email {
        super::emails::send_portal_link(ctx, &customer.data, &link)?;
    }
    Ok(Reply::json(serde_json::json!({ "link": link })))
}
