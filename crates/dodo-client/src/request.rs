//! Request descriptions without I/O.
//!
//! A [`RequestSpec`] is a plain value: method, path, query pairs, JSON body bytes and a few
//! flags. Generated methods build one and hand it to [`Call`](crate::Call) or a list call;
//! errors found while building (bad path parameter, unserialisable query or body) are kept
//! inside and returned when the call runs, so every method keeps an infallible signature.
//! Being pure, specs are unit-testable and cheap to clone for retries and pagination.

use bytes::Bytes;
use http::Method;
use serde::Serialize;

use crate::error::Error;

/// A request to send, described without doing any I/O.
///
/// ```
/// use dodo_client::{Method, RequestSpec};
/// use dodo_client::path::{build, PathPart};
///
/// #[derive(serde::Serialize)]
/// struct Query { page_size: Option<u32>, status: Option<&'static str> }
///
/// let spec = RequestSpec::new(
///     Method::GET,
///     build(&[PathPart::Lit("/customers/"), PathPart::Param("cus/1"), PathPart::Lit("/payments")]),
/// )
/// .query(&Query { page_size: Some(50), status: None });
/// assert_eq!(spec.path().unwrap(), "/customers/cus%2F1/payments");
/// assert_eq!(spec.query_param("page_size"), Some("50"));
/// assert_eq!(spec.query_param("status"), None);
/// ```
#[derive(Debug, Clone)]
pub struct RequestSpec {
    method: Method,
    path: Result<String, SpecError>,
    query: Vec<(String, String)>,
    body: Option<Bytes>,
    body_idempotency_field: bool,
    deduplicated_by_server: bool,
    error: Option<SpecError>,
}

/// A build-time error kept inside a spec. `Error` is not `Clone`, so the message is kept
/// and an [`Error::InvalidRequest`] is rebuilt when the call runs.
#[derive(Debug, Clone)]
struct SpecError {
    message: String,
    source: Option<String>,
}

impl SpecError {
    fn from_error(err: Error) -> Self {
        match err {
            Error::InvalidRequest { message, source } => SpecError {
                message,
                source: source.map(|s| s.to_string()),
            },
            other => SpecError {
                message: other.to_string(),
                source: None,
            },
        }
    }

    fn to_error(&self) -> Error {
        match &self.source {
            Some(source) => Error::invalid_with(self.message.clone(), source.clone()),
            None => Error::invalid(self.message.clone()),
        }
    }
}

impl RequestSpec {
    /// A request with the given method and path (as returned by [`crate::path::build`]).
    pub fn new(method: Method, path: Result<String, Error>) -> Self {
        RequestSpec {
            method,
            path: path.map_err(SpecError::from_error),
            query: Vec::new(),
            body: None,
            body_idempotency_field: false,
            deduplicated_by_server: false,
            error: None,
        }
    }

    /// Adds the fields of `query` as query parameters (serialised with `serde_html_form`, so a list repeats its key;
    /// `None` fields are omitted). Can be called more than once; pairs accumulate.
    pub fn query<Q: Serialize + ?Sized>(mut self, query: &Q) -> Self {
        let parsed = serde_html_form::to_string(query)
            .map_err(|e| SpecError {
                message: "could not encode the query parameters".into(),
                source: Some(e.to_string()),
            })
            .and_then(|encoded| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&encoded).map_err(|e| {
                    SpecError {
                        message: "could not re-read the encoded query parameters".into(),
                        source: Some(e.to_string()),
                    }
                })
            });
        match parsed {
            Ok(pairs) => self.query.extend(pairs),
            Err(e) => self.keep_error(e),
        }
        self
    }

    /// Sets a JSON body, serialised now. A serialisation error is kept and returned when
    /// the call runs.
    pub fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => self.body = Some(Bytes::from(bytes)),
            Err(e) => self.keep_error(SpecError {
                message: "could not serialise the JSON body".into(),
                source: Some(e.to_string()),
            }),
        }
        self
    }

    /// Marks the body type as having an `idempotency_key` field: when the call carries an
    /// idempotency key and the body's field is absent or null, the key is written there too.
    pub fn body_idempotency_field(mut self) -> Self {
        self.body_idempotency_field = true;
        self
    }

    /// Marks the operation as deduplicated by the server from the body's own content, as
    /// the API documents for `POST /events/ingest` (an `event_id` already seen is ignored):
    /// sending it again after an ambiguous failure cannot duplicate its effect, so the
    /// client retries it like a GET. Set by the generator from the documented list only.
    pub fn deduplicated_by_server(mut self) -> Self {
        self.deduplicated_by_server = true;
        self
    }

    /// Sets (or replaces) one query parameter.
    pub fn set_query_param(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set_param(name, value.into());
        self
    }

    fn keep_error(&mut self, err: SpecError) {
        if self.error.is_none() {
            self.error = Some(err);
        }
    }

    pub(crate) fn set_param(&mut self, name: &str, value: String) {
        self.query.retain(|(k, _)| k != name);
        self.query.push((name.to_owned(), value));
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path, or the error found while building it or the query/body.
    pub fn path(&self) -> Result<&str, Error> {
        if let Some(e) = &self.error {
            return Err(e.to_error());
        }
        match &self.path {
            Ok(p) => Ok(p),
            Err(e) => Err(e.to_error()),
        }
    }

    /// The path for logs and errors, even when the spec is invalid.
    pub(crate) fn display_path(&self) -> &str {
        match &self.path {
            Ok(p) => p,
            Err(_) => "<invalid path>",
        }
    }

    /// The query pairs, in order.
    pub fn query_pairs(&self) -> &[(String, String)] {
        &self.query
    }

    /// The value of one query parameter (the last one if repeated).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body bytes, if any.
    pub fn body(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    /// Whether [`body_idempotency_field`](Self::body_idempotency_field) was set.
    pub fn has_body_idempotency_field(&self) -> bool {
        self.body_idempotency_field
    }

    /// Whether [`deduplicated_by_server`](Self::deduplicated_by_server) was set.
    pub fn is_deduplicated_by_server(&self) -> bool {
        self.deduplicated_by_server
    }

    /// The encoded query string (without `?`), empty when there are no pairs.
    pub(crate) fn encoded_query(&self) -> String {
        serde_urlencoded::to_string(&self.query).unwrap_or_default()
    }

    /// The body with `idempotency_key` filled in when flagged, absent or null.
    /// Bodies that are not JSON objects are returned unchanged.
    pub(crate) fn body_with_key(&self, key: Option<&str>) -> Option<Bytes> {
        let body = self.body.clone()?;
        let (true, Some(key)) = (self.body_idempotency_field, key) else {
            return Some(body);
        };
        let Ok(serde_json::Value::Object(mut map)) =
            serde_json::from_slice::<serde_json::Value>(&body)
        else {
            return Some(body);
        };
        match map.get("idempotency_key") {
            None | Some(serde_json::Value::Null) => {
                map.insert(
                    "idempotency_key".into(),
                    serde_json::Value::String(key.to_owned()),
                );
                match serde_json::to_vec(&map) {
                    Ok(bytes) => Some(Bytes::from(bytes)),
                    Err(_) => Some(body),
                }
            }
            Some(_) => Some(body),
        }
    }

    /// The idempotency key already present in the body, when flagged.
    pub(crate) fn body_key(&self) -> Option<String> {
        if !self.body_idempotency_field {
            return None;
        }
        let body = self.body.as_ref()?;
        let value = serde_json::from_slice::<serde_json::Value>(body).ok()?;
        value
            .get("idempotency_key")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::{PathPart, build};

    #[derive(Serialize)]
    struct Q {
        page_number: Option<u32>,
        page_size: Option<u32>,
        status: Option<&'static str>,
        email: Option<&'static str>,
    }

    #[test]
    fn query_omits_none_and_encodes() {
        let spec = RequestSpec::new(Method::GET, Ok("/customers".into())).query(&Q {
            page_number: None,
            page_size: Some(50),
            status: None,
            email: Some("a+b@x.com & co"),
        });
        assert_eq!(
            spec.query_pairs(),
            &[
                ("page_size".to_string(), "50".to_string()),
                ("email".to_string(), "a+b@x.com & co".to_string())
            ]
        );
        assert_eq!(
            spec.encoded_query(),
            "page_size=50&email=a%2Bb%40x.com+%26+co"
        );
    }

    #[test]
    fn nested_query_is_an_error_when_run() {
        #[derive(Serialize)]
        struct Bad {
            inner: Vec<Vec<u8>>,
        }
        let spec = RequestSpec::new(Method::GET, Ok("/x".into())).query(&Bad {
            inner: vec![vec![1]],
        });
        assert!(spec.path().unwrap_err().is_invalid_request());
    }

    #[test]
    fn path_error_is_kept() {
        let spec = RequestSpec::new(
            Method::GET,
            build(&[PathPart::Lit("/payments/"), PathPart::Param("..")]),
        );
        assert!(spec.path().unwrap_err().is_invalid_request());
        assert!(spec.clone().path().unwrap_err().is_invalid_request());
    }

    #[test]
    fn body_key_filled_only_when_absent_or_null() {
        let spec = RequestSpec::new(Method::POST, Ok("/webhooks".into()))
            .json(&serde_json::json!({"url": "https://x", "idempotency_key": null}))
            .body_idempotency_field();
        let body = spec.body_with_key(Some("k1")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["idempotency_key"], "k1");
        assert_eq!(v["url"], "https://x");

        let spec = RequestSpec::new(Method::POST, Ok("/webhooks".into()))
            .json(&serde_json::json!({"idempotency_key": "mine"}))
            .body_idempotency_field();
        assert_eq!(spec.body_key().as_deref(), Some("mine"));
        let body = spec.body_with_key(Some("k1")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["idempotency_key"], "mine");

        // Not flagged: untouched.
        let spec = RequestSpec::new(Method::POST, Ok("/payments".into()))
            .json(&serde_json::json!({"a": 1}));
        assert_eq!(
            spec.body_with_key(Some("k1")).unwrap(),
            Bytes::from_static(br#"{"a":1}"#)
        );
    }
}
