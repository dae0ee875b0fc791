//! The outbox: acknowledgements and digests, rendered at enqueue, claimed with a lease
//! (`locked_until`) so two senders never send the same row at the same time.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::Result;

/// Lease on a claimed row; a sender that dies releases it by expiry.
pub const LEASE_SECS: i64 = 120;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub case_id: Option<i64>,
    pub recipient: String,
    pub message_id: String,
    pub raw: Vec<u8>,
    pub attempts: i32,
}

/// Reserves an id, so the Message-ID can be derived from the row before it is written.
pub async fn next_id(conn: &mut PgConnection) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as("SELECT nextval('outbox_id_seq')")
        .fetch_one(&mut *conn)
        .await?;
    Ok(id)
}

/// Reserves `n` ids in one statement (for a batch; unused ones are gaps, as with any sequence).
pub async fn reserve_ids(conn: &mut PgConnection, n: usize) -> Result<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let ids: Vec<(i64,)> =
        sqlx::query_as("SELECT nextval('outbox_id_seq') FROM generate_series(1, $1)")
            .bind(n as i32)
            .fetch_all(&mut *conn)
            .await?;
    Ok(ids.into_iter().map(|r| r.0).collect())
}

pub struct NewOutbox<'a> {
    pub id: i64,
    pub kind: &'a str,
    pub case_id: Option<i64>,
    pub recipient: &'a str,
    pub message_id: &'a str,
    pub dedupe_key: Option<&'a str>,
    pub raw: &'a [u8],
}

/// Inserts a row; returns false when a row with the same dedupe key exists already.
pub async fn enqueue(conn: &mut PgConnection, o: &NewOutbox<'_>) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO outbox (id, kind, case_id, recipient, message_id, dedupe_key, raw)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(o.id)
    .bind(o.kind)
    .bind(o.case_id)
    .bind(o.recipient)
    .bind(o.message_id)
    .bind(o.dedupe_key)
    .bind(o.raw)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Acknowledgements enqueued for this exact address within the last hour.
pub async fn acks_last_hour(
    conn: &mut PgConnection,
    recipient: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM outbox WHERE kind = 'ack' AND recipient = lower($1)
           AND created_at > $2 - interval '1 hour'",
    )
    .bind(recipient)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n)
}

/// [`acks_last_hour`] for several addresses in one query, in input order.
pub async fn acks_last_hour_many(
    conn: &mut PgConnection,
    recipients: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    if recipients.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT r.ord, (SELECT count(*) FROM outbox
                        WHERE kind = 'ack' AND recipient = lower(r.addr)
                          AND created_at > $2 - interval '1 hour')
         FROM unnest($1::text[]) WITH ORDINALITY AS r(addr, ord)
         ORDER BY r.ord",
    )
    .bind(recipients)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.1).collect())
}

/// Claims up to `limit` pending rows. With `ignore_backoff`, rows waiting out a retry delay are
/// taken too (`run --once`).
pub async fn claim(
    pool: &PgPool,
    limit: i64,
    ignore_backoff: bool,
    after_id: i64,
) -> Result<Vec<OutboxRow>> {
    let rows = sqlx::query_as::<_, OutboxRow>(
        "UPDATE outbox SET locked_until = now() + make_interval(secs => $3), attempts = attempts + 1
         WHERE id IN (
             SELECT id FROM outbox
             WHERE status = 'pending'
               AND ($2 OR next_attempt_at <= now())
               AND (locked_until IS NULL OR locked_until < now())
               AND id > $4
             ORDER BY id
             FOR UPDATE SKIP LOCKED
             LIMIT $1)
         RETURNING id, kind, case_id, recipient, message_id, raw, attempts",
    )
    .bind(limit)
    .bind(ignore_backoff)
    .bind(LEASE_SECS as f64)
    .bind(after_id)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

pub async fn mark_sent(conn: &mut PgConnection, id: i64, code: Option<&str>) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = now(), locked_until = NULL, last_code = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(code)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn mark_retry(
    conn: &mut PgConnection,
    id: i64,
    delay_secs: i64,
    error: &str,
    code: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET locked_until = NULL, next_attempt_at = now() + make_interval(secs => $2),
             last_error = $3, last_code = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(delay_secs as f64)
    .bind(super::text(error))
    .bind(code)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn mark_failed(
    conn: &mut PgConnection,
    id: i64,
    error: &str,
    code: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'failed', locked_until = NULL, last_error = $2, last_code = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(super::text(error))
    .bind(code)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct OutboxCounts {
    pub pending: i64,
    pub failed: i64,
    /// Pending rows older than 15 minutes: the sender is stuck.
    pub stuck: i64,
}

pub async fn counts(pool: &PgPool) -> Result<OutboxCounts> {
    let (pending, failed, stuck): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'pending'),
                count(*) FILTER (WHERE status = 'failed'),
                count(*) FILTER (WHERE status = 'pending' AND attempts = 0 AND created_at < now() - interval '15 minutes')
         FROM outbox",
    )
    .fetch_one(pool)
    .await?;
    Ok(OutboxCounts {
        pending,
        failed,
        stuck,
    })
}

/// The earliest moment a pending row becomes due (for the sender's sleep).
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>> {
    let (t,): (Option<DateTime<Utc>>,) = sqlx::query_as(
        "SELECT min(greatest(next_attempt_at, coalesce(locked_until, next_attempt_at))) FROM outbox WHERE status = 'pending'",
    )
    .fetch_one(pool)
    .await?;
    Ok(t)
}
