//! Pages for the administration and the data protection officer (issue 16): the access and
//! security log (`/zugriffe`), accounts (`/benutzer`, and `/passwort` for everyone who must
//! change a one-time password), the quarantine (`/quarantaene`) and the rules (`/regeln`).
//! One file per page; handlers call the same core functions as the CLI.

pub mod logs;
pub mod password;
pub mod quarantine;
pub mod rules;
pub mod users;

use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::auth::Signed;
use super::{render, WebState};
use crate::accounts::Role;

/// The routes of this page group (merged into the desk's router). The rule test's upload may
/// be as large as the intake accepts, plus room for the form around it.
pub fn routes(s: &WebState) -> Router<WebState> {
    let upload_limit = s.settings.imap.max_message_size.saturating_add(64 * 1024);
    Router::new()
        .route("/zugriffe", get(logs::page))
        .route("/benutzer", get(users::page))
        .route("/benutzer/neu", post(users::add))
        .route("/benutzer/rolle", post(users::set_role))
        .route("/benutzer/sperren", post(users::disable))
        .route("/benutzer/freigeben", post(users::enable))
        .route("/benutzer/zustaendig", post(users::set_staff))
        .route("/benutzer/passwort", post(users::reset_password))
        .route("/passwort", get(password::form).post(password::change))
        .route("/quarantaene", get(quarantine::page))
        .route("/quarantaene/{id}/retry", post(quarantine::retry))
        .route("/regeln", get(rules::page))
        .route(
            "/regeln/pruefen",
            post(rules::try_mail).layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
}

/// `Ok` when the signed-in role is one of `roles`, else the 403 page.
pub fn require(s: &WebState, who: &Signed, roles: &[Role]) -> Result<(), Response> {
    if roles.contains(&who.account.role) {
        Ok(())
    } else {
        Err(render::message(
            &s.templates,
            StatusCode::FORBIDDEN,
            "Kein Zugriff",
            "Diese Seite ist Ihrer Rolle nicht freigegeben.",
            Some(&who.account),
        ))
    }
}

/// The page for a database that does not answer.
pub fn unavailable(s: &WebState, who: &Signed, what: &str) -> Response {
    render::message(
        &s.templates,
        StatusCode::SERVICE_UNAVAILABLE,
        "Derzeit nicht verfügbar",
        &format!(
            "{what} Die Datenbank ist nicht erreichbar. Bitte versuchen Sie es später erneut."
        ),
        Some(&who.account),
    )
}

/// Form errors as the templates list them (`field`, `msg`).
pub fn errors_json(errors: &[(&str, String)]) -> Vec<serde_json::Value> {
    errors
        .iter()
        .map(|(field, msg)| serde_json::json!({ "field": field, "msg": msg }))
        .collect()
}
