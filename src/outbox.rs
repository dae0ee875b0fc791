//! The outbox sender: claims due rows with a lease, hands them to SMTP, and records the result.
//! Woken by LISTEN/NOTIFY on commit; retries transient failures with capped exponential backoff.
//! A row can be sent twice only if the process dies between the server's acceptance and the
//! commit that marks it sent; the Message-ID derived from the row makes such a repeat visible.

use futures::StreamExt;
use sqlx::{Acquire, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use crate::config::Settings;
use crate::failpoint;
use crate::metrics as m;
use crate::smtp::{SendOutcome, Sender};
use crate::store::outbox::{self as q, OutboxRow};
use crate::store::{cases, StoreError};

pub const CHANNEL: &str = "krm_outbox";
const CLAIM: i64 = 50;
const PARALLEL: usize = 4;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainStats {
    pub sent: usize,
    pub retry: usize,
    pub failed: usize,
}

/// Backoff after the n-th failed attempt: 30 s, 1 min, 2 min, … capped at one hour.
pub fn backoff_secs(attempts: i32) -> i64 {
    let n = attempts.clamp(1, 20) as u32 - 1;
    (30i64.saturating_mul(1i64 << n.min(16))).min(3600)
}

/// Sends every due row once. With `ignore_backoff` (`run --once`), rows waiting out a retry
/// delay get their attempt now; each row is tried at most once per call.
pub async fn drain(
    pool: &PgPool,
    sender: &Sender,
    settings: &Settings,
    ignore_backoff: bool,
) -> Result<DrainStats, StoreError> {
    let mut stats = DrainStats::default();
    let mut after_id = 0i64;
    loop {
        let rows = q::claim(pool, CLAIM, ignore_backoff, after_id).await?;
        if rows.is_empty() {
            break;
        }
        after_id = rows.iter().map(|r| r.id).max().unwrap_or(after_id);
        let results: Vec<(OutboxRow, SendOutcome)> = futures::stream::iter(rows)
            .map(|row| async move {
                let outcome = sender.send_raw(&row.recipient, &row.raw).await;
                (row, outcome)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for (row, outcome) in results {
            record(pool, settings, &row, &outcome, &mut stats).await?;
        }
    }
    if let Ok(c) = q::counts(pool).await {
        m::outbox_pending(c.pending);
    }
    Ok(stats)
}

async fn record(
    pool: &PgPool,
    settings: &Settings,
    row: &OutboxRow,
    outcome: &SendOutcome,
    stats: &mut DrainStats,
) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    match outcome {
        SendOutcome::Accepted { code } => {
            failpoint::hit(failpoint::AFTER_SMTP_BEFORE_MARK);
            q::mark_sent(&mut tx, row.id, Some(code)).await?;
            if let (Some(case_id), "ack") = (row.case_id, row.kind.as_str()) {
                mark_case_ack(&mut tx, case_id, "sent", None).await?;
                m::counter(m::ACKS_SENT, 1);
            } else {
                m::counter(m::DIGESTS_SENT, 1);
            }
            stats.sent += 1;
            tracing::info!(outbox = row.id, kind = %row.kind, case_id = row.case_id, code = %code, "mail accepted by SMTP server");
        }
        SendOutcome::Transient { code, message }
            if row.attempts < settings.smtp.max_attempts as i32 =>
        {
            let delay = backoff_secs(row.attempts);
            // The server's text may name the recipient: debug only.
            tracing::debug!(outbox = row.id, error = %message, "SMTP error text");
            q::mark_retry(&mut tx, row.id, delay, message, code.as_deref()).await?;
            stats.retry += 1;
            tracing::warn!(
                outbox = row.id,
                attempt = row.attempts,
                code = %code.as_deref().unwrap_or("-"),
                retry_in_secs = delay,
                "SMTP delivery deferred"
            );
        }
        SendOutcome::Transient { code, message } | SendOutcome::Permanent { code, message } => {
            q::mark_failed(&mut tx, row.id, message, code.as_deref()).await?;
            if let (Some(case_id), "ack") = (row.case_id, row.kind.as_str()) {
                mark_case_ack(&mut tx, case_id, "failed", code.as_deref()).await?;
                m::counter(m::ACKS_FAILED, 1);
            }
            stats.failed += 1;
            tracing::warn!(outbox = row.id, kind = %row.kind, attempts = row.attempts, code = %code.as_deref().unwrap_or("-"), "SMTP delivery failed for good");
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn mark_case_ack(
    conn: &mut sqlx::PgConnection,
    case_id: i64,
    status: &str,
    code: Option<&str>,
) -> Result<(), StoreError> {
    // A bounce recorded meanwhile (not_delivered) or a staff entry (manual) stays.
    let current = cases::get(conn, case_id).await?.map(|c| c.ack_status);
    if matches!(current.as_deref(), Some("not_delivered" | "manual")) {
        return Ok(());
    }
    cases::set_ack_status(conn, case_id, status, code).await?;
    cases::add_event(
        conn,
        case_id,
        &cases::Event {
            actor: cases::DAEMON,
            action: if status == "sent" {
                "ack_sent"
            } else {
                "ack_failed"
            },
            new_value: Some(status.to_string()),
            detail: code.map(|c| format!("SMTP-Status {c}")),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// Runs until `shutdown` flips: drains, then sleeps until a NOTIFY, the next due row, or 60 s.
pub async fn run(
    pool: PgPool,
    sender: Arc<Sender>,
    settings: Arc<Settings>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut l) => match l.listen(CHANNEL).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "outbox: LISTEN failed; polling instead");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "outbox: database unreachable; polling instead");
                None
            }
        };
        loop {
            if *shutdown.borrow() {
                return;
            }
            match drain(&pool, &sender, &settings, false).await {
                Ok(_) => failures = 0,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, "outbox: drain failed");
                }
            }
            let wait = match q::next_due(&pool).await {
                Ok(Some(t)) => (t - chrono::Utc::now())
                    .to_std()
                    .unwrap_or(Duration::from_millis(100))
                    .min(Duration::from_secs(60)),
                _ => Duration::from_secs(if failures > 0 { 5 } else { 60 }),
            }
            .max(Duration::from_millis(50));
            match listener.as_mut() {
                Some(l) => {
                    tokio::select! {
                        n = l.recv() => {
                            if n.is_err() {
                                break; // reconnect the listener
                            }
                        }
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => return,
                    }
                }
                None => {
                    if crate::stop::sleep_or_stop(wait.min(Duration::from_secs(5)), &mut shutdown)
                        .await
                    {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_secs;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_secs(1), 30);
        assert_eq!(backoff_secs(2), 60);
        assert_eq!(backoff_secs(3), 120);
        assert_eq!(backoff_secs(10), 3600);
        assert_eq!(backoff_secs(100), 3600);
    }
}
