//! Safe request paths.
//!
//! Generated methods build their path from literal parts and caller-supplied parameters
//! (ids). Parameters are percent-encoded over the RFC 3986 `pchar` set, so `/`, `?`, `#` and
//! `%` inside an id can never change which endpoint is called, and a parameter that is
//! empty, `.` or `..` is rejected with [`Error::InvalidRequest`] before anything is sent
//! (the official crate let `../customers` escape to another endpoint).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::Error;

/// One piece of a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathPart<'a> {
    /// A literal piece written by the generator, used verbatim (e.g. `"/payments/"`).
    Lit(&'static str),
    /// A caller-supplied value, percent-encoded as one path segment.
    Param(&'a str),
}

/// Bytes left as they are in a path segment: RFC 3986 `pchar` = unreserved / sub-delims /
/// `:` / `@`. Everything else (including `/`, `?`, `#`, `%`, space, non-ASCII) is encoded.
const PCHAR_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// Percent-encodes one path segment over the `pchar` set.
pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, PCHAR_ENCODE).to_string()
}

/// Joins literal parts and encoded parameters into a path.
///
/// ```
/// use dodo_client::path::{build, PathPart};
/// assert_eq!(
///     build(&[PathPart::Lit("/payments/"), PathPart::Param("pay_1")]).unwrap(),
///     "/payments/pay_1"
/// );
/// assert_eq!(
///     build(&[PathPart::Lit("/payments/"), PathPart::Param("a/b?c")]).unwrap(),
///     "/payments/a%2Fb%3Fc"
/// );
/// assert!(build(&[PathPart::Lit("/payments/"), PathPart::Param("..")]).is_err());
/// ```
pub fn build(parts: &[PathPart<'_>]) -> Result<String, Error> {
    let mut out = String::with_capacity(64);
    for (index, part) in parts.iter().enumerate() {
        match part {
            PathPart::Lit(lit) => out.push_str(lit),
            PathPart::Param(value) => {
                if let Some(problem) = param_problem(value) {
                    return Err(Error::invalid(format!(
                        "path parameter {value:?} in {} {problem}",
                        template(parts, index)
                    )));
                }
                out.push_str(&encode_segment(value));
            }
        }
    }
    Ok(out)
}

/// Why a parameter is unusable, if it is.
fn param_problem(value: &str) -> Option<&'static str> {
    match value {
        "" => Some("is empty; ids must be non-empty"),
        "." | ".." => Some("is a dot segment; ids must not be \".\" or \"..\""),
        _ => None,
    }
}

/// The path template with `{…}` for parameters and the bad one underlined as `{^^^}`.
fn template(parts: &[PathPart<'_>], bad: usize) -> String {
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| match part {
            PathPart::Lit(lit) => (*lit).to_owned(),
            PathPart::Param(_) if i == bad => "{^^^}".to_owned(),
            PathPart::Param(_) => "{…}".to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use PathPart::{Lit, Param};

    #[test]
    fn encodes_reserved_characters() {
        let p = build(&[Lit("/customers/"), Param("a/b ?#%é"), Lit("/wallets")]).unwrap();
        assert_eq!(p, "/customers/a%2Fb%20%3F%23%25%C3%A9/wallets");
    }

    #[test]
    fn keeps_pchar_characters() {
        let p = build(&[Lit("/x/"), Param("a-b.c_d~e!$&'()*+,;=:@")]).unwrap();
        assert_eq!(p, "/x/a-b.c_d~e!$&'()*+,;=:@");
    }

    #[test]
    fn rejects_dot_segments_and_empty() {
        for bad in ["", ".", ".."] {
            let err = build(&[Lit("/payments/"), Param(bad), Lit("/x")]).unwrap_err();
            assert!(err.is_invalid_request(), "{bad:?}");
            assert!(err.to_string().contains("/payments/{^^^}/x"), "{err}");
        }
        // Dots as part of a longer id are fine.
        assert_eq!(build(&[Lit("/p/"), Param("...")]).unwrap(), "/p/...");
        assert_eq!(build(&[Lit("/p/"), Param("../x")]).unwrap(), "/p/..%2Fx");
    }
}
