//! Date literals for unit tests.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Berlin;

/// `YYYY-MM-DD`.
pub fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// `YYYY-MM-DDTHH:MM:SS`, UTC.
pub fn utc(s: &str) -> DateTime<Utc> {
    format!("{s}Z").parse().unwrap()
}

/// Berlin wall-clock time.
pub fn berlin_at(y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
    Berlin
        .with_ymd_and_hms(y, m, day, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}
