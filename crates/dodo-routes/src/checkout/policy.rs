//! What an anonymous browser may put in a checkout request ([`BrowserPolicy`]).
//!
//! The dynamic and session routes create objects with the merchant's API key, so whatever
//! binds a customer, a saved card, a price, a trial or a redirect target must come from the
//! merchant's server code, never from the request. The policy is an allowlist of JSON paths
//! per flow: a request naming any other field, known to the API or not, is refused with
//! **400** `field_not_allowed` and its JSON path, before anything is created. It also bounds
//! quantities, cart lines and metadata, and can restrict the products on sale. Fields are
//! loosened one at a time with [`BrowserPolicy::allow`]; server-side additions go through the
//! checkout hook instead (each adaptor's `Checkout::before_create`). This
//! module knows only JSON: no framework types.

use std::collections::BTreeSet;

use http::StatusCode;
use serde_json::{Map, Value};

use super::CheckoutFlow;
use crate::error::RouteError;

/// Default largest quantity per cart line.
pub const DEFAULT_MAX_QUANTITY: i64 = 100;
/// Default largest number of cart lines.
pub const DEFAULT_MAX_CART_LINES: usize = 20;
/// Default largest number of metadata keys (Stripe's limit).
pub const DEFAULT_MAX_METADATA_KEYS: usize = 50;
/// Default longest metadata key, in characters (Stripe's limit).
pub const DEFAULT_MAX_METADATA_KEY_CHARS: usize = 40;
/// Default longest metadata value, in characters (Stripe's limit).
pub const DEFAULT_MAX_METADATA_VALUE_CHARS: usize = 500;

/// Fields a buyer may set on the session flow (`POST /checkouts` body). `a.*` allows every
/// key under `a`; `[]` stands for any array index.
const SESSION_FIELDS: &[&str] = &[
    "product_cart",
    "product_cart[].product_id",
    "product_cart[].quantity",
    "customer",
    "customer.email",
    "customer.name",
    "customer.phone_number",
    "billing_address",
    "billing_address.*",
    "billing_currency",
    "tax_id",
    "discount_code",
    "discount_codes",
    "metadata",
    "metadata.*",
    "return_url",
    "cancel_url",
];

/// Fields a buyer may set on the dynamic flow (the Express adaptor's body).
const DYNAMIC_FIELDS: &[&str] = &[
    "product_id",
    "quantity",
    "product_cart",
    "product_cart[].product_id",
    "product_cart[].quantity",
    "customer",
    "customer.email",
    "customer.name",
    "customer.phone_number",
    "billing",
    "billing.*",
    "billing_currency",
    "currency",
    "tax_id",
    "discount_code",
    "discount_codes",
    "metadata",
    "metadata.*",
    "return_url",
];

/// The browser-facing rules of the dynamic and session checkout routes.
///
/// ```
/// use dodo_routes::BrowserPolicy;
///
/// // The defaults, plus one deliberate loosening and a product allowlist.
/// let policy = BrowserPolicy::default()
///     .allow("force_3ds")
///     .max_quantity(10)
///     .allowed_products(["pdt_basic", "pdt_pro"]);
/// assert_eq!(policy.quantity_limit(), 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserPolicy {
    extra_fields: BTreeSet<String>,
    max_quantity: i64,
    max_cart_lines: usize,
    max_metadata_keys: usize,
    max_metadata_key_chars: usize,
    max_metadata_value_chars: usize,
    allowed_products: Option<BTreeSet<String>>,
}

impl Default for BrowserPolicy {
    fn default() -> Self {
        Self {
            extra_fields: BTreeSet::new(),
            max_quantity: DEFAULT_MAX_QUANTITY,
            max_cart_lines: DEFAULT_MAX_CART_LINES,
            max_metadata_keys: DEFAULT_MAX_METADATA_KEYS,
            max_metadata_key_chars: DEFAULT_MAX_METADATA_KEY_CHARS,
            max_metadata_value_chars: DEFAULT_MAX_METADATA_VALUE_CHARS,
            allowed_products: None,
        }
    }
}

impl BrowserPolicy {
    /// Lets requests set one more field, and everything inside it, named by its JSON path
    /// with `[]` for any array index (`"force_3ds"`, `"product_cart[].amount"`,
    /// `"customer.customer_id"`, `"addons"` for the whole list).
    ///
    /// **Risk:** every field loosened is chosen by an anonymous caller with your API key's
    /// authority. `customer.customer_id` lets anyone attach an existing customer (and see
    /// their saved cards with `show_saved_payment_methods`), `payment_method_id` + `confirm`
    /// charges a saved card, `product_cart[].amount` sets a pay-what-you-want price,
    /// `trial_period_days` a free trial of any length. Prefer setting such fields in the
    /// checkout hook from your own session.
    #[must_use]
    pub fn allow(mut self, path: impl Into<String>) -> Self {
        self.extra_fields.insert(path.into());
        self
    }

    /// Largest quantity per cart line (default [`DEFAULT_MAX_QUANTITY`]).
    #[must_use]
    pub fn max_quantity(mut self, max: i64) -> Self {
        self.max_quantity = max;
        self
    }

    /// Largest number of cart lines (default [`DEFAULT_MAX_CART_LINES`]).
    #[must_use]
    pub fn max_cart_lines(mut self, max: usize) -> Self {
        self.max_cart_lines = max;
        self
    }

    /// Metadata bounds: keys, key length and value length in characters (defaults 50,
    /// 40 and 500).
    #[must_use]
    pub fn metadata_limits(mut self, keys: usize, key_chars: usize, value_chars: usize) -> Self {
        self.max_metadata_keys = keys;
        self.max_metadata_key_chars = key_chars;
        self.max_metadata_value_chars = value_chars;
        self
    }

    /// Only these products may be bought through the routes (default: any product of the
    /// account). Others are refused with 400 `product_not_allowed` before any API call.
    #[must_use]
    pub fn allowed_products<I, T>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.allowed_products = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    /// The largest quantity per line.
    pub fn quantity_limit(&self) -> i64 {
        self.max_quantity
    }

    /// Checks a POST body of `flow` against the allowlist and the bounds.
    pub(crate) fn check_body(
        &self,
        flow: CheckoutFlow,
        body: &Map<String, Value>,
    ) -> Result<(), RouteError> {
        let base: &[&str] = match flow {
            CheckoutFlow::Session => SESSION_FIELDS,
            CheckoutFlow::Dynamic => DYNAMIC_FIELDS,
            CheckoutFlow::Static => &[],
        };
        self.walk(base, "", "", body)?;
        if let Some(Value::Array(cart)) = body.get("product_cart") {
            if cart.len() > self.max_cart_lines {
                return Err(RouteError::invalid(
                    "product_cart",
                    format!("must hold at most {} lines", self.max_cart_lines),
                ));
            }
            for (i, line) in cart.iter().enumerate() {
                let quantity = line.get("quantity").and_then(Value::as_i64);
                self.check_quantity(&format!("product_cart[{i}].quantity"), quantity)?;
                if let Some(Value::String(id)) = line.get("product_id") {
                    self.check_product(&format!("product_cart[{i}].product_id"), id)?;
                }
            }
        }
        if let Some(Value::String(id)) = body.get("product_id") {
            self.check_product("product_id", id)?;
        }
        self.check_quantity("quantity", body.get("quantity").and_then(Value::as_i64))?;
        if let Some(metadata) = body.get("metadata") {
            self.check_metadata(metadata)?;
        }
        Ok(())
    }

    /// Refuses a quantity above the limit (`None` and type errors are left to decoding).
    pub(crate) fn check_quantity(
        &self,
        field: &str,
        quantity: Option<i64>,
    ) -> Result<(), RouteError> {
        match quantity {
            Some(q) if q > self.max_quantity => Err(RouteError::invalid(
                field,
                format!("must be at most {}", self.max_quantity),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses a product outside the allowlist.
    pub(crate) fn check_product(&self, field: &str, product_id: &str) -> Result<(), RouteError> {
        match &self.allowed_products {
            Some(allowed) if !allowed.contains(product_id) => Err(RouteError::new(
                StatusCode::BAD_REQUEST,
                "product_not_allowed",
                format!("`{field}` names a product that is not sold here"),
            )
            .with_field(field)),
            _ => Ok(()),
        }
    }

    /// Checks metadata (an object of short scalar values) against the bounds.
    pub(crate) fn check_metadata(&self, metadata: &Value) -> Result<(), RouteError> {
        let Value::Object(map) = metadata else {
            return Err(RouteError::invalid("metadata", "must be an object"));
        };
        if map.len() > self.max_metadata_keys {
            return Err(RouteError::invalid(
                "metadata",
                format!("must have at most {} keys", self.max_metadata_keys),
            ));
        }
        for (key, value) in map {
            if key.chars().count() > self.max_metadata_key_chars {
                return Err(RouteError::invalid(
                    "metadata",
                    format!(
                        "keys must be at most {} characters",
                        self.max_metadata_key_chars
                    ),
                ));
            }
            let field = format!("metadata.{key}");
            let text = match value {
                Value::String(s) => s.chars().count(),
                Value::Number(n) => n.to_string().len(),
                Value::Bool(_) => 0,
                _ => {
                    return Err(RouteError::invalid(
                        &field,
                        "must be a string, number or boolean",
                    ));
                }
            };
            if text > self.max_metadata_value_chars {
                return Err(RouteError::invalid(
                    &field,
                    format!(
                        "must be at most {} characters",
                        self.max_metadata_value_chars
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Recursively checks every key of `object` at `pattern` (the path with `[]` for
    /// indices) / `shown` (the path with real indices, for the error).
    fn walk(
        &self,
        base: &[&str],
        pattern: &str,
        shown: &str,
        object: &Map<String, Value>,
    ) -> Result<(), RouteError> {
        for (key, value) in object {
            let key_pattern = join(pattern, key);
            let key_shown = join(shown, key);
            if self.allows_subtree(base, &key_pattern) {
                continue;
            }
            if !self.allows(base, &key_pattern) {
                return Err(not_allowed(&key_shown));
            }
            match value {
                Value::Object(inner) => self.walk(base, &key_pattern, &key_shown, inner)?,
                Value::Array(items) => {
                    let item_pattern = format!("{key_pattern}[]");
                    for (i, item) in items.iter().enumerate() {
                        if let Value::Object(inner) = item {
                            self.walk(base, &item_pattern, &format!("{key_shown}[{i}]"), inner)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn allows(&self, base: &[&str], path: &str) -> bool {
        base.contains(&path) || self.extra_fields.contains(path) || self.allows_subtree(base, path)
    }

    /// Whether `path` sits under an allowed `prefix.*` of the base list, or is (or sits
    /// under) a field loosened with [`allow`](Self::allow).
    fn allows_subtree(&self, base: &[&str], path: &str) -> bool {
        let below = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with("[]"))
        };
        base.iter().filter_map(|a| a.strip_suffix(".*")).any(below)
            || self
                .extra_fields
                .iter()
                .any(|a| path == a || below(a.trim_end_matches(".*")))
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// 400 `field_not_allowed` naming the JSON path.
fn not_allowed(path: &str) -> RouteError {
    RouteError::new(
        StatusCode::BAD_REQUEST,
        "field_not_allowed",
        format!("`{path}` cannot be set by a browser request on this route"),
    )
    .with_field(path)
}

/// `(scheme, host, port)` of an absolute http(s) URL without user info, lower-cased, the
/// port made explicit; `None` for anything else.
pub(crate) fn origin(url: &str) -> Option<(String, String, u16)> {
    let uri = url.parse::<http::Uri>().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let port = match (authority.port_u16(), scheme.as_str()) {
        (Some(p), _) => p,
        (None, "https") => 443,
        (None, "http") => 80,
        _ => return None,
    };
    Some((scheme, authority.host().to_ascii_lowercase(), port))
}

/// Whether two absolute URLs share scheme, host and port.
pub(crate) fn same_origin(a: &str, b: &str) -> bool {
    matches!((origin(a), origin(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(flow: CheckoutFlow, policy: &BrowserPolicy, body: Value) -> Result<(), RouteError> {
        let Value::Object(map) = body else {
            panic!("object")
        };
        policy.check_body(flow, &map)
    }

    #[test]
    fn server_only_fields_are_named_by_path() {
        let p = BrowserPolicy::default();
        let field = |flow, body| check(flow, &p, body).unwrap_err().field.unwrap();
        let cart = json!([{"product_id": "p", "quantity": 1}]);
        assert_eq!(
            field(
                CheckoutFlow::Session,
                json!({"product_cart": cart, "customer": {"customer_id": "cus_v"}})
            ),
            "customer.customer_id"
        );
        assert_eq!(
            field(
                CheckoutFlow::Session,
                json!({"product_cart": [{"product_id": "p", "quantity": 1, "amount": 1}]})
            ),
            "product_cart[0].amount"
        );
        for key in [
            "payment_method_id",
            "confirm",
            "allowed_payment_method_types",
            "show_saved_payment_methods",
            "subscription_data",
            "made_up",
        ] {
            assert_eq!(
                field(
                    CheckoutFlow::Session,
                    json!({"product_cart": cart, key: true})
                ),
                key
            );
        }
        for key in ["on_demand", "trial_period_days", "addons"] {
            assert_eq!(
                field(CheckoutFlow::Dynamic, json!({"product_id": "p", key: 1})),
                key
            );
        }
        let e = check(
            CheckoutFlow::Session,
            &p,
            json!({"product_cart": cart, "confirm": true}),
        )
        .unwrap_err();
        assert_eq!(e.code, "field_not_allowed");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn buyer_fields_pass_and_loosening_is_per_field() {
        let p = BrowserPolicy::default();
        let body = json!({
            "product_cart": [{"product_id": "p", "quantity": 2}],
            "customer": {"email": "a@b.c", "name": "A", "phone_number": "+1"},
            "billing_address": {"country": "US", "zipcode": "1", "street": "s"},
            "billing_currency": "USD", "tax_id": "X", "discount_code": "D",
            "metadata": {"order": "42"}, "return_url": "https://shop/x"
        });
        check(CheckoutFlow::Session, &p, body).unwrap();
        let loose = p.allow("product_cart[].amount");
        check(
            CheckoutFlow::Session,
            &loose,
            json!({"product_cart": [{"product_id": "p", "quantity": 1, "amount": 5}]}),
        )
        .unwrap();
    }

    #[test]
    fn bounds() {
        let p = BrowserPolicy::default();
        let e = check(
            CheckoutFlow::Dynamic,
            &p,
            json!({"product_id": "p", "quantity": 101}),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("quantity"));
        let lines: Vec<Value> = (0..21)
            .map(|_| json!({"product_id": "p", "quantity": 1}))
            .collect();
        let e = check(CheckoutFlow::Session, &p, json!({"product_cart": lines})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("product_cart"));
        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
        let e = check(
            CheckoutFlow::Dynamic,
            &p,
            json!({"product_id": "p", "metadata": many}),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("metadata"));
        let long_key = "k".repeat(41);
        assert!(
            check(
                CheckoutFlow::Dynamic,
                &p,
                json!({"product_id": "p", "metadata": {long_key: "v"}})
            )
            .is_err()
        );
        let e = check(
            CheckoutFlow::Dynamic,
            &p,
            json!({"product_id": "p", "metadata": {"k": "v".repeat(501)}}),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("metadata.k"));
        let only = BrowserPolicy::default().allowed_products(["p"]);
        let e = check(
            CheckoutFlow::Session,
            &only,
            json!({"product_cart": [{"product_id": "q", "quantity": 1}]}),
        )
        .unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("product_not_allowed", Some("product_cart[0].product_id"))
        );
    }

    #[test]
    fn origins() {
        assert!(same_origin(
            "https://shop.example/a?x=1",
            "https://SHOP.example/back"
        ));
        assert!(!same_origin(
            "https://evil.example/",
            "https://shop.example/back"
        ));
        assert!(!same_origin(
            "https://shop.example@evil.example/",
            "https://shop.example/"
        ));
        assert!(!same_origin(
            "http://shop.example/",
            "https://shop.example/"
        ));
        assert!(!same_origin(
            "https://shop.example:8443/",
            "https://shop.example/"
        ));
        assert!(same_origin(
            "https://shop.example:443/a",
            "https://shop.example/"
        ));
        assert!(!same_origin("javascript:alert(1)", "https://shop.example/"));
    }
}
