//! The report page `/bericht` (roles *leitung* and *admin*): the period picked in a form (query
//! parameters named like the CLI's flags: `year`, `half_year`, `from`, `to`, `format`). The HTML
//! shows the same document as `report --format html` inside the desk's frame; CSV and JSON are
//! the CLI's exact bytes as downloads. Read-only; the figures come from `report::generate`.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::auth::{self, Signed};
use super::render;
use super::WebState;
use crate::accounts::Role;
use crate::config::Settings;
use crate::report::html::ReportTemplate;
use crate::report::{self, Format, Options, Selection};

/// How many topics and organisations the tables show (the CLI's default `--top`).
const TOP: usize = 10;

/// What the report page needs besides the database, loaded when the desk starts. A fault in the
/// template or the rules shows on this page only; the rest of the desk keeps working.
pub struct ReportSetup {
    template: Result<ReportTemplate, String>,
    options: Result<Options, String>,
}

impl ReportSetup {
    pub fn load(settings: &Settings) -> ReportSetup {
        let template = ReportTemplate::load(&settings.templates_dir).map_err(|e| {
            let m = e.german();
            tracing::error!("web: report template unusable: {m}");
            m
        });
        let options = Options::from_settings(settings).map_err(|e| {
            tracing::error!("web: report topic catalogue unusable: {e}");
            e.to_string()
        });
        ReportSetup { template, options }
    }
}

/// The form's values as given (kept in the form, also when one is wrong).
#[derive(Debug, Default, Clone, Serialize)]
pub struct PeriodInput {
    pub year: String,
    pub half_year: String,
    pub from: String,
    pub to: String,
    pub format: String,
}

impl PeriodInput {
    pub fn parse(query: &str) -> PeriodInput {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let mut p = PeriodInput::default();
        for (k, v) in pairs {
            let v = v.trim().to_string();
            match k.as_str() {
                "year" => p.year = v,
                "half_year" => p.half_year = v,
                "from" => p.from = v,
                "to" => p.to = v,
                "format" => p.format = v,
                _ => {}
            }
        }
        p
    }

    /// The output format; the page itself for none or `html`.
    pub fn format(&self) -> Result<Format, String> {
        match self.format.to_lowercase().as_str() {
            "" | "html" => Ok(Format::Html),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "Das Format „{other}“ gibt es nicht (html, csv oder json)."
            )),
        }
    }

    /// The period like the CLI's `--year`, `--half-year`, `--from` with `--to` (exactly one);
    /// none given: the current year.
    pub fn selection(&self, today: NaiveDate) -> Result<Selection, String> {
        let date = |v: &str, what: &str| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| format!("{what}: „{v}“ ist kein Datum der Form JJJJ-MM-TT."))
        };
        let given = [
            !self.year.is_empty(),
            !self.half_year.is_empty(),
            !(self.from.is_empty() && self.to.is_empty()),
        ];
        let sel = match given {
            [false, false, false] => Selection::Year(today.year()),
            [true, false, false] => match self.year.parse::<i32>() {
                Ok(y) => Selection::Year(y),
                Err(_) => return Err(format!("„{}“ ist kein Jahr (JJJJ).", self.year)),
            },
            [false, true, false] => {
                let (y, h) =
                    report::parse_half_year(&self.half_year).map_err(|e| format!("{e}."))?;
                Selection::HalfYear(y, h)
            }
            [false, false, true] if self.from.is_empty() || self.to.is_empty() => {
                return Err("Für einen Zeitraum bitte „von“ und „bis“ angeben.".into())
            }
            [false, false, true] => {
                Selection::Range(date(&self.from, "von")?, date(&self.to, "bis")?)
            }
            _ => {
                return Err(
                    "Bitte nur eines angeben: ein Jahr, ein Halbjahr oder einen Zeitraum.".into(),
                )
            }
        };
        if let Selection::Range(from, to) = sel {
            if from > to {
                // The CLI's wording names its flags; the form has fields.
                return Err("Der Anfang des Zeitraums liegt nach seinem Ende.".into());
            }
        }
        sel.span().map_err(|e| format!("{e}."))?;
        Ok(sel)
    }
}

/// Who sees the report: the lead and the administration.
pub fn may_read(role: Role) -> bool {
    matches!(role, Role::Leitung | Role::Admin)
}

fn refuse(s: &WebState, who: &Signed, status: StatusCode, title: &str, text: &str) -> Response {
    render::message(&s.templates, status, title, text, Some(&who.account))
}

/// A download of the CLI's bytes.
fn download(bytes: String, format: Format, title: &str) -> Response {
    let (ctype, ext) = match format {
        Format::Json => ("application/json; charset=utf-8", "json"),
        _ => ("text/csv; charset=utf-8", "csv"),
    };
    let name: String = title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"bericht-{name}.{ext}\""))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// The headings of a message above the forms: about the period, or about the format.
const PERIOD_FAULT: &str = "Der Zeitraum enthält einen Fehler";
const FORMAT_FAULT: &str = "Das Format gibt es nicht";

/// The forms (with an error: its heading and text) and, when the period is good, the document.
/// Each kind of period has a form of its own, so a value left in another kind's field (the year
/// of the report shown before) never makes the next choice ambiguous.
fn page(
    s: &WebState,
    who: &Signed,
    status: StatusCode,
    input: &PeriodInput,
    error: Option<(&str, String)>,
    document: Option<String>,
) -> Response {
    let (error_title, error) = error.unzip();
    let base = serde_urlencoded::to_string(
        [
            ("year", &input.year),
            ("half_year", &input.half_year),
            ("from", &input.from),
            ("to", &input.to),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let link = |f: &str| {
        if base.is_empty() {
            format!("/bericht?format={f}")
        } else {
            format!("/bericht?{base}&format={f}")
        }
    };
    s.templates.page(
        status,
        "bericht.html",
        serde_json::json!({
            "title": "Bericht",
            "who": auth::who(who),
            "nav": "bericht",
            "p": input,
            "error": error,
            "error_title": error_title,
            "document": document,
            "csv": link("csv"),
            "json": link("json"),
        }),
    )
}

/// `GET /bericht`
pub async fn report_page(
    who: Signed,
    State(s): State<WebState>,
    RawQuery(q): RawQuery,
) -> Response {
    if !may_read(who.account.role) {
        return refuse(
            &s,
            &who,
            StatusCode::FORBIDDEN,
            "Kein Zugriff",
            "Den Bericht sehen die Rollen Leitung und Administration.",
        );
    }
    let input = PeriodInput::parse(q.as_deref().unwrap_or(""));
    let today = crate::calendar::berlin_date(chrono::Utc::now());
    let refused = |heading: &str, text: String| {
        page(
            &s,
            &who,
            StatusCode::BAD_REQUEST,
            &input,
            Some((heading, text)),
            None,
        )
    };
    let format = match input.format() {
        Ok(f) => f,
        Err(e) => return refused(FORMAT_FAULT, e),
    };
    let sel = match input.selection(today) {
        Ok(sel) => sel,
        Err(e) => return refused(PERIOD_FAULT, e),
    };
    let setup = &s.report;
    let (opts, template) = match (&setup.options, &setup.template) {
        (Ok(o), Ok(t)) => (o, t),
        (Err(e), _) | (_, Err(e)) => {
            let text = format!("Der Bericht lässt sich nicht erstellen: {e}");
            return refuse(
                &s,
                &who,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Bericht",
                &text,
            );
        }
    };
    let r = match report::generate(&s.pool, sel, opts).await {
        Ok(r) => r,
        Err(report::ReportError::Invalid(e)) => return refused(PERIOD_FAULT, e),
        Err(e) => {
            tracing::error!("web: report failed: {e}");
            return refuse(
                &s,
                &who,
                StatusCode::SERVICE_UNAVAILABLE,
                "Bericht derzeit nicht verfügbar",
                "Die Datenbank ist nicht erreichbar. Bitte versuchen Sie es später erneut.",
            );
        }
    };
    if format != Format::Html {
        return match r.output(format, TOP, None) {
            Ok(bytes) => download(bytes, format, &r.title),
            Err(e) => refuse(
                &s,
                &who,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Bericht",
                &e.to_string(),
            ),
        };
    }
    match template.render(&r, TOP, false) {
        Ok(doc) => page(&s, &who, StatusCode::OK, &input, None, Some(doc)),
        Err(e) => {
            let text = format!("Der Bericht lässt sich nicht darstellen: {}", e.german());
            refuse(
                &s,
                &who,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Bericht",
                &text,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::test_dates::d;

    fn sel(q: &str) -> Result<Selection, String> {
        PeriodInput::parse(q).selection(d("2026-12-06"))
    }

    #[test]
    fn periods_like_the_cli() {
        assert_eq!(sel(""), Ok(Selection::Year(2026)));
        assert_eq!(sel("year=2017"), Ok(Selection::Year(2017)));
        assert_eq!(sel("half_year=2017-2"), Ok(Selection::HalfYear(2017, 2)));
        assert_eq!(
            sel("from=2017-03-01&to=2017-09-30"),
            Ok(Selection::Range(d("2017-03-01"), d("2017-09-30")))
        );
        assert!(sel("year=2017&half_year=2017-1")
            .unwrap_err()
            .contains("nur eines"));
        assert!(sel("half_year=2017-3")
            .unwrap_err()
            .contains("kein Halbjahr"));
        assert!(sel("from=2017-03-01").unwrap_err().contains("„bis“"));
        assert!(sel("from=2017-03-02&to=2017-03-01")
            .unwrap_err()
            .contains("nach seinem Ende"));
        assert!(sel("from=1.3.2017&to=2017-03-01")
            .unwrap_err()
            .contains("kein Datum"));
        assert!(sel("year=zwanzig").unwrap_err().contains("kein Jahr"));
        assert!(sel("year=20170").unwrap_err().contains("außerhalb"));
        assert!(PeriodInput::parse("format=pdf").format().is_err());
        assert_eq!(PeriodInput::parse("format=CSV").format(), Ok(Format::Csv));
    }
}
