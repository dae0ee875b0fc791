//! Answers captured from the office's sent mail. Staff answer from their own mail client; the
//! instance holding the intake lock reads the `[answers]` folders read-only (EXAMINE, BODY.PEEK —
//! never a flag, move or delete there), headers first, and records a sent mail only when it
//! belongs to a case: as the case's answer (its date becomes `answered_on`), interim reply,
//! contact with an outside body, or internal correspondence. Mail that belongs to no case is
//! never stored. Matching is pure (below); the pass is the I/O around it.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::{LazyLock, Mutex};

use crate::app::Context;
use crate::calendar;
use crate::domain::{CaseStatus, MessageRole};
use crate::mailbox::{ImapError, MailHeader, Mailbox};
use crate::message::{self, Limits, ParsedMail};
use crate::scan::ScanError;
use crate::store::answers::{self as q, AnswerCase, FolderState};
use crate::store::cases::{self, Event, Origin, DAEMON};

// ---------------------------------------------------------------------------------------------
// Pure matching
// ---------------------------------------------------------------------------------------------

/// What a sent mail of a case is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentKind {
    /// To the person or organisation the case came from: the final answer.
    Answer,
    /// Like an answer, with an interim marker in the subject.
    InterimReply,
    /// To an outside body of the catalogue (`rules/stellen.toml`), by its name.
    Contact(String),
    /// Anything else, e.g. to a Jobcenter team: kept, no date set.
    Internal,
}

impl SentKind {
    pub fn role(&self) -> MessageRole {
        match self {
            SentKind::Answer => MessageRole::Answer,
            SentKind::InterimReply => MessageRole::InterimReply,
            SentKind::Contact(_) => MessageRole::Contact,
            SentKind::Internal => MessageRole::Internal,
        }
    }

    /// The audit log's action for a captured mail of this kind.
    pub fn action(&self) -> &'static str {
        match self {
            SentKind::Answer => "answer_captured",
            SentKind::InterimReply => "interim_reply_captured",
            SentKind::Contact(_) => "contact_captured",
            SentKind::Internal => "internal_captured",
        }
    }
}

/// What a sent mail is matched against.
#[derive(Debug, Clone, Default)]
pub struct CaseParties {
    /// From and Reply-To addresses of the mails the case received (lower-cased).
    pub senders: Vec<String>,
    /// Domains of the rule that recognised the case's organisation.
    pub rule_domains: Vec<String>,
}

/// `addr` (lower-cased) lies in `domain` or one of its subdomains.
pub fn in_domain(addr: &str, domain: &str) -> bool {
    let Some((_, d)) = addr.rsplit_once('@') else {
        return false;
    };
    let domain = domain.trim().trim_start_matches('.').to_lowercase();
    !domain.is_empty() && (d == domain || d.ends_with(&format!(".{domain}")))
}

/// The domains a rule matched on, from the case's stored evidence (`from_address`,
/// `from_domain`, `reply_to`): where the organisation's people write from.
pub fn rule_domains(evidence: Option<&serde_json::Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Some(items) = evidence.and_then(|e| e.as_array()) else {
        return out;
    };
    for item in items {
        let field = item.get("field").and_then(|f| f.as_str()).unwrap_or("");
        if !matches!(field, "from_address" | "from_domain" | "reply_to") {
            continue;
        }
        let Some(text) = item.get("text").and_then(|t| t.as_str()) else {
            continue;
        };
        let t = text.trim().to_lowercase();
        let d = t.rsplit_once('@').map_or(t.as_str(), |(_, d)| d);
        if !d.is_empty() && d.contains('.') && !out.iter().any(|o| o == d) {
            out.push(d.to_string());
        }
    }
    out
}

/// A marker word of `markers` in the subject (case-insensitive).
pub fn is_interim(subject: Option<&str>, markers: &[String]) -> bool {
    let Some(s) = subject else {
        return false;
    };
    let s = s.to_lowercase();
    markers
        .iter()
        .any(|m| !m.trim().is_empty() && s.contains(&m.trim().to_lowercase()))
}

/// Answer, contact or internal: `recipients` are the lower-cased To and Cc addresses;
/// `stelle_of` names the catalogue body an address belongs to.
pub fn classify(
    recipients: &[String],
    case: &CaseParties,
    subject: Option<&str>,
    markers: &[String],
    stelle_of: impl Fn(&str) -> Option<String>,
) -> SentKind {
    let to_case = recipients.iter().any(|r| {
        case.senders.iter().any(|s| s == r) || case.rule_domains.iter().any(|d| in_domain(r, d))
    });
    if to_case {
        return if is_interim(subject, markers) {
            SentKind::InterimReply
        } else {
            SentKind::Answer
        };
    }
    match recipients.iter().find_map(|r| stelle_of(r)) {
        Some(name) => SentKind::Contact(name),
        None => SentKind::Internal,
    }
}

/// The Berlin date a sent mail went out: its INTERNALDATE, else its Date header, else `now`.
pub fn sent_on(
    internal: Option<DateTime<Utc>>,
    date: Option<DateTime<FixedOffset>>,
    now: DateTime<Utc>,
) -> NaiveDate {
    let at = internal
        .or_else(|| date.map(|d| d.with_timezone(&Utc)))
        .unwrap_or(now);
    calendar::berlin_date(at)
}

/// Lower-cased To and Cc addresses.
fn recipients(mail: &ParsedMail) -> Vec<String> {
    mail.to
        .iter()
        .chain(&mail.cc)
        .map(|a| a.normalized())
        .filter(|a| !a.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The pass
// ---------------------------------------------------------------------------------------------

/// What one pass recorded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassStats {
    pub answers: usize,
    pub interim_replies: usize,
    pub contacts: usize,
    pub internal: usize,
    /// Sent mails that belong to no case (not stored) or were recorded before.
    pub skipped: usize,
}

impl PassStats {
    pub fn recorded(&self) -> usize {
        self.answers + self.interim_replies + self.contacts + self.internal
    }

    fn count(&mut self, kind: &SentKind) {
        match kind {
            SentKind::Answer => self.answers += 1,
            SentKind::InterimReply => self.interim_replies += 1,
            SentKind::Contact(_) => self.contacts += 1,
            SentKind::Internal => self.internal += 1,
        }
    }
}

/// Folders already reported missing: one warning per folder and process.
static WARNED_MISSING: LazyLock<Mutex<BTreeSet<String>>> =
    LazyLock::new(|| Mutex::new(BTreeSet::new()));

/// Headers fetched per command.
const HEADER_BATCH: usize = 200;

/// Reads every `[answers]` folder once. The mailbox is left with whatever folder was examined
/// last: the caller selects its inbox again.
pub async fn pass(
    mb: &mut Mailbox,
    pool: &PgPool,
    ctx: &Context,
    stelle_of: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<PassStats, ScanError> {
    let mut stats = PassStats::default();
    for folder in &ctx.settings.answers.folders {
        if !mb.folder_exists(folder).await? {
            let first = WARNED_MISSING
                .lock()
                .map(|mut w| w.insert(folder.clone()))
                .unwrap_or(false);
            if first {
                tracing::warn!(folder = %folder, "answers folder does not exist; sent mail there is not captured");
            }
            continue;
        }
        folder_pass(mb, pool, ctx, folder, stelle_of, &mut stats).await?;
    }
    if stats.recorded() > 0 {
        tracing::info!(
            answers = stats.answers,
            interim_replies = stats.interim_replies,
            contacts = stats.contacts,
            internal = stats.internal,
            "sent mail captured"
        );
    }
    Ok(stats)
}

/// One folder from the UID after the last one seen; a changed UIDVALIDITY starts from 1 (what
/// was recorded before stays recorded once: `messages_out_once`).
async fn folder_pass(
    mb: &mut Mailbox,
    pool: &PgPool,
    ctx: &Context,
    folder: &str,
    stelle_of: &(dyn Fn(&str) -> Option<String> + Sync),
    stats: &mut PassStats,
) -> Result<(), ScanError> {
    let uidvalidity = i64::from(mb.examine(folder).await?);
    let known = {
        let mut conn = pool.acquire().await?;
        q::folder_state(&mut conn, folder).await?
    };
    let first = match known {
        Some(s) if s.uidvalidity == uidvalidity => s.last_uid + 1,
        Some(_) => {
            tracing::warn!(folder = %folder, "UIDVALIDITY of an answers folder changed: reading it again from the start");
            1
        }
        None => 1,
    };
    let uids: Vec<u32> = mb
        .search(&format!("UID {first}:*"))
        .await?
        .into_iter()
        .filter(|u| i64::from(*u) >= first)
        .collect();
    for chunk in uids.chunks(HEADER_BATCH) {
        let headers = mb.fetch_headers(chunk).await?;
        let mut belonging: Vec<(MailHeader, i64)> = Vec::new();
        for h in headers {
            match case_of_header(pool, &h).await? {
                Some(case_id) => belonging.push((h, case_id)),
                None => stats.skipped += 1,
            }
        }
        record_belonging(mb, pool, ctx, belonging, stelle_of, stats).await?;
        let last = chunk.iter().copied().max().unwrap_or(0);
        let mut conn = pool.acquire().await?;
        q::set_folder_state(
            &mut conn,
            folder,
            FolderState {
                uidvalidity,
                last_uid: i64::from(last),
            },
        )
        .await?;
    }
    if known.is_none() && uids.is_empty() {
        let mut conn = pool.acquire().await?;
        let state = FolderState {
            uidvalidity,
            last_uid: 0,
        };
        q::set_folder_state(&mut conn, folder, state).await?;
    }
    Ok(())
}

fn limits(ctx: &Context) -> Limits {
    Limits {
        max_size: ctx.settings.imap.max_message_size,
        ..Limits::default()
    }
}

/// The case a sent mail belongs to, from its header alone: a case number in the subject that
/// exists, else a Message-ID in In-Reply-To/References of a mail of a case or of our own
/// acknowledgement.
async fn case_of_header(pool: &PgPool, h: &MailHeader) -> Result<Option<i64>, ScanError> {
    let Ok(mail) = message::parse(&h.header, &Limits::default()) else {
        tracing::debug!(uid = h.uid, "sent mail: header not readable; not captured");
        return Ok(None);
    };
    let mut conn = pool.acquire().await?;
    if let Some(n) = mail
        .subject
        .as_deref()
        .and_then(message::case_number_in_subject)
    {
        let found = cases::ids_by_number(&mut conn, &[n.to_string()]).await?;
        if let Some((_, id)) = found.first() {
            return Ok(Some(*id));
        }
    }
    let refs: Vec<String> = mail
        .in_reply_to
        .iter()
        .chain(&mail.references)
        .cloned()
        .collect();
    Ok(cases::find_by_references(&mut conn, &refs).await?)
}

/// Fetches the bodies of the mails that belong to a case and records each.
async fn record_belonging(
    mb: &mut Mailbox,
    pool: &PgPool,
    ctx: &Context,
    belonging: Vec<(MailHeader, i64)>,
    stelle_of: &(dyn Fn(&str) -> Option<String> + Sync),
    stats: &mut PassStats,
) -> Result<(), ScanError> {
    if belonging.is_empty() {
        return Ok(());
    }
    let uids: Vec<u32> = belonging.iter().map(|(h, _)| h.uid).collect();
    let bodies = mb.fetch_bodies(&uids, 0).await?;
    let limits = limits(ctx);
    for (h, case_id) in belonging {
        let Some((_, raw)) = bodies.iter().find(|(u, _)| *u == h.uid) else {
            continue;
        };
        let mail = match message::parse(raw, &limits) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(uid = h.uid, "sent mail not captured: {}", e.reason_de());
                stats.skipped += 1;
                continue;
            }
        };
        let sent = Sent {
            internal_date: h.internal_date,
            mail: &mail,
            raw,
        };
        match record(pool, ctx, case_id, &sent, stelle_of).await? {
            Some((kind, number)) => {
                tracing::info!(case = %number, kind = kind.action(), "sent mail recorded");
                stats.count(&kind);
            }
            None => stats.skipped += 1,
        }
    }
    Ok(())
}

struct Sent<'a> {
    internal_date: Option<DateTime<Utc>>,
    mail: &'a ParsedMail,
    raw: &'a [u8],
}

/// Follows merges to the case that lives on (at most 16 steps), locked for update.
async fn live_case(
    conn: &mut sqlx::PgConnection,
    mut id: i64,
) -> Result<Option<AnswerCase>, ScanError> {
    for _ in 0..16 {
        let Some(c) = q::case_for_update(conn, id).await? else {
            return Ok(None);
        };
        match (c.status, c.merged_into) {
            (CaseStatus::Merged, Some(next)) => id = next,
            _ => return Ok(Some(c)),
        }
    }
    Ok(None)
}

/// Records one sent mail of a case in one transaction; `None` when it was recorded before.
async fn record(
    pool: &PgPool,
    ctx: &Context,
    case_id: i64,
    sent: &Sent<'_>,
    stelle_of: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Option<(SentKind, String)>, ScanError> {
    let settings = &ctx.settings;
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    let Some(case) = live_case(&mut tx, case_id).await? else {
        return Ok(None);
    };
    let parties = CaseParties {
        senders: case.sender_addresses.clone(),
        rule_domains: rule_domains(case.rule_evidence.as_ref()),
    };
    let kind = classify(
        &recipients(sent.mail),
        &parties,
        sent.mail.subject.as_deref(),
        &settings.answers.interim_markers,
        stelle_of,
    );
    let on = sent_on(sent.internal_date, sent.mail.date, now);
    let origin = Origin {
        channel: &settings.imap.channel,
        uidvalidity: None,
        uid: None,
        received_at: sent.internal_date.unwrap_or(now),
    };
    let Some(row) =
        q::insert_sent(&mut tx, case.id, kind.role(), &origin, sent.mail, sent.raw).await?
    else {
        return Ok(None);
    };
    let live = matches!(
        case.status,
        CaseStatus::Open | CaseStatus::OnHold | CaseStatus::Closed
    );
    match &kind {
        SentKind::Answer if live && case.answered_on.is_none() => {
            q::set_answered(&mut tx, case.id, on).await?
        }
        SentKind::InterimReply if live && case.interim_reply_on.is_none() => {
            q::set_interim(&mut tx, case.id, on).await?
        }
        SentKind::Contact(stelle) => q::insert_contact(&mut tx, case.id, stelle, on, row).await?,
        _ => {}
    }
    let detail = match &kind {
        SentKind::Contact(stelle) => Some(stelle.clone()),
        _ => None,
    };
    let event = Event {
        actor: DAEMON,
        action: kind.action(),
        new_value: Some(crate::domain::ymd(on)),
        detail,
        ..Event::default()
    };
    cases::add_event(&mut tx, case.id, &event).await?;
    tx.commit().await?;
    if kind == SentKind::Answer
        && settings.answers.close_on_answer
        && case.status == CaseStatus::Open
    {
        close_answered(pool, ctx, &case.number, on, now).await;
    }
    Ok(Some((kind, case.number)))
}

/// `close_on_answer`: closes the (still open) case as staff would, with the captured date. A
/// refusal (e.g. an answer dated before the receipt) leaves the case open for staff.
async fn close_answered(
    pool: &PgPool,
    ctx: &Context,
    number: &str,
    on: NaiveDate,
    now: DateTime<Utc>,
) {
    let actor = crate::staff::Actor {
        os_user: DAEMON.to_string(),
        stated_by: None,
    };
    let cal = &ctx.calendar;
    let result = crate::staff::apply(pool, number, &actor, "close", |c, s, n| {
        if s.status != CaseStatus::Open {
            return Ok(s.clone());
        }
        let received = calendar::berlin_date(c.row.received_at);
        crate::staff::close(s, n, cal, received, on, now)
    })
    .await;
    if let Err(e) = result {
        tracing::warn!(case = %number, "captured answer did not close the case: {e}");
    }
}

/// Selects the inbox again after a pass and checks that it is the folder the caller's UIDs
/// belong to.
pub async fn back_to_inbox(
    mb: &mut Mailbox,
    inbox: &str,
    uidvalidity: u32,
) -> Result<(), ImapError> {
    let now = mb.select(inbox).await?;
    if now != uidvalidity {
        return Err(ImapError::Folder {
            folder: inbox.to_string(),
            message: "UIDVALIDITY changed; reconnecting".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn parties() -> CaseParties {
        CaseParties {
            senders: vec!["buerger@example.test".into()],
            rule_domains: vec!["caritas-dresden.test".into()],
        }
    }

    fn markers() -> Vec<String> {
        vec!["Zwischennachricht".into(), "Zwischenbescheid".into()]
    }

    fn stelle(a: &str) -> Option<String> {
        in_domain(a, "familienkasse.test").then(|| "Familienkasse".to_string())
    }

    #[test]
    fn answer_interim_contact_internal() {
        let c = |to: &[&str], subject: &str| {
            let r: Vec<String> = to.iter().map(|s| s.to_string()).collect();
            classify(&r, &parties(), Some(subject), &markers(), stelle)
        };
        assert_eq!(
            c(&["buerger@example.test"], "AW: Ihre Beschwerde"),
            SentKind::Answer
        );
        assert_eq!(
            c(
                &[
                    "team@jobcenter.test",
                    "berater@beratung.caritas-dresden.test"
                ],
                "x"
            ),
            SentKind::Answer
        );
        assert_eq!(
            c(
                &["buerger@example.test"],
                "ZWISCHENNACHRICHT zu KRM-2026-00001"
            ),
            SentKind::InterimReply
        );
        assert_eq!(
            c(&["kasse@familienkasse.test"], "Anfrage"),
            SentKind::Contact("Familienkasse".into())
        );
        assert_eq!(
            c(&["team-12@jobcenter.test"], "Bitte prüfen"),
            SentKind::Internal
        );
        // The case's own sender wins over a body of the catalogue in Cc.
        assert_eq!(
            c(&["kasse@familienkasse.test", "buerger@example.test"], "x"),
            SentKind::Answer
        );
        assert_eq!(c(&[], "x"), SentKind::Internal);
    }

    #[test]
    fn domains_match_whole_labels() {
        assert!(in_domain("a@caritas-dresden.test", "caritas-dresden.test"));
        assert!(in_domain(
            "a@x.caritas-dresden.test",
            "Caritas-Dresden.test"
        ));
        assert!(!in_domain(
            "a@evilcaritas-dresden.test",
            "caritas-dresden.test"
        ));
        assert!(!in_domain("caritas-dresden.test", "caritas-dresden.test"));
        assert!(!in_domain("a@b.test", ""));
    }

    #[test]
    fn rule_domains_from_evidence() {
        let ev = serde_json::json!([
            {"field": "from_domain", "text": "Caritas-Dresden.test", "condition": "domain = caritas-dresden.test"},
            {"field": "from_address", "text": "info@diakonie.test", "condition": "address = …"},
            {"field": "signature", "text": "Caritas", "condition": "signature = Caritas"},
            {"field": "reply_to", "text": "info@diakonie.test", "condition": "…"}
        ]);
        assert_eq!(
            rule_domains(Some(&ev)),
            ["caritas-dresden.test", "diakonie.test"]
        );
        assert!(rule_domains(None).is_empty());
    }

    #[test]
    fn sent_date_is_berlin_internaldate_else_header() {
        let late = Utc.with_ymd_and_hms(2026, 11, 30, 23, 30, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        let header = FixedOffset::east_opt(3600)
            .unwrap()
            .with_ymd_and_hms(2026, 11, 20, 9, 0, 0)
            .unwrap();
        assert_eq!(
            sent_on(Some(late), Some(header), now).to_string(),
            "2026-12-01"
        );
        assert_eq!(sent_on(None, Some(header), now).to_string(), "2026-11-20");
        assert_eq!(sent_on(None, None, now).to_string(), "2026-12-06");
    }
}
