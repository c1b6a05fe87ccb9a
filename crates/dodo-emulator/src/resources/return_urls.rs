//! Where a buyer goes after paying: the `return_url` of payments, subscriptions, checkout
//! sessions and payment-method updates ("Must be a valid URL if provided").
//!
//! [`check`] accepts only an absolute `http://` or `https://` URL with a host and no
//! whitespace or control characters (422 naming the field otherwise), so a page never
//! redirects to `javascript:` or a relative path. A payment link's URL is kept beside its
//! payment ([`remember`], kind [`kind::PAYMENT_RETURN_URL`]) — the `PaymentResponse` has no
//! field for it — and the hosted `/pay/{id}` page returns there ([`of`]) with `payment_id` and
//! `status` (or `subscription_id` and `status`) in the query.

use serde_json::json;

use super::Ctx;
use super::common::kind;
use crate::error::ApiError;
use crate::store::Db;

/// Refuses a `url` (body or query field `field`) that is not an absolute http(s) URL.
pub fn check(field: &str, url: &str) -> Result<(), ApiError> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    match host {
        Some(h) if !h.is_empty() && clean => Ok(()),
        _ => Err(ApiError::invalid_field(
            field,
            "must be an absolute http:// or https:// URL",
        )),
    }
}

/// Keeps `url` as where payment `payment_id`'s link returns the buyer.
pub fn remember(ctx: &Ctx<'_>, payment_id: &str, url: &str) -> Result<(), ApiError> {
    let data = json!({ "return_url": url });
    if ctx.db.get(kind::PAYMENT_RETURN_URL, payment_id)?.is_some() {
        ctx.db.update(kind::PAYMENT_RETURN_URL, payment_id, &data)?;
    } else {
        ctx.db.insert(
            kind::PAYMENT_RETURN_URL,
            payment_id,
            Some(payment_id),
            &ctx.now_string(),
            &data,
        )?;
    }
    Ok(())
}

/// Where payment `payment_id`'s link returns the buyer, if its creator said.
pub fn of(db: &Db<'_>, payment_id: &str) -> Option<String> {
    db.get(kind::PAYMENT_RETURN_URL, payment_id)
        .ok()
        .flatten()
        .and_then(|r| r.data["return_url"].as_str().map(str::to_string))
}
