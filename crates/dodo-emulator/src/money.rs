//! Money as the pages show it: an amount in minor units and an ISO 4217 currency code.
//!
//! The API carries amounts as integers in the currency's minor unit (cents for USD, whole yen
//! for JPY, fils for BHD). [`minor_units`] knows each currency's exponent from ISO 4217 (0 for
//! JPY, KRW, VND, ...; 3 for BHD, KWD, OMR, ...; 2 otherwise); [`format()`] places the decimal
//! point accordingly, keeps the sign of any negative amount (including −1…−99 minor units), and
//! prefixes a symbol for a few common currencies or suffixes the code otherwise.

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
}
