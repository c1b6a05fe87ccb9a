//! Helpers shared by the resource handlers: object kinds, lookups, list building, patching,
//! customers and the default brand.

use dodo_types::models::CustomerRequest;
use rusqlite::types::Value as SqlValue;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record, State};

use super::Ctx;

/// Store kinds (also the `kind` values accepted by `/_emulator/seed`); named in one place,
/// [`crate::schema::kind`].
pub use crate::schema::kind;

/// Fetches an object that must exist and not be soft-deleted (404 otherwise).
pub fn must_get(ctx: &Ctx<'_>, kind: &str, what: &str, id: &str) -> Result<Record, ApiError> {
    match ctx.db.get(kind, id)? {
        Some(r) if r.state != State::Deleted => Ok(r),
        _ => Err(ApiError::not_found(what, id)),
    }
}

/// Retrieve fast path: answers the stored JSON text (404 when missing or soft-deleted).
pub fn retrieve_raw(ctx: &Ctx<'_>, kind: &str, what: &str, id: &str) -> Result<Reply, ApiError> {
    match ctx.db.get_raw(kind, id)? {
        Some((text, state)) if state != State::Deleted => Ok(Reply::raw(text)),
        _ => Err(ApiError::not_found(what, id)),
    }
}

/// `created_at_gte` / `created_at_lte` query filters.
pub fn created_filters(req: &ApiRequest, out: &mut Vec<Filter>) -> Result<(), ApiError> {
    if let Some(t) = req.query_time("created_at_gte")? {
        out.push(Filter::CreatedGte(t));
    }
    if let Some(t) = req.query_time("created_at_lte")? {
        out.push(Filter::CreatedLte(t));
    }
    Ok(())
}

/// Adds an equality filter on a JSON field when the query parameter is present.
pub fn eq_filter(req: &ApiRequest, param: &str, path: &'static str, out: &mut Vec<Filter>) {
    if let Some(v) = req.query(param).filter(|v| !v.is_empty()) {
        out.push(Filter::Eq(path, SqlValue::Text(v.to_string())));
    }
}

/// Adds a boolean filter on a JSON field when the query parameter is present.
pub fn bool_filter(
    req: &ApiRequest,
    param: &str,
    path: &'static str,
    out: &mut Vec<Filter>,
) -> Result<(), ApiError> {
    if let Some(b) = req.query_bool(param)? {
        out.push(Filter::Eq(path, SqlValue::Integer(i64::from(b))));
    }
    Ok(())
}

/// Lists one page of a kind with filters, mapping each stored object through `project`.
pub fn page_list(
    ctx: &Ctx<'_>,
    req: &ApiRequest,
    kind: &str,
    filters: &[Filter],
    project: impl Fn(&Record) -> Value,
) -> Result<Reply, ApiError> {
    page_list_with(ctx, req, kind, filters, |r| Ok(project(r)))
}

/// [`page_list`] with a projection that reads the store (and so may fail).
pub fn page_list_with(
    ctx: &Ctx<'_>,
    req: &ApiRequest,
    kind: &str,
    filters: &[Filter],
    project: impl Fn(&Record) -> Result<Value, ApiError>,
) -> Result<Reply, ApiError> {
    let page = req.page()?;
    if page.size == 0 {
        return Ok(Reply::items(Vec::new()));
    }
    let records = ctx.db.list(kind, filters, page.size, page.offset())?;
    Ok(Reply::items(
        records.iter().map(project).collect::<Result<Vec<_>, _>>()?,
    ))
}

/// Returns the stored object unchanged (list projection for kinds whose list item is the object).
pub fn as_is(r: &Record) -> Value {
    r.data.clone()
}

/// A typed request value as stored JSON, serialised with serde (so enums keep their wire
/// names and optional fields that are `None` are left out).
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

/// PATCH of one typed field: stores `value` at `field` of `target` when the request carried
/// it; absent keeps the stored value. `null` keeps it too, except for the fields the spec
/// documents as cleared by `null`: their generated type is `Option<Option<T>>`, whose
/// `Some(None)` is stored here as `null`.
pub fn set_some<T: serde::Serialize>(
    target: &mut Value,
    field: &str,
    value: Option<&T>,
) -> Result<(), ApiError> {
    if let (Some(v), Some(obj)) = (value, target.as_object_mut()) {
        obj.insert(field.to_string(), to_json(v)?);
    }
    Ok(())
}

/// A typed request timestamp in the canonical stored form ([`crate::clock::format`]).
pub fn time_json(value: Option<&dodo_types::support::DateTime>) -> Value {
    value.map_or(Value::Null, |t| Value::String(crate::clock::format(*t)))
}

/// A typed `metadata` field as stored JSON, `{}` when absent.
pub fn metadata_json<T: serde::Serialize>(value: Option<&T>) -> Result<Value, ApiError> {
    value.map_or_else(|| Ok(Value::Object(Map::new())), to_json)
}

/// Sets `updated_at` to now when the object has that field.
pub fn touch(ctx: &Ctx<'_>, target: &mut Value) {
    if let Some(obj) = target.as_object_mut()
        && obj.contains_key("updated_at")
    {
        obj.insert("updated_at".into(), Value::String(ctx.now_string()));
    }
}

/// The `CustomerLimitedDetailsResponse` of a stored customer.
pub fn customer_limited(customer: &Value) -> Value {
    json!({
        "customer_id": customer["customer_id"],
        "name": customer["name"],
        "email": customer["email"],
        "phone_number": customer.get("phone_number").cloned().unwrap_or(Value::Null),
        "metadata": customer.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Creates and stores a customer.
pub fn create_customer(
    ctx: &Ctx<'_>,
    email: &str,
    name: &str,
    phone_number: Option<&str>,
    metadata: Value,
) -> Result<Value, ApiError> {
    if !email.contains('@') {
        return Err(ApiError::invalid_field("email", "is not an email address"));
    }
    let id = new_id("cus_");
    let now = ctx.now_string();
    let data = json!({
        "customer_id": id,
        "business_id": ctx.env.business_id,
        "name": name,
        "email": email,
        "phone_number": phone_number,
        "metadata": metadata,
        "created_at": now,
    });
    ctx.db.insert(kind::CUSTOMER, &id, None, &now, &data)?;
    Ok(data)
}

/// Resolves a typed `CustomerRequest` given at body field `field`: the existing customer
/// (404 when unknown), the customer with that email, or a new one.
pub fn customer_of(
    ctx: &Ctx<'_>,
    field: &str,
    request: &CustomerRequest,
) -> Result<Value, ApiError> {
    match request {
        CustomerRequest::AttachExistingCustomer(c) => {
            Ok(must_get(ctx, kind::CUSTOMER, "Customer", &c.customer_id)?.data)
        }
        CustomerRequest::NewCustomer(c) => {
            customer_by_email(ctx, &c.email, c.name.as_deref(), c.phone_number.as_deref())
        }
        _ => Err(ApiError::invalid_field(
            &format!("{field}.email"),
            "is required",
        )),
    }
}

/// The customer with `email`, or a new one (named after the email's local part by default).
fn customer_by_email(
    ctx: &Ctx<'_>,
    email: &str,
    name: Option<&str>,
    phone: Option<&str>,
) -> Result<Value, ApiError> {
    let existing = ctx.db.find_one(
        kind::CUSTOMER,
        &[Filter::Eq("$.email", SqlValue::Text(email.to_string()))],
    )?;
    if let Some(r) = existing {
        return Ok(r.data);
    }
    let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or(email));
    create_customer(ctx, email, name, phone, json!({}))
}

/// Builds an object with the given fields.
pub fn object(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<Map<_, _>>(),
    )
}

/// Checks that a currency code is one the spec knows (the typed request keeps unknown enum
/// values, the live API refuses them): 422 naming the field otherwise.
pub fn known_currency(
    field: &str,
    currency: &dodo_types::models::Currency,
) -> Result<(), ApiError> {
    if let dodo_types::models::Currency::Unknown(code) = currency {
        return Err(ApiError::invalid_field(
            field,
            format!("unknown currency `{code}`"),
        ));
    }
    Ok(())
}
