//! The outbox: acknowledgements and digests, rendered at enqueue, claimed one row at a time by
//! a sender that holds an advisory lock (its token in `claimed_by`), so two senders never send
//! the same row at the same time and a dead sender's row is taken over at once.

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, PgPool};

use super::Result;
use crate::domain::{AckStatus, OutboxKind, OutboxStatus};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: OutboxKind,
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

pub struct NewOutbox<'a> {
    pub id: i64,
    pub kind: OutboxKind,
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

/// Acknowledgements enqueued for this exact address within the last hour (not withdrawn).
pub async fn acks_last_hour(
    conn: &mut PgConnection,
    recipient: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    let n = acks_last_hour_many(conn, &[recipient.to_string()], now).await?;
    Ok(n.first().copied().unwrap_or(0))
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
                          AND created_at > $2 - interval '1 hour' AND status <> 'withdrawn')
         FROM unnest($1::text[]) WITH ORDINALITY AS r(addr, ord)
         ORDER BY r.ord",
    )
    .bind(recipients)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.1).collect())
}

/// The advisory-lock class (first key of the two-key form) of the senders' tokens.
pub const SENDER_LOCK_CLASS: i32 = 0x4b52_4d4f; // "KRMO"

/// Live sender tokens: the second keys of the granted `SENDER_LOCK_CLASS` locks in this database.
macro_rules! live_senders {
    () => {
        "WITH live AS MATERIALIZED (
             SELECT objid::bigint AS token FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND objsubid = 2
               AND classid::bigint = 1263684943
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
         "
    };
}

/// A row someone else may take: unclaimed, its lease run out, or its sender's lock gone
/// (the process died and PostgreSQL ended its session).
macro_rules! takeable {
    () => {
        "(locked_until IS NULL OR locked_until < now()
          OR (claimed_by IS NOT NULL AND claimed_by NOT IN (SELECT token FROM live)))"
    };
}

/// A sender's identity for its claims: a session-level advisory lock on a connection of its
/// own (a pooled one could be recycled while the process lives and make its claims look
/// orphaned). The lock lasts exactly as long as that session; a killed process's session ends
/// at once, a vanished host's after the TCP keepalives set here (about 5 s).
pub struct SenderLock {
    conn: PgConnection,
    token: i32,
}

impl SenderLock {
    pub async fn acquire(pool: &PgPool) -> Result<SenderLock> {
        let opts = pool.connect_options().as_ref().clone();
        let mut conn = PgConnection::connect_with(&opts).await?;
        // Best effort: ignored on a Unix socket, refused by servers that lack the setting.
        for set in [
            "SET tcp_keepalives_idle = 2",
            "SET tcp_keepalives_interval = 1",
            "SET tcp_keepalives_count = 3",
            "SET tcp_user_timeout = 5000",
        ] {
            let _ = sqlx::query(set).execute(&mut conn).await;
        }
        // A random token is free unless another live sender drew it; a few draws suffice.
        for _ in 0..16 {
            let token = (rand::random::<u32>() >> 1).max(1) as i32;
            if super::try_pair_lock(&mut conn, SENDER_LOCK_CLASS, token).await? {
                return Ok(SenderLock { conn, token });
            }
        }
        Err(super::StoreError::NoSenderToken)
    }

    pub fn token(&self) -> i32 {
        self.token
    }

    /// True while the lock's connection answers (and so the lock is held).
    pub async fn alive(&mut self) -> bool {
        tokio::time::timeout(std::time::Duration::from_secs(5), self.conn.ping())
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Ends the session, and with it the lock (dropping does the same, less politely).
    pub async fn release(self) {
        let _ = self.conn.close().await;
    }

    /// Gives up this sender's claims on rows it is not sending (after an error left some
    /// behind); called only while none of its sends is in flight.
    pub async fn release_claims(&mut self) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE outbox SET locked_until = NULL, claimed_by = NULL
             WHERE claimed_by = $1 AND status = 'pending'",
        )
        .bind(self.token)
        .execute(&mut self.conn)
        .await?;
        Ok(r.rows_affected())
    }
}

/// Claims up to `limit` due rows after `after_id`, in id order, for the sender `token`, if that
/// sender's lock is held. With `ignore_backoff`, rows waiting out a retry delay are taken too
/// (`run --once`). Claiming counts an attempt; [`unclaim`] takes back what was not tried.
///
/// The rows are found by walking the primary key from `after_id` (sorting is switched off for
/// the statement): statistics taken before a backlog's acknowledgements were enqueued make the
/// planner collect every pending row and sort them instead, 5 ms per claim at 2,700 pending
/// rows and growing with them, against 0.4 ms for the walk (`EXPLAIN ANALYZE`, #17).
pub async fn claim_next(
    pool: &PgPool,
    token: i32,
    ignore_backoff: bool,
    after_id: i64,
    lease_secs: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL enable_sort = off")
        .execute(&mut *tx)
        .await?;
    let mut rows = sqlx::query_as::<_, OutboxRow>(concat!(
        live_senders!(),
        "UPDATE outbox SET locked_until = now() + make_interval(secs => $3),
                attempts = attempts + 1, claimed_by = $1
         WHERE id IN (
             SELECT id FROM outbox
             WHERE status = 'pending'
               AND ($2 OR next_attempt_at <= now())
               AND id > $4
               AND ",
        takeable!(),
        "
               AND EXISTS (SELECT 1 FROM live WHERE token = $1)
             ORDER BY id
             FOR UPDATE SKIP LOCKED
             LIMIT $5)
         RETURNING id, kind, case_id, recipient, message_id, raw, attempts"
    ))
    .bind(token)
    .bind(ignore_backoff)
    .bind(lease_secs as f64)
    .bind(after_id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Gives back rows `token` claimed but never tried (the drain stopped first): unclaimed, and
/// the attempt their claim counted taken back.
pub async fn unclaim(pool: &PgPool, token: i32, ids: &[i64]) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE outbox SET locked_until = NULL, claimed_by = NULL, attempts = attempts - 1
         WHERE id = ANY($2) AND claimed_by = $1 AND status = 'pending'",
    )
    .bind(token)
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}

/// Pending rows another sender may take now (due or, with `ignore_backoff`, waiting out a
/// retry delay): the condition [`claim_next`] uses.
pub async fn takeable_count(pool: &PgPool, ignore_backoff: bool) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(concat!(
        live_senders!(),
        "SELECT count(*) FROM outbox
         WHERE status = 'pending' AND ($1 OR next_attempt_at <= now()) AND ",
        takeable!()
    ))
    .bind(ignore_backoff)
    .fetch_one(pool)
    .await?;
    Ok(n)
}

/// Pending rows claimed by a running sender other than `token` (being sent right now).
pub async fn claimed_by_others(pool: &PgPool, token: i32) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(concat!(
        live_senders!(),
        "SELECT count(*) FROM outbox
         WHERE status = 'pending' AND claimed_by <> $1
           AND locked_until >= now() AND claimed_by IN (SELECT token FROM live)"
    ))
    .bind(token)
    .fetch_one(pool)
    .await?;
    Ok(n)
}

pub async fn mark_sent(conn: &mut PgConnection, id: i64, code: Option<&str>) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = now(), locked_until = NULL, claimed_by = NULL, last_code = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(code)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A sent acknowledgement recorded in one statement (one round trip, atomic as a transaction):
/// the outbox row sent, the case's acknowledgement state `sent` unless a bounce or a staff entry
/// stands there already (`not_delivered`, `manual`), and then the case's `ack_sent` event
/// (#17: as a transaction of six round trips it took as long as the send itself).
pub async fn record_ack_sent(
    conn: &mut PgConnection,
    id: i64,
    case_id: i64,
    code: &str,
) -> Result<()> {
    sqlx::query(
        "WITH sent AS (
             UPDATE outbox SET status = 'sent', sent_at = now(), locked_until = NULL,
                    claimed_by = NULL, last_code = $2
             WHERE id = $1),
         acked AS (
             UPDATE cases SET ack_status = $4, ack_detail = NULL,
                    ack_sent_at = coalesce(ack_sent_at, now())
             WHERE id = $3 AND ack_status <> ALL($5)
             RETURNING id)
         INSERT INTO case_events (case_id, actor, action, new_value)
         SELECT id, $6, 'ack_sent', $7 FROM acked",
    )
    .bind(id)
    .bind(super::text(code))
    .bind(case_id)
    .bind(AckStatus::Sent)
    .bind([AckStatus::NotDelivered, AckStatus::Manual])
    .bind(super::cases::DAEMON)
    .bind(AckStatus::Sent.as_db())
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
        "UPDATE outbox SET locked_until = NULL, claimed_by = NULL, next_attempt_at = now() + make_interval(secs => $2),
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
        "UPDATE outbox SET status = 'failed', locked_until = NULL, claimed_by = NULL, last_error = $2, last_code = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(super::text(error))
    .bind(code)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Withdraws the acknowledgements still waiting for cases that ended meanwhile (discarded,
/// closed, merged) and that no sender holds: one that a sender held while staff ended the case
/// went back to waiting (a temporary failure, a drain that stopped). The case's
/// acknowledgement state says so, as when staff end a case, with an `ack_withdrawn` event of
/// the daemon. Run before a drain claims rows; returns how many were withdrawn.
pub async fn withdraw_ended_acks(pool: &PgPool) -> Result<u64> {
    let r = sqlx::query(concat!(
        live_senders!(),
        ", gone AS (
             UPDATE outbox o SET status = $3, locked_until = NULL, claimed_by = NULL
             FROM cases c
             WHERE c.id = o.case_id AND o.kind = $1 AND o.status = $2
               AND c.status = ANY($4) AND ",
        takeable!(),
        "
             RETURNING o.case_id,
                 'der Vorgang wurde ' || CASE c.status WHEN 'discarded' THEN 'verworfen'
                     WHEN 'closed' THEN 'abgeschlossen' ELSE 'zusammengeführt' END
                 || ', bevor die Bestätigung versandt war' AS why),
         acked AS (
             UPDATE cases c SET ack_status = $5, ack_detail = 'zurückgezogen: ' || g.why
             FROM gone g WHERE c.id = g.case_id AND c.ack_status = $6)
         INSERT INTO case_events (case_id, actor, action, old_value, new_value, detail)
         SELECT case_id, $7, 'ack_withdrawn', $8, $9, why FROM gone"
    ))
    .bind(OutboxKind::Ack)
    .bind(OutboxStatus::Pending)
    .bind(OutboxStatus::Withdrawn)
    .bind(crate::domain::CaseStatus::ENDED.map(|s| s.as_db()))
    .bind(AckStatus::Suppressed)
    .bind(AckStatus::Pending)
    .bind(super::cases::DAEMON)
    .bind(AckStatus::Pending.as_db())
    .bind(AckStatus::Suppressed.as_db())
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}

/// What [`withdraw_pending_ack`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    /// No acknowledgement of the case waits in the outbox.
    Nothing,
    /// The waiting acknowledgement will not be sent.
    Withdrawn,
    /// A sender holds it right now: it may already be on its way.
    InFlight,
}

/// Withdraws the case's automatic acknowledgement if it still waits in the outbox and no
/// sender holds it: not claimed by a running sender (a dead one's claim is void at once, as for
/// the senders), no lease running on a row claimed without a sender token, and not locked now
/// (`NOWAIT`: a sender in the middle of claiming or recording it counts as holding it, and the
/// caller, which already locks the case, never waits on a sender that may want the case next).
/// The row stays locked until the caller's transaction ends, so no sender takes it meanwhile.
pub async fn withdraw_pending_ack(conn: &mut PgConnection, case_id: i64) -> Result<Withdrawal> {
    // In a savepoint: the lock error would otherwise abort the caller's whole transaction, and
    // the caller goes on (a discard, close or merge) or answers with a refusal.
    let mut sp = conn.begin().await?;
    let row: std::result::Result<Option<(i64, bool)>, sqlx::Error> = sqlx::query_as(concat!(
        live_senders!(),
        "SELECT id, coalesce(claimed_by IN (SELECT token FROM live), false)
                    OR (claimed_by IS NULL AND coalesce(locked_until > now(), false))
         FROM outbox
         WHERE case_id = $1 AND kind = $2 AND status = $3
         ORDER BY id LIMIT 1
         FOR UPDATE OF outbox NOWAIT"
    ))
    .bind(case_id)
    .bind(OutboxKind::Ack)
    .bind(OutboxStatus::Pending)
    .fetch_optional(&mut *sp)
    .await;
    let row = match row {
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(LOCK_NOT_AVAILABLE) => {
            sp.rollback().await?;
            return Ok(Withdrawal::InFlight);
        }
        other => other?,
    };
    let found = match row {
        None => Withdrawal::Nothing,
        Some((_, true)) => Withdrawal::InFlight,
        Some((id, false)) => {
            sqlx::query("UPDATE outbox SET status = $2 WHERE id = $1")
                .bind(id)
                .bind(OutboxStatus::Withdrawn)
                .execute(&mut *sp)
                .await?;
            Withdrawal::Withdrawn
        }
    };
    // Released into the caller's transaction: the row stays locked until that one ends.
    sp.commit().await?;
    Ok(found)
}

/// SQLSTATE of `FOR UPDATE NOWAIT` on a row another transaction holds.
const LOCK_NOT_AVAILABLE: &str = "55P03";

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

/// The earliest moment a pending row may need this sender: when it becomes due and takeable.
/// A row that a running sender holds counts as due within 3 s, since that sender may die.
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>> {
    let (t,): (Option<DateTime<Utc>>,) = sqlx::query_as(concat!(
        live_senders!(),
        "SELECT min(CASE
             WHEN ",
        takeable!(),
        " THEN next_attempt_at
             WHEN claimed_by IS NOT NULL
                 THEN least(greatest(next_attempt_at, locked_until), now() + interval '3 seconds')
             ELSE greatest(next_attempt_at, locked_until) END)
         FROM outbox WHERE status = 'pending'"
    ))
    .fetch_one(pool)
    .await?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::SENDER_LOCK_CLASS;

    #[test]
    fn live_senders_query_names_the_lock_class() {
        assert!(live_senders!().contains(&format!("= {SENDER_LOCK_CLASS}\n")));
    }
}
