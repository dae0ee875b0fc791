//! Case deadlines under BGB §§ 187–193 and the Europe/Berlin conversions they rest on.
//! Instants come in as UTC; every rule works on Berlin calendar dates. A deadline date means the
//! period ends at the end (24:00 Berlin time) of that day.

use chrono::{
    DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Europe::Berlin;
use serde::{Deserialize, Serialize};

use super::{is_weekend, Calendar};

/// How long the office has: acknowledgement in working days, processing in calendar days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlinePolicy {
    pub ack_working_days: u32,
    pub processing_days: u32,
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        DeadlinePolicy {
            ack_working_days: 3,
            processing_days: 14,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    /// The acknowledgement is due by the end of this working day.
    pub ack_due: NaiveDate,
    /// Receipt date plus the processing days (§§ 187(1), 188(1) BGB), before § 193.
    pub due_unshifted: NaiveDate,
    /// `due_unshifted` moved past Saturdays, Sundays and statutory holidays (§ 193 BGB).
    pub due: NaiveDate,
}

/// The calendar date in Berlin at instant `ts` (CET or CEST as in force then).
pub fn berlin_date(ts: DateTime<Utc>) -> NaiveDate {
    // Not `with_timezone(..).date_naive()`: that panics when the local time leaves chrono's
    // range (at `DateTime::<Utc>::MAX_UTC`); there we keep the UTC date.
    let utc = ts.naive_utc();
    let offset = Berlin.offset_from_utc_datetime(&utc).fix();
    utc.checked_add_offset(offset)
        .map_or(utc.date(), |local| local.date())
}

/// The Berlin wall-clock time of an instant (seconds kept); the UTC time where the local one
/// leaves chrono's range, as [`berlin_date`].
pub fn berlin_date_time(ts: DateTime<Utc>) -> NaiveDateTime {
    let utc = ts.naive_utc();
    let offset = Berlin.offset_from_utc_datetime(&utc).fix();
    utc.checked_add_offset(offset).unwrap_or(utc)
}

/// Largest spring-forward gap searched past; Berlin's gaps are one hour (two in 1945–1949).
const MAX_GAP_MINUTES: i64 = 180;

/// The instant of Berlin wall-clock time `time` on `date`.
/// - Autumn ambiguity (the hour that occurs twice): the earlier instant, i.e. still summer time.
/// - Spring gap (a wall-clock time that does not exist, e.g. 02:30 on the last Sunday of March):
///   the first instant after the gap, i.e. 03:00 summer time — so a job scheduled in the gap
///   still runs that day.
///
/// `None` only at the edges of chrono's range.
pub fn berlin_local_to_utc(date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let local = date.and_time(time);
    let instant = match Berlin.from_local_datetime(&local) {
        LocalResult::Single(t) => t,
        LocalResult::Ambiguous(a, b) => a.min(b),
        LocalResult::None => {
            // Gaps start and end on whole minutes, so the first existing whole minute after the
            // requested time is where the clocks resumed.
            let minute = local.with_second(0)?.with_nanosecond(0)?;
            (1..=MAX_GAP_MINUTES).find_map(|m| {
                let candidate = minute.checked_add_signed(TimeDelta::minutes(m))?;
                Berlin.from_local_datetime(&candidate).earliest()
            })?
        }
    };
    Some(instant.with_timezone(&Utc))
}

fn add_days(date: NaiveDate, days: u32) -> NaiveDate {
    date.checked_add_days(Days::new(days.into()))
        .unwrap_or(NaiveDate::MAX)
}

/// § 193 BGB: a period ending on a Saturday, Sunday or statutory holiday ends on the next day
/// that is none of these. The office's own closing days (e.g. 24 December) do NOT move it.
pub fn shift_section_193(cal: &Calendar, date: NaiveDate) -> NaiveDate {
    date.iter_days()
        .find(|d| !is_weekend(*d) && !cal.is_statutory_holiday(*d))
        .unwrap_or(NaiveDate::MAX)
}

/// Deadlines for a message received at `received`. The receipt day is the Berlin date; it is not
/// counted (§ 187(1) BGB), the period ends with the day `receipt + processing_days` (§ 188(1)),
/// moved by § 193. The acknowledgement is due `ack_working_days` working days after receipt.
pub fn compute(cal: &Calendar, policy: DeadlinePolicy, received: DateTime<Utc>) -> Deadlines {
    let receipt = berlin_date(received);
    let due_unshifted = add_days(receipt, policy.processing_days);
    Deadlines {
        ack_due: cal.add_working_days(receipt, policy.ack_working_days),
        due_unshifted,
        due: shift_section_193(cal, due_unshifted),
    }
}

/// After a hold, the held days are added to the unshifted end (not to the shifted one, so a
/// § 193 shift is never counted twice); § 193 then applies afresh. Returns (unshifted, due).
pub fn extend_for_hold(
    cal: &Calendar,
    due_unshifted: NaiveDate,
    held_days: u32,
) -> (NaiveDate, NaiveDate) {
    let unshifted = add_days(due_unshifted, held_days);
    (unshifted, shift_section_193(cal, unshifted))
}

/// Whole calendar days a case was on hold: the Berlin date of `resume_at` minus the Berlin date of
/// `hold_from`. Held Monday, resumed Thursday = 3 whatever the hours; held and resumed on the same
/// Berlin day = 0; a resume before the hold = 0.
pub fn held_whole_days(hold_from: DateTime<Utc>, resume_at: DateTime<Utc>) -> u32 {
    let days = (berlin_date(resume_at) - berlin_date(hold_from)).num_days();
    u32::try_from(days.max(0)).unwrap_or(u32::MAX)
}

/// Working days `d` with `due < d <= today`: 0 while `today <= due`, 1 on the first working day
/// after the deadline, and so on.
pub fn working_days_overdue(cal: &Calendar, due: NaiveDate, today: NaiveDate) -> i64 {
    cal.working_days_between(due, today).max(0)
}

/// Not yet overdue, and due no later than `n` working days from `today`
/// (`today <= due <= add_working_days(today, n)`).
pub fn is_due_within(cal: &Calendar, due: NaiveDate, today: NaiveDate, n: u32) -> bool {
    today <= due && due <= cal.add_working_days(today, n)
}

#[cfg(test)]
mod tests {
    use super::super::test_dates::{d, utc};
    use super::super::{ClosingDay, Land};
    use super::*;
    use chrono::{Datelike, Weekday};
    use proptest::prelude::*;

    /// Berlin wall-clock time "YYYY-MM-DD HH:MM".
    fn berlin(s: &str) -> DateTime<Utc> {
        let (date, time) = s.split_once(' ').unwrap();
        berlin_local_to_utc(d(date), NaiveTime::parse_from_str(time, "%H:%M").unwrap()).unwrap()
    }

    fn calendar(land: Land) -> Calendar {
        let closed = ["12-24", "12-31"].map(|s| ClosingDay::parse(s).unwrap());
        Calendar::new(land, closed.to_vec())
    }

    fn saxony() -> Calendar {
        calendar(Land::SN)
    }

    /// (received in Berlin, ack_due, due_unshifted, due) for Saxony, 3 working days / 14 days.
    const CASES: &[(&str, &str, &str, &str)] = &[
        // Unshifted end is Neujahr, a Friday: moves over the weekend to Monday.
        ("2026-12-18 10:00", "2026-12-23", "2027-01-01", "2027-01-04"),
        // 24 December is a closing day but no statutory holiday: § 193 does not move it.
        ("2026-12-10 10:00", "2026-12-15", "2026-12-24", "2026-12-24"),
        // Good Friday and Easter Monday are skipped by the acknowledgement.
        ("2026-04-01 09:00", "2026-04-08", "2026-04-15", "2026-04-15"),
        // Ends on Good Friday: Saturday, Easter Sunday and Easter Monday follow.
        ("2026-03-20 11:00", "2026-03-25", "2026-04-03", "2026-04-07"),
        // Ends on Buß- und Bettag (Saxony only).
        ("2026-11-04 12:00", "2026-11-09", "2026-11-18", "2026-11-19"),
        // Received on a Saturday; ends on Reformationstag, itself a Saturday.
        ("2026-10-17 15:00", "2026-10-21", "2026-10-31", "2026-11-02"),
        // Received on a holiday (1 May); the period still starts from that date.
        ("2026-05-01 08:00", "2026-05-06", "2026-05-15", "2026-05-15"),
        // Ends on Ascension Day (Thursday).
        ("2026-04-30 16:00", "2026-05-06", "2026-05-14", "2026-05-15"),
        // Ends on Whit Monday; the acknowledgement skips Ascension Day.
        ("2026-05-11 09:30", "2026-05-15", "2026-05-25", "2026-05-26"),
        // Ends on 31 December: closing day, not statutory, stays.
        ("2026-12-17 10:00", "2026-12-22", "2026-12-31", "2026-12-31"),
        // Ends on Christmas Day (Friday): 26th is Saturday, then Sunday.
        ("2026-12-11 10:00", "2026-12-16", "2026-12-25", "2026-12-28"),
        // Acknowledgement across Christmas and the 24 December closing day.
        ("2026-12-22 10:00", "2026-12-29", "2027-01-05", "2027-01-05"),
        // Epiphany is no holiday in Saxony.
        ("2026-12-23 10:00", "2026-12-30", "2027-01-06", "2027-01-06"),
        // Ten past midnight Berlin on 1 July is still 30 June in UTC.
        ("2026-07-01 00:10", "2026-07-06", "2026-07-15", "2026-07-15"),
    ];

    #[test]
    fn deadline_examples_saxony() {
        let cal = saxony();
        for (received, ack, unshifted, due) in CASES {
            let got = compute(&cal, DeadlinePolicy::default(), berlin(received));
            let want = Deadlines {
                ack_due: d(ack),
                due_unshifted: d(unshifted),
                due: d(due),
            };
            assert_eq!(got, want, "received {received}");
        }
    }

    #[test]
    fn deadlines_depend_on_the_land() {
        let received = berlin("2026-11-04 12:00");
        assert_eq!(
            compute(&calendar(Land::BE), DeadlinePolicy::default(), received).due,
            d("2026-11-18")
        );
        let received = berlin("2026-12-23 10:00");
        assert_eq!(
            compute(&calendar(Land::BY), DeadlinePolicy::default(), received).due,
            d("2027-01-07")
        );
    }

    #[test]
    fn late_evening_utc_counts_as_next_berlin_day() {
        let received = utc("2026-06-30T22:10:00");
        assert_eq!(berlin_date(received), d("2026-07-01"));
        assert_eq!(berlin("2026-07-01 00:10"), received);
        let deadlines = compute(&saxony(), DeadlinePolicy::default(), received);
        assert_eq!(deadlines.due_unshifted, d("2026-07-15"));
    }

    #[test]
    fn berlin_date_around_dst_changes() {
        // Spring 2026: clocks go 02:00 CET -> 03:00 CEST on 29 March (01:00 UTC).
        assert_eq!(berlin_date(utc("2026-03-28T22:59:59")), d("2026-03-28"));
        assert_eq!(berlin_date(utc("2026-03-28T23:00:00")), d("2026-03-29"));
        assert_eq!(berlin_date(utc("2026-03-29T00:30:00")), d("2026-03-29"));
        assert_eq!(berlin_date(utc("2026-03-29T21:59:59")), d("2026-03-29"));
        assert_eq!(berlin_date(utc("2026-03-29T22:00:00")), d("2026-03-30"));
        // Autumn 2026: clocks go 03:00 CEST -> 02:00 CET on 25 October (01:00 UTC).
        assert_eq!(berlin_date(utc("2026-10-24T21:59:59")), d("2026-10-24"));
        assert_eq!(berlin_date(utc("2026-10-24T22:30:00")), d("2026-10-25"));
        assert_eq!(berlin_date(utc("2026-10-25T22:59:59")), d("2026-10-25"));
        assert_eq!(berlin_date(utc("2026-10-25T23:00:00")), d("2026-10-26"));
        // Winter and summer offsets.
        assert_eq!(berlin_date(utc("2026-01-15T23:00:00")), d("2026-01-16"));
        assert_eq!(berlin_date(utc("2026-07-15T22:00:00")), d("2026-07-16"));
        // No panic at the edges of chrono's range.
        let _ = berlin_date(DateTime::<Utc>::MAX_UTC);
        let _ = berlin_date(DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn berlin_local_to_utc_gap_and_ambiguity() {
        let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M:%S").unwrap();
        // Ordinary times.
        assert_eq!(
            berlin_local_to_utc(d("2026-01-15"), t("09:00:00")),
            Some(utc("2026-01-15T08:00:00"))
        );
        assert_eq!(
            berlin_local_to_utc(d("2026-07-15"), t("09:00:00")),
            Some(utc("2026-07-15T07:00:00"))
        );
        // Spring gap: 02:00–02:59:59 do not exist; the answer is 03:00 CEST.
        for gap in ["02:00:00", "02:30:00", "02:59:59"] {
            assert_eq!(
                berlin_local_to_utc(d("2026-03-29"), t(gap)),
                Some(utc("2026-03-29T01:00:00")),
                "{gap}"
            );
        }
        assert_eq!(
            berlin_local_to_utc(d("2026-03-29"), t("01:59:00")),
            Some(utc("2026-03-29T00:59:00"))
        );
        assert_eq!(
            berlin_local_to_utc(d("2026-03-29"), t("03:00:00")),
            Some(utc("2026-03-29T01:00:00"))
        );
        // Autumn: 02:30 happens twice; the earlier (CEST) instant wins.
        assert_eq!(
            berlin_local_to_utc(d("2026-10-25"), t("02:30:00")),
            Some(utc("2026-10-25T00:30:00"))
        );
        assert_eq!(
            berlin_local_to_utc(d("2026-10-25"), t("03:00:00")),
            Some(utc("2026-10-25T02:00:00"))
        );
        // Edges of chrono's range: no panic.
        let _ = berlin_local_to_utc(NaiveDate::MAX, t("23:59:59"));
        let _ = berlin_local_to_utc(NaiveDate::MIN, t("00:00:00"));
    }

    #[test]
    fn hold_examples() {
        let cal = saxony();
        // Held Monday morning, resumed Thursday: 3 days whatever the hours.
        assert_eq!(
            held_whole_days(berlin("2026-06-01 09:00"), berlin("2026-06-04 08:00")),
            3
        );
        assert_eq!(
            held_whole_days(berlin("2026-06-01 09:00"), berlin("2026-06-01 17:00")),
            0
        );
        // One hour across Berlin midnight is a day; the UTC dates would say otherwise.
        assert_eq!(
            held_whole_days(berlin("2026-06-01 23:30"), berlin("2026-06-02 00:30")),
            1
        );
        // Across the autumn DST change (a 25-hour day).
        assert_eq!(
            held_whole_days(berlin("2026-10-24 12:00"), berlin("2026-10-26 11:00")),
            2
        );
        assert_eq!(
            held_whole_days(berlin("2026-06-04 09:00"), berlin("2026-06-01 09:00")),
            0
        );
        // chrono's whole range (~191 million days) fits; no panic at its edges.
        assert!(held_whole_days(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC) > 190_000_000);

        assert_eq!(
            extend_for_hold(&cal, d("2026-04-15"), 0),
            (d("2026-04-15"), d("2026-04-15"))
        );
        // Lands on Christmas Day: moved to Monday 28 December.
        assert_eq!(
            extend_for_hold(&cal, d("2026-12-20"), 5),
            (d("2026-12-25"), d("2026-12-28"))
        );
        // Lands on Good Friday.
        assert_eq!(
            extend_for_hold(&cal, d("2026-03-30"), 4),
            (d("2026-04-03"), d("2026-04-07"))
        );
        // Held days count from the unshifted end (Fri 1 Jan), not from the shifted Mon 4 Jan.
        assert_eq!(
            extend_for_hold(&cal, d("2027-01-01"), 3),
            (d("2027-01-04"), d("2027-01-04"))
        );
        // Lands on the 24 December closing day: stays.
        assert_eq!(
            extend_for_hold(&cal, d("2026-12-21"), 3),
            (d("2026-12-24"), d("2026-12-24"))
        );
        assert_eq!(extend_for_hold(&cal, NaiveDate::MAX, 10).0, NaiveDate::MAX);
    }

    #[test]
    fn overdue_and_due_within() {
        let cal = saxony();
        let due = d("2026-12-23");
        assert_eq!(working_days_overdue(&cal, due, d("2026-12-20")), 0);
        assert_eq!(working_days_overdue(&cal, due, due), 0);
        assert_eq!(working_days_overdue(&cal, due, d("2026-12-27")), 0); // only closed days since
        assert_eq!(working_days_overdue(&cal, due, d("2026-12-28")), 1);
        assert_eq!(working_days_overdue(&cal, due, d("2027-01-04")), 4);

        assert!(is_due_within(&cal, due, due, 0));
        assert!(is_due_within(&cal, due, d("2026-12-21"), 2));
        assert!(!is_due_within(&cal, due, d("2026-12-21"), 1));
        assert!(!is_due_within(&cal, due, d("2026-12-24"), 5)); // already overdue
                                                                // Over Christmas, 1 working day from 23 Dec reaches 28 Dec.
        assert!(is_due_within(&cal, d("2026-12-28"), d("2026-12-23"), 1));
    }

    #[test]
    fn policy_serde_defaults() {
        let p: DeadlinePolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(
            p,
            DeadlinePolicy {
                ack_working_days: 3,
                processing_days: 14
            }
        );
        let p: DeadlinePolicy = serde_json::from_str(r#"{"processing_days": 30}"#).unwrap();
        assert_eq!(p.processing_days, 30);
        assert!(serde_json::from_str::<DeadlinePolicy>(r#"{"processing_dayz": 30}"#).is_err());
    }

    fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
        // 1970 ..= 2200
        (0i64..7_258_118_400).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    proptest! {
        #[test]
        fn due_is_the_first_section_193_day(received in any_instant(), days in 0u32..60, land in 0usize..16) {
            let cal = calendar(Land::ALL[land]);
            let policy = DeadlinePolicy { ack_working_days: 3, processing_days: days };
            let dl = compute(&cal, policy, received);
            prop_assert!(dl.due >= dl.due_unshifted);
            prop_assert!(!matches!(dl.due.weekday(), Weekday::Sat | Weekday::Sun));
            prop_assert!(!cal.is_statutory_holiday(dl.due));
            prop_assert!(dl.due_unshifted.iter_days().take_while(|x| *x < dl.due)
                .all(|x| matches!(x.weekday(), Weekday::Sat | Weekday::Sun) || cal.is_statutory_holiday(x)));
            prop_assert_eq!((dl.due_unshifted - berlin_date(received)).num_days(), i64::from(days));
            prop_assert!(cal.is_working_day(dl.ack_due));
        }

        #[test]
        fn berlin_date_is_utc_date_or_next(ts in any_instant()) {
            let local = berlin_date(ts);
            let utc_date = ts.date_naive();
            prop_assert!(local == utc_date || Some(local) == utc_date.succ_opt());
        }

        #[test]
        fn local_round_trip(ts in any_instant()) {
            // Every real instant maps back to itself, except the second copy of an autumn hour.
            let local = ts.with_timezone(&Berlin);
            let back = berlin_local_to_utc(local.date_naive(), local.time()).unwrap();
            prop_assert!(back == ts || back == ts - TimeDelta::hours(1));
        }

        #[test]
        fn hold_adds_whole_days(due in 0u64..100_000, held in 0u32..400) {
            let cal = saxony();
            let due = d("1970-01-01") + Days::new(due);
            let (unshifted, shifted) = extend_for_hold(&cal, due, held);
            prop_assert_eq!((unshifted - due).num_days(), i64::from(held));
            prop_assert_eq!(shifted, shift_section_193(&cal, unshifted));
        }

        #[test]
        fn overdue_is_never_negative(due in 0u64..100_000, offset in -400i64..400) {
            let cal = saxony();
            let due = d("1970-01-01") + Days::new(due);
            let today = due + TimeDelta::days(offset);
            let overdue = working_days_overdue(&cal, due, today);
            prop_assert!(overdue >= 0);
            prop_assert_eq!(overdue > 0, today > due && cal.working_days_between(due, today) > 0);
        }
    }
}
