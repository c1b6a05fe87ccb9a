//! Fault injection: make the next N matching requests fail, slow down, or drop the connection.
//!
//! Rules are added through `POST /_emulator/faults` and matched in insertion order against
//! every API request (admin routes are never faulted). A matching rule is consumed once per
//! request; when its count reaches zero it disappears.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// What a fault rule does, as posted to `/_emulator/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// How many matching requests the rule affects (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// Only requests whose path starts with this prefix (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Only requests with this method (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Answer with this status instead of handling the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `retry-after` header value in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// `x-should-retry` header value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_should_retry: Option<bool>,
    /// Wait this long before answering (or before handling normally when no status is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Close the connection without answering.
    #[serde(default)]
    pub drop_connection: bool,
}

fn one() -> u32 {
    1
}

impl FaultSpec {
    fn empty() -> Self {
        Self {
            count: 1,
            path_prefix: None,
            method: None,
            status: None,
            retry_after: None,
            x_should_retry: None,
            delay_ms: None,
            drop_connection: false,
        }
    }

    /// The next matching request is answered with `status`.
    ///
    /// ```
    /// use dodo_emulator::faults::FaultSpec;
    /// let spec = FaultSpec::status(503).times(2).path_prefix("/payments").retry_after(1);
    /// assert_eq!(spec.count, 2);
    /// ```
    pub fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::empty()
        }
    }

    /// The next matching request waits `ms` milliseconds, then is handled normally.
    pub fn delay_ms(ms: u64) -> Self {
        Self {
            delay_ms: Some(ms),
            ..Self::empty()
        }
    }

    /// The next matching request's connection is closed without an answer.
    pub fn drop_connection() -> Self {
        Self {
            drop_connection: true,
            ..Self::empty()
        }
    }

    /// Affects this many matching requests (default 1).
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// Only requests whose path starts with `prefix`.
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }

    /// Only requests with this method.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Adds a `retry-after` header (seconds).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds an `x-should-retry` header.
    pub fn should_retry(mut self, retry: bool) -> Self {
        self.x_should_retry = Some(retry);
        self
    }

    /// Checks that the rule does something and that its status is an HTTP status.
    pub fn check(&self) -> Result<(), ApiError> {
        if let Some(s) = self.status
            && !(100..=599).contains(&s)
        {
            return Err(ApiError::invalid_field(
                "status",
                "must be within 100..=599",
            ));
        }
        if self.count == 0 {
            return Err(ApiError::invalid_field("count", "must be at least 1"));
        }
        if self.status.is_none() && self.delay_ms.is_none() && !self.drop_connection {
            return Err(ApiError::unprocessable(
                "INVALID_REQUEST",
                "a fault needs `status`, `delay_ms` or `drop_connection`",
            ));
        }
        Ok(())
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.path_prefix
            .as_deref()
            .is_none_or(|prefix| path.starts_with(prefix))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

/// A stored rule with its id and remaining count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultRule {
    /// Rule id (`flt_...`).
    pub id: String,
    /// Requests still affected.
    pub remaining: u32,
    /// The rule.
    #[serde(flatten)]
    pub spec: FaultSpec,
}

/// The active fault rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
    /// Number of rules, so the common "no faults" case takes no lock.
    active: AtomicUsize,
}

impl Faults {
    /// Adds a rule (after [`FaultSpec::check`]) and returns it.
    pub fn add(&self, spec: FaultSpec) -> Result<FaultRule, ApiError> {
        spec.check()?;
        let rule = FaultRule {
            id: crate::ids::new_id("flt_"),
            remaining: spec.count,
            spec,
        };
        let mut rules = self.lock();
        rules.push(rule.clone());
        self.active.store(rules.len(), Ordering::Release);
        Ok(rule)
    }

    /// The active rules.
    pub fn list(&self) -> Vec<FaultRule> {
        self.lock().clone()
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let mut rules = self.lock();
        rules.clear();
        self.active.store(0, Ordering::Release);
    }

    /// Consumes one use of the first rule matching the request, if any.
    pub fn take(&self, method: &str, path: &str) -> Option<FaultSpec> {
        if self.active.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut rules = self.lock();
        let index = rules.iter().position(|r| r.spec.matches(method, path))?;
        let rule = &mut rules[index];
        rule.remaining = rule.remaining.saturating_sub(1);
        let spec = rule.spec.clone();
        if rule.remaining == 0 {
            rules.remove(index);
            self.active.store(rules.len(), Ordering::Release);
        }
        Some(spec)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> FaultSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rules_are_consumed_in_order_and_expire() {
        let f = Faults::default();
        f.add(spec(
            r#"{"count": 2, "path_prefix": "/payments", "status": 503}"#,
        ))
        .unwrap();
        assert_eq!(f.take("GET", "/customers"), None);
        assert_eq!(f.take("GET", "/payments/x").unwrap().status, Some(503));
        assert_eq!(f.list()[0].remaining, 1);
        assert!(f.take("POST", "/payments").is_some());
        assert!(f.take("GET", "/payments").is_none());
        assert!(f.list().is_empty());
    }

    #[test]
    fn method_filter_is_case_insensitive() {
        let f = Faults::default();
        f.add(spec(r#"{"method": "post", "delay_ms": 5}"#)).unwrap();
        assert!(f.take("GET", "/x").is_none());
        assert_eq!(f.take("POST", "/x").unwrap().delay_ms, Some(5));
    }

    #[test]
    fn useless_or_bad_rules_are_rejected() {
        let f = Faults::default();
        assert!(f.add(spec(r#"{"count": 1}"#)).is_err());
        assert!(f.add(spec(r#"{"status": 42}"#)).is_err());
        assert!(f.add(spec(r#"{"status": 500, "count": 0}"#)).is_err());
        assert!(serde_json::from_str::<FaultSpec>(r#"{"statuss": 500}"#).is_err());
    }
}
