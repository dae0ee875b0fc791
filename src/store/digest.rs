//! Queries for the reminder digests: the open cases and quarantine records a digest lists, and
//! the once-per-day marker (`digest_runs`). Only columns a digest may show are read: never a
//! mail's sender, subject or text.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Result;
use crate::domain::{AckStatus, CaseStatus, ReviewReason};

/// What a digest may know about a case.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DigestCaseRow {
    pub id: i64,
    pub number: String,
    pub status: CaseStatus,
    pub received_at: DateTime<Utc>,
    pub organisation: Option<String>,
    pub kind: Option<String>,
    pub suggested_kind: Option<String>,
    pub topics: Vec<String>,
    pub suggested_topics: Vec<String>,
    pub assignee: Option<String>,
    pub review_reason: Option<ReviewReason>,
    pub due: NaiveDate,
    pub due_unshifted: NaiveDate,
    pub hold_since: Option<DateTime<Utc>>,
    pub ack_status: AckStatus,
    pub ack_detail: Option<String>,
    /// Set while open: the answer went out (captured from the sent mail) but nobody closed it.
    pub answered_on: Option<NaiveDate>,
}

/// Cases still being worked on (open or on hold), oldest deadline first.
pub async fn open_cases(conn: &mut PgConnection) -> Result<Vec<DigestCaseRow>> {
    let rows = sqlx::query_as::<_, DigestCaseRow>(
        "SELECT id, number, status, received_at, organisation, kind, suggested_kind, topics,
                suggested_topics, assignee, review_reason, due, due_unshifted, hold_since,
                ack_status, ack_detail, answered_on
         FROM cases
         WHERE status IN ('open', 'on_hold') AND purged_at IS NULL
         ORDER BY due, number",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DigestQuarantineRow {
    pub id: i64,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// Quarantine records nobody has retried yet.
pub async fn open_quarantine(conn: &mut PgConnection) -> Result<Vec<DigestQuarantineRow>> {
    let rows = sqlx::query_as::<_, DigestQuarantineRow>(
        "SELECT id, reason, created_at FROM quarantine WHERE status = 'quarantined' ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// Claims `day` for composing its digests. False when another tick (this or another instance,
/// before or after a restart) has claimed it already; a concurrent claimer waits here until the
/// first one's transaction ends, so call this inside the transaction that enqueues the digests.
pub async fn claim_day(
    conn: &mut PgConnection,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO digest_runs (day, composed_at) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING",
    )
    .bind(day)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn finish_day(conn: &mut PgConnection, day: NaiveDate, enqueued: i32) -> Result<()> {
    sqlx::query("UPDATE digest_runs SET enqueued = $2 WHERE day = $1")
        .bind(day)
        .bind(enqueued)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
