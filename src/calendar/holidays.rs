//! Statutory public holidays of each German Land, computed from rules (no tables, no I/O).
//! Today's law, with its changes since 2017, is applied to every year; older history (e.g. Buß- und
//! Bettag nationwide until 1994) is deliberately not modelled. Parts of a Land are ignored.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::CalendarError;

/// A German Land, named by its ISO 3166-2:DE code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub enum Land {
    BW,
    BY,
    BE,
    BB,
    HB,
    HH,
    HE,
    MV,
    NI,
    NW,
    RP,
    SL,
    SN,
    ST,
    SH,
    TH,
}

use Land::*;
use Rule::{Easter, Fixed, Repentance};

/// The codes as listed in error messages; a test keeps this in step with `Land::ALL`.
pub(super) const VALID_CODES: &str =
    "BW, BY, BE, BB, HB, HH, HE, MV, NI, NW, RP, SL, SN, ST, SH, TH";

impl Land {
    pub const ALL: [Land; 16] = [
        BW, BY, BE, BB, HB, HH, HE, MV, NI, NW, RP, SL, SN, ST, SH, TH,
    ];

    /// The two-letter code, e.g. `"SN"`.
    pub fn code(self) -> &'static str {
        match self {
            BW => "BW",
            BY => "BY",
            BE => "BE",
            BB => "BB",
            HB => "HB",
            HH => "HH",
            HE => "HE",
            MV => "MV",
            NI => "NI",
            NW => "NW",
            RP => "RP",
            SL => "SL",
            SN => "SN",
            ST => "ST",
            SH => "SH",
            TH => "TH",
        }
    }

    /// The German name, e.g. `"Sachsen"`.
    pub fn name(self) -> &'static str {
        match self {
            BW => "Baden-Württemberg",
            BY => "Bayern",
            BE => "Berlin",
            BB => "Brandenburg",
            HB => "Bremen",
            HH => "Hamburg",
            HE => "Hessen",
            MV => "Mecklenburg-Vorpommern",
            NI => "Niedersachsen",
            NW => "Nordrhein-Westfalen",
            RP => "Rheinland-Pfalz",
            SL => "Saarland",
            SN => "Sachsen",
            ST => "Sachsen-Anhalt",
            SH => "Schleswig-Holstein",
            TH => "Thüringen",
        }
    }
}

impl fmt::Display for Land {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Folds a name so that "Thüringen", "thueringen" and "Baden Württemberg" compare equal.
fn fold_name(s: &str) -> String {
    s.to_lowercase()
        .replace('ä', "ae")
        .replace('ö', "oe")
        .replace('ü', "ue")
        .replace('ß', "ss")
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

impl FromStr for Land {
    type Err = CalendarError;

    /// Accepts the code (any case) or the German name (any case, umlauts or their transliteration,
    /// hyphens or spaces).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let folded = fold_name(trimmed);
        Land::ALL
            .into_iter()
            .find(|land| {
                land.code().eq_ignore_ascii_case(trimmed) || fold_name(land.name()) == folded
            })
            .ok_or_else(|| CalendarError::UnknownLand(s.to_owned()))
    }
}

impl TryFrom<String> for Land {
    type Error = CalendarError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// One statutory holiday on its date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Holiday {
    pub date: NaiveDate,
    /// German name, e.g. `"Buß- und Bettag"`.
    pub name: &'static str,
}

/// Easter Sunday in the Gregorian calendar (anonymous Gregorian algorithm, Meeus/Jones/Butcher).
/// `None` only where chrono cannot represent the date.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    // Euclidean division keeps the arithmetic valid for negative (proleptic) years too.
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let (d, e) = (b.div_euclid(4), b.rem_euclid(4));
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    let month = u32::try_from(n / 31).ok()?;
    let day = u32::try_from(n % 31 + 1).ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Buß- und Bettag: the last Wednesday before 23 November, i.e. 16–22 November.
pub fn day_of_repentance(year: i32) -> Option<NaiveDate> {
    let nov_22 = NaiveDate::from_ymd_opt(year, 11, 22)?;
    // Wednesday is day 2 counted from Monday; step back to it.
    let back = (i64::from(nov_22.weekday().num_days_from_monday()) - 2).rem_euclid(7);
    nov_22.checked_sub_days(Days::new(back.unsigned_abs()))
}

enum Rule {
    Fixed(u32, u32),
    /// Days after (or before, if negative) Easter Sunday.
    Easter(i64),
    Repentance,
}

struct Def {
    name: &'static str,
    rule: Rule,
    applies: fn(Land, i32) -> bool,
}

const fn def(name: &'static str, rule: Rule, applies: fn(Land, i32) -> bool) -> Def {
    Def {
        name,
        rule,
        applies,
    }
}

/// Every statutory holiday, in calendar order, with the Länder and years it applies to.
const DEFS: &[Def] = &[
    def("Neujahr", Fixed(1, 1), |_, _| true),
    def("Heilige Drei Könige", Fixed(1, 6), |l, _| {
        matches!(l, BW | BY | ST)
    }),
    def("Internationaler Frauentag", Fixed(3, 8), |l, y| {
        (l == BE && y >= 2019) || (l == MV && y >= 2023)
    }),
    def("Karfreitag", Easter(-2), |_, _| true),
    // Sundays anyway; listed so that `holiday_name` is right in the two Länder that declare them.
    def("Ostersonntag", Easter(0), |l, _| matches!(l, BB | HE)),
    def("Ostermontag", Easter(1), |_, _| true),
    def("Tag der Arbeit", Fixed(5, 1), |_, _| true),
    def("Tag der Befreiung", Fixed(5, 8), |l, y| {
        l == BE && (y == 2020 || y == 2025)
    }),
    def("Christi Himmelfahrt", Easter(39), |_, _| true),
    def("Pfingstsonntag", Easter(49), |l, _| matches!(l, BB | HE)),
    def("Pfingstmontag", Easter(50), |_, _| true),
    def(
        "Jahrestag des Volksaufstandes vom 17. Juni 1953",
        Fixed(6, 17),
        |l, y| l == BE && y == 2028,
    ),
    def("Fronleichnam", Easter(60), |l, _| {
        matches!(l, BW | BY | HE | NW | RP | SL)
    }),
    def("Mariä Himmelfahrt", Fixed(8, 15), |l, _| l == SL),
    def("Weltkindertag", Fixed(9, 20), |l, y| l == TH && y >= 2019),
    def("Tag der Deutschen Einheit", Fixed(10, 3), |_, _| true),
    // 2017: nationwide once, for the 500th anniversary.
    def("Reformationstag", Fixed(10, 31), |l, y| {
        y == 2017
            || matches!(l, BB | MV | SN | ST | TH)
            || (y >= 2018 && matches!(l, HB | HH | NI | SH))
    }),
    def("Allerheiligen", Fixed(11, 1), |l, _| {
        matches!(l, BW | BY | NW | RP | SL)
    }),
    def("Buß- und Bettag", Repentance, |l, _| l == SN),
    def("1. Weihnachtsfeiertag", Fixed(12, 25), |_, _| true),
    def("2. Weihnachtsfeiertag", Fixed(12, 26), |_, _| true),
];

/// Walks the holidays of `land` in `year`, computing Easter once.
fn each_holiday(land: Land, year: i32) -> impl Iterator<Item = Holiday> {
    let easter = easter_sunday(year);
    DEFS.iter()
        .filter(move |def| (def.applies)(land, year))
        .filter_map(move |def| {
            let date = match def.rule {
                Fixed(month, day) => NaiveDate::from_ymd_opt(year, month, day),
                Easter(offset) => {
                    easter.and_then(|e| e.checked_add_signed(chrono::TimeDelta::days(offset)))
                }
                Repentance => day_of_repentance(year),
            }?;
            Some(Holiday {
                date,
                name: def.name,
            })
        })
}

/// All statutory holidays of `land` in `year`, sorted by date.
pub fn holidays(land: Land, year: i32) -> Vec<Holiday> {
    let mut all: Vec<Holiday> = each_holiday(land, year).collect();
    // Easter-based days move between the fixed ones.
    all.sort_by_key(|h| h.date);
    all
}

/// The German name of the statutory holiday on `date` in `land`, if any.
pub fn holiday_name(land: Land, date: NaiveDate) -> Option<&'static str> {
    each_holiday(land, date.year())
        .find(|h| h.date == date)
        .map(|h| h.name)
}

#[cfg(test)]
mod tests {
    use super::super::test_dates::d;
    use super::*;
    use holiday_de::{GermanHoliday, GermanRegion};
    use proptest::prelude::*;

    #[test]
    fn easter_sundays_2017_to_2030() {
        let known = [
            "2017-04-16",
            "2018-04-01",
            "2019-04-21",
            "2020-04-12",
            "2021-04-04",
            "2022-04-17",
            "2023-04-09",
            "2024-03-31",
            "2025-04-20",
            "2026-04-05",
            "2027-03-28",
            "2028-04-16",
            "2029-04-01",
            "2030-04-21",
        ];
        for (year, date) in (2017..).zip(known) {
            assert_eq!(easter_sunday(year), Some(d(date)), "{year}");
        }
        // Extremes of the Gregorian range: 22 March and 25 April.
        assert_eq!(easter_sunday(1818), Some(d("1818-03-22")));
        assert_eq!(easter_sunday(2285), Some(d("2285-03-22")));
        assert_eq!(easter_sunday(1943), Some(d("1943-04-25")));
        assert_eq!(easter_sunday(2038), Some(d("2038-04-25")));
    }

    #[test]
    fn day_of_repentance_2017_to_2030() {
        let known = [
            "2017-11-22",
            "2018-11-21",
            "2019-11-20",
            "2020-11-18",
            "2021-11-17",
            "2022-11-16",
            "2023-11-22",
            "2024-11-20",
            "2025-11-19",
            "2026-11-18",
            "2027-11-17",
            "2028-11-22",
            "2029-11-21",
            "2030-11-20",
        ];
        for (year, date) in (2017..).zip(known) {
            assert_eq!(day_of_repentance(year), Some(d(date)), "{year}");
            assert_eq!(holiday_name(SN, d(date)), Some("Buß- und Bettag"));
            assert_eq!(holiday_name(BE, d(date)), None);
        }
    }

    #[test]
    fn saxony_2026_complete() {
        let got: Vec<(String, &str)> = holidays(SN, 2026)
            .into_iter()
            .map(|h| (h.date.to_string(), h.name))
            .collect();
        let want = [
            ("2026-01-01", "Neujahr"),
            ("2026-04-03", "Karfreitag"),
            ("2026-04-06", "Ostermontag"),
            ("2026-05-01", "Tag der Arbeit"),
            ("2026-05-14", "Christi Himmelfahrt"),
            ("2026-05-25", "Pfingstmontag"),
            ("2026-10-03", "Tag der Deutschen Einheit"),
            ("2026-10-31", "Reformationstag"),
            ("2026-11-18", "Buß- und Bettag"),
            ("2026-12-25", "1. Weihnachtsfeiertag"),
            ("2026-12-26", "2. Weihnachtsfeiertag"),
        ];
        let want: Vec<(String, &str)> = want.iter().map(|(a, b)| (a.to_string(), *b)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn regional_changes_by_year() {
        assert_eq!(holiday_name(BY, d("2017-10-31")), Some("Reformationstag"));
        assert_eq!(holiday_name(BY, d("2018-10-31")), None);
        assert_eq!(holiday_name(NI, d("2018-10-31")), Some("Reformationstag"));
        assert_eq!(holiday_name(BE, d("2018-03-08")), None);
        assert_eq!(
            holiday_name(BE, d("2019-03-08")),
            Some("Internationaler Frauentag")
        );
        assert_eq!(holiday_name(MV, d("2022-03-08")), None);
        assert_eq!(
            holiday_name(MV, d("2023-03-08")),
            Some("Internationaler Frauentag")
        );
        assert_eq!(holiday_name(TH, d("2019-09-20")), Some("Weltkindertag"));
        assert_eq!(holiday_name(TH, d("2018-09-20")), None);
        assert_eq!(
            holiday_name(BW, d("2026-01-06")),
            Some("Heilige Drei Könige")
        );
        assert_eq!(holiday_name(SN, d("2026-01-06")), None);
        assert_eq!(holiday_name(NW, d("2026-06-04")), Some("Fronleichnam"));
        assert_eq!(holiday_name(SN, d("2026-06-04")), None);
        assert_eq!(holiday_name(SL, d("2026-08-15")), Some("Mariä Himmelfahrt"));
        assert_eq!(holiday_name(BY, d("2026-08-15")), None);
        assert_eq!(holiday_name(BB, d("2026-04-05")), Some("Ostersonntag"));
        assert_eq!(holiday_name(SN, d("2026-04-05")), None);
    }

    #[test]
    fn land_parses_codes_and_names() {
        assert_eq!("SN".parse::<Land>(), Ok(SN));
        assert_eq!(" sn ".parse::<Land>(), Ok(SN));
        assert_eq!("Sachsen".parse::<Land>(), Ok(SN));
        assert_eq!("sachsen-anhalt".parse::<Land>(), Ok(ST));
        assert_eq!("Thüringen".parse::<Land>(), Ok(TH));
        assert_eq!("Thueringen".parse::<Land>(), Ok(TH));
        assert_eq!("Baden Württemberg".parse::<Land>(), Ok(BW));
        for land in Land::ALL {
            assert_eq!(land.code().parse::<Land>(), Ok(land));
            assert_eq!(land.name().parse::<Land>(), Ok(land));
            assert_eq!(land.to_string(), land.code());
        }
        let codes: Vec<&str> = Land::ALL.iter().map(|l| l.code()).collect();
        assert_eq!(codes.join(", "), VALID_CODES);
    }

    #[test]
    fn land_error_names_value_and_codes() {
        let err = "Sachsn".parse::<Land>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("„Sachsn“"), "{msg}");
        assert!(msg.contains(VALID_CODES), "{msg}");
        assert!("".parse::<Land>().is_err());
    }

    #[test]
    fn land_serde_round_trip() {
        let land: Land = serde_json::from_str("\"sachsen\"").unwrap();
        assert_eq!(land, SN);
        assert_eq!(serde_json::to_string(&land).unwrap(), "\"SN\"");
        assert!(serde_json::from_str::<Land>("\"XX\"").is_err());
    }

    fn region(land: Land) -> GermanRegion {
        use GermanRegion::*;
        match land {
            BW => BadenWuerttemberg,
            BY => Bayern,
            BE => Berlin,
            BB => Brandenburg,
            HB => Bremen,
            HH => Hamburg,
            HE => Hessen,
            MV => MechlenburgVorpommern,
            NI => Niedersachsen,
            NW => NordrheinWestfalen,
            RP => RheinlandPfalz,
            SL => Saarland,
            SN => Sachsen,
            ST => SachsenAnhalt,
            SH => SchleswigHolstein,
            TH => Thueringen,
        }
    }

    /// Every Land, every year 2000–2100, against holiday_de. Known, deliberate differences: we add
    /// the Sunday holidays of BB and HE and leave out Bavaria's partial Mariä Himmelfahrt.
    #[test]
    fn agrees_with_holiday_de_2000_to_2100() {
        for land in Land::ALL {
            for year in 2000..=2100 {
                let mut ours: Vec<NaiveDate> = holidays(land, year)
                    .into_iter()
                    .filter(|h| !matches!(h.name, "Ostersonntag" | "Pfingstsonntag"))
                    .map(|h| h.date)
                    .collect();
                let mut theirs: Vec<NaiveDate> = region(land)
                    .holiday_dates_in_year(year)
                    .into_iter()
                    .filter(|(_, h)| !(land == BY && *h == GermanHoliday::MariaeHimmelfahrt))
                    .map(|(date, _)| date)
                    .collect();
                ours.sort();
                theirs.sort();
                assert_eq!(ours, theirs, "{land} {year}");
            }
        }
    }

    proptest! {
        #[test]
        fn easter_agrees_with_holiday_de(year in 1583i32..=4099) {
            prop_assert_eq!(easter_sunday(year), GermanHoliday::Ostersonntag.date(year));
        }

        #[test]
        fn repentance_is_wednesday_16_to_22(year in 1900i32..=2200) {
            let date = day_of_repentance(year).unwrap();
            prop_assert_eq!(date.weekday(), chrono::Weekday::Wed);
            prop_assert!((16..=22).contains(&date.day()) && date.month() == 11);
            prop_assert_eq!(Some(date), GermanHoliday::BussUndBettag.date(year));
        }

        #[test]
        fn easter_is_a_sunday_in_range(year in 1900i32..=2200) {
            let date = easter_sunday(year).unwrap();
            prop_assert_eq!(date.weekday(), chrono::Weekday::Sun);
            prop_assert!(date >= NaiveDate::from_ymd_opt(year, 3, 22).unwrap());
            prop_assert!(date <= NaiveDate::from_ymd_opt(year, 4, 25).unwrap());
        }

        #[test]
        fn any_year_is_safe(year in any::<i32>(), land_index in 0usize..16) {
            let land = Land::ALL[land_index];
            for h in holidays(land, year) {
                prop_assert_eq!(holiday_name(land, h.date).is_some(), true);
            }
        }
    }
}
