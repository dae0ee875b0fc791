//! `GET/POST /passwort`: every signed-in account changes its own password here; an account
//! with a one-time password (added or reset in the desk) is sent here until it has.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::unavailable;
use crate::accounts::{self, AccountError};
use crate::web::auth::{self, check_csrf, see_other, Signed};
use crate::web::WebState;

#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
}

fn render(s: &WebState, who: &Signed, status: StatusCode, error: Option<&str>) -> Response {
    s.templates.page(
        status,
        "passwort.html",
        serde_json::json!({
            "title": "Passwort ändern",
            "who": auth::who(who),
            "nav": "passwort",
            "must": who.account.must_change_password,
            "error": error,
        }),
    )
}

/// `GET /passwort`
pub async fn form(who: Signed, State(s): State<WebState>) -> Response {
    render(&s, &who, StatusCode::OK, None)
}

/// `POST /passwort`: fields `current`, `new`, `repeat`, `csrf`.
pub async fn change(
    who: Signed,
    State(s): State<WebState>,
    Form(f): Form<PasswordForm>,
) -> Response {
    if let Err(r) = check_csrf(&s, &who.account, &f.csrf) {
        return r;
    }
    if f.new != f.repeat {
        let m = "Die beiden Eingaben des neuen Passworts stimmen nicht überein.";
        return render(&s, &who, StatusCode::BAD_REQUEST, Some(m));
    }
    match accounts::change_own_password(&s.pool, &who.account.name, &who.token, &f.current, &f.new)
        .await
    {
        Ok(()) => see_other("/"),
        // Said here, on the answer to the form, not by a link (`/login?gesperrt=1` would let
        // anyone's link tell a user their account is locked).
        Err(AccountError::Refused(m)) if m == accounts::LOCKED_WHILE_CHANGING => {
            crate::web::render::message(
                &s.templates,
                StatusCode::FORBIDDEN,
                "Konto gesperrt",
                &m,
                None,
            )
        }
        Err(AccountError::Refused(m)) => render(&s, &who, StatusCode::BAD_REQUEST, Some(&m)),
        Err(e) => {
            tracing::error!("web: password change failed: {e}");
            unavailable(&s, &who, "Das Passwort lässt sich gerade nicht ändern.")
        }
    }
}
