//! Conversions between the stored Unix microseconds and [`OffsetDateTime`].
//!
//! The inbox reads no application clock: leases, retry schedules and every `*_at` column
//! are computed inside SQL statements from the database's clock (see `Database::with_now`),
//! so hosts whose clocks disagree still agree on who owns a delivery. This module only
//! converts the stored microseconds for the typed views.

use std::time::Duration;

use time::OffsetDateTime;

/// Microseconds since the Unix epoch of `t` (saturating).
pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The time `micros` microseconds after the Unix epoch (the epoch if out of range).
pub(crate) fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `d` in microseconds (saturating).
pub(crate) fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip() {
        let t = time::macros::datetime!(2025-07-23 12:01:51.506540 UTC);
        assert_eq!(from_micros(to_micros(t)), t);
        assert_eq!(duration_micros(Duration::from_millis(1_500)), 1_500_000);
    }
}
