//! Queries of the yearly report: the statistical fields of the cases received in a period and
//! the network appointments held in it. Never a mail's sender, subject or text; never an
//! assignee; never a note (a note may name a person).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Result;
use crate::domain::{AckStatus, CaseStatus};

/// What the report may know about a case.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReportCaseRow {
    pub received_at: DateTime<Utc>,
    pub channel: String,
    pub status: CaseStatus,
    pub kind: Option<String>,
    pub topics: Vec<String>,
    pub justified: Option<bool>,
    pub organisation: Option<String>,
    pub category: Option<String>,
    pub third_party: bool,
    pub due: NaiveDate,
    pub answered_on: Option<NaiveDate>,
    pub ack_due: NaiveDate,
    pub ack_status: AckStatus,
    pub ack_sent_at: Option<DateTime<Utc>>,
    /// Held as suspected spam and not yet confirmed by staff.
    pub spam_suspected: bool,
    /// Where `answered_on` came from: `mailbox` (captured from sent mail) or `typed`.
    pub answered_source: Option<String>,
    pub interim_reply_on: Option<NaiveDate>,
    /// Whether the Ombudsstelle contributed substantially to clarifying the matter.
    pub contributed: Option<bool>,
    /// The outside bodies contacted for the case, one entry per contact.
    pub contacts: Vec<String>,
}

/// Cases received at or after `from` and before `until`, by receipt time.
pub async fn cases_received(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<ReportCaseRow>> {
    let rows = sqlx::query_as::<_, ReportCaseRow>(
        "SELECT received_at, channel, status, kind, topics, justified, organisation, category,
                third_party, due, answered_on, ack_due, ack_status, ack_sent_at,
                coalesce(review_reason = 'spam', false) AS spam_suspected,
                answered_source, interim_reply_on, contributed,
                ARRAY(SELECT cc.stelle FROM case_contacts cc
                      WHERE cc.case_id = cases.id ORDER BY cc.id) AS contacts
         FROM cases
         WHERE received_at >= $1 AND received_at < $2
         ORDER BY received_at, id",
    )
    .bind(from)
    .bind(until)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// What the report may know about a network appointment: organisations, never persons.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AppointmentRow {
    pub on_date: NaiveDate,
    pub kind: String,
    pub organisations: Vec<String>,
    pub invited: bool,
}

/// Network appointments held from `from` to `to`, both inclusive.
pub async fn appointments_held(
    conn: &mut PgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<AppointmentRow>> {
    let rows = sqlx::query_as::<_, AppointmentRow>(
        "SELECT on_date, kind, organisations, invited
         FROM network_appointments
         WHERE on_date >= $1 AND on_date <= $2
         ORDER BY on_date, id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}
