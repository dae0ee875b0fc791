//! What the front ends show of a case: the documented JSON of `case list --json` and
//! `case show --json` (docs/staff-cli.md) and the date formats of the CLI and the desk.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Europe::Berlin;
use serde::Serialize;

use crate::calendar::{self};
use crate::domain::{ymd, AckStatus, CaseStatus, ContactSource, ReviewReason};
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

/// A contact with an outside body (clarification work).
#[derive(Debug, Clone, Serialize)]
pub struct ContactJson {
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
