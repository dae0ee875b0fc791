//! `GET /regeln` (admin): the rule set in the rules directory (its version and files) and what
//! `rules check` says about it. `POST /regeln/pruefen` (multipart: file field `mail`, `csrf`):
//! what `explain` says about one uploaded mail — capped at the intake's size limit, nothing
//! stored, nothing sent, the upload dropped with the request. Editing rules stays in the
//! reviewed files.

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::require;
use crate::accounts::Role;
use crate::explain::{self, Options};
use crate::rules::{RuleSet, Severity};
use crate::web::auth::{self, check_csrf, Signed};
use crate::web::WebState;

/// What the rules directory holds now: version, files, the check's lines and whether it fails.
struct RulesView {
    version: Option<String>,
    files: Vec<String>,
    lines: Vec<String>,
    faults: usize,
}

fn rules_view(dir: &std::path::Path) -> RulesView {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| crate::rules::is_rule_file_name(n))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    // The catalogue of outside bodies lives there too, read by its own code.
    if dir.join(crate::rules::stellen::STELLEN_FILE).is_file() {
        files.push(format!(
            "{} (Katalog der Stellen für Kontakte)",
            crate::rules::stellen::STELLEN_FILE
        ));
    }
    let mut v = RulesView {
        version: None,
        files,
        lines: Vec::new(),
        faults: 0,
    };
    // The same lines as `krm-intake rules check`.
    for p in crate::rules::check_dir(dir) {
        if p.severity == Severity::Error {
            v.faults += 1;
            v.lines.push(format!("Fehler: {p}"));
        } else {
            v.lines.push(p.to_string());
        }
    }
    if v.faults == 0 {
        match RuleSet::load_dir(dir) {
            Ok(r) => {
                v.lines.push(format!(
                    "{}: {} Regeln in Ordnung (Version {})",
                    dir.display(),
                    r.len(),
                    r.version()
                ));
                v.version = Some(r.version().to_string());
            }
            Err(e) => {
                v.faults += 1;
                v.lines.push(format!("Fehler: {}: {e}", dir.display()));
            }
        }
    }
    v
}

fn options(s: &WebState) -> Options {
    Options::of(&s.settings)
}

fn render(
    s: &WebState,
    who: &Signed,
    status: StatusCode,
    error: Option<String>,
    explanation: Option<String>,
) -> Response {
    let v = rules_view(&s.settings.rules_dir);
    s.templates.page(
        status,
        "regeln.html",
        serde_json::json!({
            "title": "Regeln",
            "who": auth::who(who),
            "nav": "regeln",
            "dir": s.settings.rules_dir.display().to_string(),
            "version": v.version,
            "files": v.files,
            "lines": v.lines,
            "faults": v.faults,
            "max_size": explain::format_size(s.settings.imap.max_message_size),
            "error": error,
            "explanation": explanation,
        }),
    )
}

/// `GET /regeln`
pub async fn page(who: Signed, State(s): State<WebState>) -> Response {
    if let Err(r) = require(&s, &who, &[Role::Admin]) {
        return r;
    }
    render(&s, &who, StatusCode::OK, None, None)
}

/// Why an upload is refused.
enum Refusal {
    Csrf,
    TooLarge,
    Bad(String),
}

/// Reads `csrf` and `mail` from the form, the mail no larger than `max` bytes.
async fn read_upload(mut m: Multipart, max: usize) -> Result<(String, Vec<u8>), Refusal> {
    let mut csrf = String::new();
    let mut mail: Option<Vec<u8>> = None;
    let malformed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::TooLarge
        } else {
            Refusal::Bad("Das Formular kam unvollständig oder beschädigt an.".to_string())
        }
    };
    while let Some(mut field) = m.next_field().await.map_err(malformed)? {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(malformed)?,
            Some("mail") => {
                let mut buf = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                    if buf.len() + chunk.len() > max {
                        // The form carries the token first; without it, this is a forgery.
                        return Err(if csrf.is_empty() {
                            Refusal::Csrf
                        } else {
                            Refusal::TooLarge
                        });
                    }
                    buf.extend_from_slice(&chunk);
                }
                mail = Some(buf);
            }
            _ => {}
        }
    }
    match mail {
        Some(b) if !b.is_empty() => Ok((csrf, b)),
        _ if csrf.is_empty() => Err(Refusal::Csrf),
        _ => Err(Refusal::Bad(
            "Bitte eine Mail-Datei (.eml) auswählen.".to_string(),
        )),
    }
}

/// Whether the explanation describes a mail at all (random bytes parse as a body without headers).
fn is_a_mail(e: &explain::Explanation) -> bool {
    e.error.is_none() && (e.from.is_some() || e.message_id.is_some() || e.date_raw.is_some())
}

/// `POST /regeln/pruefen` (multipart): fields `csrf` and `mail`.
pub async fn try_mail(
    who: Signed,
    State(s): State<WebState>,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    if let Err(r) = require(&s, &who, &[Role::Admin]) {
        return r;
    }
    let max = s.settings.imap.max_message_size;
    let upload = match form {
        Ok(m) => read_upload(m, max).await,
        Err(_) => Err(Refusal::Bad(
            "Das Formular muss als Datei-Upload (multipart/form-data) gesendet werden.".to_string(),
        )),
    };
    let (csrf, raw) = match upload {
        Ok(x) => x,
        Err(Refusal::Csrf) => return check_csrf(&s, &who.account, "").unwrap_err(),
        Err(Refusal::TooLarge) => {
            let m = format!(
                "Die Datei ist größer als die Grenze der Annahme ({}).",
                explain::format_size(max)
            );
            return render(&s, &who, StatusCode::PAYLOAD_TOO_LARGE, Some(m), None);
        }
        Err(Refusal::Bad(m)) => return render(&s, &who, StatusCode::BAD_REQUEST, Some(m), None),
    };
    if let Err(r) = check_csrf(&s, &who.account, &csrf) {
        return r;
    }
    let rules = match RuleSet::load_dir(&s.settings.rules_dir) {
        Ok(r) => r,
        // The check on this page names the faults; the upload cannot be tried against them.
        Err(_) => {
            let m = "Die Mail lässt sich nicht prüfen: die Regeln sind fehlerhaft (siehe das \
                     Ergebnis der Prüfung oben). Erst die Regeln berichtigen."
                .to_string();
            return render(&s, &who, StatusCode::CONFLICT, Some(m), None);
        }
    };
    let e = explain::explain("hochgeladene Mail", &raw, &rules, &options(&s));
    drop(raw);
    if !is_a_mail(&e) {
        let m = match &e.error {
            Some(reason) => format!("Die Datei ist keine lesbare Mail: {reason}"),
            None => "Die Datei ist keine Mail: Kopfzeilen wie From, Date oder Message-ID fehlen."
                .to_string(),
        };
        return render(&s, &who, StatusCode::BAD_REQUEST, Some(m), None);
    }
    let text = explain::render_text(std::slice::from_ref(&e));
    render(&s, &who, StatusCode::OK, None, Some(text))
}
