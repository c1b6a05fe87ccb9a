//! Reference lists: `GET /locales` (the locales checkout, portal and translations know) and
//! `GET /checkout/supported_countries` (the countries a buyer may be billed in).
//!
//! Both answers are computed from the spec's enums: [`LOCALES`] is exactly the `Locale` enum
//! with English and native names; the supported countries are the `CountryCodeAlpha2` enum
//! without the comprehensively sanctioned jurisdictions of [`UNSUPPORTED_COUNTRIES`] (the spec
//! does not fix the list; these are the countries card networks and merchants of record
//! generally cannot serve).

use dodo_types::models::CountryCodeAlpha2;
use serde_json::{Value, json};

use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("GET", "/locales", locales);
    r.add("GET", "/checkout/supported_countries", supported_countries);
}

/// Every locale: code, English name, native name (the spec's `Locale` enum, in its order).
pub const LOCALES: &[(&str, &str, &str)] = &[
    ("ar", "Arabic", "العربية"),
    ("ca", "Catalan", "Català"),
    ("zh", "Chinese", "中文"),
    ("nl", "Dutch", "Nederlands"),
    ("en", "English", "English"),
    ("fr", "French", "Français"),
    ("de", "German", "Deutsch"),
    ("he", "Hebrew", "עברית"),
    ("id", "Indonesian", "Bahasa Indonesia"),
    ("it", "Italian", "Italiano"),
    ("ja", "Japanese", "日本語"),
    ("ka", "Georgian", "ქართული"),
    ("ko", "Korean", "한국어"),
    ("ms", "Malay", "Bahasa Melayu"),
    ("pl", "Polish", "Polski"),
    ("pt", "Portuguese", "Português"),
    ("ro", "Romanian", "Română"),
    ("ru", "Russian", "Русский"),
    ("es", "Spanish", "Español"),
    ("sv", "Swedish", "Svenska"),
    ("th", "Thai", "ไทย"),
    ("tr", "Turkish", "Türkçe"),
];

/// Countries of the spec's enum that checkout does not serve: Cuba, Iran, North Korea, Syria,
/// Russia and Belarus.
pub const UNSUPPORTED_COUNTRIES: &[&str] = &["CU", "IR", "KP", "SY", "RU", "BY"];

/// The countries checkout serves, in the spec's order.
pub fn supported_country_codes() -> impl Iterator<Item = &'static str> {
    CountryCodeAlpha2::KNOWN
        .iter()
        .copied()
        .filter(|c| !UNSUPPORTED_COUNTRIES.contains(c))
}

fn locales(_ctx: &Ctx<'_>, _req: &ApiRequest) -> Result<Reply, ApiError> {
    Ok(Reply::json(Value::Array(
        LOCALES
            .iter()
            .map(|(code, name, native)| json!({"code": code, "name": name, "native_name": native}))
            .collect(),
    )))
}

fn supported_countries(_ctx: &Ctx<'_>, _req: &ApiRequest) -> Result<Reply, ApiError> {
    Ok(Reply::json(Value::Array(
        supported_country_codes().map(|c| json!(c)).collect(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dodo_types::models::Locale;

    #[test]
    fn locales_are_exactly_the_spec_enum() {
        let ours: Vec<&str> = LOCALES.iter().map(|(c, _, _)| *c).collect();
        assert_eq!(ours, Locale::KNOWN);
    }

    #[test]
    fn supported_countries_are_spec_codes_without_the_sanctioned_ones() {
        let all: Vec<&str> = supported_country_codes().collect();
        assert_eq!(
            all.len(),
            CountryCodeAlpha2::KNOWN.len() - UNSUPPORTED_COUNTRIES.len()
        );
        assert!(all.contains(&"US") && all.contains(&"IN") && !all.contains(&"KP"));
        for c in UNSUPPORTED_COUNTRIES {
            assert!(CountryCodeAlpha2::KNOWN.contains(c), "{c}");
        }
    }
}
