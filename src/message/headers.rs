//! Reads the top-level header fields into our own types and makes every value safe to reuse in
//! outgoing headers (one line, no control characters). Where a field repeats, the first wins.

use super::charset;
use crate::domain::Address;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
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
pub(super) fn normalize_message_id(id: &str) -> Option<String> {
    let inner: String = id
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '<' && *c != '>')
        .collect();
    if inner.is_empty() {
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

    pub(super) fn date(&self) -> Option<DateTime<FixedOffset>> {
        self.first(HeaderName::Date.as_str())?
            .value
            .as_datetime()
            .and_then(to_chrono)
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
}
