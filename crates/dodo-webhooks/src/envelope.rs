//! Envelope parsing ([`WebhookEvent::parse`]): a single-pass fast path and a two-pass
//! fallback.
//!
//! When `type` comes before `data` in the body (as in Dodo's deliveries), the envelope
//! visitor already knows the event type when it reaches `data` and deserialises it straight
//! into the right model: one pass over the bytes. Otherwise `data` is captured as a borrowed
//! raw JSON slice and parsed once `type` is known. Any error on the fast path re-runs the
//! two-pass parse, which classifies the error precisely (not JSON / bad envelope / bad data
//! with the field path), so the fast path never changes what is accepted or reported.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::event::{EventPayload, ParseError, WebhookEvent, classify};
use crate::event_type::EventType;

impl WebhookEvent {
    /// Parses a webhook body. Verify the body first ([`crate::Verifier::verify`]); this
    /// function does not look at signatures.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        if let Some(event) = parse_single_pass(body) {
            return Ok(event);
        }
        parse_two_pass(body)
    }

    /// Parses a webhook body given as a string.
    pub fn parse_str(body: &str) -> Result<Self, ParseError> {
        Self::parse(body.as_bytes())
    }
}

/// The envelope's event type alone, for answering a delivery without parsing its data (a
/// duplicate the idempotency guard already knows). Scans the body without building the
/// data; a body without a readable `type` gives `Unknown("")`.
pub(crate) fn event_type_of(body: &[u8]) -> EventType {
    #[derive(Deserialize)]
    struct TypeOnly<'a> {
        #[serde(rename = "type", borrow)]
        event_type: Cow<'a, str>,
    }
    match serde_json::from_slice::<TypeOnly<'_>>(body) {
        Ok(only) => EventType::parse(&only.event_type),
        Err(_) => EventType::Unknown(String::new()),
    }
}

/// The fast path; `None` on any error (the caller falls back).
fn parse_single_pass(body: &[u8]) -> Option<WebhookEvent> {
    // Checking UTF-8 once for the whole body lets serde_json skip the check on each string.
    let text = std::str::from_utf8(body).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let event = de.deserialize_map(EnvelopeVisitor).ok()?;
    de.end().ok()?;
    Some(event)
}

/// The envelope with `data` left unparsed; borrows from the body where it can.
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    business_id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    event_type: Cow<'a, str>,
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    #[serde(borrow)]
    data: &'a RawValue,
}

fn parse_two_pass(body: &[u8]) -> Result<WebhookEvent, ParseError> {
    let envelope: RawEnvelope<'_> = serde_json::from_slice(body).map_err(classify)?;
    let payload = EventPayload::from_data(&envelope.event_type, envelope.data)?;
    Ok(WebhookEvent {
        business_id: envelope.business_id.into_owned(),
        timestamp: envelope.timestamp,
        payload,
    })
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    BusinessId,
    Type,
    Timestamp,
    Data,
    #[serde(other)]
    Other,
}

/// A string that borrows from the input when it has no escapes.
struct CowStr<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

#[derive(Deserialize)]
struct Timestamp(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

/// Deserialises `data` for an already known event type.
struct KnownData<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for KnownData<'_> {
    type Value = EventPayload;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<EventPayload, D::Error> {
        EventPayload::deserialize_known(self.0, deserializer)
    }
}

/// `data` as found: typed (type known when it was reached) or raw (type not yet seen).
// A short-lived local; boxing the typed payload would cost an allocation per event.
#[allow(clippy::large_enum_variant)]
enum Data<'de> {
    Typed(EventPayload),
    Raw(&'de RawValue),
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = WebhookEvent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a webhook envelope object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WebhookEvent, A::Error> {
        let mut business_id: Option<CowStr<'de>> = None;
        let mut event_type: Option<CowStr<'de>> = None;
        let mut timestamp: Option<Timestamp> = None;
        let mut data: Option<Data<'de>> = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::BusinessId if business_id.is_none() => business_id = Some(map.next_value()?),
                Field::Type if event_type.is_none() => event_type = Some(map.next_value()?),
                Field::Timestamp if timestamp.is_none() => timestamp = Some(map.next_value()?),
                Field::Data if data.is_none() => {
                    let known = event_type
                        .as_ref()
                        .filter(|t| EventType::known(&t.0).is_some());
                    data = Some(match known {
                        Some(t) => Data::Typed(map.next_value_seed(KnownData(&t.0))?),
                        None => Data::Raw(map.next_value()?),
                    });
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
                // Duplicate envelope keys: let the strict path decide.
                _ => return Err(de::Error::custom("duplicate envelope field")),
            }
        }
        let (Some(business_id), Some(event_type), Some(timestamp), Some(data)) =
            (business_id, event_type, timestamp, data)
        else {
            return Err(de::Error::custom("incomplete envelope"));
        };
        let payload = match data {
            Data::Typed(payload) => payload,
            Data::Raw(raw) => EventPayload::from_data(&event_type.0, raw)
                .map_err(|e| de::Error::custom(e.to_string()))?,
        };
        Ok(WebhookEvent {
            business_id: business_id.0.into_owned(),
            timestamp: timestamp.0,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE_FIRST: &str = r#"{"business_id":"b","type":"refund.succeeded","timestamp":"2025-01-01T00:00:00Z","data":{"refund_id":"r","payment_id":"p","business_id":"b","brand_id":"x","created_at":"2025-01-01T00:00:00Z","is_partial":false,"status":"succeeded","metadata":{},"customer":{"customer_id":"c","email":"e","name":"n"}}}"#;

    #[test]
    fn both_paths_agree() {
        let fast = parse_single_pass(TYPE_FIRST.as_bytes()).expect("fast path applies");
        let slow = parse_two_pass(TYPE_FIRST.as_bytes()).unwrap();
        assert_eq!(fast, slow);
        assert_eq!(fast.event_type(), EventType::RefundSucceeded);
    }

    #[test]
    fn unknown_type_and_type_after_data_work_on_the_fast_path() {
        let body = r#"{"data":{"a": 1},"business_id":"b","timestamp":"2025-01-01T00:00:00Z","type":"x.y"}"#;
        let fast = parse_single_pass(body.as_bytes()).expect("fast path applies");
        assert_eq!(fast, parse_two_pass(body.as_bytes()).unwrap());
    }

    #[test]
    fn errors_fall_back_to_the_precise_path() {
        let bad = TYPE_FIRST.replace(r#""is_partial":false"#, r#""is_partial":"no""#);
        assert!(parse_single_pass(bad.as_bytes()).is_none());
        match WebhookEvent::parse(bad.as_bytes()) {
            Err(ParseError::Data { path, .. }) => assert_eq!(path, "is_partial"),
            other => panic!("{other:?}"),
        }
        let trailing = format!("{TYPE_FIRST} x");
        assert!(matches!(
            WebhookEvent::parse(trailing.as_bytes()),
            Err(ParseError::Json(_))
        ));
        let duplicate = TYPE_FIRST.replace(
            r#""business_id":"b","type""#,
            r#""business_id":"b","business_id":"c","type""#,
        );
        assert!(parse_single_pass(duplicate.as_bytes()).is_none());
        // serde_json's derive rejects duplicate fields too: same verdict either way.
        assert!(WebhookEvent::parse(duplicate.as_bytes()).is_err());
    }
}
