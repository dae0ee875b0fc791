//! The staff desk (`krm-intake web`): a server-rendered German web front end over the same core
//! functions as the staff CLI. Handlers are thin — extract session and form, call the core,
//! render a template; no SQL here. Needs only the database (no IMAP or SMTP secret).
//!
//! One module per page group: `auth` (login, logout, the session extractor, CSRF), `cases` (the
//! work list), `case` (the case page, its mail frames and attachments), `actions` (the case
//! actions and `/vorgaenge/neu`), `report` (the half-year report); `render` holds the templates,
//! `assets` the static files, `tls` the optional built-in TLS listener.

pub mod actions;
pub mod admin;
pub mod assets;
pub mod auth;
pub mod case;
pub mod cases;
pub mod render;
pub mod report;
pub mod tls;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

use crate::accounts::SessionPolicy;
use crate::calendar::Calendar;
use crate::config::Settings;

/// What every handler may use.
#[derive(Clone)]
pub struct WebState {
    pub pool: PgPool,
    pub calendar: Arc<Calendar>,
    pub templates: Arc<render::Templates>,
    pub policy: SessionPolicy,
    /// The browser reaches us over https: `Secure` cookies and HSTS.
    pub https: bool,
    /// Staff names, rules and templates directories, deadline policy (the case actions), the
    /// intake's size limit (the admin pages' rule test).
    pub settings: Arc<Settings>,
    /// The report page's template and topic catalogue.
    pub report: Arc<report::ReportSetup>,
    /// Stored mails read whole at the same time, from loading to the end of their parse (an
    /// attachment decoded, an HTML part shown; a 25 MB mail takes ~70 MiB meanwhile): at most
    /// [`DECODING`], the others wait their turn.
    pub decoding: Arc<tokio::sync::Semaphore>,
}

/// Stored mails the desk reads whole at the same time.
pub const DECODING: usize = 2;

impl WebState {
    pub fn new(settings: &Settings, pool: PgPool) -> anyhow::Result<WebState> {
        Ok(WebState {
            pool,
            calendar: Arc::new(settings.deadlines.calendar()),
            templates: Arc::new(render::Templates::new()?),
            policy: SessionPolicy {
                idle: chrono::Duration::minutes(i64::from(settings.web.session_idle_minutes)),
                max: chrono::Duration::hours(i64::from(settings.web.session_max_hours)),
            },
            https: settings.web.https(),
            settings: Arc::new(settings.clone()),
            report: Arc::new(report::ReportSetup::load(settings)),
            decoding: Arc::new(tokio::sync::Semaphore::new(DECODING)),
        })
    }
}

/// Every route of the desk (docs/web.md lists them).
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(start))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/healthz", get(healthz))
        .route(
            "/vorgaenge",
            get(cases::work_list).post(cases::sender_search),
        )
        // The case page, its mail content and its actions (web::case, web::actions).
        .route(
            "/vorgaenge/neu",
            get(actions::new_form).post(actions::create),
        )
        .route("/vorgaenge/{number}", get(case::page))
        .route("/vorgaenge/{number}/mails/{id}/html", get(case::mail_html))
        .route("/vorgaenge/{number}/anhaenge/{id}", get(case::attachment))
        .route("/vorgaenge/{number}/{verb}", post(actions::post))
        // The report (web/report.rs): leitung and admin.
        .route("/bericht", get(report::report_page))
        .route("/static/{file}", get(assets::serve))
        // Admin and data protection pages (web/admin, issue 16).
        .merge(admin::routes(&state))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

/// `GET /`: the role's start page (the work list; the accounts for the administration, the
/// access log for the data protection officer). A session is needed like everywhere else.
async fn start(who: auth::Signed) -> Response {
    auth::see_other(who.account.role.start_page())
}

/// Unknown paths: a signed-in user sees 404, anyone else the login redirect (nothing shown).
async fn not_found(_who: auth::Signed, State(s): State<WebState>) -> Response {
    render::message(
        &s.templates,
        StatusCode::NOT_FOUND,
        "Seite nicht gefunden",
        "Diese Seite gibt es nicht.",
        None,
    )
}

/// `GET /healthz`: 200 when the database answers (for load balancers; no session needed).
async fn healthz(State(s): State<WebState>) -> Response {
    match sqlx::query("SELECT 1").execute(&s.pool).await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response(),
    }
}

/// The content security policy: nothing inline, nothing from elsewhere, no framing (frames only
/// of the desk's own sandboxed mail view).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    font-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// Headers on every response. Pages are `no-store` (they carry case data); static assets set
/// their own caching; the mail frame and attachments set their own (sandboxed) policy.
async fn security_headers(State(s): State<WebState>, req: Request, next: Next) -> Response {
    let mut res = framework_answer_in_german(&s, next.run(req).await);
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if s.https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    res
}

/// The framework's own answers (an extractor's refusal as English `text/plain`, an empty 405)
/// as German pages; the desk's own pages are HTML and pass unchanged.
fn framework_answer_in_german(s: &WebState, res: Response) -> Response {
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !plain {
        return res;
    }
    let (title, text) = match res.status() {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "Zu viele Daten",
            "Das Formular war zu groß, um es anzunehmen (höchstens 2 MB); es wurde nichts \
             gespeichert. Bitte gehen Sie zurück und kürzen Sie den Text.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
        | StatusCode::UNPROCESSABLE_ENTITY
        | StatusCode::BAD_REQUEST => (
            "Formular nicht lesbar",
            "Das Formular kam in einer unerwarteten Form an; es wurde nichts gespeichert. Bitte \
             laden Sie die Seite neu und senden Sie es erneut.",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "Nicht so aufrufbar",
            "Diese Adresse nimmt nur Formulare des Schreibtischs an (zum Abmelden etwa die \
             Schaltfläche „Abmelden“). Zur Vorgangsliste: /vorgaenge",
        ),
        _ => return res,
    };
    render::message(&s.templates, res.status(), title, text, None)
}

/// Runs the desk until `shutdown` completes, then lets open requests finish.
pub async fn serve<F>(settings: &Settings, pool: PgPool, shutdown: F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let state = WebState::new(settings, pool.clone())?;
    let tcp = tokio::net::TcpListener::bind(settings.web.listen)
        .await
        .map_err(|e| anyhow::anyhow!("web: cannot bind {}: {e}", settings.web.listen))?;
    let addr = tcp.local_addr()?;
    let app = router(state.clone());
    // Expired sessions are removed now and then; a request never needs this to be correct.
    let sweeper = tokio::spawn(async move {
        loop {
            if let Err(e) =
                crate::accounts::purge_sessions(&state.pool, state.policy, chrono::Utc::now()).await
            {
                tracing::warn!("web: removing expired sessions failed: {e}");
            }
            let day_ago = chrono::Utc::now() - chrono::Duration::days(1);
            if let Err(e) = crate::store::forms::forget(&state.pool, day_ago).await {
                tracing::warn!("web: forgetting sent forms failed: {e}");
            }
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
    });
    let result = match (&settings.web.tls_cert, &settings.web.tls_key) {
        (Some(cert), Some(key)) => {
            let config = tls::server_config(cert, key)?;
            tracing::info!("web: listening on https://{addr}");
            // Printed for scripts and tests that listen on port 0.
            println!("Schreibtisch läuft: https://{addr}");
            axum::serve(tls::TlsListener::new(tcp, config), app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        _ => {
            tracing::info!("web: listening on http://{addr}");
            println!("Schreibtisch läuft: http://{addr}");
            axum::serve(tcp, app).with_graceful_shutdown(shutdown).await
        }
    };
    sweeper.abort();
    result?;
    tracing::info!("web: stopped");
    Ok(())
}
