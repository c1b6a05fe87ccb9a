//! Reading credit balances back: one customer's balance under an entitlement, all balances of
//! an entitlement (`customer_id` filter), a customer's grants (`status`: `active`, `expired`,
//! `depleted`), their ledger (`transaction_type`, `start_date`/`end_date`), newest first and
//! page-numbered, and `GET /customers/{id}/credit-entitlements` (every entitlement the customer
//! has a balance in, deleted ones left out).
//!
//! Every balance is computed from the grants at the virtual clock's now
//! ([`super::credit_ledger`] owns the postings); a grant past its `expires_at` shows
//! `is_expired: true` and counts for nothing even before the clock's sweep records its expiry.
//! A balance is 404 until the customer's first ledger entry under that entitlement, and every
//! route of a deleted entitlement is 404.

use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::amounts::Fixed;
use super::common::{self, kind};
use super::credit_entitlements::{must_get_live, precision};
use super::credit_ledger::{amount_at, balance_now, grant_expired, grants, scope};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record, State};

const BASE: &str = "/credit-entitlements/{credit_entitlement_id}/balances";

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("GET", BASE, list_balances);
    r.add(
        "GET",
        "/credit-entitlements/{credit_entitlement_id}/balances/{customer_id}",
        get_balance,
    );
    r.add(
        "GET",
        "/credit-entitlements/{credit_entitlement_id}/balances/{customer_id}/grants",
        list_grants,
    );
    r.add(
        "GET",
        "/credit-entitlements/{credit_entitlement_id}/balances/{customer_id}/ledger",
        list_ledger,
    );
    r.add(
        "GET",
        "/customers/{customer_id}/credit-entitlements",
        customer_entitlements,
    );
}

/// A grant as the API shows it (`is_expired` as of now).
fn grant_view(grant: &Value, now: &str) -> Value {
    let mut g = grant.clone();
    g["is_expired"] = json!(grant_expired(grant, now));
    g
}

/// A stored balance as the API shows it, with the balance computed from the grants.
fn balance_view(ctx: &Ctx<'_>, record: &Record) -> Result<Value, ApiError> {
    let cde = record.data["credit_entitlement_id"]
        .as_str()
        .unwrap_or_default();
    let scale = match ctx.db.get(kind::CREDIT_ENTITLEMENT, cde)? {
        Some(e) => precision(&e.data),
        None => 0,
    };
    let mut v = record.data.clone();
    v["balance"] = json!(balance_now(ctx, &record.id, scale)?.to_plain());
    Ok(v)
}

fn get_balance(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let cde = req.param("credit_entitlement_id");
    let customer_id = req.param("customer_id");
    must_get_live(ctx, cde)?;
    let record = ctx
        .db
        .get(kind::CREDIT_BALANCE, &scope(cde, customer_id))?
        .ok_or_else(|| {
            ApiError::not_found(
                "Credit balance of customer",
                &format!("{customer_id} under {cde}"),
            )
        })?;
    Ok(Reply::json(balance_view(ctx, &record)?))
}

fn list_balances(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let cde = req.param("credit_entitlement_id");
    must_get_live(ctx, cde)?;
    let page = req.page()?;
    let mut filters = vec![Filter::Eq(
        "$.credit_entitlement_id",
        SqlValue::Text(cde.to_string()),
    )];
    common::eq_filter(req, "customer_id", "$.customer_id", &mut filters);
    let records = ctx
        .db
        .list(kind::CREDIT_BALANCE, &filters, page.size, page.offset())?;
    let items = records
        .iter()
        .map(|r| balance_view(ctx, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::items(items))
}

fn list_grants(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let cde = req.param("credit_entitlement_id");
    let customer_id = req.param("customer_id");
    let ent = must_get_live(ctx, cde)?.data;
    // An unknown customer is a 404, as the spec lists (a known one without grants lists none).
    common::must_get(ctx, kind::CUSTOMER, "Customer", customer_id)?;
    let scale = precision(&ent);
    let page = req.page()?;
    let status = req.query("status").filter(|s| !s.is_empty());
    if let Some(s) = status
        && !matches!(s, "active" | "expired" | "depleted")
    {
        return Err(ApiError::invalid_field(
            "status",
            format!("expected active, expired or depleted, got `{s}`"),
        ));
    }
    let now = ctx.now_string();
    let mut all = grants(ctx, &scope(cde, customer_id))?;
    all.reverse();
    let items: Vec<Value> = all
        .iter()
        .filter(|g| {
            let expired = grant_expired(&g.data, &now);
            let empty = amount_at(&g.data["remaining_amount"], scale).is_zero();
            match status {
                Some("active") => !expired && !empty,
                Some("expired") => expired,
                Some("depleted") => !expired && empty,
                _ => true,
            }
        })
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.size as usize)
        .map(|g| grant_view(&g.data, &now))
        .collect();
    Ok(Reply::items(items))
}

fn list_ledger(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let cde = req.param("credit_entitlement_id");
    let customer_id = req.param("customer_id");
    must_get_live(ctx, cde)?;
    common::must_get(ctx, kind::CUSTOMER, "Customer", customer_id)?;
    let mut filters = vec![Filter::Parent(scope(cde, customer_id))];
    common::eq_filter(req, "transaction_type", "$.transaction_type", &mut filters);
    if let Some(t) = req.query_time("start_date")? {
        filters.push(Filter::CreatedGte(t));
    }
    if let Some(t) = req.query_time("end_date")? {
        filters.push(Filter::CreatedLte(t));
    }
    common::page_list(ctx, req, kind::CREDIT_LEDGER_ENTRY, &filters, common::as_is)
}

fn customer_entitlements(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let customer_id = req.param("customer_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", customer_id)?;
    let balances = ctx.db.list(
        kind::CREDIT_BALANCE,
        &[Filter::Eq(
            "$.customer_id",
            SqlValue::Text(customer_id.to_string()),
        )],
        u32::MAX,
        0,
    )?;
    let mut items = Vec::new();
    for b in &balances {
        let cde = b.data["credit_entitlement_id"].as_str().unwrap_or_default();
        let Some(ent) = ctx
            .db
            .get(kind::CREDIT_ENTITLEMENT, cde)?
            .filter(|e| e.state != State::Deleted)
        else {
            continue;
        };
        let view = balance_view(ctx, b)?;
        items.push(json!({
            "credit_entitlement_id": cde,
            "name": ent.data["name"],
            "description": ent.data["description"],
            "unit": ent.data["unit"],
            "balance": view["balance"],
            "overage": view["overage"],
        }));
    }
    Ok(Reply::items(items))
}

/// The balance and overage of a customer under an entitlement (zero when none was ever
/// granted), for derived views such as a subscription's credit usage.
pub fn balance_and_overage(
    ctx: &Ctx<'_>,
    entitlement: &Value,
    customer_id: &str,
) -> Result<(Fixed, Fixed), ApiError> {
    let cde = entitlement["id"].as_str().unwrap_or_default();
    let scale = precision(entitlement);
    let sc = scope(cde, customer_id);
    let overage = match ctx.db.get(kind::CREDIT_BALANCE, &sc)? {
        Some(r) => amount_at(&r.data["overage"], scale),
        None => Fixed::zero(scale),
    };
    Ok((balance_now(ctx, &sc, scale)?, overage))
}
