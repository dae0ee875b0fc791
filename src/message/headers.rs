//! Reads the top-level header fields into our own types and makes every value safe to reuse in
//! outgoing headers (one line, no control characters). Where a field repeats, the first wins.

use super::charset;
use crate::calendar;
use crate::domain::Address;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone};
use mail_parser::{Header, HeaderName, HeaderValue, Message};

/// Longest subject we keep, the RFC 5322 line limit.
const MAX_SUBJECT_CHARS: usize = 998;

/// Makes a value safe for our own outgoing headers: CR, LF, TAB and other whitespace become one
/// space, NUL and other control characters are removed, runs of whitespace collapse, ends trimmed.
pub fn sanitize_header_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else if c.is_control() {
            continue;
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Cuts `s` to at most `max` characters, on a character boundary.
pub(super) fn truncate_chars(s: &mut String, max: usize) {
    if let Some((idx, _)) = s.char_indices().nth(max) {
        s.truncate(idx);
    }
}

/// `<id>` with whitespace, control characters and stray angle brackets removed; None when empty.
/// The longest Message-ID kept, brackets included: RFC 5322's line limit.
pub const MAX_MESSAGE_ID_BYTES: usize = 998;

pub(super) fn normalize_message_id(id: &str) -> Option<String> {
    let inner: String = id
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '<' && *c != '>')
        .collect();
    // Longer than a header line may be (RFC 5322: 998 octets with the brackets): not an id but
    // an attack or garbage; kept, it would exceed the database's index entry limit and stop
    // the intake (found by an outside try). The mail counts as one without it.
    if inner.is_empty() || inner.len() > MAX_MESSAGE_ID_BYTES - 2 {
        None
    } else {
        Some(format!("<{inner}>"))
    }
}

fn to_address(addr: &mail_parser::Addr<'_>) -> Option<Address> {
    let raw = addr.address()?;
    let cleaned = sanitize_header_value(raw);
    let cleaned = cleaned
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(&cleaned)
        .trim();
    if cleaned.is_empty() {
        return None;
    }
    let name = addr
        .name()
        .map(sanitize_header_value)
        .filter(|n| !n.is_empty());
    Some(Address::new(cleaned, name))
}

/// Every address of a list or of all groups, in order.
pub(super) fn flatten(value: &mail_parser::Address<'_>) -> Vec<Address> {
    match value {
        mail_parser::Address::List(list) => list.iter().filter_map(to_address).collect(),
        mail_parser::Address::Group(groups) => groups
            .iter()
            .flat_map(|g| g.addresses.iter())
            .filter_map(to_address)
            .collect(),
    }
}

/// First address of a header value (From with several addresses → the first).
pub(super) fn first_address(value: &HeaderValue<'_>) -> Option<Address> {
    value
        .as_address()
        .and_then(|a| flatten(a).into_iter().next())
}

fn to_chrono(dt: &mail_parser::DateTime) -> Option<DateTime<FixedOffset>> {
    let offset_secs = i32::from(dt.tz_hour) * 3600 + i32::from(dt.tz_minute) * 60;
    let offset = if dt.tz_before_gmt {
        FixedOffset::west_opt(offset_secs)?
    } else {
        FixedOffset::east_opt(offset_secs)?
    };
    // A leap second (":60") is read as the last second of the minute.
    let naive = NaiveDate::from_ymd_opt(i32::from(dt.year), dt.month.into(), dt.day.into())?
        .and_hms_opt(
            dt.hour.into(),
            dt.minute.into(),
            u32::from(dt.second.min(59)),
        )?;
    offset.from_local_datetime(&naive).single()
}

/// The parsed date if it says what the header says and lies in [`calendar::DATE_YEARS`].
/// mail-parser reads at most four year digits (`99999` becomes 9999) and maps two-digit years
/// as RFC 5322 asks (`00` becomes 2000) — also a written `0000`. So the year as written is
/// checked against the parsed one.
fn usable_date(parsed: &mail_parser::DateTime, raw: &str) -> Option<DateTime<FixedOffset>> {
    match written_year(raw) {
        // Two digits: RFC 5322's obsolete years, read as it says.
        Some(y) if y.len() <= 2 => {}
        Some(y) if y.len() == 4 && y.parse::<u16>().ok() == Some(parsed.year) => {}
        // Three digits (RFC 5322 would add 1900, mail-parser does not), five or more, or a
        // four-digit year that the parser read otherwise.
        Some(_) => return None,
        None => {}
    }
    let dt = to_chrono(parsed)?;
    (calendar::DATE_YEARS.contains(&dt.year()) && calendar::is_showable(dt.to_utc())).then_some(dt)
}

/// The year token of an RFC 5322 date as written: the number after the month name
/// (`[day-of-week ,] day month year time zone`), comments removed. `None` when the value has no
/// month name followed by digits (a form mail-parser may still read).
fn written_year(raw: &str) -> Option<&str> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    // Comments may hold anything, digits included; they end the interesting part.
    let head = raw.split('(').next().unwrap_or(raw);
    let mut tokens = head
        .split(|c: char| c.is_whitespace() || c == ',' || c == '-')
        .filter(|t| !t.is_empty());
    tokens.find(|t| {
        t.get(..3)
            .is_some_and(|m| MONTHS.contains(&m.to_ascii_lowercase().as_str()))
            && t.chars().all(|c| c.is_ascii_alphabetic())
    })?;
    tokens
        .next()
        .filter(|y| !y.is_empty() && y.bytes().all(|b| b.is_ascii_digit()))
}

/// Where a sender address came from when `From:` had none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderSource {
    /// The `Sender:` field.
    SenderHeader,
    /// The mbox `From ` line before the header.
    Envelope,
    /// The `Return-Path:` field (the envelope sender the last server saw).
    ReturnPath,
}

impl SenderSource {
    /// German, for staff: where the address was read.
    pub fn label(self) -> &'static str {
        match self {
            SenderSource::SenderHeader => "Kopfzeile Sender",
            SenderSource::Envelope => "Umschlagzeile „From “ (mbox)",
            SenderSource::ReturnPath => "Kopfzeile Return-Path",
        }
    }
}

/// `local@domain` with nothing odd in it; the daemon names never answer.
fn is_plausible_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !a.contains(|c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\"".contains(c))
        && !local.eq_ignore_ascii_case("mailer-daemon")
}

/// The address of an mbox envelope line `From addr date…` at the start of `raw`.
fn envelope_sender(raw: &[u8]) -> Option<Address> {
    let line = raw.strip_prefix(b"From ")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let line = std::str::from_utf8(line).ok()?;
    let addr = line.split_whitespace().next()?;
    let addr = addr.trim_start_matches('<').trim_end_matches('>');
    is_plausible_address(addr).then(|| Address::new(addr, None))
}

/// The header fields of the top-level part, with the raw bytes their offsets point into.
pub(super) struct TopHeaders<'a, 'x> {
    headers: &'a [Header<'x>],
    raw: &'a [u8],
}

impl<'a, 'x> TopHeaders<'a, 'x> {
    pub(super) fn new(message: &'a Message<'x>) -> Self {
        TopHeaders {
            headers: message
                .parts
                .first()
                .map(|p| p.headers.as_slice())
                .unwrap_or_default(),
            raw: message.raw_message.as_ref(),
        }
    }

    pub(super) fn all(&self, name: &'a str) -> impl Iterator<Item = &'a Header<'x>> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.as_str().eq_ignore_ascii_case(name))
    }

    pub(super) fn first(&self, name: &str) -> Option<&'a Header<'x>> {
        self.headers
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.first(name).is_some()
    }

    /// The field's value as written (unfolded, sanitised), for fields mail-parser interprets.
    pub(super) fn raw_value_of(&self, header: &Header<'_>) -> String {
        let bytes = self
            .raw
            .get(header.offset_start as usize..header.offset_end as usize)
            .unwrap_or_default();
        sanitize_header_value(&String::from_utf8_lossy(bytes))
    }

    /// The field's value bytes as written, folding kept.
    fn raw_bytes_of(&self, header: &Header<'_>) -> &'a [u8] {
        self.raw
            .get(header.offset_start as usize..header.offset_end as usize)
            .unwrap_or_default()
    }

    pub(super) fn raw_value(&self, name: &str) -> Option<String> {
        self.first(name).map(|h| self.raw_value_of(h))
    }

    /// The first address of the first `From:` field that has one (a second, unparseable From
    /// does not hide a good one).
    pub(super) fn from(&self) -> Option<Address> {
        self.all(HeaderName::From.as_str())
            .find_map(|h| first_address(&h.value))
    }

    /// The sender when `From:` has none: `Sender:`, else the mbox envelope line of `raw`, else a
    /// non-empty `Return-Path:`; with where it came from.
    pub(super) fn inferred_sender(&self, raw: &[u8]) -> Option<(Address, SenderSource)> {
        if let Some(a) = self
            .all(HeaderName::Sender.as_str())
            .find_map(|h| first_address(&h.value))
        {
            return Some((a, SenderSource::SenderHeader));
        }
        if let Some(a) = envelope_sender(raw) {
            return Some((a, SenderSource::Envelope));
        }
        self.return_path()
            .filter(|a| is_plausible_address(a))
            .map(|a| (Address::new(&a, None), SenderSource::ReturnPath))
    }

    pub(super) fn addresses(&self, name: HeaderName<'_>) -> Vec<Address> {
        self.all(name.as_static_str())
            .filter_map(|h| h.value.as_address())
            .flat_map(flatten)
            .collect()
    }

    pub(super) fn subject(&self) -> Option<String> {
        let header = self.first(HeaderName::Subject.as_str())?;
        let parsed = header.value.as_text()?;
        let raw = self.raw_bytes_of(header);
        // Charsets mail-parser does not know: encoded words with such a label, or raw 8-bit
        // text that is not UTF-8 (mail-parser's lossy reading holds U+FFFD then).
        let garbled = parsed.contains('\u{FFFD}');
        let redone = if garbled && std::str::from_utf8(raw).is_err() {
            Some(charset::decode(None, raw))
        } else {
            charset::decode_header_words(&String::from_utf8_lossy(raw), garbled)
        };
        let mut subject = sanitize_header_value(redone.as_deref().unwrap_or(parsed));
        truncate_chars(&mut subject, MAX_SUBJECT_CHARS);
        Some(subject).filter(|s| !s.is_empty())
    }

    pub(super) fn message_id(&self) -> Option<String> {
        self.ids(HeaderName::MessageId).into_iter().next()
    }

    pub(super) fn ids(&self, name: HeaderName<'_>) -> Vec<String> {
        let mut out = Vec::new();
        for header in self.all(name.as_static_str()) {
            match &header.value {
                HeaderValue::Text(id) => out.extend(normalize_message_id(id)),
                HeaderValue::TextList(ids) => {
                    out.extend(ids.iter().filter_map(|id| normalize_message_id(id)))
                }
                _ => {}
            }
            if name == HeaderName::MessageId && !out.is_empty() {
                break;
            }
        }
        out
    }

    /// The sender's date, or `None` when the header is missing or unusable (the raw value is
    /// kept by [`Self::date_raw`]).
    pub(super) fn date(&self) -> Option<DateTime<FixedOffset>> {
        let parsed = self.first(HeaderName::Date.as_str())?.value.as_datetime()?;
        usable_date(parsed, self.date_raw().as_deref().unwrap_or(""))
    }

    pub(super) fn date_raw(&self) -> Option<String> {
        self.raw_value(HeaderName::Date.as_str())
            .filter(|d| !d.is_empty())
    }

    /// The topmost Return-Path (the last hop's envelope sender); `Some("")` for `<>`.
    pub(super) fn return_path(&self) -> Option<String> {
        let value = self.raw_value(HeaderName::ReturnPath.as_str())?;
        let addr = match value.strip_prefix('<') {
            Some(rest) => rest.split('>').next().unwrap_or_default(),
            None => value.split_whitespace().next().unwrap_or_default(),
        };
        Some(addr.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn parse(raw: &str) -> Message<'_> {
        MessageParser::default().parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn sanitize_makes_one_line() {
        assert_eq!(
            sanitize_header_value("a\r\nBcc: x@evil.test"),
            "a Bcc: x@evil.test"
        );
        assert_eq!(
            sanitize_header_value("  a\t\tb \0c\x07d\u{85}e  "),
            "a b cd e"
        );
        assert_eq!(sanitize_header_value("\r\n"), "");
        assert_eq!(sanitize_header_value("Grüße\u{2028}Zeile"), "Grüße Zeile");
    }

    #[test]
    fn message_ids_get_brackets() {
        assert_eq!(normalize_message_id("abc@x.test").unwrap(), "<abc@x.test>");
        assert_eq!(
            normalize_message_id(" <abc@x.test> ").unwrap(),
            "<abc@x.test>"
        );
        assert_eq!(normalize_message_id("a\r\nb@x").unwrap(), "<ab@x>");
        assert!(normalize_message_id(" <> ").is_none());
        let longest = format!("{}@x.test", "a".repeat(MAX_MESSAGE_ID_BYTES - 9));
        assert_eq!(
            normalize_message_id(&longest).unwrap().len(),
            MAX_MESSAGE_ID_BYTES
        );
        assert!(normalize_message_id(&format!("a{longest}")).is_none());
    }

    #[test]
    fn truncation_on_char_boundary() {
        let mut s = "äöü".repeat(3);
        truncate_chars(&mut s, 4);
        assert_eq!(s, "äöüä");
        let mut short = String::from("ab");
        truncate_chars(&mut short, 10);
        assert_eq!(short, "ab");
    }

    #[test]
    fn groups_are_flattened_and_names_decoded() {
        let m = parse(
            "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@beispiel.test>, other@beispiel.test\n\
To: Team: a@one.test, \"B\" <b@two.test>;, c@three.test\n\
Cc:  <  spaced@beispiel.test >\n\
Subject: x\n\n",
        );
        let top = TopHeaders::new(&m);
        let from = top.from().unwrap();
        assert_eq!(from.addr, "juergen@beispiel.test");
        assert_eq!(from.name.as_deref(), Some("Jürgen Müller"));
        let to: Vec<_> = top
            .addresses(HeaderName::To)
            .into_iter()
            .map(|a| a.addr)
            .collect();
        assert_eq!(to, ["a@one.test", "b@two.test", "c@three.test"]);
        assert_eq!(
            top.addresses(HeaderName::Cc)[0].addr,
            "spaced@beispiel.test"
        );
    }

    #[test]
    fn return_path_forms() {
        let m = parse("Return-Path: <>\nFrom: a@b.test\n\n");
        assert_eq!(TopHeaders::new(&m).return_path().as_deref(), Some(""));
        let m = parse("Return-Path: <x@b.test>\nReturn-Path: <>\nFrom: a@b.test\n\n");
        assert_eq!(
            TopHeaders::new(&m).return_path().as_deref(),
            Some("x@b.test")
        );
        let m = parse("From: a@b.test\n\n");
        assert_eq!(TopHeaders::new(&m).return_path(), None);
    }

    #[test]
    fn dates() {
        let m = parse("From: a@b.test\nDate: Mon, 2 Feb 2026 10:15:00 -0130 (XYZ)\n\n");
        let top = TopHeaders::new(&m);
        let d = top.date().unwrap();
        assert_eq!(d.to_rfc3339(), "2026-02-02T10:15:00-01:30");
        assert_eq!(
            top.date_raw().as_deref(),
            Some("Mon, 2 Feb 2026 10:15:00 -0130 (XYZ)")
        );
        let m = parse("From: a@b.test\nDate: gestern\n\n");
        assert!(TopHeaders::new(&m).date().is_none());
    }

    fn date_of(value: &str) -> (Option<String>, Option<String>) {
        let text = format!("From: a@b.test\nDate: {value}\n\n");
        let m = parse(&text);
        let top = TopHeaders::new(&m);
        (top.date().map(|d| d.to_rfc3339()), top.date_raw())
    }

    #[test]
    fn dates_outside_four_digit_years_are_unknown_and_kept_raw() {
        // The probe's cases: five digits became "+10000-01-01T00:59:59+01:00" in Berlin time,
        // a written 0000 became 2000.
        for value in [
            "Fri, 31 Dec 99999 23:59:59 +0000",
            "Sat, 1 Jan 0000 00:00:00 +0000",
            "Sat, 1 Jan 0099 00:00:00 +0000",
            "Fri, 31 Dec 9999 23:59:59 +0000",
            "Sun, 31 Dec 1899 12:00:00 +0000",
            "Mon, 1 Jan 126 10:00:00 +0000",
        ] {
            let (date, raw) = date_of(value);
            assert_eq!(date, None, "{value}");
            assert_eq!(raw.as_deref(), Some(value));
        }
    }

    #[test]
    fn ordinary_and_two_digit_years_are_read() {
        assert_eq!(
            date_of("2 Feb 2026 10:15:00 +0100").0.as_deref(),
            Some("2026-02-02T10:15:00+01:00")
        );
        assert_eq!(
            date_of("Mon, 02 Feb 26 10:15:00 GMT").0.as_deref(),
            Some("2026-02-02T10:15:00+00:00")
        );
        assert_eq!(
            date_of("Tue, 3 Mar 98 08:00:00 -0500 (a comment 99999)")
                .0
                .as_deref(),
            Some("1998-03-03T08:00:00-05:00")
        );
        assert_eq!(
            date_of("Fri, 31 Dec 9999 12:00:00 +0000").0.as_deref(),
            Some("9999-12-31T12:00:00+00:00")
        );
        assert_eq!(
            date_of("Mon, 1 Jan 1900 12:00:00 +0000").0.as_deref(),
            Some("1900-01-01T12:00:00+00:00")
        );
    }

    #[test]
    fn the_written_year_follows_the_month() {
        assert_eq!(written_year("Mon, 2 Feb 2026 10:15:00 -0130"), Some("2026"));
        assert_eq!(written_year("2-feb-99999 10:15"), Some("99999"));
        assert_eq!(written_year("Mon, 2 Februar 0000"), Some("0000"));
        assert_eq!(written_year("2026-02-02T10:15:00Z"), None);
        assert_eq!(written_year("gestern (Feb 2026)"), None);
    }

    proptest::proptest! {
        /// Whatever year a Date header carries, a date we keep has four digits in UTC and in
        /// Berlin, and its year is the one written (or RFC 5322's reading of two digits).
        #[test]
        fn a_kept_date_is_always_rfc3339_with_the_written_year(
            year in 0u32..200_000,
            width in 0usize..7,
            day in 1u32..32,
            month in 0usize..12,
            hour in 0u32..24,
            zone in -1400i32..1400,
        ) {
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let written = format!("{year:0width$}");
            let value = format!(
                "{day} {} {written} {hour:02}:30:00 {}{:04}",
                MONTHS[month],
                if zone < 0 { '-' } else { '+' },
                zone.unsigned_abs()
            );
            let text = format!("From: a@b.test\nDate: {value}\n\n");
            let m = parse(&text);
            let top = TopHeaders::new(&m);
            if let Some(d) = top.date() {
                let utc = d.to_utc();
                proptest::prop_assert!(calendar::is_showable(utc), "{value}");
                let rfc = d.to_rfc3339();
                proptest::prop_assert!(chrono::DateTime::parse_from_rfc3339(&rfc).is_ok(), "{rfc}");
                proptest::prop_assert!(rfc.as_bytes()[4] == b'-', "{rfc}");
                let expected = match written.len() {
                    1 | 2 if year < 50 => year + 2000,
                    1 | 2 => year + 1900,
                    _ => year,
                };
                proptest::prop_assert_eq!(d.year(), expected as i32, "{}", value);
            }
            proptest::prop_assert_eq!(top.date_raw(), Some(value));
        }
    }
}
