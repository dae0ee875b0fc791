//! Queries of the yearly report: the statistical fields of the cases received in a period.
//! Never a mail's sender, subject or text; never an assignee.

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
                coalesce(review_reason = 'spam', false) AS spam_suspected
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
