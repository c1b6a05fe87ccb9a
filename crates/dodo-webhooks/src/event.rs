//! Typed webhook events.
//!
//! [`WebhookEvent::parse`] reads the envelope (`business_id`, `type`, `timestamp`, `data`)
//! with `data` kept as a borrowed raw JSON slice, then parses `data` into the model for the
//! event's `type` (the keys may come in any order). Parsing is lenient the way the API
//! evolves: unknown fields are ignored, missing optional fields are `None`, unknown enum
//! values are kept, and an unknown event type becomes [`EventPayload::Unknown`] with its
//! `data` kept verbatim. Events serialise back to the same envelope shape (with
//! `data.payload_type` restored), so parse → serialise → parse is the identity.

use std::fmt;

use serde::de::Error as _;
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::event_table::for_each_event;
use crate::event_type::EventType;

/// The data object types carried by webhook events (aliases into [`dodo_types`]).
pub mod data {
    pub use dodo_types::{
        AbandonedCheckout, CreditBalanceLow, CreditLedgerEntry, Dispute, DunningAttempt,
        EntitlementGrant, LicenseKey, Payment, Payout, Refund, Subscription,
    };
}

use data::*;

/// One webhook delivery's body: the envelope plus the typed data object.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// The business the event belongs to.
    pub business_id: String,
    /// When the event occurred (not when it was delivered; see
    /// [`VerifiedDelivery::timestamp`](crate::VerifiedDelivery) for that).
    pub timestamp: OffsetDateTime,
    /// The event type and its typed data.
    pub payload: EventPayload,
}

/// Why a body could not be parsed as a webhook event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is not syntactically valid JSON (or not UTF-8).
    #[error("webhook body is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The body is JSON but not an envelope with `business_id`, `type`, `timestamp` (RFC 3339)
    /// and `data`.
    #[error("webhook envelope is invalid: {0}")]
    Envelope(#[source] serde_json::Error),
    /// `data` does not fit the model of the event's `type`.
    #[error("`data` of a {event_type} event is invalid at `{path}`: {source}")]
    Data {
        /// The envelope's `type`.
        event_type: String,
        /// Path of the offending field inside `data` (`.` if the whole object).
        path: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl ParseError {
    /// A stable machine-readable code: `invalid_json`, `invalid_envelope` or `invalid_data`.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::Json(_) => "invalid_json",
            ParseError::Envelope(_) => "invalid_envelope",
            ParseError::Data { .. } => "invalid_data",
        }
    }
}

/// The envelope with `data` kept as raw JSON, for generic deserialisation.
#[derive(Deserialize)]
struct OwnedEnvelope {
    business_id: String,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    data: Box<RawValue>,
}

impl WebhookEvent {
    /// The event type.
    pub fn event_type(&self) -> EventType {
        self.payload.event_type()
    }

    /// The envelope as JSON bytes (with `data.payload_type` for known types).
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

pub(crate) fn classify(e: serde_json::Error) -> ParseError {
    match e.classify() {
        serde_json::error::Category::Data => ParseError::Envelope(e),
        _ => ParseError::Json(e),
    }
}

/// Adds `payload_type` in front of a data object when serialising it.
#[derive(Serialize)]
struct TaggedData<'a, T> {
    payload_type: &'static str,
    #[serde(flatten)]
    data: &'a T,
}

macro_rules! define_payload {
    ($( ($variant:ident, $wire:literal, $path:literal, $data:ident, $on:ident) ),* $(,)?) => {
        /// The event type together with its typed data object.
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum EventPayload {
            $(
                #[doc = concat!("`", $wire, "`.")]
                $variant($data),
            )*
            /// An event type this crate does not know; `data` is kept exactly as received.
            Unknown {
                /// The envelope's `type`.
                event_type: String,
                /// The raw `data` JSON.
                data: Box<RawValue>,
            },
        }

        impl EventPayload {
            /// The event type of this payload.
            pub fn event_type(&self) -> EventType {
                match self {
                    $(EventPayload::$variant(_) => EventType::$variant,)*
                    EventPayload::Unknown { event_type, .. } => EventType::Unknown(event_type.clone()),
                }
            }

            /// The wire name of the event type, without allocating.
            pub fn type_str(&self) -> &str {
                match self {
                    $(EventPayload::$variant(_) => $wire,)*
                    EventPayload::Unknown { event_type, .. } => event_type,
                }
            }

            /// Parses `data` for the event type named `event_type`.
            pub fn from_data(event_type: &str, data: &RawValue) -> Result<Self, ParseError> {
                let json = data.get();
                match event_type {
                    $($wire => parse_data(event_type, json).map(EventPayload::$variant),)*
                    other => Ok(EventPayload::Unknown {
                        event_type: other.to_owned(),
                        data: data.to_owned(),
                    }),
                }
            }

            /// Deserialises `data` straight into the model of a known `event_type`
            /// (single pass); an unknown type is an error here (callers check first).
            pub(crate) fn deserialize_known<'de, D: Deserializer<'de>>(
                event_type: &str,
                deserializer: D,
            ) -> Result<Self, D::Error> {
                match event_type {
                    $($wire => $data::deserialize(deserializer).map(EventPayload::$variant),)*
                    other => Err(D::Error::custom(format_args!("unknown event type {other}"))),
                }
            }

            fn serialize_data<M: serde::ser::SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
                match self {
                    $(EventPayload::$variant(d) => map.serialize_entry(
                        "data",
                        &TaggedData { payload_type: stringify!($data), data: d },
                    ),)*
                    EventPayload::Unknown { data, .. } => map.serialize_entry("data", data),
                }
            }
        }

        impl PartialEq for EventPayload {
            fn eq(&self, other: &Self) -> bool {
                match (self, other) {
                    $((EventPayload::$variant(a), EventPayload::$variant(b)) => a == b,)*
                    (
                        EventPayload::Unknown { event_type: ta, data: da },
                        EventPayload::Unknown { event_type: tb, data: db },
                    ) => ta == tb && da.get() == db.get(),
                    _ => false,
                }
            }
        }
    };
}

for_each_event!(define_payload);

/// Parses a data object; on failure, parses again with path tracking to name the field.
fn parse_data<T: for<'de> Deserialize<'de>>(event_type: &str, json: &str) -> Result<T, ParseError> {
    serde_json::from_str(json).map_err(|first| {
        let mut de = serde_json::Deserializer::from_str(json);
        let (path, source) = match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Err(e) => (e.path().to_string(), e.into_inner()),
            Ok(_) => (".".to_owned(), first),
        };
        ParseError::Data {
            event_type: event_type.to_owned(),
            path,
            source,
        }
    })
}

impl Serialize for WebhookEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let timestamp = self
            .timestamp
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(serde::ser::Error::custom)?;
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("business_id", &self.business_id)?;
        map.serialize_entry("type", self.payload.type_str())?;
        map.serialize_entry("timestamp", &timestamp)?;
        self.payload.serialize_data(&mut map)?;
        map.end()
    }
}

/// Deserialises an envelope. Needs a `serde_json` deserializer (the unknown-type fallback
/// keeps `data` as raw JSON); prefer [`WebhookEvent::parse`], which borrows and is faster.
impl<'de> Deserialize<'de> for WebhookEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let envelope = OwnedEnvelope::deserialize(deserializer)?;
        let payload = EventPayload::from_data(&envelope.event_type, &envelope.data)
            .map_err(D::Error::custom)?;
        Ok(WebhookEvent {
            business_id: envelope.business_id,
            timestamp: envelope.timestamp,
            payload,
        })
    }
}

impl fmt::Display for WebhookEvent {
    /// A short description for logs, e.g. `payment.succeeded for bus_123 at 2025-...`; never
    /// the data object (which may hold personal data).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} for {} at {}",
            self.payload.type_str(),
            self.business_id,
            self.timestamp
        )
    }
}
