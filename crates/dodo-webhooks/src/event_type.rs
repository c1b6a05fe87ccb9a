//! Webhook event type names.
//!
//! [`EventType`] names each of Dodo's 48 webhook event types plus `Unknown(String)` for
//! types newer than this crate. [`EventType::as_str`] is the wire name
//! (`payment.succeeded`); [`EventType::path`] is Corsair's dotted leaf name
//! (`payments.succeeded`: plural group, same action; see [`crate::event_table`] for the full
//! mapping), used to address hooks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event_table::for_each_event;

macro_rules! define_event_type {
    ($( ($variant:ident, $wire:literal, $path:literal, $data:ident, $on:ident) ),* $(,)?) => {
        /// A Dodo webhook event type (the envelope's `type`).
        ///
        /// Parsing never fails: a type this crate does not know becomes `Unknown` with the
        /// name kept as received.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum EventType {
            $(
                #[doc = concat!("`", $wire, "` (hook path `", $path, "`, data [`dodo_types::", stringify!($data), "`]).")]
                $variant,
            )*
            /// An event type this version of the crate does not know, as received.
            Unknown(String),
        }

        impl EventType {
            /// Every known event type, in the order of Dodo's event list.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),*];

            /// The wire name, e.g. `payment.succeeded`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(EventType::$variant => $wire,)*
                    EventType::Unknown(name) => name,
                }
            }

            /// Corsair's dotted leaf path, e.g. `payments.succeeded`. For an unknown type this
            /// is the wire name unchanged.
            pub fn path(&self) -> &str {
                match self {
                    $(EventType::$variant => $path,)*
                    EventType::Unknown(name) => name,
                }
            }

            /// The name of the data object type (also the `data.payload_type` Dodo sends),
            /// e.g. `Payment`; `None` for unknown types.
            pub fn payload_type(&self) -> Option<&'static str> {
                match self {
                    $(EventType::$variant => Some(stringify!($data)),)*
                    EventType::Unknown(_) => None,
                }
            }

            /// The event type for a wire name; unknown names become [`EventType::Unknown`].
            pub fn parse(name: &str) -> EventType {
                Self::known(name).unwrap_or_else(|| EventType::Unknown(name.to_owned()))
            }

            /// The known event type for a wire name, if there is one.
            pub fn known(name: &str) -> Option<EventType> {
                match name {
                    $($wire => Some(EventType::$variant),)*
                    _ => None,
                }
            }

            /// The known event type for a Corsair-style dotted path (`payments.succeeded`).
            pub fn from_path(path: &str) -> Option<EventType> {
                match path {
                    $($path => Some(EventType::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

for_each_event!(define_event_type);

impl EventType {
    /// Whether this is one of the 48 types this crate knows.
    pub fn is_known(&self) -> bool {
        !matches!(self, EventType::Unknown(_))
    }

    /// The group part of the wire name, e.g. `payment` for `payment.succeeded`.
    pub fn group(&self) -> &str {
        let name = self.as_str();
        name.split_once('.').map_or(name, |(group, _)| group)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(EventType::parse(s))
    }
}

impl From<&str> for EventType {
    fn from(s: &str) -> Self {
        EventType::parse(s)
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(EventType::parse(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_48_distinct_types_with_distinct_paths() {
        assert_eq!(EventType::ALL.len(), 48);
        let names: std::collections::BTreeSet<_> =
            EventType::ALL.iter().map(EventType::as_str).collect();
        let paths: std::collections::BTreeSet<_> =
            EventType::ALL.iter().map(EventType::path).collect();
        assert_eq!(names.len(), 48);
        assert_eq!(paths.len(), 48);
    }

    #[test]
    fn wire_names_and_paths_round_trip() {
        for t in EventType::ALL {
            assert_eq!(&EventType::parse(t.as_str()), t);
            assert_eq!(EventType::from_path(t.path()).as_ref(), Some(t));
            let (group, action) = t.as_str().split_once('.').unwrap();
            let (path_group, path_action) = t.path().split_once('.').unwrap();
            assert_eq!(action, path_action, "{t}");
            let expected = if group == "dunning" {
                group.to_owned()
            } else {
                format!("{group}s")
            };
            assert_eq!(path_group, expected, "{t}");
        }
    }

    #[test]
    fn documented_examples() {
        assert_eq!(EventType::PaymentSucceeded.path(), "payments.succeeded");
        assert_eq!(
            EventType::SubscriptionCancelled.path(),
            "subscriptions.cancelled"
        );
        assert_eq!(EventType::DunningStarted.path(), "dunning.started");
        assert_eq!(
            EventType::EntitlementGrantRevoked.path(),
            "entitlement_grants.revoked"
        );
        assert_eq!(
            EventType::LicenseKeyCreated.payload_type(),
            Some("LicenseKey")
        );
        assert_eq!(EventType::CreditBalanceLow.group(), "credit");
    }

    #[test]
    fn unknown_types_are_kept() {
        let t: EventType = serde_json::from_str("\"widget.exploded\"").unwrap();
        assert_eq!(t, EventType::Unknown("widget.exploded".into()));
        assert_eq!(t.path(), "widget.exploded");
        assert!(!t.is_known());
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"widget.exploded\"");
    }
}
