//! What the front ends show of a case: the documented JSON of `case list --json` and
//! `case show --json` (docs/staff-cli.md) and the date formats of the CLI and the desk.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Europe::Berlin;
use serde::Serialize;

use crate::calendar::{self, Calendar};
use crate::domain::{
    ymd, AckStatus, CaseStatus, ContactSource, Direction, MessageRole, ReviewReason,
};
use crate::store::contacts::ContactRow;
use crate::store::staff::{self as q, StaffCase};

use super::*;

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

/// A case's receipt as staff read it: Berlin date and minute, or the date alone at midnight
/// sharp, which is how a receipt by letter or in person entered with its day only is stored
/// (`case new --received JJJJ-MM-TT`): "00:00" would claim a time nobody gave.
pub fn received_text(t: DateTime<Utc>) -> String {
    if calendar::berlin_date_time(t).time() == chrono::NaiveTime::MIN {
        ymd(calendar::berlin_date(t))
    } else {
        berlin_minute(t)
    }
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
    /// `mailbox` (captured from sent mail) or `typed`.
    pub answered_source: Option<String>,
    pub interim_reply_on: Option<String>,
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
            answered_source: r.answered_source.clone(),
            interim_reply_on: r.interim_reply_on.map(ymd),
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

/// A contact with an outside body (clarification work).
#[derive(Debug, Clone, Serialize)]
pub struct ContactJson {
    /// The number `case contact-remove --contact` takes.
    pub id: i64,
    pub stelle: String,
    /// `YYYY-MM-DD`.
    pub on: String,
    pub source: ContactSource,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShowJson {
    #[serde(flatten)]
    pub case: CaseJson,
    /// Whether the Ombudsstelle contributed substantially to clarifying the matter.
    pub contributed: Option<bool>,
    pub contacts: Vec<ContactJson>,
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
    pub contacts: Vec<ContactRow>,
}

impl CaseDetail {
    pub fn json(&self, with_body: bool) -> ShowJson {
        ShowJson {
            case: CaseJson::of(&self.case),
            contributed: self.case.contributed,
            contacts: self
                .contacts
                .iter()
                .map(|c| ContactJson {
                    id: c.id,
                    stelle: c.stelle.clone(),
                    on: ymd(c.on_date),
                    source: c.source,
                    note: c.note.clone(),
                })
                .collect(),
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

// ---------------------------------------------------------------------------------------------
// What `case show` prints and the desk's case page shows: the facts, the mails, the timeline
// ---------------------------------------------------------------------------------------------

/// German size: `512 Bytes`, `3,4 kB`, `1,2 MB` (one decimal, comma; the report's rounding,
/// written here so that `staff` does not depend on `report`).
pub fn size_text(n: i32) -> String {
    let n = f64::from(n.max(0));
    let one_decimal = |x: f64| format!("{:.1}", (x * 10.0).round() / 10.0).replace('.', ",");
    if n < 1000.0 {
        format!("{n} Bytes")
    } else if n < 1_000_000.0 {
        format!("{} kB", one_decimal(n / 1000.0))
    } else {
        format!("{} MB", one_decimal(n / 1_000_000.0))
    }
}

/// German label of an audit action (the CLI's action names).
pub fn action_label(action: &str) -> &str {
    match action {
        "created" | "new" => "erfasst",
        "followup" => "Folgemail",
        "reopened_by_followup" => "durch Folgemail wieder geöffnet",
        "followup_new_case" => "Folgemail als neuer Vorgang",
        "mail_seen_again" => "Mail erneut gesehen",
        "ack_sent" => "Eingangsbestätigung versandt",
        "ack_failed" => "Eingangsbestätigung fehlgeschlagen",
        "ack_suppressed" => "Eingangsbestätigung unterdrückt",
        "ack_not_delivered" => "Eingangsbestätigung nicht zugestellt",
        "classify" => "eingestuft",
        "assess" => "bewertet",
        "hold" => "ruhen lassen",
        "resume" => "fortgesetzt",
        "close" => "abgeschlossen",
        "reopen" => "wieder geöffnet",
        "note" => "Bemerkung",
        "assign" => "zugewiesen",
        "set_third_party" => "Organisation von Hand gesetzt",
        "discard" => "verworfen",
        "merge" => "zusammengeführt",
        "merged_from" => "Vorgang aufgenommen",
        "ack_recorded" => "Bestätigung von Hand erfasst",
        "ack_withdrawn" => "automatische Eingangsbestätigung zurückgezogen",
        "spam_suspected" => "Spam-Verdacht",
        "sender_inferred" => "Absender erschlossen",
        "confirm" => "Spam-Verdacht aufgehoben",
        "purged" => "personenbezogene Daten gelöscht",
        "contact" => "Stelle kontaktiert",
        "contact_removed" => "Kontakt entfernt",
        "contribution" => "Klärung bewertet",
        "answer_captured" => "Antwort aus dem Postfach erfasst",
        "interim_reply_captured" => "Zwischennachricht aus dem Postfach erfasst",
        "contact_captured" => "Anfrage an eine Stelle aus dem Postfach erfasst",
        "internal_captured" => "interne Mail aus dem Postfach erfasst",
        other => other,
    }
}

/// The facts of a case, label and German value, in the order `case show` prints them.
pub fn case_facts(c: &StaffCase, cal: &Calendar, today: NaiveDate) -> Vec<(&'static str, String)> {
    let r = &c.row;
    let none = || "–".to_string();
    let mut o = Vec::new();
    let mut status = r.status.label().to_string();
    if let Some(n) = &c.merged_into_number {
        status.push_str(&format!(" (in {n})"));
    }
    if let Some(reason) = &r.discard_reason {
        status.push_str(&format!(" ({reason})"));
    }
    o.push(("Status", status));
    o.push(("Eingang", received_text(r.received_at)));
    o.push(("Eingangsweg", channel_label(&r.channel)));
    let mut kind = r.kind.as_deref().map(kind_label).unwrap_or_else(none);
    // The suggestion only while it says something: not once a person confirmed the same kind.
    if let Some(k) = r
        .suggested_kind
        .as_ref()
        .filter(|k| r.kind.as_ref() != Some(*k))
    {
        kind.push_str(&format!(" (Vorschlag: {})", kind_label(k)));
    }
    o.push(("Art", kind));
    let mut topics = if r.topics.is_empty() {
        none()
    } else {
        r.topics.join(", ")
    };
    if !r.suggested_topics.is_empty() && r.suggested_topics != r.topics {
        topics.push_str(&format!(" (Vorschläge: {})", r.suggested_topics.join(", ")));
    }
    o.push(("Themen", topics));
    o.push((
        "begründet",
        match (r.kind.as_deref(), r.justified) {
            (_, Some(true)) => "ja".into(),
            (_, Some(false)) => "nein".into(),
            (Some("beschwerde"), None) => "noch nicht bewertet".into(),
            _ => none(),
        },
    ));
    o.push((
        "Beitrag zur Klärung",
        match c.contributed {
            Some(true) => "ja".into(),
            Some(false) => "nein".into(),
            None => none(),
        },
    ));
    let mut org = r.organisation.clone().unwrap_or_else(none);
    if let Some(cat) = &r.category {
        org.push_str(&format!(" ({cat})"));
    }
    if c.third_party_manual {
        org.push_str(" [von Hand gesetzt]");
    } else if let Some(id) = &r.rule_id {
        org.push_str(&format!(" [Regel {id}]"));
    }
    o.push(("Organisation", org));
    o.push((
        "Unterstützung Dritter",
        if r.third_party { "ja" } else { "nein" }.into(),
    ));
    o.push(("zuständig", r.assignee.clone().unwrap_or_else(none)));
    o.push(("Eingangsbestätigung", ack_fact(c)));
    let mut due = ymd(r.due);
    if r.held_days > 0 {
        due.push_str(&format!(" (um {} Ruhetage verlängert)", r.held_days));
    }
    if r.status == CaseStatus::Open && r.due < today {
        // Overdue on the weekend right after the deadline: no working day has passed yet.
        match calendar::working_days_overdue(cal, r.due, today) {
            0 => due.push_str(" – überfällig"),
            n => due.push_str(&format!(" – überfällig seit {}", working_days(n))),
        }
    }
    o.push(("Bearbeitungsfrist", due));
    if let Some(h) = r.hold_since {
        o.push(("ruht seit", berlin_minute(h)));
    }
    if r.closed_at.is_some() {
        o.push((
            "abgeschlossen",
            format!(
                "{} (Antwort am {})",
                r.closed_at.map(berlin_minute).unwrap_or_else(none),
                r.answered_on.map(ymd).unwrap_or_else(none)
            ),
        ));
    }
    if let Some(on) = r.answered_on {
        let source = r.answered_source.as_deref().map(answered_source_label);
        o.push((
            "Antwort versandt am",
            match source {
                Some(s) => format!("{} ({s})", ymd(on)),
                None => ymd(on),
            },
        ));
    }
    if let Some(on) = r.interim_reply_on {
        o.push(("Zwischennachricht am", ymd(on)));
    }
    if let Some(rr) = &r.review_reason {
        o.push(("zu prüfen", rr.label().to_string()));
    }
    o
}

/// "1 Arbeitstag", "3 Arbeitstagen" (after "seit" or "in").
pub fn working_days(n: i64) -> String {
    if n == 1 {
        "1 Arbeitstag".to_string()
    } else {
        format!("{n} Arbeitstagen")
    }
}

fn ack_fact(c: &StaffCase) -> String {
    let r = &c.row;
    // A case that did not come by mail has no acknowledgement to send: no deadline to show.
    let mut s = if r.ack_status == AckStatus::None {
        r.ack_status.label().to_string()
    } else {
        format!("{} (fällig bis {})", r.ack_status.label(), ymd(r.ack_due))
    };
    match r.ack_sent_at {
        // Staff give a date only (stored as noon): no invented time.
        Some(t) if r.ack_status == AckStatus::Manual => {
            s.push_str(&format!(", am {}", ymd(calendar::berlin_date(t))))
        }
        Some(t) => s.push_str(&format!(", am {}", berlin_minute(t))),
        None => {}
    }
    if let Some(dt) = r
        .ack_detail
        .as_deref()
        .filter(|d| *d != r.ack_status.label())
    {
        s.push_str(&format!(" – {dt}"));
    }
    s
}

/// One attachment as staff see it.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    pub id: i64,
    pub name: String,
    pub content_type: String,
    pub size: String,
}

/// One mail of a case as staff see it (the text only when asked for).
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub id: i64,
    pub role: String,
    /// "eingegangen" for a received mail, "gesendet" for one captured from the sent mail.
    pub verb: &'static str,
    pub received: String,
    pub from: String,
    pub subject: String,
    pub size: String,
    pub message_id: Option<String>,
    /// The Date header: a Berlin time, or `unbekannt („…“)` when it could not be read.
    pub date: Option<String>,
    pub attachments: Vec<AttachmentView>,
    pub text: Option<String>,
}

impl CaseDetail {
    /// The mails in order, with their attachments (and texts with `body`).
    pub fn message_views(&self, body: bool) -> Vec<MessageView> {
        self.messages
            .iter()
            .map(|m| MessageView {
                id: m.id,
                role: match MessageRole::from_db(&m.role) {
                    Some(r) => r.label().to_string(),
                    None => m.role.clone(),
                },
                verb: MessageRole::from_db(&m.role)
                    .map_or(Direction::In, MessageRole::direction)
                    .label(),
                received: berlin_minute(m.received_at),
                from: match (&m.from_name, &m.from_addr) {
                    (Some(n), Some(a)) => format!("{n} <{a}>"),
                    (None, Some(a)) => a.clone(),
                    (Some(n), None) => n.clone(),
                    (None, None) => "–".into(),
                },
                subject: m.subject.clone().unwrap_or_else(|| "–".into()),
                size: size_text(m.size),
                message_id: m.message_id.clone(),
                date: match (
                    m.date_header.filter(|t| calendar::is_showable(*t)),
                    &m.date_raw,
                ) {
                    (Some(dh), _) => Some(berlin_minute(dh)),
                    (None, Some(raw)) => Some(format!("unbekannt („{raw}“)")),
                    (None, None) => None,
                },
                attachments: self
                    .attachments
                    .iter()
                    .filter(|a| a.message_id == m.id)
                    .map(|a| AttachmentView {
                        id: a.id,
                        name: a.name.clone().unwrap_or_else(|| "(ohne Namen)".into()),
                        content_type: a.content_type.clone(),
                        size: size_text(a.size),
                    })
                    .collect(),
                text: body.then(|| m.text_body.clone().unwrap_or_default()),
            })
            .collect()
    }

    /// The timeline in order.
    pub fn event_views(&self) -> Vec<EventView> {
        self.events.iter().map(EventView::of).collect()
    }
}

/// One timeline entry as staff read it.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub at: String,
    pub who: String,
    pub action: String,
    pub what: String,
}

impl EventView {
    pub fn of(e: &q::EventRow) -> EventView {
        let who = who_label(&e.actor, e.stated_by.as_deref());
        let what = match event_field(e) {
            Some(f) => format!(
                "{}: {} → {}",
                f.label(),
                f.display(e.old_value.as_deref()),
                f.display(e.new_value.as_deref())
            ),
            None if e.action == "note" => format!("„{}“", e.new_value.as_deref().unwrap_or("")),
            // The label says it all: the state written (`sent`) and the field cleared
            // (`review_reason`) are stored for the record, not for reading.
            None if e.action == "ack_sent" && e.detail.is_none() => String::new(),
            None if e.action == "confirm" && e.detail.as_deref() == Some("review_reason") => {
                String::new()
            }
            None => match (&e.detail, &e.new_value) {
                (Some(d), _) => d.clone(),
                (None, Some(v)) => v.clone(),
                (None, None) => String::new(),
            },
        };
        let action = action_label(&e.action).to_string();
        // "Organisation von Hand gesetzt: Organisation von Hand gesetzt: nein → ja" says it
        // twice: the label is shown once.
        let what = match what.get(..action.len() + 2) {
            Some(head) if head.to_lowercase() == format!("{}: ", action.to_lowercase()) => {
                what[action.len() + 2..].to_string()
            }
            _ => what,
        };
        EventView {
            at: berlin_minute(e.at),
            who,
            action,
            what,
        }
    }
}

/// Who did it, as staff read it: the daemon's own steps are "automatisch", a desk user is
/// their account name, a command-line user their system account and the name given with
/// `--by`.
pub fn who_label(actor: &str, stated_by: Option<&str>) -> String {
    let stated = stated_by.filter(|b| !b.is_empty());
    if actor == crate::store::cases::DAEMON {
        "automatisch".to_string()
    } else if let Some(name) = actor.strip_prefix("web:") {
        name.to_string()
    } else if let Some(b) = stated {
        format!("{actor} (Kommandozeile, angegeben: {b})")
    } else {
        format!("{actor} (Kommandozeile)")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn who_reads_like_a_person_not_a_key() {
        use super::who_label;
        assert_eq!(who_label("krm-intake", None), "automatisch");
        assert_eq!(who_label("web:anna", None), "anna");
        assert_eq!(who_label("root", None), "root (Kommandozeile)");
        assert_eq!(
            who_label("root", Some("Anna Beispiel")),
            "root (Kommandozeile, angegeben: Anna Beispiel)"
        );
    }

    #[test]
    fn a_receipt_at_midnight_sharp_reads_as_its_day_alone() {
        use super::received_text;
        use chrono::{DateTime, Utc};
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // Midnight in Berlin, winter and summer time.
        assert_eq!(received_text(at("2017-03-01T23:00:00Z")), "2017-03-02");
        assert_eq!(received_text(at("2017-07-01T22:00:00Z")), "2017-07-02");
        assert_eq!(
            received_text(at("2017-03-01T09:00:00Z")),
            "2017-03-01 10:00"
        );
        assert_eq!(
            received_text(at("2017-03-01T23:00:01Z")),
            "2017-03-02 00:00"
        );
    }

    #[test]
    fn sizes_read_in_german() {
        assert_eq!(super::size_text(512), "512 Bytes");
        assert_eq!(super::size_text(3_449), "3,4 kB");
        assert_eq!(super::size_text(1_250_000), "1,3 MB");
    }
}
