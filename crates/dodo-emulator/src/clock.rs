//! Time for the emulator: the current instant and the one timestamp format used everywhere.
//!
//! Timestamps are RFC 3339 in UTC with six fractional digits and `Z`
//! (`2025-08-04T05:30:31.152232Z`), as the API sends them. Because the format has a fixed
//! width, stored timestamps compare correctly as strings, which the store relies on for
//! `created_at_gte`/`created_at_lte` filters. Each emulator owns one [`Clock`]: real time plus an
//! offset that `POST /_emulator/clock/advance` moves forward ([`Clock::advance`]); there is no
//! process-wide time, so emulators in one process move their clocks independently.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// Longest single move of the clock (100 years): far beyond any billing test, far below
/// the overflow of `time`'s date range.
pub const MAX_ADVANCE: Duration = Duration::days(36_525);

/// Why the clock refused to move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClockError {
    /// A negative move (the clock only moves forward).
    #[error("the clock only moves forward")]
    Backwards,
    /// A move longer than [`MAX_ADVANCE`], or one that would leave the supported date range.
    #[error("the clock cannot move that far (at most 36525 days per move, up to the year 9999)")]
    TooFar,
}

/// The virtual clock of one emulator: real time plus an offset that only grows.
///
/// Every emulator owns its own clock (clones share it), so emulators in one process keep
/// independent time.
///
/// ```
/// use dodo_emulator::clock::Clock;
/// let a = Clock::new();
/// let b = Clock::new();
/// a.advance(time::Duration::days(30)).unwrap();
/// assert_eq!(a.offset(), time::Duration::days(30));
/// assert_eq!(b.offset(), time::Duration::ZERO);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_micros: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    /// A clock showing real time.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current (virtual) instant, UTC.
    pub fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.checked_add(self.offset()).unwrap_or(now)
    }

    /// The current instant in the canonical format.
    pub fn now_string(&self) -> String {
        format(self.now())
    }

    /// How far the clock runs ahead of real time.
    pub fn offset(&self) -> Duration {
        Duration::microseconds(self.offset_micros.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Moves the clock forward by `by`; answers the new offset. Refuses negative moves, moves
    /// longer than [`MAX_ADVANCE`] and moves past the year 9999.
    pub fn advance(&self, by: Duration) -> Result<Duration, ClockError> {
        if by.is_negative() {
            return Err(ClockError::Backwards);
        }
        if by > MAX_ADVANCE {
            return Err(ClockError::TooFar);
        }
        let add = i64::try_from(by.whole_microseconds()).map_err(|_| ClockError::TooFar)?;
        let limit = time::macros::datetime!(9999-01-01 0:00 UTC);
        let moved = self.offset_micros.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |prev| {
                let next = prev.checked_add(add)?;
                let at = OffsetDateTime::now_utc().checked_add(Duration::microseconds(next))?;
                (at < limit).then_some(next)
            },
        );
        match moved {
            Ok(prev) => Ok(Duration::microseconds(prev.saturating_add(add))),
            Err(_) => Err(ClockError::TooFar),
        }
    }
}

/// Formats an instant in the canonical format.
pub fn format(t: OffsetDateTime) -> String {
    let utc = t.to_offset(UtcOffset::UTC);
    // The format only fails for years outside 0..=9999, which no realistic input reaches.
    utc.format(FORMAT)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000Z".to_string())
}

/// Parses an RFC 3339 timestamp (any offset).
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Re-formats an RFC 3339 timestamp canonically (for string comparison), if it parses.
pub fn canonical(s: &str) -> Option<String> {
    parse(s).map(format)
}

/// Adds `count` calendar units (`Day`, `Week`, `Month`, `Year`) to an instant; `None` when the
/// result leaves the supported date range (years -9999..=9999) or the count overflows.
pub fn add_interval(t: OffsetDateTime, interval: &str, count: i64) -> Option<OffsetDateTime> {
    match interval.to_ascii_lowercase().as_str() {
        "day" => t.checked_add(days(count)?),
        "week" => t.checked_add(days(count.checked_mul(7)?)?),
        "year" => add_months(t, count.checked_mul(12)?),
        _ => add_months(t, count),
    }
}

/// `count` days as a duration, `None` past `time`'s range.
fn days(count: i64) -> Option<Duration> {
    Some(Duration::seconds(count.checked_mul(86_400)?))
}

fn add_months(t: OffsetDateTime, months: i64) -> Option<OffsetDateTime> {
    let total =
        (i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1).checked_add(months)?;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month_index = u8::try_from(total.rem_euclid(12) + 1).ok()?;
    let month = time::Month::try_from(month_index).ok()?;
    let last_day = time::util::days_in_month(month, year);
    let day = t.day().min(last_day);
    time::Date::from_calendar_date(year, month, day)
        .ok()
        .map(|d| t.replace_date(d))
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
            format(add_interval(t, "Month", 1).unwrap()),
            "2025-02-28T10:00:00.000000Z"
        );
        assert_eq!(
            format(add_interval(t, "Year", 1).unwrap()),
            "2026-01-31T10:00:00.000000Z"
        );
        assert_eq!(
            format(add_interval(t, "Week", 2).unwrap()),
            "2025-02-14T10:00:00.000000Z"
        );
        assert_eq!(
            format(add_interval(t, "Day", 1).unwrap()),
            "2025-02-01T10:00:00.000000Z"
        );
    }

    #[test]
    fn huge_intervals_are_refused_not_panics() {
        let t = parse("2025-01-31T10:00:00Z").unwrap();
        assert!(add_interval(t, "Day", i64::MAX).is_none());
        assert!(add_interval(t, "Week", i64::MAX / 2).is_none());
        assert!(add_interval(t, "Month", i64::MAX).is_none());
        assert!(add_interval(t, "Year", 100_000).is_none());
        assert!(add_interval(t, "Day", -3).is_some());
    }

    #[test]
    fn clocks_are_independent_and_refuse_bad_moves() {
        let a = Clock::new();
        let b = Clock::new();
        a.advance(Duration::days(2)).unwrap();
        assert_eq!(a.offset(), Duration::days(2));
        assert_eq!(b.offset(), Duration::ZERO);
        assert!(a.now() - b.now() > Duration::days(1));
        assert_eq!(a.advance(Duration::seconds(-1)), Err(ClockError::Backwards));
        assert_eq!(a.advance(Duration::days(40_000)), Err(ClockError::TooFar));
        assert_eq!(a.advance(Duration::MAX), Err(ClockError::TooFar));
        for _ in 0..79 {
            a.advance(MAX_ADVANCE).unwrap();
        }
        assert_eq!(a.advance(MAX_ADVANCE), Err(ClockError::TooFar));
    }
}
