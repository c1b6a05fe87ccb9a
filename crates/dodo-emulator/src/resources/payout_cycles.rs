//! The payout schedule: as the virtual clock moves, the platform closes billing periods and
//! pays the merchant out on the documented dates (docs.dodopayments.com, "Payout structure").
//!
//! Cycles ([`PayoutCycle`], all days UTC): **bi-monthly** (default) pays the 1st–15th on the
//! 18th and the 16th–end of month on the 4th of the next month; **weekly** pays the 1st–7th on
//! the 11th, 8th–14th on the 18th, 15th–21st on the 25th and 22nd–end on the 4th of the next
//! month; **monthly** pays the month on the 11th of the next month; **off** makes no scheduled
//! payouts (the `payout.*` triggers still make off-cycle ones). When the clock passes the end of
//! a period, [`process`] makes that period's payout ([`payouts::make_payout`], `not_initiated`,
//! `payout.created`, dated when the period closed) from the money settled in it plus what
//! earlier periods carried forward; a period whose net is below the threshold (default USD
//! $100, [`MIN_PAYOUT_THRESHOLD`]; negative nets included) makes no payout and carries its money
//! forward. When the clock passes the payout date the payout becomes `in_progress`
//! (`payout.in_progress`). **The emulator's choice:** one day after the payout date it becomes
//! `success` (`payout.success`); the live API documents 1–2 business days for the money to
//! arrive and also knows `on_hold` and `failed`, which only the triggers produce here. Periods
//! close and payouts move in time order, each once (the next unclosed period is kept in
//! [`kind::PAYOUT_CYCLE`]), so one big clock move and many small ones make the same payouts.
//! Periods before the emulator's first settled money are skipped.

use std::str::FromStr;

use serde_json::{Value, json};
use time::{Date, Duration, Month, OffsetDateTime};

use super::Ctx;
use super::common::kind;
use super::payouts::{self, Period};
use crate::clock;
use crate::error::ApiError;
use crate::store::Filter;

/// The live API's minimum payout threshold for USD payouts, in minor units ($100.00).
pub const MIN_PAYOUT_THRESHOLD: i64 = 10_000;

/// Id of the one [`kind::PAYOUT_CYCLE`] record.
const CURSOR: &str = "cursor";

/// How often the platform pays the merchant out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PayoutCycle {
    /// 1st–15th paid the 18th, 16th–end paid the 4th of the next month (the live default).
    #[default]
    BiMonthly,
    /// 1st–7th paid the 11th, 8th–14th the 18th, 15th–21st the 25th, 22nd–end the 4th of the
    /// next month.
    Weekly,
    /// The month, paid the 11th of the next month.
    Monthly,
    /// No scheduled payouts (only the `payout.*` triggers make payouts).
    Off,
}

impl PayoutCycle {
    /// The cycle's configuration name: `bi_monthly`, `weekly`, `monthly` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BiMonthly => "bi_monthly",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Off => "off",
        }
    }

    /// The billing period containing `day`; `None` when the cycle is off or the period leaves
    /// the supported date range.
    pub fn period_of(self, day: Date) -> Option<Period> {
        let (year, month, d) = (day.year(), day.month(), day.day());
        let on = |n: u8| Date::from_calendar_date(year, month, n).ok();
        let next_month = next_month_start(day)?;
        let in_next = |n: u8| next_month.replace_day(n).ok();
        let (start, end, payout_date) = match self {
            Self::Off => return None,
            Self::BiMonthly if d <= 15 => (on(1)?, on(16)?, on(18)?),
            Self::BiMonthly => (on(16)?, next_month, in_next(4)?),
            Self::Weekly => match d {
                1..=7 => (on(1)?, on(8)?, on(11)?),
                8..=14 => (on(8)?, on(15)?, on(18)?),
                15..=21 => (on(15)?, on(22)?, on(25)?),
                _ => (on(22)?, next_month, in_next(4)?),
            },
            Self::Monthly => (on(1)?, next_month, in_next(11)?),
        };
        Some(Period {
            cycle: self.as_str(),
            start,
            end,
            payout_date,
        })
    }
}

impl std::fmt::Display for PayoutCycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PayoutCycle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bi_monthly" => Ok(Self::BiMonthly),
            "weekly" => Ok(Self::Weekly),
            "monthly" => Ok(Self::Monthly),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "unknown payout cycle `{other}`: expected bi_monthly, weekly, monthly or off"
            )),
        }
    }
}

/// The payout settings of the emulated merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutSchedule {
    /// The payout cycle.
    pub cycle: PayoutCycle,
    /// The smallest net (USD minor units) a period pays out; less carries forward.
    pub threshold: i64,
}

impl Default for PayoutSchedule {
    fn default() -> Self {
        Self {
            cycle: PayoutCycle::default(),
            threshold: MIN_PAYOUT_THRESHOLD,
        }
    }
}

fn next_month_start(day: Date) -> Option<Date> {
    match day.month() {
        Month::December => Date::from_calendar_date(day.year().checked_add(1)?, Month::January, 1),
        m => Date::from_calendar_date(day.year(), m.next(), 1),
    }
    .ok()
}

fn midnight(day: Date) -> OffsetDateTime {
    day.midnight().assume_utc()
}

/// A scheduled payout's next status change.
struct Step {
    due: OffsetDateTime,
    payout_id: String,
    from: &'static str,
    to: &'static str,
}

/// Scheduled payouts still waiting for their payout date or their success.
fn pending_steps(ctx: &Ctx<'_>) -> Result<Vec<Step>, ApiError> {
    let mut steps = Vec::new();
    for (from, to, after) in [
        ("not_initiated", "in_progress", Duration::ZERO),
        ("in_progress", "success", Duration::DAY),
    ] {
        let status = [Filter::Eq(
            "$.status",
            rusqlite::types::Value::Text(from.into()),
        )];
        for p in ctx.db.list(kind::PAYOUT, &status, u32::MAX, 0)? {
            let Some(schedule) = payouts::schedule_of(ctx, &p.id)? else {
                continue;
            };
            let Some(date) = schedule["payout_date"].as_str().and_then(clock::parse) else {
                continue;
            };
            if let Some(due) = date.checked_add(after) {
                steps.push(Step {
                    due,
                    payout_id: p.id,
                    from,
                    to,
                });
            }
        }
    }
    Ok(steps)
}

/// Moves a scheduled payout from `from` to `to`, dated `due`; `false` when it is no longer in
/// `from` (a test changed it).
fn apply(ctx: &Ctx<'_>, step: &Step) -> Result<bool, ApiError> {
    let Some(mut p) = ctx.db.get(kind::PAYOUT, &step.payout_id)? else {
        return Ok(false);
    };
    if p.data["status"] != step.from {
        return Ok(false);
    }
    p.data["status"] = json!(step.to);
    p.data["updated_at"] = json!(clock::format(step.due));
    if step.to == "success" {
        p.data["payout_document_url"] = json!(payouts::document_url(ctx, &step.payout_id));
    }
    ctx.db.update(kind::PAYOUT, &step.payout_id, &p.data)?;
    Ok(true)
}

/// Closes every billing period and moves every scheduled payout that fell due by the current
/// virtual time, in time order; answers the ids of the payouts created, started and succeeded.
pub fn process(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let schedule = ctx.env.payouts;
    let now = ctx.now();
    let mut steps = pending_steps(ctx)?;
    // The unpaid money, oldest first, with its time (an unreadable time counts as now).
    let mut rows: Vec<(OffsetDateTime, Value)> = payouts::unpaid_rows(ctx)?
        .into_iter()
        .map(|r| {
            let at = r["created_at"]
                .as_str()
                .and_then(clock::parse)
                .unwrap_or(now);
            (at, r)
        })
        .collect();
    rows.sort_by_key(|(at, _)| *at);
    let mut rows = rows.into_iter().peekable();
    let cursor = ctx
        .db
        .get(kind::PAYOUT_CYCLE, CURSOR)?
        .and_then(|r| r.data["next_period_start"].as_str().and_then(clock::parse))
        .map(|t| t.date());
    let first_money = rows.peek().map(|(at, _)| at.date());
    let mut period = match (cursor, first_money) {
        (_, None) => None,
        (Some(c), Some(f)) => schedule.cycle.period_of(c.max(f)),
        (None, Some(f)) => schedule.cycle.period_of(f),
    };
    let mut batch: Vec<Value> = Vec::new();
    let (mut created, mut started, mut succeeded) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let close_at = period.map(|p| midnight(p.end)).filter(|t| *t <= now);
        let next_step = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.due <= now)
            .min_by_key(|(_, s)| s.due)
            .map(|(i, s)| (i, s.due));
        match (close_at, next_step) {
            (None, None) => break,
            (close, Some((i, due))) if close.is_none_or(|c| due <= c) => {
                let step = steps.swap_remove(i);
                if apply(ctx, &step)? {
                    if step.to == "success" {
                        succeeded.push(step.payout_id);
                    } else {
                        started.push(step.payout_id.clone());
                        steps.push(Step {
                            due: due.checked_add(Duration::DAY).unwrap_or(due),
                            payout_id: step.payout_id,
                            from: "in_progress",
                            to: "success",
                        });
                    }
                }
            }
            (Some(close), _) => {
                let Some(p) = period else { break };
                while let Some((_, row)) = rows.next_if(|(at, _)| *at < close) {
                    batch.push(row);
                }
                if !batch.is_empty() && payouts::net_of(&batch) >= schedule.threshold {
                    let payout = payouts::make_payout(ctx, std::mem::take(&mut batch), Some(&p))?;
                    let id = payout["payout_id"].as_str().unwrap_or_default().to_string();
                    steps.push(Step {
                        due: midnight(p.payout_date),
                        payout_id: id.clone(),
                        from: "not_initiated",
                        to: "in_progress",
                    });
                    created.push(id);
                }
                // With no money left, every period up to now closes empty: skip to now's.
                period = if batch.is_empty() && rows.peek().is_none() {
                    schedule.cycle.period_of(now.date())
                } else {
                    schedule.cycle.period_of(p.end)
                };
            }
            (None, Some(_)) => break,
        }
    }
    if let Some(p) = period {
        let data = json!({ "next_period_start": clock::format(midnight(p.start)) });
        if ctx.db.get(kind::PAYOUT_CYCLE, CURSOR)?.is_some() {
            ctx.db.update(kind::PAYOUT_CYCLE, CURSOR, &data)?;
        } else {
            ctx.db
                .insert(kind::PAYOUT_CYCLE, CURSOR, None, &ctx.now_string(), &data)?;
        }
    }
    Ok(json!({
        "payouts_created": created,
        "payouts_in_progress": started,
        "payouts_succeeded": succeeded,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn dates(cycle: PayoutCycle, day: Date) -> (Date, Date, Date) {
        let p = cycle.period_of(day).unwrap();
        (p.start, p.end, p.payout_date)
    }

    #[test]
    fn documented_periods_and_payout_dates() {
        use PayoutCycle::*;
        assert_eq!(
            dates(BiMonthly, date!(2026 - 03 - 03)),
            (
                date!(2026 - 03 - 01),
                date!(2026 - 03 - 16),
                date!(2026 - 03 - 18)
            )
        );
        assert_eq!(
            dates(BiMonthly, date!(2026 - 12 - 31)),
            (
                date!(2026 - 12 - 16),
                date!(2027 - 01 - 01),
                date!(2027 - 01 - 04)
            )
        );
        assert_eq!(
            dates(Weekly, date!(2026 - 02 - 07)),
            (
                date!(2026 - 02 - 01),
                date!(2026 - 02 - 08),
                date!(2026 - 02 - 11)
            )
        );
        assert_eq!(
            dates(Weekly, date!(2026 - 02 - 14)).2,
            date!(2026 - 02 - 18)
        );
        assert_eq!(
            dates(Weekly, date!(2026 - 02 - 15)).2,
            date!(2026 - 02 - 25)
        );
        assert_eq!(
            dates(Weekly, date!(2026 - 02 - 28)),
            (
                date!(2026 - 02 - 22),
                date!(2026 - 03 - 01),
                date!(2026 - 03 - 04)
            )
        );
        assert_eq!(
            dates(Monthly, date!(2026 - 02 - 28)),
            (
                date!(2026 - 02 - 01),
                date!(2026 - 03 - 01),
                date!(2026 - 03 - 11)
            )
        );
        assert!(Off.period_of(date!(2026 - 02 - 28)).is_none());
        assert!(BiMonthly.period_of(date!(9999 - 12 - 20)).is_none());
    }

    #[test]
    fn cycles_parse_by_name() {
        for c in [
            PayoutCycle::BiMonthly,
            PayoutCycle::Weekly,
            PayoutCycle::Monthly,
            PayoutCycle::Off,
        ] {
            assert_eq!(c.as_str().parse::<PayoutCycle>(), Ok(c));
        }
        assert!("biweekly".parse::<PayoutCycle>().is_err());
    }
}
