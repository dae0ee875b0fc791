//! `GET /zugriffe` (roles datenschutz and admin): the access log and the security log with the
//! filters account, case number and period (a GET query: these are staff and case numbers,
//! no personal data of citizens); `csv=zugriffe` or `csv=sicherheit` downloads one of them.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{errors_json, require, unavailable};
use crate::accounts::Role;
use crate::logs::{self, LogFilter};
use crate::web::auth::{self, Signed};
use crate::web::WebState;

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct LogForm {
    #[serde(default)]
    account: String,
    #[serde(default)]
    case: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default, skip_serializing)]
    csv: String,
}

fn csv_download(name: &str, body: String) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// `GET /zugriffe`
pub async fn page(who: Signed, State(s): State<WebState>, Query(f): Query<LogForm>) -> Response {
    if let Err(r) = require(&s, &who, &[Role::Datenschutz, Role::Admin]) {
        return r;
    }
    let filter = match LogFilter::parse(&f.account, &f.case, &f.from, &f.to) {
        Ok(filter) => filter,
        Err(errors) => {
            return s.templates.page(
                StatusCode::BAD_REQUEST,
                "zugriffe.html",
                serde_json::json!({
                    "title": "Zugriffe und Anmeldungen",
                    "who": auth::who(&who),
                    "nav": "zugriffe",
                    "f": &f,
                    "errors": errors_json(&errors),
                }),
            )
        }
    };
    let access = logs::access(&s.pool, &filter).await;
    let security = logs::security(&s.pool, &filter).await;
    let (access, security) = match (access, security) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("web: reading the logs failed: {e}");
            return unavailable(&s, &who, "Die Protokolle lassen sich nicht lesen.");
        }
    };
    match f.csv.as_str() {
        "zugriffe" => return csv_download("zugriffsprotokoll.csv", logs::access_csv(&access)),
        "sicherheit" => {
            return csv_download("sicherheitsprotokoll.csv", logs::security_csv(&security))
        }
        _ => {}
    }
    let query = serde_urlencoded::to_string(&f).unwrap_or_default();
    s.templates.page(
        StatusCode::OK,
        "zugriffe.html",
        serde_json::json!({
            "title": "Zugriffe und Anmeldungen",
            "who": auth::who(&who),
            "nav": "zugriffe",
            "f": &f,
            "errors": [],
            "access": access,
            "security": security,
            "csv_access": format!("/zugriffe?{query}&csv=zugriffe"),
            "csv_security": format!("/zugriffe?{query}&csv=sicherheit"),
            "max": logs::MAX_ENTRIES,
        }),
    )
}
