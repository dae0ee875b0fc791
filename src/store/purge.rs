//! Retention SQL: which cases are past retention, what a purge removes, the deletion log and
//! the list of server copies still to be deleted on the IMAP server. The case row itself stays
//! as an anonymous statistics record (dates, kind, topics, organisation, flags).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::Result;
use crate::domain::CaseStatus;

/// A case that may be purged, with the instant its retention counts from.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Candidate {
    pub id: i64,
    pub number: String,
    pub status: CaseStatus,
    /// `closed_at`; for a discarded or merged case without one, its last recorded change.
    pub ended_at: Option<DateTime<Utc>>,
}

/// Cases past retention: ended before `cutoff` and not purged yet (or holding personal data
/// again since: a late follow-up reopened a purged case). A merged case follows the
/// case it was merged into (its mails may be part of that case's story): it goes when that
/// case goes, never while it is open. With `only` set, just that case is re-checked.
const ELIGIBLE: &str = "
WITH RECURSIVE chain (id, root, depth) AS (
    SELECT id, id, 0 FROM cases WHERE status <> 'merged' OR merged_into IS NULL
    UNION ALL
    SELECT c.id, ch.root, ch.depth + 1
    FROM cases c JOIN chain ch ON c.merged_into = ch.id
    WHERE c.status = 'merged' AND ch.depth < 100
),
ended AS (
    SELECT r.id,
           coalesce(r.closed_at,
                    (SELECT max(e.at) FROM case_events e WHERE e.case_id = r.id),
                    r.received_at) AS ended_at
    FROM cases r
    WHERE r.status IN ('closed', 'discarded', 'merged')
)
SELECT c.id, c.number, c.status, coalesce(c.closed_at, en.ended_at) AS ended_at
FROM chain ch
JOIN cases c ON c.id = ch.id
JOIN ended en ON en.id = ch.root
WHERE (c.purged_at IS NULL OR case_has_personal_data(c.id))
  AND c.status IN ('closed', 'discarded', 'merged')
  AND en.ended_at < $1
  AND ($2::bigint IS NULL OR c.id = $2)
ORDER BY c.id";

pub async fn candidates(pool: &PgPool, cutoff: DateTime<Utc>) -> Result<Vec<Candidate>> {
    let rows = sqlx::query_as::<_, Candidate>(ELIGIBLE)
        .bind(cutoff)
        .bind(None::<i64>)
        .fetch_all(pool)
        .await?;
    Ok(rows)
}

/// Re-checks one case inside the purging transaction, after its row is locked.
pub async fn still_eligible(
    conn: &mut PgConnection,
    id: i64,
    cutoff: DateTime<Utc>,
) -> Result<bool> {
    let row = sqlx::query_as::<_, Candidate>(ELIGIBLE)
        .bind(cutoff)
        .bind(Some(id))
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// id, number, status, closed_at, already purged.
type NumberedRow = (i64, String, CaseStatus, Option<DateTime<Utc>>, bool);

/// Cases named in a deletion log (replay after a restore), whatever their status.
pub async fn by_numbers(pool: &PgPool, numbers: &[String]) -> Result<Vec<(Candidate, bool)>> {
    let rows: Vec<NumberedRow> = sqlx::query_as(
        "SELECT id, number, status, closed_at,
                purged_at IS NOT NULL AND NOT case_has_personal_data(id)
         FROM cases WHERE number = ANY($1) ORDER BY id",
    )
    .bind(numbers)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, number, status, ended_at, purged)| {
            (
                Candidate {
                    id,
                    number,
                    status,
                    ended_at,
                },
                purged,
            )
        })
        .collect())
}

/// Locks the case row; false when it is gone or was purged meanwhile.
pub async fn lock_unpurged(conn: &mut PgConnection, id: i64) -> Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM cases WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    if row.is_none() {
        return Ok(false);
    }
    let (todo,): (bool,) = sqlx::query_as(
        "SELECT purged_at IS NULL OR case_has_personal_data(id) FROM cases WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(todo)
}

/// What a purge of one case removes (for `--dry-run` and the deletion log).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Removal {
    pub messages: i64,
    pub attachments: i64,
    pub events: i64,
    pub outbox: i64,
    pub quarantine: i64,
    /// Server copies to delete: the case's mails in the processed folder and matching mails
    /// still in the quarantine folder.
    pub server_copies: i64,
    pub rule_evidence: bool,
    /// Contacts with outside bodies that carry a note (the note goes; body and date stay).
    pub contact_notes: i64,
}

pub async fn removal(conn: &mut PgConnection, id: i64) -> Result<Removal> {
    let r = sqlx::query_as::<_, Removal>(
        "SELECT
            (SELECT count(*) FROM messages WHERE case_id = $1) AS messages,
            (SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message_id
              WHERE m.case_id = $1) AS attachments,
            (SELECT count(*) FROM case_events WHERE case_id = $1) AS events,
            (SELECT count(*) FROM outbox WHERE case_id = $1) AS outbox,
            (SELECT count(*) FROM quarantine q WHERE q.message_id IN
                (SELECT message_id FROM messages WHERE case_id = $1 AND message_id IS NOT NULL))
              AS quarantine,
            (SELECT count(*) FROM messages WHERE case_id = $1 AND uid IS NOT NULL
               AND raw IS NOT NULL AND direction = 'in')
            + (SELECT count(*) FROM quarantine q WHERE q.status = 'quarantined' AND q.message_id IN
                (SELECT message_id FROM messages WHERE case_id = $1 AND message_id IS NOT NULL))
              AS server_copies,
            (SELECT rule_evidence IS NOT NULL FROM cases WHERE id = $1) AS rule_evidence,
            (SELECT count(*) FROM case_contacts WHERE case_id = $1 AND note IS NOT NULL)
              AS contact_notes",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(r)
}

/// Removes the personal data of one case (the caller holds its row lock and commits), queues
/// its server copies for deletion and writes the deletion log and an audit event.
pub async fn purge_case(
    conn: &mut PgConnection,
    id: i64,
    number: &str,
    actor: &str,
    what: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    // Server copies first: the identifiers are read before the rows lose them. Sent mail
    // captured from the office's own folders is not ours to delete there.
    sqlx::query(
        "INSERT INTO purge_imap_pending (case_number, folder, message_id, content_hash, size)
         SELECT $2, 'processed', message_id, content_hash, size
         FROM messages WHERE case_id = $1 AND uid IS NOT NULL AND raw IS NOT NULL
           AND direction = 'in'",
    )
    .bind(id)
    .bind(number)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO purge_imap_pending (case_number, folder, message_id, content_hash, size)
         SELECT $2, 'quarantine', q.message_id, q.content_hash, q.size
         FROM quarantine q
         WHERE q.status = 'quarantined' AND q.message_id IN
             (SELECT message_id FROM messages WHERE case_id = $1 AND message_id IS NOT NULL)",
    )
    .bind(id)
    .bind(number)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM quarantine WHERE message_id IN
             (SELECT message_id FROM messages WHERE case_id = $1 AND message_id IS NOT NULL)",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM attachments WHERE message_id IN (SELECT id FROM messages WHERE case_id = $1)",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    // Message-ID and content hash stay: they let intake recognise a leftover copy of a purged
    // mail as "seen again" instead of opening a new case with the personal data.
    sqlx::query(
        "UPDATE messages SET raw = NULL, has_html = false, text_body = NULL, from_addr = NULL,
             from_name = NULL, reply_to = '{}', to_addrs = '{}', cc_addrs = '{}', subject = NULL,
             in_reply_to = '{}', refs = '{}', date_raw = NULL
         WHERE case_id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM outbox WHERE case_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE case_contacts SET note = NULL WHERE case_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE case_events SET old_value = NULL, new_value = NULL, detail = NULL, stated_by = NULL
         WHERE case_id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE cases SET rule_evidence = NULL, ack_detail = NULL, discard_reason = NULL,
             assignee = NULL, purged_at = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO case_events (case_id, at, actor, action, detail) VALUES ($1, $2, $3, 'purged', $4)",
    )
    .bind(id)
    .bind(now)
    .bind(super::text(actor))
    .bind(what)
    .execute(&mut *conn)
    .await?;
    log(conn, number, now, what).await
}

/// Replay for a case purged already: its server copies are looked for again (a restored mail
/// server brings them back). Message-ID, hash and size stayed for exactly this.
pub async fn requeue_server_copies(pool: &PgPool, id: i64, number: &str) -> Result<u64> {
    let r = sqlx::query(
        "INSERT INTO purge_imap_pending (case_number, folder, message_id, content_hash, size)
         SELECT $2, 'processed', message_id, content_hash, size
         FROM messages WHERE case_id = $1 AND uid IS NOT NULL AND direction = 'in'",
    )
    .bind(id)
    .bind(number)
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}

pub async fn log(
    conn: &mut PgConnection,
    number: &str,
    at: DateTime<Utc>,
    what: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO deletion_log (case_number, deleted_at, what) VALUES ($1, $2, $3)")
        .bind(number)
        .bind(at)
        .bind(what)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct LogEntry {
    pub case_number: String,
    pub deleted_at: DateTime<Utc>,
    pub what: String,
}

pub async fn log_entries(pool: &PgPool) -> Result<Vec<LogEntry>> {
    let rows = sqlx::query_as::<_, LogEntry>(
        "SELECT case_number, deleted_at, what FROM deletion_log ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// A server copy still to be deleted.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Pending {
    pub id: i64,
    pub case_number: String,
    pub folder: String,
    pub message_id: Option<String>,
    pub content_hash: Option<String>,
    pub size: Option<i32>,
}

pub async fn pending(pool: &PgPool) -> Result<Vec<Pending>> {
    let rows = sqlx::query_as::<_, Pending>(
        "SELECT id, case_number, folder, message_id, content_hash, size
         FROM purge_imap_pending ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

pub async fn pending_count(pool: &PgPool) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM purge_imap_pending")
        .fetch_one(pool)
        .await?;
    Ok(n)
}

pub async fn pending_done(pool: &PgPool, id: i64) -> Result<()> {
    sqlx::query("DELETE FROM purge_imap_pending WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Counts a failed attempt on every remaining row (the reason carries no mail data).
pub async fn pending_failed(pool: &PgPool, ids: &[i64], error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE purge_imap_pending SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1)",
    )
    .bind(ids)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether any server copy of this case is still waiting.
pub async fn case_has_pending(pool: &PgPool, number: &str) -> Result<bool> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM purge_imap_pending WHERE case_number = $1")
            .bind(number)
            .fetch_one(pool)
            .await?;
    Ok(n > 0)
}

pub async fn log_pool(pool: &PgPool, number: &str, at: DateTime<Utc>, what: &str) -> Result<()> {
    let mut conn = pool.acquire().await?;
    log(&mut conn, number, at, what).await
}

/// Advisory lock key of a purge run: two instances (or a CLI run beside the daemon) never
/// purge at the same time. Held on a dedicated connection for the whole run.
pub const LOCK_KEY: &str = "krm-intake:purge";

pub async fn try_lock(conn: &mut PgConnection) -> Result<bool> {
    super::try_named_lock(conn, LOCK_KEY).await
}
