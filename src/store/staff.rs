//! Queries of the staff CLI: a case with what `CaseRow` leaves out, writing the fields staff
//! change, the case list with its filters, and a case's mails, attachments and timeline.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::cases::{CaseRow, CASE_COLUMNS};
use super::{opt_text, Result};
use crate::domain::{AckStatus, CaseStatus};

/// Another case, by id and number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRef {
    pub id: i64,
    pub number: String,
}

/// The fields staff commands may change. Transitions map one state to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseState {
    pub status: CaseStatus,
    pub kind: Option<String>,
    pub topics: Vec<String>,
    pub justified: Option<bool>,
    /// The Ombudsstelle contributed substantially to clarifying the matter (None: not said).
    pub contributed: Option<bool>,
    pub organisation: Option<String>,
    pub category: Option<String>,
    pub third_party: bool,
    pub third_party_manual: bool,
    pub assignee: Option<String>,
    pub due_unshifted: NaiveDate,
    pub due: NaiveDate,
    pub hold_since: Option<DateTime<Utc>>,
    pub held_days: i32,
    pub ack_status: AckStatus,
    pub ack_sent_at: Option<DateTime<Utc>>,
    pub ack_detail: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub answered_on: Option<NaiveDate>,
    /// `mailbox` or `typed` (see [`CaseRow::answered_source`]).
    pub answered_source: Option<String>,
    pub discard_reason: Option<String>,
    pub merged_into: Option<CaseRef>,
}

impl CaseState {
    pub fn of(c: &StaffCase) -> CaseState {
        let r = &c.row;
        CaseState {
            status: r.status,
            kind: r.kind.clone(),
            topics: r.topics.clone(),
            justified: r.justified,
            contributed: c.contributed,
            organisation: r.organisation.clone(),
            category: r.category.clone(),
            third_party: r.third_party,
            third_party_manual: c.third_party_manual,
            assignee: r.assignee.clone(),
            due_unshifted: r.due_unshifted,
            due: r.due,
            hold_since: r.hold_since,
            held_days: r.held_days,
            ack_status: r.ack_status,
            ack_sent_at: r.ack_sent_at,
            ack_detail: r.ack_detail.clone(),
            closed_at: r.closed_at,
            answered_on: r.answered_on,
            answered_source: r.answered_source.clone(),
            discard_reason: r.discard_reason.clone(),
            merged_into: match (r.merged_into, &c.merged_into_number) {
                (Some(id), Some(n)) => Some(CaseRef {
                    id,
                    number: n.clone(),
                }),
                _ => None,
            },
        }
    }
}

/// A case as staff see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffCase {
    #[sqlx(flatten)]
    pub row: CaseRow,
    pub third_party_manual: bool,
    /// Bumped by every UPDATE of the row (optimistic locking of the desk's forms).
    pub version: i64,
    /// Number of the case this one was merged into.
    pub merged_into_number: Option<String>,
    pub contributed: Option<bool>,
}

/// Extra columns of [`StaffCase`] after [`CASE_COLUMNS`].
const EXTRA_COLUMNS: &str = "c.third_party_manual, c.version, \
    (SELECT t.number FROM cases t WHERE t.id = c.merged_into) AS merged_into_number, \
    c.contributed";

pub async fn id_of(conn: &mut PgConnection, number: &str) -> Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM cases WHERE number = $1")
        .bind(number)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.0))
}

pub async fn get(conn: &mut PgConnection, id: i64) -> Result<Option<StaffCase>> {
    let sql = format!("SELECT {CASE_COLUMNS}, {EXTRA_COLUMNS} FROM cases c WHERE c.id = $1");
    let row = sqlx::query_as::<_, StaffCase>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row)
}

/// Writes every field staff may change (the caller holds the row lock).
pub async fn update_state(conn: &mut PgConnection, id: i64, s: &CaseState) -> Result<()> {
    sqlx::query(
        "UPDATE cases SET status = $2, kind = $3, topics = $4, justified = $5, organisation = $6,
            category = $7, third_party = $8, third_party_manual = $9, assignee = $10,
            due_unshifted = $11, due = $12, hold_since = $13, held_days = $14, ack_status = $15,
            ack_sent_at = $16, ack_detail = $17, closed_at = $18, answered_on = $19,
            discard_reason = $20, merged_into = $21, answered_source = $22, contributed = $23
         WHERE id = $1",
    )
    .bind(id)
    .bind(s.status)
    .bind(&s.kind)
    .bind(&s.topics)
    .bind(s.justified)
    .bind(opt_text(s.organisation.as_deref()))
    .bind(&s.category)
    .bind(s.third_party)
    .bind(s.third_party_manual)
    .bind(&s.assignee)
    .bind(s.due_unshifted)
    .bind(s.due)
    .bind(s.hold_since)
    .bind(s.held_days)
    .bind(s.ack_status)
    .bind(s.ack_sent_at)
    .bind(opt_text(s.ack_detail.as_deref()))
    .bind(s.closed_at)
    .bind(s.answered_on)
    .bind(opt_text(s.discard_reason.as_deref()))
    .bind(s.merged_into.as_ref().map(|r| r.id))
    .bind(s.answered_source.as_deref())
    .bind(s.contributed)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// SQL-side filters of the case list; `None`/`false` means no filter.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub statuses: Option<Vec<CaseStatus>>,
    /// Part of the organisation's name, case-insensitive.
    pub organisation: Option<String>,
    pub kind: Option<String>,
    pub unclassified: bool,
    pub assignee: Option<String>,
    pub unassigned: bool,
    /// Received at or after.
    pub from: Option<DateTime<Utc>>,
    /// Received before.
    pub until: Option<DateTime<Utc>>,
    /// Part of a sender's address or display name, case-insensitive.
    pub sender: Option<String>,
}

/// `%text%` for ILIKE with the pattern characters of `text` escaped.
fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for ch in text.trim().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// The conditions of [`ListQuery`] on `cases c`, parameters `$1`–`$9`.
const LIST_WHERE: &str = "($1::text[] IS NULL OR c.status = ANY($1))
           AND ($2::text IS NULL OR c.organisation ILIKE $2)
           AND ($3::text IS NULL OR c.kind = $3)
           AND (NOT $4 OR c.kind IS NULL)
           AND ($5::text IS NULL OR lower(c.assignee) = lower($5))
           AND (NOT $6 OR c.assignee IS NULL)
           AND ($7::timestamptz IS NULL OR c.received_at >= $7)
           AND ($8::timestamptz IS NULL OR c.received_at < $8)
           AND ($9::text IS NULL OR EXISTS (
                SELECT 1 FROM messages m
                WHERE m.case_id = c.id AND (m.from_addr ILIKE $9 OR m.from_name ILIKE $9)))";

/// `sql` with the list's nine parameters bound from `f`.
fn bind_list<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    f: &'q ListQuery,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    q.bind(&f.statuses)
        .bind(f.organisation.as_deref().map(contains_pattern))
        .bind(&f.kind)
        .bind(f.unclassified)
        .bind(&f.assignee)
        .bind(f.unassigned)
        .bind(f.from)
        .bind(f.until)
        .bind(f.sender.as_deref().map(contains_pattern))
}

pub async fn list(conn: &mut PgConnection, f: &ListQuery) -> Result<Vec<StaffCase>> {
    let sql = format!(
        "SELECT {CASE_COLUMNS}, {EXTRA_COLUMNS} FROM cases c
         WHERE {LIST_WHERE}
         ORDER BY c.received_at, c.number"
    );
    let rows = bind_list(sqlx::query_as::<_, StaffCase>(sqlx::AssertSqlSafe(sql)), f)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows)
}

/// What the desk's work list needs of every matching case to filter by deadline, sort and
/// count, before it loads the whole rows of one page ([`by_ids`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListKey {
    pub id: i64,
    pub number: String,
    pub status: CaseStatus,
    pub due: NaiveDate,
}

pub async fn list_keys(conn: &mut PgConnection, f: &ListQuery) -> Result<Vec<ListKey>> {
    let sql = format!("SELECT c.id, c.number, c.status, c.due FROM cases c WHERE {LIST_WHERE}");
    let rows = bind_list(sqlx::query_as::<_, ListKey>(sqlx::AssertSqlSafe(sql)), f)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows)
}

/// The cases with these ids, in no particular order.
pub async fn by_ids(conn: &mut PgConnection, ids: &[i64]) -> Result<Vec<StaffCase>> {
    let sql = format!("SELECT {CASE_COLUMNS}, {EXTRA_COLUMNS} FROM cases c WHERE c.id = ANY($1)");
    let rows = sqlx::query_as::<_, StaffCase>(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub role: String,
    pub message_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub date_header: Option<DateTime<Utc>>,
    /// The Date header as written (also when it could not be read as a date).
    pub date_raw: Option<String>,
    pub from_addr: Option<String>,
    pub from_name: Option<String>,
    pub subject: Option<String>,
    pub size: i32,
    pub text_body: Option<String>,
}

pub async fn messages(conn: &mut PgConnection, case_id: i64) -> Result<Vec<MessageRow>> {
    let rows = sqlx::query_as::<_, MessageRow>(
        "SELECT id, role, message_id, received_at, date_header, date_raw, from_addr, from_name,
                subject, size, text_body
         FROM messages WHERE case_id = $1 ORDER BY received_at, id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: i64,
    /// The message's row id.
    pub message_id: i64,
    pub name: Option<String>,
    pub content_type: String,
    pub size: i32,
}

pub async fn attachments(conn: &mut PgConnection, case_id: i64) -> Result<Vec<AttachmentRow>> {
    let rows = sqlx::query_as::<_, AttachmentRow>(
        "SELECT a.id, a.message_id, a.name, a.content_type, a.size
         FROM attachments a JOIN messages m ON m.id = a.message_id
         WHERE m.case_id = $1 ORDER BY a.id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub stated_by: Option<String>,
    pub action: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub detail: Option<String>,
}

pub async fn events(conn: &mut PgConnection, case_id: i64) -> Result<Vec<EventRow>> {
    let rows = sqlx::query_as::<_, EventRow>(
        "SELECT at, actor, stated_by, action, old_value, new_value, detail
         FROM case_events WHERE case_id = $1 ORDER BY at, id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn organisation_filter_escapes_pattern_characters() {
        assert_eq!(super::contains_pattern(" Caritas "), "%Caritas%");
        assert_eq!(super::contains_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
    }
}

/// Clears a case's `review_reason` (the caller holds the row lock).
pub async fn clear_review_reason(conn: &mut PgConnection, id: i64) -> Result<()> {
    sqlx::query("UPDATE cases SET review_reason = NULL WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What an acknowledgement of a case answers: the first mail's Message-ID and References, and
/// its first Reply-To address, else its sender.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AnsweredMail {
    pub message_id: Option<String>,
    pub refs: Vec<String>,
    pub recipient: Option<String>,
}

pub async fn initial_mail(conn: &mut PgConnection, case_id: i64) -> Result<Option<AnsweredMail>> {
    let row = sqlx::query_as::<_, AnsweredMail>(
        "SELECT message_id, refs, coalesce(reply_to[1], from_addr) AS recipient
         FROM messages
         WHERE case_id = $1 AND role = 'initial'
         ORDER BY id
         LIMIT 1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row)
}

/// Whether each mail of a case has an HTML body to show, by message row id, as recorded at
/// intake; None for a mail stored by an earlier version, which did not record it. A purged
/// mail has none (whichever version purged it).
pub async fn html_of_mails(
    conn: &mut PgConnection,
    case_id: i64,
) -> Result<Vec<(i64, Option<bool>)>> {
    let rows = sqlx::query_as(
        "SELECT id, CASE WHEN raw IS NULL THEN false ELSE has_html END
         FROM messages WHERE case_id = $1 ORDER BY received_at, id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// Records whether a mail stored by an earlier version has an HTML body (see
/// [`html_of_mails`]); a value already there is kept.
pub async fn record_has_html(
    conn: &mut PgConnection,
    message_id: i64,
    has_html: bool,
) -> Result<()> {
    sqlx::query("UPDATE messages SET has_html = $2 WHERE id = $1 AND has_html IS NULL")
        .bind(message_id)
        .bind(has_html)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One stored attachment, with the case it belongs to: its content where the row holds it
/// (rows written before 7 December 2026), else the raw mail it is to be decoded from
/// (`message::attachment_of_raw`, by `ord` and `sha256`); `None` once the mail is purged.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttachmentContent {
    pub case_id: i64,
    pub ord: Option<i32>,
    pub name: Option<String>,
    pub content_type: String,
    pub sha256: Option<Vec<u8>>,
    pub content: Option<Vec<u8>>,
    pub raw: Option<Vec<u8>>,
}

/// Attachment `id` if it belongs to a mail of case `number`.
pub async fn attachment_of_case(
    conn: &mut PgConnection,
    number: &str,
    id: i64,
) -> Result<Option<AttachmentContent>> {
    let row = sqlx::query_as::<_, AttachmentContent>(
        "SELECT c.id AS case_id, a.ord, a.name, a.content_type, a.sha256, a.content,
                CASE WHEN a.content IS NULL THEN m.raw END AS raw
         FROM attachments a
         JOIN messages m ON m.id = a.message_id
         JOIN cases c ON c.id = m.case_id
         WHERE a.id = $1 AND c.number = $2",
    )
    .bind(id)
    .bind(number)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row)
}

/// The raw mail `message_id` if it belongs to case `number`: (case id, raw; None where purged).
pub async fn raw_mail_of_case(
    conn: &mut PgConnection,
    number: &str,
    message_id: i64,
) -> Result<Option<(i64, Option<Vec<u8>>)>> {
    let row = sqlx::query_as(
        "SELECT c.id, m.raw FROM messages m JOIN cases c ON c.id = m.case_id
         WHERE m.id = $1 AND c.number = $2",
    )
    .bind(message_id)
    .bind(number)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row)
}
