//! Desk forms sent once: a random token per rendered form, claimed by the first request that
//! carries it (`form_submissions`). Claimed in its own statement before the action runs, so a
//! second request (a double click, a reload of the POST) finds it at once; released again when
//! the action did not happen, so the user can send the corrected form.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::Result;

/// What [`claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The first request with this token: go ahead.
    First,
    /// Sent before; the case it concerned or created, once known.
    Repeated(Option<String>),
}

pub async fn claim(pool: &PgPool, token: &str, case_number: Option<&str>) -> Result<Claim> {
    let first: Option<(i32,)> = sqlx::query_as(
        "INSERT INTO form_submissions (token, case_number) VALUES ($1, $2)
         ON CONFLICT (token) DO NOTHING RETURNING 1",
    )
    .bind(token)
    .bind(case_number)
    .fetch_optional(pool)
    .await?;
    if first.is_some() {
        return Ok(Claim::First);
    }
    let seen: Option<(Option<String>,)> =
        sqlx::query_as("SELECT case_number FROM form_submissions WHERE token = $1")
            .bind(token)
            .fetch_optional(pool)
            .await?;
    Ok(Claim::Repeated(seen.and_then(|s| s.0)))
}

/// The action done: the case it created (for a repeat of `/vorgaenge/neu`).
pub async fn done(pool: &PgPool, token: &str, case_number: &str) -> Result<()> {
    sqlx::query("UPDATE form_submissions SET case_number = $2 WHERE token = $1")
        .bind(token)
        .bind(case_number)
        .execute(pool)
        .await?;
    Ok(())
}

/// The action did not happen (refused, stale, failed): the token may be sent again.
pub async fn release(pool: &PgPool, token: &str) -> Result<()> {
    sqlx::query("DELETE FROM form_submissions WHERE token = $1")
        .bind(token)
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets claims older than `before`.
pub async fn forget(pool: &PgPool, before: DateTime<Utc>) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM form_submissions WHERE at < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected())
}
