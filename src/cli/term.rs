//! The CLI's terminal writer: every human-readable line the CLI prints goes through here, so
//! that text taken from a mail or a rules file cannot steer the terminal. Control characters
//! other than newline and tab (C0, DEL, C1) and the bidirectional overrides and isolates are
//! shown as escapes (`\x1b`, `\u202e`); JSON keeps its own escaping, with those characters
//! written as `\u` escapes. The shared views stay raw: the desk escapes for HTML on its own.

use std::io::Write;

// The pure part lives in `domain::text`, so that the report and the desk produce the same bytes
// as the CLI without depending on it.
pub use crate::domain::text::{json_safe, neutralise};

/// How many characters the text takes once neutralised (for aligning table columns).
pub fn shown_width(s: &str) -> usize {
    neutralise(s).chars().count()
}

/// Writes to stdout, neutralised. A closed pipe (`| head`) ends output quietly.
pub fn write_out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(neutralise(s).as_bytes());
}

/// Writes to stderr, neutralised.
pub fn write_err(s: &str) {
    let mut o = std::io::stderr().lock();
    let _ = o.write_all(neutralise(s).as_bytes());
}

/// Prints a JSON document (one value) and a newline.
pub fn write_json(json: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(json_safe(json).as_bytes());
    let _ = o.write_all(b"\n");
}

/// Pretty-printed JSON of a value, through [`write_json`].
pub fn print_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<(), serde_json::Error> {
    write_json(&serde_json::to_string_pretty(v)?);
    Ok(())
}

/// `println!` through the writer.
macro_rules! outln {
    () => { $crate::cli::term::write_out("\n") };
    ($($t:tt)*) => {{
        let mut s = format!($($t)*);
        s.push('\n');
        $crate::cli::term::write_out(&s)
    }};
}

/// `print!` through the writer.
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::term::write_out(&format!($($t)*)) };
}

/// `eprintln!` through the writer.
macro_rules! errln {
    ($($t:tt)*) => {{
        let mut s = format!($($t)*);
        s.push('\n');
        $crate::cli::term::write_err(&s)
    }};
}

pub(crate) use {errln, out, outln};

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    const PAYLOAD: &str = "Body \x1b[2J\x1b]8;;http://evil\x07link\x1b]8;;\x07";

    #[test]
    fn escapes_and_hyperlinks_are_shown_not_acted_on() {
        let n = neutralise(PAYLOAD);
        assert_eq!(
            n,
            "Body \\x1b[2J\\x1b]8;;http://evil\\x07link\\x1b]8;;\\x07"
        );
        assert!(!n.contains('\x1b') && !n.contains('\x07'));
    }

    #[test]
    fn bidi_overrides_and_isolates_are_shown() {
        assert_eq!(neutralise("rech\u{202e}gnu.exe"), "rech\\u202egnu.exe");
        for c in [
            '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{2066}', '\u{2069}',
        ] {
            let s = c.to_string();
            let n = neutralise(&s);
            assert_eq!(n, format!("\\u{:04x}", u32::from(c)));
        }
    }

    #[test]
    fn c1_del_and_lone_cr_are_shown() {
        assert_eq!(neutralise("a\u{9b}31mb"), "a\\x9b31mb");
        assert_eq!(neutralise("a\u{7f}b"), "a\\x7fb");
        assert_eq!(neutralise("echt\rfalsch"), "echt\\x0dfalsch");
        assert_eq!(neutralise("a\0b"), "a\\x00b");
    }

    #[test]
    fn newline_tab_crlf_and_umlauts_stay() {
        let s = "Grüße\tÄrger\nzweite Zeile – „Zitat“ 🙂";
        assert!(matches!(neutralise(s), Cow::Borrowed(_)));
        assert_eq!(neutralise("a\r\nb\r\n"), "a\nb\n");
        // Other format characters (zero-width joiner, marks) are not overrides.
        assert_eq!(neutralise("a\u{200d}b\u{200f}"), "a\u{200d}b\u{200f}");
    }

    #[test]
    fn width_counts_the_shown_text() {
        assert_eq!(shown_width("a\x1bb"), 6);
        assert_eq!(shown_width("äö"), 2);
    }

    #[test]
    fn json_keeps_its_value_and_escapes_what_a_terminal_acts_on() {
        let v = serde_json::json!({
            "body": PAYLOAD,
            "name": "Mei\u{202e}er\u{9b}",
            "ok": "Grüße\n",
        });
        let raw = serde_json::to_string_pretty(&v).unwrap();
        let safe = json_safe(&raw);
        assert!(!safe.contains('\x1b') && !safe.contains('\x07'));
        assert!(!safe.contains('\u{202e}') && !safe.contains('\u{9b}'));
        assert!(safe.contains("\\u202e") && safe.contains("\\u009b"));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }
}
