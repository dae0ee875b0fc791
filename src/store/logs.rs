//! Reading the access log and the security log with the filters the data protection officer
//! uses (account, case number, period), and removing access-log rows past their retention.
//! What a filter means and how entries are shown lives in `crate::logs`.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::Result;

/// Filters as the database sees them; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// An account name: matches `web:<name>` and the bare name (an OS user of the CLI).
    pub account: Option<String>,
    pub case_number: Option<String>,
    /// From this instant (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this instant (exclusive).
    pub until: Option<DateTime<Utc>>,
    pub limit: i64,
}

/// One access-log row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccessRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub case_number: String,
    pub what: String,
}

/// One security-log row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecurityRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub event: String,
    pub account: Option<String>,
    pub actor: String,
    pub detail: Option<String>,
}

/// Access-log rows matching `q`, oldest first.
pub async fn access(pool: &PgPool, q: &LogQuery) -> Result<Vec<AccessRow>> {
    Ok(sqlx::query_as::<_, AccessRow>(
        "SELECT id, at, actor, case_number, what
         FROM access_log
         WHERE ($1::text IS NULL OR actor = $1 OR actor = 'web:' || $1)
           AND ($2::text IS NULL OR case_number = $2)
           AND ($3::timestamptz IS NULL OR at >= $3)
           AND ($4::timestamptz IS NULL OR at < $4)
         ORDER BY at, id
         LIMIT $5",
    )
    .bind(q.account.as_deref())
    .bind(q.case_number.as_deref())
    .bind(q.from)
    .bind(q.until)
    .bind(q.limit)
    .fetch_all(pool)
    .await?)
}

/// Security-log rows matching `q` (the account concerned or the actor), oldest first. The case
/// number does not apply here.
pub async fn security(pool: &PgPool, q: &LogQuery) -> Result<Vec<SecurityRow>> {
    Ok(sqlx::query_as::<_, SecurityRow>(
        "SELECT id, at, event, account, actor, detail
         FROM security_log
         WHERE ($1::text IS NULL OR account = $1 OR actor = $1 OR actor = 'web:' || $1)
           AND ($2::timestamptz IS NULL OR at >= $2)
           AND ($3::timestamptz IS NULL OR at < $3)
         ORDER BY at, id
         LIMIT $4",
    )
    .bind(q.account.as_deref())
    .bind(q.from)
    .bind(q.until)
    .bind(q.limit)
    .fetch_all(pool)
    .await?)
}

/// Deletes access-log rows older than `cutoff`; returns how many went.
pub async fn purge_access(pool: &PgPool, cutoff: DateTime<Utc>) -> Result<u64> {
    let r = sqlx::query("DELETE FROM access_log WHERE at < $1")
        .bind(cutoff)
        .execute(pool)
        .await?;
    Ok(r.rows_affected())
}
