//! The outbox sender: `[smtp] parallel` workers, each claiming one due row, handing it to SMTP
//! and committing the result before it claims the next. Woken by LISTEN/NOTIFY on commit;
//! retries transient failures with capped exponential backoff. A row can be sent twice only if
//! the process dies between the server's acceptance and that commit — at most one row per
//! worker — and the Message-ID derived from the row makes such a repeat visible.

use sqlx::{Acquire, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use crate::app::App;
use crate::config::Settings;
use crate::domain::{AckStatus, OutboxKind};
use crate::failpoint;
use crate::metrics as m;
use crate::smtp::{SendOutcome, Sender};
use crate::store::outbox::{self as q, OutboxRow, SenderLock};
use crate::store::{cases, StoreError};

pub const CHANNEL: &str = "krm_outbox";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainStats {
    pub sent: usize,
    pub retry: usize,
    pub failed: usize,
    /// Pending rows left alone because another running sender holds them (`run --once`).
    pub busy_elsewhere: usize,
}

impl DrainStats {
    fn add(&mut self, o: &DrainStats) {
        self.sent += o.sent;
        self.retry += o.retry;
        self.failed += o.failed;
        self.busy_elsewhere += o.busy_elsewhere;
    }
}

/// Backoff after the n-th failed attempt: 30 s, 1 min, 2 min, … capped at one hour.
pub fn backoff_secs(attempts: i32) -> i64 {
    let n = attempts.clamp(1, 20) as u32 - 1;
    (30i64.saturating_mul(1i64 << n.min(16))).min(3600)
}

/// The lease on a claimed row: longer than a row can stay claimed under a live sender, so such a
/// sender never loses a row to another. A row is claimed into the workers' shared queue (at most
/// `2 × parallel` rows for `parallel` workers), so it may wait for one send of its worker before
/// its own; a send gives up after three times `timeout_secs`: two sends, plus a margin. A dead
/// sender's rows are taken over as soon as its lock is gone, whatever the lease.
fn lease_secs(settings: &Settings) -> i64 {
    lease_for(settings.smtp.timeout_secs)
}

fn lease_for(timeout_secs: u64) -> i64 {
    (timeout_secs as i64)
        .saturating_mul(2 * 3)
        .saturating_add(120)
        .max(120)
}

/// Sends every due row once, as its own sender (`run --once`). With `ignore_backoff`, rows
/// waiting out a retry delay get their attempt now; each row is tried at most once per call.
/// Rows that another running sender holds are left to it and counted in `busy_elsewhere`.
pub async fn drain(
    pool: &PgPool,
    sender: &Sender,
    settings: &Settings,
    ignore_backoff: bool,
) -> Result<DrainStats, StoreError> {
    let lock = SenderLock::acquire(pool).await?;
    let (_tx, stop) = watch::channel(false);
    let mut stats = drain_as(pool, sender, settings, lock.token(), ignore_backoff, &stop).await?;
    stats.busy_elsewhere = q::claimed_by_others(pool, lock.token()).await? as usize;
    lock.release().await;
    Ok(stats)
}

/// Runs `[smtp] parallel` workers until no due row is left (or `stop` flips). Each worker
/// sends one row at a time and commits its result before it takes the next, so a crash repeats
/// at most one send per worker. Rows are claimed a few at a time into a queue the workers share
/// (one claim statement per `2 × parallel` rows instead of one per row: claiming was the one
/// step the workers took in turn); what is left in it when the drain stops is given back.
async fn drain_as(
    pool: &PgPool,
    sender: &Sender,
    settings: &Settings,
    token: i32,
    ignore_backoff: bool,
    stop: &watch::Receiver<bool>,
) -> Result<DrainStats, StoreError> {
    // Rows are claimed in id order; a row tried in this call (a retry) is not claimed again.
    // Claims are taken one worker at a time, so that no worker claims from a position another
    // has already passed (a fast failure could otherwise be retried in the same call).
    let withdrawn = q::withdraw_ended_acks(pool).await?;
    if withdrawn > 0 {
        tracing::info!(
            withdrawn,
            "outbox: acknowledgements of cases ended meanwhile withdrawn"
        );
    }
    let parallel = settings.smtp.parallel.max(1);
    let queue = tokio::sync::Mutex::new(Claimed::default());
    let lease = lease_secs(settings);
    let batch = 2 * parallel as i64;
    let worker = || async {
        let mut stats = DrainStats::default();
        loop {
            if *stop.borrow() {
                break;
            }
            let row = {
                let mut claimed = queue.lock().await;
                if claimed.rows.is_empty() {
                    let rows =
                        q::claim_next(pool, token, ignore_backoff, claimed.after, lease, batch)
                            .await?;
                    if let Some(last) = rows.last() {
                        claimed.after = claimed.after.max(last.id);
                    }
                    claimed.rows.extend(rows);
                }
                claimed.rows.pop_front()
            };
            let Some(row) = row else {
                break;
            };
            let outcome = sender.send_raw(&row.recipient, &row.raw).await;
            record(pool, settings, &row, &outcome, &mut stats).await?;
        }
        Ok::<_, StoreError>(stats)
    };
    // Every worker finishes the row in hand even if another failed.
    let results = futures::future::join_all((0..parallel).map(|_| worker())).await;
    let left: Vec<i64> = queue.into_inner().rows.iter().map(|r| r.id).collect();
    if !left.is_empty() {
        // Where this fails, the rows are free when this sender's lock ends or their lease runs out.
        if let Err(e) = q::unclaim(pool, token, &left).await {
            tracing::warn!(rows = left.len(), error = %e, "outbox: could not give back claimed rows");
        }
    }
    let mut stats = DrainStats::default();
    let mut first_err = None;
    for r in results {
        match r {
            Ok(s) => stats.add(&s),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Ok(c) = q::counts(pool).await {
        m::outbox_pending(c.pending);
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

/// The drain's queue of claimed rows not yet taken by a worker.
#[derive(Default)]
struct Claimed {
    rows: std::collections::VecDeque<OutboxRow>,
    /// The highest id claimed in this drain; the next claim starts after it.
    after: i64,
}

async fn record(
    pool: &PgPool,
    settings: &Settings,
    row: &OutboxRow,
    outcome: &SendOutcome,
    stats: &mut DrainStats,
) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    if let SendOutcome::Accepted { code } = outcome {
        failpoint::hit(failpoint::AFTER_SMTP_BEFORE_MARK);
        // One statement each: the result is committed before this worker's next send.
        if let (Some(case_id), OutboxKind::Ack) = (row.case_id, row.kind) {
            q::record_ack_sent(&mut conn, row.id, case_id, code).await?;
            m::counter(m::ACKS_SENT, 1);
        } else {
            q::mark_sent(&mut conn, row.id, Some(code)).await?;
            m::counter(m::DIGESTS_SENT, 1);
        }
        stats.sent += 1;
        tracing::info!(outbox = row.id, kind = %row.kind, case_id = row.case_id, code = %code, "mail accepted by SMTP server");
        return Ok(());
    }
    let mut tx = conn.begin().await?;
    match outcome {
        // Recorded above, without a transaction.
        SendOutcome::Accepted { .. } => {}
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
            if let (Some(case_id), OutboxKind::Ack) = (row.case_id, row.kind) {
                mark_case_ack_failed(&mut tx, case_id, code.as_deref()).await?;
                m::counter(m::ACKS_FAILED, 1);
            }
            stats.failed += 1;
            tracing::warn!(outbox = row.id, kind = %row.kind, attempts = row.attempts, code = %code.as_deref().unwrap_or("-"), "SMTP delivery failed for good");
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The case's acknowledgement failed for good (its event names the SMTP status), unless a
/// bounce recorded meanwhile (`not_delivered`) or a staff entry (`manual`) stands there.
async fn mark_case_ack_failed(
    conn: &mut sqlx::PgConnection,
    case_id: i64,
    code: Option<&str>,
) -> Result<(), StoreError> {
    let current = cases::get(conn, case_id).await?.map(|c| c.ack_status);
    if matches!(current, Some(AckStatus::NotDelivered | AckStatus::Manual)) {
        return Ok(());
    }
    cases::set_ack_status(conn, case_id, AckStatus::Failed, code).await?;
    cases::add_event(
        conn,
        case_id,
        &cases::Event {
            actor: cases::DAEMON,
            action: "ack_failed",
            new_value: Some(AckStatus::Failed.as_db().to_string()),
            detail: code.map(|c| format!("SMTP-Status {c}")),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// Runs until `shutdown` flips: drains, then sleeps until a NOTIFY, the next due row (at most
/// 3 s while another sender holds rows, in case it dies), or 60 s.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let (pool, sender, settings) = (&app.pool, &app.sender, &app.settings);
    let mut failures = 0u32;
    let mut lock: Option<SenderLock> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
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
            match drain_round(pool, sender, settings, &mut lock, &shutdown).await {
                Ok(_) => failures = 0,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, "outbox: drain failed");
                }
            }
            let wait = match q::next_due(pool).await {
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

/// One drain of the daemon's sender, under its lock (taken again if its connection died).
async fn drain_round(
    pool: &PgPool,
    sender: &Sender,
    settings: &Settings,
    lock: &mut Option<SenderLock>,
    stop: &watch::Receiver<bool>,
) -> Result<DrainStats, StoreError> {
    let alive = match lock.as_mut() {
        Some(l) => l.alive().await,
        None => false,
    };
    if !alive {
        *lock = Some(SenderLock::acquire(pool).await?);
    }
    let Some(l) = lock.as_mut() else {
        return Ok(DrainStats::default());
    };
    // No send is in flight between rounds: a claim of ours still standing was left by an
    // error and would otherwise wait out its lease.
    let stale = l.release_claims().await?;
    if stale > 0 {
        tracing::warn!(rows = stale, "outbox: released claims left by an error");
    }
    drain_as(pool, sender, settings, l.token(), false, stop).await
}

#[cfg(test)]
mod tests {
    use super::{backoff_secs, lease_for};

    #[test]
    fn a_lease_outlasts_a_wait_in_the_queue_and_the_own_send() {
        for t in [1u64, 10, 30, 41, 60, 300] {
            let one_send = 3 * t as i64;
            assert!(
                lease_for(t) > 2 * one_send,
                "timeout {t}: lease {}",
                lease_for(t)
            );
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_secs(1), 30);
        assert_eq!(backoff_secs(2), 60);
        assert_eq!(backoff_secs(3), 120);
        assert_eq!(backoff_secs(10), 3600);
        assert_eq!(backoff_secs(100), 3600);
    }
}
