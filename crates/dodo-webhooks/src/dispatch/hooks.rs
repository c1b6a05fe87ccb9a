//! Hook vocabulary: what `before` hooks return and which events a hook applies to.
//!
//! A `before` hook receives the verified, parsed event by value and returns a [`Flow`]:
//! pass the (possibly changed) event on, or skip it; either way it may hand a JSON value to
//! the `after` hooks (Corsair's `passToAfter`). Hooks are addressed by a [`HookTarget`]:
//! every event, one [`EventType`], or a Corsair-style group such as `payments`.
//! Taking the event by value (rather than `&mut`) keeps hook closures simple: an `async
//! move` block can own it without borrowing from the caller.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt as _;
use serde::Serialize;
use serde_json::Value;

use crate::dispatch::context::Context;
use crate::dispatch::outcome::Outcome;
use crate::dispatch::{BoxError, BoxFuture};
use crate::event::WebhookEvent;
use crate::event_type::EventType;

/// What a `before` hook decided.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Flow {
    /// Continue with this event (possibly changed by the hook).
    Continue {
        /// The event later hooks and the handler will see (boxed: events are large).
        event: Box<WebhookEvent>,
        /// A value for the `after` hooks (replaces an earlier hook's value if `Some`).
        pass_along: Option<Value>,
    },
    /// Stop: no further `before` hook and no handler runs; the delivery is acknowledged as
    /// skipped and `after` hooks still run.
    Skip {
        /// A value for the `after` hooks (replaces an earlier hook's value if `Some`).
        pass_along: Option<Value>,
    },
}

impl Flow {
    /// Continue with `event`, passing nothing along.
    pub fn next(event: WebhookEvent) -> Self {
        Flow::Continue {
            event: Box::new(event),
            pass_along: None,
        }
    }

    /// Continue with `event` and hand `value` to the `after` hooks.
    pub fn next_with(event: WebhookEvent, value: impl Into<Value>) -> Self {
        Flow::Continue {
            event: Box::new(event),
            pass_along: Some(value.into()),
        }
    }

    /// Skip the event, passing nothing along.
    pub fn skip() -> Self {
        Flow::Skip { pass_along: None }
    }

    /// Skip the event and hand `value` to the `after` hooks.
    pub fn skip_with(value: impl Into<Value>) -> Self {
        Flow::Skip {
            pass_along: Some(value.into()),
        }
    }
}

/// Which events a hook applies to.
///
/// Built from an [`EventType`] or from a string ([`HookTarget::parse`]): `"*"` is every
/// event; a Corsair path (`"payments.succeeded"`) or a wire name (`"payment.succeeded"`) is
/// that event; a path group (`"payments"` or `"payments.*"`) is every event of the group.
/// Any other string is an error listing the valid names, so a typo such as
/// `"paymnets.succeeded"` cannot silently register a hook that never runs. For an event
/// type newer than this crate, say so explicitly:
/// `HookTarget::Event(EventType::Unknown("widget.made".into()))`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HookTarget {
    /// Every event.
    All,
    /// One event type.
    Event(EventType),
    /// Every event whose Corsair path starts with `<group>.` (e.g. `payments`).
    Group(String),
}

impl HookTarget {
    /// Whether the hook applies to `event_type`.
    pub fn matches(&self, event_type: &EventType) -> bool {
        match self {
            HookTarget::All => true,
            HookTarget::Event(t) => t == event_type,
            HookTarget::Group(group) => event_type
                .path()
                .strip_prefix(group.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
        }
    }

    /// Parses a target string (see the type docs); an unknown name is an error whose
    /// message lists the valid ones.
    ///
    /// ```
    /// use dodo_webhooks::{EventType, HookTarget};
    ///
    /// assert_eq!(HookTarget::parse("payments.succeeded").unwrap(), HookTarget::Event(EventType::PaymentSucceeded));
    /// let typo = HookTarget::parse("paymnets.succeeded").unwrap_err();
    /// assert!(typo.to_string().contains("payments.succeeded"));
    /// ```
    pub fn parse(target: &str) -> Result<HookTarget, UnknownHookTarget> {
        if target == "*" {
            return Ok(HookTarget::All);
        }
        if let Some(t) = EventType::from_path(target).or_else(|| EventType::known(target)) {
            return Ok(HookTarget::Event(t));
        }
        let group = target.strip_suffix(".*").unwrap_or(target);
        if known_groups().any(|g| g == group) {
            return Ok(HookTarget::Group(group.to_owned()));
        }
        Err(UnknownHookTarget {
            target: target.to_owned(),
        })
    }
}

/// The Corsair path groups of the known events (`payments`, `subscriptions`, ...).
fn known_groups() -> impl Iterator<Item = &'static str> {
    let mut groups: Vec<&'static str> = EventType::ALL
        .iter()
        .filter_map(|t| t.path().split_once('.').map(|(g, _)| g))
        .collect();
    groups.dedup();
    groups.into_iter()
}

/// A hook target string that names no known event or group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownHookTarget {
    /// The string given.
    pub target: String,
}

impl std::fmt::Display for UnknownHookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut groups: Vec<&str> = known_groups().collect();
        groups.sort_unstable();
        groups.dedup();
        let events: Vec<&str> = EventType::ALL.iter().map(EventType::path).collect();
        write!(
            f,
            "unknown hook target {:?}: use \"*\", a group ({}), or an event ({}); for an event \
             type newer than this crate use HookTarget::Event(EventType::Unknown(..))",
            self.target,
            groups.join(", "),
            events.join(", ")
        )
    }
}

impl std::error::Error for UnknownHookTarget {}

/// What a hook can be registered for: an [`EventType`], a [`HookTarget`] or a target string.
pub trait IntoHookTarget {
    /// The target, or why the string names none.
    fn into_hook_target(self) -> Result<HookTarget, UnknownHookTarget>;
}

impl IntoHookTarget for HookTarget {
    fn into_hook_target(self) -> Result<HookTarget, UnknownHookTarget> {
        Ok(self)
    }
}

impl IntoHookTarget for EventType {
    fn into_hook_target(self) -> Result<HookTarget, UnknownHookTarget> {
        Ok(HookTarget::Event(self))
    }
}

impl IntoHookTarget for &str {
    fn into_hook_target(self) -> Result<HookTarget, UnknownHookTarget> {
        HookTarget::parse(self)
    }
}

impl IntoHookTarget for String {
    fn into_hook_target(self) -> Result<HookTarget, UnknownHookTarget> {
        HookTarget::parse(&self)
    }
}

/// What a handler may return: `()`, or a `Result<T, BoxError>` whose `Ok` value (any
/// `Serialize`) becomes [`Outcome::output`]. Because there is exactly one `Result` form,
/// `Ok(())` and `?` on any error type work without type annotations.
///
/// ```
/// # let verifier = dodo_webhooks::Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let dispatcher = dodo_webhooks::Dispatcher::new(verifier, ())
///     .on_payment_succeeded(|_ctx, payment| async move {
///         println!("paid: {}", payment.payment_id); // returns ()
///     })
///     .on_refund_succeeded(|_ctx, refund| async move {
///         let amount: u64 = "12".parse()?; // any error converts into BoxError
///         println!("refunded {} ({amount})", refund.refund_id);
///         Ok(())
///     });
/// # let _ = dispatcher;
/// ```
pub trait HandlerOutput: Send + 'static {
    /// The stored form: the serialised `Ok` value (`None` for `()` and `null`), or the
    /// error (also when the value does not serialise).
    fn into_handler_result(self) -> Result<Option<Value>, BoxError>;
}

impl HandlerOutput for () {
    fn into_handler_result(self) -> HandlerResult {
        Ok(None)
    }
}

impl<T: Serialize + Send + 'static> HandlerOutput for Result<T, BoxError> {
    fn into_handler_result(self) -> HandlerResult {
        into_handler_result(self)
    }
}

impl From<EventType> for HookTarget {
    fn from(t: EventType) -> Self {
        HookTarget::Event(t)
    }
}

/// What a handler produced: its serialised return value (`None` for `()`).
pub(crate) type HandlerResult = Result<Option<Value>, BoxError>;

/// A stored handler taking the whole event.
pub(crate) type EventHandler<S> =
    Arc<dyn Fn(Context<S>, WebhookEvent) -> BoxFuture<'static, HandlerResult> + Send + Sync>;

/// A stored `before` hook.
pub(crate) type BeforeHook<S> = Arc<
    dyn Fn(Context<S>, WebhookEvent) -> BoxFuture<'static, Result<Flow, BoxError>> + Send + Sync,
>;

/// A stored `after` hook.
pub(crate) type AfterHook<S> = Arc<
    dyn Fn(Context<S>, Outcome, Option<Value>) -> BoxFuture<'static, Result<(), BoxError>>
        + Send
        + Sync,
>;

/// Turns a handler's `Result<T, E>` into the stored form.
pub(crate) fn into_handler_result<T: Serialize, E: Into<BoxError>>(
    result: Result<T, E>,
) -> HandlerResult {
    let value = result.map_err(Into::into)?;
    match serde_json::to_value(value)? {
        Value::Null => Ok(None),
        other => Ok(Some(other)),
    }
}

/// Boxes a user future, converting its result.
pub(crate) fn boxed_handler<Fut, R>(fut: Fut) -> BoxFuture<'static, HandlerResult>
where
    Fut: Future<Output = R> + Send + 'static,
    R: HandlerOutput,
{
    Box::pin(fut.map(HandlerOutput::into_handler_result))
}

/// A failure of user code: its error text, or the panic message.
#[derive(Debug)]
pub(crate) struct UserFailure {
    pub detail: String,
    pub panicked: bool,
}

/// Runs user code (the closure call and the future it returns) with panics contained.
pub(crate) async fn contained<T, F>(call: F) -> Result<T, UserFailure>
where
    F: FnOnce() -> BoxFuture<'static, Result<T, BoxError>>,
{
    let fut = async move { call().await };
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(UserFailure {
            detail: error.to_string(),
            panicked: false,
        }),
        Err(panic) => Err(UserFailure {
            detail: panic_message(panic.as_ref()),
            panicked: true,
        }),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panic: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panic: {s}")
    } else {
        "panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_match() {
        let succeeded = EventType::PaymentSucceeded;
        let parse = |s| HookTarget::parse(s).unwrap();
        assert_eq!(parse("*"), HookTarget::All);
        assert_eq!(
            parse("payments.succeeded"),
            HookTarget::Event(succeeded.clone())
        );
        assert_eq!(
            parse("payment.succeeded"),
            HookTarget::Event(succeeded.clone())
        );
        assert!(parse("payments").matches(&succeeded));
        assert!(parse("payments.*").matches(&succeeded));
        assert!(!parse("payments").matches(&EventType::PayoutFailed));
        assert!(parse("dunning").matches(&EventType::DunningStarted));
        for typo in [
            "pay",
            "paymnets.succeeded",
            "widget.exploded",
            "payments.succeded",
        ] {
            let err = HookTarget::parse(typo).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(typo), "{message}");
            assert!(message.contains("payments.succeeded"), "{message}");
            assert!(message.contains("subscriptions"), "{message}");
        }
        let unknown = HookTarget::Event(EventType::Unknown("widget.exploded".into()));
        assert!(unknown.matches(&EventType::Unknown("widget.exploded".into())));
        assert!(!unknown.matches(&succeeded));
    }

    #[test]
    fn unit_output_is_none_and_values_are_kept() {
        assert_eq!(into_handler_result(Ok::<_, BoxError>(())).unwrap(), None);
        assert_eq!(
            into_handler_result(Ok::<_, BoxError>(5)).unwrap(),
            Some(serde_json::json!(5))
        );
        assert!(into_handler_result::<(), _>(Err("boom")).is_err());
    }
}
