//! Finds the writer's signature block: from the last closing formula ("Mit freundlichen Grüßen",
//! "Best regards", …) or the `-- ` delimiter to the first quoted or forwarded part, at most
//! [`MAX_SIGNATURE_LINES`] lines. Without a formula or delimiter there is no signature.

use super::forward::{lines, own_part};
use regex::Regex;
use std::sync::LazyLock;

/// Longest signature block taken, in lines (counted from the closing formula or delimiter).
pub const MAX_SIGNATURE_LINES: usize = 15;

// A fixed, tested pattern: compiling it cannot fail.
static CLOSING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^(?:
            mit\s+(?:\p{L}+\s+){0,2}gr(?:ü|ue|u)(?:ß|ss)(?:en|e)?   # Mit freundlichen Grüßen, Mit freundlichem Gruß
          | (?:\p{L}+\s+){0,4}gr(?:ü|ue)(?:ß|ss)e[n]?              # Viele Grüße, Beste Grüße, Vielen Dank und liebe Grüße
          | (?:\p{L}+\s+){0,2}gru(?:ß|ss)                          # Gruß, Freundlicher Gruß
          | mfg | lg | vg | bg | lgr
          | hochachtungsvoll
          | (?:best|kind|kindest|warm|warmest|many)\s+regards
          | regards
          | best\s+wishes
          | (?:yours\s+)?(?:sincerely|faithfully|truly)
          | cheers
        )\b(?P<rest>.*)$",
    )
    .expect("literal regex")
});

/// Whether a line is a closing formula: the formula at the start of the line, followed by
/// nothing or a short remainder such as a name ("LG Anna", "Viele Grüße aus Striesen").
pub(crate) fn is_closing_formula(line: &str) -> bool {
    let t = line.trim().trim_start_matches(['*', '_']).trim();
    if t.is_empty() || t.len() > 80 || t.ends_with('?') {
        return false;
    }
    let Some(c) = CLOSING.captures(t) else {
        return false;
    };
    let rest = c.name("rest").map_or("", |m| m.as_str());
    if rest.chars().next().is_some_and(char::is_alphanumeric) {
        return false;
    }
    let rest = rest.trim_matches(|c: char| c.is_whitespace() || ",.!;:-–*_".contains(c));
    rest.chars().count() <= 40 && rest.split_whitespace().count() <= 5
}

fn is_delimiter(line: &str) -> bool {
    let t = line.trim_end();
    t == "--" || t == "-- "
}

/// The signature block of the writer's own part of `text`, or `None` when the writer used
/// neither a closing formula nor the `-- ` delimiter. Quoted and forwarded parts never count.
pub fn signature_block(text: &str) -> Option<&str> {
    signature_of_own(own_part(text))
}

/// [`signature_block`] of a text that is the writer's own part already.
pub(crate) fn signature_of_own(own: &str) -> Option<&str> {
    let ls = lines(own);
    let formula = ls.iter().rposition(|l| is_closing_formula(l.text));
    let delimiter = ls.iter().rposition(|l| is_delimiter(l.text));
    let start = match (formula, delimiter) {
        (Some(f), Some(d)) => f.min(d),
        (Some(i), None) | (None, Some(i)) => i,
        (None, None) => return None,
    };
    let last = (start + MAX_SIGNATURE_LINES).min(ls.len());
    let end = (start..last)
        .rev()
        .find(|&i| !ls[i].text.trim().is_empty())?;
    let block = own[ls[start].start..ls[end].end].trim();
    (!block.is_empty()).then_some(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_formulas_german_and_english() {
        for l in [
            "Mit freundlichen Grüßen",
            "Mit freundlichen Grüssen",
            "mit freundlichen Gruessen,",
            "Mit freundlichem Gruß",
            "MfG",
            "MfG Anna",
            "Viele Grüße",
            "Viele Grüße, Anna Beispiel",
            "Beste Grüße aus Striesen",
            "Freundliche Grüße",
            "Herzliche Grüße!",
            "LG",
            "LG Anna",
            "Liebe Grüße",
            "Viele liebe Grüße",
            "Vielen Dank und viele Grüße",
            "Gruß",
            "Gruß Max",
            "Hochachtungsvoll",
            "Best regards",
            "Kind regards,",
            "Regards",
            "Best wishes",
            "Yours sincerely",
            "Cheers",
            "  *Mit freundlichen Grüßen*",
        ] {
            assert!(is_closing_formula(l), "{l}");
        }
        for l in [
            "",
            "Grußwort des Bürgermeisters",
            "Die Grüße von Herrn X habe ich gestern im Amt ausgerichtet.",
            "Viele Grüße?",
            "Lgbt",
            "Mitteilung",
            "Ich schreibe Ihnen mit freundlichen Grüßen meiner Beraterin.",
            "Regardless of that",
            "Gruppe",
        ] {
            assert!(!is_closing_formula(l), "{l}");
        }
    }

    #[test]
    fn signature_from_last_formula() {
        let t = "Sehr geehrte Damen und Herren,\nViele Grüße an Frau X.\nText.\n\nMit freundlichen Grüßen\nAnna Beispiel\nSchuldnerberatung\nCaritasverband für Dresden e.V.\n\n";
        assert_eq!(
            signature_block(t),
            Some("Mit freundlichen Grüßen\nAnna Beispiel\nSchuldnerberatung\nCaritasverband für Dresden e.V.")
        );
    }

    #[test]
    fn english_signature() {
        let t = "Dear Sir or Madam,\nplease see attached.\n\nKind regards\nAnna Example\nMigrationsberatung\n";
        assert_eq!(
            signature_block(t),
            Some("Kind regards\nAnna Example\nMigrationsberatung")
        );
    }

    #[test]
    fn dash_dash_delimiter_alone() {
        let t = "Bitte rufen Sie zurück.\n-- \nBeratungsstelle Mittelpunkt\nTel. 0351 000000\n";
        assert_eq!(
            signature_block(t),
            Some("-- \nBeratungsstelle Mittelpunkt\nTel. 0351 000000")
        );
    }

    #[test]
    fn formula_before_delimiter_starts_at_formula() {
        let t = "Text\n\nViele Grüße\nAnna\n-- \nDiakonie Wohnungsnotfallhilfe\n";
        assert_eq!(
            signature_block(t),
            Some("Viele Grüße\nAnna\n-- \nDiakonie Wohnungsnotfallhilfe")
        );
    }

    #[test]
    fn delimiter_before_formula_starts_at_delimiter() {
        let t = "Text\n--\nSozialdienst Klinikum\nHerzliche Grüße vom Team\n";
        assert_eq!(
            signature_block(t),
            Some("--\nSozialdienst Klinikum\nHerzliche Grüße vom Team")
        );
    }

    #[test]
    fn no_formula_means_no_signature() {
        assert_eq!(
            signature_block("Ich war bei der Schuldnerberatung der Caritas.\nMax Muster\n"),
            None
        );
        assert_eq!(signature_block(""), None);
        assert_eq!(signature_block("\n\n\n"), None);
    }

    #[test]
    fn mention_in_body_is_not_signature() {
        let t = "Guten Tag,\ndie Schuldnerberatung der Caritas hat mir geraten, Ihnen zu schreiben.\n\nMit freundlichen Grüßen\nMax Muster\n";
        let s = signature_block(t).unwrap();
        assert_eq!(s, "Mit freundlichen Grüßen\nMax Muster");
        assert!(!s.contains("Caritas"));
    }

    #[test]
    fn top_posted_reply_quoted_signature_does_not_count() {
        let t = "Danke für die Info!\n\nGruß Max\n\nAm 02.03.2026 um 10:00 schrieb Schuldnerberatung:\n> Guten Tag,\n>\n> Mit freundlichen Grüßen\n> Anna Beispiel\n> Caritas Schuldnerberatung\n";
        assert_eq!(signature_block(t), Some("Gruß Max"));
        let t2 = "Danke!\n\nAm 02.03.2026 um 10:00 schrieb Schuldnerberatung:\n> Mit freundlichen Grüßen\n> Caritas Schuldnerberatung\n";
        assert_eq!(signature_block(t2), None);
    }

    #[test]
    fn outlook_top_post_without_quote_marks() {
        let t = "Ok, danke.\n\n________________________________\nVon: Schuldnerberatung <beratung@caritas-dresden.test>\nGesendet: Montag, 2. März 2026 10:00\nAn: Max\n\nMit freundlichen Grüßen\nAnna Beispiel\nCaritas Schuldnerberatung\n";
        assert_eq!(signature_block(t), None);
    }

    #[test]
    fn forwarded_part_is_not_the_writers_signature() {
        let t = "Zur Kenntnis\n\n---------- Forwarded message ---------\nFrom: Anna <anna@x.test>\nDate: today\n\nBest regards\nAnna\nSchuldnerberatung\n";
        assert_eq!(signature_block(t), None);
    }

    #[test]
    fn capped_at_fifteen_lines() {
        let mut t = String::from("Text\nViele Grüße\n");
        for i in 0..40 {
            t.push_str(&format!("Zeile {i}\n"));
        }
        let s = signature_block(&t).unwrap();
        assert_eq!(s.lines().count(), MAX_SIGNATURE_LINES);
        assert!(s.ends_with("Zeile 13"));
    }

    #[test]
    fn last_formula_wins() {
        let t = "Viele Grüße soll ich von Anna ausrichten\nText\nLG\nMax\n";
        assert_eq!(signature_block(t), Some("LG\nMax"));
    }

    #[test]
    fn crlf_line_endings() {
        let t = "Text\r\n\r\nMit freundlichen Grüßen\r\nAnna\r\nBeratungsstelle Mittelpunkt\r\n";
        assert_eq!(
            signature_block(t),
            Some("Mit freundlichen Grüßen\r\nAnna\r\nBeratungsstelle Mittelpunkt")
        );
    }

    mod props {
        use super::super::*;
        use crate::rules::forward::{forward_blocks, inline_forwarded_from};
        use proptest::prelude::*;

        fn mail_line() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("Viele Grüße".to_string()),
                Just("Mit freundlichen Grüßen".to_string()),
                Just("-- ".to_string()),
                Just("> zitiert".to_string()),
                Just("Am 1.3.2026 schrieb X:".to_string()),
                Just("Von: Anna <anna@x.test>".to_string()),
                Just("Gesendet: Montag".to_string()),
                Just("-------- Weitergeleitete Nachricht --------".to_string()),
                Just(String::new()),
                "[a-zA-Zäöüß@<>.: -]{0,30}",
            ]
        }

        proptest! {
            #[test]
            fn arbitrary_text_never_panics(s in "(?s).{0,300}") {
                let _ = signature_block(&s);
                let _ = inline_forwarded_from(&s);
                let _ = forward_blocks(&s);
            }

            #[test]
            fn signature_is_a_short_piece_of_the_own_part(lines in prop::collection::vec(mail_line(), 0..40), crlf in any::<bool>()) {
                let text = lines.join(if crlf { "\r\n" } else { "\n" });
                if let Some(sig) = signature_block(&text) {
                    prop_assert!(own_part(&text).contains(sig));
                    prop_assert!(sig.lines().count() <= MAX_SIGNATURE_LINES);
                    prop_assert!(!sig.trim().is_empty());
                }
                for b in forward_blocks(&text) {
                    prop_assert!(text.contains(b.body));
                }
            }
        }
    }
}
