//! The work list `/vorgaenge`: the cases `case list` finds for the same filters (query
//! parameters named like its flags, `-` written `_`), sorted by deadline, 50 per page. Read-only.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use serde::Serialize;

use super::auth::{self, Signed};
use super::WebState;
use crate::calendar::{self, Calendar};
use crate::domain::CaseStatus;
use crate::domain::Kind;
use crate::staff::{self, ListFilter};
use crate::store::staff::StaffCase;

pub const PAGE_SIZE: usize = 50;

/// The filter form's values as given (kept in the form, also when one is wrong).
#[derive(Debug, Default, Clone, Serialize)]
pub struct FilterInput {
    /// Selected statuses; empty means the default "offen und ruhend"; `alle` all.
    pub status: Vec<String>,
    pub overdue: bool,
    pub due_within: String,
    pub organisation: String,
    pub kind: String,
    pub assignee: String,
    pub received_from: String,
    pub received_to: String,
    pub page: usize,
    /// Sender address or name: only ever from the POST form, never in a URL.
    #[serde(default)]
    pub sender: String,
    /// The sender search was sent empty.
    #[serde(skip)]
    pub search_empty: bool,
}

impl FilterInput {
    pub fn parse(query: &str) -> FilterInput {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let mut f = FilterInput {
            page: 1,
            ..FilterInput::default()
        };
        for (k, v) in pairs {
            let v = v.trim().to_string();
            match k.as_str() {
                "status" if !v.is_empty() => f.status.push(v),
                "overdue" => f.overdue = matches!(v.as_str(), "1" | "true" | "on" | "ja"),
                "due_within" => f.due_within = v,
                "organisation" => f.organisation = v,
                "kind" => f.kind = v,
                "assignee" => f.assignee = v,
                "received_from" => f.received_from = v,
                "received_to" => f.received_to = v,
                "page" => f.page = v.parse().unwrap_or(1).max(1),
                _ => {}
            }
        }
        f
    }

    /// The query string of these filters without the page (for page links).
    pub fn query_without_page(&self) -> String {
        let mut q: Vec<(&str, &str)> = self.status.iter().map(|s| ("status", s.as_str())).collect();
        if self.overdue {
            q.push(("overdue", "1"));
        }
        for (k, v) in [
            ("due_within", &self.due_within),
            ("organisation", &self.organisation),
            ("kind", &self.kind),
            ("assignee", &self.assignee),
            ("received_from", &self.received_from),
            ("received_to", &self.received_to),
        ] {
            if !v.is_empty() {
                q.push((k, v.as_str()));
            }
        }
        serde_urlencoded::to_string(&q).unwrap_or_default()
    }

    /// The core's filter, or the German messages for what is wrong (field, message).
    pub fn to_filter(&self, me: Option<&str>) -> Result<ListFilter, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let mut f = ListFilter::default();
        if self.status.is_empty() {
            f.statuses = vec![CaseStatus::Open, CaseStatus::OnHold];
        } else if !self.status.iter().any(|s| s == "alle") {
            for s in &self.status {
                match CaseStatus::from_db(s) {
                    Some(st) => f.statuses.push(st),
                    None => errors.push(("status", format!("Unbekannter Status „{s}“."))),
                }
            }
        }
        f.overdue = self.overdue;
        if !self.due_within.is_empty() {
            match self.due_within.parse::<u32>() {
                Ok(n) if n <= staff::MAX_DUE_WITHIN => f.due_within = Some(n),
                _ => errors.push((
                    "due_within",
                    format!(
                        "Bitte eine Zahl von Arbeitstagen zwischen 0 und {} angeben.",
                        staff::MAX_DUE_WITHIN
                    ),
                )),
            }
        }
        if !self.organisation.is_empty() {
            f.organisation = Some(self.organisation.clone());
        }
        let sender = self.sender.trim();
        if self.search_empty {
            errors.push((
                "sender",
                "Bitte eine Adresse oder einen Namen (oder einen Teil davon) eingeben.".into(),
            ));
        } else if sender.chars().count() > 200 {
            errors.push((
                "sender",
                "Der Suchtext ist zu lang (höchstens 200 Zeichen).".into(),
            ));
        } else if !sender.is_empty() {
            f.sender = Some(sender.to_string());
        }
        match self.kind.to_lowercase().as_str() {
            "" | "alle" => {}
            "keine" => f.unclassified = true,
            k => match k.parse::<Kind>() {
                Ok(kind) => f.kind = Some(kind),
                Err(e) => errors.push(("kind", format!("{e}."))),
            },
        }
        match self.assignee.to_lowercase().as_str() {
            "" => {}
            "niemand" => f.unassigned = true,
            "mir" => match me {
                Some(name) => f.assignee = Some(name.to_string()),
                None => errors.push((
                    "assignee",
                    "Ihr Konto ist keiner zuständigen Person zugeordnet; „mir“ geht daher nicht \
                     (die Administration richtet das unter „Konten“ ein)."
                        .to_string(),
                )),
            },
            _ => f.assignee = Some(self.assignee.clone()),
        }
        let date = |field: &'static str, v: &str, errors: &mut Vec<(&'static str, String)>| {
            if v.is_empty() {
                return None;
            }
            match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    errors.push((field, format!("„{v}“ ist kein Datum der Form JJJJ-MM-TT.")));
                    None
                }
            }
        };
        f.from = date("received_from", &self.received_from, &mut errors);
        f.to = date("received_to", &self.received_to, &mut errors);
        if let (Some(a), Some(b)) = (f.from, f.to) {
            if a > b {
                errors.push((
                    "received_to",
                    "Das Ende des Zeitraums liegt vor seinem Anfang.".to_string(),
                ));
            }
        }
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(errors)
        }
    }
}

/// One line of the work list.
#[derive(Debug, Serialize)]
pub struct Line {
    pub number: String,
    pub received: String,
    pub organisation: String,
    pub kind: String,
    pub status: String,
    pub assignee: String,
    pub deadline: String,
    /// `overdue`, `today`, `held` or empty: the line's emphasis.
    pub urgency: &'static str,
    pub ack: String,
    pub review: String,
}

/// The deadline state staff read: overdue since …, due in … working days, held.
pub fn deadline_text(cal: &Calendar, c: &StaffCase, today: NaiveDate) -> (String, &'static str) {
    let r = &c.row;
    match r.status {
        CaseStatus::Open if r.due < today => {
            let n = calendar::working_days_overdue(cal, r.due, today);
            let text = match n {
                0 => format!("überfällig (Frist war {})", staff::ymd(r.due)),
                1 => "überfällig seit 1 Arbeitstag".to_string(),
                n => format!("überfällig seit {n} Arbeitstagen"),
            };
            (text, "overdue")
        }
        CaseStatus::Open if r.due == today => ("heute fällig".to_string(), "today"),
        CaseStatus::Open => {
            let n = cal.working_days_between(today, r.due);
            let text = match n {
                1 => format!("fällig in 1 Arbeitstag ({})", staff::ymd(r.due)),
                n => format!("fällig in {n} Arbeitstagen ({})", staff::ymd(r.due)),
            };
            (text, "")
        }
        CaseStatus::OnHold => (
            format!(
                "ruht seit {}",
                r.hold_since
                    .map(|t| staff::ymd(calendar::berlin_date(t)))
                    .unwrap_or_default()
            ),
            "held",
        ),
        _ => ("–".to_string(), ""),
    }
}

fn line(cal: &Calendar, c: &StaffCase, today: NaiveDate) -> Line {
    let r = &c.row;
    let (deadline, urgency) = deadline_text(cal, c, today);
    let organisation = match (&r.organisation, r.third_party) {
        (Some(o), _) => o.clone(),
        (None, false) => "ohne Unterstützung Dritter".to_string(),
        (None, true) => "Dritte (Organisation unbekannt)".to_string(),
    };
    Line {
        number: r.number.clone(),
        received: staff::ymd(calendar::berlin_date(r.received_at)),
        organisation,
        kind: match (&r.kind, &r.suggested_kind) {
            (Some(k), _) => staff::kind_label(k),
            (None, Some(s)) => format!("{} (Vorschlag)", staff::kind_label(s)),
            (None, None) => "nicht eingestuft".to_string(),
        },
        status: r.status.label().to_string(),
        assignee: r.assignee.clone().unwrap_or_else(|| "niemand".to_string()),
        deadline,
        urgency,
        ack: r.ack_status.label().to_string(),
        review: r
            .review_reason
            .map(|r| r.digest_text().to_string())
            .unwrap_or_default(),
    }
}

/// The form of the sender search on the work list (`POST /vorgaenge`).
#[derive(Debug, Default, serde::Deserialize)]
pub struct SenderForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sender: String,
}

/// `POST /vorgaenge`: fields `sender`, `csrf`. Searches all cases by a sender's address or
/// display name; a POST so that no personal data lands in a URL (or a log of URLs).
pub async fn sender_search(
    who: Signed,
    State(s): State<WebState>,
    axum::Form(f): axum::Form<SenderForm>,
) -> Response {
    if let Err(r) = auth::check_csrf(&s, &who.account, &f.csrf) {
        return r;
    }
    // An empty search would list every case there is.
    if f.sender.trim().is_empty() {
        let input = FilterInput {
            page: 1,
            search_empty: true,
            ..FilterInput::default()
        };
        return show_list(who, s, input).await;
    }
    let input = FilterInput {
        status: vec!["alle".to_string()],
        page: 1,
        sender: f.sender,
        ..FilterInput::default()
    };
    show_list(who, s, input).await
}

/// `GET /vorgaenge`
pub async fn work_list(who: Signed, State(s): State<WebState>, RawQuery(q): RawQuery) -> Response {
    let input = FilterInput::parse(q.as_deref().unwrap_or(""));
    show_list(who, s, input).await
}

async fn show_list(who: Signed, s: WebState, input: FilterInput) -> Response {
    if !who.account.role.reads_cases() {
        return super::render::message(
            &s.templates,
            StatusCode::FORBIDDEN,
            "Kein Zugriff",
            "Ihre Rolle sieht keine Vorgänge.",
            Some(&who.account),
        );
    }
    let today = calendar::berlin_date(chrono::Utc::now());
    let (status, errors, (total, page, cases)) = match input.to_filter(who.account.staff.as_deref())
    {
        Err(errors) => (StatusCode::BAD_REQUEST, errors, (0, 1, Vec::new())),
        Ok(f) => {
            match staff::list_page(&s.pool, &s.calendar, &f, today, input.page, PAGE_SIZE).await {
                Ok(p) => (StatusCode::OK, Vec::new(), p),
                Err(staff::StaffError::Refused(m)) => (
                    StatusCode::BAD_REQUEST,
                    vec![("received_to", m)],
                    (0, 1, Vec::new()),
                ),
                Err(e) => {
                    tracing::error!("web: work list failed: {e}");
                    return super::render::message(
                        &s.templates,
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Liste derzeit nicht verfügbar",
                        "Die Datenbank ist nicht erreichbar. Bitte versuchen Sie es später erneut.",
                        Some(&who.account),
                    );
                }
            }
        }
    };
    // `case list` orders by receipt; the work list by deadline, the most urgent first.
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let lines: Vec<Line> = cases.iter().map(|c| line(&s.calendar, c, today)).collect();
    let base = input.query_without_page();
    let link = |p: usize| {
        if base.is_empty() {
            format!("/vorgaenge?page={p}")
        } else {
            format!("/vorgaenge?{base}&page={p}")
        }
    };
    let statuses: Vec<(&str, &str)> = CaseStatus::ALL
        .iter()
        .map(|s| (s.as_db(), s.label()))
        .collect();
    s.templates.page(
        status,
        "vorgaenge.html",
        serde_json::json!({
            "title": "Vorgänge",
            "who": auth::who(&who),
            "nav": "vorgaenge",
            "f": &input,
            "statuses": statuses,
            "errors": errors.iter().map(|(field, msg)| serde_json::json!({ "field": field, "msg": msg })).collect::<Vec<_>>(),
            "lines": lines,
            "total": total,
            "page": page,
            "pages": pages,
            // A sender search's pages are not links: the search text stays out of URLs.
            "prev": (page > 1 && input.sender.is_empty()).then(|| link(page - 1)),
            "next": (page < pages && input.sender.is_empty()).then(|| link(page + 1)),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_like_case_list_flags() {
        let i = FilterInput::parse(
            "status=open&status=closed&overdue=1&due_within=3&kind=keine&assignee=mir&received_from=2026-01-01&page=2",
        );
        let f = i.to_filter(Some("Frau Beispiel")).unwrap();
        assert_eq!(f.statuses, vec![CaseStatus::Open, CaseStatus::Closed]);
        assert!(f.overdue);
        assert_eq!(f.due_within, Some(3));
        assert!(f.unclassified);
        assert_eq!(f.assignee.as_deref(), Some("Frau Beispiel"));
        assert_eq!(i.page, 2);
        assert_eq!(
            i.query_without_page(),
            "status=open&status=closed&overdue=1&due_within=3&kind=keine&assignee=mir&received_from=2026-01-01"
        );
    }

    #[test]
    fn default_is_open_and_held_and_alle_is_everything() {
        let f = FilterInput::parse("").to_filter(None).unwrap();
        assert_eq!(f.statuses, vec![CaseStatus::Open, CaseStatus::OnHold]);
        let f = FilterInput::parse("status=alle").to_filter(None).unwrap();
        assert!(f.statuses.is_empty());
        let f = FilterInput::parse("assignee=niemand")
            .to_filter(None)
            .unwrap();
        assert!(f.unassigned);
    }

    #[test]
    fn bad_values_name_their_field() {
        let e = FilterInput::parse(
            "status=zu&due_within=x&kind=quatsch&received_from=gestern&assignee=mir",
        )
        .to_filter(None)
        .unwrap_err();
        let fields: Vec<&str> = e.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            vec!["status", "due_within", "kind", "assignee", "received_from"]
        );
    }
}
