//! What staff do with a case: classify, assess, hold and resume, close, reopen, assign, correct
//! the organisation, discard, merge, record reactions that came by letter or phone. Transitions
//! and validations are pure functions on [`CaseState`]; the async functions wrap them in one
//! transaction each and write one audit row (`case_events`) per changed field. SQL lives in
//! `store::staff`; German texts here are what staff read.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, SecondsFormat, Utc};
use chrono_tz::Europe::Berlin;
use serde::Serialize;
use sqlx::PgPool;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

use crate::calendar::{self, Calendar, DeadlinePolicy};
use crate::domain::{AckStatus, CaseNumber, CaseStatus, Category, Kind, OutboxKind, ReviewReason};
use crate::intake;
use crate::rules::{RuleSet, MAX_TOPICS};
use crate::store::cases::{self, Event, NewCase};
use crate::store::staff::{self as q, StaffCase};
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum StaffError {
    #[error("Vorgang {0} gibt es nicht")]
    NotFound(String),
    /// An invalid transition or input; the message is German and complete.
    #[error("{0}")]
    Refused(String),
    #[error("Datenbank: {0}")]
    Store(#[from] StoreError),
    /// The acknowledgement template failed to render; nothing was changed.
    #[error("Vorlage der Eingangsbestätigung: {0}")]
    Template(String),
}

impl From<sqlx::Error> for StaffError {
    fn from(e: sqlx::Error) -> Self {
        StaffError::Store(StoreError::Sql(e))
    }
}

fn refused(msg: impl Into<String>) -> StaffError {
    StaffError::Refused(msg.into())
}

pub type Result<T> = std::result::Result<T, StaffError>;

// ---------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------

/// German label of a stored status (unknown values shown as stored).
pub fn status_label(s: &str) -> String {
    CaseStatus::from_db(s)
        .map(|x| x.label().to_string())
        .unwrap_or_else(|| s.to_string())
}

/// How a reaction arrived when it did not come through the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Channel {
    Brief,
    Telefon,
    Persoenlich,
    Fax,
    Sonstiges,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Brief,
        Channel::Telefon,
        Channel::Persoenlich,
        Channel::Fax,
        Channel::Sonstiges,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Brief => "brief",
            Channel::Telefon => "telefon",
            Channel::Persoenlich => "persoenlich",
            Channel::Fax => "fax",
            Channel::Sonstiges => "sonstiges",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Channel::Brief => "Brief",
            Channel::Telefon => "Telefon",
            Channel::Persoenlich => "persönlich",
            Channel::Fax => "Fax",
            Channel::Sonstiges => "sonstiger Weg",
        }
    }
}

/// German label of a stored channel: a manual channel, or else a mailbox name.
pub fn channel_label(s: &str) -> String {
    Channel::ALL
        .into_iter()
        .find(|c| c.as_str() == s)
        .map(|c| c.label().to_string())
        .unwrap_or_else(|| format!("E-Mail ({s})"))
}

/// German label of a stored acknowledgement status (unknown values shown as stored).
pub fn ack_status_label(s: &str) -> &str {
    AckStatus::from_db(s).map(AckStatus::label).unwrap_or(s)
}

pub fn kind_label(s: &str) -> String {
    Kind::from_str(s)
        .map(|k| k.label().to_string())
        .unwrap_or_else(|_| s.to_string())
}

/// Who acts: the OS user (the audit log's "who") and the name given with `--by`.
#[derive(Debug, Clone)]
pub struct Actor {
    pub os_user: String,
    pub stated_by: Option<String>,
}

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
    DiscardReason,
    MergedInto,
}

impl Field {
    pub const ALL: [Field; 20] = [
        Field::Status,
        Field::Kind,
        Field::Topics,
        Field::Justified,
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
        Field::DiscardReason,
        Field::MergedInto,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Field::Status => "status",
            Field::Kind => "kind",
            Field::Topics => "topics",
            Field::Justified => "justified",
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
            Field::Justified | Field::ThirdParty | Field::ThirdPartyManual => match v {
                "true" => "ja".to_string(),
                "false" => "nein".to_string(),
                o => o.to_string(),
            },
            Field::AckStatus => ack_status_label(v).to_string(),
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

pub fn rfc3339_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// RFC 3339 in Berlin time with its offset, e.g. `2017-07-01T00:10:00+02:00`.
pub fn rfc3339_berlin(t: DateTime<Utc>) -> String {
    t.with_timezone(&Berlin)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// `YYYY-MM-DD HH:MM` in Berlin time.
pub fn berlin_minute(t: DateTime<Utc>) -> String {
    t.with_timezone(&Berlin)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

// ---------------------------------------------------------------------------------------------
// Pure transitions
// ---------------------------------------------------------------------------------------------

fn refuse_if_gone(s: &CaseState, number: &str) -> Result<()> {
    match s.status {
        CaseStatus::Discarded => Err(refused(format!(
            "{number} ist verworfen ({}); erst `case reopen {number}`",
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
    if let Some(k) = kind {
        next.kind = Some(k.as_str().to_string());
        if k != Kind::Beschwerde {
            next.justified = None;
        }
    }
    if clear_topics {
        next.topics.clear();
    } else if !topics.is_empty() {
        next.topics = checked_topics(rules, topics)?;
    }
    Ok(next)
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
            let rule_file = name.ends_with(".toml")
                && name.len() > ".toml".len()
                && !name.starts_with(['.', '#'])
                && !name.ends_with('~');
            rule_file.then(|| (name, e.path()))
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
                "{number} ist noch nicht als Beschwerde eingestuft; zuerst \
                 `case classify {number} --kind beschwerde`"
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

/// Closes a case: the final answer went out on `answered_on` (a Berlin date). A case on hold is
/// resumed first, so its held days count.
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
             zum Ändern erst `case reopen {number}`",
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
                            "Unbekannte Person „{}“. Mögliche Namen ([staff]): {}",
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
    calendar::berlin_local_to_utc(date, time).ok_or_else(bad)
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
            return Err(refused("--category braucht --organisation"));
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
    if m.received_at > now {
        return Err(refused(format!(
            "Der Eingang {} liegt in der Zukunft",
            berlin_minute(m.received_at)
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Commands against the database: one transaction each
// ---------------------------------------------------------------------------------------------

/// The outcome of a command: the case and every field it changed (empty: nothing to do).
#[derive(Debug, Clone)]
pub struct Applied {
    pub number: String,
    pub changes: Vec<FieldChange>,
}

fn normalise_number(number: &str) -> Result<String> {
    CaseNumber::from_str(number)
        .map(|n| n.to_string())
        .map_err(StaffError::Refused)
}

async fn load_locked(conn: &mut sqlx::PgConnection, number: &str) -> Result<StaffCase> {
    let id = q::id_of(conn, number)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.to_string()))?;
    cases::lock(conn, id).await?;
    q::get(conn, id)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.to_string()))
}

async fn write_changes(
    conn: &mut sqlx::PgConnection,
    case_id: i64,
    actor: &Actor,
    verb: &str,
    changes: &[FieldChange],
) -> Result<()> {
    for c in changes {
        cases::add_event(
            conn,
            case_id,
            &Event {
                actor: &actor.os_user,
                stated_by: actor.stated_by.as_deref(),
                action: verb,
                old_value: c.old.clone(),
                new_value: c.new.clone(),
                detail: Some(c.field.key().to_string()),
            },
        )
        .await?;
    }
    Ok(())
}

/// Loads, transforms and stores one case in one transaction; one audit row per changed field,
/// with `verb` as the action.
pub async fn apply<F>(
    pool: &PgPool,
    number: &str,
    actor: &Actor,
    verb: &str,
    f: F,
) -> Result<Applied>
where
    F: FnOnce(&StaffCase, &CaseState, &str) -> Result<CaseState>,
{
    let number = normalise_number(number)?;
    let mut tx = pool.begin().await?;
    let case = load_locked(&mut tx, &number).await?;
    let old = CaseState::of(&case);
    let new = f(&case, &old, &number)?;
    let changes = changes(&old, &new);
    if !changes.is_empty() {
        q::update_state(&mut tx, case.row.id, &new).await?;
        write_changes(&mut tx, case.row.id, actor, verb, &changes).await?;
    }
    tx.commit().await?;
    Ok(Applied { number, changes })
}

/// Adds a note (the *Erfasserbemerkung*) to the timeline.
pub async fn note(pool: &PgPool, number: &str, actor: &Actor, text: &str) -> Result<Applied> {
    let number = normalise_number(number)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(refused("Die Bemerkung ist leer"));
    }
    let mut tx = pool.begin().await?;
    let case = load_locked(&mut tx, &number).await?;
    cases::add_event(
        &mut tx,
        case.row.id,
        &Event {
            actor: &actor.os_user,
            stated_by: actor.stated_by.as_deref(),
            action: "note",
            new_value: Some(text.to_string()),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Applied {
        number,
        changes: Vec::new(),
    })
}

/// Merges case `number` into `into`. Both rows are locked in id order.
pub async fn merge_cases(
    pool: &PgPool,
    number: &str,
    into: &str,
    actor: &Actor,
) -> Result<Applied> {
    let number = normalise_number(number)?;
    let into = normalise_number(into)?;
    let mut tx = pool.begin().await?;
    let a_id = q::id_of(&mut tx, &number)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.clone()))?;
    let b_id = q::id_of(&mut tx, &into)
        .await?
        .ok_or_else(|| StaffError::NotFound(into.clone()))?;
    for id in [a_id.min(b_id), a_id.max(b_id)] {
        cases::lock(&mut tx, id).await?;
    }
    let a = q::get(&mut tx, a_id)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.clone()))?;
    let b = q::get(&mut tx, b_id)
        .await?
        .ok_or_else(|| StaffError::NotFound(into.clone()))?;
    let old = CaseState::of(&a);
    let target = CaseRef {
        id: b_id,
        number: into.clone(),
    };
    let new = merge(&old, &number, &target, &CaseState::of(&b))?;
    let changes = changes(&old, &new);
    q::update_state(&mut tx, a_id, &new).await?;
    write_changes(&mut tx, a_id, actor, "merge", &changes).await?;
    cases::add_event(
        &mut tx,
        b_id,
        &Event {
            actor: &actor.os_user,
            stated_by: actor.stated_by.as_deref(),
            action: "merged_from",
            new_value: Some(number.clone()),
            detail: Some(format!("{number} in diesen Vorgang zusammengeführt")),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Applied { number, changes })
}

/// The outcome of `case confirm`.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub applied: Applied,
    /// The held acknowledgement was put into the outbox.
    pub ack_enqueued: bool,
}

/// Confirms a case held for suspected spam (`review_reason` `spam`): it counts from now on like
/// any other, and the acknowledgement held back at intake goes into the outbox as intake would
/// have put it (an acknowledgement suppressed for another reason stays suppressed). Audit rows:
/// `confirm` for the review reason and for each changed acknowledgement field.
pub async fn confirm(
    pool: &PgPool,
    number: &str,
    actor: &Actor,
    settings: &crate::config::Settings,
    templates: &crate::templates::Templates,
) -> Result<Confirmed> {
    let number = normalise_number(number)?;
    let mut tx = pool.begin().await?;
    let case = load_locked(&mut tx, &number).await?;
    let old = CaseState::of(&case);
    refuse_if_gone(&old, &number)?;
    if case.row.review_reason != Some(ReviewReason::Spam) {
        return Err(refused(format!(
            "{number} steht nicht unter Spam-Verdacht; nichts zu bestätigen"
        )));
    }
    let id = case.row.id;
    q::clear_review_reason(&mut tx, id).await?;
    cases::add_event(
        &mut tx,
        id,
        &Event {
            actor: &actor.os_user,
            stated_by: actor.stated_by.as_deref(),
            action: "confirm",
            old_value: Some(ReviewReason::Spam.as_db().to_string()),
            new_value: None,
            detail: Some("review_reason".to_string()),
        },
    )
    .await?;

    let mut new = old.clone();
    let mut ack_enqueued = false;
    let held = old.ack_status == AckStatus::Suppressed
        && old.ack_detail.as_deref() == Some(intake::SPAM_HELD);
    if held {
        match q::initial_mail(&mut tx, id).await?.and_then(|m| {
            let to = m.recipient.clone().filter(|r| !r.is_empty())?;
            Some((m, to))
        }) {
            None => {
                new.ack_detail = Some(intake::NO_SENDER.to_string());
            }
            Some((m, to)) => {
                let outbox_id = crate::store::outbox::next_id(&mut tx).await?;
                let mut references = m.refs.clone();
                references.extend(m.message_id.clone());
                let built = intake::build_ack(
                    settings,
                    templates,
                    &intake::AckRequest {
                        outbox_id,
                        number: &number,
                        to: &to,
                        in_reply_to: m.message_id.as_deref(),
                        references: &references,
                        received_at: case.row.received_at,
                        due: case.row.due,
                    },
                );
                match built {
                    Ok((message_id, raw)) => {
                        let dedupe_key = format!("ack:{id}");
                        ack_enqueued = crate::store::outbox::enqueue(
                            &mut tx,
                            &crate::store::outbox::NewOutbox {
                                id: outbox_id,
                                kind: OutboxKind::Ack,
                                case_id: Some(id),
                                recipient: &to.to_lowercase(),
                                message_id: &message_id,
                                dedupe_key: Some(&dedupe_key),
                                raw: &raw,
                            },
                        )
                        .await?;
                        if ack_enqueued {
                            new.ack_status = AckStatus::Pending;
                            new.ack_detail = None;
                        }
                    }
                    Err(intake::AckBuildError::Address(_)) => {
                        new.ack_detail = Some(intake::ACK_ADDRESS_INVALID.to_string());
                    }
                    Err(intake::AckBuildError::Template(e)) => {
                        return Err(StaffError::Template(e));
                    }
                }
            }
        }
    }
    let changes = changes(&old, &new);
    if !changes.is_empty() {
        q::update_state(&mut tx, id, &new).await?;
        write_changes(&mut tx, id, actor, "confirm", &changes).await?;
    }
    tx.commit().await?;
    Ok(Confirmed {
        applied: Applied { number, changes },
        ack_enqueued,
    })
}

/// Records a reaction that did not come by mail: a new case with its deadlines, numbered by
/// the Berlin year of receipt; no acknowledgement is sent (`ack_status` `none`, or `manual`
/// when staff say they sent one).
pub async fn new_case(
    pool: &PgPool,
    cal: &Calendar,
    policy: DeadlinePolicy,
    rules: &RuleSet,
    m: &ManualCase,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied> {
    check_manual(m, now)?;
    let deadlines = calendar::compute(cal, policy, m.received_at);
    let year = calendar::berlin_date(m.received_at).year();
    let mut tx = pool.begin().await?;
    let nc = NewCase {
        channel: m.channel.as_str().to_string(),
        received_at: m.received_at,
        suggested_kind: None,
        suggested_topics: Vec::new(),
        kind: None,
        organisation: None,
        category: None,
        third_party: false,
        rule_id: None,
        ruleset_version: None,
        rule_evidence: None,
        review_reason: None,
        possible_duplicate_of: None,
        ack_due: deadlines.ack_due,
        due_unshifted: deadlines.due_unshifted,
        due: deadlines.due,
        ack_status: AckStatus::None,
        ack_detail: None,
    };
    let (id, number) = cases::insert_case(&mut tx, &nc, year).await?;
    let number = number.to_string();
    let case = q::get(&mut tx, id)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.clone()))?;
    let base = CaseState::of(&case);
    let new = manual_state(&base, m, rules, now)?;
    cases::add_event(
        &mut tx,
        id,
        &Event {
            actor: &actor.os_user,
            stated_by: actor.stated_by.as_deref(),
            action: "created",
            new_value: Some(m.channel.as_str().to_string()),
            detail: Some(format!(
                "Vorgang von Hand erfasst (Eingang per {})",
                m.channel.label()
            )),
            ..Default::default()
        },
    )
    .await?;
    let changes = changes(&base, &new);
    if !changes.is_empty() {
        q::update_state(&mut tx, id, &new).await?;
        write_changes(&mut tx, id, actor, "new", &changes).await?;
    }
    tx.commit().await?;
    Ok(Applied { number, changes })
}

// ---------------------------------------------------------------------------------------------
// The documented JSON of `case list --json` and `case show --json` (docs/staff-cli.md)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct CaseJson {
    pub number: String,
    pub message_id: Option<String>,
    pub channel: String,
    pub received_at: String,
    pub received_date: String,
    pub status: CaseStatus,
    pub organisation: Option<String>,
    pub category: Option<String>,
    pub third_party: bool,
    pub third_party_manual: bool,
    pub rule_id: Option<String>,
    pub kind: Option<String>,
    pub suggested_kind: Option<String>,
    pub topics: Vec<String>,
    pub suggested_topics: Vec<String>,
    pub justified: Option<bool>,
    pub assignee: Option<String>,
    pub ack_status: AckStatus,
    pub ack_sent_at: Option<String>,
    pub ack_due: String,
    pub due: String,
    pub due_unshifted: String,
    pub hold_since: Option<String>,
    pub held_days: i32,
    pub closed_at: Option<String>,
    pub answered_on: Option<String>,
    pub discard_reason: Option<String>,
    pub merged_into: Option<String>,
    pub review_reason: Option<ReviewReason>,
}

impl CaseJson {
    pub fn of(c: &StaffCase) -> CaseJson {
        let r = &c.row;
        CaseJson {
            number: r.number.clone(),
            message_id: r.first_message_id.clone(),
            channel: r.channel.clone(),
            received_at: rfc3339_berlin(r.received_at),
            received_date: ymd(calendar::berlin_date(r.received_at)),
            status: r.status,
            organisation: r.organisation.clone(),
            category: r.category.clone(),
            third_party: r.third_party,
            third_party_manual: c.third_party_manual,
            rule_id: r.rule_id.clone(),
            kind: r.kind.clone(),
            suggested_kind: r.suggested_kind.clone(),
            topics: r.topics.clone(),
            suggested_topics: r.suggested_topics.clone(),
            justified: r.justified,
            assignee: r.assignee.clone(),
            ack_status: r.ack_status,
            ack_sent_at: r.ack_sent_at.map(rfc3339_berlin),
            ack_due: ymd(r.ack_due),
            due: ymd(r.due),
            due_unshifted: ymd(r.due_unshifted),
            hold_since: r.hold_since.map(rfc3339_berlin),
            held_days: r.held_days,
            closed_at: r.closed_at.map(rfc3339_berlin),
            answered_on: r.answered_on.map(ymd),
            discard_reason: r.discard_reason.clone(),
            merged_into: c.merged_into_number.clone(),
            review_reason: r.review_reason,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentJson {
    pub name: Option<String>,
    pub content_type: String,
    pub size: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageJson {
    pub role: String,
    pub message_id: Option<String>,
    pub received_at: String,
    pub date: Option<String>,
    pub date_raw: Option<String>,
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub subject: Option<String>,
    pub size: i32,
    pub attachments: Vec<AttachmentJson>,
    /// Only with `--body`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventJson {
    pub at: String,
    pub actor: String,
    pub stated_by: Option<String>,
    pub action: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShowJson {
    #[serde(flatten)]
    pub case: CaseJson,
    pub messages: Vec<MessageJson>,
    pub events: Vec<EventJson>,
}

/// A field-change event's field (staff events carry the field key as detail).
pub fn event_field(e: &q::EventRow) -> Option<Field> {
    e.detail.as_deref().and_then(Field::from_key)
}

/// Everything `case show` prints.
#[derive(Debug, Clone)]
pub struct CaseDetail {
    pub case: StaffCase,
    pub messages: Vec<q::MessageRow>,
    pub attachments: Vec<q::AttachmentRow>,
    pub events: Vec<q::EventRow>,
}

pub async fn detail(pool: &PgPool, number: &str) -> Result<CaseDetail> {
    let number = normalise_number(number)?;
    let mut conn = pool.acquire().await?;
    let id = q::id_of(&mut conn, &number)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.clone()))?;
    let case = q::get(&mut conn, id)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.clone()))?;
    Ok(CaseDetail {
        messages: q::messages(&mut conn, id).await?,
        attachments: q::attachments(&mut conn, id).await?,
        events: q::events(&mut conn, id).await?,
        case,
    })
}

impl CaseDetail {
    pub fn json(&self, with_body: bool) -> ShowJson {
        ShowJson {
            case: CaseJson::of(&self.case),
            messages: self
                .messages
                .iter()
                .map(|m| MessageJson {
                    role: m.role.clone(),
                    message_id: m.message_id.clone(),
                    received_at: rfc3339_berlin(m.received_at),
                    // Rows stored before dates were range-checked may hold a year that RFC 3339
                    // cannot write: unknown, like an unreadable header.
                    date: m
                        .date_header
                        .filter(|t| calendar::is_showable(*t))
                        .map(rfc3339_berlin),
                    date_raw: m.date_raw.clone(),
                    from: m.from_addr.clone(),
                    from_name: m.from_name.clone(),
                    subject: m.subject.clone(),
                    size: m.size,
                    attachments: self
                        .attachments
                        .iter()
                        .filter(|a| a.message_id == m.id)
                        .map(|a| AttachmentJson {
                            name: a.name.clone(),
                            content_type: a.content_type.clone(),
                            size: a.size,
                        })
                        .collect(),
                    text: if with_body {
                        Some(m.text_body.clone().unwrap_or_default())
                    } else {
                        None
                    },
                })
                .collect(),
            events: self
                .events
                .iter()
                .map(|e| EventJson {
                    at: rfc3339_berlin(e.at),
                    actor: e.actor.clone(),
                    stated_by: e.stated_by.clone(),
                    action: e.action.clone(),
                    field: event_field(e).map(|f| f.key().to_string()),
                    old_value: e.old_value.clone(),
                    new_value: e.new_value.clone(),
                    detail: e.detail.clone(),
                })
                .collect(),
        }
    }
}

/// Filters of `case list`. Dates are Berlin dates of receipt, both inclusive.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub statuses: Vec<CaseStatus>,
    pub organisation: Option<String>,
    pub kind: Option<Kind>,
    pub unclassified: bool,
    pub assignee: Option<String>,
    pub unassigned: bool,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Open cases whose deadline has passed (`due` before today).
    pub overdue: bool,
    /// Open cases due within this many working days (today included, not yet overdue).
    pub due_within: Option<u32>,
}

/// Cases matching `f`, by receipt time. `today` is the Berlin date the deadline filters use.
pub async fn list(
    pool: &PgPool,
    cal: &Calendar,
    f: &ListFilter,
    today: NaiveDate,
) -> Result<Vec<StaffCase>> {
    if let (Some(a), Some(b)) = (f.from, f.to) {
        if a > b {
            return Err(refused(format!(
                "--from {} liegt nach --to {}",
                ymd(a),
                ymd(b)
            )));
        }
    }
    let start = |d: NaiveDate| calendar::berlin_local_to_utc(d, NaiveTime::MIN);
    let sf = q::ListQuery {
        statuses: (!f.statuses.is_empty()).then(|| f.statuses.clone()),
        organisation: f.organisation.clone(),
        kind: f.kind.map(|k| k.as_str().to_string()),
        unclassified: f.unclassified,
        assignee: f.assignee.clone(),
        unassigned: f.unassigned,
        from: f.from.and_then(start),
        until: f.to.and_then(|d| d.succ_opt()).and_then(start),
    };
    let mut conn = pool.acquire().await?;
    let rows = q::list(&mut conn, &sf).await?;
    Ok(rows
        .into_iter()
        .filter(|c| deadline_filter(cal, f, c.row.status, c.row.due, today))
        .collect())
}

/// The deadline filters: only open cases can be overdue or due (a held case's deadline is
/// suspended until it is resumed).
pub fn deadline_filter(
    cal: &Calendar,
    f: &ListFilter,
    status: CaseStatus,
    due: NaiveDate,
    today: NaiveDate,
) -> bool {
    if !f.overdue && f.due_within.is_none() {
        return true;
    }
    if status != CaseStatus::Open {
        return false;
    }
    let overdue = due < today;
    let within = f
        .due_within
        .is_some_and(|n| calendar::is_due_within(cal, due, today, n));
    (f.overdue && overdue) || within
}

#[cfg(test)]
mod tests {
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

    fn state() -> CaseState {
        CaseState {
            status: CaseStatus::Open,
            kind: None,
            topics: vec![],
            justified: None,
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
            ["status", "closed_at", "answered_on"]
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
            "Unbekannte Person „Carla“. Mögliche Namen ([staff]): Anna, Bernd"
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
        assert!(msg(manual_state(&base, &cat_only, &r, now)).contains("--organisation"));
        let mut future = m;
        future.received_at = berlin(2026, 3, 13, 9, 0);
        assert!(check_manual(&future, now).is_err());
    }

    #[test]
    fn deadline_filters_only_take_open_cases() {
        let c = cal();
        let today = d("2026-03-12"); // Thursday
        let over = ListFilter {
            overdue: true,
            ..Default::default()
        };
        assert!(deadline_filter(
            &c,
            &over,
            CaseStatus::Open,
            d("2026-03-11"),
            today
        ));
        assert!(!deadline_filter(
            &c,
            &over,
            CaseStatus::Open,
            d("2026-03-12"),
            today
        ));
        assert!(!deadline_filter(
            &c,
            &over,
            CaseStatus::OnHold,
            d("2026-03-01"),
            today
        ));
        assert!(!deadline_filter(
            &c,
            &over,
            CaseStatus::Closed,
            d("2026-03-01"),
            today
        ));
        let within = ListFilter {
            due_within: Some(2),
            ..Default::default()
        };
        assert!(deadline_filter(
            &c,
            &within,
            CaseStatus::Open,
            d("2026-03-12"),
            today
        ));
        assert!(deadline_filter(
            &c,
            &within,
            CaseStatus::Open,
            d("2026-03-16"),
            today
        ));
        assert!(!deadline_filter(
            &c,
            &within,
            CaseStatus::Open,
            d("2026-03-17"),
            today
        ));
        assert!(!deadline_filter(
            &c,
            &within,
            CaseStatus::Open,
            d("2026-03-11"),
            today
        ));
        assert!(deadline_filter(
            &c,
            &ListFilter::default(),
            CaseStatus::Merged,
            d("2000-01-01"),
            today
        ));
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
