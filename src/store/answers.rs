//! Answers captured from the office's sent mail: the state of each answers folder, what a sent
//! mail needs to know of its case, and recording the mail, its dates and a contact. Exactly-once
//! rests on `messages_out_once` (one sent mail per case and content hash) and
//! `case_contacts.message_id`.

use chrono::NaiveDate;
use sqlx::PgConnection;

use super::cases::{bind_mail, insert_attachments, Origin, DAEMON};
use super::Result;
use crate::domain::{CaseStatus, MessageRole};
use crate::message::ParsedMail;

/// What the database remembers of one answers folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderState {
    pub uidvalidity: i64,
    pub last_uid: i64,
}

pub async fn folder_state(conn: &mut PgConnection, folder: &str) -> Result<Option<FolderState>> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT uidvalidity, last_uid FROM answer_folders WHERE folder = $1")
            .bind(folder)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|(uidvalidity, last_uid)| FolderState {
        uidvalidity,
        last_uid,
    }))
}

pub async fn set_folder_state(
    conn: &mut PgConnection,
    folder: &str,
    state: FolderState,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO answer_folders (folder, uidvalidity, last_uid, updated_at)
         VALUES ($1, $2, $3, now())
         ON CONFLICT (folder) DO UPDATE
         SET uidvalidity = EXCLUDED.uidvalidity, last_uid = EXCLUDED.last_uid, updated_at = now()",
    )
    .bind(folder)
    .bind(state.uidvalidity)
    .bind(state.last_uid)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a sent mail is matched against: the case, its dates, and where it came from.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AnswerCase {
    pub id: i64,
    pub number: String,
    pub status: CaseStatus,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub answered_on: Option<NaiveDate>,
    pub interim_reply_on: Option<NaiveDate>,
    pub merged_into: Option<i64>,
    pub rule_evidence: Option<serde_json::Value>,
    /// From and Reply-To addresses of the mails the case received (lower-cased).
    pub sender_addresses: Vec<String>,
}

/// The case with this id, locked for update in the current transaction.
pub async fn case_for_update(conn: &mut PgConnection, id: i64) -> Result<Option<AnswerCase>> {
    let row = sqlx::query_as::<_, AnswerCase>(
        "SELECT c.id, c.number, c.status, c.received_at, c.answered_on, c.interim_reply_on,
                c.merged_into, c.rule_evidence,
                coalesce((SELECT array_agg(DISTINCT lower(a.addr))
                          FROM messages m,
                               unnest(array_prepend(m.from_addr, m.reply_to)) AS a(addr)
                          WHERE m.case_id = c.id AND m.direction = 'in'
                            AND m.role IN ('initial', 'followup') AND a.addr IS NOT NULL),
                         '{}') AS sender_addresses
         FROM cases c WHERE c.id = $1 FOR UPDATE OF c",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row)
}

/// Records a sent mail on its case; `None` when the case already holds it (a rescan).
pub async fn insert_sent(
    conn: &mut PgConnection,
    case_id: i64,
    role: MessageRole,
    origin: &Origin<'_>,
    mail: &ParsedMail,
    raw: &[u8],
) -> Result<Option<i64>> {
    let row: Option<(i64,)> = bind_mail(
        sqlx::query_as(
            "INSERT INTO messages (case_id, role, direction, message_id, content_hash, channel,
                uidvalidity, uid, received_at, date_header, date_raw, from_addr, from_name,
                reply_to, to_addrs, cc_addrs, subject, in_reply_to, refs, auto_class, text_body,
                raw, size, has_html)
             VALUES ($1, $2, 'out', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                $17, $18, $19, $20, $21, $22, $23)
             ON CONFLICT (case_id, content_hash) WHERE direction = 'out' DO NOTHING
             RETURNING id",
        )
        .bind(case_id)
        .bind(role),
        origin,
        mail,
        raw,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id,)) = row else {
        return Ok(None);
    };
    insert_attachments(conn, id, mail).await?;
    Ok(Some(id))
}

/// The first final answer: `answered_on` from the mailbox.
pub async fn set_answered(conn: &mut PgConnection, case_id: i64, on: NaiveDate) -> Result<()> {
    sqlx::query(
        "UPDATE cases SET answered_on = $2, answered_source = 'mailbox'
         WHERE id = $1 AND answered_on IS NULL",
    )
    .bind(case_id)
    .bind(on)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The first interim reply.
pub async fn set_interim(conn: &mut PgConnection, case_id: i64, on: NaiveDate) -> Result<()> {
    sqlx::query(
        "UPDATE cases SET interim_reply_on = $2 WHERE id = $1 AND interim_reply_on IS NULL",
    )
    .bind(case_id)
    .bind(on)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A contact with an outside body, recorded from a sent mail.
pub async fn insert_contact(
    conn: &mut PgConnection,
    case_id: i64,
    stelle: &str,
    on: NaiveDate,
    message_row: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO case_contacts (case_id, stelle, on_date, source, message_id, actor)
         VALUES ($1, $2, $3, 'mailbox', $4, $5)
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(case_id)
    .bind(stelle)
    .bind(on)
    .bind(message_row)
    .bind(DAEMON)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
