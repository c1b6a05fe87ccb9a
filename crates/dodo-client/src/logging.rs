//! Logging helpers: the crate-level filter and header redaction.
//!
//! The client emits `tracing` events up to its [`LogLevel`] cap (none by default, so the
//! application's subscriber filter decides; `DODO_PAYMENTS_LOG` lowers it). At `debug`,
//! request and response headers are logged with credentials replaced by `***`: the
//! well-known auth headers plus any header whose name mentions a key, token, secret,
//! signature, cookie or auth. Query parameters are logged by name only, and API error
//! messages are left out of log lines. Bodies are never logged.

use std::fmt::Write as _;

use http::HeaderMap;

use crate::config::LogLevel;

/// Whether events at `level` should be emitted under the configured `threshold`.
pub(crate) fn enabled(threshold: LogLevel, level: LogLevel) -> bool {
    level != LogLevel::Off && level <= threshold
}

/// Whether a header's value must never be logged.
pub(crate) fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "key",
        "token",
        "secret",
        "signature",
        "auth",
        "password",
    ]
    .iter()
    .any(|word| name.contains(word))
        && name != "idempotency-key"
}

/// Renders headers as `name: value; ...` with sensitive values redacted.
pub(crate) fn redacted_headers(headers: &HeaderMap) -> String {
    let mut out = String::new();
    for (name, value) in headers {
        if !out.is_empty() {
            out.push_str("; ");
        }
        let shown = if value.is_sensitive() || is_sensitive_header(name.as_str()) {
            "***"
        } else {
            value.to_str().unwrap_or("<non-ascii>")
        };
        let _ = write!(out, "{}: {}", name.as_str(), shown);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_levels() {
        assert!(enabled(LogLevel::Warn, LogLevel::Error));
        assert!(enabled(LogLevel::Warn, LogLevel::Warn));
        assert!(!enabled(LogLevel::Warn, LogLevel::Info));
        assert!(!enabled(LogLevel::Off, LogLevel::Error));
        assert!(enabled(LogLevel::Debug, LogLevel::Debug));
    }

    #[test]
    fn redaction() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer sk_live".parse().unwrap());
        h.insert("x-api-key", "k".parse().unwrap());
        h.insert("set-cookie", "c=1".parse().unwrap());
        h.insert("idempotency-key", "idem_1".parse().unwrap());
        h.insert("accept", "application/json".parse().unwrap());
        let s = redacted_headers(&h);
        assert!(!s.contains("sk_live") && !s.contains("c=1") && !s.contains(": k;"));
        assert!(s.contains("idempotency-key: idem_1"));
        assert!(s.contains("accept: application/json"));
    }
}
