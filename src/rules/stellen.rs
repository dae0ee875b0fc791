//! The catalogue of outside bodies (Stellen) the Ombudsstelle contacts to clarify a case:
//! `rules/stellen.toml`, one `[[stelle]]` with `name` and optional `domains`. Read on its own,
//! not by the sender-rule loader (`is_rule_file_name` skips this file); `rules check` reports its
//! problems with file and line. No I/O beyond reading that one file.

use super::defs::plain_domain;
use super::file::{SourceFile, MAX_FILE_BYTES};
use super::matcher::domain_covers;
use super::{Problem, RulesError, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use toml::{Spanned, Value};

/// The catalogue's file name inside the rules directory.
pub const STELLEN_FILE: &str = "stellen.toml";

const STELLE_KEYS: &str = "name, domains";

/// One outside body, e.g. the Familienkasse, with the mail domains it writes from (lower-case,
/// subdomains included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stelle {
    pub name: String,
    pub domains: Vec<String>,
}

/// The loaded catalogue, in file order.
#[derive(Debug, Clone, Default)]
pub struct Stellen {
    stellen: Vec<Stelle>,
}

impl Stellen {
    /// Reads `rules_dir/stellen.toml`; a missing file is an empty catalogue. Refuses the whole
    /// file on any problem (German, with file and line).
    pub fn load(rules_dir: &Path) -> Result<Stellen, RulesError> {
        let (stellen, problems) = read(rules_dir);
        if problems.is_empty() {
            Ok(stellen)
        } else {
            Err(RulesError { problems })
        }
    }

    /// The body of that name (case-insensitive, surrounding blanks ignored).
    pub fn find(&self, name: &str) -> Option<&Stelle> {
        let n = name.trim().to_lowercase();
        self.stellen.iter().find(|s| s.name.to_lowercase() == n)
    }

    /// The body whose domain (or a parent domain of it) the address is in; the most specific
    /// domain wins. `None` for a string without `@`.
    pub fn by_address(&self, address: &str) -> Option<&Stelle> {
        let a = address.trim().trim_matches(['<', '>']).to_lowercase();
        let (_, domain) = a.rsplit_once('@')?;
        let domain = domain.trim_end_matches('.');
        self.stellen
            .iter()
            .flat_map(|s| s.domains.iter().map(move |d| (s, d)))
            .filter(|(_, d)| domain_covers(d, domain))
            .max_by_key(|(_, d)| d.len())
            .map(|(s, _)| s)
    }

    /// The names in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.stellen.iter().map(|s| s.name.as_str())
    }
}

/// Every problem of the catalogue file (nothing for a missing file).
pub(crate) fn check(rules_dir: &Path) -> Vec<Problem> {
    read(rules_dir).1
}

/// Reads and checks the file; the problems are empty when the catalogue is usable.
fn read(rules_dir: &Path) -> (Stellen, Vec<Problem>) {
    let path = rules_dir.join(STELLEN_FILE);
    let problem = |message: String| Problem {
        file: path.clone(),
        line: None,
        rule_id: None,
        item: "Regel",
        severity: Severity::Error,
        message,
    };
    let mut bytes = Vec::new();
    let read = std::fs::File::open(&path).and_then(|f| {
        f.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map(|_| ())
    });
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (Stellen::default(), Vec::new())
        }
        Err(e) => {
            return (
                Stellen::default(),
                vec![problem(format!("Datei nicht lesbar: {e}"))],
            )
        }
        Ok(()) => {}
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let p = problem("Datei ist zu groß (über 1 MB) – bitte prüfen".to_string());
        return (Stellen::default(), vec![p]);
    }
    match String::from_utf8(bytes) {
        Ok(text) => parse(&SourceFile::new(
            STELLEN_FILE.to_string(),
            path.clone(),
            text,
        )),
        Err(e) => {
            let p = problem(format!(
                "Datei ist kein gültiges UTF-8 (Byte {})",
                e.utf8_error().valid_up_to()
            ));
            (Stellen::default(), vec![p])
        }
    }
}

type RawTable = BTreeMap<Spanned<String>, Spanned<Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    stelle: Vec<Spanned<RawTable>>,
}

/// Collects problems of one file, each with its line.
struct Ctx<'a> {
    file: &'a SourceFile,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.path.clone(),
            line: Some(line),
            rule_id: None,
            item: "Regel",
            severity: Severity::Error,
            message: message.into(),
        });
    }

    fn line(&self, span: &std::ops::Range<usize>) -> usize {
        self.file.line_of(span.start)
    }
}

pub(crate) fn parse(file: &SourceFile) -> (Stellen, Vec<Problem>) {
    let mut c = Ctx {
        file,
        problems: Vec::new(),
    };
    let raw: RawFile = match toml::from_str(&file.text) {
        Ok(r) => r,
        Err(e) => {
            let line = e.span().map_or(1, |s| file.line_of(s.start));
            let msg = e.message().trim();
            let text = match msg.strip_prefix("unknown field `") {
                Some(rest) => format!(
                    "unbekannter Abschnitt oder Schlüssel „{}“ (erlaubt: [[stelle]])",
                    rest.split('`').next().unwrap_or(rest)
                ),
                None => format!("ungültiges TOML: {msg}"),
            };
            c.error(line, text);
            return (Stellen::default(), c.problems);
        }
    };
    let mut out: Vec<Entry> = Vec::new();
    for t in &raw.stelle {
        if let Some(entry) = stelle(&mut c, t) {
            out.push(entry);
        }
    }
    duplicates(&mut c, &out);
    c.problems.sort_by_key(|p| p.line);
    if c.problems.is_empty() {
        let stellen = out.into_iter().map(|e| e.stelle).collect();
        (Stellen { stellen }, Vec::new())
    } else {
        (Stellen::default(), c.problems)
    }
}

/// A read `[[stelle]]` with the lines the duplicate checks name.
struct Entry {
    stelle: Stelle,
    line: usize,
    domains: Vec<(String, usize)>,
}

/// One `[[stelle]]` table: `None` when it has problems (they are recorded).
fn stelle(c: &mut Ctx<'_>, raw: &Spanned<RawTable>) -> Option<Entry> {
    let header = c.line(&raw.span());
    let before = c.problems.len();
    let mut name = None;
    let mut domains: Vec<(String, usize)> = Vec::new();
    let mut entries: Vec<_> = raw.get_ref().iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (k, v) in entries {
        let key = k.get_ref().as_str();
        let line = c.line(&k.span());
        match (key, v.get_ref()) {
            ("name", Value::String(s)) if !s.trim().is_empty() => name = Some(s.trim().to_string()),
            ("name", Value::String(_)) => c.error(line, "„name“ ist leer"),
            ("name", _) => c.error(line, "„name“ muss ein Text sein"),
            ("domains", Value::String(s)) => domain(c, s, line, &mut domains),
            ("domains", Value::Array(items)) => {
                for item in items {
                    match item {
                        Value::String(s) => domain(c, s, line, &mut domains),
                        _ => c.error(line, "„domains“: jeder Eintrag muss ein Text sein"),
                    }
                }
            }
            ("domains", _) => c.error(line, "„domains“ muss eine Liste von Texten sein"),
            _ => c.error(
                line,
                format!("unbekannter Schlüssel „{key}“ in [[stelle]] (erlaubt: {STELLE_KEYS})"),
            ),
        }
    }
    if name.is_none() && !raw.get_ref().contains_key("name") {
        c.error(header, "Stelle ohne „name“");
    }
    if c.problems.len() > before {
        return None;
    }
    let stelle = Stelle {
        name: name?,
        domains: domains.iter().map(|(d, _)| d.clone()).collect(),
    };
    Some(Entry {
        stelle,
        line: header,
        domains,
    })
}

fn domain(c: &mut Ctx<'_>, s: &str, line: usize, out: &mut Vec<(String, usize)>) {
    match plain_domain(s) {
        Ok(d) if d.contains('.') => out.push((d, line)),
        Ok(_) => c.error(
            line,
            format!("domains: „{s}“ ist keine vollständige Domain"),
        ),
        Err(e) => c.error(line, format!("domains: {e}")),
    }
}

/// A name or a domain used twice makes the catalogue ambiguous.
fn duplicates(c: &mut Ctx<'_>, entries: &[Entry]) {
    let mut names: Vec<(String, usize)> = Vec::new();
    let mut domains: Vec<(&str, &str)> = Vec::new();
    for e in entries {
        let (s, line, ds) = (&e.stelle, &e.line, &e.domains);
        let key = s.name.to_lowercase();
        match names.iter().find(|(n, _)| *n == key) {
            Some((_, first)) => c.error(
                *line,
                format!(
                    "Stelle „{}“ steht doppelt im Katalog (zuerst in Zeile {first})",
                    s.name
                ),
            ),
            None => names.push((key, *line)),
        }
        for (d, dline) in ds {
            match domains.iter().find(|(e, _)| e == d) {
                Some((_, owner)) => c.error(
                    *dline,
                    format!("domains: „{d}“ gehört schon zur Stelle „{owner}“"),
                ),
                None => domains.push((d, &s.name)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse_text(text: &str) -> (Stellen, Vec<Problem>) {
        parse(&SourceFile::new(
            STELLEN_FILE.into(),
            PathBuf::from("rules/stellen.toml"),
            text.into(),
        ))
    }

    const GOOD: &str = "[[stelle]]\nname = \"Familienkasse\"\ndomains = [\"familienkasse.test\"]\n\n[[stelle]]\nname = \"Jugendamt\"\n\n[[stelle]]\nname = \"Ausländerbehörde\"\ndomains = [\"stadt.test\", \"abh.stadt.test\"]\n\n[[stelle]]\nname = \"Sozialamt\"\ndomains = [\"sozialamt.stadt.test\"]\n";

    #[test]
    fn find_and_names() {
        let (s, p) = parse_text(GOOD);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            s.names().collect::<Vec<_>>(),
            [
                "Familienkasse",
                "Jugendamt",
                "Ausländerbehörde",
                "Sozialamt"
            ]
        );
        assert_eq!(s.find(" familienkasse ").unwrap().name, "Familienkasse");
        assert_eq!(s.find("AUSLÄNDERBEHÖRDE").unwrap().name, "Ausländerbehörde");
        assert!(s.find("Familien").is_none());
        assert!(s.find("Jugendamt").unwrap().domains.is_empty());
    }

    #[test]
    fn by_address_domain_subdomain_most_specific() {
        let (s, _) = parse_text(GOOD);
        let name = |a: &str| s.by_address(a).map(|x| x.name.clone());
        assert_eq!(
            name("info@familienkasse.test").as_deref(),
            Some("Familienkasse")
        );
        assert_eq!(
            name("X@Team.Familienkasse.TEST").as_deref(),
            Some("Familienkasse")
        );
        assert_eq!(name("a@notfamilienkasse.test"), None);
        assert_eq!(name("familienkasse.test"), None);
        assert_eq!(name("a@stadt.test").as_deref(), Some("Ausländerbehörde"));
        assert_eq!(name("a@sozialamt.stadt.test").as_deref(), Some("Sozialamt"));
        assert_eq!(
            name("a@x.sozialamt.stadt.test").as_deref(),
            Some("Sozialamt")
        );
        assert_eq!(
            name("<a@bgb.stadt.test>").as_deref(),
            Some("Ausländerbehörde")
        );
    }

    #[test]
    fn problems_name_the_line() {
        let text = "[[stelle]]\nname = \"Familienkasse\"\n\n[[stelle]]\nname = \"familienkasse\"\nfarbe = \"blau\"\n\n[[stelle]]\nname = \"Wohngeld\"\ndomains = [\"a@b.test\"]\n\n[[stelle]]\ndomains = [\"x.test\"]\n";
        let (s, p) = parse_text(text);
        assert!(s.names().next().is_none());
        let lines: Vec<_> = p.iter().map(|p| (p.line, p.message.as_str())).collect();
        assert!(
            lines
                .iter()
                .any(|(l, m)| *l == Some(6) && m.contains("unbekannter Schlüssel „farbe“")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|(l, m)| *l == Some(10) && m.contains("keine Domain")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|(l, m)| *l == Some(12) && m.contains("ohne „name“")),
            "{lines:?}"
        );
        // the second "familienkasse" is dropped for its unknown key, so no duplicate yet
        let (_, p) = parse_text(
            "[[stelle]]\nname = \"Familienkasse\"\n\n[[stelle]]\nname = \"familienkasse\"\n",
        );
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, Some(4));
        assert_eq!(
            p[0].to_string(),
            "rules/stellen.toml:4: Stelle „familienkasse“ steht doppelt im Katalog (zuerst in Zeile 1)"
        );
    }

    #[test]
    fn duplicate_domain_and_unknown_section() {
        let (_, p) = parse_text("[[stelle]]\nname = \"A\"\ndomains = [\"a.test\"]\n[[stelle]]\nname = \"B\"\ndomains = [\"A.test\"]\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, Some(6));
        assert!(p[0]
            .message
            .contains("„a.test“ gehört schon zur Stelle „A“"));
        let (_, p) = parse_text("[[stelle]]\nname = \"A\"\n\n[[rule]]\nid = \"x\"\n");
        assert_eq!(p.len(), 1);
        assert!(
            p[0].message
                .contains("unbekannter Abschnitt oder Schlüssel „rule“"),
            "{p:?}"
        );
    }

    #[test]
    fn missing_file_is_empty_and_broken_file_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Stellen::load(dir.path()).unwrap();
        assert_eq!(s.names().count(), 0);
        std::fs::write(dir.path().join(STELLEN_FILE), "[[stelle]]\nname = 3\n").unwrap();
        let e = Stellen::load(dir.path()).unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert!(e.problems[0].file.ends_with("stellen.toml"));
        assert_eq!(e.problems[0].line, Some(2));
    }

    #[test]
    fn shipped_catalogue_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let s = Stellen::load(&dir).unwrap();
        for n in [
            "Familienkasse",
            "Deutsche Rentenversicherung",
            "Krankenkasse",
            "Ausländerbehörde",
            "Sozialamt",
            "Wohngeldstelle",
            "Agentur für Arbeit",
            "Jugendamt",
            "Unterhaltsvorschussstelle",
        ] {
            assert!(s.find(n).is_some(), "{n}");
        }
        for d in s.stellen.iter().flat_map(|s| &s.domains) {
            assert!(d.ends_with(".test"), "{d}");
        }
    }
}
