//! The staff desk at HTTP level: the real router with a real database (requests go through the
//! whole axum stack in process), and the real `krm-intake web` binary for start, /healthz and a
//! clean SIGTERM. What must never happen: a page without a session, a POST without the
//! session's CSRF token, an account that can be told from an unknown one, script in a page.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use std::io::{BufRead, Read, Write};
use tower::ServiceExt;

use crate::helpers::World;

pub(crate) const PASSWORD: &str = "sehr-geheim-123";

pub(crate) struct Desk {
    pub(crate) w: World,
    router: Router,
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// `name=value` of a Set-Cookie header for `name`.
    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap_or("").to_string())
    }

    pub(crate) fn set_cookie_line(&self, name: &str) -> String {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .unwrap_or("")
            .to_string()
    }

    /// The value of the first hidden `csrf` field.
    /// The text of the element with id `id` (up to the next `<`).
    pub(crate) fn text_of(&self, id: &str) -> String {
        let start = self.body.find(&format!("id=\"{id}\">")).expect(id) + id.len() + 6;
        self.body[start..]
            .split('<')
            .next()
            .unwrap_or("")
            .to_string()
    }

    pub(crate) fn csrf_field(&self) -> String {
        self.hidden_field("csrf")
    }

    /// The value of the first hidden 64-hex-digit field `name` (`csrf`, `once`).
    pub(crate) fn hidden_field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let i = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("{name} field"))
            + marker.len();
        self.body[i..i + 64].to_string()
    }
}

impl Desk {
    pub(crate) async fn new(test: &str) -> Desk {
        Self::with_env(test, &[]).await
    }

    pub(crate) async fn with_env(test: &str, env: &[(&str, &str)]) -> Desk {
        let w = World::with_env(test, env).await;
        let state = krm_intake::web::WebState::new(&w.settings(), w.pool.clone()).expect("state");
        Desk {
            router: krm_intake::web::router(state),
            w,
        }
    }

    pub(crate) async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.expect("response");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 10 << 20)
            .await
            .expect("body");
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub(crate) async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut r = Request::get(path);
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, c);
        }
        self.send(r.body(Body::empty()).unwrap()).await
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> Reply {
        let mut r =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, c);
        }
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(r.body(Body::from(body)).unwrap()).await
    }

    pub(crate) async fn add_user(
        &self,
        name: &str,
        role: krm_intake::accounts::Role,
        staff: Option<&str>,
    ) {
        krm_intake::accounts::add(
            &self.w.pool,
            name,
            role,
            staff,
            &self.w.settings().staff,
            PASSWORD,
            "test",
        )
        .await
        .expect("add account");
    }

    /// One login attempt through the form; the reply of the POST.
    pub(crate) async fn try_login(&self, user: &str, password: &str, next: &str) -> Reply {
        let form = self.get("/login", None).await;
        let csrf_cookie = form.cookie("krm_login_csrf").expect("login csrf cookie");
        let csrf = form.csrf_field();
        self.post(
            "/login",
            Some(&csrf_cookie),
            &[
                ("username", user),
                ("password", password),
                ("csrf", &csrf),
                ("next", next),
            ],
        )
        .await
    }

    /// Logs in; the session cookie (`krm_session=…`).
    pub(crate) async fn login(&self, user: &str) -> String {
        let r = self.try_login(user, PASSWORD, "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        r.cookie("krm_session").expect("session cookie")
    }

    pub(crate) async fn security_events(&self) -> Vec<(String, Option<String>)> {
        sqlx::query_as("SELECT event, account FROM security_log ORDER BY id")
            .fetch_all(&self.w.pool)
            .await
            .expect("security log")
    }
}

pub(crate) fn assert_login_redirect(r: &Reply, what: &str) {
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{what}");
    assert!(
        r.header("location").starts_with("/login"),
        "{what}: {}",
        r.header("location")
    );
    assert!(r.body.is_empty(), "{what} shows nothing: {}", r.body);
}

#[tokio::test]
async fn every_route_without_a_session_redirects_to_login_and_shows_nothing() {
    let d = Desk::new("webnosess").await;
    for path in [
        "/",
        "/vorgaenge",
        "/vorgaenge?status=alle&page=2",
        "/vorgaenge/KRM-2026-00001",
        "/gibt-es-nicht",
    ] {
        let r = d.get(path, None).await;
        assert_login_redirect(&r, path);
    }
    let r = d.get("/vorgaenge?status=alle", None).await;
    assert_eq!(
        r.header("location"),
        "/login?next=%2Fvorgaenge%3Fstatus%3Dalle"
    );
    // A made-up or stale cookie is no session either; the login page says it has expired.
    let r = d.get("/vorgaenge", Some("krm_session=abc123")).await;
    assert_login_redirect(&r, "made-up cookie");
    assert!(r.header("location").contains("abgelaufen=1"));
    let r = d.post("/logout", None, &[("csrf", "x")]).await;
    assert_login_redirect(&r, "POST /logout");
    // What needs no session.
    assert_eq!(d.get("/login", None).await.status, StatusCode::OK);
    let h = d.get("/healthz", None).await;
    assert_eq!((h.status, h.body.as_str()), (StatusCode::OK, "ok\n"));
    assert_eq!(d.get("/static/desk.css", None).await.status, StatusCode::OK);
    // The icon the pages name (without it every page load logged a 404 in the console).
    let icon = d.get("/static/favicon.svg", None).await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.header("content-type"), "image/svg+xml");
}

#[tokio::test]
async fn login_returns_to_the_page_asked_for_but_never_elsewhere() {
    let d = Desk::new("webnext").await;
    d.add_user("anna", krm_intake::accounts::Role::Sachbearbeitung, None)
        .await;
    let r = d
        .try_login("anna", PASSWORD, "/vorgaenge?status=alle")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/vorgaenge?status=alle");
    let line = r.set_cookie_line("krm_session");
    for part in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(line.contains(part), "{line}");
    }
    assert!(!line.contains("Secure"), "plain http on loopback: {line}");
    for evil in ["https://evil.test/", "//evil.test/x", "/\\evil.test"] {
        let r = d.try_login("anna", PASSWORD, evil).await;
        assert_eq!(r.header("location"), "/vorgaenge", "{evil}");
    }
    // The login page hands `next` on in its form.
    let r = d.get("/login?next=%2Fvorgaenge%3Fpage%3D2", None).await;
    // (minijinja writes '/' as &#x2f; inside attributes; the browser reads it back.)
    assert!(
        r.body
            .contains("name=\"next\" value=\"&#x2f;vorgaenge?page=2\""),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn secure_cookie_and_hsts_when_the_desk_is_reached_over_https() {
    let d = Desk::with_env(
        "webhttps",
        &[("KRM_WEB_BASE_URL", "https://krm.jobcenter.test")],
    )
    .await;
    d.add_user("anna", krm_intake::accounts::Role::Sachbearbeitung, None)
        .await;
    let r = d.try_login("anna", PASSWORD, "").await;
    assert!(r.set_cookie_line("krm_session").contains("; Secure"));
    assert!(r
        .header("strict-transport-security")
        .starts_with("max-age="));
    let plain = Desk::new("webplain").await;
    assert_eq!(
        plain
            .get("/login", None)
            .await
            .header("strict-transport-security"),
        ""
    );
}

#[tokio::test]
async fn a_post_without_the_right_csrf_token_is_refused() {
    let d = Desk::new("webcsrf").await;
    d.add_user("anna", krm_intake::accounts::Role::Sachbearbeitung, None)
        .await;
    // Login: no double-submit cookie, or a field that does not match it.
    let r = d
        .post(
            "/login",
            None,
            &[("username", "anna"), ("password", PASSWORD), ("csrf", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.cookie("krm_session").is_none());
    let form = d.get("/login", None).await;
    let c = form.cookie("krm_login_csrf").unwrap();
    // A second GET /login (another tab, the favicon's redirect) keeps the open form valid.
    let again = d.get("/login", Some(&c)).await;
    assert_eq!(again.csrf_field(), form.csrf_field());
    assert_eq!(again.cookie("krm_login_csrf").as_deref(), Some(c.as_str()));
    let r = d
        .post(
            "/login",
            Some(&c),
            &[
                ("username", "anna"),
                ("password", PASSWORD),
                ("csrf", &"0".repeat(64)),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.cookie("krm_session").is_none());
    let events: Vec<String> = d.security_events().await.into_iter().map(|e| e.0).collect();
    assert_eq!(
        events,
        ["account_added"],
        "a refused form is no login attempt"
    );

    // Logout: without the token, with a wrong one, with another session's token.
    let s1 = d.login("anna").await;
    let s2 = d.login("anna").await;
    let other = d.get("/vorgaenge", Some(&s2)).await.csrf_field();
    for form in [
        vec![],
        vec![("csrf", "falsch")],
        vec![("csrf", other.as_str())],
    ] {
        let r = d.post("/logout", Some(&s1), &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{form:?}");
        assert_eq!(d.get("/vorgaenge", Some(&s1)).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn five_failures_lock_the_account_with_the_same_message_as_an_unknown_one() {
    let d = Desk::new("weblock").await;
    d.add_user("anna", krm_intake::accounts::Role::Sachbearbeitung, None)
        .await;
    let unknown = d.try_login("niemand", PASSWORD, "").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let message = krm_intake::accounts::LOGIN_REFUSED;
    // minijinja escapes '/' and quotes; compare a part without them.
    let part = message.split(',').next().unwrap();
    assert!(unknown.body.contains(part), "{}", unknown.body);
    for i in 0..5 {
        let r = d.try_login("anna", "falsches-passwort", "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(r.body.contains(part));
        assert!(r.cookie("krm_session").is_none());
    }
    // Locked: the right password does not help, and the answer is the unknown account's.
    let locked = d.try_login("anna", PASSWORD, "").await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert!(locked.cookie("krm_session").is_none());
    let strip = |b: &str| {
        b.replace("value=\"niemand\"", "")
            .replace("value=\"anna\"", "")
    };
    let without_token = |b: &str| {
        let re = regex::Regex::new("[0-9a-f]{64}").unwrap();
        re.replace_all(&strip(b), "T").into_owned()
    };
    assert_eq!(without_token(&locked.body), without_token(&unknown.body));
    let events: Vec<String> = d.security_events().await.into_iter().map(|e| e.0).collect();
    assert_eq!(
        events,
        [
            "account_added",
            "login_failed",
            "login_failed",
            "login_failed",
            "login_failed",
            "login_failed",
            "lockout",
            "login_locked"
        ]
    );
    // After the lockout ends (moved into the past here), the password works again.
    sqlx::query("UPDATE accounts SET locked_until = now() - interval '1 second'")
        .execute(&d.w.pool)
        .await
        .unwrap();
    d.login("anna").await;
}

#[tokio::test]
async fn sessions_end_when_idle_too_long_at_their_absolute_end_and_on_logout() {
    let d = Desk::new("websess").await;
    d.add_user("anna", krm_intake::accounts::Role::Sachbearbeitung, None)
        .await;
    let s = d.login("anna").await;
    let stored: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM web_sessions")
        .fetch_all(&d.w.pool)
        .await
        .unwrap();
    let token = s.trim_start_matches("krm_session=");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, token, "only a hash of the token is stored");
    assert_eq!(stored[0].0, krm_intake::accounts::token_hash(token));

    // Idle: the default is 30 minutes.
    sqlx::query("UPDATE web_sessions SET last_seen_at = now() - interval '29 minutes'")
        .execute(&d.w.pool)
        .await
        .unwrap();
    assert_eq!(d.get("/vorgaenge", Some(&s)).await.status, StatusCode::OK);
    sqlx::query("UPDATE web_sessions SET last_seen_at = now() - interval '31 minutes'")
        .execute(&d.w.pool)
        .await
        .unwrap();
    // A form sent into an ended session leads back to its case page after signing in.
    let r = d
        .post(
            "/vorgaenge/KRM-2026-00008/note",
            Some(&s),
            &[("text", "verloren")],
        )
        .await;
    assert_login_redirect(&r, "idle session, a form");
    assert_eq!(
        r.header("location"),
        "/login?next=%2Fvorgaenge%2FKRM-2026-00008&abgelaufen=2"
    );
    // The login page says the input was not saved.
    let login = d.get(r.header("location"), None).await;
    assert!(
        login.body.contains("Eingabe wurde nicht gespeichert"),
        "{}",
        login.body
    );
    let r = d.get("/vorgaenge", Some(&s)).await;
    assert_login_redirect(&r, "idle session");
    assert!(r.header("location").contains("abgelaufen=1"));
    assert_eq!(d.w.scalar("SELECT count(*) FROM web_sessions").await, 0);

    // Absolute end, however busy the session was.
    let s = d.login("anna").await;
    sqlx::query("UPDATE web_sessions SET expires_at = now() - interval '1 second'")
        .execute(&d.w.pool)
        .await
        .unwrap();
    assert_login_redirect(&d.get("/vorgaenge", Some(&s)).await, "past its end");

    // Logout ends it on the server, not only in the browser.
    let s = d.login("anna").await;
    let csrf = d.get("/vorgaenge", Some(&s)).await.csrf_field();
    let r = d.post("/logout", Some(&s), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), "/login?abgemeldet=1");
    assert!(r.set_cookie_line("krm_session").contains("Max-Age=0"));
    assert_login_redirect(&d.get("/vorgaenge", Some(&s)).await, "after logout");
    let events: Vec<String> = d.security_events().await.into_iter().map(|e| e.0).collect();
    assert_eq!(events.last().map(String::as_str), Some("logout"));

    // A new login always gets a new session id.
    let a = d.login("anna").await;
    let b = d.login("anna").await;
    assert_ne!(a, b);

    // A disabled account's sessions end at once.
    krm_intake::accounts::disable(&d.w.pool, "anna", "test")
        .await
        .unwrap();
    assert_login_redirect(&d.get("/vorgaenge", Some(&b)).await, "disabled account");
}

#[tokio::test]
async fn the_idle_timeout_comes_from_the_configuration() {
    let d = Desk::with_env("webidle", &[("KRM_WEB_SESSION_IDLE_MINUTES", "2")]).await;
    d.add_user("anna", krm_intake::accounts::Role::Sachbearbeitung, None)
        .await;
    let s = d.login("anna").await;
    sqlx::query("UPDATE web_sessions SET last_seen_at = now() - interval '3 minutes'")
        .execute(&d.w.pool)
        .await
        .unwrap();
    assert_login_redirect(&d.get("/vorgaenge", Some(&s)).await, "idle 3 of 2 minutes");
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let d = Desk::new("webhead").await;
    d.add_user("anna", krm_intake::accounts::Role::Sachbearbeitung, None)
        .await;
    let s = d.login("anna").await;
    let replies = [
        ("/login", d.get("/login", None).await),
        ("/vorgaenge (no session)", d.get("/vorgaenge", None).await),
        ("/vorgaenge", d.get("/vorgaenge", Some(&s)).await),
        ("/static/desk.css", d.get("/static/desk.css", None).await),
        ("/healthz", d.get("/healthz", None).await),
        ("404", d.get("/nichts", Some(&s)).await),
    ];
    for (what, r) in &replies {
        let csp = r.header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(r.header("referrer-policy"), "no-referrer", "{what}");
    }
    for (what, r) in &replies[..3] {
        assert_eq!(r.header("cache-control"), "no-store", "{what}");
    }
    assert_eq!(replies[5].1.status, StatusCode::NOT_FOUND);
    assert!(replies[3].1.header("content-type").starts_with("text/css"));
}

pub(crate) fn new_case(w: &World, args: &[&str]) -> String {
    let mut all = vec!["case", "new", "--channel", "brief"];
    all.extend_from_slice(args);
    let out = w.command().args(&all).output().expect("case new");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .find(|t| t.starts_with("KRM-"))
        .expect("case number")
        .to_string()
}

#[tokio::test]
async fn the_work_list_shows_cases_sorted_by_deadline_filters_and_escapes() {
    let d = Desk::with_env(
        "weblist",
        &[("KRM_STAFF_Frau_Beispiel", "sachbearbeitung@jobcenter.test")],
    )
    .await;
    d.add_user(
        "anna",
        krm_intake::accounts::Role::Sachbearbeitung,
        Some("Frau Beispiel"),
    )
    .await;
    let evil = "<script>window.__pwned=1</script> Beratung";
    let newer = new_case(
        &d.w,
        &["--received", "2026-02-02T09:00", "--organisation", evil],
    );
    let older = new_case(&d.w, &["--received", "2026-01-05T09:00"]);
    let out =
        d.w.command()
            .args(["case", "assign", &older, "Frau Beispiel"])
            .output()
            .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let s = d.login("anna").await;
    let r = d.get("/vorgaenge", Some(&s)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("<script>window"), "escaped: {}", r.body);
    assert!(
        r.body.contains("&lt;script&gt;window.__pwned=1&lt;"),
        "{}",
        r.body
    );
    let (a, b) = (r.body.find(&older).unwrap(), r.body.find(&newer).unwrap());
    assert!(a < b, "the earlier deadline first");
    assert!(r.body.contains("ohne Unterstützung Dritter"));
    assert!(r.body.contains("überfällig seit"));
    assert!(r.body.contains("2 Vorgänge"));

    // The same filters as `case list`, as query parameters.
    let r = d.get("/vorgaenge?assignee=mir", Some(&s)).await;
    assert!(r.body.contains(&older) && !r.body.contains(&newer));
    let r = d.get("/vorgaenge?assignee=niemand", Some(&s)).await;
    assert!(!r.body.contains(&older) && r.body.contains(&newer));
    let r = d.get("/vorgaenge?received_from=2026-02-01", Some(&s)).await;
    assert!(!r.body.contains(&older) && r.body.contains(&newer));
    let r = d.get("/vorgaenge?status=closed", Some(&s)).await;
    assert!(r.body.contains("Keine passenden Vorgänge"));

    // Bad input: German message at its field, 400, nothing listed.
    let r = d
        .get("/vorgaenge?due_within=viele&kind=quatsch", Some(&s))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("id=\"due_within-fehler\""), "{}", r.body);
    assert!(r.body.contains("unbekannte Art"));
    assert!(!r.body.contains(&older));
    // No list at all, not "0 Vorgänge": the filter was not applied.
    assert!(!r.body.contains("Keine passenden") && !r.body.contains("0 Vorgänge"));
}

#[tokio::test]
async fn the_data_protection_role_sees_no_cases() {
    let d = Desk::new("webdsb").await;
    d.add_user("dora", krm_intake::accounts::Role::Datenschutz, None)
        .await;
    let s = d.login("dora").await;
    assert_eq!(
        d.get("/vorgaenge", Some(&s)).await.status,
        StatusCode::FORBIDDEN
    );
}

/// The binary with `args`: exit code, stdout, stderr.
fn run_cli(w: &World, args: &[&str]) -> (Option<i32>, String, String) {
    let out = w.command().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn user_commands_manage_accounts_and_write_the_security_log() {
    let d = Desk::new("webuser").await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let run = |args: &[&str]| run_cli(&d.w, args);
    let pw_arg = pw.display().to_string();
    let (code, out, _) = run(&[
        "user",
        "add",
        "bernd",
        "--role",
        "leitung",
        "--password-file",
        &pw_arg,
    ]);
    assert_eq!(code, Some(0), "{out}");
    let (code, _, err) = run(&[
        "user",
        "add",
        "bernd",
        "--role",
        "admin",
        "--password-file",
        &pw_arg,
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("gibt es schon"), "{err}");
    let (code, _, err) = run(&[
        "user",
        "add",
        "carla",
        "--role",
        "admin",
        "--staff",
        "Unbekannt",
        "--password-file",
        &pw_arg,
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("keine zuständige Person"), "{err}");
    let (code, _, _) = run(&["user", "set-role", "bernd", "admin"]);
    assert_eq!(code, Some(0));
    let (_, out, _) = run(&["user", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["name"], "bernd");
    assert_eq!(v[0]["role"], "admin");
    assert!(!out.contains("argon2"), "no hash in the list");
    let hash: (String,) = sqlx::query_as("SELECT password_hash FROM accounts")
        .fetch_one(&d.w.pool)
        .await
        .unwrap();
    assert!(hash.0.starts_with("$argon2id$"));

    let s = d.login("bernd").await;
    std::fs::write(&pw, "ein-neues-passwort\n").unwrap();
    assert_eq!(
        run(&["user", "password", "bernd", "--password-file", &pw_arg]).0,
        Some(0)
    );
    assert_login_redirect(&d.get("/vorgaenge", Some(&s)).await, "after a new password");
    assert_eq!(
        d.try_login("bernd", "ein-neues-passwort", "").await.status,
        StatusCode::SEE_OTHER
    );
    // bernd is the only admin: neither demoted nor disabled without --force.
    for args in [
        &["user", "set-role", "bernd", "sachbearbeitung"][..],
        &["user", "disable", "bernd"][..],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(1), "{args:?}");
        assert!(
            err.contains("letzte aktive Administrationskonto") && err.contains("--force"),
            "{err}"
        );
    }
    assert_eq!(
        d.try_login("bernd", "ein-neues-passwort", "").await.status,
        StatusCode::SEE_OTHER,
        "still an admin and enabled"
    );
    assert_eq!(run(&["user", "disable", "bernd", "--force"]).0, Some(0));
    assert_eq!(
        d.try_login("bernd", "ein-neues-passwort", "").await.status,
        StatusCode::UNAUTHORIZED
    );
    let (_, out, _) = run(&["user", "list"]);
    assert!(out.contains("bernd  Administration (gesperrt)"), "{out}");
    // Enabled again, with the password it had; then disabled for the rest of the test.
    assert_eq!(run(&["user", "enable", "bernd"]).0, Some(0));
    assert_eq!(
        d.try_login("bernd", "ein-neues-passwort", "").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(run(&["user", "enable", "niemand"]).0, Some(1));
    // The [staff] name an account works as, set later (before, only `user add --staff` could).
    let (code, _, err) = run(&["user", "set-staff", "bernd", "Herr Niemand"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("keine zuständige Person aus [staff]"), "{err}");
    // He has none: nothing to change, nothing logged.
    let (code, out, _) = run(&["user", "set-staff", "bernd", "--none"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("keine Änderung"), "{out}");
    assert_eq!(run(&["user", "disable", "bernd", "--force"]).0, Some(0));
    let (_, out, _) = run(&["user", "list"]);
    assert!(out.contains("bernd  Administration (gesperrt)"), "{out}");
    let events: Vec<String> = d.security_events().await.into_iter().map(|e| e.0).collect();
    assert_eq!(
        events,
        [
            "account_added",
            "role_changed",
            "login",
            "password_changed",
            "login",
            "login",
            "account_disabled",
            "login_failed",
            "account_enabled",
            "login",
            "account_disabled"
        ]
    );
}

/// `krm-intake web` of this world on a free port; the child and the line it printed.
pub(crate) async fn spawn_web(w: &World) -> (std::process::Child, String) {
    let mut cmd = w.command();
    // The desk needs no mail server secret.
    cmd.arg("web")
        .env("KRM_WEB_LISTEN", "127.0.0.1:0")
        .env_remove("KRM_IMAP_PASSWORD")
        .env_remove("KRM_SMTP_PASSWORD")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("krm-intake web");
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        line.trim().to_string()
    })
    .await
    .unwrap();
    (child, line)
}

/// SIGTERM, then the exit status.
pub(crate) async fn stop_web(child: std::process::Child) -> std::process::ExitStatus {
    let mut child = child;
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap()
}

/// The real binary: starts with the database alone, answers /healthz, stops on SIGTERM.
#[tokio::test]
async fn the_web_binary_serves_and_stops_cleanly_on_sigterm() {
    let w = World::new("webbin").await;
    let (child, line) = spawn_web(&w).await;
    let addr = line.rsplit("://").next().unwrap().to_string();
    let body = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("content-security-policy"), "{body}");
    let status = stop_web(child).await;
    assert!(status.success(), "{status:?}");
}

/// The one real-browser flow (tests/browser/desk.mjs): Debian's chromium, axe-core on every
/// page, a keyboard-only login, the work list at 320 px, screenshots under target/browser/.
/// `deploy/test` installs chromium and the npm packages and sets KRM_TEST_BROWSER=required;
/// elsewhere the test says why it skips.
#[tokio::test]
async fn browser_flow_with_axe_on_every_page() {
    if !browser_ready() {
        return;
    }
    let w = World::new("webbrowser").await;
    krm_intake::accounts::add(
        &w.pool,
        "anna",
        krm_intake::accounts::Role::Sachbearbeitung,
        None,
        &w.settings().staff,
        PASSWORD,
        "test",
    )
    .await
    .unwrap();
    let number = new_case(
        &w,
        &[
            "--received",
            "2026-01-05T09:00",
            "--organisation",
            "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=1</script>",
        ],
    );
    new_case(&w, &["--received", "2026-02-02T09:00"]);
    // A mail through the real intake: payloads in its text, HTML part and attachment name.
    w.append(&crate::web_case::html_mail(&w)).await;
    w.run_once().await;
    let mail_case =
        sqlx::query_as::<_, (String,)>("SELECT number FROM cases WHERE channel <> 'brief'")
            .fetch_one(&w.pool)
            .await
            .unwrap()
            .0;
    let (child, line) = spawn_web(&w).await;
    let url = line.rsplit(' ').next().unwrap().to_string();
    let (ok, text) = run_browser_flow(
        "desk.mjs",
        &url,
        &[
            ("DESK_USER", "anna"),
            ("DESK_PASSWORD", PASSWORD),
            ("DESK_CASE", &number),
            ("DESK_MAIL_CASE", &mail_case),
        ],
    )
    .await;
    stop_web(child).await;
    assert!(ok, "browser flow failed:\n{text}");
    assert!(text.contains("Browser-Durchlauf in Ordnung"), "{text}");
}

/// Built-in TLS with the local services' private CA and server certificate: the desk answers
/// over https with HSTS and Secure cookies; `check` loads certificate and key and refuses a
/// missing file.
#[tokio::test]
async fn the_web_binary_serves_tls_itself_and_check_validates_the_files() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ca = std::path::PathBuf::from(crate::helpers::var("KRM_IMAP_CA_FILE"));
    let tls_dir = ca.parent().unwrap().to_path_buf();
    let (cert, key) = (tls_dir.join("server.pem"), tls_dir.join("server.key"));
    let w = World::with_env(
        "webtls",
        &[
            ("KRM_WEB_LISTEN", "127.0.0.1:0"),
            ("KRM_WEB_TLS_CERT", cert.to_str().unwrap()),
            ("KRM_WEB_TLS_KEY", key.to_str().unwrap()),
        ],
    )
    .await;
    let out = w.command().arg("check").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("TLS-Zertifikat"), "{text}");
    let out = w
        .command()
        .arg("check")
        .env("KRM_WEB_TLS_KEY", "/nonexistent/key.pem")
        .output()
        .unwrap();
    // A file a person must fix: exit 2, as for every configuration fault (README).
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("web.tls_key"));

    let (child, line) = spawn_web(&w).await;
    let addr = line.rsplit("https://").next().unwrap().to_string();
    assert!(line.contains("https://"), "{line}");
    let config = krm_intake::tls::client_config(Some(&ca)).unwrap();
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(krm_intake::tls::server_name("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    tls.write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    tls.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.contains("strict-transport-security: max-age="),
        "{reply}"
    );
    assert!(reply.contains("; Secure"), "{reply}");
    let status = stop_web(child).await;
    assert!(status.success(), "{status:?}");
}

/// Case numbers in the order a page shows them, each once.
fn numbers_on(body: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for (i, _) in body.match_indices("KRM-") {
        let n = body.get(i..i + 14).unwrap_or("");
        let well_formed = n.len() == 14
            && n[4..8].bytes().all(|b| b.is_ascii_digit())
            && &n[8..9] == "-"
            && n[9..].bytes().all(|b| b.is_ascii_digit());
        if well_formed && !seen.iter().any(|s| s == n) {
            seen.push(n.to_string());
        }
    }
    seen
}

#[tokio::test]
async fn the_work_list_pages_by_deadline_fifty_at_a_time() {
    let d = Desk::new("webpages").await;
    d.add_user("anna", krm_intake::accounts::Role::Sachbearbeitung, None)
        .await;
    // 53 reactions received over two months, entered out of order.
    for i in 0..53u32 {
        let day = (i * 17) % 53;
        let received = format!("2026-{:02}-{:02}T09:00", 1 + day / 28, 1 + day % 28);
        new_case(&d.w, &["--received", &received]);
    }
    let want: Vec<String> = sqlx::query_scalar("SELECT number FROM cases ORDER BY due, number")
        .fetch_all(&d.w.pool)
        .await
        .unwrap();
    let s = d.login("anna").await;
    let first = d.get("/vorgaenge", Some(&s)).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body.contains("53"), "the total: {}", first.body);
    let second = d.get("/vorgaenge?page=2", Some(&s)).await;
    let beyond = d.get("/vorgaenge?page=99", Some(&s)).await;
    assert_eq!(numbers_on(&first.body), want[..50]);
    assert_eq!(numbers_on(&second.body), want[50..]);
    assert_eq!(
        numbers_on(&beyond.body),
        want[50..],
        "kept to the last page"
    );
}

/// Whether the browser flows can run: Debian's chromium (or `$CHROMIUM`), node and the pinned
/// npm packages of tests/browser. Where one is missing the flow is skipped with a line saying
/// what — unless `KRM_TEST_BROWSER=required` (deploy/test installs them), where it fails.
pub(crate) fn browser_ready() -> bool {
    let dir = crate::helpers::project_dir().join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing: Vec<&str> = [
        (!std::path::Path::new(&chromium).exists()).then_some("chromium"),
        (!dir.join("node_modules/playwright-core").exists())
            .then_some("tests/browser/node_modules"),
        std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_err()
            .then_some("node"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("KRM_TEST_BROWSER").as_deref() != Ok("required"),
        "browser test needs {missing:?} (deploy/test installs them)"
    );
    eprintln!("browser test skipped: {missing:?} missing (deploy/test installs them)");
    false
}

/// Runs `node tests/browser/{script}` against the desk at `url` with the settings `env`
/// (screenshots under target/browser/); whether it exited 0, and its output (also printed).
pub(crate) async fn run_browser_flow(
    script: &str,
    url: &str,
    env: &[(&str, &str)],
) -> (bool, String) {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| crate::helpers::project_dir().join("target"));
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let out = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(crate::helpers::project_dir().join("tests/browser"))
        .env("DESK_URL", url)
        .envs(env.iter().copied())
        .env("SHOT_DIR", target.join("browser"))
        .env("CHROMIUM", &chromium)
        .output()
        .await
        .expect("node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    (out.status.success(), text)
}
