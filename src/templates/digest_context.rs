//! The template context of the digest mail (`templates/digest.txt.j2`, documented in
//! docs/digest.md): preformatted German lines, no I/O. The digest fills it; `Templates::load`
//! renders a filled sample to catch a misspelt value before the daemon starts.

use serde::Serialize;

use crate::domain::{OutboxKind, ReviewReason};

/// Stands in for the organisation when no third party is behind a case.
pub const NO_ORGANISATION: &str = "Bürger/in (ohne Dritte)";

/// Who a digest is for; decides its sections, its outbox kind and its dedupe key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// `digest.team`: every case, quarantine included.
    Team,
    /// An assignee from `[staff]`: only the cases assigned to them.
    Assignee,
    /// `digest.lead`: only cases overdue by more than `escalate_after_working_days`.
    Escalation,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Team => "team",
            Audience::Assignee => "assignee",
            Audience::Escalation => "escalation",
        }
    }

    /// The outbox `kind` of its row.
    pub fn outbox_kind(self) -> OutboxKind {
        match self {
            Audience::Escalation => OutboxKind::Escalation,
            Audience::Team | Audience::Assignee => OutboxKind::Digest,
        }
    }

    pub(crate) fn config_key(self) -> &'static str {
        match self {
            Audience::Team => "digest.team",
            Audience::Assignee => "[staff]",
            Audience::Escalation => "digest.lead",
        }
    }
}

/// One case as a digest shows it. Every value is preformatted German text or a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseLine {
    pub number: String,
    /// The organisation from the sender rules, or [`NO_ORGANISATION`].
    pub organisation: String,
    /// Confirmed kind, else the suggestion marked "(Vorschlag)".
    pub kind: String,
    /// Confirmed topics, else the suggestions marked "(Vorschlag)".
    pub topics: String,
    /// `YYYY-MM-DD`, Berlin.
    pub received: String,
    /// The processing deadline, `YYYY-MM-DD` (the last allowed day).
    pub due: String,
    /// Working days past `due` (0 unless overdue).
    pub overdue_working_days: i64,
    /// Overdue long enough to be reported to the lead (and a lead is configured).
    pub escalated: bool,
    /// The assignee's name from `[staff]`, if any.
    pub assignee: Option<String>,
    /// For cases on hold: since when, `YYYY-MM-DD`.
    pub hold_since: Option<String>,
    /// The case's page in the desk, `{base_url}/vorgaenge/{number}` (when `[web] base_url` is set).
    pub link: Option<String>,
    /// When the answer went out, `YYYY-MM-DD` (answered but still open).
    pub answered_on: Option<String>,
}

/// An acknowledgement the citizen did not get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AckLine {
    pub number: String,
    pub received: String,
    /// German: why it did not arrive.
    pub status: String,
    /// The SMTP or DSN status code, if one is known (nothing else of the server's answer).
    pub code: Option<String>,
    pub assignee: Option<String>,
}

/// A case flagged for staff to look at (e.g. bulk mail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewLine {
    pub number: String,
    pub received: String,
    /// German description of `review_reason`.
    pub reason: String,
    pub assignee: Option<String>,
}

/// An open quarantine record: id, date and reason, never an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantineLine {
    pub id: i64,
    pub received: String,
    pub reason: String,
}

/// The template context of `templates/digest.txt.j2`; documented in docs/digest.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestContext {
    /// The day the digest is for, `YYYY-MM-DD` (Berlin).
    pub date: String,
    /// German weekday of `date`, e.g. "Mittwoch".
    pub weekday: String,
    /// Configured send time, `HH:MM`.
    pub time: String,
    /// `team`, `assignee` or `escalation`.
    pub audience: Audience,
    /// "Team", the assignee's name(s), or "Leitung".
    pub recipient_label: String,
    pub within_working_days: u32,
    /// The last day of the "due soon" window, `YYYY-MM-DD`.
    pub within_until: String,
    pub escalate_after_working_days: u32,
    pub office_name: String,
    /// Overdue cases, oldest deadline first.
    pub overdue: Vec<CaseLine>,
    pub due_today: Vec<CaseLine>,
    /// Due after today, within `within_working_days` working days.
    pub due_soon: Vec<CaseLine>,
    /// Cases waiting for the customer; their deadline moves on resume.
    pub on_hold: Vec<CaseLine>,
    /// Open cases whose answer went out (captured from the sent mail): to be closed. Listed
    /// here only, not among the deadlines.
    pub answered_open: Vec<CaseLine>,
    pub ack_failed: Vec<AckLine>,
    pub review: Vec<ReviewLine>,
    /// Team digest only.
    pub quarantine: Vec<QuarantineLine>,
    /// `[web] base_url` without a trailing slash, when set.
    pub base_url: Option<String>,
}

impl DigestContext {
    /// Nothing that needs anyone's attention. Cases on hold alone are no news: they wait for
    /// the customer.
    pub fn is_empty(&self) -> bool {
        self.overdue.is_empty()
            && self.due_today.is_empty()
            && self.due_soon.is_empty()
            && self.ack_failed.is_empty()
            && self.review.is_empty()
            && self.quarantine.is_empty()
            && self.answered_open.is_empty()
    }
}

/// A context with every section filled, so `Templates::load` catches a misspelt value.
pub fn sample_context() -> DigestContext {
    let case = |number: &str, org: &str, due: &str, overdue: i64| CaseLine {
        number: number.into(),
        organisation: org.into(),
        kind: "Beschwerde (Vorschlag)".into(),
        topics: "Bearbeitungsdauer (Vorschlag)".into(),
        received: "2026-11-02".into(),
        due: due.into(),
        overdue_working_days: overdue,
        escalated: overdue > 2,
        assignee: Some("Anna Beispiel".into()),
        hold_since: None,
        link: Some(format!("https://krm.jobcenter.test/vorgaenge/{number}")),
        answered_on: None,
    };
    let mut held = case("KRM-2026-00005", NO_ORGANISATION, "2026-11-30", 0);
    held.hold_since = Some("2026-11-20".into());
    let mut answered = case("KRM-2026-00007", NO_ORGANISATION, "2026-12-02", 0);
    answered.answered_on = Some("2026-11-24".into());
    DigestContext {
        date: "2026-11-25".into(),
        weekday: "Mittwoch".into(),
        time: "07:30".into(),
        audience: Audience::Team,
        recipient_label: "Team".into(),
        within_working_days: 3,
        within_until: "2026-11-30".into(),
        escalate_after_working_days: 2,
        office_name: "Ombudsstelle des Jobcenters".into(),
        overdue: vec![case(
            "KRM-2026-00001",
            "Caritas Dresden, Schuldnerberatung",
            "2026-11-16",
            7,
        )],
        due_today: vec![case("KRM-2026-00002", NO_ORGANISATION, "2026-11-25", 0)],
        due_soon: vec![case("KRM-2026-00003", NO_ORGANISATION, "2026-11-27", 0)],
        on_hold: vec![held],
        answered_open: vec![answered],
        base_url: Some("https://krm.jobcenter.test".into()),
        ack_failed: vec![AckLine {
            number: "KRM-2026-00004".into(),
            received: "2026-11-24".into(),
            status: "nicht zustellbar (Rückläufer)".into(),
            code: Some("5.1.1".into()),
            assignee: None,
        }],
        review: vec![ReviewLine {
            number: "KRM-2026-00006".into(),
            received: "2026-11-24".into(),
            reason: ReviewReason::Bulk.digest_text().to_string(),
            assignee: None,
        }],
        quarantine: vec![QuarantineLine {
            id: 3,
            received: "2026-11-24".into(),
            reason: "Mail ist 31,2 MB groß, erlaubt sind 25 MB".into(),
        }],
    }
}
