//! Generic CRUD for operations without domain logic (clearly a stand-in, not Dodo behaviour).
//!
//! The operation's method and path template decide what happens. Objects live under the kind
//! `generic:<collection template>` (parameters written `{}`), scoped by the values of the
//! parent path parameters:
//! - `POST` (or `PUT`) to a collection path stores the validated body plus `id` (prefix from
//!   the resource name, e.g. `cde_`), `business_id`, `created_at`, `updated_at`, and answers it;
//!   a `POST` action on an item (`.../{id}/unarchive`) answers the stored item or an empty body;
//! - `PUT` to an item path (`.../translations/{locale}`) upserts it;
//! - `GET` on an item path answers the stored object or 404; a page-number list answers
//!   `{"items": [...]}` newest first; the cursor list `{data, done, iterator, prev_iterator}`;
//!   any other `GET` answers a seeded singleton or an empty object/list;
//! - `PATCH` merges the body into the stored object; `DELETE` soft-deletes it (then 404).
//!
//! Shapes are therefore only as right as the stored data: seed realistic objects through
//! `/_emulator/seed` (kind `generic:/path/{}`) for anything a test needs to read back.

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::ids::new_id;
use crate::ops::{ListKind, Operation};
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, State};

use super::Ctx;

/// Where the generic handler keeps objects of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Store kind (`generic:/products/{}/localized-prices`).
    pub kind: String,
    /// Values of the parent path parameters joined by `/` (empty at the top level).
    pub parent: String,
    /// The addressed object id, for item paths.
    pub id: Option<String>,
}

fn is_param(seg: &str) -> bool {
    seg.starts_with('{') && seg.ends_with('}')
}

/// Resolves the storage location of a request.
pub fn locate(op: &Operation, params: &[(&'static str, String)]) -> Location {
    let segments: Vec<&str> = op.path.split('/').collect();
    let item = segments.last().is_some_and(|s| is_param(s));
    let collection: Vec<&str> = if item {
        segments[..segments.len() - 1].to_vec()
    } else {
        segments.clone()
    };
    let template = collection
        .iter()
        .map(|s| if is_param(s) { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/");
    let parent_count = collection.iter().filter(|s| is_param(s)).count();
    let parent = params
        .iter()
        .take(parent_count)
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join("/");
    Location {
        kind: format!("generic:{template}"),
        parent,
        id: if item {
            params.last().map(|(_, v)| v.clone())
        } else {
            None
        },
    }
}

/// Id prefix for objects created under a collection, from its last static segment.
pub fn prefix_for(kind: &str) -> &'static str {
    let last = kind
        .rsplit('/')
        .find(|s| !s.is_empty() && *s != "{}")
        .unwrap_or("");
    match last {
        "credit-entitlements" => "cde_",
        "entitlements" => "ent_",
        "product-collections" => "pdc_",
        "localized-prices" => "lcp_",
        "ledger-entries" => "cle_",
        "grants" => "entg_",
        "payouts" => "pyt_",
        "disputes" => "dp_",
        "short_links" => "psl_",
        "customers" => "cus_",
        "products" => "pdt_",
        "notes" => "note_",
        "files" => "file_",
        "groups" => "pcg_",
        "items" => "pci_",
        _ => "obj_",
    }
}

/// The generic handler.
pub fn handle(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let op = req.op;
    let loc = locate(op, &req.params);
    match (op.method, &loc.id) {
        ("GET", Some(id)) => get(ctx, &loc, id),
        ("GET", None) => match op.list {
            ListKind::PageNumber => list(ctx, req, &loc),
            ListKind::Cursor => cursor_list(ctx, req, &loc),
            _ if op.response.is_some_and(|r| r.contains("List")) => list(ctx, req, &loc),
            _ => singleton(ctx, op, &loc),
        },
        ("POST", None) => create(ctx, req, &loc),
        ("PUT", None) => create(ctx, req, &loc),
        ("PUT", Some(id)) => upsert(ctx, req, &loc, id),
        ("PATCH", Some(id)) => patch(ctx, req, &loc, id),
        ("DELETE", Some(id)) => delete(ctx, &loc, id),
        _ => action(req),
    }
}

fn get(ctx: &Ctx<'_>, loc: &Location, id: &str) -> Result<Reply, ApiError> {
    match ctx.db.get_raw(&loc.kind, id)? {
        Some((text, state)) if state != State::Deleted => Ok(Reply::raw(text)),
        _ => Err(ApiError::not_found("Object", id)),
    }
}

fn live_filters(loc: &Location) -> Vec<Filter> {
    let parent = if loc.parent.is_empty() {
        // Top-level objects may be seeded without a parent.
        Filter::Sql("parent IS NULL OR parent = ''", Vec::new())
    } else {
        Filter::Parent(loc.parent.clone())
    };
    vec![parent, Filter::NotState(State::Deleted)]
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest, loc: &Location) -> Result<Reply, ApiError> {
    super::common::page_list(
        ctx,
        req,
        &loc.kind,
        &live_filters(loc),
        super::common::as_is,
    )
}

fn cursor_list(ctx: &Ctx<'_>, req: &ApiRequest, loc: &Location) -> Result<Reply, ApiError> {
    let filters = live_filters(loc);
    super::webhooks::cursor_page(ctx, req, &loc.kind, filters, super::common::as_is)
}

fn singleton(ctx: &Ctx<'_>, op: &Operation, loc: &Location) -> Result<Reply, ApiError> {
    if let Some((text, State::Active)) = ctx.db.get_raw(&loc.kind, &loc.parent)? {
        return Ok(Reply::raw(text));
    }
    Ok(match op.response {
        _ if op.path == "/checkout/supported_countries" => {
            Reply::json(json!(["US", "IN", "GB", "DE", "FR", "CA", "AU", "JP"]))
        }
        Some(r) if r.starts_with("Vec<") => Reply::json(json!([])),
        Some(_) => Reply::json(json!({})),
        None => Reply::empty(),
    })
}

fn stamp(ctx: &Ctx<'_>, body: &Value, id: &str, now: &str) -> Value {
    let mut obj = body.as_object().cloned().unwrap_or_else(Map::new);
    obj.insert("id".into(), Value::String(id.to_string()));
    obj.insert(
        "business_id".into(),
        Value::String(ctx.env.business_id.clone()),
    );
    obj.entry("created_at")
        .or_insert_with(|| Value::String(now.to_string()));
    obj.insert("updated_at".into(), Value::String(now.to_string()));
    Value::Object(obj)
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest, loc: &Location) -> Result<Reply, ApiError> {
    let id = new_id(prefix_for(&loc.kind));
    let now = ctx.now_string();
    let data = stamp(ctx, &req.body, &id, &now);
    ctx.db
        .insert(&loc.kind, &id, Some(&loc.parent), &now, &data)?;
    Ok(if req.op.response.is_some() {
        Reply::json(data)
    } else {
        Reply::empty()
    })
}

fn upsert(ctx: &Ctx<'_>, req: &ApiRequest, loc: &Location, id: &str) -> Result<Reply, ApiError> {
    let now = ctx.now_string();
    let data = stamp(ctx, &req.body, id, &now);
    match ctx.db.get(&loc.kind, id)? {
        Some(_) => {
            ctx.db.update(&loc.kind, id, &data)?;
            ctx.db.set_state(&loc.kind, id, State::Active)?;
        }
        None => {
            ctx.db
                .insert(&loc.kind, id, Some(&loc.parent), &now, &data)?;
        }
    }
    Ok(if req.op.response.is_some() {
        Reply::json(data)
    } else {
        Reply::empty()
    })
}

fn patch(ctx: &Ctx<'_>, req: &ApiRequest, loc: &Location, id: &str) -> Result<Reply, ApiError> {
    let mut record = match ctx.db.get(&loc.kind, id)? {
        Some(r) if r.state != State::Deleted => r,
        _ => return Err(ApiError::not_found("Object", id)),
    };
    if let (Some(target), Some(patch)) = (record.data.as_object_mut(), req.body.as_object()) {
        for (k, v) in patch {
            if !v.is_null() {
                target.insert(k.clone(), v.clone());
            }
        }
        target.insert("updated_at".into(), Value::String(ctx.now_string()));
    }
    ctx.db.update(&loc.kind, id, &record.data)?;
    Ok(if req.op.response.is_some() {
        Reply::json(record.data)
    } else {
        Reply::empty()
    })
}

fn delete(ctx: &Ctx<'_>, loc: &Location, id: &str) -> Result<Reply, ApiError> {
    match ctx.db.get(&loc.kind, id)? {
        Some(r) if r.state != State::Deleted => {
            ctx.db.set_state(&loc.kind, id, State::Deleted)?;
            Ok(Reply::empty())
        }
        _ => Err(ApiError::not_found("Object", id)),
    }
}

/// A `PATCH`/`DELETE` on a non-item path (none in the spec today): an empty body or `{}`.
fn action(req: &ApiRequest) -> Result<Reply, ApiError> {
    Ok(if req.op.response.is_some() {
        Reply::json(json!({}))
    } else {
        Reply::empty()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::OperationTable;

    #[test]
    fn locations_group_items_with_their_collection() {
        let table = OperationTable::spec().unwrap();
        let m = table
            .lookup("GET", "/products/pdt_1/localized-prices/lcp_2")
            .unwrap();
        let loc = locate(m.op, &m.params);
        assert_eq!(loc.kind, "generic:/products/{}/localized-prices");
        assert_eq!(loc.parent, "pdt_1");
        assert_eq!(loc.id.as_deref(), Some("lcp_2"));
        let m = table
            .lookup("POST", "/products/pdt_1/localized-prices")
            .unwrap();
        let create = locate(m.op, &m.params);
        assert_eq!(create.kind, loc.kind);
        assert_eq!(create.parent, "pdt_1");
        assert_eq!(create.id, None);
        assert_eq!(prefix_for(&loc.kind), "lcp_");
        assert_eq!(prefix_for("generic:/credit-entitlements"), "cde_");
    }
}
