//! Quarantine records: mails the daemon could not handle, with a reason a person can read.
//! The mail itself sits in the quarantine folder on the IMAP server.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::{opt_text, text, Result};

#[derive(Debug, Clone)]
pub struct NewQuarantine<'a> {
    pub channel: &'a str,
    pub uidvalidity: Option<i64>,
    pub uid: Option<i64>,
    pub message_id: Option<&'a str>,
    pub content_hash: Option<&'a str>,
    pub size: Option<i64>,
    pub reason: &'a str,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct QuarantineRow {
    pub id: i64,
    pub channel: String,
    pub uid: Option<i64>,
    pub message_id: Option<String>,
    pub size: Option<i32>,
    pub reason: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub retried_at: Option<DateTime<Utc>>,
}

/// Records a quarantined mail, once: a mail still quarantined under the same UID (left in the
/// inbox by a crash between commit and move, and met again) keeps its first record.
pub async fn insert(conn: &mut PgConnection, q: &NewQuarantine<'_>) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "WITH old AS (
             SELECT id FROM quarantine
             WHERE channel = $1 AND uidvalidity IS NOT DISTINCT FROM $2 AND uid = $3
               AND status = 'quarantined'
             ORDER BY id LIMIT 1),
         ins AS (
             INSERT INTO quarantine (channel, uidvalidity, uid, message_id, content_hash, size, reason)
             SELECT $1, $2, $3, $4, $5, $6, $7
             WHERE NOT EXISTS (SELECT 1 FROM old)
             RETURNING id)
         SELECT id FROM ins UNION ALL SELECT id FROM old",
    )
    .bind(q.channel)
    .bind(q.uidvalidity)
    .bind(q.uid)
    .bind(opt_text(q.message_id))
    .bind(q.content_hash)
    .bind(q.size.map(|s| s.min(i32::MAX as i64) as i32))
    .bind(text(q.reason))
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

pub async fn list(pool: &PgPool, all: bool) -> Result<Vec<QuarantineRow>> {
    let rows = sqlx::query_as::<_, QuarantineRow>(
        "SELECT id, channel, uid, message_id, size, reason, status, created_at, retried_at
         FROM quarantine WHERE $1 OR status = 'quarantined' ORDER BY id",
    )
    .bind(all)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Option<QuarantineRow>> {
    let row = sqlx::query_as::<_, QuarantineRow>(
        "SELECT id, channel, uid, message_id, size, reason, status, created_at, retried_at
         FROM quarantine WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

pub async fn mark_retried(pool: &PgPool, id: i64) -> Result<()> {
    sqlx::query("UPDATE quarantine SET status = 'retried', retried_at = now() WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Why a retry cannot be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueRefusal {
    Unknown,
    AlreadyRetried,
    AlreadyQueued,
}

/// Queues a retry of quarantine entry `id` for the daemon; the new retry's id.
pub async fn queue_retry(
    pool: &PgPool,
    id: i64,
    requested_by: &str,
) -> Result<std::result::Result<i64, QueueRefusal>> {
    let mut tx = pool.begin().await?;
    let status: Option<(String,)> =
        sqlx::query_as("SELECT status FROM quarantine WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match status {
        None => return Ok(Err(QueueRefusal::Unknown)),
        Some((s,)) if s != "quarantined" => return Ok(Err(QueueRefusal::AlreadyRetried)),
        Some(_) => {}
    }
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO quarantine_retries (quarantine_id, requested_by) VALUES ($1, $2)
         ON CONFLICT (quarantine_id) WHERE state = 'queued' DO NOTHING
         RETURNING id",
    )
    .bind(id)
    .bind(text(requested_by))
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.map(|r| r.0).ok_or(QueueRefusal::AlreadyQueued))
}

/// A queued or finished retry with its quarantine entry's id.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct RetryRow {
    pub id: i64,
    pub quarantine_id: i64,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub state: String,
    pub done_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// Retries still queued, oldest first.
pub async fn queued_retries(pool: &PgPool) -> Result<Vec<RetryRow>> {
    Ok(sqlx::query_as::<_, RetryRow>(
        "SELECT id, quarantine_id, requested_by, requested_at, state, done_at, reason
         FROM quarantine_retries WHERE state = 'queued' ORDER BY id",
    )
    .fetch_all(pool)
    .await?)
}

/// The newest `limit` retries, newest first (the desk's page).
pub async fn recent_retries(pool: &PgPool, limit: i64) -> Result<Vec<RetryRow>> {
    Ok(sqlx::query_as::<_, RetryRow>(
        "SELECT id, quarantine_id, requested_by, requested_at, state, done_at, reason
         FROM quarantine_retries ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Records a queued retry's outcome (`done` or `failed`) with its German reason.
pub async fn finish_retry(pool: &PgPool, id: i64, done: bool, reason: &str) -> Result<()> {
    sqlx::query(
        "UPDATE quarantine_retries SET state = $2, done_at = now(), reason = $3
         WHERE id = $1 AND state = 'queued'",
    )
    .bind(id)
    .bind(if done { "done" } else { "failed" })
    .bind(text(reason))
    .execute(pool)
    .await?;
    Ok(())
}
