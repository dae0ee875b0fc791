//! Retrying quarantined mails: one mail is found in the quarantine folder by its Message-ID
//! (never by a remembered UID), moved back into the inbox and its record marked retried, so the
//! next scan handles it again. `quarantine retry` calls [`retry_one`] directly; the desk only
//! queues a retry (it holds no IMAP secret) and the daemon carries the queue out with
//! [`carry_out_queued`] while it holds the intake lock.

use sqlx::PgPool;
use thiserror::Error;

use crate::config::ImapSettings;
use crate::mailbox::{ImapError, Mailbox};
use crate::store::quarantine::{self as q, QuarantineRow};
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum RetryError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What became of one retry; the German text says it to staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Moved back into the inbox.
    Moved,
    /// No Message-ID recorded: a person must move it by hand.
    NoMessageId,
    /// Not (or no longer) in the quarantine folder; nothing changed.
    NotFound,
    /// The record was retried before; nothing changed.
    AlreadyRetried,
}

impl RetryOutcome {
    pub fn done(&self) -> bool {
        *self == RetryOutcome::Moved
    }

    /// The German sentence for staff (no mail data in it).
    pub fn text(&self, imap: &ImapSettings) -> String {
        match self {
            RetryOutcome::Moved => format!(
                "zurück in {} verschoben; der Dienst versucht es erneut.",
                imap.mailbox
            ),
            RetryOutcome::NoMessageId => format!(
                "ohne Message-ID nicht eindeutig auffindbar; bitte im Ordner {} von Hand in {} \
                 verschieben.",
                imap.quarantine_folder, imap.mailbox
            ),
            RetryOutcome::NotFound => {
                format!("im Ordner {} nicht gefunden.", imap.quarantine_folder)
            }
            RetryOutcome::AlreadyRetried => "wurde bereits erneut versucht.".to_string(),
        }
    }
}

/// Moves one quarantined mail back into the inbox and marks its record retried. Leaves the
/// quarantine folder selected.
pub async fn retry_one(
    mb: &mut Mailbox,
    pool: &PgPool,
    imap: &ImapSettings,
    row: &QuarantineRow,
) -> Result<RetryOutcome, RetryError> {
    if row.status != "quarantined" {
        return Ok(RetryOutcome::AlreadyRetried);
    }
    let Some(mid) = row.message_id.as_deref() else {
        return Ok(RetryOutcome::NoMessageId);
    };
    let uids = mb.find_by_message_id(&imap.quarantine_folder, mid).await?;
    if uids.is_empty() {
        return Ok(RetryOutcome::NotFound);
    }
    mb.move_uids(&uids, &imap.mailbox).await?;
    q::mark_retried(pool, row.id).await?;
    Ok(RetryOutcome::Moved)
}

/// The daemon's part: carries out every retry queued in the desk, records done or failed with
/// the German reason, and selects the inbox again for the scan that follows. The caller holds
/// the intake lock. Returns how many retries were handled.
pub async fn carry_out_queued(
    mb: &mut Mailbox,
    pool: &PgPool,
    imap: &ImapSettings,
) -> Result<usize, RetryError> {
    let queued = q::queued_retries(pool).await?;
    if queued.is_empty() {
        return Ok(0);
    }
    for r in &queued {
        let outcome = match q::get(pool, r.quarantine_id).await? {
            Some(row) => retry_one(mb, pool, imap, &row).await?,
            None => RetryOutcome::NotFound,
        };
        q::finish_retry(pool, r.id, outcome.done(), &outcome.text(imap)).await?;
        tracing::info!(
            retry = r.id,
            quarantine = r.quarantine_id,
            done = outcome.done(),
            "quarantine retry from the desk carried out"
        );
    }
    mb.select(&imap.mailbox).await?;
    Ok(queued.len())
}
