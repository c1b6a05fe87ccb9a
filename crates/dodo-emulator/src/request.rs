//! What a resource handler sees of a request, and what it answers.
//!
//! [`ApiRequest`] carries the matched operation, path parameters, query pairs and the validated
//! JSON body, which handlers read as the operation's generated request type
//! ([`ApiRequest::input`]), never by string key. [`Page`] reads the 0-based page-number
//! parameters (`page_size` default 10, max 100). [`Reply`] is a handler's answer: JSON,
//! pre-serialised JSON text, or an empty body.

use http::StatusCode;
use serde_json::{Map, Value};

use crate::clock;
use crate::error::ApiError;
use crate::ops::Operation;

/// Default `page_size`.
pub const DEFAULT_PAGE_SIZE: u32 = 10;
/// Largest accepted `page_size` (larger values get 422).
pub const MAX_PAGE_SIZE: u32 = 100;

/// A routed, authenticated, validated API request.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// The matched operation.
    pub op: &'static Operation,
    /// Path parameters in template order.
    pub params: Vec<(&'static str, String)>,
    /// Query pairs in order of appearance.
    pub query: Vec<(String, String)>,
    /// The validated body (`Value::Null` when the operation takes none).
    pub body: Value,
}

/// 0-based page of a page-number list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Page index, starting at 0.
    pub number: u64,
    /// Items per page (0..=100; 0 yields an empty page).
    pub size: u32,
}

impl Page {
    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        self.number.saturating_mul(u64::from(self.size))
    }
}

impl ApiRequest {
    /// A path parameter by name (empty if the template has none of that name).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The last path parameter (the id of the addressed object).
    pub fn last_param(&self) -> &str {
        self.params.last().map(|(_, v)| v.as_str()).unwrap_or("")
    }

    /// A query value (the last one wins when repeated).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query value (`true`/`false`).
    pub fn query_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.query(name) {
            None | Some("") => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::invalid_field(
                name,
                format!("expected true or false, got `{other}`"),
            )),
        }
    }

    /// An unsigned integer query value.
    pub fn query_u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.query(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::invalid_field(name, format!("expected a non-negative integer, got `{v}`"))
            }),
        }
    }

    /// A timestamp query value, canonicalised for comparison with stored timestamps.
    pub fn query_time(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.query(name) {
            None | Some("") => Ok(None),
            Some(v) => clock::canonical(v).map(Some).ok_or_else(|| {
                ApiError::invalid_field(name, format!("expected an RFC 3339 timestamp, got `{v}`"))
            }),
        }
    }

    /// The page-number parameters.
    pub fn page(&self) -> Result<Page, ApiError> {
        let number = self.query_u64("page_number")?.unwrap_or(0);
        let size = self
            .query_u64("page_size")?
            .unwrap_or(u64::from(DEFAULT_PAGE_SIZE));
        if size > u64::from(MAX_PAGE_SIZE) {
            return Err(ApiError::invalid_field(
                "page_size",
                format!("must be at most {MAX_PAGE_SIZE}, got {size}"),
            ));
        }
        Ok(Page {
            number,
            size: u32::try_from(size).unwrap_or(MAX_PAGE_SIZE),
        })
    }

    /// The body as the operation's generated request type (`dodo_types::models::…`).
    ///
    /// The dispatcher has already validated the body against that type, so this fails only
    /// when a handler asks for a type other than its operation's; the error names the field.
    /// Prefer this to the string-keyed accessors below: a field renamed in the spec then
    /// breaks the build instead of a test.
    pub fn input<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body = if self.body.is_null() {
            Value::Object(Map::new())
        } else {
            self.body.clone()
        };
        serde_path_to_error::deserialize(body).map_err(|e| {
            let path = e.path().to_string();
            ApiError::invalid_field(&path, e.into_inner())
        })
    }

    /// The body as an object (empty when there is no body).
    pub fn body_obj(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.body
            .as_object()
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }
}

/// The body of a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyBody {
    /// No body.
    Empty,
    /// A JSON value.
    Json(Value),
    /// Already serialised JSON text (e.g. straight from the store).
    Raw(String),
    /// Non-JSON bytes with their content type (PDF invoices, CSV exports).
    Bytes(&'static str, Vec<u8>),
}

/// A handler's successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Status override; `None` uses the operation's success status.
    pub status: Option<StatusCode>,
    /// Body.
    pub body: ReplyBody,
}

impl Reply {
    /// A JSON body with the operation's success status.
    pub fn json(value: Value) -> Self {
        Self {
            status: None,
            body: ReplyBody::Json(value),
        }
    }

    /// Pre-serialised JSON text with the operation's success status.
    pub fn raw(text: String) -> Self {
        Self {
            status: None,
            body: ReplyBody::Raw(text),
        }
    }

    /// An empty body with the operation's success status.
    pub fn empty() -> Self {
        Self {
            status: None,
            body: ReplyBody::Empty,
        }
    }

    /// `{"items": [...]}`.
    pub fn items(items: Vec<Value>) -> Self {
        Self::json(serde_json::json!({ "items": items }))
    }

    /// Overrides the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }
}

/// Default `limit` of the admin list routes.
pub const DEFAULT_ADMIN_LIMIT: usize = 100;
/// Largest `limit` of the admin list routes (larger values get 422).
pub const MAX_ADMIN_LIMIT: usize = 1_000;

/// The `limit` of an admin list route: default [`DEFAULT_ADMIN_LIMIT`], at most
/// [`MAX_ADMIN_LIMIT`].
pub fn admin_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_ADMIN_LIMIT),
        Some(n) if n <= MAX_ADMIN_LIMIT => Ok(n),
        Some(n) => Err(ApiError::invalid_field(
            "limit",
            format!("must be at most {MAX_ADMIN_LIMIT}, got {n}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::spec_operations;
    use serde_json::json;

    fn req(query: &[(&str, &str)], body: Value) -> ApiRequest {
        ApiRequest {
            op: &spec_operations()[0],
            params: vec![("id", "x".into())],
            query: query
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            body,
        }
    }

    #[test]
    fn input_reads_the_generated_request_type_and_names_a_bad_field() {
        use dodo_types::models::CreateAddonRequest;
        let ok = req(
            &[],
            json!({"name": "Seat", "price": 500, "currency": "USD", "tax_category": "saas"}),
        );
        let addon: CreateAddonRequest = ok.input().unwrap();
        assert_eq!((addon.name.as_str(), addon.price), ("Seat", 500));
        let bad = req(
            &[],
            json!({"name": "Seat", "price": "lots", "currency": "USD", "tax_category": "saas"}),
        );
        let e = bad.input::<CreateAddonRequest>().unwrap_err();
        assert!(e.body().to_string().contains("price"), "{}", e.body());
    }

    #[test]
    fn page_defaults_and_limits() {
        assert_eq!(
            req(&[], Value::Null).page().unwrap(),
            Page {
                number: 0,
                size: 10
            }
        );
        let p = req(&[("page_number", "2"), ("page_size", "100")], Value::Null)
            .page()
            .unwrap();
        assert_eq!(p.offset(), 200);
        let e = req(&[("page_size", "101")], Value::Null)
            .page()
            .unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        assert!(e.message.contains("page_size"));
        let e = req(&[("page_number", "-1")], Value::Null)
            .page()
            .unwrap_err();
        assert!(e.message.contains("page_number"));
    }

    #[test]
    fn query_helpers_parse() {
        let r = req(
            &[
                ("archived", "true"),
                ("t", "2025-01-01T00:00:00Z"),
                ("b", "yes"),
            ],
            Value::Null,
        );
        assert_eq!(r.query_bool("archived").unwrap(), Some(true));
        assert!(r.query_bool("b").is_err());
        assert_eq!(
            r.query_time("t").unwrap().unwrap(),
            "2025-01-01T00:00:00.000000Z"
        );
        assert_eq!(r.last_param(), "x");
    }
}
