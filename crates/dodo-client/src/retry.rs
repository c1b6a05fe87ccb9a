//! The retry policy as pure functions.
//!
//! [`decide`] takes what happened on one attempt plus the call's context and returns
//! [`RetryDecision::Retry`] with a delay or [`RetryDecision::Stop`]. It does no I/O, reads
//! no clock and draws no random number (the caller passes `now` and the jitter draw), so
//! every rule is unit-tested. The rules follow the official SDKs where they are safe
//! (408/429/5xx, connection errors and timeouts; `x-should-retry` overrides on non-2xx;
//! `retry-after-ms` then `retry-after`; backoff 0.5 s·2ⁿ capped at 8 s minus up to 25 %
//! jitter) and fix their flaws: server delays are capped at 60 s, 2xx answers are never
//! retried, a 409 is a business conflict (retried only on `x-should-retry: true`), and a
//! call that is not safe to repeat (a POST the server does not deduplicate) is retried only
//! when the request certainly was not processed: the connection could not be opened, a 429,
//! or the server said `x-should-retry: true`.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// Longest delay taken from `retry-after` / `retry-after-ms`.
pub const MAX_SERVER_DELAY: Duration = Duration::from_secs(60);
/// First default backoff delay.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Longest default backoff delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Largest fraction removed from the default backoff by jitter.
pub const MAX_JITTER: f64 = 0.25;

/// What one attempt produced, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// The connection could not be established: the request was certainly not sent.
    ConnectFailed,
    /// The connection failed after the request may have been sent (reset, broken body...).
    ConnectionLost,
    /// The attempt timed out; the server may or may not have acted on it.
    TimedOut,
    /// The server answered.
    Response {
        /// HTTP status code.
        status: u16,
        /// Parsed `x-should-retry` header (`true`/`false`), if present.
        should_retry: Option<bool>,
        /// Server-requested delay from `retry-after-ms` / `retry-after`, uncapped and
        /// possibly negative (a date in the past), in milliseconds.
        retry_after_ms: Option<f64>,
    },
}

impl AttemptOutcome {
    /// Builds a response outcome from a status and headers; `now` resolves HTTP dates.
    pub fn from_response(status: u16, headers: &HeaderMap, now: SystemTime) -> Self {
        AttemptOutcome::Response {
            status,
            should_retry: should_retry_header(headers),
            retry_after_ms: retry_after_ms(headers, now),
        }
    }
}

/// The verdict for one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Send again after this delay.
    Retry(Duration),
    /// Give up: return the attempt's result (success or error) to the caller.
    Stop,
}

/// Everything besides the outcome that the decision depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryContext {
    /// Retries already made for this call (0 after the first attempt).
    pub retries_made: u32,
    /// Maximum number of retries (not attempts) for this call.
    pub max_retries: u32,
    /// Whether repeating the request is safe even if an earlier attempt was processed:
    /// the method is not POST, the server documents deduplication for this POST (a body
    /// `idempotency_key`, `event_id`s on ingest), or the caller explicitly said so.
    pub safe_to_repeat: bool,
    /// A uniform draw in `[0, 1)`; scaled to `[0, 0.25)` for backoff jitter.
    pub jitter: f64,
}

/// Whether a status is transient: 408, 429 or any 5xx. A 409 is a business conflict
/// (a pending plan change, a reused key, a taken slug), never retried by status alone.
pub fn status_is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429) || status >= 500
}

/// Decides whether to retry after one attempt.
///
/// ```
/// use std::time::Duration;
/// use dodo_client::retry::{decide, AttemptOutcome, RetryContext, RetryDecision};
///
/// let ctx = RetryContext { retries_made: 0, max_retries: 2, safe_to_repeat: false, jitter: 0.0 };
/// let timeout = AttemptOutcome::TimedOut;
/// // A POST that timed out may have been processed: do not repeat it.
/// assert_eq!(decide(&ctx, &timeout), RetryDecision::Stop);
/// // A GET (or a POST the server deduplicates) is retried after 0.5 s (minus jitter).
/// let safe = RetryContext { safe_to_repeat: true, ..ctx };
/// assert_eq!(decide(&safe, &timeout), RetryDecision::Retry(Duration::from_millis(500)));
/// ```
pub fn decide(ctx: &RetryContext, outcome: &AttemptOutcome) -> RetryDecision {
    if ctx.retries_made >= ctx.max_retries {
        return RetryDecision::Stop;
    }
    let backoff = || backoff_delay(ctx.retries_made, ctx.jitter);
    match outcome {
        AttemptOutcome::ConnectFailed => RetryDecision::Retry(backoff()),
        AttemptOutcome::ConnectionLost | AttemptOutcome::TimedOut => {
            if ctx.safe_to_repeat {
                RetryDecision::Retry(backoff())
            } else {
                RetryDecision::Stop
            }
        }
        AttemptOutcome::Response {
            status,
            should_retry,
            retry_after_ms,
        } => {
            if (200..300).contains(status) {
                return RetryDecision::Stop;
            }
            let retry = match should_retry {
                // The server says explicitly whether repeating is right.
                Some(explicit) => *explicit,
                None if !status_is_retryable(*status) => false,
                // Rate limited: the request was rejected before it took effect.
                None if *status == 429 => true,
                None => ctx.safe_to_repeat,
            };
            if !retry {
                return RetryDecision::Stop;
            }
            let delay = retry_after_ms.map(server_delay).unwrap_or_else(backoff);
            RetryDecision::Retry(delay)
        }
    }
}

/// A server-requested delay, clamped to `[0, 60 s]`.
pub fn server_delay(ms: f64) -> Duration {
    if ms.is_nan() || ms <= 0.0 {
        return Duration::ZERO;
    }
    if ms >= MAX_SERVER_DELAY.as_secs_f64() * 1000.0 {
        return MAX_SERVER_DELAY;
    }
    Duration::from_secs_f64(ms / 1000.0)
}

/// The default backoff before retry number `retries_made + 1`:
/// `min(0.5 s × 2^retries_made, 8 s) × (1 − 0.25 × jitter)`, `jitter` in `[0, 1)`.
pub fn backoff_delay(retries_made: u32, jitter: f64) -> Duration {
    let nominal = INITIAL_BACKOFF
        .saturating_mul(2u32.saturating_pow(retries_made.min(16)))
        .min(MAX_BACKOFF);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    nominal.mul_f64(1.0 - MAX_JITTER * jitter)
}

/// The `x-should-retry` header: `Some(true)` / `Some(false)`, `None` if absent or other.
pub fn should_retry_header(headers: &HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry")?.to_str().ok()?.trim() {
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The server-requested delay in milliseconds: `retry-after-ms` (float ms), else
/// `retry-after` as float seconds, else as an HTTP date relative to `now` (negative when
/// in the past). `None` when absent or unparseable. Not capped: see [`server_delay`].
pub fn retry_after_ms(headers: &HeaderMap, now: SystemTime) -> Option<f64> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
    {
        return Some(ms);
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return secs.is_finite().then_some(secs * 1000.0);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(match date.duration_since(now) {
        Ok(ahead) => ahead.as_secs_f64() * 1000.0,
        Err(behind) => -(behind.duration().as_secs_f64() * 1000.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(retries_made: u32, safe: bool) -> RetryContext {
        RetryContext {
            retries_made,
            max_retries: 2,
            safe_to_repeat: safe,
            jitter: 0.0,
        }
    }

    fn resp(status: u16) -> AttemptOutcome {
        AttemptOutcome::Response {
            status,
            should_retry: None,
            retry_after_ms: None,
        }
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert!(
                matches!(decide(&ctx(0, true), &resp(s)), RetryDecision::Retry(_)),
                "{s}"
            );
        }
        for s in [200, 204, 301, 400, 401, 403, 404, 409, 410, 413, 422] {
            assert_eq!(decide(&ctx(0, true), &resp(s)), RetryDecision::Stop, "{s}");
        }
    }

    #[test]
    fn stops_when_retries_used_up() {
        assert_eq!(decide(&ctx(2, true), &resp(503)), RetryDecision::Stop);
        assert_eq!(
            decide(&ctx(2, true), &AttemptOutcome::ConnectFailed),
            RetryDecision::Stop
        );
        let zero = RetryContext {
            max_retries: 0,
            ..ctx(0, true)
        };
        assert_eq!(decide(&zero, &resp(503)), RetryDecision::Stop);
    }

    #[test]
    fn unsafe_requests_only_retry_when_not_applied() {
        let c = ctx(0, false);
        for s in [408, 409, 500, 503] {
            assert_eq!(decide(&c, &resp(s)), RetryDecision::Stop, "{s}");
        }
        assert_eq!(decide(&c, &AttemptOutcome::TimedOut), RetryDecision::Stop);
        assert_eq!(
            decide(&c, &AttemptOutcome::ConnectionLost),
            RetryDecision::Stop
        );
        assert!(matches!(decide(&c, &resp(429)), RetryDecision::Retry(_)));
        assert!(matches!(
            decide(&c, &AttemptOutcome::ConnectFailed),
            RetryDecision::Retry(_)
        ));
        let told = AttemptOutcome::Response {
            status: 500,
            should_retry: Some(true),
            retry_after_ms: None,
        };
        assert!(matches!(decide(&c, &told), RetryDecision::Retry(_)));
    }

    #[test]
    fn conflict_is_retried_only_when_the_server_says_so() {
        assert_eq!(decide(&ctx(0, true), &resp(409)), RetryDecision::Stop);
        let told = AttemptOutcome::Response {
            status: 409,
            should_retry: Some(true),
            retry_after_ms: None,
        };
        assert!(matches!(
            decide(&ctx(0, false), &told),
            RetryDecision::Retry(_)
        ));
    }

    #[test]
    fn should_retry_header_overrides_non_2xx_only() {
        let no = AttemptOutcome::Response {
            status: 503,
            should_retry: Some(false),
            retry_after_ms: None,
        };
        assert_eq!(decide(&ctx(0, true), &no), RetryDecision::Stop);
        let yes = AttemptOutcome::Response {
            status: 400,
            should_retry: Some(true),
            retry_after_ms: None,
        };
        assert!(matches!(
            decide(&ctx(0, true), &yes),
            RetryDecision::Retry(_)
        ));
        let ok = AttemptOutcome::Response {
            status: 200,
            should_retry: Some(true),
            retry_after_ms: None,
        };
        assert_eq!(decide(&ctx(0, true), &ok), RetryDecision::Stop);
    }

    #[test]
    fn backoff_bounds() {
        let expected_ms = [500u64, 1000, 2000, 4000, 8000, 8000, 8000];
        for (n, nominal) in expected_ms.iter().enumerate() {
            let n = n as u32;
            assert_eq!(backoff_delay(n, 0.0), Duration::from_millis(*nominal));
            let low = backoff_delay(n, 0.999_999);
            assert!(
                low >= Duration::from_millis(nominal * 3 / 4),
                "{n}: {low:?}"
            );
            assert!(low < Duration::from_millis(*nominal));
        }
        assert_eq!(backoff_delay(1, 0.5), Duration::from_millis(875));
        assert_eq!(backoff_delay(u32::MAX, 0.0), MAX_BACKOFF);
        // Out-of-range jitter is clamped, never negative or NaN.
        assert_eq!(backoff_delay(0, 7.0), Duration::from_millis(375));
        assert_eq!(backoff_delay(0, f64::NAN), Duration::from_millis(500));
        // Used by decide for the nth retry.
        assert_eq!(
            decide(&ctx(1, true), &resp(503)),
            RetryDecision::Retry(Duration::from_millis(1000))
        );
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_parsing() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21T07:28:00Z
        assert_eq!(
            retry_after_ms(&headers(&[("retry-after-ms", "250.5")]), now),
            Some(250.5)
        );
        assert_eq!(
            retry_after_ms(
                &headers(&[("retry-after-ms", "100"), ("retry-after", "9")]),
                now
            ),
            Some(100.0)
        );
        assert_eq!(
            retry_after_ms(
                &headers(&[("retry-after-ms", "x"), ("retry-after", "2")]),
                now
            ),
            Some(2000.0)
        );
        assert_eq!(
            retry_after_ms(&headers(&[("retry-after", "1.5")]), now),
            Some(1500.0)
        );
        assert_eq!(
            retry_after_ms(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT")]),
                now
            ),
            Some(30_000.0)
        );
        assert_eq!(
            retry_after_ms(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT")]),
                now
            ),
            Some(-60_000.0)
        );
        assert_eq!(
            retry_after_ms(&headers(&[("retry-after", "soon")]), now),
            None
        );
        assert_eq!(retry_after_ms(&HeaderMap::new(), now), None);
    }

    #[test]
    fn server_delay_capped_and_floored() {
        assert_eq!(server_delay(250.0), Duration::from_millis(250));
        assert_eq!(server_delay(3_600_000.0), MAX_SERVER_DELAY);
        assert_eq!(server_delay(-5.0), Duration::ZERO);
        assert_eq!(server_delay(f64::NAN), Duration::ZERO);
        assert_eq!(server_delay(f64::INFINITY), MAX_SERVER_DELAY);
        let now = SystemTime::UNIX_EPOCH;
        let o = AttemptOutcome::from_response(429, &headers(&[("retry-after", "3600")]), now);
        assert_eq!(
            decide(&ctx(0, false), &o),
            RetryDecision::Retry(MAX_SERVER_DELAY)
        );
        let o = AttemptOutcome::from_response(503, &headers(&[("retry-after-ms", "20")]), now);
        assert_eq!(
            decide(&ctx(0, true), &o),
            RetryDecision::Retry(Duration::from_millis(20))
        );
    }
}
