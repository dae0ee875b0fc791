//! Reminder digests: once per Berlin working day, at the configured local time, one German mail
//! per recipient — the team, each assignee with open cases, the lead for escalations — written
//! into the outbox, which sends it. Planning (`plan`) is pure; `tick` adds the clock, the
//! database and the once-per-day guarantee; `scheduler` calls `tick` every 30 seconds.
//! A digest names cases by number, organisation, kind, topics and dates only: never a citizen's
//! name or address, a subject or mail text (§ 35 SGB I).

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::watch;

use crate::app::App;
use crate::calendar::{self, Calendar};
use crate::config::Settings;
use crate::domain::{kind_label, ymd, AckStatus, CaseStatus};
use crate::smtp;
use crate::store::digest::{self as q, DigestCaseRow, DigestQuarantineRow};
use crate::store::{outbox, StoreError};
pub use crate::templates::digest_context::{
    AckLine, Audience, CaseLine, DigestContext, QuarantineLine, ReviewLine, NO_ORGANISATION,
};
use crate::templates::{Rendered, TemplateError, Templates, DIGEST};

/// How often the scheduler looks at the clock.
pub const TICK_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The address itself is left out: logs carry no addresses.
    #[error("cannot build the {audience} digest mail (check the address in {key}): {cause}")]
    Build {
        audience: &'static str,
        key: &'static str,
        cause: &'static str,
    },
}

impl From<sqlx::Error> for DigestError {
    fn from(e: sqlx::Error) -> Self {
        DigestError::Store(StoreError::Sql(e))
    }
}

/// One recipient's digest for one day, before rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub audience: Audience,
    pub recipient: String,
    pub context: DigestContext,
}

impl Planned {
    /// An empty escalation is never sent; the others only with `digest.send_empty`.
    pub fn should_send(&self, send_empty: bool) -> bool {
        if self.context.is_empty() {
            send_empty && self.audience != Audience::Escalation
        } else {
            true
        }
    }

    /// `digest:<recipient>:<date>` (`escalation:…` for the lead, so that a lead who is also the
    /// team address still gets both). The recipient is lower-cased.
    pub fn dedupe_key(&self) -> String {
        let prefix = self.audience.outbox_kind().as_db();
        format!(
            "{prefix}:{}:{}",
            self.recipient.trim().to_lowercase(),
            self.context.date
        )
    }
}

const WEEKDAYS_DE: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];

pub fn weekday_de(date: NaiveDate) -> &'static str {
    WEEKDAYS_DE[date.weekday().num_days_from_monday() as usize]
}

fn kind_text(c: &DigestCaseRow) -> String {
    match (&c.kind, &c.suggested_kind) {
        (Some(k), _) => kind_label(k),
        (None, Some(s)) => format!("{} (Vorschlag)", kind_label(s)),
        (None, None) => "Art offen".to_string(),
    }
}

fn topics_text(c: &DigestCaseRow) -> String {
    if !c.topics.is_empty() {
        c.topics.join(", ")
    } else if !c.suggested_topics.is_empty() {
        format!("{} (Vorschlag)", c.suggested_topics.join(", "))
    } else {
        "kein Thema".to_string()
    }
}

/// Only a status code from `ack_detail` (e.g. `550` or `5.1.1`); anything else is left out, as
/// the server's text may quote the address.
fn status_code(detail: Option<&str>) -> Option<String> {
    let d = detail?.trim();
    let ok = !d.is_empty()
        && d.len() <= 12
        && d.starts_with(|c: char| c.is_ascii_digit())
        && d.chars().all(|c| c.is_ascii_digit() || c == '.');
    ok.then(|| d.to_string())
}

/// A quarantine reason is written by us, but may quote a parser message: addresses are masked
/// and the text is cut short.
fn quarantine_reason(reason: &str) -> String {
    let masked: String = reason
        .split_whitespace()
        .map(|w| if w.contains('@') { "[Adresse]" } else { w })
        .collect::<Vec<_>>()
        .join(" ");
    const MAX: usize = 160;
    if masked.chars().count() > MAX {
        let cut: String = masked.chars().take(MAX).collect();
        format!("{cut} …")
    } else {
        masked
    }
}

/// The `[staff]` name an assignee value refers to (names compare without case: names from
/// the environment come upper-cased).
fn staff_name<'a>(staff: &'a BTreeMap<String, String>, assignee: &str) -> Option<&'a str> {
    let a = assignee.trim();
    staff
        .get_key_value(a)
        .or_else(|| staff.iter().find(|(n, _)| n.trim().eq_ignore_ascii_case(a)))
        .map(|(n, _)| n.as_str())
}

/// The state of all open cases on one day, sorted into sections.
struct Sorted {
    overdue: Vec<(CaseLine, DateTime<Utc>)>,
    due_today: Vec<CaseLine>,
    due_soon: Vec<CaseLine>,
    on_hold: Vec<(CaseLine, DateTime<Utc>)>,
    answered_open: Vec<CaseLine>,
    ack_failed: Vec<AckLine>,
    review: Vec<ReviewLine>,
}

/// How a digest writes a case: the settings every line needs.
struct LineSettings<'a> {
    cal: &'a Calendar,
    today: NaiveDate,
    escalate_after: Option<u32>,
    staff: &'a BTreeMap<String, String>,
    base_url: Option<&'a str>,
}

fn line(c: &DigestCaseRow, ls: &LineSettings) -> CaseLine {
    let (cal, today, escalate_after, staff) = (ls.cal, ls.today, ls.escalate_after, ls.staff);
    let open = c.status == CaseStatus::Open;
    let overdue = if open && c.due < today {
        calendar::working_days_overdue(cal, c.due, today)
    } else {
        0
    };
    CaseLine {
        number: c.number.clone(),
        organisation: c
            .organisation
            .clone()
            .filter(|o| !o.trim().is_empty())
            .unwrap_or_else(|| NO_ORGANISATION.to_string()),
        kind: kind_text(c),
        topics: topics_text(c),
        received: ymd(calendar::berlin_date(c.received_at)),
        due: ymd(c.due),
        overdue_working_days: overdue,
        escalated: escalate_after.is_some_and(|m| open && overdue > i64::from(m)),
        assignee: c
            .assignee
            .as_deref()
            .map(|a| staff_name(staff, a).unwrap_or(a).to_string()),
        hold_since: c.hold_since.map(|t| ymd(calendar::berlin_date(t))),
        link: ls.base_url.map(|b| format!("{b}/vorgaenge/{}", c.number)),
        answered_on: c.answered_on.map(ymd),
    }
}

fn sort(cases: &[&DigestCaseRow], ls: &LineSettings, within: u32) -> Sorted {
    let today = ls.today;
    let mut s = Sorted {
        overdue: Vec::new(),
        due_today: Vec::new(),
        due_soon: Vec::new(),
        on_hold: Vec::new(),
        answered_open: Vec::new(),
        ack_failed: Vec::new(),
        review: Vec::new(),
    };
    let soon_until = ls.cal.add_working_days(today, within);
    for c in cases {
        let l = line(c, ls);
        let received = ymd(calendar::berlin_date(c.received_at));
        if matches!(c.ack_status, AckStatus::Failed | AckStatus::NotDelivered) {
            s.ack_failed.push(AckLine {
                number: c.number.clone(),
                received: received.clone(),
                status: if c.ack_status == AckStatus::Failed {
                    "vom Mailserver nicht angenommen".to_string()
                } else {
                    "nicht zustellbar (Rückläufer)".to_string()
                },
                code: status_code(c.ack_detail.as_deref()),
                assignee: l.assignee.clone(),
            });
        }
        if let Some(r) = c.review_reason {
            s.review.push(ReviewLine {
                number: c.number.clone(),
                received,
                reason: r.digest_text().to_string(),
                assignee: l.assignee.clone(),
            });
        }
        if c.status == CaseStatus::OnHold {
            s.on_hold.push((l, c.hold_since.unwrap_or(c.received_at)));
        } else if c.answered_on.is_some() {
            s.answered_open.push(l);
        } else if c.due < today {
            s.overdue.push((l, c.received_at));
        } else if c.due == today {
            s.due_today.push(l);
        } else if c.due <= soon_until {
            s.due_soon.push(l);
        }
    }
    // Oldest deadline first; equal deadlines by receipt, then number.
    s.overdue
        .sort_by(|(a, ra), (b, rb)| (&a.due, ra, &a.number).cmp(&(&b.due, rb, &b.number)));
    s.due_today.sort_by(|a, b| a.number.cmp(&b.number));
    s.due_soon
        .sort_by(|a, b| (&a.due, &a.number).cmp(&(&b.due, &b.number)));
    s.on_hold
        .sort_by(|(a, ha), (b, hb)| (ha, &a.number).cmp(&(hb, &b.number)));
    s.answered_open
        .sort_by(|a, b| (&a.answered_on, &a.number).cmp(&(&b.answered_on, &b.number)));
    s.ack_failed.sort_by(|a, b| a.number.cmp(&b.number));
    s.review.sort_by(|a, b| a.number.cmp(&b.number));
    s
}

/// Every digest that could go out on `today`, from the cases' state: the team's, one per
/// assignee address with open cases, and the lead's. Whether each is sent is
/// [`Planned::should_send`]'s call. Pure: no clock, no database.
pub fn plan(
    settings: &Settings,
    cal: &Calendar,
    today: NaiveDate,
    cases: &[DigestCaseRow],
    quarantine: &[DigestQuarantineRow],
) -> Vec<Planned> {
    let d = &settings.digest;
    let escalate_after = d.lead.as_ref().map(|_| d.escalate_after_working_days);
    let base = |audience: Audience, label: String| DigestContext {
        date: ymd(today),
        weekday: weekday_de(today).to_string(),
        time: d.time.format("%H:%M").to_string(),
        audience,
        recipient_label: label,
        within_working_days: d.within_working_days,
        within_until: ymd(cal.add_working_days(today, d.within_working_days)),
        escalate_after_working_days: d.escalate_after_working_days,
        office_name: settings.smtp.from_name.clone(),
        overdue: Vec::new(),
        due_today: Vec::new(),
        due_soon: Vec::new(),
        on_hold: Vec::new(),
        answered_open: Vec::new(),
        ack_failed: Vec::new(),
        review: Vec::new(),
        quarantine: Vec::new(),
        base_url: settings.web.base_url.clone(),
    };
    let fill = |mut ctx: DigestContext, s: Sorted| {
        ctx.overdue = s.overdue.into_iter().map(|(l, _)| l).collect();
        ctx.due_today = s.due_today;
        ctx.due_soon = s.due_soon;
        ctx.on_hold = s.on_hold.into_iter().map(|(l, _)| l).collect();
        ctx.answered_open = s.answered_open;
        ctx.ack_failed = s.ack_failed;
        ctx.review = s.review;
        ctx
    };
    let ls = LineSettings {
        cal,
        today,
        escalate_after,
        staff: &settings.staff,
        base_url: settings.web.base_url.as_deref(),
    };
    let sort_these = |these: &[&DigestCaseRow]| sort(these, &ls, d.within_working_days);
    let mut out = Vec::new();

    let all: Vec<&DigestCaseRow> = cases.iter().collect();
    if let Some(team) = &d.team {
        let mut ctx = fill(base(Audience::Team, "Team".to_string()), sort_these(&all));
        ctx.quarantine = quarantine
            .iter()
            .map(|r| QuarantineLine {
                id: r.id,
                received: ymd(calendar::berlin_date(r.created_at)),
                reason: quarantine_reason(&r.reason),
            })
            .collect();
        out.push(Planned {
            audience: Audience::Team,
            recipient: team.clone(),
            context: ctx,
        });
    }

    // Assignees, grouped by address: two names sharing one mailbox get one digest; the team
    // address needs no second, smaller copy.
    let team_lc = d.team.as_ref().map(|t| t.trim().to_lowercase());
    let mut by_address: BTreeMap<String, (String, Vec<&str>)> = BTreeMap::new();
    for (name, addr) in &settings.staff {
        let key = addr.trim().to_lowercase();
        if Some(&key) == team_lc.as_ref() {
            continue;
        }
        by_address
            .entry(key)
            .or_insert_with(|| (addr.clone(), Vec::new()))
            .1
            .push(name.as_str());
    }
    for (addr, names) in by_address.values() {
        let theirs: Vec<&DigestCaseRow> = cases
            .iter()
            .filter(|c| {
                c.assignee
                    .as_deref()
                    .and_then(|a| staff_name(&settings.staff, a))
                    .is_some_and(|n| names.contains(&n))
            })
            .collect();
        if theirs.is_empty() {
            continue;
        }
        let ctx = fill(
            base(Audience::Assignee, names.join(", ")),
            sort_these(&theirs),
        );
        out.push(Planned {
            audience: Audience::Assignee,
            recipient: addr.clone(),
            context: ctx,
        });
    }

    if let Some(lead) = &d.lead {
        let mut ctx = base(Audience::Escalation, "Leitung".to_string());
        ctx.overdue = sort_these(&all)
            .overdue
            .into_iter()
            .map(|(l, _)| l)
            .filter(|l| l.escalated)
            .collect();
        out.push(Planned {
            audience: Audience::Escalation,
            recipient: lead.clone(),
            context: ctx,
        });
    }
    out
}

/// A planned digest with its rendered text.
#[derive(Debug, Clone)]
pub struct Composed {
    pub planned: Planned,
    pub rendered: Rendered,
    pub send: bool,
}

/// Plans and renders every digest for `today` from the database's current state.
pub async fn compose(
    conn: &mut sqlx::PgConnection,
    settings: &Settings,
    cal: &Calendar,
    templates: &Templates,
    today: NaiveDate,
) -> Result<Vec<Composed>, DigestError> {
    let cases = q::open_cases(conn).await?;
    let quarantine = q::open_quarantine(conn).await?;
    plan(settings, cal, today, &cases, &quarantine)
        .into_iter()
        .map(|p| {
            let rendered = templates.render(DIGEST, &p.context)?;
            let send = p.should_send(settings.digest.send_empty);
            Ok(Composed {
                planned: p,
                rendered,
                send,
            })
        })
        .collect()
}

/// What a tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickOutcome {
    /// Weekend, holiday or closing day: no digests today.
    NotWorkingDay,
    /// Working day, but before the digest time.
    BeforeTime,
    /// Today's digests were composed already (this or another instance, before a restart).
    AlreadyDone,
    /// This tick composed today's digests.
    Composed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Berlin date of `now`.
    pub date: NaiveDate,
    pub outcome: TickOutcome,
    /// Outbox rows written.
    pub enqueued: usize,
    /// Rows that existed already (same recipient and date).
    pub duplicates: usize,
    /// Digests with nothing to say, not sent.
    pub empty: usize,
}

/// The Berlin date whose digests are due at `now`, or why there are none: not a working day,
/// or before the digest time on the Berlin wall clock (CET or CEST, whichever is in force).
pub fn due_day(
    cal: &Calendar,
    time: NaiveTime,
    now: DateTime<Utc>,
) -> Result<NaiveDate, TickOutcome> {
    let today = calendar::berlin_date(now);
    if !cal.is_working_day(today) {
        return Err(TickOutcome::NotWorkingDay);
    }
    match calendar::berlin_local_to_utc(today, time) {
        Some(at) if now >= at => Ok(today),
        _ => Err(TickOutcome::BeforeTime),
    }
}

/// Composes today's digests into the outbox if `now` is on a working day at or after the digest
/// time (Berlin wall clock, so DST days need no care here) and nobody did so yet today. Missed
/// days are never made up: only `now`'s date counts. Exactly once per day and recipient: the
/// `digest_runs` row claimed in the same transaction, and the outbox's unique dedupe key.
pub async fn tick(app: &App, now: DateTime<Utc>) -> Result<TickReport, DigestError> {
    let s = &app.settings;
    let cal = &app.ctx.calendar;
    let mut report = TickReport {
        date: calendar::berlin_date(now),
        outcome: TickOutcome::NotWorkingDay,
        enqueued: 0,
        duplicates: 0,
        empty: 0,
    };
    let today = match due_day(cal, s.digest.time, now) {
        Ok(d) => d,
        Err(outcome) => {
            report.outcome = outcome;
            return Ok(report);
        }
    };
    let mut tx = app.pool.begin().await?;
    if !q::claim_day(&mut tx, today, now).await? {
        tx.rollback().await?;
        report.outcome = TickOutcome::AlreadyDone;
        return Ok(report);
    }
    let composed = compose(&mut tx, s, cal, &app.ctx.templates, today).await?;
    for c in composed {
        if !c.send {
            report.empty += 1;
            continue;
        }
        let kind = c.planned.audience.outbox_kind();
        let id = outbox::next_id(&mut tx).await?;
        let message_id = smtp::outbox_message_id(kind, id, &s.smtp.message_id_domain);
        let raw = smtp::build(&smtp::Outgoing {
            from: &s.smtp.from,
            from_name: &s.smtp.from_name,
            to: &c.planned.recipient,
            subject: &c.rendered.subject,
            body: &c.rendered.body,
            message_id: &message_id,
            in_reply_to: None,
            references: &[],
            auto_submitted: "auto-generated",
            date: now,
        })
        .map_err(|e| DigestError::Build {
            audience: c.planned.audience.as_str(),
            key: c.planned.audience.config_key(),
            cause: match e {
                smtp::SmtpError::Address(_) => "not a usable mail address",
                _ => "the message could not be encoded",
            },
        })?;
        let inserted = outbox::enqueue(
            &mut tx,
            &outbox::NewOutbox {
                id,
                kind,
                case_id: None,
                recipient: c.planned.recipient.trim(),
                message_id: &message_id,
                dedupe_key: Some(&c.planned.dedupe_key()),
                raw: &raw,
            },
        )
        .await?;
        if inserted {
            report.enqueued += 1;
        } else {
            report.duplicates += 1;
        }
    }
    q::finish_day(
        &mut tx,
        today,
        i32::try_from(report.enqueued).unwrap_or(i32::MAX),
    )
    .await?;
    tx.commit().await?;
    report.outcome = TickOutcome::Composed;
    Ok(report)
}

/// The digest task: a tick at start, then every [`TICK_EVERY`] until `stop`. A failed tick is
/// logged and tried again at the next one (nothing was written: one transaction).
pub async fn scheduler(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let d = &app.settings.digest;
    if d.team.is_none() && d.lead.is_none() && app.settings.staff.is_empty() {
        tracing::warn!(
            "reminder digests: no recipients configured (digest.team, digest.lead, [staff])"
        );
    }
    loop {
        if *stop.borrow() {
            return;
        }
        match tick(&app, crate::failpoint::now()).await {
            Ok(r) if r.outcome == TickOutcome::Composed => {
                tracing::info!(
                    date = %r.date,
                    enqueued = r.enqueued,
                    duplicates = r.duplicates,
                    nothing_to_say = r.empty,
                    "reminder digests composed"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, retry_in_secs = TICK_EVERY.as_secs(), "reminder digests failed");
            }
        }
        if crate::stop::sleep_or_stop(TICK_EVERY, &mut stop).await {
            return;
        }
    }
}

/// Whether `date` is a day the daemon sends digests, and if not, why (German, for the preview).
pub fn non_working_reason(cal: &Calendar, date: NaiveDate) -> Option<String> {
    if cal.is_working_day(date) {
        return None;
    }
    Some(match (date.weekday(), cal.holiday_name(date)) {
        (_, Some(h)) => format!("Feiertag ({h})"),
        (Weekday::Sat | Weekday::Sun, None) => weekday_de(date).to_string(),
        _ => "Schließtag der Dienststelle".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::test_dates::{d, utc};
    use crate::domain::ReviewReason;
    use crate::templates::digest_context::sample_context;
    use std::path::Path;

    fn settings(extra: &[(&str, &str)]) -> Settings {
        let mut env = vec![
            ("KRM_DIGEST_TEAM", "krm-team@jobcenter.test"),
            ("KRM_DIGEST_LEAD", "leitung@jobcenter.test"),
            ("KRM_STAFF_ANNA", "anna@jobcenter.test"),
            ("KRM_STAFF_BERND", "bernd@jobcenter.test"),
            ("KRM_SMTP_FROM_NAME", "Ombudsstelle des Jobcenters Dresden"),
        ];
        env.extend_from_slice(extra);
        let env: Vec<(String, String)> = env
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(None, &env).unwrap()
    }

    fn templates() -> Templates {
        Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")).unwrap()
    }

    /// A case received 14 days before `due` at 10:00 Berlin (winter time), open, unassigned.
    fn row(n: u32, due: &str) -> DigestCaseRow {
        let due = d(due);
        DigestCaseRow {
            id: i64::from(n),
            number: format!("KRM-2026-{n:05}"),
            status: CaseStatus::Open,
            received_at: (due - chrono::Days::new(14))
                .and_hms_opt(9, 0, 0)
                .unwrap()
                .and_utc(),
            organisation: None,
            kind: None,
            suggested_kind: Some("beschwerde".into()),
            topics: vec![],
            suggested_topics: vec!["Bearbeitungsdauer".into()],
            assignee: None,
            review_reason: None,
            due,
            due_unshifted: due,
            hold_since: None,
            ack_status: AckStatus::Sent,
            ack_detail: None,
            answered_on: None,
        }
    }

    /// Wednesday 2026-11-25 in Saxony; 2026-11-18 is Buß- und Bettag.
    fn fixture() -> (Vec<DigestCaseRow>, Vec<DigestQuarantineRow>) {
        let mut cases = vec![];
        let mut a = row(1, "2026-11-16"); // 6 working days overdue (18 Nov is a holiday)
        a.organisation = Some("Caritas Dresden, Schuldnerberatung".into());
        a.kind = Some("beschwerde".into());
        a.topics = vec!["Bearbeitungsdauer".into(), "Erreichbarkeit".into()];
        a.assignee = Some("ANNA".into());
        cases.push(a);
        cases.push(row(2, "2026-11-23")); // 2 overdue: not escalated
        let mut b = row(3, "2026-11-20"); // 3 overdue: escalated
        b.assignee = Some("Bernd".into());
        cases.push(b);
        let mut b2 = row(9, "2026-11-20"); // same deadline, received earlier
        b2.received_at -= chrono::Duration::days(1);
        cases.push(b2);
        let mut c = row(4, "2026-11-25"); // due today
        c.assignee = Some("anna".into());
        c.suggested_kind = None;
        c.suggested_topics = vec![];
        cases.push(c);
        cases.push(row(5, "2026-11-30")); // 3rd working day from today: due soon
        cases.push(row(6, "2026-12-01")); // 4th: not yet
        let mut h = row(7, "2026-11-10"); // on hold: never overdue
        h.status = CaseStatus::OnHold;
        h.hold_since = Some(utc("2026-11-05T08:00:00"));
        h.assignee = Some("Anna".into());
        cases.push(h);
        let mut f = row(8, "2026-12-09"); // acknowledgement bounced, flagged for review
        f.ack_status = AckStatus::NotDelivered;
        f.ack_detail = Some("5.1.1".into());
        f.review_reason = Some(ReviewReason::Bulk);
        cases.push(f);
        let mut g = row(10, "2026-12-09"); // refused with an answer that is no code
        g.ack_status = AckStatus::Failed;
        g.ack_detail = Some("550 <erika@mail.test>: unknown".into());
        cases.push(g);
        let mut x = row(11, "2026-12-01"); // assigned to someone not in [staff]
        x.assignee = Some("Carla".into());
        cases.push(x);
        let mut y = row(12, "2026-11-24"); // answered (sent mail captured), not closed
        y.answered_on = Some(d("2026-11-23"));
        y.assignee = Some("Anna".into());
        cases.push(y);
        let q = vec![DigestQuarantineRow {
            id: 3,
            reason: "Mail konnte nicht gelesen werden: bad header from erika@mail.test".into(),
            created_at: utc("2026-11-24T23:30:00"),
        }];
        (cases, q)
    }

    fn numbers(lines: &[CaseLine]) -> Vec<&str> {
        lines.iter().map(|l| l.number.as_str()).collect()
    }

    #[test]
    fn sections_and_order_for_the_team() {
        let s = settings(&[]);
        let (cases, q) = fixture();
        let p = plan(&s, &s.deadlines.calendar(), d("2026-11-25"), &cases, &q);
        let audiences: Vec<_> = p
            .iter()
            .map(|p| (p.audience, p.recipient.as_str()))
            .collect();
        assert_eq!(
            audiences,
            [
                (Audience::Team, "krm-team@jobcenter.test"),
                (Audience::Assignee, "anna@jobcenter.test"),
                (Audience::Assignee, "bernd@jobcenter.test"),
                (Audience::Escalation, "leitung@jobcenter.test"),
            ]
        );
        let t = &p[0].context;
        assert_eq!(
            numbers(&t.overdue),
            [
                "KRM-2026-00001",
                "KRM-2026-00009",
                "KRM-2026-00003",
                "KRM-2026-00002"
            ]
        );
        let days: Vec<_> = t
            .overdue
            .iter()
            .map(|l| (l.overdue_working_days, l.escalated))
            .collect();
        assert_eq!(days, [(6, true), (3, true), (3, true), (2, false)]);
        assert_eq!(numbers(&t.due_today), ["KRM-2026-00004"]);
        assert_eq!(numbers(&t.due_soon), ["KRM-2026-00005"]);
        assert_eq!(numbers(&t.on_hold), ["KRM-2026-00007"]);
        assert_eq!(t.on_hold[0].hold_since.as_deref(), Some("2026-11-05"));
        assert_eq!(t.within_until, "2026-11-30");
        let acks: Vec<_> = t
            .ack_failed
            .iter()
            .map(|a| (a.number.as_str(), a.code.as_deref()))
            .collect();
        assert_eq!(
            acks,
            [("KRM-2026-00008", Some("5.1.1")), ("KRM-2026-00010", None)]
        );
        assert_eq!(t.review.len(), 1);
        assert_eq!(t.quarantine.len(), 1);
        assert!(
            !t.quarantine[0].reason.contains('@'),
            "{}",
            t.quarantine[0].reason
        );

        let a = &t.overdue[0];
        assert_eq!(a.organisation, "Caritas Dresden, Schuldnerberatung");
        assert_eq!(a.kind, "Beschwerde");
        assert_eq!(a.topics, "Bearbeitungsdauer, Erreichbarkeit");
        assert_eq!(a.assignee.as_deref(), Some("ANNA"));
        let b = &t.overdue[3];
        assert_eq!(b.organisation, NO_ORGANISATION);
        assert_eq!(b.kind, "Beschwerde (Vorschlag)");
        assert_eq!(b.topics, "Bearbeitungsdauer (Vorschlag)");
        assert_eq!(t.due_today[0].kind, "Art offen");
        assert_eq!(t.due_today[0].topics, "kein Thema");
    }

    #[test]
    fn assignees_get_only_their_cases_and_the_lead_only_escalations() {
        let s = settings(&[]);
        let (cases, q) = fixture();
        let p = plan(&s, &s.deadlines.calendar(), d("2026-11-25"), &cases, &q);
        let anna = &p[1].context;
        assert_eq!(anna.recipient_label, "ANNA");
        assert_eq!(numbers(&anna.overdue), ["KRM-2026-00001"]);
        assert_eq!(numbers(&anna.due_today), ["KRM-2026-00004"]);
        assert_eq!(numbers(&anna.on_hold), ["KRM-2026-00007"]);
        assert!(
            anna.due_soon.is_empty() && anna.ack_failed.is_empty() && anna.quarantine.is_empty()
        );
        let bernd = &p[2].context;
        assert_eq!(numbers(&bernd.overdue), ["KRM-2026-00003"]);
        let lead = &p[3].context;
        assert_eq!(
            numbers(&lead.overdue),
            ["KRM-2026-00001", "KRM-2026-00009", "KRM-2026-00003"]
        );
        assert!(lead.due_today.is_empty() && lead.review.is_empty() && lead.quarantine.is_empty());
        assert_eq!(
            p[0].dedupe_key(),
            "digest:krm-team@jobcenter.test:2026-11-25"
        );
        assert_eq!(
            p[3].dedupe_key(),
            "escalation:leitung@jobcenter.test:2026-11-25"
        );
    }

    #[test]
    fn shared_addresses_and_missing_roles() {
        // Anna reads the team mailbox: no second, smaller copy. No lead: nothing escalated.
        let s = Settings::load_from(
            None,
            &[
                (
                    "KRM_DIGEST_TEAM".to_string(),
                    "KRM-Team@jobcenter.test".to_string(),
                ),
                (
                    "KRM_STAFF_ANNA".to_string(),
                    "krm-team@jobcenter.test".to_string(),
                ),
            ],
        )
        .unwrap();
        let (cases, q) = fixture();
        let p = plan(&s, &s.deadlines.calendar(), d("2026-11-25"), &cases, &q);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].audience, Audience::Team);
        assert!(p[0].context.overdue.iter().all(|l| !l.escalated));
    }

    #[test]
    fn nothing_to_say_is_not_sent_unless_configured() {
        let cal = settings(&[]).deadlines.calendar();
        let (mut cases, _) = fixture();
        cases.retain(|c| c.number == "KRM-2026-00006" || c.number == "KRM-2026-00007");
        cases[1].assignee = Some("Bernd".into());
        for (send_empty, expect) in [
            ("false", [false, false, false]),
            ("true", [true, true, false]),
        ] {
            let s = settings(&[("KRM_DIGEST_SEND_EMPTY", send_empty)]);
            let p = plan(&s, &cal, d("2026-11-25"), &cases, &[]);
            // Team, Bernd (his case is only on hold), lead.
            assert_eq!(p.len(), 3);
            assert!(p.iter().all(|p| p.context.is_empty()));
            let sends: Vec<bool> = p
                .iter()
                .map(|p| p.should_send(s.digest.send_empty))
                .collect();
            assert_eq!(sends, expect, "send_empty={send_empty}");
        }
        // An assignee without open cases gets nothing at all.
        let s = settings(&[("KRM_DIGEST_SEND_EMPTY", "true")]);
        let p = plan(&s, &cal, d("2026-11-25"), &[], &[]);
        assert!(p.iter().all(|p| p.audience != Audience::Assignee));
    }

    #[test]
    fn due_day_follows_the_berlin_wall_clock() {
        let cal = settings(&[]).deadlines.calendar();
        let t = NaiveTime::from_hms_opt(7, 30, 0).unwrap();
        let due = |s: &str| due_day(&cal, t, utc(s));
        // Monday after the spring change: 07:30 CEST is 05:30 UTC.
        assert_eq!(due("2026-03-30T05:29:59"), Err(TickOutcome::BeforeTime));
        assert_eq!(due("2026-03-30T05:30:00"), Ok(d("2026-03-30")));
        // Monday after the autumn change: 07:30 CET is 06:30 UTC.
        assert_eq!(due("2026-10-26T05:30:00"), Err(TickOutcome::BeforeTime));
        assert_eq!(due("2026-10-26T06:30:00"), Ok(d("2026-10-26")));
        // The change days themselves are Sundays.
        assert_eq!(due("2026-03-29T10:00:00"), Err(TickOutcome::NotWorkingDay));
        assert_eq!(due("2026-10-25T10:00:00"), Err(TickOutcome::NotWorkingDay));
        // Late evening in UTC is already the next Berlin day.
        assert_eq!(due("2026-11-24T23:30:00"), Err(TickOutcome::BeforeTime));
        assert_eq!(due("2026-11-25T08:10:00"), Ok(d("2026-11-25")));
        // Saturday, Buß- und Bettag, and the closing day 24 December.
        for s in [
            "2026-11-28T09:00:00",
            "2026-11-18T09:00:00",
            "2026-12-24T09:00:00",
        ] {
            assert_eq!(due(s), Err(TickOutcome::NotWorkingDay), "{s}");
        }
        assert_eq!(
            non_working_reason(&cal, d("2026-11-28")).as_deref(),
            Some("Samstag")
        );
        assert_eq!(
            non_working_reason(&cal, d("2026-11-18")).as_deref(),
            Some("Feiertag (Buß- und Bettag)")
        );
        assert_eq!(
            non_working_reason(&cal, d("2026-12-24")).as_deref(),
            Some("Schließtag der Dienststelle")
        );
        assert_eq!(non_working_reason(&cal, d("2026-11-25")), None);
    }

    #[test]
    fn only_status_codes_and_no_addresses_leave() {
        assert_eq!(status_code(Some("550")), Some("550".into()));
        assert_eq!(status_code(Some(" 5.1.1 ")), Some("5.1.1".into()));
        assert_eq!(status_code(Some("550 user@x.test unknown")), None);
        assert_eq!(status_code(Some("unbekannt")), None);
        assert_eq!(status_code(None), None);
        assert_eq!(
            quarantine_reason("kaputt: <a.b@c.test> und x@y"),
            "kaputt: [Adresse] und [Adresse]"
        );
        assert!(quarantine_reason(&"x".repeat(500)).chars().count() < 170);
    }

    #[test]
    fn answered_open_cases_are_listed_apart_and_linked_to_the_desk() {
        let (cases, q) = fixture();
        let plain = settings(&[]);
        let p = plan(
            &plain,
            &plain.deadlines.calendar(),
            d("2026-11-25"),
            &cases,
            &q,
        );
        let team = &p[0].context;
        assert_eq!(numbers(&team.answered_open), ["KRM-2026-00012"]);
        assert_eq!(
            team.answered_open[0].answered_on.as_deref(),
            Some("2026-11-23")
        );
        assert!(!numbers(&team.overdue).contains(&"KRM-2026-00012"));
        assert!(team.overdue.iter().all(|l| l.link.is_none()));
        assert!(p
            .iter()
            .all(|x| !numbers(&x.context.overdue).contains(&"KRM-2026-00012")));
        let linked = settings(&[("KRM_WEB_BASE_URL", "https://krm.jobcenter.test/desk/")]);
        let p = plan(
            &linked,
            &linked.deadlines.calendar(),
            d("2026-11-25"),
            &cases,
            &q,
        );
        assert_eq!(
            p[0].context.overdue[0].link.as_deref(),
            Some("https://krm.jobcenter.test/desk/vorgaenge/KRM-2026-00001")
        );
        let r = templates().render(DIGEST, &p[0].context).unwrap();
        assert!(r
            .body
            .contains("KRM-2026-00012 <https://krm.jobcenter.test/desk/vorgaenge/KRM-2026-00012>"));
        assert!(r.body.contains("BEANTWORTET, ABER NOCH OFFEN (1)"));
    }

    #[test]
    fn rendered_digests() {
        let s = settings(&[("KRM_WEB_BASE_URL", "https://krm.jobcenter.test")]);
        let (cases, q) = fixture();
        let t = templates();
        for p in plan(&s, &s.deadlines.calendar(), d("2026-11-25"), &cases, &q) {
            let r = t.render(DIGEST, &p.context).unwrap();
            let text = format!("Betreff: {}\n\n{}", r.subject, r.body);
            for secret in ["erika", "mail.test", "@"] {
                assert!(!text.contains(secret), "{secret} in\n{text}");
            }
            insta::assert_snapshot!(
                format!("digest_{}", p.recipient.split('@').next().unwrap_or("")),
                text
            );
        }
    }

    #[test]
    fn rendered_empty_digest() {
        let s = settings(&[("KRM_DIGEST_SEND_EMPTY", "true")]);
        let p = plan(&s, &s.deadlines.calendar(), d("2026-11-27"), &[], &[]);
        let r = templates().render(DIGEST, &p[0].context).unwrap();
        insta::assert_snapshot!(format!("Betreff: {}\n\n{}", r.subject, r.body));
    }

    #[test]
    fn sample_context_fills_every_section() {
        let c = sample_context();
        assert!(!c.overdue.is_empty() && !c.due_today.is_empty() && !c.due_soon.is_empty());
        assert!(!c.on_hold.is_empty() && !c.ack_failed.is_empty() && !c.review.is_empty());
        assert!(!c.quarantine.is_empty());
        for audience in [Audience::Team, Audience::Assignee, Audience::Escalation] {
            let mut c = sample_context();
            c.audience = audience;
            templates().render(DIGEST, &c).unwrap();
        }
    }
}
