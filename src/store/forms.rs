//! Desk forms sent once: a random token per rendered form, claimed by the first request that
//! carries it (`form_submissions`). Claimed in its own statement before the action runs, so a
//! second request (a double click, a reload of the POST) finds it at once; settled when the
//! action is done, released again when it did not happen, so the user can send the corrected
//! form. A repeat that finds the first still running waits for it (see [`claim`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::Result;

/// How long a repeat waits for the first request with its token to settle.
pub const WAIT_FOR_FIRST: Duration = Duration::from_secs(10);

/// What [`claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The first request with this token: go ahead.
    First,
    /// Sent before and done; the case it concerned or created, where known.
    Repeated(Option<String>),
    /// Sent before, and that request has not settled within [`WAIT_FOR_FIRST`]: it is very slow
    /// or was cut off (the process ended between its claim and its settling).
    Unsettled,
}

/// Claims `token` for this request. A repeat whose first request is still running waits until
/// that one is done (then [`Claim::Repeated`]) or released (then this request goes ahead as
/// the first), at most [`WAIT_FOR_FIRST`].
pub async fn claim(pool: &PgPool, token: &str, case_number: Option<&str>) -> Result<Claim> {
    let until = tokio::time::Instant::now() + WAIT_FOR_FIRST;
    loop {
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
        let seen: Option<(bool, Option<String>)> =
            sqlx::query_as("SELECT settled, case_number FROM form_submissions WHERE token = $1")
                .bind(token)
                .fetch_optional(pool)
                .await?;
        match seen {
            Some((true, number)) => return Ok(Claim::Repeated(number)),
            // Released meanwhile: claim it again (above).
            None if tokio::time::Instant::now() < until => {}
            Some((false, _)) if tokio::time::Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => return Ok(Claim::Unsettled),
        }
    }
}

/// The action done; `case_number` is the case it created (for a repeat of `/vorgaenge/neu`).
pub async fn done(pool: &PgPool, token: &str, case_number: &str) -> Result<()> {
    sqlx::query("UPDATE form_submissions SET settled = true, case_number = $2 WHERE token = $1")
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
