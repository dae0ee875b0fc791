//! Finds where a plain-text body stops being the writer's own words: quoted replies and
//! forwarded messages (Thunderbird, Gmail, Outlook, Apple Mail header styles), and the original
//! sender of an inline forward. Pure text logic; which sender decides is `rules::mod`'s job.

use crate::domain::Address;
use regex::Regex;
use std::sync::LazyLock;

/// One line of a body with its byte range (line break excluded, `\r` stripped).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    pub start: usize,
    pub end: usize,
    pub text: &'a str,
}

pub(crate) fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive('\n') {
        let body = piece.strip_suffix('\n').unwrap_or(piece);
        let body = body.strip_suffix('\r').unwrap_or(body);
        out.push(Line {
            start,
            end: start + body.len(),
            text: body,
        });
        start += piece.len();
    }
    out
}

// The literal patterns below are fixed and tested, so compiling them cannot fail.
static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(?:-{2,}\s*(?:weitergeleitete nachricht|forwarded message|ursprüngliche nachricht|original message|originalnachricht|ursprüngliche mitteilung)\s*-{2,}|(?:begin forwarded message|anfang der weitergeleiteten nachricht)\s*:)\s*$",
    )
    .expect("literal regex")
});
static OUTLOOK_FROM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*\*?(?:von|from)\s*:\*?\s*\S").expect("literal regex"));
static OUTLOOK_SENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*\*?(?:gesendet|sent|datum|date)\s*:").expect("literal regex")
});
static HEADER_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*\*?(von|from|gesendet|sent|datum|date|an|to|cc|kopie|bcc|betreff|subject|antwort an|reply-to|wichtigkeit|importance|priorität|anlagen|attachments)\s*:\*?[ \t]*(.*)$",
    )
    .expect("literal regex")
});
static REPLY_HEADER_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*(?:am|on)\s").expect("literal regex"));
static REPLY_HEADER_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:schrieb|wrote|hat geschrieben)\b[^\n]{0,200}:\s*$")
        .expect("literal regex")
});
static ADDR_SPEC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
        .expect("literal regex")
});

/// What kind of foreign part starts at a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    /// `>` lines or an "Am … schrieb …:" header: a quoted reply.
    Quote,
    /// A forward separator or an Outlook `Von:`/`Gesendet:` block; headers follow.
    Forward,
}

fn marker_at(lines: &[Line<'_>], i: usize) -> Option<Marker> {
    let t = lines[i].text.trim();
    if t.starts_with('>') {
        return Some(Marker::Quote);
    }
    if SEPARATOR.is_match(t) {
        return Some(Marker::Forward);
    }
    if OUTLOOK_FROM.is_match(t)
        && lines
            .iter()
            .skip(i + 1)
            .take(4)
            .any(|l| OUTLOOK_SENT.is_match(l.text))
    {
        return Some(Marker::Forward);
    }
    if t.len() <= 300 {
        if REPLY_HEADER_START.is_match(t) {
            if REPLY_HEADER_END.is_match(t) {
                return Some(Marker::Quote);
            }
            // Gmail and Outlook wrap long "On … wrote:" headers onto a second line.
            if let Some(next) = lines.get(i + 1) {
                let next = next.text.trim();
                if next.len() <= 200 && !next.is_empty() && REPLY_HEADER_END.is_match(next) {
                    return Some(Marker::Quote);
                }
            }
        } else if REPLY_HEADER_END.is_match(t) && t.len() <= 200 && ends_with_reply_word(t) {
            return Some(Marker::Quote);
        }
    }
    None
}

/// "Anna Beispiel <a@x.test> schrieb:" without a leading "Am …": only when the line ends with it.
fn ends_with_reply_word(t: &str) -> bool {
    let lower = t.to_lowercase();
    let lower = lower.trim_end_matches(':').trim_end();
    lower.ends_with("schrieb") || lower.ends_with("wrote") || lower.ends_with("hat geschrieben")
}

/// Byte offset where the writer's own text ends: the first quoted or forwarded part, or the
/// text length. An underscore rule right above an Outlook block belongs to the block.
pub(crate) fn own_part_end(text: &str) -> usize {
    let ls = lines(text);
    for i in 0..ls.len() {
        if marker_at(&ls, i).is_some() {
            return block_start(&ls, i);
        }
    }
    text.len()
}

fn block_start(ls: &[Line<'_>], i: usize) -> usize {
    let mut j = i;
    while j > 0 && ls[j - 1].text.trim().is_empty() {
        j -= 1;
    }
    if j > 0 {
        let prev = ls[j - 1].text.trim();
        if prev.len() >= 8 && prev.chars().all(|c| c == '_' || c == '-') {
            return ls[j - 1].start;
        }
    }
    ls[i].start
}

/// The writer's own part of a body: everything before the first quoted or forwarded part.
pub(crate) fn own_part(text: &str) -> &str {
    &text[..own_part_end(text)]
}

/// A forwarded message found inline in a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForwardBlock<'a> {
    /// The original sender from the block's `Von:`/`From:` header, when it carries an address.
    pub from: Option<Address>,
    /// The forwarded message's body, up to the next quoted or forwarded part (trailing
    /// whitespace trimmed).
    pub body: &'a str,
}

/// All inline forwards in order of appearance (the most recent forward first).
pub(crate) fn forward_blocks(text: &str) -> Vec<ForwardBlock<'_>> {
    let ls = lines(text);
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < ls.len() {
        if marker_at(&ls, i) != Some(Marker::Forward) {
            i += 1;
            continue;
        }
        let (from, body_line) = read_headers(&ls, i);
        // The body runs to the next marker of any kind (a nested forward or a quote).
        let mut end_line = body_line;
        while end_line < ls.len() && marker_at(&ls, end_line).is_none() {
            end_line += 1;
        }
        let body_start = ls.get(body_line).map_or(text.len(), |l| l.start);
        let body_end = if end_line < ls.len() {
            block_start(&ls, end_line).max(body_start)
        } else {
            text.len()
        };
        blocks.push(ForwardBlock {
            from,
            body: text[body_start..body_end].trim_end(),
        });
        i = end_line.max(i + 1);
    }
    blocks
}

/// Reads the header lines of a forward block starting at `marker` (the separator line or the
/// Outlook `Von:` line). Returns the sender and the index of the first body line.
fn read_headers(ls: &[Line<'_>], marker: usize) -> (Option<Address>, usize) {
    let mut i = if HEADER_LINE.is_match(ls[marker].text) {
        marker
    } else {
        marker + 1
    };
    // Apple Mail puts a blank line between "Begin forwarded message:" and the headers.
    while i < ls.len() && i <= marker + 2 && ls[i].text.trim().is_empty() {
        i += 1;
    }
    let mut from = None;
    let mut seen_header = false;
    let limit = (i + 20).min(ls.len());
    while i < limit {
        let t = ls[i].text;
        if t.trim().is_empty() {
            if seen_header {
                // The blank line ending the headers is not part of the body.
                i += 1;
                break;
            }
            i += 1;
            continue;
        }
        match HEADER_LINE.captures(t) {
            Some(c) => {
                seen_header = true;
                let label = c.get(1).map_or("", |m| m.as_str()).to_lowercase();
                if from.is_none() && (label == "von" || label == "from") {
                    let value = c.get(2).map_or("", |m| m.as_str());
                    // A wrapped "Name <\naddr>" continues on the next line.
                    from = parse_address(value).or_else(|| {
                        ls.get(i + 1)
                            .filter(|n| !HEADER_LINE.is_match(n.text))
                            .and_then(|n| parse_address(&format!("{value} {}", n.text)))
                    });
                }
            }
            None if !seen_header => break,
            // Continuation of a wrapped header (long recipient lists).
            None => {}
        }
        i += 1;
    }
    (from, i.min(ls.len()))
}

/// Parses the value of a `Von:`/`From:` line: `Name <addr>`, `"Name" <addr>`, `addr`,
/// `Name [mailto:addr]`, `Name <mailto:addr>`, `addr (Name)`.
pub(crate) fn parse_address(value: &str) -> Option<Address> {
    let value = value.trim().trim_matches('*').trim();
    let m = ADDR_SPEC.find(value)?;
    let addr = m
        .as_str()
        .trim_matches(|c| c == '.' || c == '\'')
        .to_string();
    let before = value[..m.start()]
        .trim_end()
        .trim_end_matches("mailto:")
        .trim_end()
        .trim_end_matches(['<', '['])
        .trim();
    let after = value[m.end()..]
        .trim()
        .trim_start_matches(['>', ']'])
        .trim();
    let name = if !before.is_empty() {
        Some(before)
    } else if after.starts_with('(') && after.ends_with(')') && after.len() > 2 {
        Some(&after[1..after.len() - 1])
    } else {
        None
    };
    let name = name
        .map(|n| n.trim().trim_matches(['"', '\'']).trim().to_string())
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(&addr));
    Some(Address::new(addr, name))
}

/// The original sender of the first inline forward in `text` that names one
/// (Thunderbird, Gmail and Outlook header styles).
pub fn inline_forwarded_from(text: &str) -> Option<Address> {
    forward_blocks(text).into_iter().find_map(|b| b.from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(a: &str) -> Option<String> {
        inline_forwarded_from(a).map(|x| x.addr)
    }

    #[test]
    fn thunderbird_german() {
        let t = "Zur Kenntnis.\n\n-------- Weitergeleitete Nachricht --------\nBetreff: \tWiderspruch\nDatum: \tMon, 2 Mar 2026 10:00:00 +0100\nVon: \tAnna Beispiel <anna.beispiel@caritas-dresden.test>\nAn: \tombudsstelle@jobcenter.test\n\nSehr geehrte Damen und Herren,\n";
        let f = inline_forwarded_from(t).unwrap();
        assert_eq!(f.addr, "anna.beispiel@caritas-dresden.test");
        assert_eq!(f.name.as_deref(), Some("Anna Beispiel"));
        let blocks = forward_blocks(t);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].body, "Sehr geehrte Damen und Herren,");
        assert_eq!(own_part(t), "Zur Kenntnis.\n\n");
    }

    #[test]
    fn gmail_english() {
        let t = "FYI\n\n---------- Forwarded message ---------\nFrom: Anna Beispiel <anna@beratung-mittelpunkt.test>\nDate: Mon, Mar 2, 2026 at 10:00 AM\nSubject: Frage\nTo: <ombudsstelle@jobcenter.test>\n\n\nHallo,\nText\n";
        assert_eq!(addr(t).as_deref(), Some("anna@beratung-mittelpunkt.test"));
        assert_eq!(forward_blocks(t)[0].body, "\nHallo,\nText");
    }

    #[test]
    fn outlook_original_message_with_mailto() {
        let t = "Bitte übernehmen.\r\n\r\n-----Ursprüngliche Nachricht-----\r\nVon: Beispiel, Anna [mailto:anna@diakonie-dresden.test] \r\nGesendet: Montag, 2. März 2026 10:00\r\nAn: Ombudsstelle\r\nBetreff: Mietkaution\r\n\r\nGuten Tag,\r\n";
        let f = inline_forwarded_from(t).unwrap();
        assert_eq!(f.addr, "anna@diakonie-dresden.test");
        assert_eq!(f.name.as_deref(), Some("Beispiel, Anna"));
        assert_eq!(own_part(t), "Bitte übernehmen.\r\n\r\n");
    }

    #[test]
    fn outlook_block_without_separator() {
        let t = "Zur Info\n\n________________________________\nVon: Schuldnerberatung <beratung@caritas-dresden.test>\nGesendet: Montag, 2. März 2026 10:00\nAn: Muster, Max\nBetreff: Herr K.\n\nGuten Tag Herr Muster,\n";
        assert_eq!(addr(t).as_deref(), Some("beratung@caritas-dresden.test"));
        assert_eq!(own_part(t), "Zur Info\n\n");
    }

    #[test]
    fn outlook_english_bold_labels() {
        let t = "see below\n\n*From:* Anna <anna@x.test>\n*Sent:* Monday, March 2, 2026 10:00 AM\n*To:* Max\n\nBody\n";
        assert_eq!(addr(t).as_deref(), Some("anna@x.test"));
    }

    #[test]
    fn apple_mail_forward() {
        let t = "\n\nAnfang der weitergeleiteten Nachricht:\n\nVon: Anna Beispiel <anna@x.test>\nBetreff: Frage\nDatum: 2. März 2026 um 10:00:00 MEZ\nAn: ombudsstelle@jobcenter.test\n\nHallo\n";
        assert_eq!(addr(t).as_deref(), Some("anna@x.test"));
        assert_eq!(forward_blocks(t)[0].body, "Hallo");
    }

    #[test]
    fn plain_address_and_parenthesised_name() {
        assert_eq!(
            parse_address("anna@x.test").unwrap(),
            Address::new("anna@x.test", None)
        );
        assert_eq!(
            parse_address("anna@x.test (Anna Beispiel)").unwrap(),
            Address::new("anna@x.test", Some("Anna Beispiel".into()))
        );
        assert_eq!(
            parse_address("\"Beispiel, Anna\" <anna@x.test>").unwrap(),
            Address::new("anna@x.test", Some("Beispiel, Anna".into()))
        );
        assert_eq!(
            parse_address("Anna <mailto:anna@x.test>").unwrap(),
            Address::new("anna@x.test", Some("Anna".into()))
        );
        assert!(parse_address("Beispiel, Anna").is_none());
    }

    #[test]
    fn outlook_from_without_address_gives_none() {
        let t = "-----Original Message-----\nFrom: Beispiel, Anna\nSent: Monday\nTo: X\n\nBody\n";
        assert_eq!(addr(t), None);
        assert_eq!(forward_blocks(t).len(), 1);
    }

    #[test]
    fn nested_forwards_in_order() {
        let t = "-------- Weitergeleitete Nachricht --------\nVon: Kollege <k@jobcenter.test>\n\nsiehe unten\n\n-------- Weitergeleitete Nachricht --------\nVon: Anna <anna@caritas-dresden.test>\n\nText\n";
        let b = forward_blocks(t);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].from.as_ref().unwrap().addr, "k@jobcenter.test");
        assert_eq!(b[0].body, "siehe unten");
        assert_eq!(
            b[1].from.as_ref().unwrap().addr,
            "anna@caritas-dresden.test"
        );
    }

    #[test]
    fn quotes_end_own_part() {
        assert_eq!(own_part("Danke!\n> alt\n"), "Danke!\n");
        assert_eq!(
            own_part("Danke!\n\nAm 02.03.2026 um 10:00 schrieb Anna Beispiel:\nalt\n"),
            "Danke!\n\n"
        );
        assert_eq!(
            own_part("Thanks\n\nOn Mon, Mar 2, 2026 at 10:00 AM Anna Beispiel <\nanna@x.test> wrote:\n\n> old\n"),
            "Thanks\n\n"
        );
        assert_eq!(
            own_part("Text\nAnna Beispiel <a@x.test> schrieb:\n"),
            "Text\n"
        );
        assert_eq!(
            own_part("Nur Text.\nKeine Zitate.\n"),
            "Nur Text.\nKeine Zitate.\n"
        );
    }

    #[test]
    fn plain_mentions_are_not_forwards() {
        assert_eq!(
            addr("Ich war bei der Caritas, beratung@caritas-dresden.test hat mir geholfen."),
            None
        );
        assert_eq!(addr("Von: mir\nAn: euch\n"), None);
        assert_eq!(addr(""), None);
    }
}
