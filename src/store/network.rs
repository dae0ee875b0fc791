//! Network work: appointments with organisations (presentations, network meetings, working
//! groups) in `network_appointments`. Organisations only, never persons.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::{opt_text, text, Result};
use crate::domain::NetworkKind;

/// An appointment to record.
#[derive(Debug, Clone)]
pub struct NewAppointment<'a> {
    pub on_date: NaiveDate,
    pub kind: NetworkKind,
    pub organisations: &'a [String],
    /// The Ombudsstelle came on invitation.
    pub invited: bool,
    pub note: Option<&'a str>,
    pub actor: &'a str,
}

/// A recorded appointment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AppointmentRow {
    pub id: i64,
    pub on_date: NaiveDate,
    pub kind: NetworkKind,
    pub organisations: Vec<String>,
    pub invited: bool,
    pub note: Option<String>,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, a: &NewAppointment<'_>) -> Result<i64> {
    let organisations: Vec<String> = a.organisations.iter().map(|o| text(o)).collect();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO network_appointments (on_date, kind, organisations, invited, note, actor)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id",
    )
    .bind(a.on_date)
    .bind(a.kind)
    .bind(&organisations)
    .bind(a.invited)
    .bind(opt_text(a.note))
    .bind(text(a.actor))
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

const COLUMNS: &str = "id, on_date, kind, organisations, invited, note, actor, created_at";

/// Appointments from `from` to `to` (both inclusive, each optional), by date.
pub async fn list(
    conn: &mut PgConnection,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<AppointmentRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM network_appointments
         WHERE ($1::date IS NULL OR on_date >= $1) AND ($2::date IS NULL OR on_date <= $2)
         ORDER BY on_date, id"
    );
    let rows = sqlx::query_as::<_, AppointmentRow>(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows)
}

/// Deletes an appointment; the deleted row, `None` when there was none.
pub async fn delete(conn: &mut PgConnection, id: i64) -> Result<Option<AppointmentRow>> {
    let sql = format!("DELETE FROM network_appointments WHERE id = $1 RETURNING {COLUMNS}");
    let row = sqlx::query_as::<_, AppointmentRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row)
}
