//! Short links of products: `POST /products/{id}/short_links` and `GET /products/short_links`.
//!
//! A short link (id = its slug) points at the product's static checkout link
//! (`{base}/buy/{product_id}`) with the given `static_checkout_params` as its query. Its short
//! URL (`{base}/s/{slug}`) is served by the emulator itself ([`crate::short_urls`]), which
//! redirects to the full URL. Slugs are 1 to 64 letters, digits, `-` or `_` (422 otherwise)
//! and unique across the business (409 when taken); the product must exist (404). The list
//! pages newest first and filters by `product_id`. [`shorten`] makes the short URLs of
//! payment links and checkout URLs (`short_link: true`), served the same way.

use dodo_types::models::CreateShortLinkRequest;
use rusqlite::types::Value as SqlValue;
use serde_json::json;

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};
use crate::store::Filter;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/products/{id}/short_links", create);
    r.add("GET", "/products/short_links", list);
}

/// Path prefix of the short URLs the emulator serves.
pub const SHORT_PATH: &str = "/s/";

/// Longest accepted slug.
pub const MAX_SLUG_LEN: usize = 64;

fn check_slug(slug: &str) -> Result<(), ApiError> {
    if slug.is_empty() || slug.len() > MAX_SLUG_LEN {
        return Err(ApiError::invalid_field(
            "slug",
            format!("must be 1 to {MAX_SLUG_LEN} characters"),
        ));
    }
    if !slug
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::invalid_field(
            "slug",
            "may contain only letters, digits, `-` and `_`",
        ));
    }
    Ok(())
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateShortLinkRequest = req.input()?;
    let product_id = req.param("id");
    check_slug(&input.slug)?;
    common::must_get(ctx, kind::PRODUCT, "Product", product_id)?;
    if ctx.db.get(kind::SHORT_LINK, &input.slug)?.is_some() {
        return Err(ApiError::conflict(
            "SLUG_TAKEN",
            format!("slug `{}` is already taken", input.slug),
        ));
    }
    let mut full_url = format!("{}/buy/{product_id}", ctx.env.base_url);
    if let Some(params) = input
        .static_checkout_params
        .as_ref()
        .filter(|p| !p.is_empty())
    {
        if params.keys().any(String::is_empty) {
            return Err(ApiError::invalid_field(
                "static_checkout_params",
                "parameter names must not be empty",
            ));
        }
        let query = serde_urlencoded::to_string(params)
            .map_err(|e| ApiError::invalid_field("static_checkout_params", e))?;
        full_url.push('?');
        full_url.push_str(&query);
    }
    let short_url = format!("{}{SHORT_PATH}{}", ctx.env.base_url, input.slug);
    let now = ctx.now_string();
    let data = json!({
        "product_id": product_id,
        "short_url": short_url,
        "full_url": full_url,
        "created_at": now,
    });
    ctx.db
        .insert(kind::SHORT_LINK, &input.slug, Some(product_id), &now, &data)?;
    Ok(Reply::json(
        json!({"short_url": short_url, "full_url": full_url}),
    ))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = Vec::new();
    if let Some(product) = req.query("product_id").filter(|p| !p.is_empty()) {
        filters.push(Filter::Eq(
            "$.product_id",
            SqlValue::Text(product.to_string()),
        ));
    }
    common::page_list(ctx, req, kind::SHORT_LINK, &filters, common::as_is)
}

/// The full URL a slug redirects to, if the slug names a product's short link or a
/// shortened payment or checkout link.
pub fn resolve(ctx: &Ctx<'_>, slug: &str) -> Result<Option<String>, ApiError> {
    for k in [kind::SHORT_LINK, kind::LINK_SHORT_URL] {
        if let Some(r) = ctx.db.get(k, slug)? {
            return Ok(r.data["full_url"].as_str().map(str::to_string));
        }
    }
    Ok(None)
}

/// A short URL (`{base}/s/{slug}`, a fresh random slug) for a payment link or checkout URL:
/// what `short_link: true` on payments, subscriptions and checkout sessions answers. These
/// are not product short links, so `GET /products/short_links` does not list them.
pub fn shorten(ctx: &Ctx<'_>, full_url: &str) -> Result<String, ApiError> {
    let slug = crate::ids::upper_code(10).to_ascii_lowercase();
    let short_url = format!("{}{SHORT_PATH}{slug}", ctx.env.base_url);
    ctx.db.insert(
        kind::LINK_SHORT_URL,
        &slug,
        None,
        &ctx.now_string(),
        &json!({ "short_url": short_url, "full_url": full_url }),
    )?;
    Ok(short_url)
}
