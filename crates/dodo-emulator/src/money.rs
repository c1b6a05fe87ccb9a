//! Money as the pages show it: an amount in minor units and an ISO 4217 currency code.
//!
//! The API carries amounts as integers in the currency's minor unit (cents for USD, whole yen
//! for JPY, fils for BHD). [`minor_units`] knows each currency's exponent from ISO 4217 (0 for
//! JPY, KRW, VND, ...; 3 for BHD, KWD, OMR, ...; 2 otherwise); [`format()`] places the decimal
//! point accordingly, keeps the sign of any negative amount (including −1…−99 minor units), and
//! prefixes a symbol for a few common currencies or suffixes the code otherwise. [`decimal`]
//! and [`parse`] convert between minor units and the plain decimal a buyer types in an amount
//! field (`12.50`), with checked arithmetic.

/// Largest amount the emulator charges, in minor units (10^15: far above any real charge, far
/// below `i64` overflow once taxes and discounts are applied).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// Currencies without a minor unit (ISO 4217 exponent 0).
const ZERO_DECIMAL: [&str; 17] = [
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];

/// Currencies with three decimal places (ISO 4217 exponent 3).
const THREE_DECIMAL: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// The ISO 4217 exponent of `currency` (case-insensitive; unknown codes use 2).
pub fn minor_units(currency: &str) -> u32 {
    let c = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&c.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&c.as_str()) {
        3
    } else {
        2
    }
}

fn symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "INR" => "₹",
        "JPY" => "¥",
        _ => return None,
    })
}

/// Formats `amount` minor units of `currency`: `$15.00`, `-€0.99`, `¥1500`, `1.500 BHD`.
///
/// ```
/// use dodo_emulator::money::format;
/// assert_eq!(format(1500, "USD"), "$15.00");
/// assert_eq!(format(-99, "EUR"), "-€0.99");
/// assert_eq!(format(99, "JPY"), "¥99");
/// assert_eq!(format(1500, "BHD"), "1.500 BHD");
/// ```
pub fn format(amount: i64, currency: &str) -> String {
    let code = currency.to_ascii_uppercase();
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let exp = minor_units(&code);
    let number = if exp == 0 {
        abs.to_string()
    } else {
        let unit = 10_u64.pow(exp);
        format!(
            "{}.{:0width$}",
            abs / unit,
            abs % unit,
            width = exp as usize
        )
    };
    match symbol(&code) {
        Some(s) => format!("{sign}{s}{number}"),
        None => format!("{sign}{number} {code}"),
    }
}

/// `amount` minor units of `currency` as a plain decimal without symbol: `12.50`, `1500`
/// (JPY), `1.500` (BHD), `-0.05`.
pub fn decimal(amount: i64, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let exp = minor_units(currency);
    if exp == 0 {
        return format!("{sign}{abs}");
    }
    let unit = 10_u64.pow(exp);
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = exp as usize
    )
}

/// The minor units of a non-negative decimal typed by a buyer (`12.5`, `12.50`, `12`, `.5`)
/// in `currency`: `None` for anything else (signs, exponents, more decimals than the
/// currency has, blanks, overflow).
///
/// ```
/// use dodo_emulator::money::parse;
/// assert_eq!(parse("12.5", "USD"), Some(1250));
/// assert_eq!(parse("1500", "JPY"), Some(1500));
/// assert_eq!(parse("1.5", "JPY"), None);
/// assert_eq!(parse("-1", "USD"), None);
/// ```
pub fn parse(text: &str, currency: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let exp = minor_units(currency) as usize;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return None;
    }
    if frac.len() > exp || (text.contains('.') && exp == 0) {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let padded = format!("{frac:0<exp$}");
    let frac: i64 = if padded.is_empty() {
        0
    } else {
        padded.parse().ok()?
    };
    whole
        .checked_mul(10_i64.checked_pow(u32::try_from(exp).ok()?)?)?
        .checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_iso_4217_minor_units() {
        let table: [(i64, &str, &str); 16] = [
            (1500, "USD", "$15.00"),
            (0, "USD", "$0.00"),
            (5, "usd", "$0.05"),
            (-1, "USD", "-$0.01"),
            (-99, "EUR", "-€0.99"),
            (-100, "GBP", "-£1.00"),
            (-205, "EUR", "-€2.05"),
            (99, "JPY", "¥99"),
            (-5, "JPY", "-¥5"),
            (1200, "KRW", "1200 KRW"),
            (1500, "BHD", "1.500 BHD"),
            (-7, "KWD", "-0.007 KWD"),
            (123456, "INR", "₹1234.56"),
            (250, "SEK", "2.50 SEK"),
            (i64::MIN, "USD", "-$92233720368547758.08"),
            (i64::MAX, "JPY", "¥9223372036854775807"),
        ];
        for (amount, currency, want) in table {
            assert_eq!(format(amount, currency), want, "{amount} {currency}");
        }
    }

    #[test]
    fn exponents() {
        assert_eq!(minor_units("JPY"), 0);
        assert_eq!(minor_units("vnd"), 0);
        assert_eq!(minor_units("OMR"), 3);
        assert_eq!(minor_units("USD"), 2);
        assert_eq!(minor_units("???"), 2);
    }

    #[test]
    fn decimals_and_parsing_round_trip() {
        for (amount, currency, text) in [
            (1250, "USD", "12.50"),
            (5, "USD", "0.05"),
            (-5, "USD", "-0.05"),
            (1500, "JPY", "1500"),
            (1500, "BHD", "1.500"),
        ] {
            assert_eq!(decimal(amount, currency), text);
            if amount >= 0 {
                assert_eq!(parse(text, currency), Some(amount), "{text}");
            }
        }
        let table: [(&str, &str, Option<i64>); 14] = [
            ("12", "USD", Some(1200)),
            ("12.5", "USD", Some(1250)),
            (".5", "USD", Some(50)),
            ("12.", "USD", Some(1200)),
            (" 7.01 ", "USD", Some(701)),
            ("12.345", "USD", None),
            ("1.5", "JPY", None),
            ("-1", "USD", None),
            ("+1", "USD", None),
            ("1e3", "USD", None),
            ("", "USD", None),
            (".", "USD", None),
            ("1,50", "EUR", None),
            ("99999999999999999999", "USD", None),
        ];
        for (text, currency, want) in table {
            assert_eq!(parse(text, currency), want, "{text:?} {currency}");
        }
        assert_eq!(parse("92233720368547758.07", "USD"), Some(i64::MAX));
        assert_eq!(parse("92233720368547758.08", "USD"), None);
    }
}
