//! Retention: removes the personal data of cases that ended long ago and keeps each case as an
//! anonymous statistics record. The database goes first (one transaction per case, together
//! with its deletion-log row); then the server copies on IMAP, retried on later runs while the
//! server is away. Open and on-hold cases are never touched.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::watch;

use crate::app::App;
use crate::config::ImapSettings;
use crate::domain::CaseStatus;
use crate::mailbox::{ImapError, Mailbox};
use crate::message;
use crate::stop::sleep_or_stop;
use crate::store::purge::{self as q, Candidate, Pending, Removal};
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum PurgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("eine andere Löschung läuft gerade (z. B. der tägliche Lauf des Dienstes); bitte später erneut versuchen")]
    Busy,
    #[error("{0}")]
    Bound(String),
}

impl From<sqlx::Error> for PurgeError {
    fn from(e: sqlx::Error) -> Self {
        PurgeError::Store(StoreError::Sql(e))
    }
}

/// Which cases a run purges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Cases that ended (closed, discarded, merged) before this instant.
    EndedBefore(DateTime<Utc>),
    /// Case numbers from a deletion log: replayed after restoring a backup, whatever their
    /// status in the restored database — what was deleted once stays deleted.
    Replay(Vec<String>),
}

impl Selection {
    /// `--closed-before DATE`: ended before the start of that day (Europe/Berlin).
    pub fn closed_before(date: NaiveDate, now: DateTime<Utc>) -> Result<Selection, PurgeError> {
        if date > crate::calendar::berlin_date(now) + chrono::Days::new(1) {
            return Err(PurgeError::Bound(format!(
                "--closed-before {date} liegt in der Zukunft"
            )));
        }
        crate::calendar::berlin_local_to_utc(date, NaiveTime::MIN)
            .map(Selection::EndedBefore)
            .ok_or_else(|| PurgeError::Bound(format!("{date}: Datum außerhalb des Bereichs")))
    }

    /// `--older-than 730d` / `[retention] closed_older_than`: ended more than this long ago.
    pub fn older_than(d: chrono::Duration, now: DateTime<Utc>) -> Result<Selection, PurgeError> {
        now.checked_sub_signed(d)
            .map(Selection::EndedBefore)
            .ok_or_else(|| PurgeError::Bound("Dauer zu groß".into()))
    }
}

/// Extracts case numbers (KRM-YYYY-NNNNN) from a deletion log export, a journal excerpt or a
/// plain list, in order of first appearance.
pub fn case_numbers_in(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\bKRM-\d{4}-\d{5}\b").expect("literal regex");
    let mut out: Vec<String> = Vec::new();
    for m in re.find_iter(text) {
        let n = m.as_str().to_string();
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

#[derive(Debug, Clone)]
pub struct CaseResult {
    pub number: String,
    pub status: CaseStatus,
    pub ended_at: Option<DateTime<Utc>>,
    pub removal: Removal,
}

/// The IMAP side of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerCleanup {
    /// Mails deleted from the processed and quarantine folders.
    pub deleted: usize,
    /// Queued copies that were no longer on the server (deleted by hand, never moved, …).
    pub not_found: usize,
    /// Copies still queued after this run (retried next run).
    pub pending: i64,
    /// Why the server side stopped, if it did (no mail data in it).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PurgeReport {
    pub dry_run: bool,
    pub cases: Vec<CaseResult>,
    /// Replay only: numbers the restored database does not know.
    pub unknown: Vec<String>,
    /// Replay only: numbers already purged in the restored database.
    pub already_purged: Vec<String>,
    /// None when the server side was not attempted (dry run, no IMAP settings).
    pub server: Option<ServerCleanup>,
    /// Copies queued from earlier runs (dry run: what the next run would retry).
    pub pending_before: i64,
}

/// The deletion-log text for one case: what went, as counts (no content).
pub fn describe(r: &Removal, replay: bool) -> String {
    let mut parts = vec![
        format!(
            "Mails: {} (Rohfassung, Text, Absender, Empfänger, Betreff)",
            r.messages
        ),
        format!("Anhänge: {}", r.attachments),
        format!(
            "Verlaufseinträge: {} (Werte, Bemerkungen, genannte Personen)",
            r.events
        ),
        format!("ausgehende Mails: {}", r.outbox),
        format!("Quarantäneeinträge: {}", r.quarantine),
    ];
    if r.rule_evidence {
        parts.push("Regelbelege".into());
    }
    if r.contact_notes > 0 {
        parts.push(format!("Bemerkungen zu Kontakten: {}", r.contact_notes));
    }
    parts.push(format!(
        "Serverkopien zur Löschung vorgemerkt: {}",
        r.server_copies
    ));
    let text = parts.join("; ");
    if replay {
        format!("Wiederholung nach Wiederherstellung einer Sicherung: {text}")
    } else {
        text
    }
}

fn stopped(stop: Option<&watch::Receiver<bool>>) -> bool {
    stop.is_some_and(|s| *s.borrow())
}

/// One retention run. `imap` None leaves the server side for a later run.
pub async fn run(
    pool: &PgPool,
    imap: Option<&ImapSettings>,
    selection: &Selection,
    dry_run: bool,
    actor: &str,
    now: DateTime<Utc>,
    stop: Option<&watch::Receiver<bool>>,
) -> Result<PurgeReport, PurgeError> {
    let mut report = PurgeReport {
        dry_run,
        pending_before: q::pending_count(pool).await?,
        ..Default::default()
    };
    let candidates: Vec<Candidate> = match selection {
        Selection::EndedBefore(cutoff) => q::candidates(pool, *cutoff).await?,
        Selection::Replay(numbers) => {
            let found = q::by_numbers(pool, numbers).await?;
            report.unknown = numbers
                .iter()
                .filter(|n| !found.iter().any(|(c, _)| &c.number == *n))
                .cloned()
                .collect();
            let mut todo = Vec::new();
            for (c, purged) in found {
                if purged {
                    if !dry_run {
                        q::requeue_server_copies(pool, c.id, &c.number).await?;
                    }
                    report.already_purged.push(c.number);
                } else {
                    todo.push(c);
                }
            }
            todo
        }
    };

    if dry_run {
        let mut conn = pool.acquire().await?;
        for c in candidates {
            let removal = q::removal(&mut conn, c.id).await?;
            report.cases.push(CaseResult {
                number: c.number,
                status: c.status,
                ended_at: c.ended_at,
                removal,
            });
        }
        return Ok(report);
    }

    // One purge at a time across instances; the lock lives as long as this connection.
    let opts = pool.connect_options().as_ref().clone();
    let mut lock = PgConnection::connect_with(&opts).await?;
    if !q::try_lock(&mut lock).await? {
        let _ = lock.close().await;
        return Err(PurgeError::Busy);
    }
    let replay = matches!(selection, Selection::Replay(_));
    for c in candidates {
        if stopped(stop) {
            break;
        }
        let mut tx = pool.begin().await?;
        if !q::lock_unpurged(&mut tx, c.id).await? {
            continue;
        }
        if let Selection::EndedBefore(cutoff) = selection {
            // Reopened by a follow-up or by staff since the list was made: keep it.
            if !q::still_eligible(&mut tx, c.id, *cutoff).await? {
                continue;
            }
        }
        let removal = q::removal(&mut tx, c.id).await?;
        let what = describe(&removal, replay);
        q::purge_case(&mut tx, c.id, &c.number, actor, &what, now).await?;
        tx.commit().await?;
        tracing::info!(case = %c.number, messages = removal.messages, server_copies = removal.server_copies, "case purged: personal data removed");
        report.cases.push(CaseResult {
            number: c.number,
            status: c.status,
            ended_at: c.ended_at,
            removal,
        });
    }
    if let Some(imap) = imap {
        if !stopped(stop) {
            report.server = Some(cleanup_server_copies(pool, imap, now, stop).await?);
        }
    }
    let _ = lock.close().await;
    Ok(report)
}

/// Deletes queued server copies. An unreachable server leaves them queued (with the reason)
/// for the next run; the database side is already done.
pub async fn cleanup_server_copies(
    pool: &PgPool,
    imap: &ImapSettings,
    now: DateTime<Utc>,
    stop: Option<&watch::Receiver<bool>>,
) -> Result<ServerCleanup, PurgeError> {
    let rows = q::pending(pool).await?;
    let mut out = ServerCleanup::default();
    if rows.is_empty() {
        return Ok(out);
    }
    let mut mb = match Mailbox::connect(imap).await {
        Ok(mb) => mb,
        Err(e) => {
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let msg = e.to_string();
            q::pending_failed(pool, &ids, &msg).await?;
            tracing::warn!(error = %msg, pending = rows.len(), "purge: IMAP unreachable; server copies stay queued for the next run");
            out.pending = rows.len() as i64;
            out.error = Some(msg);
            return Ok(out);
        }
    };
    // Per case: (deleted, not found), for the deletion log once a case is complete.
    let mut per_case: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        if stopped(stop) {
            break;
        }
        let folder = if row.folder == "quarantine" {
            &imap.quarantine_folder
        } else {
            &imap.processed_folder
        };
        match delete_copies(&mut mb, folder, row).await {
            Ok(n) => {
                q::pending_done(pool, row.id).await?;
                let e = per_case.entry(row.case_number.clone()).or_default();
                if n > 0 {
                    out.deleted += n;
                    e.0 += n;
                } else {
                    out.not_found += 1;
                    e.1 += 1;
                }
            }
            Err(e) => {
                let ids: Vec<i64> = rows[i..].iter().map(|r| r.id).collect();
                let msg = e.to_string();
                q::pending_failed(pool, &ids, &msg).await?;
                tracing::warn!(error = %msg, case = %row.case_number, "purge: IMAP error; the remaining server copies stay queued");
                out.error = Some(msg);
                break;
            }
        }
    }
    mb.logout().await;
    for (number, (deleted, not_found)) in per_case {
        if q::case_has_pending(pool, &number).await? {
            continue;
        }
        let what = format!(
            "Serverkopien gelöscht: {deleted} (Ordner {}, {}); nicht mehr vorhanden: {not_found}",
            imap.processed_folder, imap.quarantine_folder
        );
        q::log_pool(pool, &number, now, &what).await?;
        tracing::info!(case = %number, deleted, not_found, "purge: server copies deleted");
    }
    out.pending = q::pending_count(pool).await?;
    Ok(out)
}

/// IMAP quoted strings carry printable ASCII only; anything else is found by size instead.
fn searchable(mid: &str) -> bool {
    mid.len() < 990 && mid.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Finds the copies of one mail in `folder` and deletes those that are exactly it (same
/// content hash, or same Message-ID where no hash is known). Returns how many went.
async fn delete_copies(mb: &mut Mailbox, folder: &str, row: &Pending) -> Result<usize, ImapError> {
    let uids = match (&row.message_id, row.size) {
        (Some(mid), _) if searchable(mid) => mb.find_by_message_id(folder, mid).await?,
        (_, Some(size)) if size > 0 && row.content_hash.is_some() => {
            mb.select(folder).await?;
            mb.search(&format!("LARGER {} SMALLER {}", size - 1, size + 1))
                .await?
        }
        _ => return Ok(0),
    };
    if uids.is_empty() {
        return Ok(0);
    }
    let expected = row.size.unwrap_or(0).max(0) as usize * uids.len();
    let bodies = mb.fetch_bodies(&uids, expected).await?;
    let doomed: Vec<u32> = bodies
        .iter()
        .filter(|(_, raw)| is_the_mail(row, raw))
        .map(|(uid, _)| *uid)
        .collect();
    mb.delete_uids(&doomed).await?;
    Ok(doomed.len())
}

/// Only the very mail goes: a Message-ID alone may be shared by another case's mail.
fn is_the_mail(row: &Pending, raw: &[u8]) -> bool {
    match (&row.content_hash, &row.message_id) {
        (Some(h), _) => message::content_hash(raw) == *h,
        (None, Some(mid)) => message::raw_message_id(raw).as_deref() == Some(mid.as_str()),
        (None, None) => false,
    }
}

/// First run this long after start (a crash loop does not purge in a loop), then daily.
const EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// Removes access-log rows older than `[retention] access_log_days` (logged as a count).
pub async fn access_log_pass(pool: &PgPool, days: u32, now: DateTime<Utc>) {
    match crate::logs::purge_access(pool, days, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            removed = n,
            days,
            "retention: old access-log entries removed"
        ),
        Err(e) => tracing::error!(error = %e, "retention: removing old access-log entries failed"),
    }
}

/// The daemon's daily retention run: the access log always, cases when `[retention]
/// closed_older_than` is set. Every instance runs it; the advisory lock lets one case purge
/// at a time through.
pub async fn daily(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut wait = Duration::from_secs(app.settings.retention.first_run_after_secs);
    loop {
        if sleep_or_stop(wait, &mut stop).await {
            return;
        }
        wait = EVERY;
        access_log_pass(
            &app.pool,
            app.settings.retention.access_log_days,
            Utc::now(),
        )
        .await;
        match retention_pass(&app, Utc::now(), Some(&stop)).await {
            Ok(Some(r)) => {
                let s = r.server.unwrap_or_default();
                tracing::info!(
                    purged = r.cases.len(),
                    server_copies_deleted = s.deleted,
                    server_copies_pending = s.pending,
                    "retention run finished"
                );
            }
            Ok(None) => {}
            Err(PurgeError::Busy) => {
                tracing::info!("retention: another instance is purging; skipped");
            }
            Err(e) => tracing::error!(error = %e, "retention run failed; retried tomorrow"),
        }
    }
}

/// One pass of the configured retention (`[retention] closed_older_than`) as the daemon runs
/// it: cases past the period, server copies with the daemon's IMAP settings. None when no
/// period is configured.
pub async fn retention_pass(
    app: &App,
    now: DateTime<Utc>,
    stop: Option<&watch::Receiver<bool>>,
) -> Result<Option<PurgeReport>, PurgeError> {
    let Some(keep) = app.settings.retention.closed_older_than else {
        return Ok(None);
    };
    let selection = Selection::older_than(keep, now)?;
    let imap = app.settings.require_imap().ok().map(|_| &app.settings.imap);
    run(
        &app.pool,
        imap,
        &selection,
        false,
        crate::store::cases::DAEMON,
        now,
        stop,
    )
    .await
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_numbers_from_any_text() {
        let t = "case_number\tdeleted_at\twhat\nKRM-2024-00012\t2026-01-01\tMails: 1\n\
                 Nov 25 krm-intake[1]: case purged case=KRM-2024-00013 messages=1\n\
                 KRM-2024-00012 again; not a number: KRM-24-1, XKRM-2024-00014";
        assert_eq!(
            case_numbers_in(t),
            vec!["KRM-2024-00012".to_string(), "KRM-2024-00013".to_string()]
        );
    }

    #[test]
    fn closed_before_is_the_start_of_the_berlin_day() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let d = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        assert_eq!(
            Selection::closed_before(d, now).unwrap(),
            Selection::EndedBefore(
                DateTime::parse_from_rfc3339("2024-12-31T23:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc)
            )
        );
        let future = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert!(Selection::closed_before(future, now).is_err());
    }

    #[test]
    fn description_names_counts_only() {
        let r = Removal {
            messages: 2,
            attachments: 1,
            events: 5,
            outbox: 1,
            quarantine: 0,
            server_copies: 2,
            rule_evidence: true,
            contact_notes: 1,
        };
        let d = describe(&r, false);
        assert!(d.starts_with("Mails: 2"), "{d}");
        assert!(
            d.contains("Regelbelege")
                && d.contains("Bemerkungen zu Kontakten: 1")
                && d.contains("vorgemerkt: 2"),
            "{d}"
        );
        assert!(describe(&r, true).starts_with("Wiederholung"));
    }

    #[test]
    fn only_printable_ascii_ids_are_searched() {
        assert!(searchable("<abc.123@mail.test>"));
        assert!(!searchable("<äbc@mail.test>"));
        assert!(!searchable("<a\r\nb@x>"));
    }
}
