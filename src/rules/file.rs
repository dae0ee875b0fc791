//! Reads the rules directory: picks the rule files, refuses oversized or unreadable ones, parses
//! TOML with spans and validates every key by hand, so that each problem names file, line and
//! rule. Produces the definitions of `defs`; compiling patterns is `matcher`'s job.

use super::defs::{
    parse_condition, parse_hint_pattern, plain_domain, ConditionDef, Field, HintDef, PatternDef,
    RuleDef, Scope, SettingsDef, TopicDef,
};
use super::{Problem, Severity};
use crate::domain::{Category, Kind};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use toml::{Spanned, Value};

/// Files larger than this are refused: a rules file is hand-written and reviewed.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// One rule file as read from disk.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub name: String,
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: String, path: PathBuf, text: String) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name,
            path,
            text,
            line_starts,
        }
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }
}

/// Everything read from a rules directory, in file order (files sorted by name).
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub files: Vec<SourceFile>,
    pub rules: Vec<RuleDef>,
    pub hints: Vec<HintDef>,
    pub topics: Vec<TopicDef>,
    pub settings: Option<SettingsDef>,
    pub problems: Vec<Problem>,
    /// Every rule id with file and line, including rules dropped for problems.
    pub rule_ids: Vec<(String, usize, usize)>,
}

impl Parsed {
    pub fn problem(
        &mut self,
        file: usize,
        line: Option<usize>,
        rule_id: Option<&str>,
        item: &'static str,
        severity: Severity,
        message: impl Into<String>,
    ) {
        let path = self
            .files
            .get(file)
            .map(|f| f.path.clone())
            .unwrap_or_default();
        self.problems.push(Problem {
            file: path,
            line,
            rule_id: rule_id.map(str::to_string),
            item,
            severity,
            message: message.into(),
        });
    }
}

/// Editor leftovers and hidden files are not rule files, nor the catalogue of outside bodies
/// (`stellen.toml`, read by `stellen`).
pub(crate) fn is_rule_file_name(name: &str) -> bool {
    name != super::stellen::STELLEN_FILE
        && name.ends_with(".toml")
        && name.len() > ".toml".len()
        && !name.starts_with('.')
        && !name.starts_with('#')
        && !name.ends_with('~')
}

/// What a rule must have besides well-formed values: an id, its three required keys (`unset`:
/// key and whether no valid value was read; a key present with a wrong value is reported once,
/// where it is) and a condition that is not `text` alone.
fn check_rule_shape(
    c: &mut TableCtx<'_, '_>,
    t: &RawTable,
    header: usize,
    unset: [(&str, bool); 3],
) {
    if !has_key(t, "id") {
        c.error(header, "Regel ohne „id“");
    }
    for (name, missing) in unset {
        if missing && !has_key(t, name) {
            c.error(header, format!("Pflichtangabe „{name}“ fehlt"));
        }
    }
    if has_key(t, Field::Text.key())
        && !Field::ALL
            .iter()
            .any(|f| *f != Field::Text && has_key(t, f.key()))
    {
        c.error(
        header,
        "„text“ allein ist zu breit: nur zusammen mit einer anderen Bedingung (z. B. cc = \"stadt.test\" und text = \"Sozialpsychiatrischer Dienst\")",
        );
    } else if !Field::ALL.iter().any(|f| has_key(t, f.key())) {
        c.error(
        header,
        "Regel ohne Bedingung (mindestens eine von: address, domain, display_name, reply_to, cc, signature, forwarded_from)",
        );
    }
}

fn format_size(bytes: u64) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    format!("{mb:.1} MB").replace('.', ",")
}

/// Reads all rule files of `dir`, sorted by name. Unreadable, oversized or non-UTF-8 files
/// become problems and are left out.
pub(crate) fn read_dir(dir: &Path) -> (Vec<SourceFile>, Vec<Problem>) {
    let mut problems = Vec::new();
    let dir_problem = |message: String| Problem {
        file: dir.to_path_buf(),
        line: None,
        rule_id: None,
        item: "Regel",
        severity: Severity::Error,
        message,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(dir_problem(format!("Regelverzeichnis nicht lesbar: {e}")));
            return (Vec::new(), problems);
        }
    };
    let mut names: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            is_rule_file_name(&name).then(|| (name, e.path()))
        })
        .collect();
    names.sort();
    let mut files = Vec::new();
    for (name, path) in names {
        let problem = |message: String| Problem {
            file: path.clone(),
            line: None,
            rule_id: None,
            item: "Regel",
            severity: Severity::Error,
            message,
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                problems.push(problem(format!("Datei nicht lesbar: {e}")));
                continue;
            }
        };
        if !meta.is_file() {
            continue;
        }
        if meta.len() > MAX_FILE_BYTES {
            problems.push(problem(format!(
                "Datei ist zu groß ({}, erlaubt sind höchstens 1 MB) – eine Regeldatei wird von Hand gepflegt; bitte aufteilen oder prüfen, ob die richtige Datei hier liegt",
                format_size(meta.len())
            )));
            continue;
        }
        // Read at most one byte past the limit: the file may have grown since `metadata`.
        let mut bytes = Vec::new();
        let read = std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes));
        if let Err(e) = read {
            problems.push(problem(format!("Datei nicht lesbar: {e}")));
            continue;
        }
        if bytes.len() as u64 > MAX_FILE_BYTES {
            problems.push(problem(
                "Datei ist zu groß (über 1 MB) – bitte aufteilen".to_string(),
            ));
            continue;
        }
        match String::from_utf8(bytes) {
            Ok(text) => files.push(SourceFile::new(name, path, text)),
            Err(e) => problems.push(problem(format!(
                "Datei ist kein gültiges UTF-8 (Byte {})",
                e.utf8_error().valid_up_to()
            ))),
        }
    }
    if files.is_empty() && problems.is_empty() {
        problems.push(dir_problem(
            "keine Regeldateien (*.toml) im Regelverzeichnis".to_string(),
        ));
    }
    (files, problems)
}

type RawTable = BTreeMap<Spanned<String>, Spanned<Value>>;

/// The top level of a rule file; everything below is validated by hand for better messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    settings: Option<Spanned<RawTable>>,
    #[serde(default)]
    rule: Vec<Spanned<RawTable>>,
    #[serde(default)]
    hint: Vec<Spanned<RawTable>>,
    #[serde(default)]
    topic: Vec<Spanned<RawTable>>,
}

const RULE_KEYS: &str =
    "id, organisation, category, third_party, priority, address, domain, display_name, reply_to, cc, signature, forwarded_from, text";
const HINT_KEYS: &str = "id, kind, topics, match, in";
const TOPIC_KEYS: &str = "name, area, retired";
const SETTINGS_KEYS: &str = "internal_domains";

/// Parses all files; problems are collected, valid definitions kept.
pub(crate) fn parse(files: Vec<SourceFile>, problems: Vec<Problem>) -> Parsed {
    let mut p = Parsed {
        files,
        problems,
        ..Parsed::default()
    };
    for idx in 0..p.files.len() {
        parse_file(&mut p, idx);
    }
    duplicate_ids(&mut p);
    p
}

fn parse_file(p: &mut Parsed, idx: usize) {
    let file = p.files[idx].clone();
    let raw: RawFile = match toml::from_str(&file.text) {
        Ok(r) => r,
        Err(e) => {
            let line = e.span().map(|s| file.line_of(s.start));
            p.problem(idx, line, None, "Regel", Severity::Error, toml_message(&e));
            return;
        }
    };
    let mut f = FileCtx {
        p,
        file: &file,
        idx,
    };
    if let Some(s) = raw.settings {
        f.settings(s);
    }
    for r in raw.rule {
        f.rule(r);
    }
    for h in raw.hint {
        f.hint(h);
    }
    for t in raw.topic {
        f.topic(t);
    }
}

fn toml_message(e: &toml::de::Error) -> String {
    let msg = e.message().trim();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return format!(
            "unbekannter Abschnitt oder Schlüssel „{name}“ (erlaubt: [settings], [[rule]], [[hint]], [[topic]])"
        );
    }
    format!("ungültiges TOML: {msg}")
}

struct FileCtx<'a> {
    p: &'a mut Parsed,
    file: &'a SourceFile,
    idx: usize,
}

/// Problems found while reading one table; the table is dropped when any exist.
struct TableCtx<'c, 'a> {
    f: &'c mut FileCtx<'a>,
    id: Option<String>,
    /// „Regel“, „Hinweis“, „Thema“: what `id` names in a message.
    item: &'static str,
    failed: bool,
}

impl TableCtx<'_, '_> {
    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.failed = true;
        let id = self.id.clone();
        self.f.p.problem(
            self.f.idx,
            Some(line),
            id.as_deref(),
            self.item,
            Severity::Error,
            message,
        );
    }

    fn line(&self, span: &std::ops::Range<usize>) -> usize {
        self.f.file.line_of(span.start)
    }

    fn string(&mut self, key: &str, v: &Spanned<Value>) -> Option<String> {
        match v.get_ref() {
            Value::String(s) => Some(s.clone()),
            other => {
                let line = self.line(&v.span());
                self.error(
                    line,
                    format!("„{key}“ muss ein Text sein, nicht {}", type_name(other)),
                );
                None
            }
        }
    }

    fn boolean(&mut self, key: &str, v: &Spanned<Value>) -> Option<bool> {
        match v.get_ref() {
            Value::Boolean(b) => Some(*b),
            other => {
                let line = self.line(&v.span());
                self.error(
                    line,
                    format!(
                        "„{key}“ muss true oder false sein, nicht {}",
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    /// A string or an array of strings, each with its line.
    /// One condition key of a rule (`address`, `domain`, …) with its patterns; None when its
    /// value is not a string or a list of strings (the error is recorded).
    fn condition(&mut self, field: Field, key: &str, v: &Spanned<Value>) -> Option<ConditionDef> {
        let values = self.strings(key, v)?;
        let mut patterns = Vec::new();
        for (written, line) in values {
            match parse_condition(field, &written) {
                Ok(syntax) => patterns.push(PatternDef {
                    written,
                    syntax,
                    line,
                }),
                Err(e) => self.error(line, format!("{key}: {e}")),
            }
        }
        Some(ConditionDef { field, patterns })
    }

    fn strings(&mut self, key: &str, v: &Spanned<Value>) -> Option<Vec<(String, usize)>> {
        let span = v.span();
        let items: Vec<String> = match v.get_ref() {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => {
                let mut out = Vec::new();
                for item in a {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        other => {
                            let line = self.line(&span);
                            self.error(
                                line,
                                format!(
                                    "„{key}“: jeder Eintrag muss ein Text sein, nicht {}",
                                    type_name(other)
                                ),
                            );
                            return None;
                        }
                    }
                }
                if out.is_empty() {
                    let line = self.line(&span);
                    self.error(line, format!("„{key}“ ist eine leere Liste"));
                    return None;
                }
                out
            }
            other => {
                let line = self.line(&span);
                self.error(
                    line,
                    format!(
                        "„{key}“ muss ein Text oder eine Liste von Texten sein, nicht {}",
                        type_name(other)
                    ),
                );
                return None;
            }
        };
        Some(self.with_lines(items, span))
    }

    /// Finds the line of each array element by its text inside the value's span; values with
    /// escapes fall back to the line of the previous element.
    fn with_lines(&self, items: Vec<String>, span: std::ops::Range<usize>) -> Vec<(String, usize)> {
        let text = &self.f.file.text;
        let end = span.end.min(text.len());
        let mut cursor = span.start.min(end);
        items
            .into_iter()
            .map(|s| {
                let found = text
                    .get(cursor..end)
                    .and_then(|window| window.find(s.as_str()))
                    .filter(|_| !s.is_empty());
                let line = match found {
                    Some(pos) => {
                        let at = cursor + pos;
                        cursor = at + s.len();
                        self.f.file.line_of(at)
                    }
                    None => self.f.file.line_of(cursor),
                };
                (s, line)
            })
            .collect()
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "ein Text",
        Value::Integer(_) => "eine Zahl",
        Value::Float(_) => "eine Kommazahl",
        Value::Boolean(_) => "ein Wahrheitswert",
        Value::Datetime(_) => "ein Datum",
        Value::Array(_) => "eine Liste",
        Value::Table(_) => "eine Tabelle",
    }
}

/// Entries in the order they are written (the map itself is sorted by key).
fn entries(t: &RawTable) -> Vec<(&Spanned<String>, &Spanned<Value>)> {
    let mut v: Vec<_> = t.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

fn has_key(t: &RawTable, key: &str) -> bool {
    t.contains_key(key)
}

fn lookup_id(t: &RawTable) -> Option<String> {
    t.iter()
        .find(|(k, _)| k.get_ref() == "id")
        .and_then(|(_, v)| v.get_ref().as_str())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl<'a> FileCtx<'a> {
    fn table<'c>(&'c mut self, item: &'static str, id: Option<String>) -> TableCtx<'c, 'a> {
        TableCtx {
            f: self,
            id,
            item,
            failed: false,
        }
    }

    fn rule(&mut self, raw: Spanned<RawTable>) {
        let header = self.file.line_of(raw.span().start);
        let t = raw.get_ref();
        let mut c = self.table("Regel", lookup_id(t));
        let (mut id, mut organisation, mut category, mut third_party) = (None, None, None, None);
        let mut priority = 0;
        let mut conditions: Vec<ConditionDef> = Vec::new();
        let mut id_line = header;
        for (k, v) in entries(t) {
            let key = k.get_ref().as_str();
            let line = c.line(&k.span());
            match key {
                "id" => {
                    id_line = line;
                    if let Some(s) = c.string(key, v) {
                        let s = s.trim().to_string();
                        if s.is_empty() || s.chars().any(char::is_whitespace) {
                            c.error(
                                line,
                                format!("ungültige id „{s}“ (nicht leer, ohne Leerzeichen)"),
                            );
                        } else {
                            id = Some(s);
                        }
                    }
                }
                "organisation" => {
                    if let Some(s) = c.string(key, v) {
                        if s.trim().is_empty() {
                            c.error(line, "„organisation“ ist leer");
                        } else {
                            organisation = Some(s.trim().to_string());
                        }
                    }
                }
                "category" => {
                    if let Some(s) = c.string(key, v) {
                        match Category::from_str(&s) {
                            Ok(cat) => category = Some(cat),
                            Err(e) => c.error(line, e),
                        }
                    }
                }
                "third_party" => third_party = c.boolean(key, v),
                "priority" => match v.get_ref() {
                    Value::Integer(i) => priority = *i,
                    other => c.error(
                        line,
                        format!(
                            "„priority“ muss eine ganze Zahl sein, nicht {}",
                            type_name(other)
                        ),
                    ),
                },
                _ => match Field::from_key(key) {
                    Some(field) => conditions.extend(c.condition(field, key, v)),
                    None => c.error(
                        line,
                        format!("unbekannter Schlüssel „{key}“ (erlaubt: {RULE_KEYS})"),
                    ),
                },
            }
        }
        let unset = [
            ("organisation", organisation.is_none()),
            ("category", category.is_none()),
            ("third_party", third_party.is_none()),
        ];
        check_rule_shape(&mut c, t, header, unset);
        if let Some(id) = &id {
            // Broken rules take part in the duplicate check too, so fixing a typo does not
            // suddenly reveal a clash.
            let idx = c.f.idx;
            c.f.p.rule_ids.push((id.clone(), idx, id_line));
        }
        if c.failed {
            return;
        }
        if let (Some(id), Some(organisation), Some(category), Some(third_party)) =
            (id, organisation, category, third_party)
        {
            let idx = c.f.idx;
            c.f.p.rules.push(RuleDef {
                id,
                organisation,
                category,
                third_party,
                priority,
                conditions,
                file: idx,
                line: header,
            });
        }
    }

    fn hint(&mut self, raw: Spanned<RawTable>) {
        let header = self.file.line_of(raw.span().start);
        let t = raw.get_ref();
        let mut c = self.table("Hinweis", lookup_id(t));
        let mut id = None;
        let mut kind = None;
        let mut topics = Vec::new();
        let mut scope = Scope::Both;
        let mut patterns = Vec::new();
        for (k, v) in entries(t) {
            let key = k.get_ref().as_str();
            let line = c.line(&k.span());
            match key {
                "id" => id = c.string(key, v).map(|s| s.trim().to_string()),
                "kind" => {
                    if let Some(s) = c.string(key, v) {
                        match Kind::from_str(&s) {
                            Ok(k) => kind = Some(k),
                            Err(e) => c.error(line, e),
                        }
                    }
                }
                "topics" => {
                    if let Some(list) = c.strings(key, v) {
                        topics = list
                            .into_iter()
                            .map(|(s, l)| (s.trim().to_string(), l))
                            .collect();
                        if topics.len() > 3 {
                            c.error(line, "höchstens drei Themen je Hinweis");
                        }
                    }
                }
                "in" => {
                    if let Some(s) = c.string(key, v) {
                        match s.trim() {
                            "subject" => scope = Scope::Subject,
                            "text" => scope = Scope::Text,
                            "both" => scope = Scope::Both,
                            other => c.error(
                                line,
                                format!(
                                    "„in“ = „{other}“ unbekannt (erlaubt: subject, text, both)"
                                ),
                            ),
                        }
                    }
                }
                "match" => {
                    if let Some(list) = c.strings(key, v) {
                        for (written, line) in list {
                            match parse_hint_pattern(&written) {
                                Ok(syntax) => patterns.push(PatternDef {
                                    written,
                                    syntax,
                                    line,
                                }),
                                Err(e) => c.error(line, format!("match: {e}")),
                            }
                        }
                    }
                }
                _ => c.error(
                    line,
                    format!("unbekannter Schlüssel „{key}“ in [[hint]] (erlaubt: {HINT_KEYS})"),
                ),
            }
        }
        if id.as_deref().is_none_or(str::is_empty) {
            c.error(header, "Hinweis ohne „id“");
        }
        if !has_key(t, "match") {
            c.error(header, "Hinweis ohne „match“");
        }
        if kind.is_none() && topics.is_empty() && !c.failed {
            c.error(
                header,
                "Hinweis ohne „kind“ und ohne „topics“ – er schlägt nichts vor",
            );
        }
        if c.failed {
            return;
        }
        if let Some(id) = id {
            let idx = c.f.idx;
            c.f.p.hints.push(HintDef {
                id,
                kind,
                topics,
                scope,
                patterns,
                file: idx,
                line: header,
            });
        }
    }

    fn topic(&mut self, raw: Spanned<RawTable>) {
        let header = self.file.line_of(raw.span().start);
        let t = raw.get_ref();
        let name_hint = t
            .iter()
            .find(|(k, _)| k.get_ref() == "name")
            .and_then(|(_, v)| v.get_ref().as_str())
            .map(str::to_string);
        let mut c = self.table("Thema", name_hint);
        let (mut name, mut area, mut retired) = (None, None, false);
        for (k, v) in entries(t) {
            let key = k.get_ref().as_str();
            let line = c.line(&k.span());
            match key {
                "name" => {
                    name = c
                        .string(key, v)
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty());
                    if name.is_none() {
                        c.error(line, "Thema ohne Namen");
                    }
                }
                "area" => {
                    area = c
                        .string(key, v)
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                }
                "retired" => retired = c.boolean(key, v).unwrap_or(false),
                _ => c.error(
                    line,
                    format!("unbekannter Schlüssel „{key}“ in [[topic]] (erlaubt: {TOPIC_KEYS})"),
                ),
            }
        }
        if !has_key(t, "name") {
            c.error(header, "Thema ohne „name“");
        }
        if c.failed {
            return;
        }
        if let Some(name) = name {
            let idx = c.f.idx;
            c.f.p.topics.push(TopicDef {
                name,
                area,
                retired,
                file: idx,
                line: header,
            });
        }
    }

    fn settings(&mut self, raw: Spanned<RawTable>) {
        let header = self.file.line_of(raw.span().start);
        if let Some(prev) = &self.p.settings {
            let where_ = format!(
                "{}:{}",
                self.p.files.get(prev.file).map_or("?", |f| f.name.as_str()),
                prev.line
            );
            let idx = self.idx;
            self.p.problem(
                idx,
                Some(header),
                None,
                "Regel",
                Severity::Error,
                format!("[settings] darf nur in einer Datei stehen (schon in {where_})"),
            );
            return;
        }
        let t = raw.get_ref();
        let mut c = self.table("Regel", None);
        let mut domains = Vec::new();
        for (k, v) in entries(t) {
            let key = k.get_ref().as_str();
            let line = c.line(&k.span());
            match key {
                "internal_domains" => {
                    if let Some(list) = c.strings(key, v) {
                        for (d, line) in list {
                            match plain_domain(&d) {
                                Ok(d) => domains.push(d),
                                Err(e) => c.error(line, format!("internal_domains: {e}")),
                            }
                        }
                    }
                }
                _ => c.error(
                    line,
                    format!(
                        "unbekannter Schlüssel „{key}“ in [settings] (erlaubt: {SETTINGS_KEYS})"
                    ),
                ),
            }
        }
        if c.failed {
            return;
        }
        let idx = c.f.idx;
        c.f.p.settings = Some(SettingsDef {
            internal_domains: domains,
            file: idx,
            line: header,
        });
    }
}

/// Reports rule ids used twice (across all files).
fn duplicate_ids(p: &mut Parsed) {
    let mut seen: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut found = Vec::new();
    for (id, file, line) in &p.rule_ids {
        match seen.get(id.as_str()) {
            Some(&(f0, l0)) => found.push((id.clone(), *file, *line, f0, l0)),
            None => {
                seen.insert(id, (*file, *line));
            }
        }
    }
    for (id, file, line, f0, l0) in found {
        let first = format!("{}:{l0}", p.files.get(f0).map_or("?", |f| f.name.as_str()));
        p.problem(
            file,
            Some(line),
            Some(&id),
            "Regel",
            Severity::Error,
            format!("id „{id}“ ist doppelt vergeben (zuerst in {first})"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::defs::Syntax;

    fn parse_one(text: &str) -> Parsed {
        parse(
            vec![SourceFile::new(
                "senders.toml".into(),
                PathBuf::from("rules/senders.toml"),
                text.into(),
            )],
            Vec::new(),
        )
    }

    #[test]
    fn file_names() {
        assert!(is_rule_file_name("senders.toml"));
        for n in [
            ".hidden.toml",
            "senders.toml~",
            "#senders.toml#",
            "senders.toml.swp",
            ".senders.toml.swp",
            "x.txt",
            ".toml",
            "stellen.toml",
        ] {
            assert!(!is_rule_file_name(n), "{n}");
        }
    }

    #[test]
    fn line_of_offsets() {
        let f = SourceFile::new("a".into(), "a".into(), "ab\ncd\n\nef".into());
        assert_eq!(f.line_of(0), 1);
        assert_eq!(f.line_of(2), 1);
        assert_eq!(f.line_of(3), 2);
        assert_eq!(f.line_of(7), 4);
    }

    #[test]
    fn reads_a_rule() {
        let p = parse_one(
            "# c\n[[rule]]\nid = \"a\"\norganisation = \"A\"\ncategory = \"Träger\"\nthird_party = true\npriority = 3\ndomain = [\"A.test\", \"b.test\"]\nsignature = \"re:(?i)x\"\n",
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let r = &p.rules[0];
        assert_eq!((r.id.as_str(), r.line, r.priority), ("a", 2, 3));
        assert_eq!(r.category, Category::Traeger);
        assert_eq!(
            r.conditions[0].patterns[0].syntax,
            Syntax::Domain("a.test".into())
        );
        assert_eq!(
            r.conditions[1].patterns[0].syntax,
            Syntax::Regex("(?i)x".into())
        );
    }

    #[test]
    fn unknown_key_has_line_and_id() {
        let p = parse_one("[[rule]]\nid = \"a\"\norganisation = \"A\"\ncategory = \"Träger\"\nthird_party = true\ndomian = \"a.test\"\n");
        assert_eq!(p.problems.len(), 2, "{:?}", p.problems);
        assert_eq!(p.problems[0].line, Some(6));
        assert_eq!(p.problems[0].rule_id.as_deref(), Some("a"));
        assert!(p.problems[0].message.contains("domian"));
        assert!(p.problems[1].message.contains("ohne Bedingung"));
        assert_eq!(p.problems[1].line, Some(1));
        assert!(p.rules.is_empty());
    }

    #[test]
    fn unknown_top_level_section() {
        let p = parse_one("# Regeln\n\n[[rules]]\nid = \"a\"\n");
        assert_eq!(p.problems.len(), 1);
        assert_eq!(p.problems[0].line, Some(3));
        assert!(
            p.problems[0].message.contains("„rules“"),
            "{}",
            p.problems[0].message
        );
    }

    #[test]
    fn toml_syntax_error_line() {
        let p = parse_one("[[rule]]\nid = \"a\"\norganisation = A\n");
        assert_eq!(p.problems[0].line, Some(3));
        assert!(p.problems[0].message.starts_with("ungültiges TOML"));
    }

    #[test]
    fn unknown_category_lists_valid_ones() {
        let p = parse_one("[[rule]]\nid = \"a\"\norganisation = \"A\"\ncategory = \"Kirche\"\nthird_party = true\ndomain = \"a.test\"\n");
        assert_eq!(p.problems.len(), 1);
        assert_eq!(p.problems[0].line, Some(4));
        assert!(p.problems[0]
            .message
            .contains("Beratungsstelle, Verein/Initiative"));
    }

    #[test]
    fn element_lines_in_multiline_arrays() {
        let p = parse_one("[[rule]]\nid = \"a\"\norganisation = \"A\"\ncategory = \"Träger\"\nthird_party = true\naddress = [\n  \"a@x.test\",\n  \"kein-at\",\n]\n");
        assert_eq!(p.problems.len(), 1);
        assert_eq!(p.problems[0].line, Some(8));
        assert!(p.problems[0].message.contains("ohne @"));
    }

    #[test]
    fn a_problem_names_what_it_is_in_a_hint_or_a_topic() {
        let p = parse_one("[[hint]]\nid = \"h\"\nkind = \"quatsch\"\nmatch = [\"x\"]\n");
        let text = p.problems[0].to_string();
        assert!(text.contains(": Hinweis h: "), "{text}");
        let p = parse_one("[[topic]]\nname = \"Umzug\"\nfarbe = 1\n");
        let text = p.problems[0].to_string();
        assert!(text.contains(": Thema Umzug: "), "{text}");
    }

    #[test]
    fn duplicate_ids_across_rules() {
        let rule = "[[rule]]\nid = \"a\"\norganisation = \"A\"\ncategory = \"Träger\"\nthird_party = true\ndomain = \"a.test\"\n";
        let p = parse_one(&format!("{rule}{rule}"));
        assert_eq!(p.problems.len(), 1);
        // The line of the second `id`, naming the first `id`'s line.
        assert_eq!(p.problems[0].line, Some(8));
        assert!(p.problems[0].message.contains("doppelt"));
        assert!(p.problems[0].message.contains("senders.toml:2"));
    }

    #[test]
    fn duplicate_id_of_a_broken_rule_is_still_reported() {
        let p = parse_one("[[rule]]\nid = \"a\"\norganisation = \"A\"\ncategory = \"Träger\"\nthird_party = true\ndomain = \"a.test\"\n[[rule]]\nid = \"a\"\n");
        assert!(p
            .problems
            .iter()
            .any(|x| x.message.contains("doppelt") && x.line == Some(8)));
        assert_eq!(p.rules.len(), 1);
    }

    #[test]
    fn settings_only_once() {
        let p = parse(
            vec![
                SourceFile::new(
                    "a.toml".into(),
                    "r/a.toml".into(),
                    "[settings]\ninternal_domains = [\"jobcenter.test\"]\n".into(),
                ),
                SourceFile::new(
                    "b.toml".into(),
                    "r/b.toml".into(),
                    "[settings]\ninternal_domains = []\n".into(),
                ),
            ],
            Vec::new(),
        );
        assert_eq!(
            p.settings.as_ref().unwrap().internal_domains,
            vec!["jobcenter.test"]
        );
        assert_eq!(p.problems.len(), 1);
        assert!(p.problems[0].message.contains("a.toml:1"));
    }
}
