//! What handlers and hooks receive besides the event.
//!
//! A [`Context`] carries the application state (`S`, cloned per delivery, so it is usually
//! an `Arc` or a cheap handle such as a connection pool) and facts about the delivery that
//! verification established. It never contains the webhook secret.

use time::OffsetDateTime;

use crate::event::WebhookEvent;
use crate::event_type::EventType;
use crate::verify::VerifiedDelivery;

/// Per-delivery context handed to every handler and hook.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Context<S> {
    /// The application state given to [`Dispatcher::new`](crate::Dispatcher::new).
    pub state: S,
    /// The `webhook-id` header: stable across retries of one event.
    pub webhook_id: String,
    /// The `webhook-timestamp` header: when this delivery attempt was signed.
    pub webhook_timestamp: OffsetDateTime,
    /// The event type (after any `before` hook changes).
    pub event_type: EventType,
    /// The envelope's `business_id` (after any `before` hook changes).
    pub business_id: String,
    /// The envelope's `timestamp`: when the event occurred.
    pub event_timestamp: OffsetDateTime,
}

impl<S> Context<S> {
    /// Builds the context for a verified delivery and its parsed event.
    pub fn new(state: S, delivery: &VerifiedDelivery, event: &WebhookEvent) -> Self {
        Self {
            state,
            webhook_id: delivery.id.clone(),
            webhook_timestamp: delivery.timestamp,
            event_type: event.event_type(),
            business_id: event.business_id.clone(),
            event_timestamp: event.timestamp,
        }
    }

    /// The same context describing `event` instead (used after `before` hooks ran).
    pub(crate) fn refresh(&mut self, event: &WebhookEvent) {
        self.event_type = event.event_type();
        self.business_id.clone_from(&event.business_id);
        self.event_timestamp = event.timestamp;
    }
}
