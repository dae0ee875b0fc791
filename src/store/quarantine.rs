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
