//! Intake decisions for one parsed mail, inside the caller's transaction: seen again, bounce of
//! our acknowledgement, follow-up to a case, or a new case with deadlines, sender organisation
//! and (unless suppressed) an acknowledgement in the outbox. No IMAP here; SQL lives in `store`.

use chrono::{DateTime, Datelike, Utc};
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet, VecDeque};

use crate::app::Context;
use crate::calendar;
use crate::config::{ClosedFollowup, Settings};
use crate::domain::{
    AckStatus, Address, AutoClass, CaseStatus, MessageRole, OutboxKind, ReviewReason,
};
use crate::message::{self, ParsedMail};
use crate::rules::{RuleSet, SenderInput, SenderMatch};
use crate::smtp;
use crate::store::cases::{self, Event, NewCase, Origin, DAEMON};
use crate::store::pending::{HeldOutbox, Pending};
use crate::store::{outbox, text, StoreError};
use crate::templates::{AckContext, Templates};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    NewCase { number: String, ack: AckDecision },
    FollowUp { number: String, reopened: bool },
    SeenAgain { number: String },
    Bounce { number: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckDecision {
    Enqueued,
    Suppressed(String),
}

impl Outcome {
    pub fn number(&self) -> &str {
        match self {
            Outcome::NewCase { number, .. }
            | Outcome::FollowUp { number, .. }
            | Outcome::SeenAgain { number }
            | Outcome::Bounce { number } => number,
        }
    }
}

/// The answers one batch needs from the store before recording, fetched in a few queries
/// (identities, rate-cap counts, outbox ids) and then kept exact in memory as the batch records
/// its own mails in the same transaction. Only valid for that transaction and only while no
/// savepoint is rolled back; [`BatchLookups::default`] asks the store for every mail.
///
/// It also holds the batch's writes ([`Pending`]): they reach the database at
/// [`BatchLookups::flush`], and before any query of the intake that is not answered here.
#[derive(Default)]
pub struct BatchLookups<'a> {
    /// Identity key (`coalesce(Message-ID, '')`, content hash) -> case holding that mail.
    identical: HashMap<(String, String), (i64, String)>,
    /// Identity keys whose answer is complete here (prefetched, then kept up to date).
    identities_known: HashSet<(String, String)>,
    /// `coalesce(Message-ID, '')` -> case of the earliest mail with it.
    first_case: HashMap<String, i64>,
    /// Message-IDs whose `first_case` answer is complete here.
    first_known: HashSet<String>,
    /// Acknowledgements in the last hour per normalised address.
    acks: HashMap<String, i64>,
    outbox_ids: VecDeque<i64>,
    /// Message-IDs referred to by the batch's mails -> our outbox row (id, case) carrying it.
    ref_outbox: HashMap<String, (i64, i64)>,
    /// Message-IDs referred to -> the earliest stored mail (id, case) with it.
    ref_message: HashMap<String, (i64, i64)>,
    /// References whose answer is complete here: every reference of the batch's mails, so a
    /// mail of the batch referring to another one is answered here too.
    refs_known: HashSet<String>,
    /// Case numbers named in subjects (and this batch's new cases) -> case id.
    numbers: HashMap<String, i64>,
    numbers_known: HashSet<String>,
    /// This batch's own outbox rows and stored mails by Message-ID -> (row id, case); later in the
    /// table than anything prefetched, as their ids are.
    own_outbox: HashMap<String, (i64, i64)>,
    own_messages: HashMap<String, (i64, i64)>,
    pending: Pending<'a>,
}

/// What a mail refers to: In-Reply-To and References, without its own Message-ID.
fn mail_references(mail: &ParsedMail) -> Vec<String> {
    let mut refs: Vec<String> = mail.in_reply_to.clone();
    refs.extend(mail.references.iter().cloned());
    refs.retain(|r| Some(r) != mail.message_id.as_ref());
    refs
}

fn identity_key(message_id: Option<&str>, content_hash: &str) -> (String, String) {
    (
        text(message_id.unwrap_or_default()),
        content_hash.to_string(),
    )
}

impl<'a> BatchLookups<'a> {
    /// One query each for the identities, the rate-cap counts, the outbox ids and the case and
    /// mail ids of `mails`.
    pub async fn prefetch(
        conn: &mut PgConnection,
        mails: &[&ParsedMail],
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let mut b = BatchLookups::default();
        // A NUL byte is refused by PostgreSQL; such a mail asks on its own and gets quarantined
        // by its own data error, as before.
        let keys: Vec<(Option<&str>, &str)> = mails
            .iter()
            .map(|m| (m.message_id.as_deref(), m.content_hash.as_str()))
            .filter(|(mid, h)| !mid.is_some_and(|x| x.contains('\0')) && !h.contains('\0'))
            .collect();
        let known = cases::lookup_identities(conn, &keys).await?;
        for ((mid, hash), k) in keys.iter().zip(known) {
            let key = identity_key(*mid, hash);
            if let Some(found) = k.identical {
                b.identical.insert(key.clone(), found);
            }
            b.identities_known.insert(key.clone());
            if mid.is_some() {
                if let Some(first) = k.first_with_message_id {
                    b.first_case.insert(key.0.clone(), first);
                }
                b.first_known.insert(key.0);
            }
        }
        let mut recipients: Vec<String> = mails
            .iter()
            .filter_map(|m| ack_recipient(m).map(|a| a.normalized()))
            .filter(|r| !r.contains('\0'))
            .collect();
        recipients.sort();
        recipients.dedup();
        let counts = outbox::acks_last_hour_many(conn, &recipients, now).await?;
        b.acks = recipients.into_iter().zip(counts).collect();
        let acks_possible = mails
            .iter()
            .filter(|m| m.auto == AutoClass::None && ack_recipient(m).is_some())
            .count();
        b.outbox_ids = outbox::reserve_ids(conn, acks_possible).await?.into();
        b.pending.reserve(conn, mails.len()).await?;

        // Follow-up candidates: the references and the case numbers in the subjects.
        let mut refs: Vec<String> = mails
            .iter()
            .flat_map(|m| mail_references(m))
            .filter(|r| !r.contains('\0'))
            .collect();
        refs.sort();
        refs.dedup();
        let ref_slices: Vec<&str> = refs.iter().map(String::as_str).collect();
        let hits = cases::lookup_references(conn, &ref_slices).await?;
        for (r, hit) in refs.into_iter().zip(hits) {
            if let Some(o) = hit.outbox {
                b.ref_outbox.insert(r.clone(), o);
            }
            if let Some(m) = hit.message {
                b.ref_message.insert(r.clone(), m);
            }
            b.refs_known.insert(r);
        }
        let mut numbers: Vec<String> = mails
            .iter()
            .filter_map(|m| {
                m.subject
                    .as_deref()
                    .and_then(message::case_number_in_subject)
            })
            .map(|n| n.to_string())
            .collect();
        numbers.sort();
        numbers.dedup();
        b.numbers = cases::ids_by_number(conn, &numbers)
            .await?
            .into_iter()
            .collect();
        b.numbers_known = numbers.into_iter().collect();
        Ok(b)
    }

    /// The case a follow-up belongs to by its references, as [`cases::find_by_references`]
    /// would answer it after this batch's rows were written: our own outgoing mails first, then
    /// the earliest mail; `None` inside means not answerable here.
    fn case_by_references(&self, refs: &[String]) -> Option<Option<i64>> {
        if !refs.iter().all(|r| self.refs_known.contains(r)) {
            return None;
        }
        // Lowest row id first, whether prefetched or written by this batch.
        let earliest = |before: &HashMap<String, (i64, i64)>, own: &HashMap<String, (i64, i64)>| {
            refs.iter()
                .flat_map(|r| before.get(r).into_iter().chain(own.get(r)))
                .min_by_key(|x| x.0)
                .map(|x| x.1)
        };
        Some(
            earliest(&self.ref_outbox, &self.own_outbox)
                .or_else(|| earliest(&self.ref_message, &self.own_messages)),
        )
    }

    /// The follow-up's case, locked, after following merges. A case created in this batch is
    /// written first.
    async fn case_for_update(
        &mut self,
        conn: &mut PgConnection,
        mut case_id: i64,
    ) -> Result<cases::CaseRow, StoreError> {
        for _ in 0..16 {
            if self.pending.holds_case(case_id) {
                self.pending.flush(conn).await?;
            }
            let Some(case) = cases::get_for_update(conn, case_id).await? else {
                return Err(StoreError::CaseNotFound(case_id));
            };
            match case.merged_into {
                Some(target) => case_id = target,
                None => return Ok(case),
            }
        }
        Err(StoreError::MergeChainTooLong(case_id))
    }

    /// Writes the held rows of the batch (see [`Pending::flush`]).
    pub async fn flush(&mut self, conn: &mut PgConnection) -> Result<(), StoreError> {
        self.pending.flush(conn).await
    }

    /// Forgets the held rows after their savepoint was rolled back.
    pub fn discard(&mut self) {
        self.pending.discard();
    }

    async fn known(
        &mut self,
        conn: &mut PgConnection,
        mail: &ParsedMail,
    ) -> Result<cases::Known, StoreError> {
        let key = identity_key(mail.message_id.as_deref(), &mail.content_hash);
        let complete = self.identities_known.contains(&key)
            && (mail.message_id.is_none() || self.first_known.contains(&key.0));
        if !complete {
            self.pending.flush(conn).await?;
            return cases::lookup_identity(conn, mail.message_id.as_deref(), &mail.content_hash)
                .await;
        }
        Ok(match self.identical.get(&key) {
            Some(found) => cases::Known {
                identical: Some(found.clone()),
                same_message_id: None,
            },
            None => cases::Known {
                identical: None,
                same_message_id: mail
                    .message_id
                    .as_ref()
                    .and_then(|_| self.first_case.get(&key.0).copied()),
            },
        })
    }

    /// Keeps the identity answers exact after `mail` was stored in `case_id`.
    fn stored(&mut self, mail: &ParsedMail, row_id: i64, case_id: i64, number: &str) {
        if let Some(mid) = &mail.message_id {
            let e = self
                .own_messages
                .entry(mid.clone())
                .or_insert((row_id, case_id));
            if row_id < e.0 {
                *e = (row_id, case_id);
            }
        }
        self.numbers.entry(number.to_string()).or_insert(case_id);
        let key = identity_key(mail.message_id.as_deref(), &mail.content_hash);
        self.identical
            .entry(key.clone())
            .or_insert_with(|| (case_id, number.to_string()));
        self.first_case.entry(key.0).or_insert(case_id);
    }

    async fn acks_last_hour(
        &mut self,
        conn: &mut PgConnection,
        to: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        match self.acks.get(to) {
            Some(n) => Ok(*n),
            None => {
                self.pending.flush(conn).await?;
                outbox::acks_last_hour(conn, to, now).await
            }
        }
    }

    fn ack_enqueued(&mut self, to: &str) {
        if let Some(n) = self.acks.get_mut(to) {
            *n += 1;
        }
    }

    async fn next_outbox_id(&mut self, conn: &mut PgConnection) -> Result<i64, StoreError> {
        match self.outbox_ids.pop_front() {
            Some(id) => Ok(id),
            None => outbox::next_id(conn).await,
        }
    }
}

/// Records one mail. Runs inside the caller's transaction (or savepoint); `lookups` belong to
/// that transaction.
pub async fn record<'a>(
    conn: &mut PgConnection,
    ctx: &Context,
    lookups: &mut BatchLookups<'a>,
    origin: &Origin<'_>,
    mail: &'a ParsedMail,
    raw: &'a [u8],
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    // 1. Seen before: a re-delivery, a re-append, or a mail left behind by a crash.
    let known = lookups.known(conn, mail).await?;
    if let Some((case_id, number)) = known.identical {
        lookups.pending.event(
            case_id,
            &Event {
                actor: DAEMON,
                action: "mail_seen_again",
                detail: Some(format!(
                    "Mail erneut im Postfach {} gefunden (UID {}); kein neuer Vorgang",
                    origin.channel,
                    origin.uid.unwrap_or(0)
                )),
                ..Default::default()
            },
        );
        return Ok(Outcome::SeenAgain { number });
    }

    // 2. A bounce of one of our own mails belongs to that case.
    if mail.auto == AutoClass::Bounce {
        let mut refs: Vec<String> = Vec::new();
        if let Some(b) = &mail.bounce {
            refs.extend(b.original_message_id.clone());
        }
        refs.extend(mail.in_reply_to.iter().cloned());
        refs.extend(mail.references.iter().cloned());
        // Rare: written directly, after the held rows.
        lookups.flush(conn).await?;
        if let Some(case_id) = find_own_mail_case(conn, &refs).await? {
            let code = mail
                .bounce
                .as_ref()
                .and_then(|b| b.status.clone())
                .unwrap_or_else(|| "unbekannt".into());
            let row = cases::insert_message(conn, case_id, MessageRole::Bounce, origin, mail, raw)
                .await?;
            let number = case_number(conn, case_id).await?;
            lookups.stored(mail, row, case_id, &number);
            cases::set_ack_status(conn, case_id, AckStatus::NotDelivered, Some(&code)).await?;
            cases::add_event(
                conn,
                case_id,
                &Event {
                    actor: DAEMON,
                    action: "ack_not_delivered",
                    new_value: Some(code.clone()),
                    detail: Some(format!(
                        "Eingangsbestätigung nicht zustellbar (Status {code})"
                    )),
                    ..Default::default()
                },
            )
            .await?;
            return Ok(Outcome::Bounce { number });
        }
    }

    // 3. Follow-up: case number in the subject, or a reference to a case's mail or our reply.
    // A follow-up to a closed case, configured to open a new one, becomes a new case related to
    // it.
    let mut related = None;
    if let Some(case_id) = find_followup_case(conn, lookups, mail).await? {
        let case = lookups.case_for_update(conn, case_id).await?;
        let case_id = case.id;
        let is_auto = mail.auto != AutoClass::None;
        let closed = matches!(case.status, CaseStatus::Closed | CaseStatus::Discarded);
        if !closed || is_auto || ctx.settings.intake.closed_followup == ClosedFollowup::Reopen {
            let role = if is_auto {
                MessageRole::AutoReply
            } else {
                MessageRole::Followup
            };
            let row = lookups
                .pending
                .message(conn, case_id, role, origin, mail, raw, &mail.attachments)
                .await?;
            lookups.stored(mail, row, case_id, &case.number);
            let reopened = closed && !is_auto;
            if reopened {
                cases::reopen(conn, case_id).await?;
            }
            lookups.pending.event(
                case_id,
                &Event {
                    actor: DAEMON,
                    action: if reopened {
                        "reopened_by_followup"
                    } else {
                        "followup"
                    },
                    old_value: reopened.then(|| case.status.as_db().to_string()),
                    new_value: reopened.then(|| CaseStatus::Open.as_db().to_string()),
                    detail: Some(if is_auto {
                        "Automatische Antwort dem Vorgang zugeordnet".to_string()
                    } else {
                        "Folgemail dem Vorgang zugeordnet".to_string()
                    }),
                    ..Default::default()
                },
            );
            return Ok(Outcome::FollowUp {
                number: case.number,
                reopened,
            });
        }
        related = Some(case_id);
    }

    let outcome = new_case(
        conn,
        ctx,
        lookups,
        origin,
        mail,
        raw,
        now,
        related,
        known.same_message_id,
    )
    .await?;
    if let Some(case_id) = related {
        lookups.pending.event(
            case_id,
            &Event {
                actor: DAEMON,
                action: "followup_new_case",
                detail: Some(format!(
                    "Folgemail als neuer Vorgang {} erfasst",
                    outcome.number()
                )),
                ..Default::default()
            },
        );
    }
    Ok(outcome)
}

async fn case_number(conn: &mut PgConnection, case_id: i64) -> Result<String, StoreError> {
    cases::get(conn, case_id)
        .await?
        .map(|c| c.number)
        .ok_or(StoreError::CaseNotFound(case_id))
}

async fn find_own_mail_case(
    conn: &mut PgConnection,
    refs: &[String],
) -> Result<Option<i64>, StoreError> {
    let own: Vec<String> = refs
        .iter()
        .filter(|r| r.starts_with(crate::domain::OWN_MESSAGE_ID_PREFIX))
        .cloned()
        .collect();
    if own.is_empty() {
        return Ok(None);
    }
    cases::find_by_references(conn, &own).await
}

async fn find_followup_case(
    conn: &mut PgConnection,
    lookups: &mut BatchLookups<'_>,
    mail: &ParsedMail,
) -> Result<Option<i64>, StoreError> {
    let number = mail
        .subject
        .as_deref()
        .and_then(message::case_number_in_subject)
        .map(|n| n.to_string());
    let refs = mail_references(mail);
    if number.is_none() && refs.is_empty() {
        return Ok(None);
    }
    if let Some(n) = &number {
        if lookups.numbers_known.contains(n) {
            if let Some(id) = lookups.numbers.get(n) {
                return Ok(Some(*id));
            }
        } else {
            // The answer may lie among the held rows of this batch.
            lookups.flush(conn).await?;
            if let Some(c) = cases::get_by_number(conn, n).await? {
                return Ok(Some(c.id));
            }
        }
    }
    if let Some(answer) = lookups.case_by_references(&refs) {
        return Ok(answer);
    }
    lookups.flush(conn).await?;
    cases::find_by_references(conn, &refs).await
}

/// `ack_detail` when the acknowledgement template failed to render for a case.
pub(crate) const ACK_TEMPLATE_FAILED: &str =
    "Vorlage der Eingangsbestätigung fehlerhaft (siehe Verlauf)";

/// `ack_detail` when the recipient address cannot be written into a mail.
pub(crate) const ACK_ADDRESS_INVALID: &str = "Empfängeradresse ungültig";

/// Why a mail without any sender address gets no acknowledgement.
pub(crate) const NO_SENDER: &str = "kein Absender angegeben";

/// `ack_detail` of an acknowledgement held back for suspected spam; `case confirm` sends it.
pub const SPAM_HELD: &str = "zurückgehalten: Spam-Verdacht (Versand nach „case confirm“)";

/// The spam verdict for a new case's mail (the header that marks it), or None. A follow-up to
/// an existing case (`related`) is never held.
pub(crate) fn spam_verdict(
    settings: &Settings,
    raw: &[u8],
    related: Option<i64>,
) -> Option<String> {
    if related.is_some() {
        return None;
    }
    settings.intake.spam.verdict(raw)
}

/// The timeline note for a sender taken from elsewhere than `From:`.
pub(crate) fn sender_inferred_note(mail: &ParsedMail) -> Option<String> {
    let source = mail.sender_inferred?;
    Some(format!(
        "Absender erschlossen: die Mail hat keine lesbare From-Zeile; Adresse aus {} übernommen",
        source.label()
    ))
}

/// Local parts that never get an automatic answer.
const NO_REPLY: &[&str] = &[
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "mailer-daemon",
    "postmaster",
];

/// What the sender rules look at in a parsed mail (shared with `explain`).
pub(crate) fn sender_input(mail: &ParsedMail) -> SenderInput<'_> {
    SenderInput {
        from: mail.from.as_ref(),
        reply_to: &mail.reply_to,
        cc: &mail.cc,
        text: &mail.text,
        attached_forwarded_from: &mail.forwarded_from,
    }
}

/// The organisation behind a new case's mail (shared with `explain`, so both stay alike).
pub(crate) fn classify_sender(rules: &RuleSet, mail: &ParsedMail) -> Option<SenderMatch> {
    rules.classify_with_attached_texts(&sender_input(mail), &mail.forwarded_texts)
}

/// Who gets the acknowledgement: the first Reply-To address, else the sender.
pub(crate) fn ack_recipient(mail: &ParsedMail) -> Option<&Address> {
    mail.reply_to.first().or(mail.from.as_ref())
}

/// Why a new case's acknowledgement to `to` is not sent (German, for staff), or `None`.
/// Pure: the hourly rate cap, which needs the outbox, is checked by the caller.
/// `own_addresses` are the Ombudsstelle's own addresses (`AckSettings::own_addresses`, lower case).
pub(crate) fn ack_suppression(
    own_addresses: &[String],
    rules: &RuleSet,
    mail: &ParsedMail,
    to: &Address,
) -> Option<String> {
    if mail.auto != AutoClass::None {
        return Some(format!(
            "automatisch erzeugte Nachricht ({})",
            match mail.auto {
                AutoClass::AutoReply => "Abwesenheitsnotiz/Autoantwort",
                AutoClass::Bounce => "Unzustellbarkeitsmeldung",
                AutoClass::Bulk => "Massen- oder Listenmail",
                AutoClass::None => "",
            }
        ));
    }
    let local = to.local_part();
    let base = local.split('+').next().unwrap_or(&local).to_string();
    if NO_REPLY
        .iter()
        .any(|n| base == *n || base.starts_with(&format!("{n}.")))
    {
        return Some("Absenderadresse nimmt keine Antworten an".into());
    }
    let norm = to.normalized();
    if own_addresses.iter().any(|a| {
        let (al, ad) = a.rsplit_once('@').unwrap_or((a, ""));
        let (tl, td) = norm.rsplit_once('@').unwrap_or((&norm, ""));
        ad == td && (al == tl || tl.split('+').next() == Some(al))
    }) {
        return Some("eigene Adresse der Ombudsstelle".into());
    }
    if rules.is_internal(to) {
        return Some("interne Adresse der Behörde".into());
    }
    None
}

#[allow(clippy::too_many_arguments)]
async fn new_case<'a>(
    conn: &mut PgConnection,
    ctx: &Context,
    lookups: &mut BatchLookups<'a>,
    origin: &Origin<'_>,
    mail: &'a ParsedMail,
    raw: &'a [u8],
    now: DateTime<Utc>,
    related: Option<i64>,
    dup_of: Option<i64>,
) -> Result<Outcome, StoreError> {
    let rules = ctx.rules.current();
    let matched = classify_sender(&rules, mail);
    let hints = rules.hints(mail.subject.as_deref().unwrap_or(""), &mail.text);
    let deadlines = calendar::compute(
        &ctx.calendar,
        ctx.settings.deadlines.policy,
        origin.received_at,
    );

    let spam = spam_verdict(&ctx.settings, raw, related);
    // Same Message-ID, different content: some senders reuse ids. A new case, flagged.
    let review_reason = match (mail.auto, dup_of, related) {
        _ if spam.is_some() => Some(ReviewReason::Spam),
        (AutoClass::Bulk, _, _) => Some(ReviewReason::Bulk),
        (AutoClass::AutoReply, _, _) => Some(ReviewReason::AutoReply),
        (AutoClass::Bounce, _, _) => Some(ReviewReason::Bounce),
        (_, Some(_), _) => Some(ReviewReason::PossibleDuplicate),
        (_, _, Some(_)) => Some(ReviewReason::FollowupToClosed),
        _ => None,
    };

    let recipient = ack_recipient(mail).cloned();
    let mut ack = match &recipient {
        None => AckDecision::Suppressed(NO_SENDER.into()),
        Some(to) => match ack_suppression(&ctx.settings.ack.own_addresses, &rules, mail, to) {
            Some(r) => AckDecision::Suppressed(r),
            None => AckDecision::Enqueued,
        },
    };
    // Suspected spam: the acknowledgement waits for staff (`case confirm`).
    if spam.is_some() && ack == AckDecision::Enqueued {
        ack = AckDecision::Suppressed(SPAM_HELD.into());
    }
    // Rate cap per exact address; third-party senders (functional mailboxes) are exempt.
    let third_party = matched.as_ref().is_some_and(|m| m.third_party);
    if let (AckDecision::Enqueued, Some(to)) = (&ack, &recipient) {
        if !third_party {
            let sent = lookups.acks_last_hour(conn, &to.normalized(), now).await?;
            let cap = ctx.settings.ack.rate_limit_per_hour as i64;
            if sent >= cap {
                ack = AckDecision::Suppressed(format!(
                    "Obergrenze von {cap} Bestätigungen pro Stunde an diese Adresse erreicht"
                ));
            }
        }
    }

    let year = calendar::berlin_date(origin.received_at).year();
    let nc = NewCase {
        channel: origin.channel.to_string(),
        received_at: origin.received_at,
        suggested_kind: hints.kind.map(|k| k.as_str().to_string()),
        suggested_topics: hints.topics.clone(),
        kind: None,
        organisation: matched.as_ref().map(|m| m.organisation.clone()),
        category: matched.as_ref().map(|m| m.category.label().to_string()),
        third_party,
        rule_id: matched.as_ref().map(|m| m.rule_id.clone()),
        ruleset_version: Some(rules.version().to_string()),
        rule_evidence: matched
            .as_ref()
            .and_then(|m| serde_json::to_value(&m.evidence).ok()),
        review_reason,
        possible_duplicate_of: dup_of.or(related),
        ack_due: deadlines.ack_due,
        due_unshifted: deadlines.due_unshifted,
        due: deadlines.due,
        ack_status: match &ack {
            AckDecision::Enqueued => AckStatus::Pending,
            AckDecision::Suppressed(_) => AckStatus::Suppressed,
        },
        ack_detail: match &ack {
            AckDecision::Enqueued => None,
            AckDecision::Suppressed(r) => Some(r.clone()),
        },
    };
    let created = format!(
        "Vorgang aus Mail im Postfach {} erfasst{}",
        origin.channel,
        matched
            .as_ref()
            .map(|m| format!("; Regel {}", m.rule_id))
            .unwrap_or_default()
    );
    let suppressed = match &ack {
        AckDecision::Suppressed(reason) => Some(reason.clone()),
        AckDecision::Enqueued => None,
    };
    let (case_id, number, row) = lookups
        .pending
        .new_case(conn, &nc, year, origin, mail, raw, &mail.attachments)
        .await?;
    let spam_note = spam.map(|h| {
        format!(
            "Spam-Verdacht ({h}): keine Eingangsbestätigung, nicht im Bericht, bis das Team \
             den Vorgang bestätigt (case confirm) oder verwirft (case discard)"
        )
    });
    for (action, detail) in [
        ("created", Some(created)),
        ("sender_inferred", sender_inferred_note(mail)),
        ("spam_suspected", spam_note),
        ("ack_suppressed", suppressed),
    ] {
        if let Some(detail) = detail {
            lookups.pending.event(
                case_id,
                &Event {
                    actor: DAEMON,
                    action,
                    detail: Some(detail),
                    ..Default::default()
                },
            );
        }
    }
    lookups.stored(mail, row, case_id, &number.to_string());

    match (&ack, &recipient) {
        (AckDecision::Suppressed(_), _) => {}
        (AckDecision::Enqueued, Some(to)) => {
            let suppressed = enqueue_ack(
                conn,
                ctx,
                lookups,
                case_id,
                &number.to_string(),
                to,
                mail,
                origin.received_at,
                &deadlines,
            )
            .await?;
            if let Some(reason) = suppressed {
                ack = AckDecision::Suppressed(reason);
            }
        }
        (AckDecision::Enqueued, None) => {}
    }
    Ok(Outcome::NewCase {
        number: number.to_string(),
        ack,
    })
}

/// What an acknowledgement answers and when it is due; see [`build_ack`].
pub(crate) struct AckRequest<'a> {
    pub outbox_id: i64,
    pub number: &'a str,
    pub to: &'a str,
    pub in_reply_to: Option<&'a str>,
    /// References of the answered mail plus its own Message-ID.
    pub references: &'a [String],
    pub received_at: DateTime<Utc>,
    pub due: chrono::NaiveDate,
}

#[derive(Debug)]
pub(crate) enum AckBuildError {
    /// The templates failed to render (German text).
    Template(String),
    /// The recipient address cannot be written into a mail.
    Address(String),
}

/// Renders and builds the acknowledgement mail for the outbox: its Message-ID and raw bytes.
/// Shared by intake and `case confirm`, so a held acknowledgement reads like any other.
pub(crate) fn build_ack(
    s: &Settings,
    templates: &Templates,
    r: &AckRequest<'_>,
) -> Result<(String, Vec<u8>), AckBuildError> {
    let received = calendar::berlin_date(r.received_at);
    let rendered = templates
        .render_ack(&AckContext {
            case_number: r.number.to_string(),
            received_date: received.format("%Y-%m-%d").to_string(),
            received_date_de: received.format("%d.%m.%Y").to_string(),
            due_date: r.due.format("%Y-%m-%d").to_string(),
            due_date_de: r.due.format("%d.%m.%Y").to_string(),
            processing_days: s.deadlines.policy.processing_days,
            office_name: s.smtp.from_name.clone(),
        })
        .map_err(|e| AckBuildError::Template(e.to_string()))?;
    let message_id =
        smtp::outbox_message_id(OutboxKind::Ack, r.outbox_id, &s.smtp.message_id_domain);
    let raw = smtp::build(&smtp::Outgoing {
        from: &s.smtp.from,
        from_name: &s.smtp.from_name,
        to: r.to,
        subject: &rendered.subject,
        body: &rendered.body,
        message_id: &message_id,
        in_reply_to: r.in_reply_to,
        references: r.references,
        auto_submitted: "auto-replied",
        date: Utc::now(),
    })
    .map_err(|e| AckBuildError::Address(e.to_string()))?;
    Ok((message_id, raw))
}

#[allow(clippy::too_many_arguments)]
async fn enqueue_ack(
    conn: &mut PgConnection,
    ctx: &Context,
    lookups: &mut BatchLookups<'_>,
    case_id: i64,
    number: &str,
    to: &Address,
    mail: &ParsedMail,
    received_at: DateTime<Utc>,
    d: &calendar::Deadlines,
) -> Result<Option<String>, StoreError> {
    let id = lookups.next_outbox_id(conn).await?;
    let mut references = mail.references.clone();
    references.extend(mail.message_id.clone());
    let built = build_ack(
        &ctx.settings,
        &ctx.templates,
        &AckRequest {
            outbox_id: id,
            number,
            to: &to.addr,
            in_reply_to: mail.message_id.as_deref(),
            references: &references,
            received_at,
            due: d.due,
        },
    );
    let (message_id, raw) = match built {
        Ok(x) => x,
        Err(e) => {
            // A template that fails for this case's values, or an address lettre cannot
            // encode: the case stays, its acknowledgement is recorded as not sent. Retrying
            // the mail would fail the same way.
            let (reason, cause) = match e {
                AckBuildError::Template(t) => {
                    tracing::warn!(case = %number, "acknowledgement template failed to render; acknowledgement suppressed: {t}");
                    (ACK_TEMPLATE_FAILED, t)
                }
                AckBuildError::Address(a) => (ACK_ADDRESS_INVALID, a),
            };
            lookups.flush(conn).await?;
            cases::set_ack_status(conn, case_id, AckStatus::Suppressed, Some(reason)).await?;
            cases::add_event(
                conn,
                case_id,
                &Event {
                    actor: DAEMON,
                    action: "ack_suppressed",
                    detail: Some(format!("Bestätigung nicht erstellt: {cause}")),
                    ..Default::default()
                },
            )
            .await?;
            return Ok(Some(reason.to_string()));
        }
    };
    let recipient = to.normalized();
    lookups.ack_enqueued(&recipient);
    lookups.own_outbox.insert(message_id.clone(), (id, case_id));
    // The case is new, so its dedupe key cannot exist yet.
    lookups.pending.outbox(HeldOutbox {
        id,
        kind: OutboxKind::Ack,
        case_id: Some(case_id),
        recipient,
        message_id,
        dedupe_key: Some(format!("ack:{case_id}")),
        raw,
    });
    Ok(None)
}
