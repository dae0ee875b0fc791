//! The case page `/vorgaenge/{number}`: everything `case show` shows (the shared views of
//! `staff::views`), each mail's text, its HTML part sanitised in a sandboxed frame of its own
//! route, the attachments as downloads, and the forms of every case action (`web::actions`).
//! Opening mail content writes the access log (`store::access`) with actor `web:<account>`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{json, Value};

use super::actions::{self, Input};
use super::auth::{self, Signed};
use super::{render, WebState};
use crate::accounts::SessionAccount;
use crate::calendar;
use crate::domain::{CaseNumber, Category, Kind};
use crate::message;
use crate::staff::{self, CaseDetail, StaffError};
use crate::store::access::{self, AccessWhat};
use crate::store::staff as q;

/// A case number as the routes accept it: exactly `KRM-JJJJ-NNNNN`.
pub fn route_number(number: &str) -> Option<String> {
    let b = number.as_bytes();
    let ok = b.len() == 14
        && number.starts_with("KRM-")
        && b[8] == b'-'
        && b[4..8].iter().chain(&b[9..]).all(u8::is_ascii_digit);
    (ok && number.parse::<CaseNumber>().is_ok()).then(|| number.to_string())
}

/// The actor of the audit and access logs for a desk account.
pub fn actor_name(a: &SessionAccount) -> String {
    format!("web:{}", a.name)
}

/// A page with a heading and one message, for the signed-in account.
pub fn message(
    s: &WebState,
    who: &Signed,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    render::message(&s.templates, status, title, text, Some(&who.account))
}

pub fn not_found(s: &WebState, who: &Signed) -> Response {
    message(
        s,
        who,
        StatusCode::NOT_FOUND,
        "Nicht gefunden",
        "Diesen Vorgang oder diesen Inhalt gibt es nicht.",
    )
}

/// 403 for a role that sees no case content (administration, data protection).
pub fn no_case_access(s: &WebState, who: &Signed) -> Option<Response> {
    (!who.account.role.reads_cases()).then(|| {
        message(
            s,
            who,
            StatusCode::FORBIDDEN,
            "Kein Zugriff",
            "Ihre Rolle sieht keine Vorgänge.",
        )
    })
}

pub fn unavailable(s: &WebState, who: &Signed, what: &str, e: &dyn std::fmt::Display) -> Response {
    tracing::error!("web: {what} failed: {e}");
    message(
        s,
        who,
        StatusCode::SERVICE_UNAVAILABLE,
        "Derzeit nicht verfügbar",
        "Die Datenbank ist nicht erreichbar. Bitte versuchen Sie es später erneut.",
    )
}

/// What a case page says besides the case: the outcome of an action.
#[derive(Debug, Default)]
pub struct Feedback {
    pub notice: Option<String>,
    /// The verb whose form was refused, its German message, and the input to keep.
    pub error: Option<(&'static str, String, Input)>,
    /// The form was rendered from an older version of the case.
    pub stale: bool,
}

/// Whether the assign form can change something for the account: a lead assigns any case,
/// anyone else only a case that is theirs or nobody's (the rule `actions::allowed` enforces),
/// and only with a staff name linked to the account (without one the form could only assign
/// nobody to nobody).
fn may_assign(me: &crate::accounts::SessionAccount, assignee: Option<&str>) -> bool {
    me.role.leads()
        || match (assignee, me.staff.as_deref()) {
            (None, Some(_)) => true,
            (Some(a), Some(mine)) => a.eq_ignore_ascii_case(mine),
            (_, None) => false,
        }
}

/// `GET /vorgaenge/{number}`
pub async fn page(
    who: Signed,
    State(s): State<WebState>,
    Path(number): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if let Some(r) = no_case_access(&s, &who) {
        return r;
    }
    let Some(number) = route_number(&number) else {
        return not_found(&s, &who);
    };
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let values = |key: &str| -> Vec<&str> {
        query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let z = values("z").first().copied().unwrap_or_default();
    let done = values("erledigt")
        .first()
        .and_then(|v| actions::sealed_notice(&who.account.csrf, &number, v, &values("hinweis"), z));
    render_case(
        &s,
        &who,
        &number,
        StatusCode::OK,
        Feedback {
            notice: done,
            ..Feedback::default()
        },
    )
    .await
}

/// The case page with `feedback`, or 404/503. Writes the access log (the page shows mail text).
pub async fn render_case(
    s: &WebState,
    who: &Signed,
    number: &str,
    status: StatusCode,
    feedback: Feedback,
) -> Response {
    let d = match staff::detail(&s.pool, number).await {
        Ok(d) => d,
        Err(StaffError::NotFound(_) | StaffError::Refused(_)) => return not_found(s, who),
        Err(e) => return unavailable(s, who, "case page", &e),
    };
    let html_ids = match html_messages(s, &d).await {
        Ok(ids) => ids,
        Err(e) => return unavailable(s, who, "case page", &e),
    };
    if let Err(e) = access::record(
        &s.pool,
        &actor_name(&who.account),
        d.case.row.id,
        &d.case.row.number,
        AccessWhat::MailText,
    )
    .await
    {
        return unavailable(s, who, "access log", &e);
    }
    let now = chrono::Utc::now();
    let today = calendar::berlin_date(now);
    let mut messages: Vec<Value> = Vec::new();
    for m in d.message_views(true) {
        let mut v = serde_json::to_value(&m).unwrap_or(Value::Null);
        v["html"] = Value::Bool(html_ids.contains(&m.id));
        messages.push(v);
    }
    let facts: Vec<Value> = staff::case_facts(&d.case, &s.calendar, today)
        .into_iter()
        .map(|(k, v)| json!({ "label": k, "value": v }))
        .collect();
    let mut forms = form_values(s, &who.account, &d, &feedback, today);
    clarification_values(s, &d, &feedback, today, &mut forms);
    let (error_verb, error_msg) = match &feedback.error {
        Some((verb, msg, _)) => (Some(*verb), Some(msg.as_str())),
        None => (None, None),
    };
    let row = &d.case.row;
    let verbs: Vec<_> = actions::verbs_for(who.account.role)
        .into_iter()
        .filter(|v| {
            let can = actions::offered(v, row.status, row.review_reason, d.contacts.len())
                && (v.name != "assign" || may_assign(&who.account, row.assignee.as_deref()));
            // A refused form stays, to show its refusal (not after a stale post: the alert
            // above says the case changed, and the case may not take it any more).
            can || (error_verb == Some(v.name) && !feedback.stale)
        })
        .collect();
    s.templates.page(
        status,
        "vorgang.html",
        json!({
            "title": format!("Vorgang {}", d.case.row.number),
            "who": auth::who(who),
            "nav": "vorgaenge",
            "number": d.case.row.number,
            "merged_into": d.case.merged_into_number,
            "version": d.case.version,
            "once": crate::accounts::random_token(),
            "facts": facts,
            "messages": messages,
            "events": d.event_views(),
            "contacts": d.contacts.iter().map(|c| json!({
                "id": c.id,
                "on": staff::ymd(c.on_date),
                "stelle": c.stelle,
                "source": c.source.label(),
                "note": c.note,
            })).collect::<Vec<_>>(),
            "verbs": verbs,
            "f": forms,
            "notice": feedback.notice,
            "stale": feedback.stale,
            "error_verb": error_verb,
            "error_msg": error_msg,
        }),
    )
}

/// Ids of the case's mails that have an HTML part, as recorded at intake (the mails are not
/// read); see [`html_of_older_mail`] for mails stored by an earlier version.
async fn html_messages(s: &WebState, d: &CaseDetail) -> Result<Vec<i64>, crate::store::StoreError> {
    let mails = q::html_of_mails(&mut *s.pool.acquire().await?, d.case.row.id).await?;
    let mut ids = Vec::new();
    for (id, has_html) in mails {
        let has_html = match has_html {
            Some(known) => known,
            None => html_of_older_mail(s, &d.case.row.number, id).await?,
        };
        if has_html {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Whether a mail stored by an earlier version (which did not record it) has an HTML part:
/// the mail is read once, within one of the desk's turns and on a blocking thread, and the
/// answer recorded for the next view.
async fn html_of_older_mail(
    s: &WebState,
    number: &str,
    id: i64,
) -> Result<bool, crate::store::StoreError> {
    // The turn first, then a connection: a request holding a connection never waits for a turn
    // (the turns' holders may be waiting for a connection).
    let _turn = s.decoding.acquire().await;
    let mut conn = s.pool.acquire().await?;
    let Some((_, Some(raw))) = q::raw_mail_of_case(&mut conn, number, id).await? else {
        return Ok(false);
    };
    let has_html =
        tokio::task::spawn_blocking(move || crate::message::html_body(&raw).is_some()).await;
    let has_html = has_html.unwrap_or(false);
    q::record_has_html(&mut conn, id, has_html).await?;
    Ok(has_html)
}

/// A topic choice of the classify form.
#[derive(Debug, Serialize)]
struct TopicChoice {
    name: String,
    checked: bool,
    suggested: bool,
}

/// The values each action form shows: the submitted input of a refused form, else the case's
/// current values, else the rules' suggestions (marked as such).
fn form_values(
    s: &WebState,
    me: &SessionAccount,
    d: &CaseDetail,
    fb: &Feedback,
    today: NaiveDate,
) -> Value {
    let r = &d.case.row;
    let empty = Input::default();
    let input = |verb: &str| match &fb.error {
        Some((v, _, input)) if *v == verb => input,
        _ => &empty,
    };
    let kept = |verb: &str, field: &str, default: String| {
        let i = input(verb);
        if i.is_empty() {
            default
        } else {
            i.first(field).to_string()
        }
    };
    let yes_no = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "",
    };

    // classify: the confirmed kind, else the suggestion; topics likewise.
    let ci = input("classify");
    let (kind, kind_suggested) = if !ci.is_empty() {
        (ci.first("kind").to_string(), false)
    } else {
        match (&r.kind, &r.suggested_kind) {
            (Some(k), _) => (k.clone(), false),
            (None, Some(sk)) => (sk.clone(), true),
            (None, None) => (String::new(), false),
        }
    };
    let topics_suggested = ci.is_empty() && r.topics.is_empty();
    let chosen: Vec<String> = if !ci.is_empty() {
        ci.all("topic").to_vec()
    } else if r.topics.is_empty() {
        r.suggested_topics.clone()
    } else {
        r.topics.clone()
    };
    let mut names: Vec<String> = match staff::topic_catalogue(&s.settings.rules_dir) {
        Ok(rules) => rules
            .topics()
            .iter()
            .filter(|t| !t.retired || r.topics.contains(&t.name))
            .map(|t| t.name.clone())
            .collect(),
        Err(e) => {
            tracing::warn!("web: topic catalogue not readable: {e}");
            Vec::new()
        }
    };
    for t in r.topics.iter().chain(&r.suggested_topics) {
        if !names.contains(t) {
            names.push(t.clone());
        }
    }
    let topics: Vec<TopicChoice> = names
        .into_iter()
        .map(|n| TopicChoice {
            checked: chosen.iter().any(|c| c.eq_ignore_ascii_case(&n)),
            suggested: topics_suggested && r.suggested_topics.contains(&n),
            name: n,
        })
        .collect();
    let kinds: Vec<(&str, &str)> = [Kind::Beschwerde, Kind::Anregung, Kind::Lob]
        .into_iter()
        .map(|k| (k.as_str(), k.label()))
        .collect();
    // Sachbearbeitung assigns only itself (or nobody): the list offers no one else.
    let staff_names: Vec<&String> = s
        .settings
        .staff
        .keys()
        .filter(|n| me.role.leads() || me.staff.as_deref() == Some(n.as_str()))
        .collect();
    // The form shows the case as it stands (nobody, or who has it); sent unchanged it changes
    // nothing, and says so.
    let default_assignee = r.assignee.clone().unwrap_or_default();
    let ti = input("set-third-party");
    json!({
        "kinds": kinds,
        "categories": Category::ALL.iter().map(|c| c.label()).collect::<Vec<_>>(),
        "staff": staff_names,
        "classify": {
            "kind": kind,
            "kind_suggested": kind_suggested,
            "topics": topics,
        },
        "assess": { "justified": kept("assess", "justified", yes_no(r.justified).into()) },
        "close": { "answered_on": kept("close", "answered_on", staff::ymd(r.answered_on.unwrap_or(today))) },
        "note": { "text": kept("note", "text", String::new()) },
        "assign": {
            "name": kept("assign", "name", default_assignee),
        },
        "set_third_party": {
            "organisation": kept("set-third-party", "organisation", r.organisation.clone().unwrap_or_default()),
            "category": kept("set-third-party", "category", r.category.clone().unwrap_or_default()),
            "third_party": kept("set-third-party", "third_party", "yes".into()),
            "none": ti.flag("none"),
        },
        "discard": { "reason": kept("discard", "reason", String::new()) },
        "merge": { "into": kept("merge", "into", String::new()) },
        "ack_recorded": { "on": kept("ack-recorded", "on", staff::ymd(today)) },
    })
}

/// The values of the clarification forms (`contact`, `contribution`): the submitted input of a
/// refused form, else today and the case's current answer; the catalogue of bodies to choose from.
fn clarification_values(
    s: &WebState,
    d: &CaseDetail,
    fb: &Feedback,
    today: NaiveDate,
    forms: &mut Value,
) {
    let input = |verb: &str| match &fb.error {
        Some((v, _, input)) if *v == verb => Some(input),
        _ => None,
    };
    let stellen: Vec<String> = match crate::rules::Stellen::load(&s.settings.rules_dir) {
        Ok(c) => c.names().map(str::to_string).collect(),
        Err(e) => {
            tracing::warn!("web: catalogue of bodies not readable: {e}");
            Vec::new()
        }
    };
    let contact = input("contact");
    let field = |i: Option<&Input>, name: &str, default: String| match i {
        Some(i) => i.first(name).to_string(),
        None => default,
    };
    forms["stellen"] = json!(stellen);
    forms["contact"] = json!({
        "stelle": field(contact, "stelle", String::new()),
        "on": field(contact, "on", staff::ymd(today)),
        "note": field(contact, "note", String::new()),
    });
    let current = match d.case.contributed {
        Some(true) => "yes",
        Some(false) => "no",
        None => "",
    };
    forms["contribution"] = json!({
        "contributed": field(input("contribution"), "contributed", current.to_string()),
    });
}

/// Ammonia with every URL removed: no remote image, stylesheet or link target survives, and
/// the frame's policy (`default-src 'none'`) would block one anyway.
fn sanitise(html: &str) -> String {
    let mut b = ammonia::Builder::default();
    b.rm_tags(["img"])
        .url_schemes(std::collections::HashSet::new())
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"));
    b.clean(html).to_string()
}

/// The HTML frame's policy: sandboxed (no script, its own origin), nothing loaded, framed only
/// by the desk itself.
pub const FRAME_CSP: &str = "sandbox; default-src 'none'; frame-ancestors 'self'";

/// The case number and content id of a mail-content route, or the refusal (403 for a role
/// without case access, 404 for a malformed number or id).
fn content_path(
    s: &WebState,
    who: &Signed,
    number: &str,
    id: &str,
) -> Result<(String, i64), Response> {
    if let Some(r) = no_case_access(s, who) {
        return Err(r);
    }
    match (route_number(number), id.parse::<i64>()) {
        (Some(n), Ok(id)) => Ok((n, id)),
        _ => Err(not_found(s, who)),
    }
}

/// `GET /vorgaenge/{number}/mails/{id}/html`: the sanitised HTML part of one mail.
pub async fn mail_html(
    who: Signed,
    State(s): State<WebState>,
    Path((number, id)): Path<(String, String)>,
) -> Response {
    let (number, id) = match content_path(&s, &who, &number, &id) {
        Ok(x) => x,
        Err(r) => return r,
    };
    // The whole mail is loaded and parsed: one of the few at a time (the semaphore is never
    // closed), on a blocking thread.
    let turn = s.decoding.acquire().await;
    let found = match s.pool.acquire().await {
        Ok(mut conn) => q::raw_mail_of_case(&mut conn, &number, id).await,
        Err(e) => Err(e.into()),
    };
    let (case_id, raw) = match found {
        Ok(Some((case_id, Some(raw)))) => (case_id, raw),
        Ok(_) => return not_found(&s, &who),
        Err(e) => return unavailable(&s, &who, "mail frame", &e),
    };
    let cleaned =
        tokio::task::spawn_blocking(move || crate::message::html_body(&raw).map(|h| sanitise(&h)))
            .await;
    drop(turn);
    let Ok(Some(html)) = cleaned else {
        return not_found(&s, &who);
    };
    let actor = actor_name(&who.account);
    if let Err(e) = access::record(&s.pool, &actor, case_id, &number, AccessWhat::MailHtml).await {
        return unavailable(&s, &who, "access log", &e);
    }
    let doc = format!(
        "<!doctype html>\n<html lang=\"de\"><head><meta charset=\"utf-8\"><title>HTML-Teil der \
         Mail</title></head><body>{html}</body></html>\n"
    );
    let mut res = Html(doc).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FRAME_CSP),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    res
}

/// Content types an attachment is served with; anything else is `application/octet-stream`.
const INLINE_TYPES: &[&str] = &[
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "text/plain",
];

pub fn served_type(stored: &str) -> &'static str {
    let essence = stored
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    INLINE_TYPES
        .iter()
        .find(|t| **t == essence)
        .copied()
        .unwrap_or("application/octet-stream")
}

/// `Content-Disposition: attachment` with an ASCII fallback name and the UTF-8 name (RFC 6266).
pub fn disposition(name: Option<&str>) -> String {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("anhang");
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /vorgaenge/{number}/anhaenge/{id}`: one attachment, always as a download.
pub async fn attachment(
    who: Signed,
    State(s): State<WebState>,
    Path((number, id)): Path<(String, String)>,
) -> Response {
    let (number, id) = match content_path(&s, &who, &number, &id) {
        Ok(x) => x,
        Err(r) => return r,
    };
    // The row may carry the whole mail, to be decoded: one of the few at a time (the semaphore
    // is never closed).
    let turn = s.decoding.acquire().await;
    let found = match s.pool.acquire().await {
        Ok(mut conn) => q::attachment_of_case(&mut conn, &number, id).await,
        Err(e) => Err(e.into()),
    };
    let mut a = match found {
        Ok(Some(a)) => a,
        Ok(None) => return not_found(&s, &who),
        Err(e) => return unavailable(&s, &who, "attachment", &e),
    };
    let content = match (a.content.take(), a.raw.take()) {
        (Some(c), _) => c,
        (None, Some(raw)) => match decode_attachment(&a, raw).await {
            Some(c) => c,
            None => return not_found(&s, &who),
        },
        // The mail was purged.
        (None, None) => return not_found(&s, &who),
    };
    drop(turn);
    let actor = actor_name(&who.account);
    if let Err(e) =
        access::record(&s.pool, &actor, a.case_id, &number, AccessWhat::Attachment).await
    {
        return unavailable(&s, &who, "access log", &e);
    }
    let mut res = content.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(served_type(&a.content_type)),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition(a.name.as_deref())) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    res
}

/// The attachment's bytes, decoded from its stored mail on a blocking thread (a mail can be
/// 25 MB; the caller holds a turn of [`WebState::decoding`]). None, logged without content,
/// when the mail no longer yields the bytes recorded at intake.
async fn decode_attachment(a: &q::AttachmentContent, raw: Vec<u8>) -> Option<Vec<u8>> {
    let ord = a.ord.unwrap_or(0).max(0) as usize;
    let Some(sha256) = a.sha256.clone() else {
        tracing::warn!(
            case_id = a.case_id,
            "attachment: stored without content or hash"
        );
        return None;
    };
    let decoded =
        tokio::task::spawn_blocking(move || message::attachment_of_raw(&raw, ord, &sha256))
            .await
            .ok()
            .flatten();
    if decoded.is_none() {
        tracing::warn!(
            case_id = a.case_id,
            ord,
            "attachment: the stored mail no longer yields it"
        );
    }
    decoded.map(|d| d.content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_numbers_are_exact() {
        assert_eq!(
            route_number("KRM-2026-00042").as_deref(),
            Some("KRM-2026-00042")
        );
        for bad in [
            "krm-2026-00042",
            "KRM-2026-0004",
            "KRM-2026-000421",
            "KRM-2026-00000",
            "KRM-20x6-00042",
            "KRM-2026_00042",
        ] {
            assert_eq!(route_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn sanitising_keeps_text_and_drops_script_and_remote_content() {
        let out = sanitise(
            "<p onclick=\"x()\">Hallo <b>Welt</b></p><script>window.__pwned=1</script>\
             <img src=\"https://tracker.test/p.gif\"><a href=\"https://evil.test/\">Link</a>\
             <style>body{background:url(https://tracker.test/b)}</style>\
             <div style=\"background:url(https://tracker.test/c)\">x</div>",
        );
        assert!(out.contains("Hallo <b>Welt</b>"), "{out}");
        for gone in [
            "script",
            "onclick",
            "tracker.test",
            "evil.test",
            "<img",
            "style",
        ] {
            assert!(!out.contains(gone), "{gone}: {out}");
        }
        assert!(out.contains("Link"), "{out}");
    }

    #[test]
    fn attachments_are_served_inline_types_only_and_named_safely() {
        assert_eq!(served_type("application/pdf"), "application/pdf");
        assert_eq!(served_type("Text/Plain; charset=utf-8"), "text/plain");
        assert_eq!(served_type("text/html"), "application/octet-stream");
        assert_eq!(served_type("image/svg+xml"), "application/octet-stream");
        let d = disposition(Some("Bescheid \"1\".pdf\r\n<x>"));
        assert!(
            d.starts_with("attachment; filename=\"Bescheid _1_.pdf___x_\""),
            "{d}"
        );
        assert!(!d.contains('\r') && !d.contains('<'), "{d}");
        assert_eq!(
            disposition(None),
            "attachment; filename=\"anhang\"; filename*=UTF-8''anhang"
        );
    }
}
