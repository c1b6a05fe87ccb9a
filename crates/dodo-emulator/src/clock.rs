//! Time for the emulator: the current instant and the one timestamp format used everywhere.
//!
//! Timestamps are RFC 3339 in UTC with six fractional digits and `Z`
//! (`2025-08-04T05:30:31.152232Z`), as the API sends them. Because the format has a fixed
//! width, stored timestamps compare correctly as strings, which the store relies on for
//! `created_at_gte`/`created_at_lte` filters. [`now`] is a virtual clock: real time plus an
//! offset that `POST /_emulator/clock/advance` moves forward ([`advance`]).

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// How far the virtual clock runs ahead of real time, in nanoseconds. Process-wide: every
/// emulator in the process shares it (see [`crate::timewarp`]).
static OFFSET_NANOS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// The current (virtual) instant, UTC: real time plus the offset the admin API added.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc() + offset()
}

/// How far the virtual clock is ahead of real time.
pub fn offset() -> Duration {
    Duration::nanoseconds(OFFSET_NANOS.load(std::sync::atomic::Ordering::SeqCst))
}

/// Moves the virtual clock forward by `by` (never backwards); answers the new offset.
pub fn advance(by: Duration) -> Duration {
    let add = i64::try_from(by.whole_nanoseconds().max(0)).unwrap_or(i64::MAX);
    let prev = OFFSET_NANOS.fetch_add(add, std::sync::atomic::Ordering::SeqCst);
    Duration::nanoseconds(prev.saturating_add(add))
}

/// Formats an instant in the canonical format.
pub fn format(t: OffsetDateTime) -> String {
    let utc = t.to_offset(UtcOffset::UTC);
    // The format only fails for years outside 0..=9999, which no realistic input reaches.
    utc.format(FORMAT)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000Z".to_string())
}

/// The current instant in the canonical format.
pub fn now_string() -> String {
    format(now())
}

/// Parses an RFC 3339 timestamp (any offset).
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Re-formats an RFC 3339 timestamp canonically (for string comparison), if it parses.
pub fn canonical(s: &str) -> Option<String> {
    parse(s).map(format)
}

/// Adds `count` calendar units (`Day`, `Week`, `Month`, `Year`) to an instant.
pub fn add_interval(t: OffsetDateTime, interval: &str, count: i64) -> OffsetDateTime {
    match interval.to_ascii_lowercase().as_str() {
        "day" => t + Duration::days(count),
        "week" => t + Duration::weeks(count),
        "year" => add_months(t, count.saturating_mul(12)),
        _ => add_months(t, count),
    }
}

fn add_months(t: OffsetDateTime, months: i64) -> OffsetDateTime {
    let total = i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1 + months;
    let year = i32::try_from(total.div_euclid(12)).unwrap_or(t.year());
    let month_index = u8::try_from(total.rem_euclid(12) + 1).unwrap_or(1);
    let month = time::Month::try_from(month_index).unwrap_or(time::Month::January);
    let last_day = time::util::days_in_month(month, year);
    let day = t.day().min(last_day);
    time::Date::from_calendar_date(year, month, day)
        .map(|d| t.replace_date(d))
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_format_is_fixed_width_utc() {
        let t = parse("2025-08-04T07:30:31.152232+02:00").unwrap();
        assert_eq!(format(t), "2025-08-04T05:30:31.152232Z");
        assert_eq!(
            canonical("2025-01-01T00:00:00Z").unwrap(),
            "2025-01-01T00:00:00.000000Z"
        );
        assert!(canonical("yesterday").is_none());
    }

    #[test]
    fn month_addition_clamps_day() {
        let t = parse("2025-01-31T10:00:00Z").unwrap();
        assert_eq!(
            format(add_interval(t, "Month", 1)),
            "2025-02-28T10:00:00.000000Z"
        );
        assert_eq!(
            format(add_interval(t, "Year", 1)),
            "2026-01-31T10:00:00.000000Z"
        );
        assert_eq!(
            format(add_interval(t, "Week", 2)),
            "2025-02-14T10:00:00.000000Z"
        );
        assert_eq!(
            format(add_interval(t, "Day", 1)),
            "2025-02-01T10:00:00.000000Z"
        );
    }
}
