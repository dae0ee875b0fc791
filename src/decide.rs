//! The intake's decision for one mail, pure: the parsed mail, the rules, the policy from the
//! settings and the facts the store knows (known identities, referenced cases, rate-cap
//! counts) in, the decision out — seen again, bounce of our acknowledgement, follow-up, new case
//! (with its review reason and whether it is acknowledged, or why not), or quarantine. Intake
//! (`intake::record`) and `explain` both call [`decide`]; intake looks the facts up in its
//! batch (`intake::facts`), `explain` from nothing or, with `--db`, from the database.

use crate::config::{ClosedFollowup, Settings};
use crate::domain::{Address, AutoClass, CaseStatus, ReviewReason, OWN_MESSAGE_ID_PREFIX};
use crate::message::{self, ParseError, ParsedMail, SpamPolicy};
use crate::rules::{Hints, RuleSet, SenderInput, SenderMatch};

/// What the decision takes from the settings; [`Policy::default`] is the daemon's defaults
/// without own addresses (for `explain` without a configuration).
#[derive(Debug, Clone)]
pub struct Policy {
    /// The Ombudsstelle's own addresses, lower case (`AckSettings::own_addresses`).
    pub own_addresses: Vec<String>,
    /// `[intake] spam_headers` and `trusted_received_by`.
    pub spam: SpamPolicy,
    pub closed_followup: ClosedFollowup,
    /// Acknowledgements per hour and address (`ack.rate_limit_per_hour`).
    pub rate_limit_per_hour: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            own_addresses: Vec::new(),
            spam: SpamPolicy::default(),
            closed_followup: ClosedFollowup::Reopen,
            rate_limit_per_hour: 20,
        }
    }
}

impl Policy {
    pub fn of(s: &Settings) -> Policy {
        Policy {
            own_addresses: s.ack.own_addresses.clone(),
            spam: s.intake.spam.clone(),
            closed_followup: s.intake.closed_followup,
            rate_limit_per_hour: s.ack.rate_limit_per_hour,
        }
    }
}

/// One mail to decide on.
pub struct Input<'a> {
    pub mail: &'a ParsedMail,
    pub raw: &'a [u8],
    pub rules: &'a RuleSet,
    pub policy: &'a Policy,
}

/// A case the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRef {
    pub id: i64,
    pub number: String,
}

/// What the store knows about one mail, looked up in the order [`decide`] reads it (a lookup
/// after a decisive answer is left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// False when nothing was looked up (`explain` without a database): then the cases a mail
    /// names may or may not exist, and the decision says what happens if they do.
    pub looked_up: bool,
    /// The case that already holds this exact mail.
    pub identical: Option<CaseRef>,
    /// The case of the earliest mail with the same Message-ID but other content.
    pub same_message_id: Option<i64>,
    /// For a bounce: the case of our own mail it refers to.
    pub bounced: Option<CaseRef>,
    /// The case the mail follows up (subject number or references; merges followed), with its
    /// status.
    pub followup: Option<(CaseRef, CaseStatus)>,
    /// Acknowledgements to the mail's recipient in the last hour.
    pub acks_last_hour: i64,
}

/// Whether a new case's acknowledgement is queued, or why not (German, for staff).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckDecision {
    Enqueued,
    Suppressed(String),
}

/// A new case, as intake writes it.
#[derive(Debug, Clone)]
pub struct NewCasePlan {
    pub matched: Option<SenderMatch>,
    pub hints: Hints,
    pub review_reason: Option<ReviewReason>,
    /// A case with the same Message-ID (other content), else the closed case this mail
    /// follows up (see `related`).
    pub possible_duplicate_of: Option<i64>,
    /// The closed case this follow-up refers to, when the policy opens a new case for it.
    pub related: Option<i64>,
    /// The header that marks it as spam (the acknowledgement is held), if any.
    pub spam: Option<String>,
    /// First Reply-To, else From.
    pub ack_to: Option<Address>,
    pub ack: AckDecision,
}

impl NewCasePlan {
    pub fn third_party(&self) -> bool {
        self.matched.as_ref().is_some_and(|m| m.third_party)
    }
}

/// Where a parsed mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The very same mail is stored already: no new case.
    SeenAgain(CaseRef),
    /// A bounce of one of our mails, recorded on its case. `case` is `None` when the facts were
    /// not looked up: then it joins that case if it exists.
    Bounce {
        case: Option<CaseRef>,
        status: String,
    },
    /// Joins the case; `reopen` when it was closed. `case` as for `Bounce`.
    FollowUp {
        case: Option<CaseRef>,
        reopen: bool,
    },
    NewCase,
}

/// The decision for a parsed mail ([`decide_mail`]).
#[derive(Debug, Clone)]
pub struct MailDecision {
    pub route: Route,
    /// The new case for [`Route::NewCase`]; for a bounce or follow-up whose case was not
    /// looked up, the new case made if that case does not exist.
    pub new_case: Option<NewCasePlan>,
    /// Not looked up, a new case, and the mail answers other mails: if the store knows one of
    /// them, it becomes a follow-up of that case instead.
    pub possible_followup: bool,
}

/// The decision for a mail as it came (`explain`): quarantined when it does not parse.
#[derive(Debug, Clone)]
pub enum Decision {
    /// German reason (the quarantine list's text).
    Quarantine(String),
    Mail(Box<MailDecision>),
}

/// Decides for raw mail bytes already parsed (or not).
pub fn decide(
    parsed: Result<&ParsedMail, &ParseError>,
    raw: &[u8],
    rules: &RuleSet,
    policy: &Policy,
    facts: &Facts,
) -> Decision {
    match parsed {
        Err(e) => Decision::Quarantine(e.reason_de()),
        Ok(mail) => Decision::Mail(Box::new(decide_mail(
            &Input {
                mail,
                raw,
                rules,
                policy,
            },
            facts,
        ))),
    }
}

/// Decides for a parsed mail, in intake's order: seen again, bounce of our mail, follow-up,
/// new case.
pub fn decide_mail(input: &Input<'_>, facts: &Facts) -> MailDecision {
    let mail = input.mail;
    let routed = |route: Route| MailDecision {
        route,
        new_case: None,
        possible_followup: false,
    };
    if let Some(case) = &facts.identical {
        return routed(Route::SeenAgain(case.clone()));
    }
    if mail.auto == AutoClass::Bounce {
        let status = mail
            .bounce
            .as_ref()
            .and_then(|b| b.status.clone())
            .unwrap_or_else(|| "unbekannt".into());
        if let Some(case) = &facts.bounced {
            return routed(Route::Bounce {
                case: Some(case.clone()),
                status,
            });
        }
        if !facts.looked_up && bounce_references(mail).iter().any(|r| is_own(r)) {
            return MailDecision {
                route: Route::Bounce { case: None, status },
                new_case: Some(new_case(input, facts, None, false)),
                possible_followup: false,
            };
        }
    }
    let mut related = None;
    if let Some((case, status)) = &facts.followup {
        let is_auto = mail.auto != AutoClass::None;
        let closed = matches!(status, CaseStatus::Closed | CaseStatus::Discarded);
        if !closed || is_auto || input.policy.closed_followup == ClosedFollowup::Reopen {
            return routed(Route::FollowUp {
                case: Some(case.clone()),
                reopen: closed && !is_auto,
            });
        }
        related = Some(case.id);
    }
    let refs = references(mail);
    if !facts.looked_up {
        let named = subject_case_number(mail).is_some() || refs.iter().any(|r| is_own(r));
        if named {
            // A follow-up is never held as spam, so neither is its fallback here.
            return MailDecision {
                route: Route::FollowUp {
                    case: None,
                    reopen: false,
                },
                new_case: Some(new_case(input, facts, None, false)),
                possible_followup: false,
            };
        }
    }
    MailDecision {
        route: Route::NewCase,
        new_case: Some(new_case(input, facts, related, true)),
        possible_followup: !facts.looked_up && !refs.is_empty(),
    }
}

/// The new case: organisation, hints, review reason and the acknowledgement. `spam_check`
/// false leaves the spam verdict out (a follow-up is never held).
fn new_case(
    input: &Input<'_>,
    facts: &Facts,
    related: Option<i64>,
    spam_check: bool,
) -> NewCasePlan {
    let Input {
        mail,
        raw,
        rules,
        policy,
    } = input;
    let matched = classify_sender(rules, mail);
    let hints = rules.hints(mail.subject.as_deref().unwrap_or(""), &mail.text);
    let spam = if spam_check && related.is_none() {
        policy.spam.verdict(raw)
    } else {
        None
    };
    let dup_of = facts.same_message_id;
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
    let ack_to = ack_recipient(mail, &policy.own_addresses, rules).cloned();
    let mut ack = match &ack_to {
        None => AckDecision::Suppressed(NO_SENDER.into()),
        Some(to) => match ack_suppression(&policy.own_addresses, rules, mail, to) {
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
    let cap = i64::from(policy.rate_limit_per_hour);
    if ack == AckDecision::Enqueued && !third_party && facts.acks_last_hour >= cap {
        ack = AckDecision::Suppressed(format!(
            "Obergrenze von {cap} Bestätigungen pro Stunde an diese Adresse erreicht"
        ));
    }
    NewCasePlan {
        matched,
        hints,
        review_reason,
        possible_duplicate_of: dup_of.or(related),
        related,
        spam,
        ack_to,
        ack,
    }
}

fn is_own(message_id: &str) -> bool {
    message_id.starts_with(OWN_MESSAGE_ID_PREFIX)
}

/// The case number in the subject (`KRM-YYYY-NNNNN`).
pub fn subject_case_number(mail: &ParsedMail) -> Option<String> {
    mail.subject
        .as_deref()
        .and_then(message::case_number_in_subject)
        .map(|n| n.to_string())
}

/// What a mail refers to: In-Reply-To and References, without its own Message-ID.
pub fn references(mail: &ParsedMail) -> Vec<String> {
    let mut refs: Vec<String> = mail.in_reply_to.clone();
    refs.extend(mail.references.iter().cloned());
    refs.retain(|r| Some(r) != mail.message_id.as_ref());
    refs
}

/// What a bounce refers to: the bounced mail's Message-ID, In-Reply-To and References.
pub fn bounce_references(mail: &ParsedMail) -> Vec<String> {
    let mut refs: Vec<String> = Vec::new();
    if let Some(b) = &mail.bounce {
        refs.extend(b.original_message_id.clone());
    }
    refs.extend(mail.in_reply_to.iter().cloned());
    refs.extend(mail.references.iter().cloned());
    refs
}

/// Why a mail without any sender address gets no acknowledgement.
pub const NO_SENDER: &str = "kein Absender angegeben";

/// `ack_detail` of an acknowledgement held back for suspected spam; `case confirm` sends it.
pub const SPAM_HELD: &str =
    "zurückgehalten: Spam-Verdacht (Versand, sobald der Spam-Verdacht aufgehoben ist)";

/// [`SPAM_HELD`] as versions before session 11 stored it (it named the CLI command).
pub const SPAM_HELD_BEFORE: &str = "zurückgehalten: Spam-Verdacht (Versand nach „case confirm“)";

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

/// What the sender rules look at in a parsed mail.
pub fn sender_input(mail: &ParsedMail) -> SenderInput<'_> {
    SenderInput {
        from: mail.from.as_ref(),
        reply_to: &mail.reply_to,
        cc: &mail.cc,
        text: &mail.text,
        attached_forwarded_from: &mail.forwarded_from,
    }
}

/// The organisation behind a new case's mail.
pub fn classify_sender(rules: &RuleSet, mail: &ParsedMail) -> Option<SenderMatch> {
    rules.classify_with_attached_texts(&sender_input(mail), &mail.forwarded_texts)
}

/// Who gets the acknowledgement: the first Reply-To address that is neither one of the
/// Ombudsstelle's own (`own_addresses`, lower case) nor internal to the authority (`rules`),
/// else the first Reply-To address (the acknowledgement is then suppressed, saying why), else
/// the sender. A Reply-To list that names a colleague or the office first and the citizen
/// after still acknowledges to the citizen.
pub fn ack_recipient<'m>(
    mail: &'m ParsedMail,
    own_addresses: &[String],
    rules: &RuleSet,
) -> Option<&'m Address> {
    mail.reply_to
        .iter()
        .find(|a| !is_own_address(own_addresses, a) && !rules.is_internal(a))
        .or(mail.reply_to.first())
        .or(mail.from.as_ref())
}

/// Whether `to` is one of the Ombudsstelle's own addresses (lower case), also with a
/// `+detail` in its local part.
fn is_own_address(own_addresses: &[String], to: &Address) -> bool {
    let norm = to.normalized();
    let (tl, td) = norm.rsplit_once('@').unwrap_or((&norm, ""));
    own_addresses.iter().any(|a| {
        let (al, ad) = a.rsplit_once('@').unwrap_or((a, ""));
        ad == td && (al == tl || tl.split('+').next() == Some(al))
    })
}

/// Why a new case's acknowledgement to `to` is not sent (German, for staff), or `None`; the
/// spam hold and the hourly cap come after it (see [`decide_mail`]).
/// `own_addresses` are the Ombudsstelle's own addresses (`AckSettings::own_addresses`, lower case).
pub fn ack_suppression(
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
    if is_own_address(own_addresses, to) {
        return Some("eigene Adresse der Ombudsstelle".into());
    }
    if rules.is_internal(to) {
        return Some("interne Adresse der Behörde".into());
    }
    // An address no mail can be written to (no domain, a trailing dot, control characters):
    // said here, where `explain` sees it too, not first when the mail is built.
    if to.addr.parse::<lettre::Address>().is_err() {
        return Some(ACK_ADDRESS_INVALID.into());
    }
    None
}

/// `ack_detail` when the recipient address cannot be written into a mail.
pub const ACK_ADDRESS_INVALID: &str = "Empfängeradresse ungültig";

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "[settings]\ninternal_domains = [\"jobcenter.test\"]\n\n[[rule]]\nid = \"caritas\"\norganisation = \"Caritas\"\ncategory = \"Beratungsstelle\"\nthird_party = true\ndomain = \"caritas.test\"\n";

    fn rules() -> RuleSet {
        RuleSet::from_sources(&[("senders.toml", RULES)]).unwrap()
    }

    fn parse(raw: &str) -> ParsedMail {
        message::parse(raw.as_bytes(), &message::Limits::default()).unwrap()
    }

    fn citizen(subject: &str, extra: &str) -> ParsedMail {
        parse(&format!(
            "From: buerger@mail.test\r\nSubject: {subject}\r\nMessage-ID: <m1@mail.test>\r\n{extra}\r\nText\r\n"
        ))
    }

    fn run(mail: &ParsedMail, policy: &Policy, facts: &Facts) -> MailDecision {
        let rules = rules();
        decide_mail(
            &Input {
                mail,
                raw: b"",
                rules: &rules,
                policy,
            },
            facts,
        )
    }

    fn case(id: i64) -> CaseRef {
        CaseRef {
            id,
            number: format!("KRM-2026-{id:05}"),
        }
    }

    fn known() -> Facts {
        Facts {
            looked_up: true,
            ..Facts::default()
        }
    }

    #[test]
    fn a_known_mail_is_seen_again_before_anything_else() {
        let facts = Facts {
            identical: Some(case(3)),
            followup: Some((case(4), CaseStatus::Open)),
            ..known()
        };
        let d = run(&citizen("x", ""), &Policy::default(), &facts);
        assert_eq!(d.route, Route::SeenAgain(case(3)));
        assert!(d.new_case.is_none());
    }

    #[test]
    fn a_follow_up_to_a_closed_case_reopens_it_or_opens_a_related_case() {
        let mail = citizen("AW: KRM-2026-00004", "");
        let facts = Facts {
            followup: Some((case(4), CaseStatus::Closed)),
            ..known()
        };
        let d = run(&mail, &Policy::default(), &facts);
        assert_eq!(
            d.route,
            Route::FollowUp {
                case: Some(case(4)),
                reopen: true
            }
        );
        let policy = Policy {
            closed_followup: ClosedFollowup::NewCase,
            ..Policy::default()
        };
        let d = run(&mail, &policy, &facts);
        assert_eq!(d.route, Route::NewCase);
        let plan = d.new_case.unwrap();
        assert_eq!(plan.related, Some(4));
        assert_eq!(plan.possible_duplicate_of, Some(4));
        assert_eq!(plan.review_reason, Some(ReviewReason::FollowupToClosed));
        assert_eq!(plan.ack, AckDecision::Enqueued);
    }

    #[test]
    fn the_hourly_cap_suppresses_only_citizens_acknowledgements() {
        let facts = Facts {
            acks_last_hour: 20,
            ..known()
        };
        let plan = run(&citizen("x", ""), &Policy::default(), &facts)
            .new_case
            .unwrap();
        assert_eq!(
            plan.ack,
            AckDecision::Suppressed(
                "Obergrenze von 20 Bestätigungen pro Stunde an diese Adresse erreicht".into()
            )
        );
        let counsellor = parse("From: a@caritas.test\r\nSubject: x\r\n\r\nText\r\n");
        let plan = run(&counsellor, &Policy::default(), &facts)
            .new_case
            .unwrap();
        assert!(plan.third_party());
        assert_eq!(plan.ack, AckDecision::Enqueued);
    }

    /// An address no mail can go to is said in the decision (so `explain` says it too), not
    /// first when the acknowledgement is built (an outside try found explain promising one).
    #[test]
    fn an_address_no_mail_can_go_to_suppresses_the_acknowledgement() {
        for from in [
            "moderator",
            "buerger@mail.test.",
            "bue\u{1b}[31mrger@mail.test",
        ] {
            let mail = parse(&format!("From: {from}\r\nSubject: x\r\n\r\nText\r\n"));
            let plan = run(&mail, &Policy::default(), &known()).new_case.unwrap();
            // Either the parser drops such an address (no sender) or the decision refuses it;
            // an acknowledgement is never planned.
            match &plan.ack {
                AckDecision::Suppressed(why) if mail.from.is_some() => {
                    assert_eq!(why, ACK_ADDRESS_INVALID, "{from}")
                }
                AckDecision::Suppressed(_) => {}
                other => panic!("{from}: {other:?}"),
            }
        }
        let reply_to = citizen("x", "Reply-To: buerger@mail.test.\r\n");
        let plan = run(&reply_to, &Policy::default(), &known())
            .new_case
            .unwrap();
        assert_eq!(
            plan.ack,
            AckDecision::Suppressed(ACK_ADDRESS_INVALID.into())
        );
        let fine = run(&citizen("x", ""), &Policy::default(), &known())
            .new_case
            .unwrap();
        assert_eq!(fine.ack, AckDecision::Enqueued);
    }

    #[test]
    fn a_reply_to_list_acknowledges_its_first_address_outside_the_authority() {
        let policy = Policy {
            own_addresses: vec!["ombudsstelle@jobcenter.test".into()],
            ..Policy::default()
        };
        let ack = |reply_to: &str| {
            let plan = run(
                &citizen("x", &format!("Reply-To: {reply_to}\r\n")),
                &policy,
                &known(),
            )
            .new_case
            .unwrap();
            (plan.ack_to.map(|a| a.normalized()), plan.ack)
        };
        // A colleague or the office first, the citizen after: the citizen.
        for list in [
            "kollegin@jobcenter.test, hilfe@beratung.test",
            "Ombudsstelle <ombudsstelle+x@jobcenter.test>, hilfe@beratung.test",
        ] {
            assert_eq!(
                ack(list),
                (Some("hilfe@beratung.test".into()), AckDecision::Enqueued),
                "{list}"
            );
        }
        // The first usable one, whatever follows.
        assert_eq!(
            ack("hilfe@beratung.test, kollegin@jobcenter.test")
                .0
                .as_deref(),
            Some("hilfe@beratung.test")
        );
        // Only internal addresses: the first, suppressed as before.
        assert_eq!(
            ack("kollegin@jobcenter.test, ombudsstelle@jobcenter.test"),
            (
                Some("kollegin@jobcenter.test".into()),
                AckDecision::Suppressed("interne Adresse der Behörde".into())
            )
        );
    }

    #[test]
    fn without_facts_a_named_case_is_a_conditional_follow_up_and_known_facts_decide() {
        let mail = citizen("AW: KRM-2026-00004", "");
        let d = run(&mail, &Policy::default(), &Facts::default());
        assert_eq!(
            d.route,
            Route::FollowUp {
                case: None,
                reopen: false
            }
        );
        assert!(d.new_case.is_some(), "the fallback new case is shown");
        // Looked up and not found: a new case, definitely.
        let d = run(&mail, &Policy::default(), &known());
        assert_eq!(d.route, Route::NewCase);
        assert!(!d.possible_followup);
        // Foreign references only: a new case that may turn out a follow-up.
        let reply = citizen("Nachtrag", "References: <frueher@mail.test>\r\n");
        let d = run(&reply, &Policy::default(), &Facts::default());
        assert_eq!(d.route, Route::NewCase);
        assert!(d.possible_followup);
    }

    #[test]
    fn a_bounce_of_our_mail_lands_on_its_case_or_becomes_a_review_case() {
        let bounce = parse(
            "From: MAILER-DAEMON@mx.test\r\nSubject: Undelivered\r\n\
             In-Reply-To: <krm-ack-9@jobcenter.test>\r\nAuto-Submitted: auto-replied\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n",
        );
        assert_eq!(bounce.auto, AutoClass::Bounce);
        let facts = Facts {
            bounced: Some(case(9)),
            ..known()
        };
        let d = run(&bounce, &Policy::default(), &facts);
        assert!(matches!(d.route, Route::Bounce { case: Some(c), .. } if c == case(9)));
        let d = run(&bounce, &Policy::default(), &known());
        assert_eq!(d.route, Route::NewCase);
        let plan = d.new_case.unwrap();
        assert_eq!(plan.review_reason, Some(ReviewReason::Bounce));
        assert!(matches!(plan.ack, AckDecision::Suppressed(_)));
    }
}
