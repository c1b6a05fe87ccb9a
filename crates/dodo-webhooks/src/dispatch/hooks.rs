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
/// Converts from an [`EventType`] and from strings: `"*"` is every event; a Corsair path
/// (`"payments.succeeded"`) or a wire name (`"payment.succeeded"`) is that event; a path
/// group (`"payments"` or `"payments.*"`) is every event of the group; any other dotted name
/// is taken as an event type this crate does not know yet (matching
/// [`EventType::Unknown`] of that name).
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

    /// Parses a target string (see the type docs).
    pub fn parse(target: &str) -> HookTarget {
        if target == "*" {
            return HookTarget::All;
        }
        if let Some(t) = EventType::from_path(target).or_else(|| EventType::known(target)) {
            return HookTarget::Event(t);
        }
        let group = target.strip_suffix(".*").unwrap_or(target);
        if !group.contains('.') {
            return HookTarget::Group(group.to_owned());
        }
        HookTarget::Event(EventType::Unknown(target.to_owned()))
    }
}

impl From<EventType> for HookTarget {
    fn from(t: EventType) -> Self {
        HookTarget::Event(t)
    }
}

impl From<&str> for HookTarget {
    fn from(s: &str) -> Self {
        HookTarget::parse(s)
    }
}

impl From<String> for HookTarget {
    fn from(s: String) -> Self {
        HookTarget::parse(&s)
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
pub(crate) fn boxed_handler<Fut, T, E>(fut: Fut) -> BoxFuture<'static, HandlerResult>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Serialize + 'static,
    E: Into<BoxError> + 'static,
{
    Box::pin(fut.map(into_handler_result))
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
        assert_eq!(HookTarget::parse("*"), HookTarget::All);
        assert_eq!(
            HookTarget::parse("payments.succeeded"),
            HookTarget::Event(succeeded.clone())
        );
        assert_eq!(
            HookTarget::parse("payment.succeeded"),
            HookTarget::Event(succeeded.clone())
        );
        assert!(HookTarget::parse("payments").matches(&succeeded));
        assert!(HookTarget::parse("payments.*").matches(&succeeded));
        assert!(!HookTarget::parse("pay").matches(&succeeded));
        assert!(!HookTarget::parse("payments").matches(&EventType::PayoutFailed));
        assert!(HookTarget::parse("dunning").matches(&EventType::DunningStarted));
        let unknown = HookTarget::parse("widget.exploded");
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
