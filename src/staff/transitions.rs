//! Pure state transitions of a case: each takes the current [`CaseState`] and returns the new
//! one or the German reason it is refused. No I/O; `super::store` applies them.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use std::fmt;

use crate::calendar::{self, Calendar};
use crate::domain::{AckStatus, AnsweredSource, CaseStatus, Category, Kind};
use crate::rules::{RuleSet, MAX_TOPICS};

use super::*;

// ---------------------------------------------------------------------------------------------
// State and its changes
// ---------------------------------------------------------------------------------------------

pub use crate::store::staff::{CaseRef, CaseState};

/// A field of [`CaseState`]; its key is the `detail` of the audit row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Status,
    Kind,
    Topics,
    Justified,
    Contributed,
    Organisation,
    Category,
    ThirdParty,
    ThirdPartyManual,
    Assignee,
    DueUnshifted,
    Due,
    HoldSince,
    HeldDays,
    AckStatus,
    AckSentAt,
    AckDetail,
    ClosedAt,
    AnsweredOn,
    AnsweredSource,
    DiscardReason,
    MergedInto,
}

impl Field {
    pub const ALL: [Field; 22] = [
        Field::Status,
        Field::Kind,
        Field::Topics,
        Field::Justified,
        Field::Contributed,
        Field::Organisation,
        Field::Category,
        Field::ThirdParty,
        Field::ThirdPartyManual,
        Field::Assignee,
        Field::DueUnshifted,
        Field::Due,
        Field::HoldSince,
        Field::HeldDays,
        Field::AckStatus,
        Field::AckSentAt,
        Field::AckDetail,
        Field::ClosedAt,
        Field::AnsweredOn,
        Field::AnsweredSource,
        Field::DiscardReason,
        Field::MergedInto,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Field::Status => "status",
            Field::Kind => "kind",
            Field::Topics => "topics",
            Field::Justified => "justified",
            Field::Contributed => "contributed",
            Field::Organisation => "organisation",
            Field::Category => "category",
            Field::ThirdParty => "third_party",
            Field::ThirdPartyManual => "third_party_manual",
            Field::Assignee => "assignee",
            Field::DueUnshifted => "due_unshifted",
            Field::Due => "due",
            Field::HoldSince => "hold_since",
            Field::HeldDays => "held_days",
            Field::AckStatus => "ack_status",
            Field::AckSentAt => "ack_sent_at",
            Field::AckDetail => "ack_detail",
            Field::ClosedAt => "closed_at",
            Field::AnsweredOn => "answered_on",
            Field::AnsweredSource => "answered_source",
            Field::DiscardReason => "discard_reason",
            Field::MergedInto => "merged_into",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Field::Status => "Status",
            Field::Kind => "Art",
            Field::Topics => "Themen",
            Field::Justified => "begründet",
            Field::Contributed => "wesentlich zur Klärung beigetragen",
            Field::Organisation => "Organisation",
            Field::Category => "Kategorie",
            Field::ThirdParty => "mit Unterstützung Dritter",
            Field::ThirdPartyManual => "Organisation von Hand gesetzt",
            Field::Assignee => "zuständig",
            Field::DueUnshifted => "Fristende vor § 193 BGB",
            Field::Due => "Bearbeitungsfrist",
            Field::HoldSince => "ruht seit",
            Field::HeldDays => "Ruhetage",
            Field::AckStatus => "Eingangsbestätigung",
            Field::AckSentAt => "Bestätigung versandt",
            Field::AckDetail => "Hinweis zur Bestätigung",
            Field::ClosedAt => "abgeschlossen am",
            Field::AnsweredOn => "Antwort versandt am",
            Field::AnsweredSource => "Antwortdatum",
            Field::DiscardReason => "Grund für Verwerfen",
            Field::MergedInto => "zusammengeführt in",
        }
    }

    pub fn from_key(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.key() == key)
    }

    /// The field's value in `s`, in its stored (canonical) form.
    fn value(self, s: &CaseState) -> Option<String> {
        let date = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        match self {
            Field::Status => Some(s.status.as_db().to_string()),
            Field::Kind => s.kind.clone(),
            Field::Topics => serde_json::to_string(&s.topics).ok(),
            Field::Justified => s.justified.map(|b| b.to_string()),
            Field::Contributed => s.contributed.map(|b| b.to_string()),
            Field::Organisation => s.organisation.clone(),
            Field::Category => s.category.clone(),
            Field::ThirdParty => Some(s.third_party.to_string()),
            Field::ThirdPartyManual => Some(s.third_party_manual.to_string()),
            Field::Assignee => s.assignee.clone(),
            Field::DueUnshifted => Some(date(s.due_unshifted)),
            Field::Due => Some(date(s.due)),
            Field::HoldSince => s.hold_since.map(rfc3339_utc),
            Field::HeldDays => Some(s.held_days.to_string()),
            Field::AckStatus => Some(s.ack_status.as_db().to_string()),
            Field::AckSentAt => s.ack_sent_at.map(rfc3339_utc),
            Field::AckDetail => s.ack_detail.clone(),
            Field::ClosedAt => s.closed_at.map(rfc3339_utc),
            Field::AnsweredOn => s.answered_on.map(date),
            Field::AnsweredSource => s.answered_source.clone(),
            Field::DiscardReason => s.discard_reason.clone(),
            Field::MergedInto => s.merged_into.as_ref().map(|r| r.number.clone()),
        }
    }

    /// A stored value as staff read it (German labels, Berlin time).
    pub fn display(self, value: Option<&str>) -> String {
        let Some(v) = value else {
            return "–".to_string();
        };
        match self {
            Field::Status => status_label(v),
            Field::Kind => kind_label(v),
            Field::Topics => match serde_json::from_str::<Vec<String>>(v) {
                Ok(t) if t.is_empty() => "–".to_string(),
                Ok(t) => t.join(", "),
                Err(_) => v.to_string(),
            },
            Field::Justified | Field::Contributed | Field::ThirdParty | Field::ThirdPartyManual => {
                match v {
                    "true" => "ja".to_string(),
                    "false" => "nein".to_string(),
                    o => o.to_string(),
                }
            }
            Field::AckStatus => ack_status_label(v).to_string(),
            Field::AnsweredSource => answered_source_label(v).to_string(),
            Field::HoldSince | Field::AckSentAt | Field::ClosedAt => {
                match DateTime::parse_from_rfc3339(v) {
                    Ok(t) => berlin_minute(t.with_timezone(&Utc)),
                    Err(_) => v.to_string(),
                }
            }
            _ => v.to_string(),
        }
    }
}

/// One changed field, old → new in stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: Field,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} → {}",
            self.field.label(),
            self.field.display(self.old.as_deref()),
            self.field.display(self.new.as_deref())
        )
    }
}

/// Every field that differs between `old` and `new`, in a fixed order.
pub fn changes(old: &CaseState, new: &CaseState) -> Vec<FieldChange> {
    Field::ALL
        .into_iter()
        .filter_map(|f| {
            let (o, n) = (f.value(old), f.value(new));
            (o != n).then_some(FieldChange {
                field: f,
                old: o,
                new: n,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Pure transitions
// ---------------------------------------------------------------------------------------------

pub(super) fn refuse_if_gone(s: &CaseState, number: &str) -> Result<()> {
    match s.status {
        CaseStatus::Discarded => Err(refused(format!(
            "{number} ist verworfen ({}); bitte erst `case reopen {number}` ausführen",
            s.discard_reason.as_deref().unwrap_or("ohne Grund")
        ))),
        CaseStatus::Merged => Err(refused(format!(
            "{number} ist in {} zusammengeführt; bitte dort weiterarbeiten",
            s.merged_into
                .as_ref()
                .map(|r| r.number.as_str())
                .unwrap_or("einen anderen Vorgang")
        ))),
        _ => Ok(()),
    }
}

/// Confirms the kind and sets up to three topics from the catalogue. Suggestions stay as they
/// are. A kind other than complaint drops an assessment (only complaints are assessed).
pub fn classify(
    s: &CaseState,
    number: &str,
    rules: &RuleSet,
    kind: Option<Kind>,
    topics: &[String],
    clear_topics: bool,
) -> Result<CaseState> {
    refuse_if_gone(s, number)?;
    if kind.is_none() && topics.is_empty() && !clear_topics {
        return Err(refused(
            "Bitte --kind und/oder --topic angeben (oder --no-topics zum Leeren der Themen)",
        ));
    }
    if clear_topics && !topics.is_empty() {
        return Err(refused("--topic und --no-topics schließen sich aus"));
    }
    let mut next = s.clone();
    set_kind(&mut next, kind);
    if clear_topics {
        next.topics.clear();
    } else if !topics.is_empty() {
        next.topics = checked_topics(rules, topics)?;
    }
    Ok(next)
}

/// The desk's form, which lists every topic: the ticked ones are the case's topics (none
/// ticked: none). The topics the case has already are not checked against the catalogue again
/// when they stay as they are (one may have been retired since).
pub fn classify_listed(
    s: &CaseState,
    number: &str,
    rules: &RuleSet,
    kind: Option<Kind>,
    ticked: &[String],
) -> Result<CaseState> {
    refuse_if_gone(s, number)?;
    let mut next = s.clone();
    set_kind(&mut next, kind);
    let same = ticked.len() == s.topics.len()
        && ticked
            .iter()
            .all(|t| s.topics.iter().any(|c| c.eq_ignore_ascii_case(t)));
    if !same {
        next.topics = checked_topics(rules, ticked)?;
    }
    Ok(next)
}

/// A confirmed kind; an assessment is dropped unless it is a complaint (only those are assessed).
fn set_kind(next: &mut CaseState, kind: Option<Kind>) {
    if let Some(k) = kind {
        next.kind = Some(k.as_str().to_string());
        if k != Kind::Beschwerde {
            next.justified = None;
        }
    }
}

/// Catalogue names for `topics` (at most three, no retired ones, no repeats).
pub fn checked_topics(rules: &RuleSet, topics: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in topics {
        let topic = rules.check_topic(t).map_err(StaffError::Refused)?;
        if !out.contains(&topic.name) {
            out.push(topic.name.clone());
        }
    }
    if out.len() > MAX_TOPICS {
        return Err(refused(format!(
            "Höchstens {MAX_TOPICS} Themen je Vorgang (wie in der KRM-Datenbank der BA); angegeben: {}",
            out.len()
        )));
    }
    Ok(out)
}

/// The topic catalogue of the rules directory: the `[[topic]]` entries of its rule files
/// (`*.toml`, dotfiles and editor leftovers skipped), loaded without compiling the sender rules
/// and hints, which takes seconds in a debug build and is not needed to check a topic name.
pub fn topic_catalogue(dir: &std::path::Path) -> std::result::Result<RuleSet, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: Regelverzeichnis nicht lesbar: {e}", dir.display()))?;
    let mut paths: Vec<(String, std::path::PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            crate::rules::is_rule_file_name(&name).then(|| (name, e.path()))
        })
        .collect();
    paths.sort();
    let mut topics: Vec<toml::Value> = Vec::new();
    for (_, path) in &paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: nicht lesbar: {e}", path.display()))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        if let Some(toml::Value::Array(list)) = table.get("topic") {
            topics.extend(list.iter().cloned());
        }
    }
    let mut catalogue = toml::Table::new();
    catalogue.insert("topic".into(), toml::Value::Array(topics));
    let text = toml::to_string(&catalogue).map_err(|e| e.to_string())?;
    RuleSet::from_sources(&[("topics.toml", &text)])
        .map_err(|e| format!("{}: Themenkatalog: {e}", dir.display()))
}

/// Records whether a complaint was justified. Only complaints can be assessed.
pub fn assess(s: &CaseState, number: &str, justified: bool) -> Result<CaseState> {
    refuse_if_gone(s, number)?;
    match s.kind.as_deref() {
        Some("beschwerde") => {}
        Some(other) => {
            return Err(refused(format!(
                "{number} ist als {} eingestuft; nur Beschwerden werden als begründet oder \
                 unbegründet bewertet",
                kind_label(other)
            )))
        }
        None => {
            return Err(refused(format!(
                "{number} ist noch nicht als Beschwerde eingestuft; bitte zuerst \
                 `case classify {number} --kind beschwerde` ausführen"
            )))
        }
    }
    let mut next = s.clone();
    next.justified = Some(justified);
    Ok(next)
}

/// Puts an open case on hold (waiting for the customer).
pub fn hold(s: &CaseState, number: &str, now: DateTime<Utc>) -> Result<CaseState> {
    refuse_if_gone(s, number)?;
    match s.status {
        CaseStatus::Open => {}
        CaseStatus::OnHold => {
            return Err(refused(format!(
                "{number} ruht bereits seit {}",
                s.hold_since.map(berlin_minute).unwrap_or_default()
            )))
        }
        other => {
            return Err(refused(format!(
                "{number} ist {}; nur offene Vorgänge können ruhen",
                other.label()
            )))
        }
    }
    let mut next = s.clone();
    next.status = CaseStatus::OnHold;
    next.hold_since = Some(now);
    Ok(next)
}

/// Ends a hold: the whole held days are added to the unshifted deadline, then § 193 BGB
/// applies afresh.
pub fn resume(
    s: &CaseState,
    number: &str,
    cal: &Calendar,
    now: DateTime<Utc>,
) -> Result<CaseState> {
    refuse_if_gone(s, number)?;
    if s.status != CaseStatus::OnHold {
        return Err(refused(format!(
            "{number} ruht nicht (Status: {})",
            s.status.label()
        )));
    }
    Ok(end_hold(s, cal, now))
}

fn end_hold(s: &CaseState, cal: &Calendar, now: DateTime<Utc>) -> CaseState {
    let mut next = s.clone();
    let days = s
        .hold_since
        .map(|h| calendar::held_whole_days(h, now))
        .unwrap_or(0);
    let (unshifted, due) = calendar::extend_for_hold(cal, s.due_unshifted, days);
    next.held_days = s
        .held_days
        .saturating_add(i32::try_from(days).unwrap_or(i32::MAX));
    next.due_unshifted = unshifted;
    next.due = due;
    next.hold_since = None;
    next.status = CaseStatus::Open;
    next
}

/// German label of where an answer date came from.
pub fn answered_source_label(v: &str) -> &str {
    match AnsweredSource::from_db(v) {
        Some(s) => s.label(),
        None => v,
    }
}

/// The answer date `close` uses: the one staff typed, else the one captured from the sent
/// mail, else today.
pub fn close_date(s: &CaseState, typed: Option<NaiveDate>, today: NaiveDate) -> NaiveDate {
    typed.or(s.answered_on).unwrap_or(today)
}

/// Closes a case: the final answer went out on `answered_on` (a Berlin date). A case on hold is
/// resumed first, so its held days count. A date other than the captured one is recorded as
/// typed (the timeline shows both).
pub fn close(
    s: &CaseState,
    number: &str,
    cal: &Calendar,
    received: NaiveDate,
    answered_on: NaiveDate,
    now: DateTime<Utc>,
) -> Result<CaseState> {
    refuse_if_gone(s, number)?;
    if s.status == CaseStatus::Closed {
        return Err(refused(format!(
            "{number} ist bereits abgeschlossen (Antwort am {}); \
             zum Ändern bitte erst `case reopen {number}` ausführen",
            s.answered_on.map(ymd).unwrap_or_else(|| "–".into())
        )));
    }
    let today = calendar::berlin_date(now);
    if answered_on > today {
        return Err(refused(format!(
            "Das Antwortdatum {} liegt in der Zukunft",
            ymd(answered_on)
        )));
    }
    if answered_on < received {
        return Err(refused(format!(
            "Das Antwortdatum {} liegt vor dem Eingang ({})",
            ymd(answered_on),
            ymd(received)
        )));
    }
    let mut next = if s.status == CaseStatus::OnHold {
        end_hold(s, cal, now)
    } else {
        s.clone()
    };
    next.status = CaseStatus::Closed;
    next.closed_at = Some(now);
    if s.answered_on != Some(answered_on) || s.answered_source.is_none() {
        next.answered_source = Some(AnsweredSource::Typed.as_db().to_string());
    }
    next.answered_on = Some(answered_on);
    Ok(next)
}

/// Opens a closed (or discarded) case again.
pub fn reopen(s: &CaseState, number: &str) -> Result<CaseState> {
    if s.status == CaseStatus::Merged {
        refuse_if_gone(s, number)?;
    }
    let mut next = s.clone();
    match s.status {
        CaseStatus::Closed => {}
        CaseStatus::Discarded => next.discard_reason = None,
        other => {
            return Err(refused(format!(
                "{number} ist {}; nur abgeschlossene oder verworfene Vorgänge können wieder \
                 geöffnet werden",
                other.label()
            )))
        }
    }
    // A discarded case may have been closed before.
    next.closed_at = None;
    next.answered_on = None;
    next.answered_source = None;
    next.status = CaseStatus::Open;
    Ok(next)
}

/// Assigns the case to a name from the `[staff]` table, or to nobody.
pub fn assign(
    s: &CaseState,
    number: &str,
    staff: &std::collections::BTreeMap<String, String>,
    name: Option<&str>,
) -> Result<CaseState> {
    refuse_if_gone(s, number)?;
    let mut next = s.clone();
    next.assignee = match name {
        None => None,
        Some(n) => {
            let found = staff
                .keys()
                .find(|k| k.as_str() == n.trim())
                .or_else(|| staff.keys().find(|k| k.eq_ignore_ascii_case(n.trim())));
            match found {
                Some(k) => Some(k.clone()),
                None => {
                    let known: Vec<&str> = staff.keys().map(String::as_str).collect();
                    return Err(refused(if known.is_empty() {
                        format!(
                            "Unbekannte Person „{}“: in der Konfiguration ist kein [staff] \
                             eingetragen",
                            n.trim()
                        )
                    } else {
                        format!(
                            "Unbekannte Person „{}“. Zuständige laut Konfiguration ([staff]): {}",
                            n.trim(),
                            known.join(", ")
                        )
                    }));
                }
            }
        }
    };
    Ok(next)
}

/// The organisation behind a case, corrected by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualOrganisation {
    pub organisation: String,
    pub category: Option<Category>,
    pub third_party: bool,
}

/// Sets the organisation by hand (`None`: no organisation, no third party).
pub fn set_third_party(
    s: &CaseState,
    number: &str,
    org: Option<&ManualOrganisation>,
) -> Result<CaseState> {
    refuse_if_gone(s, number)?;
    let mut next = s.clone();
    match org {
        Some(o) => {
            let name = o.organisation.trim();
            if name.is_empty() {
                return Err(refused("Der Name der Organisation darf nicht leer sein"));
            }
            let max = super::network::MAX_ORGANISATION_CHARS;
            if name.chars().count() > max {
                return Err(refused(format!(
                    "Der Name der Organisation ist zu lang (höchstens {max} Zeichen)"
                )));
            }
            next.organisation = Some(name.to_string());
            next.category = o.category.map(|c| c.label().to_string());
            next.third_party = o.third_party;
        }
        None => {
            next.organisation = None;
            next.category = None;
            next.third_party = false;
        }
    }
    next.third_party_manual = true;
    Ok(next)
}

/// Discards a case (spam, misdirected, duplicate): kept, but no reaction in the statistics.
pub fn discard(s: &CaseState, number: &str, reason: &str) -> Result<CaseState> {
    refuse_if_gone(s, number)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(refused(
            "Bitte einen Grund angeben (z. B. spam, fehlgeleitet, duplikat)",
        ));
    }
    let mut next = s.clone();
    next.status = CaseStatus::Discarded;
    next.discard_reason = Some(reason.to_string());
    next.hold_since = None;
    Ok(next)
}

/// Merges `s` (case `number`) into `into`; its mails stay where they are.
pub fn merge(
    s: &CaseState,
    number: &str,
    into: &CaseRef,
    into_state: &CaseState,
) -> Result<CaseState> {
    if number == into.number {
        return Err(refused(format!(
            "{number} kann nicht mit sich selbst zusammengeführt werden"
        )));
    }
    refuse_if_gone(s, number)?;
    refuse_if_gone(into_state, &into.number)?;
    let mut next = s.clone();
    next.status = CaseStatus::Merged;
    next.merged_into = Some(into.clone());
    next.hold_since = None;
    Ok(next)
}

/// Instant stored for a date staff give for an acknowledgement: noon in Berlin.
fn noon_berlin(d: NaiveDate) -> DateTime<Utc> {
    calendar::berlin_local_to_utc(d, NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default())
        .unwrap_or_else(|| d.and_time(NaiveTime::MIN).and_utc())
}

/// Staff sent an acknowledgement themselves (by letter, phone, own mail) on `on`.
pub fn record_ack(
    s: &CaseState,
    number: &str,
    received: NaiveDate,
    on: NaiveDate,
    today: NaiveDate,
) -> Result<CaseState> {
    refuse_if_gone(s, number)?;
    if s.ack_status == AckStatus::Sent {
        return Err(refused(format!(
            "Für {number} wurde die Eingangsbestätigung bereits per Mail versandt ({})",
            s.ack_sent_at.map(berlin_minute).unwrap_or_default()
        )));
    }
    if on > today || on < received {
        return Err(refused(format!(
            "Das Datum {} liegt nicht zwischen Eingang ({}) und heute",
            ymd(on),
            ymd(received)
        )));
    }
    let mut next = s.clone();
    next.ack_status = AckStatus::Manual;
    next.ack_sent_at = Some(noon_berlin(on));
    next.ack_detail = Some("von Hand erfasst".to_string());
    Ok(next)
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (Berlin time) as given to `case new --received`.
pub fn parse_received(s: &str) -> Result<DateTime<Utc>> {
    let t = s.trim();
    let bad = || {
        refused(format!(
            "„{t}“ ist kein Eingangszeitpunkt (JJJJ-MM-TT oder JJJJ-MM-TTTHH:MM, Berliner Zeit)"
        ))
    };
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (
            NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad())?,
            NaiveTime::parse_from_str(tm, "%H:%M").map_err(|_| bad())?,
        ),
        None => (
            NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| bad())?,
            NaiveTime::MIN,
        ),
    };
    let at = calendar::berlin_local_to_utc(date, time).ok_or_else(bad)?;
    // A time the clocks skipped (spring) is refused rather than moved to when they resumed.
    if calendar::berlin_date_time(at) != date.and_time(time) {
        return Err(refused(format!(
            "{} Uhr gibt es am {} nicht (Umstellung auf die Sommerzeit); bitte die Uhrzeit prüfen",
            time.format("%H:%M"),
            date.format("%d.%m.%Y")
        )));
    }
    Ok(at)
}

/// The earliest day a reaction can have come in: the Jobcenters (SGB II) exist since then. An
/// earlier date is a typing error (a case `KRM-1999-…` would top every list as overdue).
pub const EARLIEST_RECEIVED: (i32, u32, u32) = (2005, 1, 1);

/// [`EARLIEST_RECEIVED`] as a date: also the earliest network appointment.
pub fn earliest_date() -> NaiveDate {
    let (y, mo, da) = EARLIEST_RECEIVED;
    NaiveDate::from_ymd_opt(y, mo, da).unwrap_or_default()
}

/// A reaction that came by letter, phone, in person, fax or another way.
#[derive(Debug, Clone)]
pub struct ManualCase {
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
    pub organisation: Option<String>,
    pub category: Option<Category>,
    /// Default: yes when an organisation is given.
    pub third_party: Option<bool>,
    pub kind: Option<Kind>,
    pub topics: Vec<String>,
    pub ack_sent_on: Option<NaiveDate>,
    /// What the letter or call said, in the case worker's words: the case's first note.
    pub text: Option<String>,
}

/// The state a manual case gets right after its insertion, from its stored base `base`.
pub fn manual_state(
    base: &CaseState,
    m: &ManualCase,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<CaseState> {
    let received = calendar::berlin_date(m.received_at);
    let today = calendar::berlin_date(now);
    let mut next = base.clone();
    if let Some(k) = m.kind {
        next.kind = Some(k.as_str().to_string());
    }
    if !m.topics.is_empty() {
        next.topics = checked_topics(rules, &m.topics)?;
    }
    match (&m.organisation, m.category, m.third_party) {
        (Some(o), c, tp) => {
            next = set_third_party(
                &next,
                "",
                Some(&ManualOrganisation {
                    organisation: o.clone(),
                    category: c,
                    third_party: tp.unwrap_or(true),
                }),
            )?;
        }
        (None, Some(_), _) => {
            return Err(refused(
                "Eine Kategorie gibt es nur zusammen mit einer Organisation",
            ));
        }
        (None, None, Some(tp)) => {
            next.third_party = tp;
            next.third_party_manual = true;
        }
        (None, None, None) => {}
    }
    if let Some(on) = m.ack_sent_on {
        next = record_ack(&next, "", received, on, today)?;
    }
    Ok(next)
}

pub fn check_manual(m: &ManualCase, now: DateTime<Utc>) -> Result<()> {
    let chars = m.text.as_deref().map_or(0, |t| t.trim().chars().count());
    if chars > super::MAX_CASE_NOTE_CHARS {
        return Err(refused(format!(
            "Der Inhalt ist zu lang (höchstens {} Zeichen, sind {chars})",
            super::MAX_CASE_NOTE_CHARS
        )));
    }
    let earliest = earliest_date();
    if calendar::berlin_date(m.received_at) < earliest {
        return Err(refused(format!(
            "Der Eingang {} liegt vor dem {} (seit dann gibt es die Jobcenter); bitte das Jahr \
             prüfen",
            berlin_minute(m.received_at),
            ymd(earliest)
        )));
    }
    if m.received_at > now {
        return Err(refused(format!(
            "Der Eingang {} liegt in der Zukunft",
            berlin_minute(m.received_at)
        )));
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::calendar::test_dates::{berlin_at as berlin, d};
    use crate::calendar::{ClosingDay, Land};
    use chrono::TimeZone;

    fn cal() -> Calendar {
        Calendar::new(
            Land::SN,
            vec![
                ClosingDay::parse("12-24").unwrap(),
                ClosingDay::parse("12-31").unwrap(),
            ],
        )
    }

    /// An open case due 16 March 2026 (also used by the other staff parts' tests).
    pub(crate) fn state() -> CaseState {
        CaseState {
            status: CaseStatus::Open,
            kind: None,
            topics: vec![],
            justified: None,
            contributed: None,
            organisation: None,
            category: None,
            third_party: false,
            third_party_manual: false,
            assignee: None,
            due_unshifted: d("2026-03-16"),
            due: d("2026-03-16"),
            hold_since: None,
            held_days: 0,
            ack_status: AckStatus::Pending,
            ack_sent_at: None,
            ack_detail: None,
            closed_at: None,
            answered_on: None,
            answered_source: None,
            discard_reason: None,
            merged_into: None,
        }
    }

    fn rules() -> RuleSet {
        RuleSet::from_sources(&[(
            "topics.toml",
            "[[topic]]\nname = \"Umzug\"\n\n[[topic]]\nname = \"Mietkaution\"\n\n[[topic]]\nname = \"Erreichbarkeit\"\n\n[[topic]]\nname = \"Datenschutz\"\n\n[[topic]]\nname = \"Alt\"\nretired = true\n",
        )])
        .unwrap()
    }

    const N: &str = "KRM-2026-00001";

    fn msg(r: Result<CaseState>) -> String {
        match r {
            Err(StaffError::Refused(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn classify_confirms_kind_and_checks_topics() {
        let r = rules();
        let s = classify(
            &state(),
            N,
            &r,
            Some(Kind::Beschwerde),
            &["umzug".into(), "Mietkaution".into(), "Umzug".into()],
            false,
        )
        .unwrap();
        assert_eq!(s.kind.as_deref(), Some("beschwerde"));
        assert_eq!(s.topics, ["Umzug", "Mietkaution"]);
        let ch = changes(&state(), &s);
        assert_eq!(
            ch.iter().map(|c| c.field).collect::<Vec<_>>(),
            [Field::Kind, Field::Topics]
        );
        assert_eq!(ch[0].to_string(), "Art: – → Beschwerde");
        assert_eq!(ch[1].to_string(), "Themen: – → Umzug, Mietkaution");

        let four: Vec<String> = ["Umzug", "Mietkaution", "Erreichbarkeit", "Datenschutz"]
            .map(String::from)
            .to_vec();
        assert!(msg(classify(&state(), N, &r, None, &four, false)).contains("Höchstens 3"));
        assert!(msg(classify(&state(), N, &r, None, &["Alt".into()], false))
            .contains("nicht mehr vergeben"));
        assert!(
            msg(classify(&state(), N, &r, None, &["Mond".into()], false))
                .starts_with("Unbekanntes Thema „Mond“")
        );
        assert!(msg(classify(&state(), N, &r, None, &[], false)).contains("--kind"));
        // Topics only: the kind stays; clearing topics works.
        let t = classify(&s, N, &r, None, &[], true).unwrap();
        assert!(t.topics.is_empty() && t.kind.as_deref() == Some("beschwerde"));
    }

    #[test]
    fn the_shipped_topic_catalogue_loads_alone() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let t = topic_catalogue(&dir).unwrap();
        assert_eq!(t.check_topic("umzug").unwrap().name, "Umzug");
        assert!(t.check_topic("Eingliederungsvereinbarung").is_err());
        assert_eq!(t.topics().len(), 14);
        assert!(topic_catalogue(std::path::Path::new("/nonexistent")).is_err());
    }

    #[test]
    fn only_complaints_are_assessed_and_reclassifying_drops_the_assessment() {
        let r = rules();
        assert!(msg(assess(&state(), N, true)).contains("noch nicht als Beschwerde"));
        let lob = classify(&state(), N, &r, Some(Kind::Lob), &[], false).unwrap();
        assert_eq!(
            msg(assess(&lob, N, true)),
            "KRM-2026-00001 ist als Lob eingestuft; nur Beschwerden werden als begründet oder unbegründet bewertet"
        );
        let b = classify(&state(), N, &r, Some(Kind::Beschwerde), &[], false).unwrap();
        let j = assess(&b, N, true).unwrap();
        assert_eq!(j.justified, Some(true));
        let a = classify(&j, N, &r, Some(Kind::Anregung), &[], false).unwrap();
        assert_eq!(a.justified, None);
        assert_eq!(changes(&j, &a).len(), 2);
    }

    #[test]
    fn hold_and_resume_shift_the_deadline_by_whole_days() {
        let c = cal();
        let mut s = state();
        // Received Mon 2026-03-02: unshifted = due = Mon 2026-03-16.
        let h = hold(&s, N, berlin(2026, 3, 5, 16, 0)).unwrap();
        assert_eq!(h.status, "on_hold");
        assert!(msg(hold(&h, N, berlin(2026, 3, 6, 9, 0))).contains("ruht bereits"));
        // Held Thu 16:00 to Mon 09:00 = 4 whole days: 2026-03-20 (Friday).
        let r = resume(&h, N, &c, berlin(2026, 3, 9, 9, 0)).unwrap();
        assert_eq!((r.status.as_db(), r.held_days), ("open", 4));
        assert_eq!((r.due_unshifted, r.due), (d("2026-03-20"), d("2026-03-20")));
        assert!(r.hold_since.is_none());
        // A second hold of 1 day lands on Saturday: § 193 moves it to Monday.
        let h2 = hold(&r, N, berlin(2026, 3, 10, 8, 0)).unwrap();
        let r2 = resume(&h2, N, &c, berlin(2026, 3, 11, 8, 0)).unwrap();
        assert_eq!(r2.held_days, 5);
        assert_eq!(
            (r2.due_unshifted, r2.due),
            (d("2026-03-21"), d("2026-03-23"))
        );
        assert!(msg(resume(&r2, N, &c, berlin(2026, 3, 12, 8, 0))).contains("ruht nicht"));
        s.status = CaseStatus::Closed;
        assert!(msg(hold(&s, N, berlin(2026, 3, 5, 16, 0))).contains("nur offene"));
    }

    #[test]
    fn close_twice_is_refused_and_reopen_clears_the_answer() {
        let c = cal();
        let now = berlin(2026, 3, 12, 10, 0);
        let s = close(&state(), N, &c, d("2026-03-02"), d("2026-03-10"), now).unwrap();
        assert_eq!(s.status, "closed");
        assert_eq!(s.answered_on, Some(d("2026-03-10")));
        assert_eq!(s.closed_at, Some(now));
        let ch = changes(&state(), &s);
        assert_eq!(
            ch.iter().map(|c| c.field.key()).collect::<Vec<_>>(),
            ["status", "closed_at", "answered_on", "answered_source"]
        );
        assert!(msg(close(&s, N, &c, d("2026-03-02"), d("2026-03-10"), now))
            .contains("bereits abgeschlossen"));
        assert!(msg(close(
            &state(),
            N,
            &c,
            d("2026-03-02"),
            d("2026-03-13"),
            now
        ))
        .contains("Zukunft"));
        assert!(msg(close(
            &state(),
            N,
            &c,
            d("2026-03-02"),
            d("2026-03-01"),
            now
        ))
        .contains("vor dem Eingang"));
        let o = reopen(&s, N).unwrap();
        assert_eq!(o.status, "open");
        assert!(o.closed_at.is_none() && o.answered_on.is_none());
        assert!(msg(reopen(&o, N)).contains("nur abgeschlossene"));
        // Closing a held case ends the hold first.
        let h = hold(&state(), N, berlin(2026, 3, 5, 9, 0)).unwrap();
        let ch = close(&h, N, &c, d("2026-03-02"), d("2026-03-12"), now).unwrap();
        assert_eq!((ch.held_days, ch.hold_since), (7, None));
    }

    #[test]
    fn close_uses_the_captured_date_unless_one_is_typed() {
        let c = cal();
        let now = berlin(2026, 3, 12, 10, 0);
        let today = d("2026-03-12");
        let mut captured = state();
        captured.answered_on = Some(d("2026-03-09"));
        captured.answered_source = Some("mailbox".into());
        assert_eq!(close_date(&captured, None, today), d("2026-03-09"));
        assert_eq!(close_date(&state(), None, today), today);
        assert_eq!(
            close_date(&captured, Some(d("2026-03-11")), today),
            d("2026-03-11")
        );
        // Closed with the captured date: it stays "from the mailbox".
        let s = close(&captured, N, &c, d("2026-03-02"), d("2026-03-09"), now).unwrap();
        assert_eq!(s.answered_source.as_deref(), Some("mailbox"));
        let keys: Vec<_> = changes(&captured, &s)
            .iter()
            .map(|c| c.field.key())
            .collect();
        assert_eq!(keys, ["status", "closed_at"]);
        // A typed date wins, and the timeline shows both the date and its source changing.
        let s = close(&captured, N, &c, d("2026-03-02"), d("2026-03-11"), now).unwrap();
        let ch = changes(&captured, &s);
        let lines: Vec<String> = ch.iter().map(ToString::to_string).collect();
        assert!(lines.contains(&"Antwort versandt am: 2026-03-09 → 2026-03-11".to_string()));
        assert!(lines
            .contains(&"Antwortdatum: aus dem Postfach erfasst → von Hand eingegeben".to_string()));
        assert!(reopen(&s, N).unwrap().answered_source.is_none());
    }

    #[test]
    fn assign_only_configured_staff() {
        let staff: std::collections::BTreeMap<String, String> = [
            ("Anna".to_string(), "anna@jobcenter.test".to_string()),
            ("Bernd".to_string(), "bernd@jobcenter.test".to_string()),
        ]
        .into();
        let s = assign(&state(), N, &staff, Some("anna")).unwrap();
        assert_eq!(s.assignee.as_deref(), Some("Anna"));
        assert_eq!(
            msg(assign(&state(), N, &staff, Some("Carla"))),
            "Unbekannte Person „Carla“. Zuständige laut Konfiguration ([staff]): Anna, Bernd"
        );
        assert!(assign(&s, N, &staff, None).unwrap().assignee.is_none());
    }

    #[test]
    fn discard_merge_and_what_is_refused_afterwards() {
        let s = discard(&state(), N, " spam ").unwrap();
        assert_eq!(
            (s.status.as_db(), s.discard_reason.as_deref()),
            ("discarded", Some("spam"))
        );
        assert!(msg(assess(&s, N, true)).contains("verworfen (spam)"));
        assert!(msg(discard(&state(), N, "  ")).contains("Grund"));
        let back = reopen(&s, N).unwrap();
        assert_eq!((back.status.as_db(), back.discard_reason), ("open", None));

        let into = CaseRef {
            id: 7,
            number: "KRM-2026-00007".into(),
        };
        let m = merge(&state(), N, &into, &state()).unwrap();
        assert_eq!(m.status, "merged");
        let ch = changes(&state(), &m);
        assert_eq!(ch[1].to_string(), "zusammengeführt in: – → KRM-2026-00007");
        assert!(msg(reopen(&m, N)).contains("in KRM-2026-00007 zusammengeführt"));
        let me = CaseRef {
            id: 1,
            number: N.into(),
        };
        assert!(msg(merge(&state(), N, &me, &state())).contains("mit sich selbst"));
        assert!(msg(merge(&state(), N, &into, &m)).contains("KRM-2026-00007 ist in"));
    }

    #[test]
    fn third_party_by_hand() {
        let o = ManualOrganisation {
            organisation: "Caritas Schuldnerberatung".into(),
            category: Some(Category::Beratungsstelle),
            third_party: true,
        };
        let s = set_third_party(&state(), N, Some(&o)).unwrap();
        assert!(s.third_party && s.third_party_manual);
        assert_eq!(s.category.as_deref(), Some("Beratungsstelle"));
        let n = set_third_party(&s, N, None).unwrap();
        assert!(!n.third_party && n.organisation.is_none() && n.third_party_manual);
    }

    #[test]
    fn received_is_berlin_time() {
        assert_eq!(
            parse_received("2017-07-01T00:10").unwrap(),
            Utc.with_ymd_and_hms(2017, 6, 30, 22, 10, 0).unwrap()
        );
        assert_eq!(
            parse_received("2017-01-05").unwrap(),
            Utc.with_ymd_and_hms(2017, 1, 4, 23, 0, 0).unwrap()
        );
        for bad in ["2017-13-01", "gestern", "2017-01-01T25:00", ""] {
            assert!(parse_received(bad).is_err(), "{bad}");
        }
        // The hour the clocks skip in spring is refused, not moved; the one they repeat in
        // autumn is the first of the two.
        assert!(msg(parse_received("2026-03-29T02:30").map(|_| state()))
            .contains("02:30 Uhr gibt es am 29.03.2026 nicht"));
        assert_eq!(
            parse_received("2026-10-25T02:30").unwrap(),
            Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap()
        );
    }

    #[test]
    fn received_before_the_jobcenters_or_in_the_future_is_refused() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
        let manual = |received: &str| ManualCase {
            channel: Channel::Brief,
            received_at: parse_received(received).unwrap(),
            organisation: None,
            category: None,
            third_party: None,
            kind: None,
            topics: Vec::new(),
            ack_sent_on: None,
            text: None,
        };
        assert!(check_manual(&manual("2005-01-01"), now).is_ok());
        assert!(check_manual(&manual("2026-12-07T10:00"), now).is_ok());
        assert!(
            msg(check_manual(&manual("2004-12-31T23:59"), now).map(|()| state()))
                .contains("liegt vor dem 2005-01-01")
        );
        assert!(
            msg(check_manual(&manual("1999-01-05"), now).map(|()| state()))
                .contains("bitte das Jahr prüfen")
        );
        assert!(
            msg(check_manual(&manual("2026-12-07T11:30"), now).map(|()| state()))
                .contains("Zukunft")
        );
    }

    #[test]
    fn manual_case_state_and_ack() {
        let r = rules();
        let now = berlin(2026, 3, 12, 10, 0);
        let m = ManualCase {
            channel: Channel::Telefon,
            received_at: berlin(2026, 3, 2, 9, 0),
            organisation: Some("Arbeitsloseninitiative Dresden".into()),
            category: Some(Category::VereinInitiative),
            third_party: None,
            kind: Some(Kind::Lob),
            topics: vec!["Erreichbarkeit".into()],
            ack_sent_on: Some(d("2026-03-03")),
            text: None,
        };
        let mut base = state();
        base.ack_status = AckStatus::None;
        let s = manual_state(&base, &m, &r, now).unwrap();
        assert!(s.third_party && s.third_party_manual);
        assert_eq!(s.ack_status, "manual");
        assert_eq!(
            s.ack_sent_at,
            Some(Utc.with_ymd_and_hms(2026, 3, 3, 11, 0, 0).unwrap())
        );
        let mut late = m.clone();
        late.ack_sent_on = Some(d("2026-03-01"));
        assert!(manual_state(&base, &late, &r, now).is_err());
        let mut cat_only = m.clone();
        cat_only.organisation = None;
        assert!(msg(manual_state(&base, &cat_only, &r, now)).contains("Organisation"));
        let mut future = m;
        future.received_at = berlin(2026, 3, 13, 9, 0);
        assert!(check_manual(&future, now).is_err());
    }

    #[test]
    fn event_values_display_in_german() {
        assert_eq!(Field::Justified.display(Some("true")), "ja");
        assert_eq!(Field::Status.display(Some("on_hold")), "ruht");
        assert_eq!(
            Field::ClosedAt.display(Some("2017-06-30T22:10:00Z")),
            "2017-07-01 00:10"
        );
        assert_eq!(Field::Topics.display(Some("[]")), "–");
        assert_eq!(Field::Assignee.display(None), "–");
        assert_eq!(channel_label("telefon"), "Telefon");
        assert_eq!(channel_label("ombudsstelle"), "E-Mail (ombudsstelle)");
    }
}
