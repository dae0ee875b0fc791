//! Clarification work: the contacts with outside bodies recorded for a case (`case_contacts`,
//! by staff or from a sent mail), and the case's `contributed` flag. The caller holds the
//! case's row lock where it writes.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::{opt_text, text, Result};
use crate::domain::ContactSource;

/// A contact to record.
#[derive(Debug, Clone)]
pub struct NewContact<'a> {
    pub case_id: i64,
    /// The body's name as written in the catalogue.
    pub stelle: &'a str,
    pub on_date: NaiveDate,
    pub source: ContactSource,
    /// The sent mail the contact was recognised in (source `mailbox`).
    pub message_id: Option<i64>,
    pub note: Option<&'a str>,
    pub actor: &'a str,
}

/// Inserts a contact; `None` when its sent mail was recorded as a contact already.
pub async fn insert(conn: &mut PgConnection, c: &NewContact<'_>) -> Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO case_contacts (case_id, stelle, on_date, source, message_id, note, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (message_id) DO NOTHING
         RETURNING id",
    )
    .bind(c.case_id)
    .bind(text(c.stelle))
    .bind(c.on_date)
    .bind(c.source)
    .bind(c.message_id)
    .bind(opt_text(c.note))
    .bind(text(c.actor))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.0))
}

/// A recorded contact, as `case show` lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ContactRow {
    pub id: i64,
    pub stelle: String,
    pub on_date: NaiveDate,
    pub source: ContactSource,
    pub note: Option<String>,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// The contacts of a case by date, then in the order recorded.
pub async fn of_case(conn: &mut PgConnection, case_id: i64) -> Result<Vec<ContactRow>> {
    let rows = sqlx::query_as::<_, ContactRow>(
        "SELECT id, stelle, on_date, source, note, actor, created_at
         FROM case_contacts WHERE case_id = $1 ORDER BY on_date, id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// Deletes the contact `id` of the case; the row as it was, `None` when the case has no such
/// contact.
pub async fn delete(conn: &mut PgConnection, case_id: i64, id: i64) -> Result<Option<ContactRow>> {
    let row = sqlx::query_as::<_, ContactRow>(
        "DELETE FROM case_contacts WHERE case_id = $1 AND id = $2
         RETURNING id, stelle, on_date, source, note, actor, created_at",
    )
    .bind(case_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row)
}
