//! Kind and topic hints: keyword rules that suggest a kind (Beschwerde, Idee/Anregung, Lob) and up
//! to three catalogue topics for a new case. Only suggestions for staff; all hint patterns run as
//! one `RegexSet` over subject and text, the words and phrases of a hint joined into one regex.

use super::defs::{Scope, Syntax};
use super::file::Parsed;
use super::matcher::{compile_regex, REGEX_SET_SIZE_LIMIT, SET_DFA_CACHE};
use super::Severity;
use crate::domain::Kind;
use regex::{RegexSet, RegexSetBuilder};
use std::collections::HashMap;

/// All hints' patterns as one set, or why they cannot be.
fn compile_set(sources: &[String]) -> Result<RegexSet, String> {
    RegexSetBuilder::new(sources)
        .case_insensitive(true)
        .size_limit(REGEX_SET_SIZE_LIMIT)
        .dfa_size_limit(SET_DFA_CACHE)
        .build()
        .map_err(|e| format!("die Suchmuster der Hinweise sind zusammen zu groß: {e}"))
}

/// A problem found while building the hints: file, line, hint id, severity, message.
type HintProblem = (usize, Option<usize>, Option<String>, Severity, String);

/// Most topics suggested for one mail.
pub const MAX_TOPICS: usize = 3;

/// Suggestions for a new case: a kind and up to three topics from the catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    pub kind: Option<Kind>,
    pub topics: Vec<String>,
}

#[derive(Debug)]
struct CompiledHint {
    kind: Option<Kind>,
    topics: Vec<String>,
    scope: Scope,
}

#[derive(Debug, Default)]
pub(crate) struct HintSet {
    hints: Vec<CompiledHint>,
    set: Option<RegexSet>,
    /// Hint index of each pattern in `set`.
    owner: Vec<usize>,
}

/// A hint word or phrase in regex form: `*` stands for any word characters, whitespace runs are
/// flexible, and a phrase starting (ending) with a letter or digit must start (end) a word.
struct Phrase {
    body: String,
    starts_word: bool,
    ends_word: bool,
}

/// Start and end of a word, as character classes rather than `\b`: a Unicode `\b` keeps the
/// whole set off the fast DFA engines on non-ASCII text (umlauts), making it ~100 times slower.
const WORD_START: &str = r"(?:^|\W)";
const WORD_END: &str = r"(?:\W|$)";
const ANY_WORD_CHARS: &str = r"\w*";

impl Phrase {
    fn new(words: &str) -> Phrase {
        let body = words
            .split_whitespace()
            .map(|w| {
                w.split('*')
                    .map(regex::escape)
                    .collect::<Vec<_>>()
                    .join(ANY_WORD_CHARS)
            })
            .collect::<Vec<_>>()
            .join(r"\s+");
        Phrase {
            body,
            starts_word: words.chars().next().is_some_and(char::is_alphanumeric),
            ends_word: words.chars().last().is_some_and(char::is_alphanumeric),
        }
    }

    /// The body without a `\w*` at an open end (a `*` at the start or end of the phrase): `\w*`
    /// may match nothing, so there it never decides whether the phrase occurs in a text. Escaped
    /// words hold no `*` and no lone `\`, so a `\w*` at either end is always one of ours.
    fn core(&self) -> &str {
        let mut core = self.body.as_str();
        if !self.starts_word {
            while let Some(rest) = core.strip_prefix(ANY_WORD_CHARS) {
                core = rest;
            }
        }
        if !self.ends_word {
            while let Some(rest) = core.strip_suffix(ANY_WORD_CHARS) {
                core = rest;
            }
        }
        core
    }
}

/// Regex source for a hint word or phrase: whole words, ignoring case; `*` stands for any
/// word characters (`Miet*` finds "Mietkaution", "Mietschulden").
pub(crate) fn word_regex_source(words: &str) -> String {
    let p = Phrase::new(words);
    format!(
        "{}{}{}",
        if p.starts_word { WORD_START } else { "" },
        p.body,
        if p.ends_word { WORD_END } else { "" }
    )
}

/// One regex for all word patterns of a hint. It matches a text exactly when one of the
/// phrases' `word_regex_source` does, but holds each word boundary class only once per kind of
/// phrase instead of once per phrase: a Unicode `\W` compiles to hundreds of NFA states (more
/// in the reverse NFA), and one per phrase made the hint set ~13 MB of NFA (~37 MB peak RSS
/// while compiling it).
fn hint_words_source(phrases: &[Phrase]) -> String {
    let group = |starts: bool, ends: bool| -> Option<String> {
        let cores: Vec<&str> = phrases
            .iter()
            .filter(|p| p.starts_word == starts && p.ends_word == ends)
            .map(Phrase::core)
            .collect();
        (!cores.is_empty()).then(|| {
            format!(
                "(?:{}){}",
                cores.join("|"),
                if ends { WORD_END } else { "" }
            )
        })
    };
    let bounded: Vec<String> = [group(true, true), group(true, false)]
        .into_iter()
        .flatten()
        .collect();
    let mut branches = Vec::new();
    if !bounded.is_empty() {
        branches.push(format!("{WORD_START}(?:{})", bounded.join("|")));
    }
    branches.extend(
        [group(false, true), group(false, false)]
            .into_iter()
            .flatten(),
    );
    branches.join("|")
}

impl HintSet {
    /// Compiles the hints of `parsed`, checking their topics against the catalogue. Problems go
    /// to `parsed.problems`; hints with errors are left out, retired topics dropped.
    ///
    /// Word phrases are compiled only as part of the set: alone, each would compile its Unicode
    /// word-boundary classes once more (most of a start's rule compiling, #17). Only if the set
    /// fails is everything compiled again phrase by phrase, so the error names the line.
    pub fn build(parsed: &mut Parsed) -> HintSet {
        let (mut set, mut problems) = Self::build_checking(parsed, false);
        // Patterns to compile but no set: the set failed.
        if set.set.is_none() && !set.owner.is_empty() {
            (set, problems) = Self::build_checking(parsed, true);
        }
        for (file, line, id, severity, message) in problems {
            parsed.problem(file, line, id.as_deref(), "Hinweis", severity, message);
        }
        set
    }

    /// [`HintSet::build`], compiling each word phrase alone as well if `each_phrase`; the
    /// problems found, to be added to `parsed`.
    fn build_checking(parsed: &Parsed, each_phrase: bool) -> (HintSet, Vec<HintProblem>) {
        let catalogue: HashMap<String, (String, bool)> = parsed
            .topics
            .iter()
            .map(|t| (t.name.to_lowercase(), (t.name.clone(), t.retired)))
            .collect();
        let known: Vec<String> = parsed
            .topics
            .iter()
            .filter(|t| !t.retired)
            .map(|t| t.name.clone())
            .collect();
        let mut out = HintSet::default();
        let mut sources = Vec::new();
        let mut problems = Vec::new();
        for h in &parsed.hints {
            let mut ok = true;
            let mut topics = Vec::new();
            for (name, line) in &h.topics {
                match catalogue.get(&name.to_lowercase()) {
                    Some((canonical, false)) => topics.push(canonical.clone()),
                    Some((canonical, true)) => problems.push((
                        h.file,
                        *line,
                        h.id.clone(),
                        Severity::Warning,
                        format!("Thema „{canonical}“ ist ausgemustert (retired) und wird nicht vorgeschlagen"),
                    )),
                    None => {
                        ok = false;
                        problems.push((
                            h.file,
                            *line,
                            h.id.clone(),
                            Severity::Error,
                            if known.is_empty() {
                                format!(
                                    "Thema „{name}“: der Themenkatalog ist leer (keine \
                                     [[topic]]-Einträge in den Regeldateien, etwa topics.toml)"
                                )
                            } else {
                                format!(
                                    "Thema „{name}“ steht nicht im Themenkatalog (bekannt: {})",
                                    known.join(", ")
                                )
                            },
                        ));
                    }
                }
            }
            let mut srcs = Vec::new();
            let mut phrases = Vec::new();
            for p in &h.patterns {
                let src = match &p.syntax {
                    Syntax::Regex(r) => r.clone(),
                    Syntax::Text(t) => word_regex_source(t),
                    _ => continue,
                };
                // Each pattern on its own, for an error message naming its line (a word
                // phrase cannot be malformed: its words are escaped).
                let alone = match &p.syntax {
                    Syntax::Text(_) if !each_phrase => Ok(()),
                    _ => compile_regex(&src).map(drop),
                };
                match alone {
                    Ok(()) => match &p.syntax {
                        Syntax::Text(t) => phrases.push(Phrase::new(t)),
                        _ => srcs.push(src),
                    },
                    Err(e) => {
                        ok = false;
                        problems.push((
                            h.file,
                            p.line,
                            h.id.clone(),
                            Severity::Error,
                            format!("match: {e}"),
                        ));
                    }
                }
            }
            if !ok || (h.kind.is_none() && topics.is_empty()) {
                continue;
            }
            if !phrases.is_empty() {
                srcs.push(hint_words_source(&phrases));
            }
            let index = out.hints.len();
            out.hints.push(CompiledHint {
                kind: h.kind,
                topics,
                scope: h.scope,
            });
            out.owner.extend(std::iter::repeat_n(index, srcs.len()));
            sources.extend(srcs);
        }
        let mut problems: Vec<HintProblem> = problems
            .into_iter()
            .map(|(file, line, id, severity, message)| {
                (file, Some(line), Some(id), severity, message)
            })
            .collect();
        if !sources.is_empty() {
            match compile_set(&sources) {
                Ok(set) => out.set = Some(set),
                Err(e) => {
                    let (file, line) = parsed
                        .hints
                        .first()
                        .map_or((0, None), |h| (h.file, Some(h.line)));
                    problems.push((file, line, None, Severity::Error, e));
                }
            }
        }
        (out, problems)
    }

    /// Suggests a kind (most matching hints; ties go to the earlier hint) and up to three
    /// topics (most matching hints first, then file order).
    pub fn suggest(&self, subject: &str, text: &str) -> Hints {
        let Some(set) = &self.set else {
            return Hints::default();
        };
        let mut matched = vec![false; self.hints.len()];
        for pid in set.matches(subject).into_iter() {
            let h = self.owner[pid];
            if self.hints[h].scope != Scope::Text {
                matched[h] = true;
            }
        }
        for pid in set.matches(text).into_iter() {
            let h = self.owner[pid];
            if self.hints[h].scope != Scope::Subject {
                matched[h] = true;
            }
        }
        // (count, first hint index) per kind and per topic.
        let mut kinds: Vec<(Kind, usize, usize)> = Vec::new();
        let mut topics: Vec<(String, usize, usize)> = Vec::new();
        for (i, h) in self.hints.iter().enumerate().filter(|(i, _)| matched[*i]) {
            if let Some(k) = h.kind {
                match kinds.iter_mut().find(|(kk, _, _)| *kk == k) {
                    Some(e) => e.1 += 1,
                    None => kinds.push((k, 1, i)),
                }
            }
            for t in &h.topics {
                match topics.iter_mut().find(|(tt, _, _)| tt == t) {
                    Some(e) => e.1 += 1,
                    None => topics.push((t.clone(), 1, i)),
                }
            }
        }
        kinds.sort_by_key(|&(_, count, first)| (std::cmp::Reverse(count), first));
        topics.sort_by_key(|&(_, count, first)| (std::cmp::Reverse(count), first));
        Hints {
            kind: kinds.first().map(|k| k.0),
            topics: topics.into_iter().take(MAX_TOPICS).map(|t| t.0).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    /// The shipped hints and topics, plus a hint with a malformed regex and one whose topic is
    /// unknown, parsed.
    fn shipped_parsed() -> Parsed {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        let hints = read("hints.toml")
            + "\n[[hint]]\nid = \"kaputt\"\nkind = \"Lob\"\nmatch = [\"re:(\", \"gut\"]\n"
            + "\n[[hint]]\nid = \"fremd\"\ntopics = [\"Gibt es nicht\"]\nmatch = [\"Wort\"]\n";
        let files = [("hints.toml", hints), ("topics.toml", read("topics.toml"))]
            .into_iter()
            .map(|(n, t)| crate::rules::file::SourceFile::new(n.into(), n.into(), t))
            .collect();
        crate::rules::file::parse(files, Vec::new())
    }

    #[test]
    fn phrases_checked_only_in_the_set_give_what_checking_each_gives() {
        let parsed = shipped_parsed();
        let (quick, quick_problems) = HintSet::build_checking(&parsed, false);
        let (each, each_problems) = HintSet::build_checking(&parsed, true);
        assert_eq!(quick_problems, each_problems);
        assert_eq!(quick_problems.len(), 2, "{quick_problems:?}");
        assert_eq!(quick.owner, each.owner);
        let texts = [
            (
                "Beschwerde",
                "Ich bin sehr unzufrieden mit der Bearbeitung.",
            ),
            (
                "Danke",
                "Ich möchte mich herzlich bedanken, großartige Hilfe!",
            ),
            (
                "Frage",
                "Die Mietkaution und der Umzug: seit 3 Wochen keine Antwort.",
            ),
            ("", "nichts davon"),
        ];
        for (subject, text) in texts {
            assert_eq!(
                quick.suggest(subject, text),
                each.suggest(subject, text),
                "{subject} / {text}"
            );
        }
        assert!(quick.suggest(texts[0].0, texts[0].1).kind.is_some());
    }

    fn re(words: &str) -> Regex {
        Regex::new(&format!("(?i){}", word_regex_source(words))).unwrap()
    }

    #[test]
    fn words_are_whole_words() {
        assert!(re("Lob").is_match("Ein großes Lob an Frau X"));
        assert!(!re("Lob").is_match("In der Lobby war es voll"));
        assert!(re("Miet*").is_match("die Mietkaution"));
        assert!(re("*kaution").is_match("Mietkaution"));
        assert!(re("vielen Dank").is_match("Vielen\n  dank!"));
        assert!(re("Überprüfung").is_match("die Überprüfung dauert"));
        assert!(re("(a.b)").is_match("x (a.b) y"));
    }

    /// Whether the combined regex of `phrases` matches `text` exactly when one of the phrases'
    /// own regexes does.
    fn combined_agrees(phrases: &[&str], text: &str) -> Result<(), String> {
        let parsed: Vec<Phrase> = phrases.iter().map(|w| Phrase::new(w)).collect();
        let combined = hint_words_source(&parsed);
        let any_single = phrases.iter().any(|w| re(w).is_match(text));
        let set = RegexSetBuilder::new([&combined])
            .case_insensitive(true)
            .build()
            .map_err(|e| e.to_string())?;
        if set.is_match(text) == any_single {
            Ok(())
        } else {
            Err(format!(
                "{phrases:?} on {text:?}: single {any_single}, combined {combined}"
            ))
        }
    }

    #[test]
    fn combined_phrases_match_like_single_ones() {
        let phrases = [
            "Lob",
            "Miet*",
            "*kaution",
            "seit * Wochen",
            "herzlich* Dank*",
            "* zurück",
            "warte* seit",
            "(a.b)",
            "Überprüfung",
        ];
        for text in [
            "",
            "Lob",
            "Lobby",
            "Ein großes Lob!",
            "die Mietkaution",
            "Kaution",
            "Mietkautionen",
            "seit  Wochen",
            "seit vielen Wochen",
            "seit vielenWochen",
            "Herzlichen Dankeschön",
            "herzlich\ndank",
            "xherzlich Dank",
            " zurück",
            "ruft niemand zurück",
            "zurück",
            "ich wartete seit",
            "x(a.b)y",
            "ÄÜberprüfung",
            "Überprüfungß",
            "die Überprüfung.",
        ] {
            for n in 1..=phrases.len() {
                combined_agrees(&phrases[..n], text).unwrap();
                combined_agrees(&phrases[n - 1..n], text).unwrap();
            }
        }
    }

    mod props {
        use super::combined_agrees;
        use proptest::prelude::*;

        fn phrase() -> impl Strategy<Value = String> {
            "[*]?(ab|bä|ä|1|_|[.])( ?[*]? ?(ab|bä|ä|1|_|[.])){0,2}[*]?"
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn combined_agrees_with_singles(
                phrases in prop::collection::vec(phrase(), 1..5),
                text in "[abAÄä1_. \n-]{0,12}",
            ) {
                let refs: Vec<&str> = phrases.iter().map(String::as_str).collect();
                prop_assert!(combined_agrees(&refs, &text).is_ok(), "{:?}", combined_agrees(&refs, &text));
            }
        }
    }
}
