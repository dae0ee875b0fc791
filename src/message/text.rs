//! The text staff read: the plain-text body parts, or HTML turned into text with html2text (which
//! keeps lists and tables) when a body part exists only as HTML.

use super::headers::truncate_chars;
use super::{attachments, charset, uuencode, Attachment};
use mail_parser::{Message, PartType};
use std::borrow::Cow;

/// Characters per line for converted HTML.
const HTML_WIDTH: usize = 100;

/// html2text's layout gets quadratic in element nesting (100,000 nested `<div>` take ~30 s), so
/// deeper HTML is flattened by mail-parser's simple converter instead.
const MAX_HTML_NESTING: usize = 400;

/// Elements that never contain others, or that browsers close implicitly; they do not add depth.
const NON_NESTING: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "thead", "tbody", "tfoot",
    "colgroup", "caption", "optgroup", "rp", "rt", "!doctype",
];

/// The body text and the files found inside it.
pub(super) struct Body {
    pub text: String,
    /// uuencoded parts in the body list and uuencoded blocks cut out of the text.
    pub uuencoded: Vec<Attachment>,
}

/// Body text of the top-level message (mail-parser's `text_body` list: plain parts, and HTML
/// parts where no plain alternative exists), LF line endings, without NUL, cut to `max_chars`
/// characters. When the plain parts hold no text (an empty or whitespace-only `text/plain`
/// alternative), the HTML alternatives are read instead. Parts in `skip` (a report's status and
/// returned message) are attachments, not text; uuencoded files become attachments too.
pub(super) fn body_text(message: &Message<'_>, skip: &[u32], max_chars: usize) -> Body {
    let mut body = Body {
        text: String::new(),
        uuencoded: Vec::new(),
    };
    append_parts(
        message,
        &message.text_body,
        skip,
        max_chars,
        false,
        &mut body,
    );
    if body.text.trim().is_empty() && message.html_body != message.text_body {
        body.text.clear();
        append_parts(
            message,
            &message.html_body,
            skip,
            max_chars,
            true,
            &mut body,
        );
    }
    let mut out = body.text;
    // One line ending for staff and for the rules' text analysis; NUL never reaches the database.
    if out.contains(['\0', '\r']) {
        out = out
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .replace('\0', "");
    }
    truncate_chars(&mut out, max_chars);
    body.text = out;
    body
}

fn append_parts(
    message: &Message<'_>,
    ids: &[u32],
    skip: &[u32],
    max_chars: usize,
    html_only: bool,
    body: &mut Body,
) {
    let out = &mut body.text;
    for &id in ids {
        // room left, in bytes as an upper bound of characters; stops huge bodies early
        if out.len() > max_chars.saturating_mul(4) {
            break;
        }
        if skip.binary_search(&id).is_ok() {
            continue;
        }
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        if html_only && !matches!(part.body, PartType::Html(_)) {
            // A plain part of the html list was read (blank) in the first pass already.
            continue;
        }
        if attachments::is_uuencoded(part) {
            // Parts mail-parser lists as attachments are decoded by `attachments::collect`.
            if !message.attachments.contains(&id) {
                body.uuencoded
                    .push(attachments::uuencoded_attachment(message, part));
            }
            continue;
        }
        let mut piece = match &part.body {
            PartType::Text(text) => charset::part_text(message, part, text).into_owned(),
            PartType::Html(html) => html_to_text(&charset::part_text(message, part, html)),
            _ => continue,
        };
        if let Some((rest, blocks)) = uuencode::extract(&piece) {
            piece = rest;
            body.uuencoded
                .extend(blocks.into_iter().map(attachments::block_attachment));
        }
        if piece.trim().is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
        out.push_str(&piece);
    }
}

/// HTML to readable text; lists and tables keep their lines, links become footnotes.
pub(super) fn html_to_text(html: &str) -> String {
    if nesting_depth(html) <= MAX_HTML_NESTING {
        // html2text's table layout has panicked on odd input in past releases; one mail must not
        // stop the intake, so a panic counts like an error and falls back below.
        let converted = std::panic::catch_unwind(|| {
            html2text::config::plain().string_from_read(html.as_bytes(), HTML_WIDTH)
        });
        if let Ok(Ok(text)) = converted {
            return trim_line_ends(&text);
        }
    }
    // Too deep, or html2text gave up (e.g. "Output width not wide enough" for deep lists).
    mail_parser::decoders::html::html_to_text(html)
}

/// Tables are padded with spaces to their width; those trailing spaces only get in the way.
fn trim_line_ends(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Upper estimate of element nesting: open tags add one, closing tags remove one, elements that
/// cannot nest are skipped. Linear, no allocation.
fn nesting_depth(html: &str) -> usize {
    let bytes = html.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        let closing = bytes.get(i + 1) == Some(&b'/');
        let start = i + 1 + usize::from(closing);
        // a tag name starts with a letter ("<3" or "a < b" is text)
        if !bytes
            .get(start)
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'!')
        {
            i = start;
            continue;
        }
        let mut end = start + 1;
        while end < bytes.len() && bytes[end].is_ascii_alphanumeric() {
            end += 1;
        }
        i = end;
        let name = &html[start..end];
        if NON_NESTING.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            depth += 1;
            max = max.max(depth);
        }
    }
    max
}

/// The mail's HTML body parts, each decoded.
fn html_parts<'m>(message: &'m Message<'m>) -> impl Iterator<Item = Cow<'m, str>> + 'm {
    message.html_body.iter().filter_map(|&id| {
        let part = message.parts.get(id as usize)?;
        match &part.body {
            PartType::Html(html) => Some(charset::part_text(message, part, html)),
            _ => None,
        }
    })
}

/// Whether [`html_body`] finds something to show, without joining the parts.
pub fn has_html_body(message: &Message<'_>) -> bool {
    html_parts(message).any(|p| !p.trim().is_empty())
}

/// The HTML body parts of a stored mail, decoded and joined (the desk shows them sanitised in a
/// sandboxed frame); None when the mail has no HTML part or cannot be read.
pub fn html_body(message: &Message<'_>) -> Option<String> {
    let out: String = html_parts(message).collect();
    (!out.trim().is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_tables_keep_their_lines() {
        let html = "<p>Guten Tag,</p><ul><li>Bescheid fehlt</li><li>Kein Rückruf</li></ul>\
<table><tr><td>01.02.2026</td><td>Antrag</td></tr><tr><td>15.02.2026</td><td>Keine Antwort</td></tr></table>";
        let text = html_to_text(html);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines
            .iter()
            .any(|l| l.contains("Bescheid fehlt") && !l.contains("Rückruf")));
        assert!(lines.iter().any(|l| l.contains("Kein Rückruf")));
        assert!(lines
            .iter()
            .any(|l| l.contains("01.02.2026") && l.contains("Antrag")));
        assert!(lines.iter().any(|l| l.contains("15.02.2026")));
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn nesting_estimate() {
        assert_eq!(nesting_depth("<div><p>a<p>b<br><div>c</div></div>"), 2);
        assert_eq!(nesting_depth("a < b and c<3"), 0);
        assert_eq!(nesting_depth("<"), 0);
        assert_eq!(nesting_depth("</div></div><b>"), 1);
        assert_eq!(nesting_depth(&"<ul><li>".repeat(50)), 50);
    }

    /// Deep HTML never reaches html2text's layout (quadratic in nesting): the linear estimate
    /// sends it to the simple converter. Count-based, no wall clock.
    #[test]
    fn deep_html_falls_back_to_the_linear_converter() {
        for (html, depth) in [
            (
                format!("{}x{}", "<div>".repeat(100_000), "</div>".repeat(100_000)),
                100_000,
            ),
            (format!("{}x", "<ul><li>".repeat(20_000)), 20_000),
            (format!("{}x", "<b>".repeat(100_000)), 100_000),
        ] {
            assert_eq!(nesting_depth(&html), depth);
            assert!(depth > MAX_HTML_NESTING);
            let text = html_to_text(&html);
            assert!(text.contains('x'));
        }
        // The bound itself: just at the limit html2text still lays it out.
        let at_limit = format!(
            "{}tief{}",
            "<div>".repeat(MAX_HTML_NESTING),
            "</div>".repeat(MAX_HTML_NESTING)
        );
        assert_eq!(nesting_depth(&at_limit), MAX_HTML_NESTING);
    }

    #[test]
    fn moderately_deep_lists_still_convert() {
        let html = format!("{}tief", "<ul><li>".repeat(60));
        assert!(html_to_text(&html).contains("tief"));
    }
}
