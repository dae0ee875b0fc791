//! `GET /benutzer` (admin): the accounts as `user list` shows them, with forms to add an
//! account (a one-time password, shown once, that the user must change at the first login),
//! set a role, disable an account and reset a password. The last enabled admin can be neither
//! disabled nor demoted. Every change goes to the security log (by `crate::accounts`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::{errors_json, require, unavailable};
use crate::accounts::{self, AccountError, Role};
use crate::store::forms;
use crate::web::auth::{self, check_csrf, Signed};
use crate::web::WebState;

#[derive(Debug, Default, Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    staff: String,
    /// One-time token of the rendered page (see `store::forms`): a reload of the answer to a
    /// password reset must not reset the password a second time.
    #[serde(default)]
    once: String,
}

/// What the page shows beside the list after a POST.
#[derive(Default)]
struct Outcome {
    status: Option<StatusCode>,
    /// (form, message): an error next to the form it came from.
    error: Option<(&'static str, String)>,
    notice: Option<String>,
    /// (account, one-time password), shown once.
    one_time: Option<(String, String)>,
    /// The add form's input, kept after an error.
    kept: Option<AccountForm>,
}

async fn render(s: &WebState, who: &Signed, o: Outcome) -> Response {
    let list = match accounts::list(&s.pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("web: listing accounts failed: {e}");
            return unavailable(s, who, "Die Konten lassen sich nicht lesen.");
        }
    };
    let now = chrono::Utc::now();
    let rows: Vec<serde_json::Value> = list
        .iter()
        .map(|a| {
            let state = a.state(now);
            serde_json::json!({
                "name": a.name,
                "role": a.role.as_str(),
                "role_label": a.role_label,
                "staff": a.staff.clone().unwrap_or_default(),
                "state": if state.is_empty() { "aktiv".to_string() } else { state.join(", ") },
                "disabled": a.disabled,
            })
        })
        .collect();
    let roles: Vec<(&str, &str)> = Role::ALL.iter().map(|r| (r.as_str(), r.label())).collect();
    let staff: Vec<&String> = s.settings.staff.keys().collect();
    let kept = o.kept.unwrap_or_default();
    let errors = o.error.map(|(f, m)| vec![(f, m)]).unwrap_or_default();
    s.templates.page(
        o.status.unwrap_or(StatusCode::OK),
        "benutzer.html",
        serde_json::json!({
            "title": "Konten",
            "who": auth::who(who),
            "nav": "benutzer",
            "accounts": rows,
            "roles": roles,
            "staff": staff,
            "errors": errors_json(&errors),
            "notice": o.notice,
            "one_time": o.one_time.map(|(n, p)| serde_json::json!({ "name": n, "password": p })),
            "kept": { "name": kept.name, "role": kept.role, "staff": kept.staff },
            "once": crate::accounts::random_token(),
        }),
    )
}

/// `GET /benutzer`
pub async fn page(who: Signed, State(s): State<WebState>) -> Response {
    if let Err(r) = require(&s, &who, &[Role::Admin]) {
        return r;
    }
    render(&s, &who, Outcome::default()).await
}

/// Admin role plus a valid CSRF token, else the refusal.
fn guard(s: &WebState, who: &Signed, csrf: &str) -> Result<String, Response> {
    require(s, who, &[Role::Admin])?;
    check_csrf(s, &who.account, csrf)?;
    Ok(format!("web:{}", who.account.name))
}

/// A refused change beside its form (400), a database fault as 503.
async fn refused(
    s: &WebState,
    who: &Signed,
    form: &'static str,
    e: AccountError,
    kept: Option<AccountForm>,
) -> Response {
    match e {
        AccountError::Refused(m) => {
            render(
                s,
                who,
                Outcome {
                    status: Some(StatusCode::BAD_REQUEST),
                    error: Some((form, m)),
                    kept,
                    ..Outcome::default()
                },
            )
            .await
        }
        e => {
            tracing::error!("web: account change failed: {e}");
            unavailable(s, who, "Die Änderung ist gerade nicht möglich.")
        }
    }
}

/// The account a form names: one must be chosen (the lists preselect none).
fn chosen(name: &str) -> Result<&str, AccountError> {
    Some(name.trim())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| AccountError::Refused("Bitte ein Konto wählen.".to_string()))
}

/// What every change of a named account checks first: the admin role, the CSRF token and an
/// account chosen in the form's list. `(actor, account)`, or the answer to send instead.
async fn admitted<'f>(
    s: &WebState,
    who: &Signed,
    f: &'f AccountForm,
    form: &'static str,
) -> Result<(String, &'f str), Response> {
    let actor = guard(s, who, &f.csrf)?;
    match chosen(&f.name) {
        Ok(name) => Ok((actor, name)),
        Err(e) => Err(refused(s, who, form, e, None).await),
    }
}

fn role_of(v: &str) -> Result<Role, AccountError> {
    Role::parse(v).ok_or_else(|| AccountError::Refused("Bitte eine Rolle wählen.".to_string()))
}

/// `POST /benutzer/neu`: fields `name`, `role`, `staff` (optional), `csrf`.
pub async fn add(who: Signed, State(s): State<WebState>, Form(f): Form<AccountForm>) -> Response {
    let actor = match guard(&s, &who, &f.csrf) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let name = f.name.trim().to_string();
    let staff = Some(f.staff.trim()).filter(|x| !x.is_empty());
    let result = match role_of(&f.role) {
        Ok(role) => {
            accounts::add_with_one_time_password(
                &s.pool,
                &name,
                role,
                staff,
                &s.settings.staff,
                &actor,
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(password) => {
            let o = Outcome {
                notice: Some(format!(
                    "Konto „{name}“ angelegt. Geben Sie das Einmalpasswort auf sicherem Weg \
                     weiter; es wird nur jetzt angezeigt und muss bei der ersten Anmeldung \
                     geändert werden."
                )),
                one_time: Some((name, password)),
                ..Outcome::default()
            };
            render(&s, &who, o).await
        }
        Err(e) => refused(&s, &who, "neu", e, Some(f)).await,
    }
}

/// The list again with a change's notice, or the change refused beside its form `form`.
async fn answer(
    s: &WebState,
    who: &Signed,
    form: &'static str,
    result: Result<Outcome, AccountError>,
) -> Response {
    match result {
        Ok(o) => render(s, who, o).await,
        Err(e) => refused(s, who, form, e, None).await,
    }
}

/// An outcome that only tells what was done.
fn notice(text: String) -> Outcome {
    Outcome {
        notice: Some(text),
        ..Outcome::default()
    }
}

/// `POST /benutzer/rolle`: fields `name`, `role`, `csrf`.
pub async fn set_role(
    who: Signed,
    State(s): State<WebState>,
    Form(f): Form<AccountForm>,
) -> Response {
    let (actor, name) = match admitted(&s, &who, &f, "rolle").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let result = match role_of(&f.role) {
        Ok(role) => accounts::set_role_keeping_an_admin(&s.pool, name, role, &actor)
            .await
            .map(|()| notice(format!("Konto „{name}“: Rolle {}.", role.label()))),
        Err(e) => Err(e),
    };
    answer(&s, &who, "rolle", result).await
}

/// `POST /benutzer/sperren`: fields `name`, `csrf`.
pub async fn disable(
    who: Signed,
    State(s): State<WebState>,
    Form(f): Form<AccountForm>,
) -> Response {
    let (actor, name) = match admitted(&s, &who, &f, "sperren").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // One click must not lock out the one who clicks (the desk cannot undo it for them).
    let result = if name == who.account.name {
        Err(AccountError::Refused(
            "Das eigene Konto lässt sich hier nicht sperren; das kann ein anderes \
             Administrationskonto oder „krm-intake user disable“."
                .to_string(),
        ))
    } else {
        accounts::disable_keeping_an_admin(&s.pool, name, &actor)
            .await
            .map(|()| notice(format!("Konto „{name}“ gesperrt.")))
    };
    answer(&s, &who, "sperren", result).await
}

/// `POST /benutzer/zustaendig`: fields `name`, `staff` (empty: none), `csrf` (`user set-staff`).
pub async fn set_staff(
    who: Signed,
    State(s): State<WebState>,
    Form(f): Form<AccountForm>,
) -> Response {
    let (actor, name) = match admitted(&s, &who, &f, "zustaendig").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let staff = Some(f.staff.trim()).filter(|x| !x.is_empty());
    let result = accounts::set_staff(&s.pool, name, staff, &s.settings.staff, &actor)
        .await
        .map(|changed| {
            notice(match staff {
                _ if !changed => format!("Keine Änderung: Konto „{name}“ stand schon so."),
                Some(st) => format!("Konto „{name}“: zuständig als {st}."),
                None => format!("Konto „{name}“: keine zuständige Person."),
            })
        });
    answer(&s, &who, "zustaendig", result).await
}

/// `POST /benutzer/freigeben`: fields `name`, `csrf`. Lifts a disable (`user enable`).
pub async fn enable(
    who: Signed,
    State(s): State<WebState>,
    Form(f): Form<AccountForm>,
) -> Response {
    let (actor, name) = match admitted(&s, &who, &f, "freigeben").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let result = accounts::enable(&s.pool, name, &actor)
        .await
        .map(|changed| {
            notice(if changed {
                format!("Konto „{name}“ wieder freigegeben.")
            } else {
                format!("Keine Änderung: Konto „{name}“ ist nicht gesperrt.")
            })
        });
    answer(&s, &who, "freigeben", result).await
}

/// `POST /benutzer/passwort`: fields `name`, `csrf`. A new one-time password, shown once.
pub async fn reset_password(
    who: Signed,
    State(s): State<WebState>,
    Form(f): Form<AccountForm>,
) -> Response {
    let (actor, name) = match admitted(&s, &who, &f, "passwort").await {
        Ok((actor, name)) => (actor, name.to_string()),
        Err(r) => return r,
    };
    // The answer shows the password once; reloading it sends the form again.
    let once = Some(f.once.as_str()).filter(|t| t.len() == 64);
    if let Some(token) = once {
        match forms::claim(&s.pool, token, None).await {
            Ok(forms::Claim::First) => {}
            Ok(_) => {
                let o = notice(format!(
                    "Dieses Formular war schon abgeschickt: das Passwort von „{name}“ ist \
                     bereits zurückgesetzt, es gilt das damals angezeigte Einmalpasswort. Für \
                     ein neues das Formular erneut ausfüllen."
                ));
                return render(&s, &who, o).await;
            }
            Err(e) => {
                tracing::error!("web: form token: {e}");
                return unavailable(&s, &who, "Die Änderung ist gerade nicht möglich.");
            }
        }
    }
    let result = accounts::reset_password(&s.pool, &name, &actor)
        .await
        .map(|password| Outcome {
            one_time: Some((name.clone(), password)),
            ..notice(format!(
                "Konto „{name}“: neues Einmalpasswort gesetzt, die Sitzungen des Kontos sind \
                 beendet. Es wird nur jetzt angezeigt."
            ))
        });
    if let Some(token) = once {
        let settled = match &result {
            Ok(_) => forms::done(&s.pool, token, "").await,
            Err(_) => forms::release(&s.pool, token).await,
        };
        if let Err(e) = settled {
            tracing::warn!("web: form token not settled: {e}");
        }
    }
    answer(&s, &who, "passwort", result).await
}
