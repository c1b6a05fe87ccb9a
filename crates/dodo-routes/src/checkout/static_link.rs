//! The static checkout flow: a query string in, a hosted checkout link out.
//!
//! [`StaticQuery::parse`] reads and validates the query the Express adaptor accepts
//! (`productId`, `quantity`, the prefill fields, the nine `disable*` flags, the payment
//! options and every `metadata_*` key), rejecting repeated keys, non-integer quantities and
//! amounts, and booleans other than `true`/`false`. [`StaticQuery::link`] builds the link
//! exactly as the Express adaptor does (`{host}/buy/{productId}?quantity=…&redirect_url=…`,
//! parameters in the same order, form-encoded like `URLSearchParams`), except that the
//! product id is percent-encoded as a path segment.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::RouteError;

/// Prefill fields copied when non-empty, in the order the Express adaptor writes them.
pub const PREFILL_FIELDS: [&str; 9] = [
    "fullName",
    "firstName",
    "lastName",
    "email",
    "country",
    "addressLine",
    "city",
    "state",
    "zipCode",
];

/// Flags that lock a prefilled field; only `true` is forwarded (`false` means "not locked").
pub const DISABLE_FLAGS: [&str; 9] = [
    "disableFullName",
    "disableFirstName",
    "disableLastName",
    "disableEmail",
    "disableCountry",
    "disableAddressLine",
    "disableCity",
    "disableState",
    "disableZipCode",
];

/// Prefix of metadata parameters, forwarded with the prefix.
pub const METADATA_PREFIX: &str = "metadata_";

/// Characters kept as-is in the product id path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A validated static checkout query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaticQuery {
    /// The product to buy.
    pub product_id: String,
    /// Quantity (a positive integer, default 1).
    pub quantity: u64,
    /// A per-request return URL (`returnUrl` or `return_url`), if given.
    pub return_url: Option<String>,
    /// Forwarded parameters after `quantity`/`redirect_url`, in output order.
    pub params: Vec<(String, String)>,
}

impl StaticQuery {
    /// Parses and validates a raw query string (without the `?`).
    pub fn parse(raw: &str) -> Result<Self, RouteError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).map_err(|_| {
            RouteError::new(
                http::StatusCode::BAD_REQUEST,
                "invalid_query",
                "the query string could not be decoded",
            )
        })?;
        // Reject repeated keys we use: an ambiguous value is an error, not a guess. Keys we
        // ignore may repeat.
        for (i, (key, _)) in pairs.iter().enumerate() {
            if is_used_key(key) && pairs[..i].iter().any(|(k, _)| k == key) {
                return Err(RouteError::invalid(key, "must be given only once"));
            }
        }
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };

        let product_id = get("productId")
            .ok_or_else(|| RouteError::missing("productId"))?
            .to_owned();
        let quantity = match get("quantity") {
            None => 1,
            Some(q) => q
                .parse::<u64>()
                .ok()
                .filter(|q| *q > 0)
                .ok_or_else(|| RouteError::invalid("quantity", "must be a positive integer"))?,
        };
        let return_url = match (get("returnUrl"), get("return_url")) {
            (Some(_), Some(_)) => {
                return Err(RouteError::invalid(
                    "return_url",
                    "must not be given together with `returnUrl`",
                ));
            }
            (Some(url), None) => Some(check_url("returnUrl", url)?),
            (None, Some(url)) => Some(check_url("return_url", url)?),
            (None, None) => None,
        };

        let mut params = Vec::new();
        for name in PREFILL_FIELDS {
            if let Some(v) = get(name) {
                params.push((name.to_owned(), v.to_owned()));
            }
        }
        for name in DISABLE_FLAGS {
            if parse_bool(name, get(name))? == Some(true) {
                params.push((name.to_owned(), "true".to_owned()));
            }
        }
        if let Some(v) = get("paymentCurrency") {
            if !(v.len() == 3 && v.bytes().all(|b| b.is_ascii_alphabetic())) {
                return Err(RouteError::invalid(
                    "paymentCurrency",
                    "must be a three-letter currency code",
                ));
            }
            params.push(("paymentCurrency".to_owned(), v.to_owned()));
        }
        if let Some(b) = parse_bool("showCurrencySelector", get("showCurrencySelector"))? {
            params.push(("showCurrencySelector".to_owned(), b.to_string()));
        }
        if let Some(v) = get("paymentAmount") {
            v.parse::<u64>().map_err(|_| {
                RouteError::invalid(
                    "paymentAmount",
                    "must be a non-negative integer in the currency's smallest unit",
                )
            })?;
            params.push(("paymentAmount".to_owned(), v.to_owned()));
        }
        if let Some(b) = parse_bool("showDiscounts", get("showDiscounts"))? {
            params.push(("showDiscounts".to_owned(), b.to_string()));
        }
        for (key, value) in &pairs {
            if key.starts_with(METADATA_PREFIX)
                && key.len() > METADATA_PREFIX.len()
                && !value.is_empty()
            {
                params.push((key.clone(), value.clone()));
            }
        }
        Ok(StaticQuery {
            product_id,
            quantity,
            return_url,
            params,
        })
    }

    /// The checkout link on `host` (no trailing slash), with `return_url` (the per-request
    /// one, else the configured default) as `redirect_url`.
    pub fn link(&self, host: &str, default_return_url: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(self.params.len() + 2);
        let quantity = self.quantity.to_string();
        pairs.push(("quantity", &quantity));
        if let Some(url) = self.return_url.as_deref().or(default_return_url) {
            pairs.push(("redirect_url", url));
        }
        for (k, v) in &self.params {
            pairs.push((k, v));
        }
        // Serialising string pairs cannot fail.
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!(
            "{}/buy/{}?{query}",
            host.trim_end_matches('/'),
            utf8_percent_encode(&self.product_id, SEGMENT)
        )
    }
}

/// Whether the static flow reads `key` (so a repeat of it is ambiguous).
fn is_used_key(key: &str) -> bool {
    matches!(
        key,
        "productId"
            | "quantity"
            | "returnUrl"
            | "return_url"
            | "paymentCurrency"
            | "showCurrencySelector"
            | "paymentAmount"
            | "showDiscounts"
    ) || PREFILL_FIELDS.contains(&key)
        || DISABLE_FLAGS.contains(&key)
        || key.starts_with(METADATA_PREFIX)
}

/// `true`/`false` (absent or empty → `None`); anything else is a 400 naming `field`.
fn parse_bool(field: &str, value: Option<&str>) -> Result<Option<bool>, RouteError> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(RouteError::invalid(field, "must be `true` or `false`")),
    }
}

/// Checks that `url` is an absolute `http`/`https` URL with a host.
pub(crate) fn check_url(field: &str, url: &str) -> Result<String, RouteError> {
    let ok = url.parse::<http::Uri>().ok().is_some_and(|u| {
        matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty())
    });
    if ok {
        Ok(url.to_owned())
    } else {
        Err(RouteError::invalid(
            field,
            "must be an absolute http(s) URL",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_HOST: &str = "https://test.checkout.dodopayments.com";

    #[test]
    fn minimal_link() {
        let q = StaticQuery::parse("productId=pdt_1").unwrap();
        assert_eq!(
            q.link(TEST_HOST, None),
            "https://test.checkout.dodopayments.com/buy/pdt_1?quantity=1"
        );
    }

    #[test]
    fn full_link_order_and_encoding() {
        let q = StaticQuery::parse(
            "metadata_order=A%20B&zipCode=94107&productId=p%2Fx%20y&quantity=3&email=a%2Bb%40x.io\
             &disableEmail=true&disableCity=false&paymentCurrency=USD&showDiscounts=false\
             &paymentAmount=1500&unknown=1&fullName=Jane+Doe",
        )
        .unwrap();
        assert_eq!(
            q.link(TEST_HOST, Some("https://shop.example/thanks?a=1")),
            "https://test.checkout.dodopayments.com/buy/p%2Fx%20y?quantity=3\
             &redirect_url=https%3A%2F%2Fshop.example%2Fthanks%3Fa%3D1&fullName=Jane+Doe\
             &email=a%2Bb%40x.io&zipCode=94107&disableEmail=true&paymentCurrency=USD\
             &paymentAmount=1500&showDiscounts=false&metadata_order=A+B"
        );
    }

    #[test]
    fn per_request_return_url_wins() {
        let q = StaticQuery::parse("productId=p&returnUrl=https://a.example/r").unwrap();
        assert_eq!(
            q.link(TEST_HOST, Some("https://default.example")),
            "https://test.checkout.dodopayments.com/buy/p?quantity=1&redirect_url=https%3A%2F%2Fa.example%2Fr"
        );
    }

    #[test]
    fn rejections_name_the_field() {
        let field = |raw: &str| StaticQuery::parse(raw).unwrap_err().field.unwrap();
        assert_eq!(field(""), "productId");
        assert_eq!(field("productId="), "productId");
        assert_eq!(field("productId=p&quantity=0"), "quantity");
        assert_eq!(field("productId=p&quantity=1.5"), "quantity");
        assert_eq!(field("productId=p&quantity=-2"), "quantity");
        assert_eq!(field("productId=p&disableEmail=yes"), "disableEmail");
        assert_eq!(
            field("productId=p&showCurrencySelector=1"),
            "showCurrencySelector"
        );
        assert_eq!(field("productId=p&paymentAmount=12.5"), "paymentAmount");
        assert_eq!(
            field("productId=p&paymentCurrency=dollars"),
            "paymentCurrency"
        );
        assert_eq!(field("productId=p&productId=q"), "productId");
        assert_eq!(field("productId=p&metadata_a=1&metadata_a=2"), "metadata_a");
        assert!(StaticQuery::parse("productId=p&utm=1&utm=2").is_ok());
        assert_eq!(
            field("productId=p&returnUrl=javascript:alert(1)"),
            "returnUrl"
        );
        assert_eq!(field("productId=p&return_url=/relative"), "return_url");
    }
}
