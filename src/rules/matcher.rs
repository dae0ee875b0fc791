//! Compiled sender rules: per field one hash map for exact addresses, one for domains (looked up
//! by suffix), one `GlobSet` and one `RegexSet`, so a mail costs one pass per field, not per rule.
//! Regexes with a Unicode word boundary (`\b`) stay out of the set and are searched one by one:
//! one of them in a set makes the set's lazy DFA give up on any non-ASCII text (every German
//! signature) and the whole set fall back to an engine ~100 times slower, while on its own such a
//! regex is found cheaply through its literals. Knows nothing about mails; `mod.rs` turns a mail
//! into field values.

use super::defs::{Field, PatternDef, RuleDef, Syntax, ValueKind};
use super::file::Parsed;
use super::{Evidence, Severity};
use crate::domain::Category;
use globset::{GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use std::collections::HashMap;

/// Compiled size limit for one regular expression. The `regex` crate matches in linear time,
/// but a pattern like `\w{1000}{1000}` compiles to a huge program; such patterns are refused.
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Compiled size limit for all regular expressions of one field together.
pub(crate) const REGEX_SET_SIZE_LIMIT: usize = 64 << 20;
/// Lazy-DFA cache for a set. ~150 case-insensitive patterns overflow the default cache on German
/// text, and the set falls back to an engine ~1000 times slower (measured: 12 ms vs 15 µs for
/// the shipped hints on a 4.6 KB mail). The cache grows only as far as needed.
pub(crate) const SET_DFA_CACHE: usize = 32 << 20;

/// Condition kinds from strongest to weakest; a rule ranks by its strongest condition, with
/// domain and signature together counting as their own kind. A `text` condition ranks a rule
/// just above the same rule without it (`cc` + `text` before `cc` alone, below `forwarded_from`).
pub(crate) fn rank(mask: u8) -> u8 {
    let has = |f: Field| mask & f.bit() != 0;
    let base = if has(Field::Address) {
        7
    } else if has(Field::ReplyTo) {
        6
    } else if has(Field::Domain) && has(Field::Signature) {
        5
    } else if has(Field::Domain) {
        4
    } else if has(Field::DisplayName) {
        3
    } else if has(Field::Signature) {
        2
    } else if has(Field::ForwardedFrom) {
        1
    } else {
        0
    };
    base * 2 + u8::from(has(Field::Text))
}

/// German name of a rank, for messages and docs.
pub(crate) fn rank_name(rank: u8) -> &'static str {
    match rank {
        15 => "Adresse mit Text",
        14 => "Adresse",
        13 => "Reply-To mit Text",
        12 => "Reply-To",
        11 => "Domain mit Signatur und Text",
        10 => "Domain mit Signatur",
        9 => "Domain mit Text",
        8 => "Domain",
        7 => "Anzeigename mit Text",
        6 => "Anzeigename",
        5 => "Signatur mit Text",
        4 => "Signatur",
        3 => "Weitergeleitet von mit Text",
        2 => "Weitergeleitet von",
        1 => "Cc mit Text",
        _ => "Cc",
    }
}

/// Evaluation order of rules: higher priority first, then stronger kind, then file order.
pub(crate) fn order_key(r: &RuleDef, index: usize) -> (i64, u8, usize) {
    (-r.priority, u8::MAX - rank(r.mask()), index)
}

/// One pattern on its own, used for evidence and for reference checks.
#[derive(Debug)]
pub(crate) enum Single {
    Address(String),
    Domain(String),
    Glob(GlobMatcher),
    Regex(Regex),
}

impl Single {
    /// The text that matched, if any. `primary` is the address (or domain, or text) as probed;
    /// `domain` the address's domain.
    pub fn find<'v>(&self, primary: &'v str, domain: Option<&'v str>) -> Option<&'v str> {
        match self {
            Single::Address(a) => (primary == a).then_some(primary),
            // For address fields the whole address is the evidence; for `domain` it is the domain.
            Single::Domain(d) => domain.filter(|v| domain_covers(d, v)).map(|_| primary),
            Single::Glob(g) => g.is_match(primary).then_some(primary),
            Single::Regex(r) => r.find(primary).map(|m| m.as_str()),
        }
    }
}

/// Whether `value` is `domain` or one of its subdomains.
pub(crate) fn domain_covers(domain: &str, value: &str) -> bool {
    value == domain
        || value
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

/// `a.b.c` → `a.b.c`, `b.c`, `c`.
fn domain_suffixes(d: &str) -> impl Iterator<Item = &str> {
    std::iter::once(d).chain(d.match_indices('.').map(move |(i, _)| &d[i + 1..]))
}

#[derive(Debug)]
pub(crate) struct CompiledPattern {
    pub rule: usize,
    pub field: Field,
    pub written: String,
    pub single: Single,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub id: String,
    pub organisation: String,
    pub category: Category,
    pub third_party: bool,
    /// Bits of the fields that must all match.
    pub required: u8,
    /// Position in evaluation order (lower wins).
    pub order: usize,
    pub patterns: Vec<usize>,
}

#[derive(Debug, Default)]
struct FieldIndex {
    exact: HashMap<String, Vec<usize>>,
    suffix: HashMap<String, Vec<usize>>,
    globs: GlobSet,
    glob_ids: Vec<usize>,
    regexes: Option<RegexSet>,
    regex_ids: Vec<usize>,
    /// Regex patterns with a Unicode word boundary, searched one by one (see the module docs).
    bounded_ids: Vec<usize>,
}

impl FieldIndex {
    fn probe(
        &self,
        patterns: &[CompiledPattern],
        primary: &str,
        domain: Option<&str>,
        out: &mut Vec<usize>,
    ) {
        if let Some(ids) = self.exact.get(primary) {
            out.extend(ids);
        }
        if let Some(d) = domain {
            for s in domain_suffixes(d) {
                if let Some(ids) = self.suffix.get(s) {
                    out.extend(ids);
                }
            }
        }
        if !self.glob_ids.is_empty() {
            out.extend(
                self.globs
                    .matches(primary)
                    .into_iter()
                    .map(|i| self.glob_ids[i]),
            );
        }
        if let Some(set) = &self.regexes {
            out.extend(set.matches(primary).into_iter().map(|i| self.regex_ids[i]));
        }
        for &pid in &self.bounded_ids {
            if let Single::Regex(r) = &patterns[pid].single {
                if r.is_match(primary) {
                    out.push(pid);
                }
            }
        }
    }
}

/// The values of one mail, per field: the probed string and, for addresses, its domain.
#[derive(Debug, Default, Clone)]
pub(crate) struct Values {
    by_field: [Vec<(String, Option<String>)>; 8],
}

impl Values {
    pub fn push_address(&mut self, field: Field, normalized: &str) {
        if normalized.is_empty() {
            return;
        }
        let domain = normalized
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('.').to_string());
        let v = match field.value_kind() {
            ValueKind::Domain => match domain {
                Some(d) => (d.clone(), Some(d)),
                None => return,
            },
            _ => (normalized.to_string(), domain),
        };
        self.by_field[field as usize].push(v);
    }

    pub fn push_text(&mut self, field: Field, text: &str) {
        let t = super::defs::normalize_text(text);
        if !t.is_empty() {
            self.by_field[field as usize].push((t, None));
        }
    }

    /// The writer's own text for `text` conditions, as written (patterns allow any whitespace).
    pub fn push_own_text(&mut self, text: &str) {
        if !text.trim().is_empty() {
            self.by_field[Field::Text as usize].push((text.to_string(), None));
        }
    }

    pub fn get(&self, field: Field) -> &[(String, Option<String>)] {
        &self.by_field[field as usize]
    }
}

#[derive(Debug, Default)]
pub(crate) struct Matcher {
    pub rules: Vec<CompiledRule>,
    pub patterns: Vec<CompiledPattern>,
    index: Vec<FieldIndex>,
    /// Some rule has a `text` condition: only then is a mail's own text needed.
    pub has_text: bool,
}

fn regex_message(e: regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(limit) => format!(
            "regulärer Ausdruck ist zu groß (kompiliert über {} KB) – bitte vereinfachen, z. B. große Wiederholungen wie {{1000}} vermeiden",
            limit / 1024
        ),
        regex::Error::Syntax(s) => format!("ungültiger regulärer Ausdruck: {s}"),
        other => format!("ungültiger regulärer Ausdruck: {other}"),
    }
}

/// A rule regex's syntax error in German for the administration: what is wrong and at which
/// character, where regex-syntax names it; otherwise the regex crate's own (English) words.
fn syntax_message(src: &str, e: regex::Error) -> String {
    let parsed = regex_syntax::ParserBuilder::new()
        .case_insensitive(true)
        .build()
        .parse(src);
    let (what, at) = match &parsed {
        Err(regex_syntax::Error::Parse(p)) => (parse_fault(p.kind()), p.span().start.offset),
        Err(regex_syntax::Error::Translate(t)) => {
            (translate_fault(t.kind()), t.span().start.offset)
        }
        _ => (None, 0),
    };
    match what {
        Some(what) => {
            let at = src.get(..at).map_or(0, |p| p.chars().count()) + 1;
            format!("ungültiger regulärer Ausdruck „{src}“: {what} (Zeichen {at})")
        }
        None => regex_message(e),
    }
}

/// The parse faults an administrator meets, in German.
fn parse_fault(kind: &regex_syntax::ast::ErrorKind) -> Option<&'static str> {
    use regex_syntax::ast::ErrorKind as K;
    Some(match kind {
        K::GroupUnclosed => "die Klammer „(“ wird nicht geschlossen",
        K::GroupUnopened => "zu dieser Klammer „)“ fehlt die öffnende",
        K::ClassUnclosed => "die Zeichenklasse „[“ wird nicht geschlossen",
        K::ClassRangeInvalid => "ungültiger Bereich in der Zeichenklasse (Anfang nach Ende)",
        K::RepetitionMissing => "eine Wiederholung (*, +, ? oder {…}) ohne etwas davor",
        K::RepetitionCountUnclosed => "die Wiederholung „{“ wird nicht geschlossen",
        K::RepetitionCountInvalid => "die Wiederholung {m,n} hat m größer als n",
        K::EscapeUnrecognized => {
            "unbekanntes Zeichen nach „\\“ (ein Satzzeichen ohne Sonderbedeutung braucht kein „\\“)"
        }
        K::EscapeUnexpectedEof => "der Ausdruck endet mit „\\“",
        K::UnsupportedLookAround => {
            "Vorausschau und Rückschau ((?=…), (?!…), (?<=…), (?<!…)) gibt es hier nicht"
        }
        K::UnsupportedBackreference => "Rückverweise wie \\1 gibt es hier nicht",
        K::FlagUnrecognized => "unbekannter Schalter in „(?…)“",
        K::UnicodeClassInvalid => "unbekannte Unicode-Klasse (\\p{…})",
        _ => return None,
    })
}

/// The translation faults an administrator meets, in German.
fn translate_fault(kind: &regex_syntax::hir::ErrorKind) -> Option<&'static str> {
    use regex_syntax::hir::ErrorKind as K;
    Some(match kind {
        K::UnicodePropertyNotFound | K::UnicodePropertyValueNotFound => {
            "unbekannte Unicode-Klasse (\\p{…})"
        }
        _ => return None,
    })
}

/// Compiles one regex the way all rule regexes are compiled (case-insensitive, size-limited).
pub(crate) fn compile_regex(src: &str) -> Result<Regex, String> {
    RegexBuilder::new(src)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(_) => syntax_message(src, e),
            e => regex_message(e),
        })
}

fn compile_glob(src: &str) -> Result<globset::Glob, String> {
    GlobBuilder::new(src)
        .case_insensitive(true)
        .literal_separator(false)
        .build()
        .map_err(|e| format!("ungültiges glob-Muster: {}", e.kind()))
}

/// Whether regex `src` contains a Unicode word boundary (`\b`, `\B`, `\<`, `\>`, `\b{start}`, …),
/// i.e. one written while Unicode mode is on (the default; `(?-u:\b)` is the ASCII boundary).
/// A scan of the pattern text that follows escapes, classes, groups and the `u` and `x` flags.
/// Only speed depends on it: a pattern searched alone matches exactly what it matches in a set.
pub(crate) fn has_unicode_word_boundary(src: &str) -> bool {
    #[derive(Clone, Copy)]
    struct Flags {
        unicode: bool,
        verbose: bool,
    }
    let mut flags = Flags {
        unicode: true,
        verbose: false,
    };
    let mut groups: Vec<Flags> = Vec::new();
    let mut class_depth = 0usize;
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next();
                if class_depth == 0
                    && flags.unicode
                    && matches!(escaped, Some('b' | 'B' | '<' | '>'))
                {
                    return true;
                }
            }
            '[' => {
                class_depth += 1;
                // A `]` right after `[` or `[^` is a literal.
                if chars.peek() == Some(&'^') {
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                }
            }
            ']' if class_depth > 0 => class_depth -= 1,
            _ if class_depth > 0 => {}
            '#' if flags.verbose => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '(' => {
                groups.push(flags);
                if chars.peek() != Some(&'?') {
                    continue;
                }
                chars.next();
                if matches!(chars.peek(), Some('P' | '<')) {
                    // A named group: `(?P<name>` or `(?<name>`.
                    for c in chars.by_ref() {
                        if c == '>' {
                            break;
                        }
                    }
                    continue;
                }
                let mut negate = false;
                for c in chars.by_ref() {
                    match c {
                        '-' => negate = true,
                        'u' => flags.unicode = !negate,
                        'x' => flags.verbose = !negate,
                        ':' => break,
                        ')' => {
                            // `(?flags)` opens no group: its flags hold until the enclosing
                            // group ends.
                            groups.pop();
                            break;
                        }
                        _ => {}
                    }
                }
            }
            ')' => {
                if let Some(outer) = groups.pop() {
                    flags = outer;
                }
            }
            _ => {}
        }
    }
    false
}

/// Regex source for a plain text condition: the text anywhere, whitespace runs flexible.
pub(crate) fn text_regex_source(text: &str) -> String {
    text.split_whitespace()
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join(r"\s+")
}

enum Source {
    Exact(String),
    Suffix(String),
    Glob(globset::Glob),
    Regex(String),
}

fn compile_pattern(p: &PatternDef) -> Result<(Single, Source), String> {
    Ok(match &p.syntax {
        Syntax::Address(a) => (Single::Address(a.clone()), Source::Exact(a.clone())),
        Syntax::Domain(d) => (Single::Domain(d.clone()), Source::Suffix(d.clone())),
        Syntax::Text(t) => {
            let src = text_regex_source(t);
            (Single::Regex(compile_regex(&src)?), Source::Regex(src))
        }
        Syntax::Glob(g) => {
            let glob = compile_glob(g)?;
            (Single::Glob(glob.compile_matcher()), Source::Glob(glob))
        }
        Syntax::Regex(r) => (Single::Regex(compile_regex(r)?), Source::Regex(r.clone())),
    })
}

impl Matcher {
    /// Compiles all valid rules of `parsed`; pattern problems are added to `parsed.problems`
    /// and their rules left out.
    pub fn build(parsed: &mut Parsed) -> Matcher {
        let mut order: Vec<usize> = (0..parsed.rules.len()).collect();
        order.sort_by_key(|&i| order_key(&parsed.rules[i], i));
        let mut position = vec![0; parsed.rules.len()];
        for (pos, &i) in order.iter().enumerate() {
            position[i] = pos;
        }

        let mut m = Matcher::default();
        let mut sources: Vec<Vec<(usize, Source)>> =
            (0..Field::ALL.len()).map(|_| Vec::new()).collect();
        let mut problems = Vec::new();
        for (ri, def) in parsed.rules.iter().enumerate() {
            let mut compiled = Vec::new();
            let mut ok = true;
            for cond in &def.conditions {
                for p in &cond.patterns {
                    match compile_pattern(p) {
                        Ok(c) => compiled.push((cond.field, p.written.clone(), c)),
                        Err(message) => {
                            ok = false;
                            problems.push((
                                def.file,
                                p.line,
                                def.id.clone(),
                                format!("{}: {message}", cond.field.key()),
                            ));
                        }
                    }
                }
            }
            if !ok {
                continue;
            }
            let rule_index = m.rules.len();
            let mut ids = Vec::new();
            for (field, written, (single, source)) in compiled {
                let pid = m.patterns.len();
                m.patterns.push(CompiledPattern {
                    rule: rule_index,
                    field,
                    written,
                    single,
                });
                // `text` is never indexed: it is checked only for rules whose other
                // conditions all matched (see `best`), so a long body costs nothing otherwise.
                if field == Field::Text {
                    m.has_text = true;
                } else {
                    sources[field as usize].push((pid, source));
                }
                ids.push(pid);
            }
            m.rules.push(CompiledRule {
                id: def.id.clone(),
                organisation: def.organisation.clone(),
                category: def.category,
                third_party: def.third_party,
                required: def.mask(),
                order: position[ri],
                patterns: ids,
            });
        }
        for (file, line, id, message) in problems {
            parsed.problem(
                file,
                Some(line),
                Some(&id),
                "Regel",
                Severity::Error,
                message,
            );
        }

        for (fi, srcs) in sources.into_iter().enumerate() {
            let mut idx = FieldIndex::default();
            let mut globs = GlobSetBuilder::new();
            let mut regex_src = Vec::new();
            for (pid, src) in srcs {
                match src {
                    Source::Exact(a) => idx.exact.entry(a).or_default().push(pid),
                    Source::Suffix(d) => idx.suffix.entry(d).or_default().push(pid),
                    Source::Glob(g) => {
                        globs.add(g);
                        idx.glob_ids.push(pid);
                    }
                    Source::Regex(r) if has_unicode_word_boundary(&r) => idx.bounded_ids.push(pid),
                    Source::Regex(r) => {
                        regex_src.push(r);
                        idx.regex_ids.push(pid);
                    }
                }
            }
            let field = Field::ALL[fi];
            match globs.build() {
                Ok(set) => idx.globs = set,
                Err(e) => set_problem(parsed, &m, &idx.glob_ids, format!("glob-Muster: {e}")),
            }
            if !regex_src.is_empty() {
                let built = RegexSetBuilder::new(&regex_src)
                    .case_insensitive(true)
                    .size_limit(REGEX_SET_SIZE_LIMIT)
                    .dfa_size_limit(SET_DFA_CACHE)
                    .build();
                match built {
                    Ok(set) => idx.regexes = Some(set),
                    Err(e) => set_problem(
                        parsed,
                        &m,
                        &idx.regex_ids,
                        format!(
                            "die regulären Ausdrücke für „{}“ sind zusammen zu groß: {}",
                            field.key(),
                            regex_message(e)
                        ),
                    ),
                }
            }
            m.index.push(idx);
        }
        m
    }

    /// The winning rule for these values with its evidence, in one pass per field.
    pub fn best(&self, values: &Values) -> Option<(&CompiledRule, Vec<Evidence>)> {
        let mut hits = Vec::new();
        let mut masks: HashMap<usize, u8> = HashMap::new();
        for field in Field::ALL {
            if field == Field::Text {
                continue;
            }
            let Some(index) = self.index.get(field as usize) else {
                continue;
            };
            for (primary, domain) in values.get(field) {
                hits.clear();
                index.probe(&self.patterns, primary, domain.as_deref(), &mut hits);
                for &pid in &hits {
                    *masks.entry(self.patterns[pid].rule).or_default() |= field.bit();
                }
            }
        }
        if self.has_text {
            let text_bit = Field::Text.bit();
            let own = values.get(Field::Text);
            for (&r, mask) in masks.iter_mut() {
                let rule = &self.rules[r];
                if rule.required & text_bit == 0 || *mask != rule.required & !text_bit {
                    continue;
                }
                let found = rule
                    .patterns
                    .iter()
                    .map(|&pid| &self.patterns[pid])
                    .filter(|p| p.field == Field::Text)
                    .any(|p| own.iter().any(|(v, _)| p.single.find(v, None).is_some()));
                if found {
                    *mask |= text_bit;
                }
            }
        }
        let winner = masks
            .into_iter()
            .filter(|&(r, mask)| mask == self.rules[r].required)
            .map(|(r, _)| &self.rules[r])
            .min_by_key(|r| r.order)?;
        Some((winner, self.evidence(winner, values)))
    }

    /// For each field of the rule, the first of its patterns that matches a value.
    pub fn evidence(&self, rule: &CompiledRule, values: &Values) -> Vec<Evidence> {
        let mut out = Vec::new();
        for field in Field::ALL {
            if rule.required & field.bit() == 0 {
                continue;
            }
            let found = rule
                .patterns
                .iter()
                .map(|&pid| &self.patterns[pid])
                .filter(|p| p.field == field)
                .find_map(|p| {
                    values
                        .get(field)
                        .iter()
                        .find_map(|(v, d)| p.single.find(v, d.as_deref()))
                        .map(|text| (p, text))
                });
            if let Some((p, text)) = found {
                out.push(Evidence {
                    field: field.evidence_name().to_string(),
                    text: text.to_string(),
                    condition: format!("{} = {}", field.key(), p.written),
                });
            }
        }
        out
    }
}

/// A set-level failure is reported at the first rule that contributed to the set.
fn set_problem(parsed: &mut Parsed, m: &Matcher, ids: &[usize], message: String) {
    let first = ids.first().map(|&pid| &m.rules[m.patterns[pid].rule]);
    let (file, line, id) = match first.and_then(|r| parsed.rules.iter().find(|d| d.id == r.id)) {
        Some(d) => (d.file, Some(d.line), Some(d.id.clone())),
        None => (0, None, None),
    };
    parsed.problem(file, line, id.as_deref(), "Regel", Severity::Error, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_documented_order() {
        let m = |fs: &[Field]| fs.iter().fold(0u8, |a, f| a | f.bit());
        use Field::*;
        assert!(rank(m(&[Address])) > rank(m(&[Domain, Signature])));
        assert!(rank(m(&[Domain, Signature])) > rank(m(&[Domain])));
        assert!(rank(m(&[Domain])) > rank(m(&[Signature])));
        assert!(rank(m(&[Signature])) > rank(m(&[Cc])));
        // text ranks a rule just above the same rule without it.
        assert!(rank(m(&[Cc, Text])) > rank(m(&[Cc])));
        assert!(rank(m(&[Cc, Text])) < rank(m(&[ForwardedFrom])));
        assert!(rank(m(&[Domain, Text])) > rank(m(&[Domain])));
        assert!(rank(m(&[Domain, Text])) < rank(m(&[Domain, Signature])));
        assert_eq!(rank_name(rank(m(&[Cc, Text]))), "Cc mit Text");
        assert_eq!(
            rank_name(rank(m(&[Domain, Signature]))),
            "Domain mit Signatur"
        );
    }

    #[test]
    fn domain_suffixes_and_cover() {
        let v: Vec<_> = domain_suffixes("a.b.test").collect();
        assert_eq!(v, ["a.b.test", "b.test", "test"]);
        assert!(domain_covers("b.test", "a.b.test"));
        assert!(domain_covers("b.test", "b.test"));
        assert!(!domain_covers("b.test", "ab.test"));
    }

    #[test]
    fn huge_regex_is_refused() {
        let e = compile_regex(r"\w{1000}{100}").unwrap_err();
        assert!(e.contains("zu groß"), "{e}");
        assert!(compile_regex("(").unwrap_err().starts_with("ungültiger"));
        for (src, said) in [
            (
                "Caritas (Dresden",
                "ungültiger regulärer Ausdruck „Caritas (Dresden“: die Klammer „(“ wird nicht geschlossen (Zeichen 9)",
            ),
            ("a)", "zu dieser Klammer „)“ fehlt die öffnende (Zeichen 2)"),
            ("[a-", "die Zeichenklasse „[“ wird nicht geschlossen (Zeichen 1)"),
            ("*ä", "eine Wiederholung (*, +, ? oder {…}) ohne etwas davor (Zeichen 1)"),
            ("ü(?=x)", "Vorausschau und Rückschau"),
            (r"\p{Klingonisch}", "unbekannte Unicode-Klasse"),
            ("x{2,1}", "die Wiederholung {m,n} hat m größer als n"),
        ] {
            let e = compile_regex(src).unwrap_err();
            assert!(e.contains(said), "{src}: {e}");
            assert!(!e.contains("error"), "{src}: {e}");
        }
    }

    #[test]
    fn unicode_word_boundaries_are_found() {
        for src in [
            r"\bMBE\b",
            r"x\B",
            r"\<wort\>",
            r"\b{start}MBE",
            r"(?-u:a)\bMBE",
            r"(?-u)(?u:\b)MBE",
            r"(?-u)(?:x)(?u)\b",
            r"(?P<n>a)\b",
            r"[]\b]\b",
            r"(?x) a # comment
               \b",
        ] {
            assert!(has_unicode_word_boundary(src), "{src}");
        }
        for src in [
            "MBE",
            r"\\bMBE",
            r"(?-u:\b)MBE(?-u:\b)",
            r"(?-u)\bMBE\B",
            r"(?i-u)\b",
            r"[\b]x",
            r"(?:^|\W)BuT(?:\W|$)",
            r"(?x) a # comment \b",
            r"\p{L}\s+\d",
        ] {
            assert!(!has_unicode_word_boundary(src), "{src}");
        }
        assert!(!has_unicode_word_boundary(&text_regex_source(r"C:\bin")));
    }

    /// A Unicode `\b` pattern is searched on its own, outside the set, and still matches next
    /// to umlauts exactly as the regex does.
    #[test]
    fn word_boundary_patterns_stay_out_of_the_set() {
        let text = "[[rule]]\nid = \"mbe\"\norganisation = \"M\"\ncategory = \"Beratungsstelle\"\nthird_party = true\nsignature = ['re:\\bMBE\\b', 're:(?-u:\\b)JMD(?-u:\\b)', \"Migrationsberatung\"]\n";
        let mut parsed = super::super::file::parse(
            vec![super::super::file::SourceFile::new(
                "s.toml".into(),
                "s.toml".into(),
                text.into(),
            )],
            Vec::new(),
        );
        let m = Matcher::build(&mut parsed);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let idx = &m.index[Field::Signature as usize];
        let written = |ids: &[usize]| -> Vec<String> {
            ids.iter().map(|&p| m.patterns[p].written.clone()).collect()
        };
        assert_eq!(written(&idx.bounded_ids), [r"re:\bMBE\b"]);
        assert_eq!(written(&idx.regex_ids).len(), 2);
        for (signature, expect) in [
            (
                "Caritasverband für Dresden e.V.\nMBE – Migrationsberatung",
                true,
            ),
            ("Caritasverband für Dresden e.V.\nÄMBE", false),
            ("Caritasverband für Dresden e.V.\nMBEü", false),
            ("Caritasverband für Dresden e.V.\n(mbe)", true),
        ] {
            let mut values = Values::default();
            values.push_text(Field::Signature, signature);
            let hit = m
                .best(&values)
                .map(|(r, ev)| (r.id.clone(), ev[0].text.clone()));
            assert_eq!(hit.is_some(), expect, "{signature}: {hit:?}");
            if let Some((id, text)) = hit {
                assert_eq!(id, "mbe");
                assert!(text.eq_ignore_ascii_case("mbe"), "{text}");
            }
        }
    }

    #[test]
    fn text_source_is_literal_and_flexible() {
        let r = compile_regex(&text_regex_source("Caritas (Dresden) e.V.")).unwrap();
        assert!(r.is_match("caritas   (dresden)\ne.v."));
        assert!(!r.is_match("Caritas Dresden eXV."));
    }
}
