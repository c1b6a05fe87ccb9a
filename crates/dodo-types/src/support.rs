//! Hand-written building blocks the generated models rely on.
//!
//! This module owns the few types the OpenAPI spec cannot express directly: exact decimal
//! strings ([`Decimal`]), free-form metadata ([`Metadata`]), the machinery behind every
//! generated string enum ([`StringEnum`] and the `string_enum!` macro), and serde helpers for
//! RFC 3339 timestamps. Nothing here is generated; the generator only refers to it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A timestamp as the API sends it: RFC 3339 with fractional seconds and an offset.
pub type DateTime = time::OffsetDateTime;

/// Free-form key-value metadata attached to most objects.
///
/// Keys are kept sorted so serialisation is deterministic.
pub type Metadata = BTreeMap<String, MetadataValue>;

/// One metadata value: the API allows strings, integers, numbers and booleans.
///
/// Deserialised by JSON type in one step (an untagged derive would buffer every value and
/// try each variant in turn, which dominated webhook parsing time).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MetadataValue {
    /// A boolean value.
    Bool(bool),
    /// An integer value.
    Integer(i64),
    /// A floating-point value.
    Number(f64),
    /// A string value.
    String(String),
}

impl<'de> Deserialize<'de> for MetadataValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl serde::de::Visitor<'_> for ValueVisitor {
            type Value = MetadataValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, integer, number or boolean")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<MetadataValue, E> {
                Ok(MetadataValue::Bool(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<MetadataValue, E> {
                Ok(MetadataValue::Integer(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<MetadataValue, E> {
                Ok(i64::try_from(v)
                    .map(MetadataValue::Integer)
                    .unwrap_or(MetadataValue::Number(v as f64)))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<MetadataValue, E> {
                Ok(MetadataValue::Number(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MetadataValue, E> {
                Ok(MetadataValue::String(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<MetadataValue, E> {
                Ok(MetadataValue::String(v))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl MetadataValue {
    /// The value as a string slice, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetadataValue::String(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for MetadataValue {
    fn from(value: &str) -> Self {
        MetadataValue::String(value.to_owned())
    }
}

impl From<String> for MetadataValue {
    fn from(value: String) -> Self {
        MetadataValue::String(value)
    }
}

impl From<i64> for MetadataValue {
    fn from(value: i64) -> Self {
        MetadataValue::Integer(value)
    }
}

impl From<bool> for MetadataValue {
    fn from(value: bool) -> Self {
        MetadataValue::Bool(value)
    }
}

impl fmt::Display for MetadataValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataValue::Bool(v) => write!(f, "{v}"),
            MetadataValue::Integer(v) => write!(f, "{v}"),
            MetadataValue::Number(v) => write!(f, "{v}"),
            MetadataValue::String(v) => f.write_str(v),
        }
    }
}

/// An exact decimal number carried as a string, as the API does for credit amounts,
/// dispute amounts and per-unit prices.
///
/// The digits are kept exactly as received (no floating point anywhere); construction
/// checks the syntax `-?digits(.digits)?`.
///
/// ```
/// use dodo_types::Decimal;
/// let d: Decimal = "12.5000000001".parse().unwrap();
/// assert_eq!(d.as_str(), "12.5000000001");
/// assert!("1e5".parse::<Decimal>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Decimal(String);

/// The error for a string that is not a plain decimal number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidDecimal(pub String);

impl fmt::Display for InvalidDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a decimal number: {:?}", self.0)
    }
}

impl std::error::Error for InvalidDecimal {}

impl Decimal {
    /// The decimal's digits as received.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the value is negative (a leading `-` with some non-zero digit).
    pub fn is_negative(&self) -> bool {
        self.0.starts_with('-') && self.0.bytes().any(|b| (b'1'..=b'9').contains(&b))
    }

    fn is_valid(s: &str) -> bool {
        let digits = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (digits, None),
        };
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        all_digits(int) && frac.is_none_or(all_digits)
    }
}

impl FromStr for Decimal {
    type Err = InvalidDecimal;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if Decimal::is_valid(s) {
            Ok(Decimal(s.to_owned()))
        } else {
            Err(InvalidDecimal(s.to_owned()))
        }
    }
}

impl From<i64> for Decimal {
    fn from(value: i64) -> Self {
        Decimal(value.to_string())
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({})", self.0)
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DecimalVisitor;
        impl serde::de::Visitor<'_> for DecimalVisitor {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number as a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Decimal, E> {
                v.parse().map_err(E::custom)
            }
            // Lenient: accept bare JSON integers too, since they are exact.
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal::from(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
        }
        deserializer.deserialize_str(DecimalVisitor)
    }
}

/// A closed set of known string values plus a catch-all, as every API enum is.
///
/// Implemented by the `string_enum!` macro for each generated enum; unknown wire values
/// become `Unknown(String)` and serialise back unchanged.
pub trait StringEnum: Sized {
    /// The value as it appears on the wire.
    fn as_str(&self) -> &str;
    /// The variant for a wire value (never fails: unknown values are kept).
    fn from_wire(value: Cow<'_, str>) -> Self;
    /// Every wire value this version knows (empty: unknown).
    fn known_values() -> &'static [&'static str] {
        &[]
    }
}

thread_local! {
    /// Set while [`strict_enums`] runs on this thread.
    static STRICT_ENUMS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `parse` with unknown string-enum values refused instead of kept as `Unknown`.
///
/// Clients keep unknown values so a newer API does not break them; a server validating
/// requests (the emulator) must refuse them as the API does. The strictness covers only
/// deserialisation inside `parse`, on this thread, and is restored afterwards (also if
/// `parse` panics).
///
/// ```
/// use dodo_types::Currency;
///
/// let lenient: Currency = serde_json::from_str("\"XYZ\"").unwrap();
/// assert_eq!(lenient, Currency::Unknown("XYZ".into()));
/// let strict = dodo_types::support::strict_enums(|| serde_json::from_str::<Currency>("\"XYZ\""));
/// assert!(strict.unwrap_err().to_string().contains("unknown variant `XYZ`"));
/// ```
pub fn strict_enums<R>(parse: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            STRICT_ENUMS.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(STRICT_ENUMS.with(|s| s.replace(true)));
    parse()
}

fn refuse_unknown<T: StringEnum, E: serde::de::Error>(value: &str) -> Result<(), E> {
    let known = T::known_values();
    if STRICT_ENUMS.with(std::cell::Cell::get) && !known.is_empty() && !known.contains(&value) {
        return Err(E::unknown_variant(value, known));
    }
    Ok(())
}

#[doc(hidden)]
pub fn serialize_string_enum<T: StringEnum, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.as_str())
}

#[doc(hidden)]
pub fn deserialize_string_enum<'de, T: StringEnum, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    struct EnumVisitor<T>(std::marker::PhantomData<T>);
    impl<T: StringEnum> serde::de::Visitor<'_> for EnumVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            refuse_unknown::<T, E>(v)?;
            Ok(T::from_wire(Cow::Borrowed(v)))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<T, E> {
            refuse_unknown::<T, E>(&v)?;
            Ok(T::from_wire(Cow::Owned(v)))
        }
    }
    deserializer.deserialize_str(EnumVisitor(std::marker::PhantomData))
}

/// Defines a string enum with an `Unknown(String)` catch-all, its serde impls,
/// `Display`, `FromStr` and `as_str`.
#[macro_export]
#[doc(hidden)]
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version of the crate does not know; kept as received.
            Unknown(::std::string::String),
        }

        impl $crate::support::StringEnum for $name {
            fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Unknown(value) => value,
                }
            }
            fn from_wire(value: ::std::borrow::Cow<'_, str>) -> Self {
                match &*value {
                    $( $wire => $name::$variant, )*
                    _ => $name::Unknown(value.into_owned()),
                }
            }
            fn known_values() -> &'static [&'static str] {
                Self::KNOWN
            }
        }

        impl $name {
            /// Every value this version of the crate knows, in spec order.
            pub const KNOWN: &'static [&'static str] = &[$($wire),*];

            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                <Self as $crate::support::StringEnum>::as_str(self)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(<Self as $crate::support::StringEnum>::from_wire(::std::borrow::Cow::Borrowed(s)))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $crate::support::serialize_string_enum(self, serializer)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::support::deserialize_string_enum(deserializer)
            }
        }
    };
}

/// serde helpers for unions tagged by a property (`{"type": "one_time_price", ...}`).
///
/// The generated enums go through a JSON value so an unknown tag can be kept whole.
pub mod tagged {
    use serde::de::DeserializeOwned;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::{Map, Value};

    /// Serialises `content` with the tag property added.
    pub fn serialize<S: Serializer, T: Serialize>(
        serializer: S,
        tag: &str,
        tag_value: &str,
        content: Option<&T>,
    ) -> Result<S::Ok, S::Error> {
        let mut value = match content {
            Some(c) => serde_json::to_value(c).map_err(S::Error::custom)?,
            None => Value::Object(Map::new()),
        };
        if let Value::Object(map) = &mut value {
            map.insert(tag.to_owned(), Value::String(tag_value.to_owned()));
        }
        value.serialize(serializer)
    }

    /// Reads the whole value and its tag, if it has one.
    pub fn split<'de, D: Deserializer<'de>>(
        deserializer: D,
        tag: &str,
    ) -> Result<(Option<String>, Value), D::Error> {
        let value = Value::deserialize(deserializer)?;
        let tag = value.get(tag).and_then(Value::as_str).map(str::to_owned);
        Ok((tag, value))
    }

    /// Parses a variant's content from the whole value.
    pub fn content<T: DeserializeOwned, E: serde::de::Error>(value: Value) -> Result<T, E> {
        serde_json::from_value(value).map_err(E::custom)
    }
}

/// serde helpers for RFC 3339 timestamps, required and optional.
pub mod rfc3339 {
    pub use time::serde::rfc3339::{deserialize, serialize};

    /// For `Option<DateTime>` fields: `null` and absence both mean `None`.
    pub mod option {
        pub use time::serde::rfc3339::option::{deserialize, serialize};
    }

    /// For `Option<Option<DateTime>>` fields whose `null` clears (see
    /// [`super::double_option`]).
    pub mod double_option {
        use serde::{Deserializer, Serializer};

        /// `Some(None)` is `null`, `Some(Some(t))` the RFC 3339 text (`None` is skipped by
        /// the field's `skip_serializing_if`).
        pub fn serialize<S: Serializer>(
            value: &Option<Option<crate::support::DateTime>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(inner) => time::serde::rfc3339::option::serialize(inner, serializer),
                None => serializer.serialize_none(),
            }
        }

        /// A present field: `null` is `Some(None)`, a timestamp `Some(Some(t))` (an absent
        /// one is `None` through the field's `default`).
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Option<crate::support::DateTime>>, D::Error> {
            time::serde::rfc3339::option::deserialize(deserializer).map(Some)
        }
    }
}

/// For `Option<Option<T>>` request fields whose `null` the spec documents as clearing the
/// value ("send `null` to remove it"): `None` is absent (left unchanged), `Some(None)` is
/// `null` (cleared), `Some(Some(v))` sets `v`. Used with `default` and
/// `skip_serializing_if = "Option::is_none"`.
///
/// ```
/// use dodo_types::models::PatchLicenseKeyRequest;
///
/// let keep = PatchLicenseKeyRequest::new().disabled(false);
/// assert_eq!(serde_json::to_string(&keep).unwrap(), r#"{"disabled":false}"#);
/// let clear = PatchLicenseKeyRequest::new().clear_activations_limit();
/// assert_eq!(serde_json::to_string(&clear).unwrap(), r#"{"activations_limit":null}"#);
/// let read: PatchLicenseKeyRequest = serde_json::from_str(r#"{"expires_at":null}"#).unwrap();
/// assert_eq!((read.expires_at, read.activations_limit), (Some(None), None));
/// ```
pub mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// `Some(None)` is `null`, `Some(Some(v))` is `v`.
    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    /// A present field: `null` is `Some(None)`, a value `Some(Some(v))`.
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::string_enum! {
        /// Test enum.
        pub enum Color {
            /// Red.
            Red = "red",
            /// Dark blue.
            DarkBlue = "dark_blue",
        }
    }

    #[test]
    fn unknown_enum_values_round_trip_unchanged() {
        let c: Color = serde_json::from_str("\"ultraviolet\"").unwrap();
        assert_eq!(c, Color::Unknown("ultraviolet".into()));
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"ultraviolet\"");
        let d: Color = serde_json::from_str("\"dark_blue\"").unwrap();
        assert_eq!(d, Color::DarkBlue);
        assert_eq!(d.to_string(), "dark_blue");
        assert_eq!(Color::KNOWN, &["red", "dark_blue"]);
    }

    #[test]
    fn decimal_keeps_digits_and_rejects_non_numbers() {
        let d: Decimal = serde_json::from_str("\"0.0000000000000000000000000001\"").unwrap();
        assert_eq!(d.as_str(), "0.0000000000000000000000000001");
        assert!(serde_json::from_str::<Decimal>("\"1.2.3\"").is_err());
        assert!(serde_json::from_str::<Decimal>("\"\"").is_err());
        assert!("-5".parse::<Decimal>().unwrap().is_negative());
        assert!(!"-0.00".parse::<Decimal>().unwrap().is_negative());
    }

    #[test]
    fn metadata_values_keep_their_json_type() {
        let m: Metadata = serde_json::from_str(r#"{"a":"x","b":2,"c":2.5,"d":true}"#).unwrap();
        assert_eq!(m["a"], MetadataValue::String("x".into()));
        assert_eq!(m["b"], MetadataValue::Integer(2));
        assert_eq!(m["c"], MetadataValue::Number(2.5));
        assert_eq!(m["d"], MetadataValue::Bool(true));
        assert!(serde_json::from_str::<Metadata>(r#"{"a":[1]}"#).is_err());
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"a":"x","b":2,"c":2.5,"d":true}"#
        );
    }
}
