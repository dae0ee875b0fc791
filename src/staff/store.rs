//! The staff commands against the database: each loads the case under a row lock, applies a pure
//! transition, writes the changed fields and one audit row per field in one transaction.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use sqlx::PgPool;
use std::str::FromStr;

use crate::calendar::{self, Calendar, DeadlinePolicy};
use crate::domain::{AckStatus, CaseNumber, CaseStatus, Kind, OutboxKind, ReviewReason};
use crate::intake;
use crate::rules::RuleSet;
use crate::store::batch::BatchWriter;
use crate::store::cases::{self, Event, NewCase};
use crate::store::staff::{self as q, StaffCase};

use super::*;

// ---------------------------------------------------------------------------------------------
// Commands against the database: one transaction each
// ---------------------------------------------------------------------------------------------

/// The outcome of a command: the case and every field it changed (empty: nothing to do).
#[derive(Debug, Clone)]
pub struct Applied {
    pub number: String,
    pub changes: Vec<FieldChange>,
    /// What else the command did.
    pub also: Vec<Also>,
}

/// What a command did besides changing the case's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Also {
    /// `ack-recorded` withdrew the automatic acknowledgement still waiting in the outbox.
    AckWithdrawn,
}

impl Also {
    const ALL: [Also; 1] = [Also::AckWithdrawn];

    /// What staff read (CLI and desk).
    pub fn text(self) -> &'static str {
        match self {
            Also::AckWithdrawn => {
                "Die automatische Eingangsbestätigung, die noch wartete, ist zurückgezogen und \
                 wird nicht versandt."
            }
        }
    }

    /// Its key in the desk's redirect after the action (`hinweis=`).
    pub fn key(self) -> &'static str {
        match self {
            Also::AckWithdrawn => "bestaetigung-zurueckgezogen",
        }
    }

    pub fn from_key(key: &str) -> Option<Also> {
        Also::ALL.into_iter().find(|a| a.key() == key)
    }
}

pub(super) fn normalise_number(number: &str) -> Result<String> {
    CaseNumber::from_str(number)
        .map(|n| n.to_string())
        .map_err(StaffError::Refused)
}

pub(super) async fn load_locked(conn: &mut sqlx::PgConnection, number: &str) -> Result<StaffCase> {
    let id = q::id_of(conn, number)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.to_string()))?;
    cases::lock(conn, id).await?;
    q::get(conn, id)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.to_string()))
}

/// Refuses when the case is no longer at `expected` (the version a desk form was rendered
/// from); `None` (the CLI) takes the case as it is. Called with the row lock held.
pub fn check_version(c: &StaffCase, expected: Option<i64>) -> Result<()> {
    match expected {
        Some(v) if v != c.version => Err(StaffError::Stale(c.row.number.clone())),
        _ => Ok(()),
    }
}

/// One case without its mails and timeline (the desk's checks before a change).
pub async fn case(pool: &PgPool, number: &str) -> Result<StaffCase> {
    let number = normalise_number(number)?;
    let mut conn = pool.acquire().await?;
    let id = q::id_of(&mut conn, &number)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.clone()))?;
    q::get(&mut conn, id)
        .await?
        .ok_or_else(|| StaffError::NotFound(number))
}

async fn write_changes(
    conn: &mut sqlx::PgConnection,
    case_id: i64,
    actor: &Actor,
    verb: &str,
    changes: &[FieldChange],
) -> Result<()> {
    for c in changes {
        cases::add_event(
            conn,
            case_id,
            &Event {
                old_value: c.old.clone(),
                new_value: c.new.clone(),
                detail: Some(c.field.key().to_string()),
                ..actor.event(verb)
            },
        )
        .await?;
    }
    Ok(())
}

/// Loads, transforms and stores one case in one transaction; one audit row per changed field,
/// with `verb` as the action.
pub async fn apply<F>(
    pool: &PgPool,
    number: &str,
    actor: &Actor,
    verb: &str,
    f: F,
) -> Result<Applied>
where
    F: FnOnce(&StaffCase, &CaseState, &str) -> Result<CaseState>,
{
    let number = normalise_number(number)?;
    let mut tx = pool.begin().await?;
    let case = load_locked(&mut tx, &number).await?;
    let old = CaseState::of(&case);
    let mut new = f(&case, &old, &number)?;
    let mut also = Vec::new();
    let ended = match new.status {
        CaseStatus::Discarded => Some("verworfen"),
        CaseStatus::Closed => Some("abgeschlossen"),
        _ => None,
    };
    if let Some(ended) = ended.filter(|_| old.status != new.status) {
        if withdraw_on_end(&mut tx, case.row.id, &old, &mut new, ended).await? {
            also.push(Also::AckWithdrawn);
        }
    }
    let changes = changes(&old, &new);
    if !changes.is_empty() {
        q::update_state(&mut tx, case.row.id, &new).await?;
        write_changes(&mut tx, case.row.id, actor, verb, &changes).await?;
    }
    if old.ack_status == AckStatus::Pending
        && new.ack_status == AckStatus::Manual
        && withdraw_queued_ack(&mut tx, case.row.id, &number, actor).await?
    {
        also.push(Also::AckWithdrawn);
    }
    tx.commit().await?;
    Ok(Applied {
        number,
        changes,
        also,
    })
}

/// A case discarded, closed or merged while its automatic acknowledgement still waits in the
/// outbox (the mail server was unreachable, say): the acknowledgement is withdrawn and the case's
/// acknowledgement state says why (`new` is changed; the caller writes it and its audit rows),
/// so that no sender gets an acknowledgement of a case that is already over or lives on in
/// another one. True when one was withdrawn. One that a sender holds right now may be on its
/// way: it is left to the sender, which records it as sent; the action goes ahead either way.
async fn withdraw_on_end(
    conn: &mut sqlx::PgConnection,
    case_id: i64,
    old: &CaseState,
    new: &mut CaseState,
    why: &str,
) -> Result<bool> {
    use crate::store::outbox::{self, Withdrawal};
    if old.ack_status != AckStatus::Pending {
        return Ok(false);
    }
    Ok(match outbox::withdraw_pending_ack(conn, case_id).await? {
        Withdrawal::Withdrawn => {
            new.ack_status = AckStatus::Suppressed;
            new.ack_detail = Some(format!(
                "zurückgezogen: der Vorgang wurde {why}, bevor die Bestätigung versandt war"
            ));
            true
        }
        Withdrawal::Nothing | Withdrawal::InFlight => false,
    })
}

/// An acknowledgement recorded by hand while the automatic one still waits in the outbox: the
/// automatic one is withdrawn (one acknowledgement, not two), noted on the timeline; true when
/// one was. Refused while a sender holds it, as it may be on its way; by the time the sender is
/// done, the timeline says whether it was sent.
async fn withdraw_queued_ack(
    conn: &mut sqlx::PgConnection,
    case_id: i64,
    number: &str,
    actor: &Actor,
) -> Result<bool> {
    use crate::store::outbox::{self, Withdrawal};
    match outbox::withdraw_pending_ack(conn, case_id).await? {
        Withdrawal::Nothing => Ok(false),
        Withdrawal::InFlight => Err(refused(format!(
            "Die automatische Eingangsbestätigung für {number} wird gerade versandt. Bitte in \
             einigen Minuten erneut versuchen: dann steht im Verlauf, ob sie versandt wurde"
        ))),
        Withdrawal::Withdrawn => {
            cases::add_event(
                conn,
                case_id,
                &Event {
                    detail: Some("die Bestätigung wurde von Hand erfasst".to_string()),
                    ..actor.event("ack_withdrawn")
                },
            )
            .await?;
            Ok(true)
        }
    }
}

/// The longest note on a case's timeline (a page of text; a two-million-character one made the
/// case page 2 MB).
pub const MAX_CASE_NOTE_CHARS: usize = 10_000;

/// Adds a note (the *Erfasserbemerkung*) to the timeline.
pub async fn note(
    pool: &PgPool,
    number: &str,
    actor: &Actor,
    text: &str,
    version: Option<i64>,
) -> Result<Applied> {
    let number = normalise_number(number)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(refused("Die Bemerkung ist leer"));
    }
    if text.chars().count() > MAX_CASE_NOTE_CHARS {
        return Err(refused(format!(
            "Die Bemerkung ist zu lang (höchstens {MAX_CASE_NOTE_CHARS} Zeichen, sind {})",
            text.chars().count()
        )));
    }
    let mut tx = pool.begin().await?;
    let case = load_locked(&mut tx, &number).await?;
    check_version(&case, version)?;
    cases::add_event(
        &mut tx,
        case.row.id,
        &Event {
            new_value: Some(text.to_string()),
            ..actor.event("note")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Applied {
        number,
        changes: Vec::new(),
        also: Vec::new(),
    })
}

/// Merges case `number` into `into`. Both rows are locked in id order.
pub async fn merge_cases(
    pool: &PgPool,
    number: &str,
    into: &str,
    actor: &Actor,
    version: Option<i64>,
) -> Result<Applied> {
    let number = normalise_number(number)?;
    let into = normalise_number(into)?;
    let mut tx = pool.begin().await?;
    let a_id = q::id_of(&mut tx, &number)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.clone()))?;
    let b_id = q::id_of(&mut tx, &into)
        .await?
        .ok_or_else(|| StaffError::NotFound(into.clone()))?;
    for id in [a_id.min(b_id), a_id.max(b_id)] {
        cases::lock(&mut tx, id).await?;
    }
    let a = q::get(&mut tx, a_id)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.clone()))?;
    check_version(&a, version)?;
    let b = q::get(&mut tx, b_id)
        .await?
        .ok_or_else(|| StaffError::NotFound(into.clone()))?;
    let old = CaseState::of(&a);
    let target = CaseRef {
        id: b_id,
        number: into.clone(),
    };
    let mut new = merge(&old, &number, &target, &CaseState::of(&b))?;
    let mut also = Vec::new();
    let why = format!("mit {into} zusammengeführt");
    if withdraw_on_end(&mut tx, a_id, &old, &mut new, &why).await? {
        also.push(Also::AckWithdrawn);
    }
    let changes = changes(&old, &new);
    q::update_state(&mut tx, a_id, &new).await?;
    write_changes(&mut tx, a_id, actor, "merge", &changes).await?;
    cases::add_event(
        &mut tx,
        b_id,
        &Event {
            new_value: Some(number.clone()),
            detail: Some(format!("{number} in diesen Vorgang zusammengeführt")),
            ..actor.event("merged_from")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Applied {
        number,
        changes,
        also,
    })
}

/// The outcome of `case confirm`.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub applied: Applied,
    /// The held acknowledgement was put into the outbox.
    pub ack_enqueued: bool,
}

/// Confirms a case held for suspected spam (`review_reason` `spam`): it counts from now on like
/// any other, and the acknowledgement held back at intake goes into the outbox as intake would
/// have put it (an acknowledgement suppressed for another reason stays suppressed). Audit rows:
/// `confirm` for the review reason and for each changed acknowledgement field.
pub async fn confirm(
    pool: &PgPool,
    number: &str,
    actor: &Actor,
    settings: &crate::config::Settings,
    templates: &crate::templates::Templates,
    version: Option<i64>,
) -> Result<Confirmed> {
    let number = normalise_number(number)?;
    let mut tx = pool.begin().await?;
    let case = load_locked(&mut tx, &number).await?;
    check_version(&case, version)?;
    let old = CaseState::of(&case);
    refuse_if_gone(&old, &number)?;
    if case.row.review_reason != Some(ReviewReason::Spam) {
        return Err(refused(format!(
            "{number} steht nicht unter Spam-Verdacht; nichts zu bestätigen"
        )));
    }
    let id = case.row.id;
    q::clear_review_reason(&mut tx, id).await?;
    cases::add_event(
        &mut tx,
        id,
        &Event {
            old_value: Some(ReviewReason::Spam.as_db().to_string()),
            new_value: None,
            detail: Some("review_reason".to_string()),
            ..actor.event("confirm")
        },
    )
    .await?;

    let mut new = old.clone();
    let mut ack_enqueued = false;
    let held = old.ack_status == AckStatus::Suppressed
        && matches!(old.ack_detail.as_deref(), Some(d) if d == intake::SPAM_HELD || d == intake::SPAM_HELD_BEFORE);
    if held {
        match q::initial_mail(&mut tx, id).await?.and_then(|m| {
            let to = m.recipient.clone().filter(|r| !r.is_empty())?;
            Some((m, to))
        }) {
            None => {
                new.ack_detail = Some(intake::NO_SENDER.to_string());
            }
            Some((m, to)) => {
                let outbox_id = crate::store::outbox::next_id(&mut tx).await?;
                let mut references = m.refs.clone();
                references.extend(m.message_id.clone());
                let built = intake::build_ack(
                    settings,
                    templates,
                    &intake::AckRequest {
                        outbox_id,
                        number: &number,
                        to: &to,
                        in_reply_to: m.message_id.as_deref(),
                        references: &references,
                        received_at: case.row.received_at,
                        due: case.row.due,
                    },
                );
                match built {
                    Ok((message_id, raw)) => {
                        let dedupe_key = format!("ack:{id}");
                        ack_enqueued = crate::store::outbox::enqueue(
                            &mut tx,
                            &crate::store::outbox::NewOutbox {
                                id: outbox_id,
                                kind: OutboxKind::Ack,
                                case_id: Some(id),
                                recipient: &to.to_lowercase(),
                                message_id: &message_id,
                                dedupe_key: Some(&dedupe_key),
                                raw: &raw,
                            },
                        )
                        .await?;
                        if ack_enqueued {
                            new.ack_status = AckStatus::Pending;
                            new.ack_detail = None;
                        }
                    }
                    Err(intake::AckBuildError::Address(_)) => {
                        new.ack_detail = Some(intake::ACK_ADDRESS_INVALID.to_string());
                    }
                    Err(intake::AckBuildError::Template(e)) => {
                        return Err(StaffError::Template(e));
                    }
                }
            }
        }
    }
    let changes = changes(&old, &new);
    if !changes.is_empty() {
        q::update_state(&mut tx, id, &new).await?;
        write_changes(&mut tx, id, actor, "confirm", &changes).await?;
    }
    tx.commit().await?;
    Ok(Confirmed {
        applied: Applied {
            number,
            changes,
            also: Vec::new(),
        },
        ack_enqueued,
    })
}

/// Records a reaction that did not come by mail: a new case with its deadlines, numbered by
/// the Berlin year of receipt; no acknowledgement is sent (`ack_status` `none`, or `manual`
/// when staff say they sent one).
pub async fn new_case(
    pool: &PgPool,
    cal: &Calendar,
    policy: DeadlinePolicy,
    rules: &RuleSet,
    m: &ManualCase,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied> {
    check_manual(m, now)?;
    let deadlines = calendar::compute(cal, policy, m.received_at);
    let year = calendar::berlin_date(m.received_at).year();
    let mut tx = pool.begin().await?;
    let nc = NewCase {
        channel: m.channel.as_str().to_string(),
        received_at: m.received_at,
        suggested_kind: None,
        suggested_topics: Vec::new(),
        kind: None,
        organisation: None,
        category: None,
        third_party: false,
        rule_id: None,
        ruleset_version: None,
        rule_evidence: None,
        review_reason: None,
        possible_duplicate_of: None,
        ack_due: deadlines.ack_due,
        due_unshifted: deadlines.due_unshifted,
        due: deadlines.due,
        ack_status: AckStatus::None,
        ack_detail: None,
    };
    // The same write path as intake's new cases (one column list, one number format).
    let mut writer = BatchWriter::default();
    let (id, number) = writer.new_case(&mut tx, &nc, year).await?;
    writer.flush(&mut tx).await?;
    let number = number.to_string();
    let case = q::get(&mut tx, id)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.clone()))?;
    let base = CaseState::of(&case);
    let new = manual_state(&base, m, rules, now)?;
    cases::add_event(
        &mut tx,
        id,
        &Event {
            new_value: Some(m.channel.as_str().to_string()),
            detail: Some(format!(
                "Vorgang von Hand erfasst (Eingangsweg: {})",
                m.channel.label()
            )),
            ..actor.event("created")
        },
    )
    .await?;
    let changes = changes(&base, &new);
    if !changes.is_empty() {
        q::update_state(&mut tx, id, &new).await?;
        write_changes(&mut tx, id, actor, "new", &changes).await?;
    }
    if let Some(text) = m.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        cases::add_event(
            &mut tx,
            id,
            &Event {
                new_value: Some(text.to_string()),
                ..actor.event("note")
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Applied {
        number,
        changes,
        also: Vec::new(),
    })
}

pub async fn detail(pool: &PgPool, number: &str) -> Result<CaseDetail> {
    let number = normalise_number(number)?;
    let mut conn = pool.acquire().await?;
    let id = q::id_of(&mut conn, &number)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.clone()))?;
    let case = q::get(&mut conn, id)
        .await?
        .ok_or_else(|| StaffError::NotFound(number.clone()))?;
    Ok(CaseDetail {
        messages: q::messages(&mut conn, id).await?,
        attachments: q::attachments(&mut conn, id).await?,
        events: q::events(&mut conn, id).await?,
        contacts: crate::store::contacts::of_case(&mut conn, id).await?,
        case,
    })
}

/// Filters of `case list`. Dates are Berlin dates of receipt, both inclusive.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub statuses: Vec<CaseStatus>,
    pub organisation: Option<String>,
    pub kind: Option<Kind>,
    pub unclassified: bool,
    pub assignee: Option<String>,
    pub unassigned: bool,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Open cases whose deadline has passed (`due` before today).
    pub overdue: bool,
    /// Open cases due within this many working days (today included, not yet overdue).
    pub due_within: Option<u32>,
    /// Part of a sender's address or display name (any mail of the case, case-insensitive).
    pub sender: Option<String>,
}

/// Cases matching `f`, by receipt time. `today` is the Berlin date the deadline filters use.
pub async fn list(
    pool: &PgPool,
    cal: &Calendar,
    f: &ListFilter,
    today: NaiveDate,
) -> Result<Vec<StaffCase>> {
    let sf = list_query(f)?;
    let mut conn = pool.acquire().await?;
    let rows = q::list(&mut conn, &sf).await?;
    Ok(rows
        .into_iter()
        .filter(|c| deadline_filter(cal, f, c.row.status, c.row.due, today))
        .collect())
}

/// One page of the desk's work list: the matching cases sorted by deadline (the most urgent
/// first, then by number), `size` per page; with the number of all matching cases and the page
/// shown (`page` kept within 1 and the last page). Filters as [`list`]; only the page's rows are
/// loaded whole.
pub async fn list_page(
    pool: &PgPool,
    cal: &Calendar,
    f: &ListFilter,
    today: NaiveDate,
    page: usize,
    size: usize,
) -> Result<(usize, usize, Vec<StaffCase>)> {
    let sf = list_query(f)?;
    let mut conn = pool.acquire().await?;
    let mut keys: Vec<q::ListKey> = q::list_keys(&mut conn, &sf)
        .await?
        .into_iter()
        .filter(|k| deadline_filter(cal, f, k.status, k.due, today))
        .collect();
    keys.sort_by(|a, b| (a.due, &a.number).cmp(&(b.due, &b.number)));
    let size = size.max(1);
    let page = page.clamp(1, keys.len().div_ceil(size).max(1));
    let ids: Vec<i64> = keys
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|k| k.id)
        .collect();
    let mut rows = q::by_ids(&mut conn, &ids).await?;
    rows.sort_by_key(|c| ids.iter().position(|&i| i == c.row.id));
    Ok((keys.len(), page, rows))
}

/// The longest "due within" a list asks for, in working days (the desk's limit too): the
/// horizon is counted day by day, and four billion days kept `case list` busy for hours.
pub const MAX_DUE_WITHIN: u32 = 366;

/// The SQL side of a list filter (a period from after to refused).
fn list_query(f: &ListFilter) -> Result<q::ListQuery> {
    if let Some(n) = f.due_within.filter(|n| *n > MAX_DUE_WITHIN) {
        return Err(refused(format!(
            "Fällig innerhalb von höchstens {MAX_DUE_WITHIN} Arbeitstagen; angegeben: {n}"
        )));
    }
    if let (Some(a), Some(b)) = (f.from, f.to) {
        if a > b {
            return Err(refused(format!(
                "--from {} liegt nach --to {}",
                ymd(a),
                ymd(b)
            )));
        }
    }
    let start = |d: NaiveDate| calendar::berlin_local_to_utc(d, NaiveTime::MIN);
    Ok(q::ListQuery {
        statuses: (!f.statuses.is_empty()).then(|| f.statuses.clone()),
        organisation: f.organisation.clone(),
        kind: f.kind.map(|k| k.as_str().to_string()),
        unclassified: f.unclassified,
        assignee: f.assignee.clone(),
        unassigned: f.unassigned,
        from: f.from.and_then(start),
        until: f.to.and_then(|d| d.succ_opt()).and_then(start),
        sender: f.sender.clone(),
    })
}

/// The deadline filters: only open cases can be overdue or due (a held case's deadline is
/// suspended until it is resumed).
pub fn deadline_filter(
    cal: &Calendar,
    f: &ListFilter,
    status: CaseStatus,
    due: NaiveDate,
    today: NaiveDate,
) -> bool {
    if !f.overdue && f.due_within.is_none() {
        return true;
    }
    if status != CaseStatus::Open {
        return false;
    }
    let overdue = due < today;
    let within = f
        .due_within
        .is_some_and(|n| calendar::is_due_within(cal, due, today, n));
    (f.overdue && overdue) || within
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::test_dates::d;
    use crate::calendar::{ClosingDay, Land};

    fn cal() -> Calendar {
        Calendar::new(
            Land::SN,
            vec![
                ClosingDay::parse("12-24").unwrap(),
                ClosingDay::parse("12-31").unwrap(),
            ],
        )
    }

    #[test]
    fn deadline_filters_only_take_open_cases() {
        let c = cal();
        let today = d("2026-03-12"); // Thursday
        let over = ListFilter {
            overdue: true,
            ..Default::default()
        };
        assert!(deadline_filter(
            &c,
            &over,
            CaseStatus::Open,
            d("2026-03-11"),
            today
        ));
        assert!(!deadline_filter(
            &c,
            &over,
            CaseStatus::Open,
            d("2026-03-12"),
            today
        ));
        assert!(!deadline_filter(
            &c,
            &over,
            CaseStatus::OnHold,
            d("2026-03-01"),
            today
        ));
        assert!(!deadline_filter(
            &c,
            &over,
            CaseStatus::Closed,
            d("2026-03-01"),
            today
        ));
        let within = ListFilter {
            due_within: Some(2),
            ..Default::default()
        };
        // A horizon beyond the limit is refused before anything counts days toward it.
        let far = |n| ListFilter {
            due_within: Some(n),
            ..Default::default()
        };
        assert!(list_query(&far(MAX_DUE_WITHIN)).is_ok());
        assert!(matches!(
            list_query(&far(u32::MAX)),
            Err(StaffError::Refused(m)) if m.contains("höchstens 366 Arbeitstage")
        ));
        assert!(deadline_filter(
            &c,
            &within,
            CaseStatus::Open,
            d("2026-03-12"),
            today
        ));
        assert!(deadline_filter(
            &c,
            &within,
            CaseStatus::Open,
            d("2026-03-16"),
            today
        ));
        assert!(!deadline_filter(
            &c,
            &within,
            CaseStatus::Open,
            d("2026-03-17"),
            today
        ));
        assert!(!deadline_filter(
            &c,
            &within,
            CaseStatus::Open,
            d("2026-03-11"),
            today
        ));
        assert!(deadline_filter(
            &c,
            &ListFilter::default(),
            CaseStatus::Merged,
            d("2000-01-01"),
            today
        ));
    }
}
