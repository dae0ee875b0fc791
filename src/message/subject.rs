//! Finds our case number in a subject so a reply joins its case. `KRM-YYYY-NNNNN` counts as a
//! whole word anywhere (any case), whatever chain of Re:/AW:/WG:/Fwd: prefixes precedes it; a
//! bracketed `[KRM-…]`, as our own mails write it, wins over a bare one.

use crate::domain::CaseNumber;
use regex::Regex;
use std::sync::LazyLock;

static CASE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    // A literal pattern: compiling it cannot fail.
    Regex::new(r"(?i)\bKRM-([0-9]{4})-([0-9]{5})\b").expect("valid literal regex")
});

/// The case number in `subject`: the first bracketed one, else the first bare one.
pub fn case_number_in_subject(subject: &str) -> Option<CaseNumber> {
    let mut bare = None;
    for caps in CASE_NUMBER.captures_iter(subject) {
        let (Some(whole), Some(year), Some(seq)) = (caps.get(0), caps.get(1), caps.get(2)) else {
            continue;
        };
        let (Ok(year), Ok(seq)) = (year.as_str().parse::<i32>(), seq.as_str().parse::<u32>())
        else {
            continue;
        };
        if seq == 0 {
            continue;
        }
        let number = CaseNumber::new(year, seq);
        let bracketed =
            subject[..whole.start()].ends_with('[') && subject[whole.end()..].starts_with(']');
        if bracketed {
            return Some(number);
        }
        bare.get_or_insert(number);
    }
    bare
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        let n = CaseNumber::new(2026, 42);
        assert_eq!(
            case_number_in_subject("[KRM-2026-00042] Ihre Beschwerde"),
            Some(n)
        );
        assert_eq!(
            case_number_in_subject("Re: AW: Antw: WG: Fwd: VS: Aw: RE: Fw: [KRM-2026-00042]"),
            Some(n)
        );
        assert_eq!(
            case_number_in_subject("AW: Vorgang krm-2026-00042 bitte"),
            Some(n)
        );
        assert_eq!(
            case_number_in_subject("KRM-2025-00001 zu [KRM-2026-00042]"),
            Some(n),
            "bracketed wins"
        );
        assert_eq!(
            case_number_in_subject("KRM-2025-00001 und KRM-2026-00042"),
            Some(CaseNumber::new(2025, 1))
        );
    }

    #[test]
    fn near_misses() {
        for s in [
            "",
            "KRM-2026-0042",
            "KRM-2026-000421",
            "XKRM-2026-00042",
            "KRM-2026-00000",
            "KRM 2026 00042",
            "KRM-26-00042",
            "KRM-２０２６-00042",
        ] {
            assert_eq!(case_number_in_subject(s), None, "{s}");
        }
    }

    fn prefix() -> impl Strategy<Value = String> {
        let words = prop::sample::select(vec![
            "Re", "RE", "re", "AW", "Aw", "aw", "Antw", "ANTW", "WG", "Wg", "Fwd", "FWD", "Fw",
            "FW", "VS", "Vs", "SV", "Tr", "Odp",
        ]);
        (
            words,
            prop::sample::select(vec![": ", ":", " : ", ":  ", "[2]: "]),
        )
            .prop_map(|(w, sep)| format!("{w}{sep}"))
    }

    proptest! {
        // No regression files: they would land outside src/message; found cases become unit tests.
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn found_behind_any_prefix_chain(
            prefixes in prop::collection::vec(prefix(), 0..12),
            year in 2000i32..2100,
            seq in 1u32..100_000,
            bracketed in any::<bool>(),
            lower in any::<bool>(),
            tail in "[ a-zA-ZäöüßÄÖÜ0-9.,!?]{0,40}",
        ) {
            let number = CaseNumber::new(year, seq);
            let mut shown = number.to_string();
            if lower { shown = shown.to_lowercase(); }
            if bracketed { shown = format!("[{shown}]"); }
            let subject = format!("{}{shown} {tail}", prefixes.concat());
            prop_assert_eq!(case_number_in_subject(&subject), Some(number));
        }

        #[test]
        fn none_without_the_pattern(s in any::<String>()) {
            prop_assume!(!s.to_ascii_lowercase().contains("krm-"));
            prop_assert_eq!(case_number_in_subject(&s), None);
        }

        #[test]
        fn never_panics(s in any::<String>(), insert in any::<bool>(), at in any::<prop::sample::Index>()) {
            let mut s = s;
            if insert {
                let idx = at.index(s.chars().count() + 1);
                let byte = s.char_indices().nth(idx).map_or(s.len(), |(b, _)| b);
                s.insert_str(byte, "[KRM-2026-00042]");
            }
            let _ = case_number_in_subject(&s);
        }
    }
}
