//! The webhook dispatcher: verify, parse, deduplicate, run hooks and handlers, answer.
//!
//! [`Dispatcher::process`] takes the request headers and raw body and returns an
//! [`Outcome`] (HTTP status + JSON body + what happened). Order of work:
//!
//! 1. verify the signature ([`Verifier`]); failure → 401 with a stable error code;
//! 2. parse the event ([`WebhookEvent::parse`]); failure → 400;
//! 3. optional [`IdempotencyGuard`]: a processed `webhook-id` → 200 `duplicate` (nothing
//!    runs), one being processed → 409 `in_progress`, a store error → 500;
//! 4. `before` hooks in registration order ([`Flow::Continue`] passes the possibly changed
//!    event on, [`Flow::Skip`] → 200 `skipped`);
//! 5. the catch-all `on_payload` handler, then the handler for the event type (none → 200
//!    `unhandled`, also for unknown types);
//! 6. `after` hooks (not after a failure), which see the outcome and the pass-along value;
//!    their errors are recorded as warnings and never change the answer.
//!
//! Errors and panics in hooks and handlers are contained and reported as a `Failed` outcome:
//! 500 under [`HandlerErrorPolicy::Retry`] (default) so Dodo retries, or 200 under
//! [`HandlerErrorPolicy::Acknowledge`]. Futures are plain boxed `Send` futures; no async
//! runtime is required.

mod context;
mod hooks;
mod idempotency;
mod outcome;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;

use std::sync::Arc;

use serde_json::Value;

pub use context::Context;
pub use hooks::{Flow, HandlerOutput, HookTarget, IntoHookTarget, UnknownHookTarget};
pub use idempotency::{Begin, IdempotencyGuard, MemoryIdempotency};
pub use outcome::{Disposition, HandlerErrorPolicy, Outcome, OutcomeError, Stage};

use hooks::{AfterHook, BeforeHook, EventHandler, UserFailure, boxed_handler, contained};

use crate::event::{EventPayload, ParseError, WebhookEvent};
use crate::event_table::for_each_event;
use crate::event_type::EventType;
use crate::headers::WebhookHeaders;
use crate::verify::{VerifiedDelivery, Verifier};

pub use dodo_types::{BoxError, BoxFuture};

/// Routes verified webhook deliveries to typed handlers, with hooks and deduplication.
///
/// Build it once at start-up with the builder methods, then share it (for example in an
/// `Arc`) and call [`process`](Self::process) per request. `S` is the application state
/// handed to every handler in [`Context::state`]; it is cloned per delivery.
///
/// ```
/// # use dodo_webhooks::{Dispatcher, Verifier, WebhookSecret, ManualClock, Disposition};
/// # let secret = WebhookSecret::from_bytes(vec![7_u8; 32]).unwrap();
/// # let verifier = Verifier::new(secret).with_clock(ManualClock::new(1_700_000_000));
/// let dispatcher = Dispatcher::new(verifier.clone(), ())
///     .on_payment_succeeded(|ctx, payment| async move {
///         println!("{} paid ({})", payment.payment_id, ctx.webhook_id);
///         Ok(())
///     });
/// # let body = br#"{"business_id":"bus_1","type":"widget.made","timestamp":"2025-01-01T00:00:00Z","data":{}}"#;
/// # let headers = verifier.signed_headers("msg_1", 1_700_000_000, body);
/// # let outcome = futures_util::FutureExt::now_or_never(dispatcher.process(&headers, body)).unwrap();
/// # assert_eq!(outcome.status, 200);
/// # assert_eq!(outcome.disposition, Disposition::Unhandled);
/// ```
pub struct Dispatcher<S = ()> {
    verifier: Verifier,
    state: S,
    handlers: HashMap<EventType, EventHandler<S>>,
    on_payload: Option<EventHandler<S>>,
    before: Vec<(HookTarget, BeforeHook<S>)>,
    after: Vec<(HookTarget, AfterHook<S>)>,
    guard: Option<Arc<dyn IdempotencyGuard>>,
    policy: HandlerErrorPolicy,
}

impl<S> fmt::Debug for Dispatcher<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("verifier", &self.verifier)
            .field("handlers", &self.handlers.len())
            .field("on_payload", &self.on_payload.is_some())
            .field("before", &self.before.len())
            .field("after", &self.after.len())
            .field("idempotency", &self.guard.is_some())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S: Clone + Send + Sync + 'static> Dispatcher<S> {
    /// A dispatcher verifying with `verifier` and handing `state` to handlers.
    pub fn new(verifier: Verifier, state: S) -> Self {
        Self {
            verifier,
            state,
            handlers: HashMap::new(),
            on_payload: None,
            before: Vec::new(),
            after: Vec::new(),
            guard: None,
            policy: HandlerErrorPolicy::default(),
        }
    }

    /// The verifier in use.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Sets what to answer when a hook or handler fails (default: 500, retry).
    #[must_use]
    pub fn handler_error_policy(mut self, policy: HandlerErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Deduplicates deliveries by `webhook-id` with `guard`.
    #[must_use]
    pub fn idempotency(mut self, guard: impl IdempotencyGuard + 'static) -> Self {
        self.guard = Some(Arc::new(guard));
        self
    }

    /// Deduplicates deliveries with a shared guard.
    #[must_use]
    pub fn idempotency_shared(mut self, guard: Arc<dyn IdempotencyGuard>) -> Self {
        self.guard = Some(guard);
        self
    }

    /// Registers a handler for `event_type` receiving the whole [`WebhookEvent`] (replaces
    /// an earlier handler for the same type). Works for unknown types too
    /// (`EventType::Unknown("x.y".into())`). The handler's `Ok` value is serialised into
    /// [`Outcome::output`].
    #[must_use]
    pub fn on<F, Fut, R>(mut self, event_type: EventType, handler: F) -> Self
    where
        F: Fn(Context<S>, WebhookEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: HandlerOutput,
    {
        let stored: EventHandler<S> =
            Arc::new(move |ctx, event| boxed_handler(handler(ctx, event)));
        self.handlers.insert(event_type, stored);
        self
    }

    /// Registers the catch-all handler, run for every event before the type's own handler
    /// (an error here stops the delivery before the typed handler).
    #[must_use]
    pub fn on_payload<F, Fut, R>(mut self, handler: F) -> Self
    where
        F: Fn(Context<S>, WebhookEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: HandlerOutput,
    {
        self.on_payload = Some(Arc::new(move |ctx, event| {
            boxed_handler(handler(ctx, event))
        }));
        self
    }

    /// Adds a `before` hook for `target` (an [`EventType`], a Corsair path such as
    /// `"payments.succeeded"`, a group such as `"payments"`, or `"*"`). Hooks run in
    /// registration order, only for verified deliveries. The hook returns
    /// `Ok(Flow::next(event))`, `Ok(Flow::skip())`, ... (`Result<Flow, BoxError>`).
    ///
    /// # Panics
    ///
    /// When `target` is a string naming no known event or group (a typo such as
    /// `"paymnets.succeeded"`); the message lists the valid names. Registration happens at
    /// start-up, so the mistake surfaces before any delivery. Use [`HookTarget::parse`] to
    /// check a configured string without panicking.
    #[must_use]
    pub fn before<F, Fut>(mut self, target: impl IntoHookTarget, hook: F) -> Self
    where
        F: Fn(Context<S>, WebhookEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Flow, BoxError>> + Send + 'static,
    {
        let target = registered_target(target);
        let stored: BeforeHook<S> = Arc::new(move |ctx, event| Box::pin(hook(ctx, event)));
        self.before.push((target, stored));
        self
    }

    /// Adds an `after` hook for `target`. It runs after the handler succeeded, found
    /// nothing to do, or the event was skipped (not after failures or for duplicates), and
    /// receives the outcome so far plus the pass-along value of the `before` hooks. Its
    /// errors are recorded in [`Outcome::warnings`] and never change the answer.
    ///
    /// # Panics
    ///
    /// Like [`before`](Self::before), on a target string naming no known event or group.
    #[must_use]
    pub fn after<F, Fut, R>(mut self, target: impl IntoHookTarget, hook: F) -> Self
    where
        F: Fn(Context<S>, Outcome, Option<Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: HandlerOutput,
    {
        let target = registered_target(target);
        let stored: AfterHook<S> = Arc::new(move |ctx, outcome, pass| {
            let fut = hook(ctx, outcome, pass);
            Box::pin(async move { fut.await.into_handler_result().map(|_| ()) })
        });
        self.after.push((target, stored));
        self
    }

    /// Whether a handler is registered for `event_type`.
    pub fn has_handler(&self, event_type: &EventType) -> bool {
        self.handlers.contains_key(event_type)
    }

    /// Verifies, parses and dispatches one delivery. Never panics and never fails: every
    /// problem becomes an [`Outcome`] with the status to answer.
    ///
    /// With an idempotency guard, the guard is asked right after verification, before the
    /// body is parsed: a duplicate (Dodo's retries, a replayed request) is answered without
    /// the cost of parsing its data, and a fresh delivery whose body then fails to parse
    /// releases its claim (the answer is 400, as without a guard).
    ///
    /// The returned future does not borrow `headers` or `body`.
    pub fn process<'a, H: WebhookHeaders + ?Sized>(
        &'a self,
        headers: &H,
        body: &[u8],
    ) -> impl Future<Output = Outcome> + Send + use<'a, S, H> {
        let prepared = self.prepare(headers, body);
        async move {
            // The pipeline's future is large (the typed event lives in several of its
            // states); boxing it keeps the future adaptors move around small.
            match prepared {
                Ok(Prepared::Parsed(delivery, event)) => {
                    Box::pin(self.dispatch(delivery, *event)).await
                }
                Ok(Prepared::Verified(delivery, body)) => {
                    Box::pin(self.dispatch_verified(delivery, body)).await
                }
                Err(outcome) => *outcome,
            }
        }
    }

    fn prepare<H: WebhookHeaders + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<Prepared, Box<Outcome>> {
        let delivery = self.verifier.verify(headers, body).map_err(|e| {
            Box::new(Outcome::rejected(
                401,
                OutcomeError {
                    stage: Stage::Verify,
                    code: e.code(),
                    message: e.to_string(),
                    detail: e.to_string(),
                    panicked: false,
                },
            ))
        })?;
        if self.guard.is_some() {
            // Parsed after the guard has claimed the delivery (see `process`).
            return Ok(Prepared::Verified(delivery, body.to_vec()));
        }
        let event = WebhookEvent::parse(body)
            .map_err(|e| Box::new(unparseable(&e, delivery.id.clone())))?;
        Ok(Prepared::Parsed(delivery, Box::new(event)))
    }

    /// Dispatches an already verified and parsed delivery (steps 3–6 of the pipeline).
    /// Use it to replay stored deliveries without re-checking their signatures.
    pub async fn dispatch(&self, delivery: VerifiedDelivery, event: WebhookEvent) -> Outcome {
        if let Some(guard) = &self.guard
            && let Some(refusal) = claim(guard.as_ref(), &delivery.id).await
        {
            return refusal.into_outcome(delivery.id, event.event_type());
        }
        self.run_claimed(delivery, event).await
    }

    /// Claims a verified delivery with the guard, then parses and runs it.
    async fn dispatch_verified(&self, delivery: VerifiedDelivery, body: Vec<u8>) -> Outcome {
        if let Some(guard) = &self.guard
            && let Some(refusal) = claim(guard.as_ref(), &delivery.id).await
        {
            let event_type = crate::envelope::event_type_of(&body);
            return refusal.into_outcome(delivery.id, event_type);
        }
        match WebhookEvent::parse(&body) {
            Ok(event) => self.run_claimed(delivery, event).await,
            Err(e) => {
                let mut outcome = unparseable(&e, delivery.id.clone());
                self.release(&delivery.id, false, &mut outcome).await;
                outcome
            }
        }
    }

    /// Runs a claimed delivery: hooks and handler, the guard's completion, `after` hooks.
    async fn run_claimed(&self, delivery: VerifiedDelivery, event: WebhookEvent) -> Outcome {
        let original_type = event.event_type();
        let webhook_id = delivery.id.clone();
        let ctx = Context::new(self.state.clone(), &delivery, &event);
        let (mut outcome, pass_along) = self.run(ctx.clone(), event, original_type).await;

        let success = outcome.disposition != Disposition::Failed;
        self.release(&webhook_id, success, &mut outcome).await;

        outcome.pass_along = pass_along.clone();
        if outcome.disposition != Disposition::Failed {
            self.run_after(ctx, &mut outcome, pass_along).await;
        }
        outcome
    }

    /// Records the end of processing with the guard, if there is one; a failure to record
    /// it becomes a warning on `outcome` (the answer does not change).
    async fn release(&self, webhook_id: &str, success: bool, outcome: &mut Outcome) {
        let Some(guard) = &self.guard else {
            return;
        };
        if let Err(e) = guarded(|| guard.complete(webhook_id, success)).await {
            outcome.warnings.push(OutcomeError {
                stage: Stage::Idempotency,
                code: "idempotency_complete_failed",
                message: "the delivery result could not be recorded".to_owned(),
                detail: e.to_string(),
                panicked: false,
            });
        }
    }

    /// `before` hooks, `on_payload`, the handler; returns the outcome and pass-along value.
    async fn run(
        &self,
        mut ctx: Context<S>,
        mut event: WebhookEvent,
        original_type: EventType,
    ) -> (Outcome, Option<Value>) {
        let webhook_id = ctx.webhook_id.clone();
        let mut pass_along: Option<Value> = None;
        let mut current_type = original_type;

        for (target, hook) in &self.before {
            if !target.matches(&current_type) {
                continue;
            }
            let hook = Arc::clone(hook);
            let hook_ctx = ctx.clone();
            match contained(move || hook(hook_ctx, event)).await {
                Ok(Flow::Continue {
                    event: next,
                    pass_along: pass,
                }) => {
                    event = *next;
                    current_type = event.event_type();
                    ctx.refresh(&event);
                    if pass.is_some() {
                        pass_along = pass;
                    }
                }
                Ok(Flow::Skip { pass_along: pass }) => {
                    if pass.is_some() {
                        pass_along = pass;
                    }
                    let outcome =
                        Outcome::acknowledged(Disposition::Skipped, webhook_id, current_type);
                    return (outcome, pass_along);
                }
                Err(failure) => {
                    let outcome = self.failed(webhook_id, current_type, Stage::Before, failure);
                    return (outcome, pass_along);
                }
            }
        }

        let handler = self.handlers.get(&current_type).cloned();
        let mut output = None;
        if let Some(on_payload) = &self.on_payload {
            let on_payload = Arc::clone(on_payload);
            let payload_ctx = ctx.clone();
            let payload_event = if handler.is_some() {
                event.clone()
            } else {
                // The typed handler will not need it; avoid the clone.
                std::mem::replace(&mut event, placeholder_event())
            };
            match contained(move || on_payload(payload_ctx, payload_event)).await {
                Ok(value) => output = value,
                Err(failure) => {
                    let outcome = self.failed(webhook_id, current_type, Stage::OnPayload, failure);
                    return (outcome, pass_along);
                }
            }
        }

        let disposition = match handler {
            Some(handler) => match contained(move || handler(ctx, event)).await {
                Ok(value) => {
                    output = value.or(output);
                    Disposition::Delivered
                }
                Err(failure) => {
                    let outcome = self.failed(webhook_id, current_type, Stage::Handler, failure);
                    return (outcome, pass_along);
                }
            },
            None if self.on_payload.is_some() => Disposition::Delivered,
            None => Disposition::Unhandled,
        };
        let mut outcome = Outcome::acknowledged(disposition, webhook_id, current_type);
        outcome.output = output;
        (outcome, pass_along)
    }

    async fn run_after(&self, ctx: Context<S>, outcome: &mut Outcome, pass_along: Option<Value>) {
        let Some(event_type) = outcome.event_type.clone() else {
            return;
        };
        let mut ctx = ctx;
        ctx.event_type = event_type.clone();
        for (target, hook) in &self.after {
            if !target.matches(&event_type) {
                continue;
            }
            let hook = Arc::clone(hook);
            let hook_ctx = ctx.clone();
            let seen = outcome.clone();
            let pass = pass_along.clone();
            if let Err(failure) = contained(move || hook(hook_ctx, seen, pass)).await {
                outcome.warnings.push(OutcomeError {
                    stage: Stage::After,
                    code: "after_hook_failed",
                    message: "an after hook failed".to_owned(),
                    detail: failure.detail,
                    panicked: failure.panicked,
                });
            }
        }
    }

    fn failed(
        &self,
        webhook_id: String,
        event_type: EventType,
        stage: Stage,
        failure: UserFailure,
    ) -> Outcome {
        let (code, message) = match stage {
            Stage::Before => ("before_hook_failed", "a before hook failed"),
            _ => ("handler_failed", "the webhook handler failed"),
        };
        let mut outcome = Outcome::acknowledged(Disposition::Failed, webhook_id, event_type);
        outcome.error = Some(OutcomeError {
            stage,
            code,
            message: message.to_owned(),
            detail: failure.detail,
            panicked: failure.panicked,
        });
        outcome.status = match self.policy {
            HandlerErrorPolicy::Retry => 500,
            HandlerErrorPolicy::Acknowledge => 200,
        };
        outcome.rebuild_body();
        outcome
    }
}

/// Calls the idempotency store with panics (in the call or its future) turned into errors.
async fn guarded<'a, T>(
    call: impl FnOnce() -> BoxFuture<'a, Result<T, BoxError>>,
) -> Result<T, BoxError> {
    use futures_util::FutureExt as _;
    let fut = async move { call().await };
    match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(BoxError::from("the idempotency store panicked")),
    }
}

/// A verified delivery on its way to dispatch.
enum Prepared {
    /// Parsed (no guard: nothing to ask before parsing).
    Parsed(VerifiedDelivery, Box<WebhookEvent>),
    /// Not parsed yet: the guard is asked first.
    Verified(VerifiedDelivery, Vec<u8>),
}

/// Why the guard stopped a delivery before any hook ran.
enum Refusal {
    /// Already processed.
    Duplicate,
    /// Being processed by another attempt right now.
    InProgress,
    /// The store failed (or panicked).
    StoreFailed(BoxError),
}

/// Asks the guard to claim `webhook_id`; `None` when processing may go on.
async fn claim(guard: &dyn IdempotencyGuard, webhook_id: &str) -> Option<Refusal> {
    match guarded(|| guard.begin(webhook_id)).await {
        Ok(Begin::Fresh) => None,
        Ok(Begin::Duplicate) => Some(Refusal::Duplicate),
        Ok(Begin::InProgress) => Some(Refusal::InProgress),
        Err(e) => Some(Refusal::StoreFailed(e)),
    }
}

impl Refusal {
    fn into_outcome(self, webhook_id: String, event_type: EventType) -> Outcome {
        let (status, code, message, detail, disposition) = match self {
            Refusal::Duplicate => {
                return Outcome::acknowledged(Disposition::Duplicate, webhook_id, event_type);
            }
            Refusal::InProgress => (
                409,
                "in_progress",
                "this delivery is already being processed",
                String::new(),
                Disposition::InProgress,
            ),
            Refusal::StoreFailed(e) => (
                500,
                "idempotency_store_failed",
                "the delivery could not be recorded",
                e.to_string(),
                Disposition::Rejected,
            ),
        };
        let mut outcome = Outcome::rejected(
            status,
            OutcomeError {
                stage: Stage::Idempotency,
                code,
                message: message.to_owned(),
                detail,
                panicked: false,
            },
        );
        outcome.disposition = disposition;
        outcome.webhook_id = Some(webhook_id);
        outcome.event_type = Some(event_type);
        outcome
    }
}

/// The 400 outcome for a verified body that is not a webhook event.
fn unparseable(e: &ParseError, webhook_id: String) -> Outcome {
    let mut outcome = Outcome::rejected(400, parse_error(e));
    outcome.webhook_id = Some(webhook_id);
    outcome
}

/// Stand-in left behind when the event is moved into `on_payload` and no typed handler
/// needs it any more; never observed.
fn placeholder_event() -> WebhookEvent {
    WebhookEvent {
        business_id: String::new(),
        timestamp: time::OffsetDateTime::UNIX_EPOCH,
        payload: EventPayload::Unknown {
            event_type: String::new(),
            data: serde_json::value::RawValue::NULL.to_owned(),
        },
    }
}

fn parse_error(e: &ParseError) -> OutcomeError {
    let message = match e {
        ParseError::Json(_) => "the request body is not valid JSON",
        ParseError::Envelope(_) => {
            "the request body is not a webhook envelope (business_id, type, timestamp, data)"
        }
        ParseError::Data { .. } => "the event data does not match its event type",
    };
    OutcomeError {
        stage: Stage::Parse,
        code: e.code(),
        message: message.to_owned(),
        detail: e.to_string(),
        panicked: false,
    }
}

/// The target of a hook being registered; a typo is a start-up panic listing the valid names.
fn registered_target(target: impl IntoHookTarget) -> HookTarget {
    match target.into_hook_target() {
        Ok(target) => target,
        Err(unknown) => panic!("{unknown}"),
    }
}

macro_rules! define_typed_handlers {
    ($( ($variant:ident, $wire:literal, $path:literal, $data:ident, $on:ident) ),* $(,)?) => {
        /// Typed per-event handlers, one per event type. Each receives the context and the
        /// event's data object; the envelope's `business_id` and `timestamp` are in the
        /// context. Registering again replaces the earlier handler.
        impl<S: Clone + Send + Sync + 'static> Dispatcher<S> {
            $(
                #[doc = concat!("Handles `", $wire, "` (hook path `", $path, "`) with the [`", stringify!($data), "`](crate::data::", stringify!($data), ").")]
                #[must_use]
                pub fn $on<F, Fut, R>(self, handler: F) -> Self
                where
                    F: Fn(Context<S>, crate::data::$data) -> Fut + Send + Sync + 'static,
                    Fut: Future<Output = R> + Send + 'static,
                    R: HandlerOutput,
                {
                    self.on_typed(EventType::$variant, move |ctx, event: WebhookEvent| {
                        match event.payload {
                            EventPayload::$variant(data) => Ok(boxed_handler(handler(ctx, data))),
                            other => Err(other.event_type()),
                        }
                    })
                }
            )*
        }
    };
}

for_each_event!(define_typed_handlers);

impl<S: Clone + Send + Sync + 'static> Dispatcher<S> {
    /// Stores a typed handler; `extract` fails only if a `before` hook replaced the payload
    /// with another type without changing the routing (cannot happen: routing follows the
    /// payload), which is reported as a handler error rather than a panic.
    fn on_typed<F>(mut self, event_type: EventType, extract: F) -> Self
    where
        F: Fn(
                Context<S>,
                WebhookEvent,
            ) -> Result<BoxFuture<'static, hooks::HandlerResult>, EventType>
            + Send
            + Sync
            + 'static,
    {
        let expected = event_type.clone();
        let stored: EventHandler<S> = Arc::new(move |ctx, event| match extract(ctx, event) {
            Ok(fut) => fut,
            Err(got) => {
                let message = format!("handler for {expected} received a {got} event");
                Box::pin(std::future::ready(Err(BoxError::from(message))))
            }
        });
        self.handlers.insert(event_type, stored);
        self
    }
}
