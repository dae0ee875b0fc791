//! Dry run of the intake for mail files (`krm-intake explain`): what the daemon would record and
//! send for each mail, without any server. Pure: file bytes and a rule set in, an
//! [`Explanation`] out, rendered as German text or as JSON (format: docs/explain.md).
//! Decisions that need the database (does the case exist, the hourly acknowledgement cap) are
//! named as conditions, not guessed.

use crate::decide::{self, AckDecision, Decision, Facts, MailDecision, Policy, Route};
use crate::domain::{AutoClass, Category, Kind, ReviewReason};
use crate::message::{self, Limits, ParseError, ParsedMail};
use crate::rules::{Evidence, RuleSet};
use chrono::Timelike;
use serde::Serialize;
use std::collections::BTreeMap;

/// Characters of the text excerpt in text output.
pub const EXCERPT_CHARS: usize = 300;

/// What the daemon's settings contribute; without a configuration the defaults apply.
#[derive(Debug, Clone)]
pub struct Options {
    pub limits: Limits,
    /// The Ombudsstelle's own addresses, lower case (`AckSettings::own_addresses`).
    pub own_addresses: Vec<String>,
    /// `[intake] spam_headers` and `trusted_received_by`.
    pub spam: crate::message::SpamPolicy,
    /// `[intake] closed_followup` (matters only with facts from the database).
    pub closed_followup: crate::config::ClosedFollowup,
    /// `ack.rate_limit_per_hour` (matters only with facts from the database).
    pub rate_limit_per_hour: u32,
}

impl Default for Options {
    fn default() -> Self {
        let p = Policy::default();
        Options {
            limits: Limits::default(),
            own_addresses: p.own_addresses,
            spam: p.spam,
            closed_followup: p.closed_followup,
            rate_limit_per_hour: p.rate_limit_per_hour,
        }
    }
}

impl Options {
    /// The settings the daemon decides with.
    pub fn of(s: &crate::config::Settings) -> Options {
        let p = Policy::of(s);
        Options {
            limits: Limits {
                max_size: s.imap.max_message_size,
                ..Limits::default()
            },
            own_addresses: p.own_addresses,
            spam: p.spam,
            closed_followup: p.closed_followup,
            rate_limit_per_hour: p.rate_limit_per_hour,
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            own_addresses: self.own_addresses.clone(),
            spam: self.spam.clone(),
            closed_followup: self.closed_followup,
            rate_limit_per_hour: self.rate_limit_per_hour,
        }
    }
}

/// One attachment as shown: no content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentInfo {
    pub name: Option<String>,
    pub content_type: String,
    pub size: usize,
}

/// What the daemon would do with the mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new case.
    NewCase,
    /// Joins the case named in the subject or the case of our mail it answers, if that case
    /// exists; otherwise a new case.
    Followup,
    /// A bounce of one of our own mails: recorded on the case that sent it, if known.
    BounceToCase,
    /// The very same mail is stored already (known only with `--db`): no new case.
    SeenAgain,
    /// The mail cannot be parsed: it goes to the quarantine folder.
    Quarantine,
}

/// The acknowledgement for a new case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AckPlan {
    /// True when an acknowledgement would be queued (subject to the hourly cap per address,
    /// which only the running daemon knows).
    pub send: bool,
    /// The recipient: first Reply-To, else From.
    pub to: Option<String>,
    /// German reason when `send` is false.
    pub reason: Option<String>,
}

/// Everything `explain` knows about one file. Field names are the JSON keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub file: String,
    /// German reason when the file could not be read or parsed; then the mail fields are empty.
    pub error: Option<String>,
    pub from: Option<String>,
    pub from_name: Option<String>,
    /// Set when the mail has no readable `From:` and `from` was taken from `sender_header`,
    /// `envelope` (mbox line) or `return_path`.
    pub sender_inferred: Option<crate::message::SenderSource>,
    /// The header that marks the mail as spam (a new case would be held), if any.
    pub spam: Option<String>,
    pub reply_to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: Option<String>,
    /// RFC 3339 with the sender's offset; null when missing, unreadable or outside 1900–9999.
    pub date: Option<String>,
    /// The Date header as written.
    pub date_raw: Option<String>,
    pub message_id: Option<String>,
    /// The full text body as the daemon stores it.
    pub text: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
    /// Case number found in the subject (`KRM-YYYY-NNNNN`).
    pub case_number: Option<String>,
    /// `none`, `auto_reply`, `bounce` or `bulk`; null when not parsed.
    pub auto_reply: Option<AutoClass>,
    /// Which header decided `auto_reply`.
    pub auto_reason: Option<String>,
    pub rule: Option<String>,
    pub organisation: Option<String>,
    pub category: Option<Category>,
    pub third_party: bool,
    pub evidence: Vec<Evidence>,
    /// When a colleague from an internal domain forwarded the mail: the original sender.
    pub original_sender: Option<String>,
    pub kind_suggestion: Option<Kind>,
    pub topic_suggestions: Vec<String>,
    /// Why the new case would be marked for review (`bulk`, `auto_reply`, `bounce`).
    pub review_reason: Option<ReviewReason>,
    /// Null when the file could not be read at all.
    pub action: Option<Action>,
    /// `action` is `new_case`, but the mail answers other mails (In-Reply-To/References): if
    /// the database knows one of them, the daemon makes it a follow-up of that case instead.
    pub possible_followup: bool,
    /// Null unless the mail was parsed, and when it makes no new case (known only with `--db`).
    pub ack: Option<AckPlan>,
    pub ruleset_version: String,
    /// Only with `--db`: the case the mail joins (seen again, bounce, follow-up); the key is
    /// left out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joins: Option<String>,
}

impl Explanation {
    fn empty(file: &str, rules: &RuleSet) -> Explanation {
        Explanation {
            file: file.to_string(),
            error: None,
            from: None,
            from_name: None,
            sender_inferred: None,
            spam: None,
            reply_to: Vec::new(),
            cc: Vec::new(),
            subject: None,
            date: None,
            date_raw: None,
            message_id: None,
            text: None,
            attachments: Vec::new(),
            case_number: None,
            auto_reply: None,
            auto_reason: None,
            rule: None,
            organisation: None,
            category: None,
            third_party: false,
            evidence: Vec::new(),
            original_sender: None,
            kind_suggestion: None,
            topic_suggestions: Vec::new(),
            review_reason: None,
            action: None,
            possible_followup: false,
            ack: None,
            ruleset_version: rules.version().to_string(),
            joins: None,
        }
    }

    /// A mail the daemon cannot parse: quarantined with this reason.
    pub fn rejected(file: &str, err: &ParseError, rules: &RuleSet) -> Explanation {
        Explanation {
            error: Some(err.reason_de()),
            action: Some(Action::Quarantine),
            ..Explanation::empty(file, rules)
        }
    }

    /// A file that could not be read (`reason` in German); the daemon never saw it.
    pub fn unreadable(file: &str, reason: String, rules: &RuleSet) -> Explanation {
        Explanation {
            error: Some(reason),
            ..Explanation::empty(file, rules)
        }
    }

    /// The organisation for the summary: the rule's organisation, else "ohne Dritte"; `None`
    /// for files that were not classified.
    fn summary_key(&self) -> Option<String> {
        match (&self.action, &self.organisation) {
            (None | Some(Action::Quarantine), _) => None,
            (_, Some(o)) => Some(o.clone()),
            (_, None) => Some(WITHOUT_THIRD_PARTY.to_string()),
        }
    }
}

const WITHOUT_THIRD_PARTY: &str = "ohne Dritte";

/// Explains one mail file's bytes (a leading mbox `From ` line is skipped), knowing nothing
/// of the database.
pub fn explain(file: &str, raw: &[u8], rules: &RuleSet, opts: &Options) -> Explanation {
    let parsed = message::parse(raw, &opts.limits);
    explain_with_facts(file, raw, parsed.as_ref(), rules, opts, &Facts::default())
}

/// Explains a mail with the facts the store knows about it (`explain --db`), or none.
pub fn explain_with_facts(
    file: &str,
    raw: &[u8],
    parsed: Result<&ParsedMail, &ParseError>,
    rules: &RuleSet,
    opts: &Options,
    facts: &Facts,
) -> Explanation {
    match decide::decide(parsed, raw, rules, &opts.policy(), facts) {
        Decision::Quarantine(reason) => Explanation {
            error: Some(reason),
            action: Some(Action::Quarantine),
            ..Explanation::empty(file, rules)
        },
        Decision::Mail(d) => match parsed {
            Ok(mail) => explain_parsed(file, mail, rules, *d),
            Err(e) => Explanation::rejected(file, e, rules),
        },
    }
}

fn explain_parsed(file: &str, mail: &ParsedMail, rules: &RuleSet, d: MailDecision) -> Explanation {
    let (action, joins) = match d.route {
        Route::SeenAgain(c) => (Action::SeenAgain, Some(c.number)),
        Route::Bounce { case, .. } => (Action::BounceToCase, case.map(|c| c.number)),
        Route::FollowUp { case, .. } => (Action::Followup, case.map(|c| c.number)),
        Route::NewCase => (Action::NewCase, None),
    };
    // A mail that joins a known case makes no new case: its organisation is shown all the same.
    let (matched, hints) = match &d.new_case {
        Some(p) => (p.matched.clone(), p.hints.clone()),
        None => (
            decide::classify_sender(rules, mail),
            rules.hints(mail.subject.as_deref().unwrap_or(""), &mail.text),
        ),
    };
    let new_case = d.new_case.as_ref();
    let ack = new_case.map(|p| AckPlan {
        send: p.ack == AckDecision::Enqueued,
        to: p.ack_to.as_ref().map(|a| a.normalized()),
        reason: match &p.ack {
            AckDecision::Enqueued => None,
            AckDecision::Suppressed(r) => Some(r.clone()),
        },
    });
    Explanation {
        from: mail.from.as_ref().map(|a| a.normalized()),
        from_name: mail.from.as_ref().and_then(|a| a.name.clone()),
        sender_inferred: mail.sender_inferred,
        reply_to: mail.reply_to.iter().map(|a| a.normalized()).collect(),
        cc: mail.cc.iter().map(|a| a.normalized()).collect(),
        subject: mail.subject.clone(),
        date: mail.date.map(|d| d.to_rfc3339()),
        date_raw: mail.date_raw.clone(),
        message_id: mail.message_id.clone(),
        text: Some(mail.text.clone()),
        attachments: mail
            .attachments
            .iter()
            .map(|a| AttachmentInfo {
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
            })
            .collect(),
        case_number: decide::subject_case_number(mail),
        auto_reply: Some(mail.auto),
        auto_reason: mail.auto_reason.clone(),
        rule: matched.as_ref().map(|m| m.rule_id.clone()),
        organisation: matched.as_ref().map(|m| m.organisation.clone()),
        category: matched.as_ref().map(|m| m.category),
        third_party: matched.as_ref().is_some_and(|m| m.third_party),
        evidence: matched.map(|m| m.evidence).unwrap_or_default(),
        original_sender: rules
            .original_sender(&decide::sender_input(mail))
            .map(|a| a.normalized()),
        kind_suggestion: hints.kind,
        topic_suggestions: hints.topics,
        review_reason: new_case.and_then(|p| p.review_reason),
        spam: new_case.and_then(|p| p.spam.clone()),
        action: Some(action),
        possible_followup: d.possible_followup,
        ack,
        joins,
        ..Explanation::empty(file, rules)
    }
}

/// All explanations as German text, ending with a summary per organisation.
pub fn render_text(all: &[Explanation]) -> String {
    let mut out = String::new();
    for e in all {
        render_one(&mut out, e);
        out.push('\n');
    }
    render_summary(&mut out, all);
    out
}

fn line(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("  {label:<18}{value}\n"));
}

fn or_none(v: Option<&str>) -> &str {
    v.filter(|s| !s.is_empty()).unwrap_or("–")
}

fn render_one(out: &mut String, e: &Explanation) {
    out.push_str(&format!("== {} ==\n", e.file));
    match (&e.error, e.action) {
        (Some(err), None) => {
            line(out, "Fehler:", err);
            line(out, "Dienst:", "Datei nicht lesbar – nicht geprüft");
            return;
        }
        (Some(err), _) => {
            line(out, "Fehler:", err);
            line(out, "Dienst:", "Mail käme in die Quarantäne (kein Vorgang)");
            return;
        }
        _ => {}
    }
    line(out, "Absender:", or_none(e.from.as_deref()));
    if let Some(source) = e.sender_inferred {
        line(
            out,
            "",
            &format!(
                "(erschlossen: keine lesbare From-Zeile; aus {})",
                source.label()
            ),
        );
    }
    line(out, "Anzeigename:", or_none(e.from_name.as_deref()));
    if !e.reply_to.is_empty() {
        line(out, "Antwort an:", &e.reply_to.join(", "));
    }
    if !e.cc.is_empty() {
        line(out, "Kopie an:", &e.cc.join(", "));
    }
    line(out, "Betreff:", or_none(e.subject.as_deref()));
    line(
        out,
        "Datum:",
        &match (e.date.as_deref(), e.date_raw.as_deref()) {
            (Some(d), _) => berlin_time(d),
            (None, Some(raw)) => format!("unbekannt („{raw}“)"),
            (None, None) => "–".to_string(),
        },
    );
    line(
        out,
        "Text:",
        &excerpt(e.text.as_deref().unwrap_or(""), EXCERPT_CHARS),
    );
    if e.attachments.is_empty() {
        line(out, "Anhänge:", "keine");
    } else {
        for (i, a) in e.attachments.iter().enumerate() {
            line(
                out,
                if i == 0 { "Anhänge:" } else { "" },
                &format!(
                    "{} ({}, {})",
                    a.name.as_deref().unwrap_or("(ohne Namen)"),
                    a.content_type,
                    format_size(a.size)
                ),
            );
        }
    }
    line(out, "Vorgangsnummer:", or_none(e.case_number.as_deref()));
    let auto = match e.auto_reply {
        Some(AutoClass::AutoReply) => "Abwesenheitsnotiz/Autoantwort",
        Some(AutoClass::Bounce) => "Unzustellbarkeitsmeldung",
        Some(AutoClass::Bulk) => "Massen- oder Listenmail",
        Some(AutoClass::None) | None => "nein (von einer Person geschrieben)",
    };
    match &e.auto_reason {
        Some(r) => line(out, "Automatisch:", &format!("{auto} ({r})")),
        None => line(out, "Automatisch:", auto),
    }
    match (&e.rule, &e.organisation) {
        (Some(rule), Some(org)) => {
            line(out, "Regel:", rule);
            let cat = e.category.map(|c| c.label()).unwrap_or("–");
            line(out, "Organisation:", &format!("{org} ({cat})"));
        }
        _ => {
            line(out, "Regel:", "keine Regel trifft zu");
            line(out, "Organisation:", "– (ohne Dritte)");
        }
    }
    line(
        out,
        "Dritte:",
        if e.third_party {
            "ja (Unterstützung Dritter)"
        } else {
            "nein"
        },
    );
    for (i, ev) in e.evidence.iter().enumerate() {
        line(
            out,
            if i == 0 { "Begründung:" } else { "" },
            &format!("{}: „{}“ ({})", ev.field, ev.text, ev.condition),
        );
    }
    if let Some(o) = &e.original_sender {
        line(out, "Ursprünglich von:", o);
    }
    line(
        out,
        "Vorschlag Art:",
        e.kind_suggestion.map(|k| k.label()).unwrap_or("–"),
    );
    line(
        out,
        "Vorschlag Themen:",
        &if e.topic_suggestions.is_empty() {
            "–".to_string()
        } else {
            e.topic_suggestions.join(", ")
        },
    );
    line(out, "Dienst:", &daemon_sentence(e));
}

/// What the daemon would do, in one German sentence.
pub fn daemon_sentence(e: &Explanation) -> String {
    let ack = match &e.ack {
        Some(AckPlan {
            send: true,
            to: Some(to),
            ..
        }) => format!("Eingangsbestätigung an {to}"),
        Some(AckPlan {
            reason: Some(r), ..
        }) => format!("keine Eingangsbestätigung: {r}"),
        _ => "keine Eingangsbestätigung".to_string(),
    };
    let review = e.review_reason.map_or("", ReviewReason::explain_note);
    match e.action {
        None => "Datei nicht lesbar – nicht geprüft".to_string(),
        Some(Action::Quarantine) => "Mail käme in die Quarantäne (kein Vorgang)".to_string(),
        Some(Action::SeenAgain) => format!(
            "Mail schon erfasst (Vorgang {}): kein neuer Vorgang",
            or_none(e.joins.as_deref())
        ),
        Some(Action::BounceToCase) if e.joins.is_some() => format!(
            "Rückläufer einer Mail der Ombudsstelle: wird Vorgang {} zugeordnet",
            or_none(e.joins.as_deref())
        ),
        Some(Action::Followup) if e.joins.is_some() => format!(
            "Folgemail zu Vorgang {}",
            or_none(e.joins.as_deref())
        ),
        Some(Action::BounceToCase) => "Rückläufer einer Mail der Ombudsstelle: wird dem Vorgang zugeordnet, der sie verschickt hat (falls bekannt)".to_string(),
        Some(Action::Followup) => match &e.case_number {
            Some(n) => format!(
                "Folgemail zu Vorgang {n}, falls es ihn gibt; sonst neuer Vorgang{review} + {ack}"
            ),
            None => format!(
                "Folgemail zum Vorgang der beantworteten Mail, falls bekannt; sonst neuer Vorgang{review} + {ack}"
            ),
        },
        Some(Action::NewCase) if e.possible_followup => format!(
            "neuer Vorgang{review} + {ack} (es sei denn, eine Mail, auf die sie antwortet, gehört schon zu einem Vorgang: dann Folgemail dazu)"
        ),
        Some(Action::NewCase) => format!("neuer Vorgang{review} + {ack}"),
    }
}

fn render_summary(out: &mut String, all: &[Explanation]) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut quarantined = 0usize;
    let mut unreadable = 0usize;
    for e in all {
        match (e.summary_key(), e.action) {
            (Some(k), _) => *counts.entry(k).or_default() += 1,
            (None, Some(_)) => quarantined += 1,
            (None, None) => unreadable += 1,
        }
    }
    let mut rows: Vec<(String, usize)> = counts.into_iter().collect();
    // Most frequent first; "ohne Dritte" sorts like any organisation.
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if quarantined > 0 {
        rows.push((
            "Quarantäne (Mail nicht auswertbar)".to_string(),
            quarantined,
        ));
    }
    if unreadable > 0 {
        rows.push(("Datei nicht lesbar".to_string(), unreadable));
    }
    let version = all.first().map_or("", |e| e.ruleset_version.as_str());
    out.push_str(&format!(
        "Zusammenfassung: {} {}, Regelwerk Version {version}\n",
        all.len(),
        if all.len() == 1 { "Datei" } else { "Dateien" }
    ));
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, n) in rows {
        let pad = width - k.chars().count();
        out.push_str(&format!("  {k}{}  {n:>5}\n", " ".repeat(pad)));
    }
}

/// Whitespace collapsed, cut at `max` characters with "…".
pub fn excerpt(text: &str, max: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        return if collapsed.is_empty() {
            "–".to_string()
        } else {
            collapsed
        };
    }
    let mut cut: String = collapsed.chars().take(max).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// "2026-03-02 10:00" in Europe/Berlin, from RFC 3339.
fn berlin_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(d) => {
            let b = d.with_timezone(&chrono_tz::Europe::Berlin);
            format!(
                "{} {:02}:{:02} (Berlin)",
                b.format("%Y-%m-%d"),
                b.hour(),
                b.minute()
            )
        }
        Err(_) => rfc3339.to_string(),
    }
}

/// "532 Bytes", "12,3 KB", "4,0 MB" (base 1024, German decimal comma).
pub fn format_size(bytes: usize) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} Bytes")
    } else if b < KB * KB {
        format!("{:.1} KB", b / KB).replace('.', ",")
    } else {
        format!("{:.1} MB", b / (KB * KB)).replace('.', ",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "[settings]\ninternal_domains = [\"jobcenter.test\"]\n\n[[rule]]\nid = \"caritas\"\norganisation = \"Caritas Schuldnerberatung\"\ncategory = \"Beratungsstelle\"\nthird_party = true\ndomain = \"caritas.test\"\n\n[[rule]]\nid = \"intern\"\norganisation = \"Jobcenter (intern)\"\ncategory = \"Jobcenter\"\nthird_party = false\ndomain = \"jobcenter.test\"\n";
    const HINTS: &str = "[[hint]]\nid = \"warten\"\nkind = \"beschwerde\"\ntopics = [\"Bearbeitungsdauer\"]\nmatch = [\"warte*\"]\n\n[[topic]]\nname = \"Bearbeitungsdauer\"\n";

    fn rules() -> RuleSet {
        RuleSet::from_sources(&[("senders.toml", RULES), ("hints.toml", HINTS)]).unwrap()
    }

    fn opts() -> Options {
        Options {
            own_addresses: vec!["ombudsstelle@jobcenter.test".into()],
            ..Options::default()
        }
    }

    fn mail(from: &str, subject: &str, extra: &str, body: &str) -> Vec<u8> {
        format!(
            "From: {from}\r\nTo: ombudsstelle@jobcenter.test\r\nSubject: {subject}\r\n\
             Date: Mon, 02 Mar 2026 10:00:00 +0100\r\nMessage-ID: <m1@mail.test>\r\n{extra}\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        )
        .into_bytes()
    }

    fn ex(raw: &[u8]) -> Explanation {
        explain("x.eml", raw, &rules(), &opts())
    }

    #[test]
    fn counsellor_mail_is_classified_with_evidence_and_hints() {
        let e = ex(&mail(
            "Anna Beispiel <a.beispiel@team.caritas.test>",
            "Herr K.",
            "",
            "Herr K. wartet\r\n  seit Wochen.",
        ));
        assert_eq!(e.error, None);
        assert_eq!(e.from.as_deref(), Some("a.beispiel@team.caritas.test"));
        assert_eq!(e.from_name.as_deref(), Some("Anna Beispiel"));
        assert_eq!(e.date.as_deref(), Some("2026-03-02T10:00:00+01:00"));
        assert_eq!(e.rule.as_deref(), Some("caritas"));
        assert_eq!(e.organisation.as_deref(), Some("Caritas Schuldnerberatung"));
        assert_eq!(e.category, Some(Category::Beratungsstelle));
        assert!(e.third_party);
        assert_eq!(e.evidence[0].field, "from_domain");
        assert_eq!(e.evidence[0].condition, "domain = caritas.test");
        assert_eq!(e.kind_suggestion, Some(Kind::Beschwerde));
        assert_eq!(e.topic_suggestions, ["Bearbeitungsdauer"]);
        assert_eq!(e.action, Some(Action::NewCase));
        assert_eq!(
            e.ack,
            Some(AckPlan {
                send: true,
                to: Some("a.beispiel@team.caritas.test".into()),
                reason: None
            })
        );
        assert_eq!(e.auto_reply, Some(AutoClass::None));
        assert_eq!(e.ruleset_version, rules().version());
    }

    #[test]
    fn acknowledgement_suppression_mirrors_intake() {
        let reason = |from: &str, extra: &str| ex(&mail(from, "Frage", extra, "Text")).ack.unwrap();
        let a = reason("buerger@mail.test", "Reply-To: Other <other@mail.test>\r\n");
        assert_eq!((a.send, a.to.as_deref()), (true, Some("other@mail.test")));
        let a = reason("no-reply@portal.test", "");
        assert_eq!(
            a.reason.as_deref(),
            Some("Absenderadresse nimmt keine Antworten an")
        );
        let a = reason("ombudsstelle+x@jobcenter.test", "");
        assert_eq!(a.reason.as_deref(), Some("eigene Adresse der Ombudsstelle"));
        let a = reason("kollegin@team.jobcenter.test", "");
        assert_eq!(a.reason.as_deref(), Some("interne Adresse der Behörde"));
        let a = reason("buerger@mail.test", "Auto-Submitted: auto-replied\r\n");
        assert!(!a.send);
        assert!(a.reason.unwrap().contains("Autoantwort"));
        let e = ex(&mail(
            "buerger@mail.test",
            "x",
            "Precedence: bulk\r\n",
            "Text",
        ));
        assert_eq!(e.auto_reply, Some(AutoClass::Bulk));
        assert_eq!(e.review_reason, Some(ReviewReason::Bulk));
        // Without a sender but with content: a case without acknowledgement.
        let e = ex(b"Subject: ohne Absender\r\n\r\nText\r\n");
        assert_eq!(e.action, Some(Action::NewCase));
        assert_eq!(e.ack.unwrap().reason.as_deref(), Some(decide::NO_SENDER));
    }

    #[test]
    fn followups_and_bounces() {
        let e = ex(&mail(
            "buerger@mail.test",
            "AW: [KRM-2026-00042] Eingangsbestätigung",
            "",
            "Danke",
        ));
        assert_eq!(e.case_number.as_deref(), Some("KRM-2026-00042"));
        assert_eq!(e.action, Some(Action::Followup));
        assert!(daemon_sentence(&e).starts_with("Folgemail zu Vorgang KRM-2026-00042"));

        let e = ex(&mail(
            "buerger@mail.test",
            "Antwort",
            "In-Reply-To: <krm-ack-7@jobcenter.test>\r\n",
            "Danke",
        ));
        assert_eq!(e.action, Some(Action::Followup));
        assert_eq!(e.case_number, None);

        let e = ex(&mail(
            "buerger@mail.test",
            "Nachtrag",
            "References: <frueher@mail.test>\r\n",
            "Noch was",
        ));
        assert_eq!(e.action, Some(Action::NewCase));
        assert!(e.possible_followup);
        assert!(daemon_sentence(&e).contains("es sei denn"));

        let bounce = mail(
            "MAILER-DAEMON@mx.test",
            "Undelivered",
            "In-Reply-To: <krm-ack-9@jobcenter.test>\r\n",
            "failed",
        );
        let e = ex(&bounce);
        assert_eq!(e.auto_reply, Some(AutoClass::Bounce));
        assert_eq!(e.action, Some(Action::BounceToCase));
    }

    #[test]
    fn unparseable_mail_goes_to_quarantine_and_never_panics() {
        for raw in [
            &b""[..],
            b"\x00\xff\xfe garbage",
            b"   \r\n\r\n",
            b"From x\n",
        ] {
            let e = ex(raw);
            assert_eq!(e.action, Some(Action::Quarantine), "{raw:?}");
            assert!(e.error.as_deref().unwrap().starts_with("Mail "), "{e:?}");
            assert_eq!(e.ack, None);
            assert!(render_text(&[e]).contains("Quarantäne"));
        }
        let small = Options {
            limits: Limits {
                max_size: 10,
                ..Limits::default()
            },
            ..opts()
        };
        let e = explain("big.eml", &mail("a@b.test", "x", "", "y"), &rules(), &small);
        assert!(e.error.unwrap().contains("groß"));
    }

    #[test]
    fn json_keys_are_stable() {
        let e = ex(&mail("a@caritas.test", "x", "", "y"));
        let v = serde_json::to_value(&e).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = [
            "file",
            "error",
            "from",
            "from_name",
            "sender_inferred",
            "spam",
            "reply_to",
            "cc",
            "subject",
            "date",
            "date_raw",
            "message_id",
            "text",
            "attachments",
            "case_number",
            "auto_reply",
            "auto_reason",
            "rule",
            "organisation",
            "category",
            "third_party",
            "evidence",
            "original_sender",
            "kind_suggestion",
            "topic_suggestions",
            "review_reason",
            "action",
            "possible_followup",
            "ack",
            "ruleset_version",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(v["category"], "Beratungsstelle");
        assert_eq!(v["auto_reply"], "none");
        assert_eq!(v["action"], "new_case");
        assert_eq!(v["evidence"][0]["field"], "from_domain");
    }

    #[test]
    fn text_condition_evidence_is_shown() {
        let shipped = RuleSet::from_sources(&[
            ("hints.toml", include_str!("../rules/hints.toml")),
            ("senders.toml", include_str!("../rules/senders.toml")),
            ("topics.toml", include_str!("../rules/topics.toml")),
        ])
        .unwrap();
        let raw = include_bytes!("../tests/fixtures/rules/citizen-cc-stadt-spdi.eml");
        let e = explain("spdi.eml", raw, &shipped, &opts());
        assert_eq!(
            e.rule.as_deref(),
            Some("cc-stadt-sozialpsychiatrischer-dienst")
        );
        let text = render_text(std::slice::from_ref(&e));
        assert!(
            text.contains("text: „Sozialpsychiatrischen Dienst“ (text = re:Sozialpsychiatrische"),
            "{text}"
        );
    }

    #[test]
    fn inferred_sender_and_spam_are_shown() {
        let raw = include_bytes!("../tests/fixtures/mail/own-no-from-sender.eml");
        let e = explain("a.eml", raw, &rules(), &opts());
        assert_eq!(e.from.as_deref(), Some("beratung@verein.test"));
        assert_eq!(
            e.sender_inferred,
            Some(crate::message::SenderSource::SenderHeader)
        );
        let text = render_text(std::slice::from_ref(&e));
        assert!(
            text.contains("erschlossen") && text.contains("Sender"),
            "{text}"
        );

        let spam = b"X-Spam-Flag: YES\nFrom: a@post.test\nSubject: Gewinn\n\nText\n";
        let e = explain("s.eml", spam, &rules(), &opts());
        assert_eq!(e.spam.as_deref(), Some("X-Spam-Flag: YES"));
        assert_eq!(e.review_reason, Some(ReviewReason::Spam));
        let ack = e.ack.clone().unwrap();
        assert!(!ack.send);
        assert!(daemon_sentence(&e).contains("Spam-Verdacht"));
        // A follow-up is never held.
        let reply = b"X-Spam-Flag: YES\nFrom: a@post.test\nSubject: Re: KRM-2026-00001\n\nText\n";
        let e = explain("r.eml", reply, &rules(), &opts());
        assert_eq!(e.spam, None);
        assert_eq!(e.review_reason, None);
    }

    #[test]
    fn excerpt_and_sizes() {
        assert_eq!(excerpt("  a\n\n b\tc ", 300), "a b c");
        assert_eq!(excerpt("", 300), "–");
        assert_eq!(excerpt("abc def ghi", 5), "abc d…");
        assert_eq!(excerpt("abc def ghi", 4), "abc…");
        assert_eq!(excerpt(&"ä".repeat(400), 300).chars().count(), 301);
        assert_eq!(format_size(532), "532 Bytes");
        assert_eq!(format_size(12_595), "12,3 KB");
        assert_eq!(format_size(4 * 1024 * 1024), "4,0 MB");
        assert_eq!(
            berlin_time("2026-07-01T08:00:00+00:00"),
            "2026-07-01 10:00 (Berlin)"
        );
    }

    #[test]
    fn text_output_snapshot() {
        let r = rules();
        let o = opts();
        let all = vec![
            explain(
                "caritas.eml",
                &mail(
                    "Anna Beispiel <a@caritas.test>",
                    "Herr K. wartet",
                    "Cc: kollege@caritas.test\r\n",
                    "Guten Tag,\r\nHerr K. wartet seit Wochen auf seinen Bescheid.\r\n\r\nGruß\r\nAnna",
                ),
                &r,
                &o,
            ),
            explain(
                "buerger.eml",
                &mail("Max Muster <max@mail.test>", "AW: [KRM-2026-00001] Eingangsbestätigung", "", "Danke."),
                &r,
                &o,
            ),
            explain("kaputt.eml", b"", &r, &o),
            Explanation::unreadable("fehlt.eml", "Datei nicht gefunden".into(), &r),
        ];
        let text = render_text(&all).replace(r.version(), "[version]");
        insta::assert_snapshot!(text);
    }
}
