//! Login, logout, the session extractor and CSRF checks. The session cookie carries a random
//! token of which the database keeps only the hash (`accounts::session`). The login form has
//! no session yet; it is protected by a double-submit token (cookie + hidden field).

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use super::render::{self, Who};
use super::WebState;
use crate::accounts::{self, SessionAccount};

pub const SESSION_COOKIE: &str = "krm_session";
pub const LOGIN_CSRF_COOKIE: &str = "krm_login_csrf";

/// 303 See Other to a local path.
pub fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(res: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn secure(s: &WebState) -> &'static str {
    if s.https {
        "; Secure"
    } else {
        ""
    }
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Where to go after login: only a local path (no scheme, no host, no `//`, no backslash).
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 2000
        && next.chars().all(|c| c.is_ascii_graphic());
    ok.then_some(next)
}

/// A request with a live session. Without one, the extractor answers with a redirect to the
/// login page (303), remembering the page asked for, and the handler never runs.
pub struct Signed {
    pub account: SessionAccount,
    pub token: String,
}

impl FromRequestParts<WebState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &WebState) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string);
        if let Some(token) = token.as_deref() {
            match accounts::session(&s.pool, token, s.policy, chrono::Utc::now()).await {
                Ok(Some(account)) => {
                    // A one-time password opens nothing but its change (and logout).
                    if account.must_change_password
                        && !matches!(parts.uri.path(), "/passwort" | "/logout")
                    {
                        return Err(see_other("/passwort"));
                    }
                    return Ok(Signed {
                        account,
                        token: token.to_string(),
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!("web: session lookup failed: {e}");
                    return Err((
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Die Datenbank ist nicht erreichbar.",
                    )
                        .into_response());
                }
            }
        }
        let wanted = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let mut q: Vec<(&str, &str)> = Vec::new();
        let back = if parts.method == axum::http::Method::GET {
            wanted.to_string()
        } else {
            page_of_form(parts.uri.path())
        };
        if back != "/" {
            q.push(("next", &back));
        }
        if token.is_some() {
            // A form sent into the ended session: its input is lost, and the notice says so
            // (`2`), rather than leaving the user to think it was saved.
            let posted = parts.method == axum::http::Method::POST
                && !parts.uri.path().starts_with("/logout");
            q.push(("abgelaufen", if posted { "2" } else { "1" }));
        }
        let query = serde_urlencoded::to_string(&q).unwrap_or_default();
        Err(see_other(&if query.is_empty() {
            "/login".to_string()
        } else {
            format!("/login?{query}")
        }))
    }
}

/// Refuses a POST whose `csrf` field is not the session's token (403).
pub fn check_csrf(s: &WebState, who: &SessionAccount, given: &str) -> Result<(), Response> {
    if same_token(&who.csrf, given) {
        Ok(())
    } else {
        Err(forbidden_csrf(s, Some(who)))
    }
}

fn forbidden_csrf(s: &WebState, who: Option<&SessionAccount>) -> Response {
    render::message(
        &s.templates,
        StatusCode::FORBIDDEN,
        "Formular abgelaufen",
        "Das Formular ist abgelaufen oder kam nicht von dieser Seite. Bitte laden Sie die Seite \
         neu und versuchen Sie es noch einmal.",
        who,
    )
}

/// The page a posted form came from, to return to after signing in again (a case action's
/// case page, else the section's page): the form's input itself is not kept.
fn page_of_form(path: &str) -> String {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some("vorgaenge"), Some(n)) if n.starts_with("KRM-") || n == "neu" => {
            format!("/vorgaenge/{n}")
        }
        // Signing out after the session ended: back to the start, not to a page that is only
        // a form's target.
        (Some("logout"), _) => "/".to_string(),
        (Some(section), _) if !section.is_empty() => format!("/{section}"),
        _ => "/".to_string(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    abgelaufen: Option<String>,
    #[serde(default)]
    abgemeldet: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// The login form's token: the one the browser already holds (several tabs, or a second
/// GET /login such as the favicon's redirect, must not invalidate an open form), else a new one.
fn login_token(headers: &HeaderMap) -> String {
    match cookie(headers, LOGIN_CSRF_COOKIE) {
        Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => t.to_string(),
        _ => accounts::random_token(),
    }
}

/// Renders the login form with its double-submit token.
fn login_page(
    s: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    username: &str,
    next: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    let token = login_token(headers);
    let mut res = s.templates.page(
        status,
        "login.html",
        serde_json::json!({
            "title": "Anmelden",
            "csrf": &token,
            "username": username,
            "next": safe_next(next).unwrap_or(""),
            "error": error,
            "notice": notice,
        }),
    );
    set_cookie(
        &mut res,
        format!(
            "{LOGIN_CSRF_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/login; Max-Age=3600{}",
            secure(s)
        ),
    );
    res
}

/// `GET /login`
pub async fn login_form(
    State(s): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let notice = if q.abgemeldet.is_some() {
        Some("Sie sind abgemeldet.")
    } else if q.abgelaufen.is_some() {
        Some(if q.abgelaufen.as_deref() == Some("2") {
            "Ihre Sitzung ist abgelaufen; die zuletzt abgeschickte Eingabe wurde nicht \
             gespeichert. Bitte melden Sie sich erneut an und geben Sie sie noch einmal ein."
        } else {
            "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an."
        })
    } else {
        None
    };
    login_page(&s, &headers, StatusCode::OK, "", &q.next, None, notice)
}

/// `POST /login`: fields `username`, `password`, `csrf` (and `next`).
pub async fn login(
    State(s): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let cookie_token = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if !same_token(cookie_token, &f.csrf) {
        return login_page(
            &s,
            &headers,
            StatusCode::FORBIDDEN,
            &f.username,
            &f.next,
            Some("Das Anmeldeformular ist abgelaufen. Bitte versuchen Sie es noch einmal."),
            None,
        );
    }
    let now = chrono::Utc::now();
    match accounts::login(&s.pool, f.username.trim(), &f.password, s.policy, now).await {
        Ok(Some(session)) => {
            // A session id from before the login is never carried over.
            if let Some(old) = cookie(&headers, SESSION_COOKIE) {
                if let Err(e) =
                    crate::store::accounts::end_session(&s.pool, &accounts::token_hash(old)).await
                {
                    tracing::warn!("web: ending the previous session failed: {e}");
                }
            }
            // Without a page asked for: the role's start page.
            let start = session
                .role
                .map_or("/vorgaenge", accounts::Role::start_page);
            let mut res = see_other(safe_next(&f.next).unwrap_or(start));
            set_cookie(
                &mut res,
                format!(
                    "{SESSION_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/{}",
                    session.token,
                    secure(&s)
                ),
            );
            set_cookie(
                &mut res,
                format!("{LOGIN_CSRF_COOKIE}=; HttpOnly; SameSite=Strict; Path=/login; Max-Age=0"),
            );
            res
        }
        Ok(None) => login_page(
            &s,
            &headers,
            StatusCode::UNAUTHORIZED,
            &f.username,
            &f.next,
            Some(accounts::LOGIN_REFUSED),
            None,
        ),
        Err(e) => {
            tracing::error!("web: login failed: {e}");
            render::message(
                &s.templates,
                StatusCode::SERVICE_UNAVAILABLE,
                "Anmeldung derzeit nicht möglich",
                "Die Anmeldung ist gerade nicht möglich. Bitte versuchen Sie es später erneut.",
                None,
            )
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`: field `csrf`. Ends the session and clears the cookie.
pub async fn logout(who: Signed, State(s): State<WebState>, Form(f): Form<CsrfForm>) -> Response {
    if let Err(r) = check_csrf(&s, &who.account, &f.csrf) {
        return r;
    }
    if let Err(e) = accounts::logout(&s.pool, &who.token, &who.account.name).await {
        tracing::error!("web: logout failed: {e}");
        return render::message(
            &s.templates,
            StatusCode::SERVICE_UNAVAILABLE,
            "Abmelden derzeit nicht möglich",
            "Die Datenbank ist nicht erreichbar. Bitte versuchen Sie es später erneut.",
            Some(&who.account),
        );
    }
    let mut res = see_other("/login?abgemeldet=1");
    set_cookie(
        &mut res,
        format!(
            "{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{}",
            secure(&s)
        ),
    );
    res
}

/// The layout's view of the account (name, role, the logout form's token).
pub fn who(s: &Signed) -> Who<'_> {
    Who::of(&s.account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_sent_after_the_session_ended_returns_to_its_page() {
        assert_eq!(
            page_of_form("/vorgaenge/KRM-2026-00008/note"),
            "/vorgaenge/KRM-2026-00008"
        );
        assert_eq!(page_of_form("/vorgaenge/neu"), "/vorgaenge/neu");
        assert_eq!(page_of_form("/benutzer/rolle"), "/benutzer");
        assert_eq!(page_of_form("/passwort"), "/passwort");
        assert_eq!(page_of_form("/"), "/");
        assert_eq!(page_of_form("/logout"), "/");
    }

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next("/vorgaenge?page=2"), Some("/vorgaenge?page=2"));
        for bad in [
            "",
            "https://evil.test/",
            "//evil.test/",
            "/\\evil.test",
            "vorgaenge",
            "/a b",
            "/\u{0}x",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("", ""));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; krm_session=tok; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
