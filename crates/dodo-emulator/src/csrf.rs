//! CSRF protection of the page forms (hosted checkout, customer portal): a double-submit token.
//!
//! A page served with a form sets the cookie `dodo_emu_csrf` (`HttpOnly`, `SameSite=Strict`,
//! 32 CSPRNG bytes) unless the browser already has a well-formed one, and puts the same value
//! in the form's hidden `csrf_token` field. A form submission is accepted only when the field
//! equals the cookie (compared in constant time). Another site can make a browser post a form,
//! but it can neither read the cookie nor, with `SameSite=Strict`, make the browser send it, so
//! a forged submission fails with 403.

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};

/// Name of the cookie.
pub const COOKIE_NAME: &str = "dodo_emu_csrf";
/// Name of the hidden form field.
pub const FIELD: &str = "csrf_token";

fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The CSRF token of the browser sending `headers`, from its cookie.
pub fn from_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE_NAME && well_formed(value))
        .map(|(_, value)| value.to_string())
}

/// The token to put in a form, and the `Set-Cookie` to send when the browser had none.
pub fn issue(headers: &HeaderMap) -> (String, Option<(http::HeaderName, HeaderValue)>) {
    match from_cookie(headers) {
        Some(t) => (t, None),
        None => {
            let t = crate::ids::token();
            let cookie = format!("{COOKIE_NAME}={t}; Path=/; HttpOnly; SameSite=Strict");
            let header = HeaderValue::from_str(&cookie).ok().map(|v| (SET_COOKIE, v));
            (t, header)
        }
    }
}

/// Whether a submission carries the browser's token.
pub fn check(headers: &HeaderMap, submitted: Option<&str>) -> bool {
    match (from_cookie(headers), submitted) {
        (Some(cookie), Some(field)) => {
            cookie.len() == field.len()
                && cookie
                    .bytes()
                    .zip(field.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_submit() {
        let mut h = HeaderMap::new();
        let (token, set) = issue(&h);
        assert!(set.is_some());
        assert!(!check(&h, Some(&token)), "no cookie, no entry");
        h.insert(
            COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE_NAME}={token}")).unwrap(),
        );
        assert_eq!(issue(&h), (token.clone(), None));
        assert!(check(&h, Some(&token)));
        assert!(!check(&h, Some("x")));
        assert!(!check(&h, None));
        let forged = crate::ids::token();
        assert!(!check(&h, Some(&forged)));
        h.insert(COOKIE, HeaderValue::from_static("dodo_emu_csrf=short"));
        assert!(from_cookie(&h).is_none());
    }
}
