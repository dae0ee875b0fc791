//! Kind and topic hints: keyword rules that suggest a kind (Beschwerde, Idee/Anregung, Lob) and up
//! to three catalogue topics for a new case. Only suggestions for staff; all hint patterns run as
//! one `RegexSet` over subject and text.

use super::defs::{Scope, Syntax};
use super::file::Parsed;
use super::matcher::{compile_regex, REGEX_SET_SIZE_LIMIT, SET_DFA_CACHE};
use super::Severity;
use crate::domain::Kind;
use regex::{RegexSet, RegexSetBuilder};
use std::collections::HashMap;

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

/// Regex source for a hint word or phrase: whole words, ignoring case; `*` stands for any
/// word characters (`Miet*` finds "Mietkaution", "Mietschulden").
pub(crate) fn word_regex_source(words: &str) -> String {
    let body = words
        .split_whitespace()
        .map(|w| {
            w.split('*')
                .map(regex::escape)
                .collect::<Vec<_>>()
                .join(r"\w*")
        })
        .collect::<Vec<_>>()
        .join(r"\s+");
    // Boundaries as character classes rather than `\b`: a Unicode `\b` keeps the whole set off
    // the fast DFA engines on non-ASCII text (umlauts), making it ~100 times slower.
    let starts_word = words.chars().next().is_some_and(char::is_alphanumeric);
    let ends_word = words.chars().last().is_some_and(char::is_alphanumeric);
    format!(
        "{}{body}{}",
        if starts_word { r"(?:^|\W)" } else { "" },
        if ends_word { r"(?:\W|$)" } else { "" }
    )
}

impl HintSet {
    /// Compiles the hints of `parsed`, checking their topics against the catalogue. Problems go
    /// to `parsed.problems`; hints with errors are left out, retired topics dropped.
    pub fn build(parsed: &mut Parsed) -> HintSet {
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
                            format!(
                                "Thema „{name}“ steht nicht im Themenkatalog (bekannt: {})",
                                known.join(", ")
                            ),
                        ));
                    }
                }
            }
            let mut srcs = Vec::new();
            for p in &h.patterns {
                let src = match &p.syntax {
                    Syntax::Regex(r) => r.clone(),
                    Syntax::Text(t) => word_regex_source(t),
                    _ => continue,
                };
                match compile_regex(&src) {
                    Ok(_) => srcs.push(src),
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
            let index = out.hints.len();
            out.hints.push(CompiledHint {
                kind: h.kind,
                topics,
                scope: h.scope,
            });
            out.owner.extend(std::iter::repeat_n(index, srcs.len()));
            sources.extend(srcs);
        }
        for (file, line, id, severity, message) in problems {
            parsed.problem(file, Some(line), Some(&id), severity, message);
        }
        if !sources.is_empty() {
            let built = RegexSetBuilder::new(&sources)
                .case_insensitive(true)
                .size_limit(REGEX_SET_SIZE_LIMIT)
                .dfa_size_limit(SET_DFA_CACHE)
                .build();
            match built {
                Ok(set) => out.set = Some(set),
                Err(e) => {
                    let (file, line) = parsed
                        .hints
                        .first()
                        .map_or((0, None), |h| (h.file, Some(h.line)));
                    parsed.problem(
                        file,
                        line,
                        None,
                        Severity::Error,
                        format!("die Suchmuster der Hinweise sind zusammen zu groß: {e}"),
                    );
                }
            }
        }
        out
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
}
