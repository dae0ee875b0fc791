//! Who sent a mail: the admin-edited rules directory (`rules/*.toml`) maps senders to the
//! organisation behind them, suggests kind and topics, and holds the topic catalogue. Takes an
//! already parsed mail; no I/O beyond reading the rules directory. Format: docs/rules.md.

mod check;
mod defs;
mod file;
pub(crate) use file::is_rule_file_name;
mod forward;
mod hints;
mod matcher;
mod signature;
pub mod stellen;

#[cfg(test)]
mod scenarios;

pub use forward::inline_forwarded_from;
pub use hints::{Hints, MAX_TOPICS};
pub use signature::{signature_block, MAX_SIGNATURE_LINES};
pub use stellen::{Stelle, Stellen};

use crate::domain::{Address, Category};
use defs::Field;
use file::{Parsed, SourceFile};
use hints::HintSet;
use matcher::{Matcher, Values};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use signature::signature_of_own;
use std::fmt;
use std::path::{Path, PathBuf};

/// What the rules look at in a mail. Build it with `..Default::default()` for the fields a
/// caller does not have.
#[derive(Debug, Clone, Copy, Default)]
pub struct SenderInput<'a> {
    pub from: Option<&'a Address>,
    pub reply_to: &'a [Address],
    pub cc: &'a [Address],
    /// Plain text body as stored.
    pub text: &'a str,
    /// `From` of attached message/rfc822 parts, in order.
    pub attached_forwarded_from: &'a [Address],
}

/// Why a rule matched: which mail field, what text in it, and the condition as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// `from_address`, `from_domain`, `display_name`, `reply_to`, `cc`, `signature`,
    /// `forwarded_from`, or `forwarded_by` (an internal colleague forwarded the mail).
    pub field: String,
    pub text: String,
    /// E.g. `domain = caritas-dresden.test`.
    pub condition: String,
}

/// The organisation behind a mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderMatch {
    pub rule_id: String,
    pub organisation: String,
    pub category: Category,
    pub third_party: bool,
    pub evidence: Vec<Evidence>,
}

/// One entry of the topic catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    pub name: String,
    pub area: Option<String>,
    /// No longer assignable, still valid on old cases.
    pub retired: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem in the rules directory, with file, 1-based line and rule id where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub rule_id: Option<String>,
    /// What `rule_id` names, as the message says it: „Regel“, „Hinweis“ or „Thema“.
    pub item: &'static str,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if self.severity == Severity::Warning {
            f.write_str("Warnung: ")?;
        }
        if let Some(id) = &self.rule_id {
            write!(f, "{} {id}: ", self.item)?;
        }
        f.write_str(&self.message)
    }
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The rules directory could not be loaded; `problems` holds every error and warning.
#[derive(Debug, thiserror::Error)]
#[error("Regelwerk fehlerhaft:\n{}", render(.problems))]
pub struct RulesError {
    pub problems: Vec<Problem>,
}

/// The loaded rules: sender rules, hints, topic catalogue and settings.
#[derive(Debug)]
pub struct RuleSet {
    matcher: Matcher,
    hints: HintSet,
    topics: Vec<Topic>,
    internal_domains: Vec<String>,
    version: String,
    warnings: Vec<Problem>,
}

/// Everything `load_dir` would refuse, plus warnings (shadowed rules and the like), plus the
/// problems of the catalogue of outside bodies (`stellen.toml`, which `Stellen::load` refuses).
pub fn check_dir(dir: &Path) -> Vec<Problem> {
    check_and_load_dir(dir).1
}

/// `check_dir` and `RuleSet::load_dir` in one pass (the patterns compiled once): every problem,
/// and the set where the sender rules have no error. `check` and the services' start use it.
pub fn check_and_load_dir(dir: &Path) -> (Option<RuleSet>, Vec<Problem>) {
    let (files, problems) = file::read_dir(dir);
    let (set, mut problems) = analyse(files, problems);
    problems.extend(stellen::check(dir));
    (set, problems)
}

/// Hex SHA-256 over file names and contents, in name order: identifies the rules a case was
/// classified with.
fn version_of(files: &[SourceFile]) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update((f.name.len() as u64).to_le_bytes());
        h.update(f.name.as_bytes());
        h.update((f.text.len() as u64).to_le_bytes());
        h.update(f.text.as_bytes());
    }
    let mut v = hex::encode(h.finalize());
    v.truncate(12);
    v
}

fn analyse(files: Vec<SourceFile>, problems: Vec<Problem>) -> (Option<RuleSet>, Vec<Problem>) {
    let version = version_of(&files);
    let mut parsed = file::parse(files, problems);
    topic_duplicates(&mut parsed);
    let matcher = Matcher::build(&mut parsed);
    let hints = HintSet::build(&mut parsed);
    check::review(&mut parsed);
    general_warnings(&mut parsed);

    let mut problems = std::mem::take(&mut parsed.problems);
    problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    if problems.iter().any(|p| p.severity == Severity::Error) {
        return (None, problems);
    }
    let set = RuleSet {
        matcher,
        hints,
        topics: parsed
            .topics
            .iter()
            .map(|t| Topic {
                name: t.name.clone(),
                area: t.area.clone(),
                retired: t.retired,
            })
            .collect(),
        internal_domains: parsed
            .settings
            .as_ref()
            .map(|s| s.internal_domains.clone())
            .unwrap_or_default(),
        version,
        warnings: problems.clone(),
    };
    (Some(set), problems)
}

fn topic_duplicates(p: &mut Parsed) {
    let mut seen: Vec<(String, usize, usize)> = Vec::new();
    let mut found = Vec::new();
    for t in &p.topics {
        let key = t.name.to_lowercase();
        match seen.iter().find(|(k, _, _)| *k == key) {
            Some((_, f0, l0)) => found.push((t.file, t.line, t.name.clone(), *f0, *l0)),
            None => seen.push((key, t.file, t.line)),
        }
    }
    for (file, line, name, f0, l0) in found {
        let first = format!("{}:{l0}", p.files.get(f0).map_or("?", |f| f.name.as_str()));
        p.problem(
            file,
            Some(line),
            None,
            "Thema",
            Severity::Error,
            format!("Thema „{name}“ steht doppelt im Katalog (zuerst in {first})"),
        );
    }
}

/// Warnings about the set as a whole. They name the directory, not one of its files, and are
/// left out while a file has errors: a file that did not parse would make them wrong.
fn general_warnings(p: &mut Parsed) {
    if p.files.is_empty() || p.problems.iter().any(|e| e.severity == Severity::Error) {
        return;
    }
    let dir = p.files[0]
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let start = p.problems.len();
    if p.rules.is_empty() {
        p.problem(
            0,
            None,
            None,
            "Regel",
            Severity::Warning,
            "keine Absenderregeln ([[rule]]) gefunden",
        );
    }
    if p.topics.is_empty() {
        p.problem(
            0,
            None,
            None,
            "Regel",
            Severity::Warning,
            "kein Themenkatalog ([[topic]]) gefunden",
        );
    }
    if p.settings
        .as_ref()
        .is_none_or(|s| s.internal_domains.is_empty())
    {
        p.problem(
            0,
            None,
            None,
            "Regel",
            Severity::Warning,
            "keine internal_domains in [settings]: Weiterleitungen von Kolleginnen und Kollegen werden nicht erkannt",
        );
    }
    for w in &mut p.problems[start..] {
        w.file = dir.clone();
    }
}

/// The mail as the rules see it.
struct View {
    values: Values,
    /// The internal colleague who forwarded the mail, with the internal domain that matched.
    forwarded_by: Option<(Address, String)>,
}

impl RuleSet {
    /// Loads all rule files of `dir` (`*.toml`, sorted by name; dotfiles and editor leftovers
    /// ignored). Refuses the whole set on any error.
    pub fn load_dir(dir: &Path) -> Result<RuleSet, RulesError> {
        let (files, problems) = file::read_dir(dir);
        match analyse(files, problems) {
            (Some(set), _) => Ok(set),
            (None, problems) => Err(RulesError { problems }),
        }
    }

    /// Loads rules from in-memory files `(name, contents)`, as `load_dir` would from disk.
    pub fn from_sources(files: &[(&str, &str)]) -> Result<RuleSet, RulesError> {
        let mut sorted: Vec<_> = files.to_vec();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let sources = sorted
            .into_iter()
            .map(|(name, text)| {
                SourceFile::new(name.to_string(), PathBuf::from(name), text.to_string())
            })
            .collect();
        match analyse(sources, Vec::new()) {
            (Some(set), _) => Ok(set),
            (None, problems) => Err(RulesError { problems }),
        }
    }

    /// Short hex SHA-256 of the rule files (names and contents).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Warnings found while loading (shadowed rules, …); they did not stop loading.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// Number of sender rules.
    pub fn len(&self) -> usize {
        self.matcher.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.rules.is_empty()
    }

    /// The authority's own domains from `[settings] internal_domains`.
    pub fn internal_domains(&self) -> &[String] {
        &self.internal_domains
    }

    fn internal_domain_of(&self, addr: &Address) -> Option<&str> {
        let d = addr.domain();
        self.internal_domains
            .iter()
            .find(|i| matcher::domain_covers(i, &d))
            .map(String::as_str)
    }

    /// Whether an address belongs to the authority itself (its domains or their subdomains).
    pub fn is_internal(&self, addr: &Address) -> bool {
        self.internal_domain_of(addr).is_some()
    }

    /// Forwarded originals: attached messages first, then inline forwards in order, each with
    /// the text its signature is looked for in.
    fn forwarded_originals<'i>(
        &self,
        input: &SenderInput<'i>,
        attached_texts: &'i [String],
    ) -> Vec<(Address, Option<&'i str>)> {
        let mut out: Vec<(Address, Option<&'i str>)> = input
            .attached_forwarded_from
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), attached_texts.get(i).map(String::as_str)))
            .collect();
        out.extend(
            forward::forward_blocks(input.text)
                .into_iter()
                .filter_map(|b| b.from.map(|f| (f, Some(b.body)))),
        );
        out
    }

    /// When an internal colleague forwarded the mail: the original (external) sender, who then
    /// decides the classification. `None` for any other mail.
    pub fn original_sender(&self, input: &SenderInput) -> Option<Address> {
        let from = input.from?;
        self.internal_domain_of(from)?;
        self.forwarded_originals(input, &[])
            .into_iter()
            .map(|(a, _)| a)
            .find(|a| !self.is_internal(a))
    }

    fn view(&self, input: &SenderInput, attached_texts: &[String]) -> View {
        let mut values = Values::default();
        let originals = self.forwarded_originals(input, attached_texts);
        if let Some(from) = input.from {
            if let Some(dom) = self.internal_domain_of(from) {
                if let Some((orig, text)) = originals.iter().find(|(a, _)| !self.is_internal(a)) {
                    // An internal forward: the original sender and the signature inside the
                    // forwarded part decide; the colleague's own Reply-To and Cc do not count.
                    let n = orig.normalized();
                    values.push_address(Field::Address, &n);
                    values.push_address(Field::Domain, &n);
                    values.push_address(Field::ForwardedFrom, &n);
                    if let Some(name) = &orig.name {
                        values.push_text(Field::DisplayName, name);
                    }
                    let own = text.map(forward::own_part);
                    if let Some(sig) = own.and_then(signature_of_own) {
                        values.push_text(Field::Signature, sig);
                    }
                    if self.matcher.has_text {
                        values.push_own_text(own.unwrap_or_default());
                    }
                    return View {
                        values,
                        forwarded_by: Some((from.clone(), dom.to_string())),
                    };
                }
            }
            let n = from.normalized();
            values.push_address(Field::Address, &n);
            values.push_address(Field::Domain, &n);
            if let Some(name) = &from.name {
                values.push_text(Field::DisplayName, name.trim_matches(['"', '\'']));
            }
        }
        for a in input.reply_to {
            values.push_address(Field::ReplyTo, &a.normalized());
        }
        for a in input.cc {
            values.push_address(Field::Cc, &a.normalized());
        }
        let own = forward::own_part(input.text);
        if let Some(sig) = signature_of_own(own) {
            values.push_text(Field::Signature, sig);
        }
        if self.matcher.has_text {
            values.push_own_text(own);
        }
        for (a, _) in &originals {
            values.push_address(Field::ForwardedFrom, &a.normalized());
        }
        View {
            values,
            forwarded_by: None,
        }
    }

    /// The organisation behind a mail, or `None` (a citizen writing for themselves).
    pub fn classify(&self, input: &SenderInput) -> Option<SenderMatch> {
        self.classify_with_attached_texts(input, &[])
    }

    /// As [`RuleSet::classify`], with the plain text bodies of the attached message/rfc822
    /// parts (index-aligned with `input.attached_forwarded_from`): when a colleague forwards a
    /// mail as attachment, the signature inside it can then tell units of one domain apart.
    pub fn classify_with_attached_texts(
        &self,
        input: &SenderInput,
        attached_texts: &[String],
    ) -> Option<SenderMatch> {
        let view = self.view(input, attached_texts);
        let (rule, mut evidence) = self.matcher.best(&view.values)?;
        if let Some((by, dom)) = view.forwarded_by {
            evidence.push(Evidence {
                field: "forwarded_by".into(),
                text: by.normalized(),
                condition: format!("internal_domains = {dom}"),
            });
        }
        Some(SenderMatch {
            rule_id: rule.id.clone(),
            organisation: rule.organisation.clone(),
            category: rule.category,
            third_party: rule.third_party,
            evidence,
        })
    }

    /// Suggested kind and up to three topics for a new case.
    pub fn hints(&self, subject: &str, text: &str) -> Hints {
        self.hints.suggest(subject, text)
    }

    /// The topic catalogue in file order, retired topics included.
    pub fn topics(&self) -> &[Topic] {
        &self.topics
    }

    /// A topic by name (ignoring case), retired ones included: for showing old cases.
    pub fn find_topic(&self, name: &str) -> Option<&Topic> {
        let n = name.trim();
        self.topics
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(n) || t.name.to_lowercase() == n.to_lowercase())
    }

    /// A topic staff may assign now; the error (German) lists the assignable names.
    pub fn check_topic(&self, name: &str) -> Result<&Topic, String> {
        let known = || {
            self.topics
                .iter()
                .filter(|t| !t.retired)
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.find_topic(name) {
            Some(t) if !t.retired => Ok(t),
            Some(t) => Err(format!(
                "Das Thema „{}“ wird nicht mehr vergeben. Mögliche Themen: {}",
                t.name,
                known()
            )),
            None => Err(format!(
                "Unbekanntes Thema „{}“. Mögliche Themen: {}",
                name.trim(),
                known()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPICS: &str = "[[topic]]\nname = \"Umzug\"\n\n[[topic]]\nname = \"Kosten der Unterkunft\"\narea = \"Kommunale Dienstleistungen\"\n\n[[topic]]\nname = \"Altthema\"\nretired = true\n";

    fn set(rules: &str) -> RuleSet {
        RuleSet::from_sources(&[("senders.toml", rules), ("topics.toml", TOPICS)]).unwrap()
    }

    fn errors(files: &[(&str, &str)]) -> Vec<Problem> {
        RuleSet::from_sources(files).unwrap_err().problems
    }

    fn addr(a: &str) -> Address {
        Address::new(a, None)
    }

    #[test]
    fn problem_display() {
        let p = Problem {
            file: "rules/senders.toml".into(),
            line: Some(42),
            rule_id: Some("caritas-sb".into()),
            item: "Regel",
            severity: Severity::Error,
            message: "ungültiger regulärer Ausdruck".into(),
        };
        assert_eq!(
            p.to_string(),
            "rules/senders.toml:42: Regel caritas-sb: ungültiger regulärer Ausdruck"
        );
        let w = Problem {
            severity: Severity::Warning,
            line: None,
            rule_id: None,
            item: "Regel",
            ..p
        };
        assert_eq!(
            w.to_string(),
            "rules/senders.toml: Warnung: ungültiger regulärer Ausdruck"
        );
    }

    #[test]
    fn version_changes_with_content_and_name() {
        let a = RuleSet::from_sources(&[("a.toml", TOPICS)]).unwrap();
        let b = RuleSet::from_sources(&[("b.toml", TOPICS)]).unwrap();
        let c = RuleSet::from_sources(&[("a.toml", &format!("{TOPICS}\n"))]).unwrap();
        assert_eq!(a.version().len(), 12);
        assert_ne!(a.version(), b.version());
        assert_ne!(a.version(), c.version());
        assert_eq!(
            a.version(),
            RuleSet::from_sources(&[("a.toml", TOPICS)])
                .unwrap()
                .version()
        );
    }

    #[test]
    fn bad_regex_names_file_line_rule() {
        let p = errors(&[(
            "senders.toml",
            "[[rule]]\nid = \"caritas-sb\"\norganisation = \"C\"\ncategory = \"Beratungsstelle\"\nthird_party = true\nsignature = \"re:Schuldner(\"\n",
        )]);
        let e: Vec<_> = p.iter().filter(|p| p.severity == Severity::Error).collect();
        assert_eq!(e.len(), 1, "{p:?}");
        assert_eq!(e[0].line, Some(6));
        assert_eq!(e[0].rule_id.as_deref(), Some("caritas-sb"));
        assert!(
            e[0].to_string().starts_with(
                "senders.toml:6: Regel caritas-sb: signature: ungültiger regulärer Ausdruck"
            ),
            "{}",
            e[0]
        );
    }

    #[test]
    fn bad_glob_and_huge_regex() {
        let p = errors(&[(
            "senders.toml",
            "[[rule]]\nid = \"g\"\norganisation = \"C\"\ncategory = \"Beratungsstelle\"\nthird_party = true\ndisplay_name = \"glob:[abc\"\n\n[[rule]]\nid = \"big\"\norganisation = \"D\"\ncategory = \"Beratungsstelle\"\nthird_party = true\nsignature = 're:\\w{1000}{1000}'\n",
        )]);
        assert!(
            p.iter()
                .any(|x| x.line == Some(6) && x.message.contains("glob")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|x| x.line == Some(13) && x.message.contains("zu groß")),
            "{p:?}"
        );
    }

    #[test]
    fn hint_topics_must_be_in_catalogue() {
        let p = errors(&[
            ("hints.toml", "[[hint]]\nid = \"h\"\ntopics = [\"Umzug\", \"Mondflug\"]\nmatch = [\"umziehen\"]\n"),
            ("topics.toml", TOPICS),
        ]);
        assert_eq!(
            p.iter().filter(|p| p.severity == Severity::Error).count(),
            1
        );
        let e = p.iter().find(|p| p.severity == Severity::Error).unwrap();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("Mondflug") && e.message.contains("Kosten der Unterkunft"));
        assert!(!e.message.contains("Altthema"));
    }

    #[test]
    fn retired_topic_in_hint_is_a_warning_and_not_suggested() {
        let s = RuleSet::from_sources(&[
            ("hints.toml", "[[hint]]\nid = \"h\"\ntopics = [\"Altthema\", \"Umzug\"]\nmatch = [\"umziehen\"]\n"),
            ("topics.toml", TOPICS),
        ])
        .unwrap();
        assert!(s
            .warnings()
            .iter()
            .any(|w| w.message.contains("ausgemustert")));
        assert_eq!(s.hints("", "Ich muss umziehen").topics, vec!["Umzug"]);
    }

    #[test]
    fn duplicate_topics_are_errors() {
        let p = errors(&[(
            "topics.toml",
            "[[topic]]\nname = \"Umzug\"\n[[topic]]\nname = \"umzug\"\n",
        )]);
        assert!(p
            .iter()
            .any(|x| x.line == Some(3) && x.message.contains("doppelt")));
    }

    #[test]
    fn check_topic_messages() {
        let s = set("");
        assert_eq!(s.check_topic("umzug").unwrap().name, "Umzug");
        assert_eq!(
            s.check_topic("Kosten der Unterkunft")
                .unwrap()
                .area
                .as_deref(),
            Some("Kommunale Dienstleistungen")
        );
        let e = s.check_topic("Altthema").unwrap_err();
        assert!(
            e.contains("nicht mehr vergeben")
                && e.contains("Umzug")
                && !e.contains("Mögliche Themen: Altthema")
        );
        let e = s.check_topic("Mondflug").unwrap_err();
        assert_eq!(
            e,
            "Unbekanntes Thema „Mondflug“. Mögliche Themen: Umzug, Kosten der Unterkunft"
        );
        assert!(s.find_topic("Altthema").unwrap().retired);
    }

    #[test]
    fn shadowed_rule_is_a_warning() {
        let s = set("[[rule]]\nid = \"a\"\norganisation = \"A\"\ncategory = \"Träger\"\nthird_party = true\ndomain = \"x.test\"\n\n[[rule]]\nid = \"b\"\norganisation = \"B\"\ncategory = \"Träger\"\nthird_party = true\ndomain = \"x.test\"\n");
        let w: Vec<_> = s
            .warnings()
            .iter()
            .filter(|w| w.rule_id.as_deref() == Some("b"))
            .collect();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].line, Some(8));
        assert!(w[0].message.contains("greift nie") && w[0].message.contains("„a“"));
        // The shadowed rule indeed never wins.
        let from = addr("x@x.test");
        assert_eq!(
            s.classify(&SenderInput {
                from: Some(&from),
                ..Default::default()
            })
            .unwrap()
            .rule_id,
            "a"
        );
    }

    #[test]
    fn priority_beats_kind_and_kind_beats_file_order() {
        let s = set("[[rule]]\nid = \"dom\"\norganisation = \"D\"\ncategory = \"Träger\"\nthird_party = true\ndomain = \"x.test\"\n\n[[rule]]\nid = \"addr\"\norganisation = \"A\"\ncategory = \"Träger\"\nthird_party = true\naddress = \"a@x.test\"\n\n[[rule]]\nid = \"cc\"\norganisation = \"C\"\ncategory = \"Träger\"\nthird_party = true\npriority = 10\ncc = \"c.test\"\n");
        let from = addr("a@x.test");
        let cc = [addr("z@c.test")];
        let m = |cc: &[Address]| {
            s.classify(&SenderInput {
                from: Some(&from),
                cc,
                ..Default::default()
            })
            .unwrap()
            .rule_id
        };
        assert_eq!(m(&[]), "addr");
        assert_eq!(m(&cc), "cc");
    }

    #[test]
    fn and_across_fields_or_within() {
        let s = set("[[rule]]\nid = \"r\"\norganisation = \"R\"\ncategory = \"Träger\"\nthird_party = true\ndomain = [\"x.test\", \"y.test\"]\nsignature = [\"Alpha\", \"re:Bet+a\"]\n");
        let c = |from: &str, text: &str| {
            let a = addr(from);
            s.classify(&SenderInput {
                from: Some(&a),
                text,
                ..Default::default()
            })
            .map(|m| m.evidence)
        };
        assert!(c("a@x.test", "Hallo\nGruß\nAlpha").is_some());
        let ev = c("a@sub.y.test", "Hallo\nGruß\nBettta").unwrap();
        assert_eq!(
            ev[0],
            Evidence {
                field: "from_domain".into(),
                text: "sub.y.test".into(),
                condition: "domain = y.test".into()
            }
        );
        assert_eq!(
            ev[1],
            Evidence {
                field: "signature".into(),
                text: "Bettta".into(),
                condition: "signature = re:Bet+a".into()
            }
        );
        assert!(c("a@x.test", "Hallo, Alpha\n").is_none());
        assert!(c("a@z.test", "Gruß\nAlpha").is_none());
    }

    #[test]
    fn reply_to_display_name_and_forwarded_from_conditions() {
        let s = set("[settings]\ninternal_domains = [\"jobcenter.test\"]\n\n[[rule]]\nid = \"rt\"\norganisation = \"RT\"\ncategory = \"Träger\"\nthird_party = true\nreply_to = \"crm.test\"\n\n[[rule]]\nid = \"dn\"\norganisation = \"DN\"\ncategory = \"Verein/Initiative\"\nthird_party = true\ndisplay_name = \"glob:*initiative*\"\n\n[[rule]]\nid = \"fw\"\norganisation = \"FW\"\ncategory = \"sonstige\"\nthird_party = true\nforwarded_from = \"beispiel@alt.test\"\n");
        let from = Address::new("x@mail.test", Some("Arbeitslosen-Initiative Nord".into()));
        let plain = addr("x@mail.test");
        let rt = [addr("info@team.crm.test")];
        let c = |input: SenderInput| s.classify(&input).map(|m| (m.rule_id, m.evidence));
        let (id, ev) = c(SenderInput {
            from: Some(&plain),
            reply_to: &rt,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(id, "rt");
        assert_eq!(ev[0].field, "reply_to");
        assert_eq!(ev[0].text, "info@team.crm.test");
        let (id, ev) = c(SenderInput {
            from: Some(&from),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(id, "dn");
        assert_eq!(ev[0].text, "Arbeitslosen-Initiative Nord");
        let text = "FYI\n\n-----Original Message-----\nFrom: Beispiel <beispiel@alt.test>\nSent: today\n\nHallo\n";
        let (id, ev) = c(SenderInput {
            from: Some(&plain),
            text,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(id, "fw");
        assert_eq!(ev[0].condition, "forwarded_from = beispiel@alt.test");
        assert!(c(SenderInput {
            from: Some(&plain),
            ..Default::default()
        })
        .is_none());
    }

    #[test]
    fn internal_forward_prefers_attachment_and_skips_internal_originals() {
        let s = set("[settings]\ninternal_domains = [\"jobcenter.test\"]\n\n[[rule]]\nid = \"a\"\norganisation = \"A\"\ncategory = \"Träger\"\nthird_party = true\ndomain = \"a.test\"\n\n[[rule]]\nid = \"b\"\norganisation = \"B\"\ncategory = \"Träger\"\nthird_party = true\ndomain = \"b.test\"\n\n[[rule]]\nid = \"jc\"\norganisation = \"JC\"\ncategory = \"Jobcenter\"\nthird_party = false\ndomain = \"jobcenter.test\"\n");
        let colleague = addr("k@jobcenter.test");
        let nested = "s.u.\n\n-------- Weitergeleitete Nachricht --------\nVon: Kollege <k2@jobcenter.test>\n\nsiehe unten\n\n-------- Weitergeleitete Nachricht --------\nVon: X <x@b.test>\n\nText\n";
        let attached = [addr("y@a.test")];
        let id = |input: SenderInput| s.classify(&input).map(|m| m.rule_id);
        assert_eq!(
            id(SenderInput {
                from: Some(&colleague),
                text: nested,
                ..Default::default()
            })
            .as_deref(),
            Some("b")
        );
        assert_eq!(
            id(SenderInput {
                from: Some(&colleague),
                text: nested,
                attached_forwarded_from: &attached,
                ..Default::default()
            })
            .as_deref(),
            Some("a")
        );
        let only_internal = "-------- Weitergeleitete Nachricht --------\nVon: Kollege <k2@jobcenter.test>\n\nText\n";
        assert_eq!(
            id(SenderInput {
                from: Some(&colleague),
                text: only_internal,
                ..Default::default()
            })
            .as_deref(),
            Some("jc")
        );
    }

    #[test]
    fn is_internal_includes_subdomains() {
        let s = RuleSet::from_sources(&[(
            "settings.toml",
            "[settings]\ninternal_domains = [\"jobcenter.test\"]\n",
        )])
        .unwrap();
        assert!(s.is_internal(&addr("a@jobcenter.test")));
        assert!(s.is_internal(&addr("A@Team.Jobcenter.TEST")));
        assert!(!s.is_internal(&addr("a@notjobcenter.test")));
        assert!(!s.is_internal(&addr("jobcenter.test")));
    }

    #[test]
    fn dir_loading_ignores_leftovers_and_refuses_big_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("topics.toml"), TOPICS).unwrap();
        std::fs::write(dir.path().join("topics.toml~"), "kaputt = [").unwrap();
        std::fs::write(dir.path().join(".#topics.toml"), "kaputt = [").unwrap();
        std::fs::write(dir.path().join("#topics.toml#"), "kaputt = [").unwrap();
        std::fs::write(dir.path().join(".topics.toml.swp"), "kaputt = [").unwrap();
        let s = RuleSet::load_dir(dir.path()).unwrap();
        assert_eq!(s.topics().len(), 3);

        let big = "# x\n".repeat(10 * 1024 * 1024 / 4);
        std::fs::write(dir.path().join("big.toml"), big).unwrap();
        let p = check_dir(dir.path());
        let e: Vec<_> = p.iter().filter(|p| p.severity == Severity::Error).collect();
        assert_eq!(e.len(), 1);
        assert!(e[0].file.ends_with("big.toml"));
        assert!(
            e[0].message.contains("zu groß (10,0 MB"),
            "{}",
            e[0].message
        );
        assert!(RuleSet::load_dir(dir.path()).is_err());
    }

    #[test]
    fn missing_dir_is_a_problem_not_a_panic() {
        let p = check_dir(Path::new("/nonexistent/rules-dir"));
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("nicht lesbar"));
    }
}
