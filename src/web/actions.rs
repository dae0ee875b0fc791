//! Every staff action that changes a case, as a form on the case page posted to
//! `POST /vorgaenge/{number}/{verb}`: `verb` is the `case` subcommand's name, the fields are its
//! flags with `-` written `_`, plus `csrf` and `version` (the case version the form was rendered
//! from: a stale one is refused, never a lost update). The changes go through the same `staff`
//! functions as the CLI with actor `web:<account>` and the CLI's action names.
//!
//! Adding a verb: one row in [`VERBS`], one arm in [`run`], one form in `vorgang.html`.
//! `case new` is `GET/POST /vorgaenge/neu` ([`new_form`], [`create`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use super::auth::{self, Signed};
use super::case::{self, Feedback};
use super::WebState;
use crate::accounts::Role;
use crate::calendar;
use crate::domain::{CaseStatus, Category, Kind, ReviewReason};
use crate::staff::{self, Actor, Also, CaseState, Channel, StaffError};
use crate::store::forms;
use crate::store::staff::StaffCase;

/// One case action of the desk.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Verb {
    /// The `case` subcommand's name, also the route's last segment.
    pub name: &'static str,
    /// The action written to the audit log (as the CLI writes it).
    pub action: &'static str,
    /// The form's German heading and button.
    pub label: &'static str,
    /// The form fields: the subcommand's arguments with `-` written `_` (`--by` is the account).
    pub fields: &'static [&'static str],
    /// Only *Leitung* may do this.
    pub lead_only: bool,
}

const fn verb(
    name: &'static str,
    action: &'static str,
    label: &'static str,
    fields: &'static [&'static str],
    lead_only: bool,
) -> Verb {
    Verb {
        name,
        action,
        label,
        fields,
        lead_only,
    }
}

/// Every case action of the desk, in the order of the case page. A test compares it with the
/// CLI's `case` subcommands.
pub const VERBS: &[Verb] = &[
    verb(
        "classify",
        "classify",
        "Einstufen",
        &["kind", "topic", "no_topics"],
        false,
    ),
    verb("assess", "assess", "Bewerten", &["justified"], false),
    verb(
        "assign",
        "assign",
        "Zuständigkeit",
        &["name", "none"],
        false,
    ),
    verb("note", "note", "Bemerkung schreiben", &["text"], false),
    verb(
        "contact",
        "contact",
        "Kontakt mit einer Stelle erfassen",
        &["stelle", "on", "note"],
        false,
    ),
    verb(
        "contact-remove",
        "contact_removed",
        "Kontakt entfernen",
        &["contact"],
        false,
    ),
    verb(
        "contribution",
        "contribution",
        "Beitrag zur Klärung",
        &["contributed"],
        false,
    ),
    verb("hold", "hold", "Ruhen lassen", &[], false),
    verb("resume", "resume", "Fortsetzen", &[], false),
    verb("close", "close", "Abschließen", &["answered_on"], false),
    verb("reopen", "reopen", "Wieder öffnen", &[], false),
    verb(
        "set-third-party",
        "set_third_party",
        "Organisation setzen",
        &["organisation", "category", "third_party", "none"],
        false,
    ),
    verb(
        "ack-recorded",
        "ack_recorded",
        "Eingangsbestätigung von Hand erfasst",
        &["on"],
        false,
    ),
    verb("confirm", "confirm", "Spam-Verdacht aufheben", &[], false),
    verb("discard", "discard", "Verwerfen", &["reason"], true),
    verb("merge", "merge", "Zusammenführen", &["into"], true),
];

/// The fields of `case new` at `/vorgaenge/neu`.
pub const NEW_FIELDS: &[&str] = &[
    "channel",
    "received",
    "organisation",
    "category",
    "third_party",
    "kind",
    "topic",
    "ack_sent",
    "text",
];

/// The verbs a role sees forms for.
pub fn verbs_for(role: Role) -> Vec<Verb> {
    VERBS
        .iter()
        .filter(|v| role.works_cases() && (!v.lead_only || role.leads()))
        .copied()
        .collect()
}

/// Whether a case's page offers the form of `v`: only where it can succeed by the case's state
/// ("Fortsetzen" on a case on hold, "Wieder öffnen" on a closed or discarded one, "Spam-Verdacht
/// aufheben" on one held as suspected spam, "Kontakt entfernen" on one with a contact; on a
/// discarded or merged case nothing else but a note). A form posted anyway is refused with the
/// reason, and shown with it.
pub fn offered(
    v: &Verb,
    status: CaseStatus,
    review_reason: Option<ReviewReason>,
    contacts: usize,
) -> bool {
    use CaseStatus::{Closed, Discarded, Merged, OnHold, Open};
    match v.name {
        "note" => true,
        "contact-remove" => contacts > 0 && !matches!(status, Discarded | Merged),
        "hold" => status == Open,
        "resume" => status == OnHold,
        "close" => matches!(status, Open | OnHold),
        "reopen" => matches!(status, Closed | Discarded),
        "confirm" => {
            review_reason == Some(ReviewReason::Spam) && !matches!(status, Discarded | Merged)
        }
        _ => !matches!(status, Discarded | Merged),
    }
}

/// The case page after an action, with its notice (`erledigt=VERB`, `hinweis=KEY`…) sealed by
/// `z`, a digest of the notice under the session's CSRF token: the page shows a notice only
/// with its seal, so a link cannot make the desk claim that something was done.
pub fn done_location(csrf: &str, number: &str, verb: &str, hints: &[&str]) -> String {
    let notice = notice_query(verb, hints);
    format!(
        "/vorgaenge/{number}?{notice}&z={}",
        seal(csrf, number, &notice)
    )
}

fn notice_query(verb: &str, hints: &[&str]) -> String {
    let mut q = format!("erledigt={verb}");
    for h in hints {
        q.push_str("&hinweis=");
        q.push_str(h);
    }
    q
}

fn seal(csrf: &str, number: &str, notice: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{csrf}\n{number}\n{notice}").as_bytes());
    hex::encode(&digest[..8])
}

/// The notice a case page shows for its query: only one sealed for this session and case.
pub fn sealed_notice(
    csrf: &str,
    number: &str,
    verb: &str,
    hints: &[&str],
    z: &str,
) -> Option<String> {
    let expected = seal(csrf, number, &notice_query(verb, hints));
    let fits = z.len() == expected.len()
        && z.bytes()
            .zip(expected.bytes())
            .fold(0u8, |d, (a, b)| d | (a ^ b))
            == 0;
    fits.then(|| done_notice(verb, hints)).flatten()
}

/// The notice after a successful action (`?erledigt=VERB`), with what else it did (`hinweis=`
/// keys of [`Also`]; an unknown one adds nothing).
pub fn done_notice(verb: &str, hints: &[&str]) -> Option<String> {
    if verb == "neu" {
        return Some("Der Vorgang ist erfasst.".to_string());
    }
    if verb == "doppelt" {
        return Some(
            "Dieses Formular war schon abgeschickt; es ist nur einmal gespeichert.".to_string(),
        );
    }
    let v = VERBS.iter().find(|v| v.name == verb)?;
    if hints.contains(&UNCHANGED) {
        return Some(format!(
            "Keine Änderung: der Vorgang stand schon so („{}“).",
            v.label
        ));
    }
    let mut done = done_text(v.name).to_string();
    for also in hints.iter().filter_map(|h| Also::from_key(h)) {
        done.push(' ');
        done.push_str(also.text());
    }
    Some(done)
}

/// What a successful action did, in a sentence (not the button's label again).
fn done_text(verb: &str) -> &'static str {
    match verb {
        "classify" => "Die Einstufung ist gespeichert.",
        "assess" => "Die Bewertung ist gespeichert.",
        "assign" => "Die Zuständigkeit ist gespeichert.",
        "note" => "Die Bemerkung ist gespeichert.",
        "contact" => "Der Kontakt ist erfasst.",
        "contact-remove" => "Der Kontakt ist entfernt.",
        "contribution" => "Der Beitrag zur Klärung ist gespeichert.",
        "hold" => "Der Vorgang ruht.",
        "resume" => "Der Vorgang läuft weiter.",
        "close" => "Der Vorgang ist abgeschlossen.",
        "reopen" => "Der Vorgang ist wieder offen.",
        "set-third-party" => "Die Organisation ist gespeichert.",
        "ack-recorded" => "Die Eingangsbestätigung ist erfasst.",
        "confirm" => "Der Spam-Verdacht ist aufgehoben; der Vorgang zählt.",
        "discard" => "Der Vorgang ist verworfen.",
        "merge" => "Der Vorgang ist zusammengeführt.",
        _ => "Gespeichert.",
    }
}

/// A refusal of the staff core as the desk says it: a CLI command it names (`` `case reopen
/// KRM-…` ``) becomes the desk's button („Wieder öffnen“); the rest is worded for both.
pub fn desk_wording(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(start) = rest.find("`case ") {
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else { break };
        let command = &after[..end];
        let verb = command.split_whitespace().nth(1).unwrap_or_default();
        out.push_str(&rest[..start]);
        let whole = &rest[start..start + end + 2];
        rest = &after[end + 1..];
        match VERBS.iter().find(|v| v.name == verb) {
            Some(v) => {
                out.push_str(&format!("„{}“", v.label));
                // A command is run, a button chosen.
                if let Some(r) = rest.strip_prefix(" ausführen") {
                    out.push_str(" wählen");
                    rest = r;
                }
            }
            None => out.push_str(whole),
        }
    }
    out.push_str(rest);
    out
}

/// A posted form: every field with all its values, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Input(pub std::collections::BTreeMap<String, Vec<String>>);

impl Input {
    pub fn new(pairs: Vec<(String, String)>) -> Input {
        let mut m = std::collections::BTreeMap::<String, Vec<String>>::new();
        for (k, v) in pairs {
            if k != "csrf" {
                m.entry(k).or_default().push(v);
            }
        }
        Input(m)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first value of `name`, trimmed ("" when absent).
    pub fn first(&self, name: &str) -> &str {
        self.0
            .get(name)
            .and_then(|v| v.first())
            .map(|s| s.trim())
            .unwrap_or("")
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .get(name)
            .map(|v| {
                v.iter()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A checkbox: present and not `0`/`no`.
    pub fn flag(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|v| {
            v.iter()
                .any(|s| !matches!(s.trim(), "" | "0" | "no" | "nein" | "false"))
        })
    }

    /// An optional value parsed with `parse` (empty: None).
    fn opt<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, StaffError> {
        match self.first(name) {
            "" => Ok(None),
            v => parse(v).map(Some).map_err(StaffError::Refused),
        }
    }
}

fn refused(msg: &str) -> StaffError {
    StaffError::Refused(msg.to_string())
}

/// Loads, checks the version under the row lock, transforms and stores, as the CLI's `apply`.
async fn apply_checked<F>(
    s: &WebState,
    number: &str,
    actor: &Actor,
    v: &Verb,
    version: i64,
    f: F,
) -> Result<Vec<&'static str>, StaffError>
where
    F: FnOnce(&StaffCase, &CaseState, &str) -> Result<CaseState, StaffError>,
{
    staff::apply(&s.pool, number, actor, v.action, |c, st, n| {
        staff::check_version(c, Some(version))?;
        f(c, st, n)
    })
    .await
    .map(|a| {
        let mut hints = keys(&a.also);
        // The form as it stood: say so instead of „gespeichert“ (the CLI says „keine Änderung“).
        if a.changes.is_empty() && a.also.is_empty() {
            hints.push(UNCHANGED);
        }
        hints
    })
}

/// The `hinweis=` keys of what an action did besides its fields.
fn keys(also: &[Also]) -> Vec<&'static str> {
    also.iter().map(|a| a.key()).collect()
}

/// The `hinweis=` key of an action that changed nothing.
const UNCHANGED: &str = "unveraendert";

/// The one arm per verb, in three groups: parse the fields, call the staff core.
async fn run(
    s: &WebState,
    v: &Verb,
    number: &str,
    i: &Input,
    actor: &Actor,
    version: i64,
) -> Result<Vec<&'static str>, StaffError> {
    match v.name {
        "classify" | "assess" | "assign" | "contact" | "contribution" | "note" => {
            run_sorting(s, v, number, i, actor, version).await
        }
        "hold" | "resume" | "close" | "reopen" | "ack-recorded" => {
            run_course(s, v, number, i, actor, version).await
        }
        "set-third-party" | "confirm" | "discard" | "merge" => {
            run_outcome(s, v, number, i, actor, version).await
        }
        // Removes one row by its id (nothing else to overwrite), so no version check either.
        "contact-remove" => {
            let id = i
                .first("contact")
                .trim()
                .parse::<i64>()
                .map_err(|_| refused("Bitte einen Kontakt wählen."))?;
            staff::remove_contact(&s.pool, number, actor, id)
                .await
                .map(|_| Vec::new())
        }
        other => Err(unknown_verb(other)),
    }
}

/// Sorting a case: what it is about, who has it, what was done (contact, note).
async fn run_sorting(
    s: &WebState,
    v: &Verb,
    number: &str,
    i: &Input,
    actor: &Actor,
    version: i64,
) -> Result<Vec<&'static str>, StaffError> {
    let today = calendar::berlin_date(Utc::now());
    match v.name {
        "classify" => {
            let rules =
                staff::topic_catalogue(&s.settings.rules_dir).map_err(StaffError::Refused)?;
            let kind = i.opt("kind", |k| k.parse::<Kind>())?;
            let (topics, none) = (i.all("topic"), i.flag("no_topics"));
            // The form lists the topics (an empty hidden `topic` marks that it did): the ticked
            // boxes are the case's topics. Without the list (no catalogue), the kind alone.
            let listed = i.0.contains_key("topic") && !none;
            if kind.is_none() && !listed && !none {
                return Err(refused("Bitte eine Art wählen."));
            }
            apply_checked(s, number, actor, v, version, |_, st, n| {
                if listed {
                    staff::classify_listed(st, n, &rules, kind, &topics)
                } else {
                    staff::classify(st, n, &rules, kind, &topics, none)
                }
            })
            .await
        }
        "assess" => {
            let justified = i
                .opt("justified", staff::parse_yes_no)?
                .ok_or_else(|| refused("Bitte wählen: begründet oder unbegründet"))?;
            apply_checked(s, number, actor, v, version, |_, st, n| {
                staff::assess(st, n, justified)
            })
            .await
        }
        "assign" => {
            let name = assignee(i)?;
            apply_checked(s, number, actor, v, version, |_, st, n| {
                staff::assign(st, n, &s.settings.staff, name.as_deref())
            })
            .await
        }
        // A contact only adds a row (nothing to overwrite), so it needs no version check.
        "contact" => {
            let stellen = crate::rules::Stellen::load(&s.settings.rules_dir).map_err(|e| {
                // Not the user's input: the administration's file (the rules page names it).
                tracing::warn!("web: the catalogue of outside bodies cannot be read: {e}");
                refused(
                    "Die Liste der Stellen ist derzeit fehlerhaft, daher lässt sich kein Kontakt \
                     erfassen. Bitte die Administration verständigen (Seite „Regeln“).",
                )
            })?;
            let stelle =
                staff::check_stelle(&stellen, i.first("stelle")).map_err(StaffError::Refused)?;
            let on = i.opt("on", staff::parse_date)?.unwrap_or(today);
            let note = Some(i.first("note")).filter(|n| !n.is_empty());
            staff::record_contact(&s.pool, number, actor, stelle, on, note, today)
                .await
                .map(|_| Vec::new())
        }
        "contribution" => {
            let contributed = i
                .opt("contributed", staff::parse_yes_no)?
                .ok_or_else(|| refused("Bitte wählen: ja oder nein"))?;
            apply_checked(s, number, actor, v, version, |_, st, n| {
                staff::contribution(st, n, contributed)
            })
            .await
        }
        "note" => staff::note(&s.pool, number, actor, i.first("text"), Some(version))
            .await
            .map(|a| keys(&a.also)),
        other => Err(unknown_verb(other)),
    }
}

/// The course of a case: hold, resume, close, reopen, the recorded acknowledgement.
async fn run_course(
    s: &WebState,
    v: &Verb,
    number: &str,
    i: &Input,
    actor: &Actor,
    version: i64,
) -> Result<Vec<&'static str>, StaffError> {
    let cal = &s.calendar;
    let now = Utc::now();
    let today = calendar::berlin_date(now);
    let received = |c: &StaffCase| calendar::berlin_date(c.row.received_at);
    match v.name {
        "hold" => {
            apply_checked(s, number, actor, v, version, |_, st, n| {
                staff::hold(st, n, now)
            })
            .await
        }
        "resume" => {
            apply_checked(s, number, actor, v, version, |_, st, n| {
                staff::resume(st, n, cal, now)
            })
            .await
        }
        "close" => {
            let typed = i.opt("answered_on", staff::parse_date)?;
            apply_checked(s, number, actor, v, version, |c, st, n| {
                staff::close(
                    st,
                    n,
                    cal,
                    received(c),
                    staff::close_date(st, typed, today),
                    now,
                )
            })
            .await
        }
        "reopen" => {
            apply_checked(s, number, actor, v, version, |_, st, n| {
                staff::reopen(st, n)
            })
            .await
        }
        "ack-recorded" => {
            let on = i
                .opt("on", staff::parse_date)?
                .ok_or_else(|| refused("Bitte den Tag der Bestätigung angeben (JJJJ-MM-TT)"))?;
            apply_checked(s, number, actor, v, version, |c, st, n| {
                staff::record_ack(st, n, received(c), on, today)
            })
            .await
        }
        other => Err(unknown_verb(other)),
    }
}

/// Third party, confirmation, discarding and merging.
async fn run_outcome(
    s: &WebState,
    v: &Verb,
    number: &str,
    i: &Input,
    actor: &Actor,
    version: i64,
) -> Result<Vec<&'static str>, StaffError> {
    match v.name {
        "set-third-party" => {
            let org = if i.flag("none") {
                if !i.first("organisation").trim().is_empty() {
                    return Err(refused(
                        "Bitte entweder eine Organisation eingeben oder „keine Organisation“ \
                         ankreuzen, nicht beides.",
                    ));
                }
                None
            } else {
                Some(staff::ManualOrganisation {
                    organisation: i.first("organisation").to_string(),
                    category: i.opt("category", |c| c.parse::<Category>())?,
                    third_party: i.opt("third_party", staff::parse_yes_no)?.unwrap_or(true),
                })
            };
            apply_checked(s, number, actor, v, version, |_, st, n| {
                staff::set_third_party(st, n, org.as_ref())
            })
            .await
        }
        "confirm" => {
            let templates = crate::templates::Templates::load(&s.settings.templates_dir)
                .map_err(|e| StaffError::Template(e.to_string()))?;
            staff::confirm(
                &s.pool,
                number,
                actor,
                &s.settings,
                &templates,
                Some(version),
            )
            .await
            .map(|c| keys(&c.applied.also))
        }
        "discard" => {
            let reason = i.first("reason").to_string();
            apply_checked(s, number, actor, v, version, |_, st, n| {
                staff::discard(st, n, &reason)
            })
            .await
        }
        "merge" => {
            let into = i.first("into");
            if into.is_empty() {
                return Err(refused("Bitte die Nummer des Vorgangs angeben, der bleibt"));
            }
            // The one change nothing undoes: the desk asks for it explicitly (the command line
            // names it already).
            if !i.flag("endgueltig") {
                return Err(refused(
                    "Bitte bestätigen, dass das Zusammenführen endgültig ist: der Vorgang lässt \
                     sich danach nicht wieder öffnen.",
                ));
            }
            match staff::merge_cases(&s.pool, number, into, actor, Some(version)).await {
                Err(StaffError::NotFound(n)) if n != number => {
                    Err(StaffError::Refused(format!("Vorgang {n} gibt es nicht")))
                }
                other => other.map(|a| keys(&a.also)),
            }
        }
        other => Err(unknown_verb(other)),
    }
}

fn unknown_verb(other: &str) -> StaffError {
    StaffError::Refused(format!("Unbekannte Aktion „{other}“"))
}

/// `assign`'s target: `none` checked, else the chosen name.
/// The form's choice: a name, or nobody (the empty choice, or `none` as `case assign --none`).
fn assignee(i: &Input) -> Result<Option<String>, StaffError> {
    match i.first("name") {
        "" => Ok(None),
        _ if i.flag("none") => Err(refused(
            "Bitte entweder eine Person wählen oder „niemand“, nicht beides.",
        )),
        n => Ok(Some(n.to_string())),
    }
}

/// Whether the account may do `v` on case `number`: *Sachbearbeitung* works cases and assigns
/// only itself (or nobody) on cases that are its own or nobody's; *Leitung* also assigns
/// others' cases, discards and merges. `Ok(false)` is a 403.
async fn allowed(
    s: &WebState,
    who: &Signed,
    v: &Verb,
    number: &str,
    i: &Input,
) -> Result<bool, StaffError> {
    let role = who.account.role;
    if !role.works_cases() || (v.lead_only && !role.leads()) {
        return Ok(false);
    }
    if v.name != "assign" || role.leads() {
        return Ok(true);
    }
    let me = who.account.staff.as_deref();
    let mine = |n: Option<&str>| match (n, me) {
        (None, _) => true,
        (Some(n), Some(me)) => n.eq_ignore_ascii_case(me),
        (Some(_), None) => false,
    };
    let current = staff::case(&s.pool, number).await?;
    let target = assignee(i).unwrap_or(None);
    Ok(mine(current.row.assignee.as_deref()) && mine(target.as_deref()))
}

/// The form's one-time token (`once`, see [`store::forms`]), if it carries a well-formed one; a
/// form without one (a page rendered by an older version) is handled as before.
fn once_token(i: &Input) -> Option<String> {
    let t = i.first("once");
    (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())).then(|| t.to_string())
}

/// A once-only form's work, as it came out.
enum Sent<T> {
    /// This request did the work (or tried it: refused, stale, failed).
    Ran(Result<T, StaffError>),
    /// An earlier request with the same form got there first.
    Before(forms::Claim),
    /// The token could not be claimed, or the work's task failed.
    Fault(String),
}

/// Claims the form's token (`once`, if it has one), runs `work` and settles the token: done,
/// with the case `case_of` names, or released when nothing was done. All in a task of its own:
/// hyper drops a handler whose client went away mid-request (a double click does that to the
/// first click's request), and that must cancel neither an action under way nor the settling
/// of its token, or a repeat would find the token claimed for an action that never finished.
async fn once<T, W, C>(
    s: &WebState,
    token: Option<String>,
    number: Option<String>,
    work: W,
    case_of: C,
) -> Sent<T>
where
    T: Send + 'static,
    W: std::future::Future<Output = Result<T, StaffError>> + Send + 'static,
    C: FnOnce(&T) -> String + Send + 'static,
{
    let pool = s.pool.clone();
    let task = tokio::spawn(async move {
        if let Some(token) = &token {
            match forms::claim(&pool, token, number.as_deref()).await {
                Ok(forms::Claim::First) => {}
                Ok(before) => return Sent::Before(before),
                Err(e) => return Sent::Fault(format!("form token: {e}")),
            }
        }
        let result = work.await;
        if let Some(token) = &token {
            let settled = match &result {
                Ok(t) => forms::done(&pool, token, &case_of(t)).await,
                Err(_) => forms::release(&pool, token).await,
            };
            if let Err(e) = settled {
                tracing::warn!("web: form token not settled: {e}");
            }
        }
        Sent::Ran(result)
    });
    task.await
        .unwrap_or_else(|e| Sent::Fault(format!("form task: {e}")))
}

/// The answer to a form sent again: the first one's result, or that it is not done yet.
fn answer_repeat(s: &WebState, who: &Signed, before: forms::Claim) -> Response {
    match before {
        forms::Claim::Repeated(Some(n)) => {
            auth::see_other(&done_location(&who.account.csrf, &n, "doppelt", &[]))
        }
        forms::Claim::Repeated(None) | forms::Claim::First => case::message(
            s,
            who,
            StatusCode::OK,
            "Schon abgeschickt",
            "Dieses Formular war schon abgeschickt; es ist nur einmal gespeichert. Der Vorgang \
             steht in der Vorgangsliste.",
        ),
        forms::Claim::Unsettled => case::message(
            s,
            who,
            StatusCode::CONFLICT,
            "Noch in Arbeit",
            "Dieses Formular war schon abgeschickt, und diese erste Sendung ist noch nicht \
             fertig oder wurde unterbrochen. Bitte sehen Sie in einigen Augenblicken in der \
             Vorgangsliste oder auf der Seite des Vorgangs nach, ob die Eingabe gespeichert ist.",
        ),
    }
}

/// Refuses a posted form without the session's CSRF token in its `csrf` field (403).
fn check_form_csrf(s: &WebState, who: &Signed, pairs: &[(String, String)]) -> Result<(), Response> {
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    auth::check_csrf(s, &who.account, csrf)
}

fn forbidden(s: &WebState, who: &Signed) -> Response {
    let text = if who.account.role.works_cases() {
        "Diese Aktion ist Ihrer Rolle nicht erlaubt (Verwerfen, Zusammenführen und das Zuweisen \
         fremder Vorgänge sind der Leitung vorbehalten)."
    } else {
        "Ihre Rolle bearbeitet keine Vorgänge; sie kann sie nur ansehen."
    };
    case::message(s, who, StatusCode::FORBIDDEN, "Nicht erlaubt", text)
}

/// `POST /vorgaenge/{number}/{verb}`
pub async fn post(
    who: Signed,
    State(s): State<WebState>,
    Path((number, verb)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = check_form_csrf(&s, &who, &pairs) {
        return r;
    }
    if let Some(r) = case::no_case_access(&s, &who) {
        return r;
    }
    let (Some(number), Some(v)) = (
        case::route_number(&number),
        VERBS.iter().find(|v| v.name == verb),
    ) else {
        return case::not_found(&s, &who);
    };
    let input = Input::new(pairs);
    match allowed(&s, &who, v, &number, &input).await {
        Ok(true) => {}
        Ok(false) => return forbidden(&s, &who),
        Err(StaffError::NotFound(_)) => return case::not_found(&s, &who),
        Err(e) => return case::unavailable(&s, &who, "case action", &e),
    }
    let actor = Actor {
        os_user: case::actor_name(&who.account),
        stated_by: None,
    };
    let work = {
        let (s, number, input) = (s.clone(), number.clone(), input.clone());
        async move {
            match input.first("version").parse::<i64>() {
                Ok(version) => run(&s, v, &number, &input, &actor, version).await,
                Err(_) => Err(refused(
                    "Das Formular ist unvollständig (die Version des Vorgangs fehlt). Bitte \
                     laden Sie die Seite neu.",
                )),
            }
        }
    };
    let case_number = number.clone();
    // One token per rendered page, claimed per form: another form of the same page (a second
    // tab of it) is not a repeat.
    let token = once_token(&input).map(|t| format!("{t}:{}", v.name));
    let result = match once(&s, token, Some(number.clone()), work, move |_| case_number).await {
        Sent::Ran(result) => result,
        Sent::Before(before) => return answer_repeat(&s, &who, before),
        Sent::Fault(e) => return case::unavailable(&s, &who, "case action", &e),
    };
    let (status, fb) = match result {
        Ok(also) => {
            let hints = also;
            return auth::see_other(&done_location(&who.account.csrf, &number, v.name, &hints));
        }
        Err(StaffError::Stale(_)) => (
            StatusCode::CONFLICT,
            Feedback {
                error: Some((
                    v.name,
                    "Der Vorgang wurde inzwischen geändert. Unten steht der aktuelle Stand; \
                     bitte prüfen Sie ihn und senden Sie das Formular erneut."
                        .to_string(),
                    input,
                )),
                stale: true,
                ..Feedback::default()
            },
        ),
        Err(StaffError::Refused(m)) => (
            StatusCode::BAD_REQUEST,
            Feedback {
                error: Some((v.name, desk_wording(&m), input)),
                ..Feedback::default()
            },
        ),
        Err(StaffError::NotFound(_)) => return case::not_found(&s, &who),
        Err(e) => return case::unavailable(&s, &who, "case action", &e),
    };
    case::render_case(&s, &who, &number, status, fb).await
}

// ---------------------------------------------------------------------------------------------
// `case new`: /vorgaenge/neu
// ---------------------------------------------------------------------------------------------

fn new_page(
    s: &WebState,
    who: &Signed,
    status: StatusCode,
    input: &Input,
    error: Option<&str>,
) -> Response {
    let topics: Vec<String> = staff::topic_catalogue(&s.settings.rules_dir)
        .map(|r| {
            r.topics()
                .iter()
                .filter(|t| !t.retired)
                .map(|t| t.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let chosen = input.all("topic");
    let now = crate::staff::berlin_minute(Utc::now()).replace(' ', "T");
    let kinds: Vec<(&str, &str)> = [Kind::Beschwerde, Kind::Anregung, Kind::Lob]
        .iter()
        .map(|k| (k.as_str(), k.label()))
        .collect();
    s.templates.page(
        status,
        "neu.html",
        json!({
            "title": "Neue Reaktion erfassen",
            "who": auth::who(who),
            "once": crate::accounts::random_token(),
            "nav": "neu",
            "channels": Channel::ALL.iter().map(|c| (c.as_str(), c.label())).collect::<Vec<_>>(),
            "categories": Category::ALL.iter().map(|c| c.label()).collect::<Vec<_>>(),
            "kinds": kinds,
            "topics": topics.iter().map(|t| json!({ "name": t, "checked": chosen.contains(t) })).collect::<Vec<_>>(),
            "i": {
                "channel": input.first("channel"),
                "received": if input.is_empty() { now.as_str() } else { input.first("received") },
                "organisation": input.first("organisation"),
                "category": input.first("category"),
                "third_party": input.first("third_party"),
                "kind": input.first("kind"),
                "ack_sent": input.first("ack_sent"),
                "text": input.first("text"),
            },
            "error": error,
        }),
    )
}

fn may_create(s: &WebState, who: &Signed) -> Option<Response> {
    if let Some(r) = case::no_case_access(s, who) {
        return Some(r);
    }
    (!who.account.role.works_cases()).then(|| forbidden(s, who))
}

/// `GET /vorgaenge/neu`
pub async fn new_form(who: Signed, State(s): State<WebState>) -> Response {
    if let Some(r) = may_create(&s, &who) {
        return r;
    }
    new_page(&s, &who, StatusCode::OK, &Input::default(), None)
}

fn manual_case(i: &Input) -> Result<staff::ManualCase, StaffError> {
    let channel = Channel::ALL
        .into_iter()
        .find(|c| c.as_str() == i.first("channel"))
        .ok_or_else(|| refused("Bitte den Eingangsweg wählen"))?;
    Ok(staff::ManualCase {
        channel,
        received_at: staff::parse_received(i.first("received"))?,
        organisation: Some(i.first("organisation").to_string()).filter(|o| !o.is_empty()),
        category: i.opt("category", |c| c.parse::<Category>())?,
        third_party: i.opt("third_party", staff::parse_yes_no)?,
        kind: i.opt("kind", |k| k.parse::<Kind>())?,
        topics: i.all("topic"),
        ack_sent_on: i.opt("ack_sent", staff::parse_date)?,
        text: Some(i.first("text").to_string()).filter(|t| !t.trim().is_empty()),
    })
}

/// `POST /vorgaenge/neu`: fields of `case new`, plus `csrf`.
pub async fn create(
    who: Signed,
    State(s): State<WebState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = check_form_csrf(&s, &who, &pairs) {
        return r;
    }
    if let Some(r) = may_create(&s, &who) {
        return r;
    }
    let input = Input::new(pairs);
    let actor = Actor {
        os_user: case::actor_name(&who.account),
        stated_by: None,
    };
    let work = {
        let (s, input) = (s.clone(), input.clone());
        async move {
            match (
                manual_case(&input),
                staff::topic_catalogue(&s.settings.rules_dir),
            ) {
                (Err(e), _) => Err(e),
                (_, Err(e)) => Err(StaffError::Refused(e)),
                (Ok(m), Ok(rules)) => {
                    let policy = s.settings.deadlines.policy;
                    staff::new_case(&s.pool, &s.calendar, policy, &rules, &m, &actor, Utc::now())
                        .await
                }
            }
        }
    };
    let result = match once(&s, once_token(&input), None, work, |a: &staff::Applied| {
        a.number.clone()
    })
    .await
    {
        Sent::Ran(result) => result,
        Sent::Before(before) => return answer_repeat(&s, &who, before),
        Sent::Fault(e) => return case::unavailable(&s, &who, "new case", &e),
    };
    match result {
        Ok(a) => auth::see_other(&done_location(&who.account.csrf, &a.number, "neu", &[])),
        Err(StaffError::Refused(m)) => new_page(
            &s,
            &who,
            StatusCode::BAD_REQUEST,
            &input,
            Some(&desk_wording(&m)),
        ),
        Err(e) => case::unavailable(&s, &who, "new case", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::desk_wording;

    #[test]
    fn a_cli_command_in_a_refusal_becomes_the_desks_button() {
        assert_eq!(
            desk_wording(
                "KRM-2026-00001 ist verworfen (spam); bitte erst `case reopen KRM-2026-00001` \
                 ausführen"
            ),
            "KRM-2026-00001 ist verworfen (spam); bitte erst „Wieder öffnen“ wählen"
        );
        assert_eq!(
            desk_wording(
                "zuerst `case classify KRM-2026-00001 --kind beschwerde`, dann `case assess X`."
            ),
            "zuerst „Einstufen“, dann „Bewerten“."
        );
        // Unknown commands and unpaired backticks stay as they are.
        assert_eq!(
            desk_wording("`case list` und `case"),
            "`case list` und `case"
        );
        assert_eq!(desk_wording("ohne Befehl"), "ohne Befehl");
    }
}
