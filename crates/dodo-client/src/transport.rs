//! The resolved transport every call runs on.
//!
//! [`Transport`] is what a [`Client`](crate::Client) holds behind its `Arc`: the pooled
//! `reqwest::Client` (ours or the caller's), the base URL, the default headers with the
//! API key marked sensitive, the timeouts, retry settings, response cap, log cap, the
//! shared retry budget and the attempt interceptors. The client builds it; the attempt
//! loop ([`execute`](crate::execute)) reads it. Neither imports the other.

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::budget::RetryBudget;
use crate::config::{LogLevel, Secret};
use crate::intercept::Interceptor;

/// Resolved configuration shared by all clones of a [`Client`](crate::Client): the HTTP
/// client, the base URL, the default headers and every setting an attempt reads.
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    /// Accept, User-Agent, Authorization (sensitive), custom and default headers.
    pub(crate) headers: HeaderMap,
    pub(crate) webhook_key: Option<Secret>,
    pub(crate) timeout: Duration,
    pub(crate) total_timeout: Option<Duration>,
    pub(crate) max_retries: u32,
    pub(crate) server_honours_idempotency_key: bool,
    pub(crate) max_response_bytes: usize,
    pub(crate) log_level: LogLevel,
    /// Shared by every copy made with `with_*`; `None` disables the budget.
    pub(crate) retry_budget: Option<Arc<RetryBudget>>,
    /// Called around every attempt, in registration order.
    pub(crate) interceptors: Vec<Arc<dyn Interceptor>>,
}

/// Parses a header name/value pair; the error names the header but never its value.
pub(crate) fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("{name:?} is not a valid header name"))?;
    let mut header_value = HeaderValue::from_str(value)
        .map_err(|_| format!("the value of header {name:?} is not a valid header value"))?;
    if crate::logging::is_sensitive_header(header_name.as_str()) {
        header_value.set_sensitive(true);
    }
    Ok((header_name, header_value))
}
