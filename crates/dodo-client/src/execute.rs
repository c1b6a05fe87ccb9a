//! The attempt loop: turns a [`RequestSpec`] plus options into a final HTTP response.
//!
//! For one call it resolves the URL and headers once, picks the idempotency key (the
//! caller's, the body's own `idempotency_key`, one generated for a body that has that
//! field, or one generated for a POST to a server configured as honouring the header),
//! decides once whether repeating the request is safe (see [`repeat_safety`]), then sends
//! attempts until [`retry::decide`](crate::retry::decide) says stop. Every attempt sends the
//! same key and body, honours the per-attempt timeout, the optional overall deadline and the
//! response size cap, and is logged as one `tracing` event inside one span per call. A 2xx
//! ends in a [`RawResponse`]; anything else ends in the matching [`Error`], which records
//! whether any attempt may have been processed.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use tokio::time::Instant;
use tracing::Instrument;

use crate::budget::{RETRY_COST, SUCCESS_REFUND, TIMEOUT_RETRY_COST};
use crate::config::LogLevel;
use crate::error::{ApiError, Error, Processing};
use crate::intercept::{AttemptRequest, AttemptResult};
use crate::logging::{enabled, redacted_headers};
use crate::options::RequestOptions;
use crate::request::RequestSpec;
use crate::retry::{AttemptOutcome, RetryContext, RetryDecision, decide};
use crate::transport::{Transport, header_pair};

/// Header carrying the idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Header carrying the number of retries already made (0 on the first attempt).
pub const RETRY_COUNT_HEADER: &str = "x-retry-count";
/// Prefix of generated idempotency keys.
pub const GENERATED_KEY_PREFIX: &str = "dodo-rs-retry-";

/// A final 2xx response, body fully read.
#[derive(Debug, Clone)]
pub(crate) struct RawResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) method: Method,
    pub(crate) path: String,
}

/// Runs `spec` with retries and returns the final 2xx response.
pub(crate) async fn execute(
    inner: &Transport,
    spec: &RequestSpec,
    options: &RequestOptions,
    accept: &'static str,
) -> Result<RawResponse, Error> {
    let span = if enabled(inner.log_level, LogLevel::Info) {
        request_span(inner, spec)
    } else {
        tracing::Span::none()
    };
    let result = run(inner, spec, options, accept)
        .instrument(span.clone())
        .await;
    let (status, request_id) = match &result {
        Ok(raw) => (
            Some(raw.status.as_u16()),
            crate::error::request_id_from(&raw.headers),
        ),
        Err(e) => (e.status(), e.request_id().map(str::to_owned)),
    };
    if let Some(status) = status {
        span.record("http.response.status_code", status);
    }
    if let Some(id) = request_id {
        span.record("dodo.request_id", id.as_str());
    }
    result
}

/// The call's span, with field names from OpenTelemetry's HTTP client conventions so
/// tracing backends file it as an outgoing HTTP request; the status and the Dodo request id
/// are recorded when the call ends.
fn request_span(inner: &Transport, spec: &RequestSpec) -> tracing::Span {
    let server = inner
        .base_url
        .split_once("://")
        .map_or(inner.base_url.as_str(), |(_, rest)| rest);
    let server = server.split('/').next().unwrap_or(server);
    tracing::info_span!(
        "dodo_request",
        otel.kind = "client",
        "http.request.method" = %spec.method(),
        "url.path" = %spec.display_path(),
        "server.address" = server,
        "http.response.status_code" = tracing::field::Empty,
        "dodo.request_id" = tracing::field::Empty,
    )
}

/// Everything fixed for all attempts of one call.
struct Prepared {
    method: Method,
    path: String,
    url: reqwest::Url,
    headers: HeaderMap,
    body: Option<Bytes>,
    safe_to_repeat: bool,
}

fn prepare(
    inner: &Transport,
    spec: &RequestSpec,
    options: &RequestOptions,
    accept: &'static str,
) -> Result<Prepared, Error> {
    let method = spec.method().clone();
    let path = spec.path()?.to_owned();
    let query = spec.encoded_query();
    let url_text = if query.is_empty() {
        format!("{}{}", inner.base_url, path)
    } else {
        format!("{}{}?{}", inner.base_url, path, query)
    };
    let url = reqwest::Url::parse(&url_text)
        .map_err(|e| Error::invalid_with(format!("could not build the URL for {path}"), e))?;

    let generate = spec.has_body_idempotency_field()
        || (method == Method::POST && inner.server_honours_idempotency_key);
    let key = options
        .idempotency_key
        .clone()
        .or_else(|| spec.body_key())
        .or_else(|| generate.then(|| format!("{GENERATED_KEY_PREFIX}{}", uuid::Uuid::new_v4())));

    let mut headers = inner.headers.clone();
    headers.insert(
        http::header::ACCEPT,
        HeaderValue::from_str(accept)
            .map_err(|_| Error::invalid(format!("invalid Accept value {accept:?}")))?,
    );
    let body = spec.body_with_key(key.as_deref());
    if body.is_some() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Some(key) = &key {
        let value = HeaderValue::from_str(key)
            .map_err(|_| Error::invalid("the idempotency key is not a valid header value"))?;
        headers.insert(HeaderName::from_static(IDEMPOTENCY_HEADER), value);
    }
    for (name, value) in &options.headers {
        let (name, value) = header_pair(name, value).map_err(Error::invalid)?;
        headers.insert(name, value);
    }
    let safe_to_repeat = repeat_safety(
        &method,
        spec,
        key.is_some(),
        options.assume_safe_to_repeat,
        inner.server_honours_idempotency_key,
    );
    Ok(Prepared {
        method,
        path,
        url,
        headers,
        body,
        safe_to_repeat,
    })
}

/// Whether sending the request again after an ambiguous failure (timeout or reset after
/// sending, 5xx, 408) cannot duplicate its effect.
///
/// True for every method but POST; for a POST only when the server documents
/// deduplication for it (a body `idempotency_key` carrying a key, or an operation
/// deduplicated by content such as `POST /events/ingest`), when the caller asserted it for
/// this call, or when the client was told the server honours `Idempotency-Key` and a key is
/// sent. A caller's `Idempotency-Key` header alone does not count: the live API documents
/// no such header.
pub(crate) fn repeat_safety(
    method: &Method,
    spec: &RequestSpec,
    has_key: bool,
    caller_asserted: bool,
    server_honours_header: bool,
) -> bool {
    *method != Method::POST
        || (spec.has_body_idempotency_field() && has_key)
        || spec.is_deduplicated_by_server()
        || caller_asserted
        || (server_honours_header && has_key)
}

/// What one attempt produced.
enum Attempt {
    Response {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    Failed {
        outcome: AttemptOutcome,
        error: Error,
    },
}

async fn run(
    inner: &Transport,
    spec: &RequestSpec,
    options: &RequestOptions,
    accept: &'static str,
) -> Result<RawResponse, Error> {
    let level = inner.log_level;
    let prepared = prepare(inner, spec, options, accept)?;
    let per_attempt = options.timeout.unwrap_or(inner.timeout);
    let max_retries = options.max_retries.unwrap_or(inner.max_retries);
    let deadline = options
        .total_timeout
        .or(inner.total_timeout)
        .map(|d| Instant::now() + d);

    let mut retries_made: u32 = 0;
    // The most an earlier attempt may have done (a retried ambiguous attempt of a safe call).
    let mut earlier = Processing::NotProcessed;
    loop {
        let timeout = match deadline {
            Some(deadline) => per_attempt.min(deadline.saturating_duration_since(Instant::now())),
            None => per_attempt,
        };
        let started = Instant::now();
        let attempt = send_once(inner, &prepared, retries_made, timeout).await;
        let elapsed = started.elapsed();
        if !inner.interceptors.is_empty() {
            notify_interceptors(inner, &prepared, retries_made, &attempt, elapsed);
        }
        let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);

        let outcome = match &attempt {
            Attempt::Response {
                status, headers, ..
            } => {
                if enabled(level, LogLevel::Info) {
                    tracing::info!(
                        method = %prepared.method,
                        path = %prepared.path,
                        status = status.as_u16(),
                        attempt = retries_made + 1,
                        duration_ms,
                        "dodo request attempt answered"
                    );
                }
                if enabled(level, LogLevel::Debug) {
                    tracing::debug!(
                        status = status.as_u16(),
                        response_headers = %redacted_headers(headers),
                        "dodo response headers"
                    );
                }
                AttemptOutcome::from_response(status.as_u16(), headers, SystemTime::now())
            }
            Attempt::Failed { outcome, error } => {
                if enabled(level, LogLevel::Info) {
                    tracing::info!(
                        method = %prepared.method,
                        path = %prepared.path,
                        attempt = retries_made + 1,
                        duration_ms,
                        error = %error.log_summary(),
                        "dodo request attempt failed"
                    );
                }
                outcome.clone()
            }
        };

        let ctx = RetryContext {
            retries_made,
            max_retries,
            safe_to_repeat: prepared.safe_to_repeat,
            jitter: fastrand::f64(),
        };
        if let (Some(budget), AttemptOutcome::Response { status, .. }) =
            (&inner.retry_budget, &outcome)
            && (200..300).contains(status)
        {
            budget.refund(SUCCESS_REFUND);
        }
        let mut decision = decide(&ctx, &outcome);
        if let (RetryDecision::Retry(delay), Some(deadline)) = (decision, deadline)
            && Instant::now() + delay >= deadline
        {
            decision = RetryDecision::Stop;
        }
        if let (RetryDecision::Retry(_), Some(budget)) = (decision, &inner.retry_budget) {
            let cost = match outcome {
                AttemptOutcome::Response { .. } => RETRY_COST,
                _ => TIMEOUT_RETRY_COST,
            };
            if !budget.try_withdraw(cost) {
                if enabled(level, LogLevel::Warn) {
                    tracing::warn!(
                        method = %prepared.method,
                        path = %prepared.path,
                        "dodo retry budget exhausted; not retrying"
                    );
                }
                decision = RetryDecision::Stop;
            }
        }
        match decision {
            RetryDecision::Retry(delay) => {
                earlier = earlier.max(attempt_processing(&attempt));
                if enabled(level, LogLevel::Info) {
                    tracing::info!(
                        method = %prepared.method,
                        path = %prepared.path,
                        retry = retries_made + 1,
                        max_retries,
                        delay_ms = delay.as_millis() as u64,
                        "dodo request retrying"
                    );
                }
                tokio::time::sleep(delay).await;
                retries_made += 1;
            }
            RetryDecision::Stop => {
                return finish(prepared, attempt, retries_made, level)
                    .map_err(|e| e.with_processing_at_least(earlier));
            }
        }
    }
}

/// What one attempt says about processing (a 2xx counts as processed).
fn attempt_processing(attempt: &Attempt) -> Processing {
    match attempt {
        Attempt::Response { status, .. } => Processing::from_status(*status),
        Attempt::Failed { error, .. } => error.processing(),
    }
}

/// Converts the last attempt into the call's result, logging a final failure.
fn finish(
    prepared: Prepared,
    attempt: Attempt,
    retries_made: u32,
    level: LogLevel,
) -> Result<RawResponse, Error> {
    let error = match attempt {
        Attempt::Response {
            status,
            headers,
            body,
        } if status.is_success() => {
            return Ok(RawResponse {
                status,
                headers,
                body,
                method: prepared.method,
                path: prepared.path,
            });
        }
        Attempt::Response {
            status,
            headers,
            body,
        } => Error::Api(Box::new(ApiError::from_response(
            prepared.method,
            prepared.path,
            status,
            headers,
            body,
        ))),
        Attempt::Failed { error, .. } => error,
    };
    let serious = error.is_connection()
        || error.is_timeout()
        || error.is_server_error()
        || error.is_rate_limited();
    if serious && enabled(level, LogLevel::Warn) {
        tracing::warn!(retries = retries_made, error = %error.log_summary(), "dodo request failed");
    } else if enabled(level, LogLevel::Info) {
        tracing::info!(retries = retries_made, error = %error.log_summary(), "dodo request failed");
    }
    Err(error)
}

/// Sends one attempt and reads the whole body.
async fn send_once(
    inner: &Transport,
    prepared: &Prepared,
    retries_made: u32,
    timeout: Duration,
) -> Attempt {
    let mut headers = prepared.headers.clone();
    headers.insert(
        HeaderName::from_static(RETRY_COUNT_HEADER),
        HeaderValue::from(retries_made),
    );
    if !inner.interceptors.is_empty() {
        intercept_request(inner, prepared, retries_made, &mut headers);
    }
    if enabled(inner.log_level, LogLevel::Debug) {
        tracing::debug!(
            host = prepared.url.host_str().unwrap_or(""),
            path = %prepared.path,
            query_params = %query_names(&prepared.url),
            request_headers = %redacted_headers(&headers),
            "dodo request headers"
        );
    }
    let mut request = inner
        .http
        .request(prepared.method.clone(), prepared.url.clone())
        .headers(headers)
        .timeout(timeout);
    if let Some(body) = &prepared.body {
        request = request.body(body.clone());
    }
    let failed = |e: reqwest::Error| classify(e, prepared, timeout);
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return failed(e),
    };
    let status = response.status();
    let headers = response.headers().clone();
    match read_capped(response, inner.max_response_bytes).await {
        Ok(Some(body)) => Attempt::Response {
            status,
            headers,
            body,
        },
        Ok(None) => Attempt::Failed {
            // The answer is definitive; reading more of it would not change it.
            outcome: AttemptOutcome::Response {
                status: status.as_u16(),
                should_retry: Some(false),
                retry_after_ms: None,
            },
            error: Error::ResponseTooLarge {
                method: prepared.method.clone(),
                path: prepared.path.clone(),
                status,
                limit: inner.max_response_bytes,
                processing: Processing::from_status(status),
            },
        },
        Err(e) => failed(e),
    }
}

/// Reads the whole body, or `None` as soon as it is known to exceed `limit` bytes.
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Option<Bytes>, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Ok(None);
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

/// Lets the interceptors change the headers, without showing them the credentials and
/// without letting them replace the headers the client owns.
fn intercept_request(
    inner: &Transport,
    prepared: &Prepared,
    retries_made: u32,
    headers: &mut HeaderMap,
) {
    let owned: Vec<(HeaderName, HeaderValue)> = [
        http::header::AUTHORIZATION.as_str(),
        IDEMPOTENCY_HEADER,
        RETRY_COUNT_HEADER,
    ]
    .iter()
    .filter_map(|name| {
        let name = HeaderName::from_static(name);
        headers.get(&name).cloned().map(|v| (name, v))
    })
    .collect();
    headers.remove(http::header::AUTHORIZATION);
    for interceptor in &inner.interceptors {
        interceptor.before_attempt(&mut AttemptRequest {
            method: &prepared.method,
            path: &prepared.path,
            attempt: retries_made + 1,
            headers,
        });
    }
    for (name, _) in &owned {
        headers.remove(name);
    }
    for (name, value) in owned {
        headers.insert(name, value);
    }
}

/// Tells the interceptors how an attempt ended.
fn notify_interceptors(
    inner: &Transport,
    prepared: &Prepared,
    retries_made: u32,
    attempt: &Attempt,
    duration: Duration,
) {
    let (status, response_headers, error) = match attempt {
        Attempt::Response {
            status, headers, ..
        } => (Some(*status), Some(headers), None),
        Attempt::Failed { error, .. } => (None, None, Some(error)),
    };
    for interceptor in &inner.interceptors {
        interceptor.after_attempt(&AttemptResult {
            method: &prepared.method,
            path: &prepared.path,
            attempt: retries_made + 1,
            status,
            response_headers,
            error,
            duration,
        });
    }
}

/// The names of the query parameters (values may hold customer data such as emails).
fn query_names(url: &reqwest::Url) -> String {
    let names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    names.join(",")
}

/// Maps a transport error to a retry outcome and a public error (no reqwest types leak:
/// the source is boxed).
fn classify(e: reqwest::Error, prepared: &Prepared, timeout: Duration) -> Attempt {
    // The URL may carry filters such as `email=` in its query: keep it out of messages.
    let e = e.without_url();
    let method = prepared.method.clone();
    let path = prepared.path.clone();
    let processing = if e.is_connect() {
        Processing::NotProcessed
    } else {
        Processing::MaybeProcessed
    };
    if e.is_timeout() {
        let outcome = if e.is_connect() {
            AttemptOutcome::ConnectFailed
        } else {
            AttemptOutcome::TimedOut
        };
        return Attempt::Failed {
            outcome,
            error: Error::Timeout {
                method,
                path,
                timeout: Some(timeout),
                processing,
            },
        };
    }
    if e.is_builder() {
        return Attempt::Failed {
            // Not sent and would fail the same way again.
            outcome: AttemptOutcome::Response {
                status: 0,
                should_retry: Some(false),
                retry_after_ms: None,
            },
            error: Error::invalid_with("could not build the HTTP request", e),
        };
    }
    let outcome = if e.is_connect() {
        AttemptOutcome::ConnectFailed
    } else {
        AttemptOutcome::ConnectionLost
    };
    Attempt::Failed {
        outcome,
        error: Error::Connection {
            method,
            path,
            processing,
            source: Box::new(e),
        },
    }
}
