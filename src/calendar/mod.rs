//! Working-day calendar for one German Land plus the office's own closing days, and the case
//! deadlines (BGB §§ 187–193) built on it. Pure: no I/O and no clock — callers pass dates and
//! instants. Holiday rules live in `holidays`, deadline rules and Europe/Berlin time in `deadline`.

mod deadline;
mod holidays;
#[cfg(test)]
pub(crate) mod test_dates;

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use deadline::{
    berlin_date, berlin_date_time, berlin_local_to_utc, compute, extend_for_hold, held_whole_days,
    is_due_within, shift_section_193, working_days_overdue, DeadlinePolicy, Deadlines,
};
pub use holidays::{day_of_repentance, easter_sunday, holiday_name, holidays, Holiday, Land};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    #[error(
        "Unbekanntes Bundesland „{0}“: erlaubt sind die Kürzel {codes} oder der Name des Landes \
         (z. B. „Sachsen“)",
        codes = holidays::VALID_CODES
    )]
    UnknownLand(String),
    #[error(
        "Ungültiger Schließtag „{0}“: erwartet MM-TT für jedes Jahr (z. B. „12-24“) oder \
         JJJJ-MM-TT für einen einzelnen Tag (z. B. „2026-12-31“)"
    )]
    InvalidClosingDay(String),
}

/// A day the office is closed although it is no statutory holiday (e.g. 24 and 31 December).
/// Such days are not working days, but they do not move a legal deadline (§ 193 BGB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ClosingDay {
    /// Every year on this month and day; "02-29" applies in leap years only.
    EveryYear { month: u32, day: u32 },
    /// One single date.
    Once(NaiveDate),
}

impl ClosingDay {
    /// Parses `MM-DD` (every year) or `YYYY-MM-DD` (once); surrounding blanks are ignored.
    pub fn parse(s: &str) -> Result<Self, CalendarError> {
        let bad = || CalendarError::InvalidClosingDay(s.to_owned());
        let parts: Vec<&str> = s.trim().split('-').collect();
        let number = |p: &str, max_len: usize| -> Result<u32, CalendarError> {
            if p.is_empty() || p.len() > max_len || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        match parts.as_slice() {
            [month, day] => {
                let (month, day) = (number(month, 2)?, number(day, 2)?);
                // 2000 is a leap year, so 29 February is accepted and 30 February is not.
                NaiveDate::from_ymd_opt(2000, month, day).ok_or_else(bad)?;
                Ok(ClosingDay::EveryYear { month, day })
            }
            [year, month, day] if year.len() == 4 => {
                let year = i32::try_from(number(year, 4)?).map_err(|_| bad())?;
                NaiveDate::from_ymd_opt(year, number(month, 2)?, number(day, 2)?)
                    .map(ClosingDay::Once)
                    .ok_or_else(bad)
            }
            _ => Err(bad()),
        }
    }

    pub fn matches(&self, date: NaiveDate) -> bool {
        match *self {
            ClosingDay::EveryYear { month, day } => date.month() == month && date.day() == day,
            ClosingDay::Once(once) => date == once,
        }
    }
}

impl fmt::Display for ClosingDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClosingDay::EveryYear { month, day } => write!(f, "{month:02}-{day:02}"),
            ClosingDay::Once(date) => write!(f, "{}", date.format("%Y-%m-%d")),
        }
    }
}

impl FromStr for ClosingDay {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClosingDay::parse(s)
    }
}

impl TryFrom<String> for ClosingDay {
    type Error = CalendarError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        ClosingDay::parse(&s)
    }
}

impl From<ClosingDay> for String {
    fn from(day: ClosingDay) -> Self {
        day.to_string()
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The office's working days: Monday to Friday, minus the statutory holidays of its Land, minus
/// its own closing days. Date arithmetic saturates at `NaiveDate::MAX` instead of panicking; its
/// cost is linear in the number of days walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    land: Land,
    extra_closed: Vec<ClosingDay>,
}

impl Calendar {
    pub fn new(land: Land, extra_closed: Vec<ClosingDay>) -> Self {
        Calendar { land, extra_closed }
    }

    pub fn land(&self) -> Land {
        self.land
    }

    pub fn extra_closed(&self) -> &[ClosingDay] {
        &self.extra_closed
    }

    /// German name of the statutory holiday on `date`; closing days are not holidays.
    pub fn holiday_name(&self, date: NaiveDate) -> Option<&'static str> {
        holiday_name(self.land, date)
    }

    pub fn is_statutory_holiday(&self, date: NaiveDate) -> bool {
        self.holiday_name(date).is_some()
    }

    pub fn is_extra_closed(&self, date: NaiveDate) -> bool {
        self.extra_closed.iter().any(|c| c.matches(date))
    }

    /// Monday to Friday, not a statutory holiday, not a closing day.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !is_weekend(date) && !self.is_statutory_holiday(date) && !self.is_extra_closed(date)
    }

    /// The `n`-th working day after `date`; `date` itself is never counted, so `n = 0` returns
    /// `date` unchanged (even if it is no working day). Always `working_days_between(date, result)
    /// == n`.
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> NaiveDate {
        let mut day = date;
        let mut counted = 0;
        while counted < n {
            match day.succ_opt() {
                Some(next) => day = next,
                None => return day,
            }
            if self.is_working_day(day) {
                counted += 1;
            }
        }
        day
    }

    /// Number of working days `d` with `from < d <= to`; if `to < from`, the negated count of
    /// working days `d` with `to < d <= from`. So `between(a, b) == -between(b, a)`,
    /// `between(a, a) == 0`, and a deadline `due` is overdue on `today` by `between(due, today)`
    /// working days when that is positive.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        if to < from {
            return -self.working_days_between(to, from);
        }
        let count = from
            .iter_days()
            .skip(1)
            .take_while(|d| *d <= to)
            .filter(|d| self.is_working_day(*d))
            .count();
        // A count of days between two NaiveDates is far below i64::MAX.
        i64::try_from(count).unwrap_or(i64::MAX)
    }

    /// `date` if it is a working day, otherwise the next working day.
    pub fn next_working_day_on_or_after(&self, date: NaiveDate) -> NaiveDate {
        date.iter_days()
            .find(|d| self.is_working_day(*d))
            .unwrap_or(NaiveDate::MAX)
    }
}

/// Years a date may have to be shown or stored as a date: four digits (RFC 3339 has no room for
/// more) and no earlier than e-mail could plausibly be dated. A sender's `Date` header outside
/// this range is kept raw and treated as unknown.
pub const DATE_YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

/// True when the instant is inside [`DATE_YEARS`] in UTC and in Berlin time, so that every form
/// we write it in (RFC 3339 in UTC or Berlin, `YYYY-MM-DD`) has a four-digit year.
pub fn is_showable(ts: chrono::DateTime<chrono::Utc>) -> bool {
    use chrono::Datelike;
    DATE_YEARS.contains(&ts.year()) && DATE_YEARS.contains(&berlin_date(ts).year())
}

#[cfg(test)]
mod tests {
    use super::test_dates::d;
    use super::*;
    use proptest::prelude::*;

    fn saxony() -> Calendar {
        let closed = ["12-24", "12-31"].map(|s| ClosingDay::parse(s).unwrap());
        Calendar::new(Land::SN, closed.to_vec())
    }

    #[test]
    fn showable_dates_have_four_digit_years_in_utc_and_berlin() {
        use chrono::{TimeZone, Utc};
        let at = |y, mo, d, h, mi| Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        assert!(super::is_showable(at(2026, 2, 2, 9, 0)));
        assert!(super::is_showable(at(1900, 1, 1, 0, 0)));
        assert!(super::is_showable(at(9999, 12, 31, 22, 59)));
        // 23:00 UTC on the last day of 9999 is already year 10000 in Berlin.
        assert!(!super::is_showable(at(9999, 12, 31, 23, 0)));
        assert!(!super::is_showable(at(1899, 12, 31, 22, 0)));
        assert!(!super::is_showable(at(10000, 1, 1, 0, 0)));
        assert!(!super::is_showable(at(0, 1, 1, 0, 0)));
    }

    #[test]
    fn closing_day_parses_both_forms() {
        assert_eq!(
            ClosingDay::parse("12-24"),
            Ok(ClosingDay::EveryYear { month: 12, day: 24 })
        );
        assert_eq!(
            ClosingDay::parse(" 2026-12-31 "),
            Ok(ClosingDay::Once(d("2026-12-31")))
        );
        assert_eq!(
            ClosingDay::parse("02-29"),
            Ok(ClosingDay::EveryYear { month: 2, day: 29 })
        );
        for bad in [
            "",
            "12",
            "13-01",
            "02-30",
            "12-24-",
            "2026-02-29",
            "26-12-24",
            "+1-01",
            "12-2x",
            "2026-12-24-1",
            "12/24",
            "012-24",
        ] {
            let err = ClosingDay::parse(bad).unwrap_err();
            assert_eq!(err, CalendarError::InvalidClosingDay(bad.to_owned()));
            assert!(err.to_string().contains(&format!("„{bad}“")));
        }
    }

    #[test]
    fn closing_day_display_and_serde_round_trip() {
        for s in ["12-24", "01-02", "2026-12-31"] {
            let day = ClosingDay::parse(s).unwrap();
            assert_eq!(day.to_string(), s);
            let json = serde_json::to_string(&day).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<ClosingDay>(&json).unwrap(), day);
        }
        assert!(serde_json::from_str::<ClosingDay>("\"12-32\"").is_err());
    }

    #[test]
    fn working_days_in_december_2026() {
        let cal = saxony();
        assert!(cal.is_working_day(d("2026-12-23")));
        assert!(!cal.is_working_day(d("2026-12-24"))); // closing day
        assert!(!cal.is_statutory_holiday(d("2026-12-24")));
        assert_eq!(cal.holiday_name(d("2026-12-24")), None);
        assert!(!cal.is_working_day(d("2026-12-25")));
        assert!(!cal.is_working_day(d("2026-12-26"))); // Saturday and holiday
        assert!(!cal.is_working_day(d("2026-12-31")));
        assert_eq!(
            cal.next_working_day_on_or_after(d("2026-12-24")),
            d("2026-12-28")
        );
        assert_eq!(
            cal.next_working_day_on_or_after(d("2026-12-28")),
            d("2026-12-28")
        );
        assert_eq!(
            cal.next_working_day_on_or_after(d("2026-12-31")),
            d("2027-01-04")
        );
        assert_eq!(cal.add_working_days(d("2026-12-22"), 1), d("2026-12-23"));
        assert_eq!(cal.add_working_days(d("2026-12-22"), 2), d("2026-12-28"));
        assert_eq!(cal.add_working_days(d("2026-12-24"), 0), d("2026-12-24"));
        assert_eq!(
            cal.working_days_between(d("2026-12-22"), d("2026-12-31")),
            4
        );
        assert_eq!(
            cal.working_days_between(d("2026-12-31"), d("2026-12-22")),
            -4
        );
        assert_eq!(
            cal.working_days_between(d("2026-12-22"), d("2026-12-22")),
            0
        );
    }

    #[test]
    fn once_closing_day_applies_only_that_year() {
        let cal = Calendar::new(Land::SN, vec![ClosingDay::parse("2026-05-15").unwrap()]);
        assert!(!cal.is_working_day(d("2026-05-15")));
        assert!(cal.is_working_day(d("2025-05-15")));
    }

    #[test]
    fn extremes_do_not_panic() {
        let cal = saxony();
        assert_eq!(cal.add_working_days(NaiveDate::MAX, 5), NaiveDate::MAX);
        assert_eq!(
            cal.next_working_day_on_or_after(NaiveDate::MAX),
            NaiveDate::MAX
        );
        let near_max = NaiveDate::MAX.pred_opt().unwrap();
        assert!(cal.add_working_days(near_max, 10) <= NaiveDate::MAX);
        let _ = cal.is_working_day(NaiveDate::MIN);
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        // 1900-01-01 ..= 2200-12-31
        (0u64..110_575).prop_map(|n| d("1900-01-01") + chrono::Days::new(n))
    }

    proptest! {
        #[test]
        fn add_working_days_lands_on_the_nth(date in any_date(), n in 1u32..40) {
            let cal = saxony();
            let result = cal.add_working_days(date, n);
            prop_assert!(cal.is_working_day(result));
            prop_assert_eq!(cal.working_days_between(date, result), i64::from(n));
            // No working day is skipped: one day earlier there were only n - 1.
            let before = result.pred_opt().unwrap();
            prop_assert_eq!(cal.working_days_between(date, before), i64::from(n) - 1);
        }

        #[test]
        fn between_is_antisymmetric(a in any_date(), span in 0u64..400) {
            let cal = saxony();
            let b = a + chrono::Days::new(span);
            prop_assert_eq!(cal.working_days_between(a, b), -cal.working_days_between(b, a));
        }

        #[test]
        fn next_working_day_is_the_first(date in any_date()) {
            let cal = saxony();
            let next = cal.next_working_day_on_or_after(date);
            prop_assert!(cal.is_working_day(next) && next >= date);
            prop_assert!(date.iter_days().take_while(|x| *x < next).all(|x| !cal.is_working_day(x)));
        }
    }
}
