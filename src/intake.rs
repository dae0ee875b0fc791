//! Intake of one parsed mail, inside the caller's transaction: looks up what the store knows
//! ([`facts`]), lets [`crate::decide`] decide, and writes the decision through the batch's
//! [`BatchWriter`] — seen again, bounce of our acknowledgement, follow-up to a case, or a new
//! case with deadlines, sender organisation and (unless suppressed) an acknowledgement in the
//! outbox. No IMAP here; SQL lives in `store`.

use chrono::{DateTime, Datelike, Utc};
use sqlx::PgConnection;

use crate::app::Context;
use crate::calendar;
use crate::config::Settings;
use crate::decide::{self, CaseRef, Facts, Input, NewCasePlan, Policy, Route};
use crate::domain::{AckStatus, Address, AutoClass, CaseStatus, MessageRole, OutboxKind};
use crate::message::ParsedMail;
use crate::rules::RuleSet;
use crate::smtp;
use crate::store::batch::{BatchWriter, HeldOutbox, MailKeys};
use crate::store::cases::{self, Event, NewCase, Origin, DAEMON};
use crate::store::StoreError;
use crate::templates::{AckContext, Templates};

pub use crate::decide::{AckDecision, ACK_ADDRESS_INVALID, NO_SENDER, SPAM_HELD, SPAM_HELD_BEFORE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    NewCase { number: String, ack: AckDecision },
    FollowUp { number: String, reopened: bool },
    SeenAgain { number: String },
    Bounce { number: String },
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

/// What `mail` will ask the store, for [`BatchWriter::prefetch`]; `own_addresses` and `rules`
/// choose the acknowledgement's recipient as [`decide::ack_recipient`] does.
pub fn batch_keys<'m>(
    mail: &'m ParsedMail,
    own_addresses: &[String],
    rules: &RuleSet,
) -> MailKeys<'m> {
    let ack_to = decide::ack_recipient(mail, own_addresses, rules).map(Address::normalized);
    MailKeys {
        message_id: mail.message_id.as_deref(),
        content_hash: &mail.content_hash,
        may_ack: mail.auto == AutoClass::None && ack_to.is_some(),
        ack_to,
        references: decide::references(mail),
        case_number: decide::subject_case_number(mail),
    }
}

/// What the store knows about `mail`, in the order [`decide::decide_mail`] reads it; stops
/// after a decisive answer. The follow-up's case is locked (unless `writer` is read-only).
/// Shared by intake and `explain --db`.
pub async fn facts(
    conn: &mut PgConnection,
    writer: &mut BatchWriter<'_>,
    mail: &ParsedMail,
    ack_to: Option<&Address>,
    now: DateTime<Utc>,
) -> Result<Facts, StoreError> {
    let mut f = Facts {
        looked_up: true,
        ..Facts::default()
    };
    let known = writer
        .known(conn, mail.message_id.as_deref(), &mail.content_hash)
        .await?;
    if let Some((id, number)) = known.identical {
        f.identical = Some(CaseRef { id, number });
        return Ok(f);
    }
    f.same_message_id = known.same_message_id;
    if mail.auto == AutoClass::Bounce {
        let refs = decide::bounce_references(mail);
        if let Some(case) = writer.own_mail_case(conn, &refs).await? {
            f.bounced = Some(CaseRef {
                id: case.id,
                number: case.number,
            });
            return Ok(f);
        }
    }
    let number = decide::subject_case_number(mail);
    let refs = decide::references(mail);
    if let Some(id) = writer.followup_case(conn, number.as_deref(), &refs).await? {
        let case = writer.case_for_update(conn, id).await?;
        let closed = matches!(case.status, CaseStatus::Closed | CaseStatus::Discarded);
        f.followup = Some((
            CaseRef {
                id: case.id,
                number: case.number,
            },
            case.status,
        ));
        if !closed {
            return Ok(f);
        }
    }
    if mail.auto == AutoClass::None {
        if let Some(to) = ack_to {
            f.acks_last_hour = writer.acks_last_hour(conn, &to.normalized(), now).await?;
        }
    }
    Ok(f)
}

/// Records one mail. Runs inside the caller's transaction (or savepoint); `writer` belongs to
/// that transaction.
pub async fn record<'a>(
    conn: &mut PgConnection,
    ctx: &Context,
    writer: &mut BatchWriter<'a>,
    origin: &Origin<'_>,
    mail: &'a ParsedMail,
    raw: &'a [u8],
    now: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    let rules = ctx.rules.current();
    let policy = Policy::of(&ctx.settings);
    let ack_to = decide::ack_recipient(mail, &policy.own_addresses, &rules);
    let facts = facts(conn, writer, mail, ack_to, now).await?;
    let decision = decide::decide_mail(
        &Input {
            mail,
            raw,
            rules: &rules,
            policy: &policy,
        },
        &facts,
    );
    let w = Write {
        conn,
        ctx,
        writer,
        origin,
        mail,
        raw,
    };
    match (decision.route, decision.new_case) {
        (Route::SeenAgain(case), _) => Ok(w.seen_again(case)),
        (
            Route::Bounce {
                case: Some(case),
                status,
            },
            _,
        ) => w.bounce(case, status).await,
        (
            Route::FollowUp {
                case: Some(case),
                reopen,
            },
            _,
        ) => {
            let status = facts.followup.map_or(CaseStatus::Open, |(_, s)| s);
            w.followup(case, reopen, status).await
        }
        (_, Some(plan)) => {
            let related = plan.related;
            let outcome = w.new_case(&rules, plan).await?;
            if let Some(case_id) = related {
                writer.event(
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
        // With facts looked up, every route but a new case names its case.
        (_, None) => Err(StoreError::Undecided),
    }
}

/// The writes of one decision.
struct Write<'w, 'a, 'o> {
    conn: &'w mut PgConnection,
    ctx: &'w Context,
    writer: &'w mut BatchWriter<'a>,
    origin: &'w Origin<'o>,
    mail: &'a ParsedMail,
    raw: &'a [u8],
}

impl<'a> Write<'_, 'a, '_> {
    /// A re-delivery, a re-append, or a mail left behind by a crash: noted on its case.
    fn seen_again(self, case: CaseRef) -> Outcome {
        self.writer.event(
            case.id,
            &Event {
                actor: DAEMON,
                action: "mail_seen_again",
                detail: Some(format!(
                    "Mail erneut im Postfach {} gefunden (UID {}); kein neuer Vorgang",
                    self.origin.channel,
                    self.origin.uid.unwrap_or(0)
                )),
                ..Default::default()
            },
        );
        Outcome::SeenAgain {
            number: case.number,
        }
    }

    /// A bounce of one of our own mails belongs to that case.
    async fn bounce(self, case: CaseRef, code: String) -> Result<Outcome, StoreError> {
        let (conn, w) = (self.conn, self.writer);
        w.mail_to_case(
            conn,
            case.id,
            &case.number,
            MessageRole::Bounce,
            self.origin,
            self.mail,
            self.raw,
        )
        .await?;
        // The case is written (its lookup flushed the held rows): update it directly.
        cases::set_ack_status(conn, case.id, AckStatus::NotDelivered, Some(&code)).await?;
        w.event(
            case.id,
            &Event {
                actor: DAEMON,
                action: "ack_not_delivered",
                new_value: Some(code.clone()),
                detail: Some(format!(
                    "Eingangsbestätigung nicht zustellbar (Status {code})"
                )),
                ..Default::default()
            },
        );
        Ok(Outcome::Bounce {
            number: case.number,
        })
    }

    /// Follow-up: case number in the subject, or a reference to a case's mail or our reply.
    async fn followup(
        self,
        case: CaseRef,
        reopened: bool,
        status: CaseStatus,
    ) -> Result<Outcome, StoreError> {
        let (conn, w) = (self.conn, self.writer);
        let is_auto = self.mail.auto != AutoClass::None;
        let role = if is_auto {
            MessageRole::AutoReply
        } else {
            MessageRole::Followup
        };
        w.mail_to_case(
            conn,
            case.id,
            &case.number,
            role,
            self.origin,
            self.mail,
            self.raw,
        )
        .await?;
        if reopened {
            w.reopen(conn, case.id).await?;
        }
        w.event(
            case.id,
            &Event {
                actor: DAEMON,
                action: if reopened {
                    "reopened_by_followup"
                } else {
                    "followup"
                },
                old_value: reopened.then(|| status.as_db().to_string()),
                new_value: reopened.then(|| CaseStatus::Open.as_db().to_string()),
                detail: Some(if is_auto {
                    "Automatische Antwort dem Vorgang zugeordnet".to_string()
                } else {
                    "Folgemail dem Vorgang zugeordnet".to_string()
                }),
                ..Default::default()
            },
        );
        Ok(Outcome::FollowUp {
            number: case.number,
            reopened,
        })
    }

    /// A new case with deadlines, its events and (unless suppressed) its acknowledgement.
    async fn new_case(self, rules: &RuleSet, plan: NewCasePlan) -> Result<Outcome, StoreError> {
        let (conn, ctx, w, origin, mail) =
            (self.conn, self.ctx, self.writer, self.origin, self.mail);
        let deadlines = calendar::compute(
            &ctx.calendar,
            ctx.settings.deadlines.policy,
            origin.received_at,
        );
        let year = case_year(origin);
        let nc = case_row(origin, rules, &plan, &deadlines);
        let (case_id, number) = w
            .new_case_with_mail(conn, &nc, year, origin, mail, self.raw)
            .await?;
        let number = number.to_string();
        new_case_events(w, case_id, origin, mail, &plan);
        let mut ack = plan.ack;
        if let (AckDecision::Enqueued, Some(to)) = (&ack, &plan.ack_to) {
            let r = AckFor {
                case_id,
                number: &number,
                to,
                mail,
                received_at: origin.received_at,
                due: deadlines.due,
            };
            if let Some(reason) = enqueue_ack(conn, ctx, w, &r).await? {
                ack = AckDecision::Suppressed(reason);
            }
        }
        Ok(Outcome::NewCase { number, ack })
    }
}

/// The year whose numbers a new case from `origin` counts in (its receipt, Berlin time).
pub(crate) fn case_year(origin: &Origin<'_>) -> i32 {
    calendar::berlin_date(origin.received_at).year()
}

/// The case row of a new case.
fn case_row(
    origin: &Origin<'_>,
    rules: &RuleSet,
    plan: &NewCasePlan,
    deadlines: &calendar::Deadlines,
) -> NewCase {
    let matched = plan.matched.as_ref();
    NewCase {
        channel: origin.channel.to_string(),
        received_at: origin.received_at,
        suggested_kind: plan.hints.kind.map(|k| k.as_str().to_string()),
        suggested_topics: plan.hints.topics.clone(),
        kind: None,
        organisation: matched.map(|m| m.organisation.clone()),
        category: matched.map(|m| m.category.label().to_string()),
        third_party: plan.third_party(),
        rule_id: matched.map(|m| m.rule_id.clone()),
        ruleset_version: Some(rules.version().to_string()),
        rule_evidence: matched.and_then(|m| serde_json::to_value(&m.evidence).ok()),
        review_reason: plan.review_reason,
        possible_duplicate_of: plan.possible_duplicate_of,
        ack_due: deadlines.ack_due,
        due_unshifted: deadlines.due_unshifted,
        due: deadlines.due,
        ack_status: match &plan.ack {
            AckDecision::Enqueued => AckStatus::Pending,
            AckDecision::Suppressed(_) => AckStatus::Suppressed,
        },
        ack_detail: match &plan.ack {
            AckDecision::Enqueued => None,
            AckDecision::Suppressed(r) => Some(r.clone()),
        },
    }
}

/// The timeline of a new case: created, sender inferred, spam suspected, acknowledgement
/// suppressed.
fn new_case_events(
    w: &mut BatchWriter<'_>,
    case_id: i64,
    origin: &Origin<'_>,
    mail: &ParsedMail,
    plan: &NewCasePlan,
) {
    let created = format!(
        "Vorgang aus Mail im Postfach {} erfasst{}",
        origin.channel,
        plan.matched
            .as_ref()
            .map(|m| format!("; Regel {}", m.rule_id))
            .unwrap_or_default()
    );
    let suppressed = match &plan.ack {
        AckDecision::Suppressed(reason) => Some(reason.clone()),
        AckDecision::Enqueued => None,
    };
    let spam_note = plan.spam.as_ref().map(|h| {
        format!(
            "Spam-Verdacht ({h}): keine Eingangsbestätigung, nicht im Bericht, bis das Team \
             den Spam-Verdacht aufhebt oder den Vorgang verwirft"
        )
    });
    for (action, detail) in [
        ("created", Some(created)),
        ("sender_inferred", sender_inferred_note(mail)),
        ("spam_suspected", spam_note),
        ("ack_suppressed", suppressed),
    ] {
        if let Some(detail) = detail {
            w.event(
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
}

/// `ack_detail` when the acknowledgement template failed to render for a case.
pub(crate) const ACK_TEMPLATE_FAILED: &str =
    "Vorlage der Eingangsbestätigung fehlerhaft (siehe Verlauf)";

/// The timeline note for a sender taken from elsewhere than `From:`.
pub(crate) fn sender_inferred_note(mail: &ParsedMail) -> Option<String> {
    let source = mail.sender_inferred?;
    Some(format!(
        "Absender erschlossen: die Mail hat keine lesbare From-Zeile; Adresse aus {} übernommen",
        source.label()
    ))
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

/// The new case an acknowledgement answers.
struct AckFor<'r> {
    case_id: i64,
    number: &'r str,
    to: &'r Address,
    mail: &'r ParsedMail,
    received_at: DateTime<Utc>,
    due: chrono::NaiveDate,
}

/// Renders the acknowledgement and holds it for the outbox; the reason when it could not be
/// built (the case then records it as suppressed).
async fn enqueue_ack(
    conn: &mut PgConnection,
    ctx: &Context,
    lookups: &mut BatchWriter<'_>,
    r: &AckFor<'_>,
) -> Result<Option<String>, StoreError> {
    let AckFor {
        case_id,
        number,
        to,
        mail,
        received_at,
        ..
    } = *r;
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
            due: r.due,
        },
    );
    let (message_id, raw) = match built {
        Ok(x) => x,
        Err(e) => {
            // A template that fails for this case's values, or an address lettre cannot
            // encode: the case stays, its acknowledgement is recorded as not sent. Retrying
            // the mail would fail the same way. (Recorded ahead, the flush refuses: said once,
            // when the batch is recorded again.)
            lookups.flush(conn).await?;
            let (reason, cause) = match e {
                AckBuildError::Template(t) => {
                    tracing::warn!(case = %number, "acknowledgement template failed to render; acknowledgement suppressed: {t}");
                    (ACK_TEMPLATE_FAILED, t)
                }
                AckBuildError::Address(a) => (ACK_ADDRESS_INVALID, a),
            };
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
    // The case is new, so its dedupe key cannot exist yet.
    lookups.ack(HeldOutbox {
        id,
        kind: OutboxKind::Ack,
        case_id: Some(case_id),
        recipient: to.normalized(),
        message_id,
        dedupe_key: Some(format!("ack:{case_id}")),
        raw,
    });
    Ok(None)
}
