//! Translations of products, addons, meters, credit entitlements, entitlements and product
//! collections, one locale at a time.
//!
//! One set of handlers serves all six groups; the parent kind comes from the operation's path.
//! `PUT /{group}/{id}/translations/{locale}` creates (201) or replaces (200) the translation
//! of one locale (a field left out of the body has no translation: it reads back `null`);
//! `GET /{group}/{id}/translations` lists them sorted by locale, optionally only the
//! `?locale=` values given; `DELETE` answers 204, or 404 when that locale has no translation.
//! The parent must exist (404 otherwise) and the locale must be one `GET /locales` lists
//! ([`super::misc::LOCALES`]; 422 otherwise). Credit entitlements carry `name` and `unit`, entitlements `name`,
//! `description`, `instructions` and `activation_message`, the others `name` and
//! `description`.

use dodo_types::models::{
    UpsertCreditEntitlementTranslationRequest, UpsertEntitlementTranslationRequest,
    UpsertTranslationRequest,
};
use http::StatusCode;
use serde_json::{Value, json};

use super::common::{self, kind};
use super::misc::LOCALES;
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};
use crate::store::Filter;

/// The parents that have translations: path prefix, store kind, name in errors.
const PARENTS: &[(&str, &str, &str)] = &[
    ("/products/", kind::PRODUCT, "Product"),
    ("/addons/", kind::ADDON, "Addon"),
    ("/meters/", kind::METER, "Meter"),
    (
        "/credit-entitlements/",
        kind::CREDIT_ENTITLEMENT,
        "Credit entitlement",
    ),
    ("/entitlements/", kind::ENTITLEMENT, "Entitlement"),
    (
        "/product-collections/",
        kind::PRODUCT_COLLECTION,
        "Product collection",
    ),
];

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    for path in [
        "/products/{id}/translations/{locale}",
        "/addons/{id}/translations/{locale}",
        "/meters/{id}/translations/{locale}",
        "/credit-entitlements/{id}/translations/{locale}",
        "/entitlements/{id}/translations/{locale}",
        "/product-collections/{id}/translations/{locale}",
    ] {
        r.add("PUT", path, upsert);
        r.add("DELETE", path, delete);
    }
    for path in [
        "/products/{id}/translations",
        "/addons/{id}/translations",
        "/meters/{id}/translations",
        "/credit-entitlements/{id}/translations",
        "/entitlements/{id}/translations",
        "/product-collections/{id}/translations",
    ] {
        r.add("GET", path, list);
    }
}

/// The parent kind and name of the operation's path.
fn parent_of(req: &ApiRequest) -> Result<(&'static str, &'static str), ApiError> {
    PARENTS
        .iter()
        .find(|(prefix, _, _)| req.op.path.starts_with(prefix))
        .map(|(_, k, what)| (*k, *what))
        .ok_or_else(|| ApiError::internal(format!("no translation parent for {}", req.op.path)))
}

/// The parent's key (`{kind}/{id}`) after checking that it exists.
fn parent_key(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<(String, &'static str), ApiError> {
    let (parent_kind, what) = parent_of(req)?;
    let id = req.param("id");
    common::must_get(ctx, parent_kind, what, id)?;
    Ok((format!("{parent_kind}/{id}"), parent_kind))
}

/// Checks a locale code against [`LOCALES`].
fn check_locale<'a>(field: &str, locale: &'a str) -> Result<&'a str, ApiError> {
    if LOCALES.iter().any(|(code, _, _)| *code == locale) {
        Ok(locale)
    } else {
        Err(ApiError::invalid_field(
            field,
            format!(
                "unknown locale `{locale}` (GET /locales lists the {} locales)",
                LOCALES.len()
            ),
        ))
    }
}

fn upsert(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let locale = check_locale("locale", req.param("locale"))?;
    let (parent, parent_kind) = parent_key(ctx, req)?;
    let now = ctx.now_string();
    let data = match parent_kind {
        kind::CREDIT_ENTITLEMENT => {
            let t: UpsertCreditEntitlementTranslationRequest = req.input()?;
            json!({"locale": locale, "name": t.name, "unit": t.unit, "updated_at": now})
        }
        kind::ENTITLEMENT => {
            let t: UpsertEntitlementTranslationRequest = req.input()?;
            json!({
                "locale": locale,
                "name": t.name,
                "description": t.description,
                "instructions": t.instructions,
                "activation_message": t.activation_message,
                "updated_at": now,
            })
        }
        _ => {
            let t: UpsertTranslationRequest = req.input()?;
            json!({"locale": locale, "name": t.name, "description": t.description, "updated_at": now})
        }
    };
    let id = format!("{parent}/{locale}");
    if ctx.db.get(kind::TRANSLATION, &id)?.is_some() {
        ctx.db.update(kind::TRANSLATION, &id, &data)?;
        Ok(Reply::json(data))
    } else {
        ctx.db
            .insert(kind::TRANSLATION, &id, Some(&parent), &now, &data)?;
        Ok(Reply::json(data).with_status(StatusCode::CREATED))
    }
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let (parent, _) = parent_key(ctx, req)?;
    let wanted = req
        .query
        .iter()
        .filter(|(name, _)| name == "locale")
        .map(|(_, v)| check_locale("locale", v))
        .collect::<Result<Vec<_>, _>>()?;
    let records = ctx
        .db
        .list(kind::TRANSLATION, &[Filter::Parent(parent)], u32::MAX, 0)?;
    let mut items: Vec<Value> = records
        .into_iter()
        .map(|r| r.data)
        .filter(|t| wanted.is_empty() || t["locale"].as_str().is_some_and(|l| wanted.contains(&l)))
        .collect();
    items.sort_by(|a, b| a["locale"].as_str().cmp(&b["locale"].as_str()));
    Ok(Reply::items(items))
}

fn delete(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let locale = check_locale("locale", req.param("locale"))?;
    let (parent, _) = parent_key(ctx, req)?;
    let id = format!("{parent}/{locale}");
    if !ctx.db.delete(kind::TRANSLATION, &id)? {
        return Err(ApiError::not_found("Translation", locale));
    }
    Ok(Reply::empty())
}
