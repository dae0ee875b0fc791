//! Text as it may reach a terminal: control characters (C0 but newline and tab, DEL, C1) and
//! the bidirectional overrides and isolates shown as escapes. Pure; the CLI's writer
//! (`cli::term`) and the report's outputs (which the desk serves as downloads) use it.

use std::borrow::Cow;

/// Bidirectional embeddings/overrides (U+202A–U+202E) and isolates (U+2066–U+2069): they
/// reorder what follows them on the line.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// C0 (except newline and tab), DEL and C1.
fn is_control(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{80}'..='\u{9f}')
}

fn needs_escape(c: char) -> bool {
    is_control(c) || is_bidi_control(c)
}

/// The text as it may reach a terminal. A CR before LF is a line ending and is dropped; any
/// other CR is shown as `\r` (it would let a line overwrite itself).
pub fn neutralise(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue;
        }
        if is_bidi_control(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else if is_control(c) {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A CSV field a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return) gets a leading apostrophe, so that it is shown as text (the OWASP advice
/// for CSV injection). Every CSV the product writes passes its text fields through this.
pub fn spreadsheet_text(s: &str) -> Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Serialised JSON with the characters a terminal would act on written as `\uXXXX`. serde_json
/// already escapes C0; it leaves DEL, C1 and the bidi controls raw. Those can only stand inside
/// JSON strings, where the escape means the same character, so the document keeps its value.
pub fn json_safe(json: &str) -> Cow<'_, str> {
    if !json.chars().any(needs_escape) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        // Newline and tab outside strings are JSON whitespace (pretty printing); inside strings
        // serde_json has already escaped them.
        if needs_escape(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}
