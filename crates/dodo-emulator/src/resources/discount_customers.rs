//! Customers a discount is restricted to: attach (`POST /discounts/{id}/customers`), list and
//! detach.
//!
//! An attachment (id `{discount_id}/{customer_id}`) links a discount to an existing customer of
//! the business. `POST` takes 1 to 1000 customer ids, all of which must exist (422 naming the
//! unknown ones, nothing attached); attaching is idempotent and answers the ids of this request
//! (deduplicated, in order). The list pages the attached customers, oldest first. `DELETE`
//! answers 204, or 404 when the discount does not exist or the customer is not attached. A
//! discount whose `customer_eligibility` is `specific` can be redeemed only by an attached
//! customer ([`is_attached`], called by [`super::discounts::check_customer`]).

use dodo_types::models::AddDiscountCustomersRequest;
use serde_json::json;

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};
use crate::store::Filter;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/discounts/{discount_id}/customers", attach);
    r.add("GET", "/discounts/{discount_id}/customers", list);
    r.add(
        "DELETE",
        "/discounts/{discount_id}/customers/{customer_id}",
        detach,
    );
}

/// Most customer ids one request may attach.
pub const MAX_ATTACH: usize = 1000;

fn key(discount_id: &str, customer_id: &str) -> String {
    format!("{discount_id}/{customer_id}")
}

/// Whether `customer_id` is attached to `discount_id`.
pub fn is_attached(ctx: &Ctx<'_>, discount_id: &str, customer_id: &str) -> Result<bool, ApiError> {
    Ok(ctx
        .db
        .get(kind::DISCOUNT_CUSTOMER, &key(discount_id, customer_id))?
        .is_some())
}

fn attach(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: AddDiscountCustomersRequest = req.input()?;
    let discount_id = req.param("discount_id");
    common::must_get(ctx, kind::DISCOUNT, "Discount", discount_id)?;
    if input.customer_ids.is_empty() || input.customer_ids.len() > MAX_ATTACH {
        return Err(ApiError::invalid_field(
            "customer_ids",
            format!("must hold 1 to {MAX_ATTACH} customer ids"),
        ));
    }
    let mut ids: Vec<&str> = Vec::with_capacity(input.customer_ids.len());
    for id in &input.customer_ids {
        if !ids.contains(&id.as_str()) {
            ids.push(id);
        }
    }
    let mut unknown = Vec::new();
    for id in &ids {
        if common::must_get(ctx, kind::CUSTOMER, "Customer", id).is_err() {
            unknown.push(*id);
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::unprocessable(
            "CUSTOMER_NOT_FOUND",
            format!(
                "these customers do not exist in this business: {}",
                unknown.join(", ")
            ),
        ));
    }
    let now = ctx.now_string();
    for id in &ids {
        let k = key(discount_id, id);
        if ctx.db.get(kind::DISCOUNT_CUSTOMER, &k)?.is_none() {
            ctx.db.insert(
                kind::DISCOUNT_CUSTOMER,
                &k,
                Some(discount_id),
                &now,
                &json!({"customer_id": id}),
            )?;
        }
    }
    Ok(Reply::items(
        ids.iter().map(|id| json!({"customer_id": id})).collect(),
    ))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let discount_id = req.param("discount_id");
    common::must_get(ctx, kind::DISCOUNT, "Discount", discount_id)?;
    let page = req.page()?;
    if page.size == 0 {
        return Ok(Reply::items(Vec::new()));
    }
    let filters = [Filter::Parent(discount_id.to_string())];
    let total = ctx.db.count(kind::DISCOUNT_CUSTOMER, &filters)?;
    // The store lists newest first; the allowlist reads oldest first, so page from the end.
    let offset = page.offset();
    if offset >= total {
        return Ok(Reply::items(Vec::new()));
    }
    let take = (total - offset).min(u64::from(page.size));
    let from_end = total - offset - take;
    let mut records = ctx.db.list(
        kind::DISCOUNT_CUSTOMER,
        &filters,
        u32::try_from(take).unwrap_or(page.size),
        from_end,
    )?;
    records.reverse();
    Ok(Reply::items(records.into_iter().map(|r| r.data).collect()))
}

fn detach(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let discount_id = req.param("discount_id");
    let customer_id = req.param("customer_id");
    common::must_get(ctx, kind::DISCOUNT, "Discount", discount_id)?;
    if !ctx
        .db
        .delete(kind::DISCOUNT_CUSTOMER, &key(discount_id, customer_id))?
    {
        return Err(ApiError::not_found(
            "Customer attached to this discount",
            customer_id,
        ));
    }
    Ok(Reply::empty())
}
