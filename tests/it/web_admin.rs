//! The desk's pages for the administration and the data protection officer (issue 16) at HTTP
//! level — the real router, a real database — plus the access-log CLI and a queued quarantine
//! retry carried out by a real `run --once` against Dovecot.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use krm_intake::accounts::Role;

use crate::helpers::*;
use crate::web::{Desk, PASSWORD};

/// What the admin pages' tests need beyond the case workers' harness (tests/it/web.rs).
trait AdminDesk {
    /// A multipart upload to `/regeln/pruefen`: `csrf` first, then the file `mail`.
    async fn upload(&self, cookie: &str, csrf: Option<&str>, mail: &[u8]) -> crate::web::Reply;
    /// Logs in with `password`; the session cookie and its CSRF token.
    async fn login_as(&self, user: &str, password: &str) -> (String, String);
    /// Logs in with the test password; the session cookie and its CSRF token.
    async fn login_csrf(&self, user: &str) -> (String, String);
    async fn events(&self) -> Vec<(String, Option<String>, String)>;
}

impl AdminDesk for Desk {
    async fn upload(&self, cookie: &str, csrf: Option<&str>, mail: &[u8]) -> crate::web::Reply {
        let b = "----krmgrenze";
        let mut body = Vec::new();
        if let Some(c) = csrf {
            body.extend_from_slice(
                format!("--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{c}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"mail\"; filename=\"a.eml\"\r\n\
                 Content-Type: message/rfc822\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(mail);
        body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        let r = Request::post("/regeln/pruefen")
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={b}"),
            )
            .header(header::COOKIE, cookie);
        self.send(r.body(Body::from(body)).unwrap()).await
    }

    async fn login_as(&self, user: &str, password: &str) -> (String, String) {
        let r = self.try_login(user, password, "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let cookie = r.cookie("krm_session").expect("session cookie");
        let csrf = self.get("/passwort", Some(&cookie)).await.csrf_field();
        (cookie, csrf)
    }

    async fn login_csrf(&self, user: &str) -> (String, String) {
        self.login_as(user, PASSWORD).await
    }

    async fn events(&self) -> Vec<(String, Option<String>, String)> {
        sqlx::query_as("SELECT event, account, actor FROM security_log ORDER BY id")
            .fetch_all(&self.w.pool)
            .await
            .expect("security log")
    }
}

const GET_ROUTES: [&str; 5] = [
    "/zugriffe",
    "/benutzer",
    "/quarantaene",
    "/regeln",
    "/passwort",
];

const POST_ROUTES: [&str; 9] = [
    "/benutzer/neu",
    "/benutzer/zustaendig",
    "/benutzer/rolle",
    "/benutzer/sperren",
    "/benutzer/freigeben",
    "/benutzer/passwort",
    "/passwort",
    "/quarantaene/1/retry",
    "/regeln/pruefen",
];

#[tokio::test]
async fn admin_pages_need_a_session_the_right_role_and_the_csrf_token() {
    let d = Desk::with_env("webadmroles", &[]).await;
    for path in GET_ROUTES {
        let r = d.get(path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert!(r.header("location").starts_with("/login"), "{path}");
        assert!(r.body.is_empty(), "{path}: {}", r.body);
    }
    for path in POST_ROUTES {
        let r = d.post(path, None, &[("csrf", "x")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "POST {path}");
        assert!(r.header("location").starts_with("/login"), "POST {path}");
    }
    for (name, role) in [
        ("sb", Role::Sachbearbeitung),
        ("lead", Role::Leitung),
        ("dsb", Role::Datenschutz),
        ("admin", Role::Admin),
    ] {
        d.add_user(name, role, None).await;
    }
    // Which role may open which page (everyone may change their own password).
    let allowed = |role: &str, path: &str| match path {
        "/zugriffe" => matches!(role, "admin" | "dsb"),
        "/passwort" => true,
        _ => role == "admin",
    };
    for user in ["sb", "lead", "dsb", "admin"] {
        let (cookie, csrf) = d.login_csrf(user).await;
        for path in GET_ROUTES {
            let r = d.get(path, Some(&cookie)).await;
            let want = if allowed(user, path) {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(r.status, want, "{user} GET {path}");
            assert_eq!(r.header("cache-control"), "no-store", "{path}");
            assert!(r
                .header("content-security-policy")
                .contains("frame-ancestors 'none'"));
        }
        // Navigation entries only for pages the role may open.
        let page = d.get("/passwort", Some(&cookie)).await.body;
        assert_eq!(
            page.contains("href=\"/benutzer\""),
            user == "admin",
            "{user}"
        );
        assert_eq!(
            page.contains("href=\"/zugriffe\""),
            matches!(user, "admin" | "dsb"),
            "{user}"
        );
        assert_eq!(
            page.contains("href=\"/vorgaenge\""),
            matches!(user, "sb" | "lead"),
            "{user}"
        );
        if user != "admin" {
            for path in POST_ROUTES.iter().filter(|p| **p != "/passwort") {
                let r = if *path == "/regeln/pruefen" {
                    d.upload(&cookie, Some(&csrf), b"From: a@b.test\r\n\r\nx")
                        .await
                } else {
                    d.post(
                        path,
                        Some(&cookie),
                        &[("csrf", &csrf), ("name", "admin"), ("role", "leitung")],
                    )
                    .await
                };
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{user} POST {path}");
            }
        }
    }
    // The data protection officer's start page is the log, not the case list.
    let (cookie, _) = d.login_csrf("dsb").await;
    assert_eq!(
        d.get("/", Some(&cookie)).await.header("location"),
        "/zugriffe"
    );

    // An admin without the right token changes nothing.
    let (cookie, csrf) = d.login_csrf("admin").await;
    for bad in ["", "falsch"] {
        for (path, form) in [
            ("/benutzer/neu", vec![("name", "neu"), ("role", "admin")]),
            ("/benutzer/rolle", vec![("name", "sb"), ("role", "admin")]),
            ("/benutzer/sperren", vec![("name", "sb")]),
            ("/benutzer/passwort", vec![("name", "sb")]),
            ("/quarantaene/1/retry", vec![]),
        ] {
            let mut form = form.clone();
            form.push(("csrf", bad));
            let r = d.post(path, Some(&cookie), &form).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} csrf {bad:?}");
            assert!(r.body.contains("Formular abgelaufen"), "{path}");
        }
        let r = d
            .upload(
                &cookie,
                Some(bad).filter(|b| !b.is_empty()),
                b"From: a@b.test\r\n\r\nx",
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "upload csrf {bad:?}");
    }
    assert_eq!(d.w.scalar("SELECT count(*) FROM accounts").await, 4);
    assert_eq!(
        d.w.scalar("SELECT count(*) FROM accounts WHERE role = 'admin' OR disabled")
            .await,
        1
    );
    assert_eq!(
        d.w.scalar("SELECT count(*) FROM quarantine_retries").await,
        0
    );
    let _ = csrf;
}

/// The last active admin can be neither disabled nor demoted; no one disables themselves
/// here; a form naming no account (none is preselected) is refused.
async fn last_admin_self_and_no_account_are_refused(d: &Desk, admin: &str, csrf: &str) {
    for (path, form, why) in [
        (
            "/benutzer/sperren",
            vec![("name", "chefin")],
            "eigene Konto lässt sich hier nicht sperren",
        ),
        (
            "/benutzer/rolle",
            vec![("name", "chefin"), ("role", "leitung")],
            "letzte aktive Administrationskonto",
        ),
        (
            "/benutzer/sperren",
            vec![("name", "")],
            "Bitte ein Konto wählen",
        ),
    ] {
        let mut form = form.clone();
        form.push(("csrf", csrf));
        let r = d.post(path, Some(admin), &form).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(r.body.contains(why), "{path}: {}", r.body);
    }
}

#[tokio::test]
async fn accounts_get_one_time_passwords_and_the_last_admin_stays() {
    let d = Desk::with_env("webadmusers", &[]).await;
    d.add_user("chefin", Role::Admin, None).await;
    let (admin, csrf) = d.login_csrf("chefin").await;

    // Add: the one-time password is shown once.
    let r = d
        .post(
            "/benutzer/neu",
            Some(&admin),
            &[
                ("csrf", &csrf),
                ("name", "carla"),
                ("role", "sachbearbeitung"),
                ("staff", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let one_time = r.text_of("einmalpasswort");
    assert_eq!(one_time.len(), 16, "{one_time}");
    assert!(r.body.contains("Einmalpasswort noch nicht geändert"));
    let again = d.get("/benutzer", Some(&admin)).await;
    assert!(!again.body.contains(&one_time), "shown once only");
    // A bad name is refused beside the form, with the input kept, and nothing is added.
    let r = d
        .post(
            "/benutzer/neu",
            Some(&admin),
            &[("csrf", &csrf), ("name", "<b>x</b>"), ("role", "leitung")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Ungültiger Kontoname"), "{}", r.body);
    assert!(
        r.body.contains("value=\"&lt;b&gt;x&lt;&#x2f;b&gt;\""),
        "{}",
        r.body
    );
    assert_eq!(d.w.scalar("SELECT count(*) FROM accounts").await, 2);

    let carla = carla_changes_her_one_time_password(&d, &one_time).await;

    // Reset: a new one-time password, Carla's session ends, the change is required again.
    // Reloading the answer sends the form again: nothing is reset a second time.
    let once = d.get("/benutzer", Some(&admin)).await.hidden_field("once");
    let reset = [
        ("csrf", csrf.as_str()),
        ("name", "carla"),
        ("once", once.as_str()),
    ];
    let r = d.post("/benutzer/passwort", Some(&admin), &reset).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let second = r.text_of("einmalpasswort");
    assert_ne!(second, one_time);
    let again = d.post("/benutzer/passwort", Some(&admin), &reset).await;
    assert!(again.body.contains("schon abgeschickt"), "{}", again.body);
    assert!(!again.body.contains("einmalpasswort"), "{}", again.body);
    assert_eq!(
        d.get("/vorgaenge", Some(&carla)).await.status,
        StatusCode::SEE_OTHER
    );
    let (carla, _) = d.login_as("carla", &second).await;
    assert_eq!(
        d.get("/vorgaenge", Some(&carla)).await.header("location"),
        "/passwort"
    );

    last_admin_self_and_no_account_are_refused(&d, &admin, &csrf).await;
    assert_eq!(
        d.w.scalar("SELECT count(*) FROM accounts WHERE name = 'chefin' AND role = 'admin' AND NOT disabled").await,
        1
    );
    // With a second admin, the first may step down; Carla is promoted, then disabled.
    let r = d
        .post(
            "/benutzer/rolle",
            Some(&admin),
            &[("csrf", &csrf), ("name", "carla"), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = d
        .post(
            "/benutzer/sperren",
            Some(&admin),
            &[("csrf", &csrf), ("name", "carla")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Konto „carla“ gesperrt"));
    assert_eq!(
        d.w.scalar("SELECT count(*) FROM accounts WHERE disabled")
            .await,
        1
    );
    let events: Vec<(String, Option<String>, String)> = d
        .events()
        .await
        .into_iter()
        .filter(|e| e.2 == "web:chefin" || e.0.starts_with("password"))
        .filter(|e| e.0 != "login")
        .collect();
    let want: Vec<(String, Option<String>, String)> = [
        ("account_added", "carla", "web:chefin"),
        ("password_change_failed", "carla", "web:carla"),
        ("password_changed_by_user", "carla", "web:carla"),
        ("password_reset", "carla", "web:chefin"),
        ("role_changed", "carla", "web:chefin"),
        ("account_disabled", "carla", "web:chefin"),
    ]
    .iter()
    .map(|(e, a, w)| (e.to_string(), Some(a.to_string()), w.to_string()))
    .collect();
    assert_eq!(events, want);
}

/// A disabled account is freed again in the desk (before, only `user enable` could), and an
/// existing account is linked to a `[staff]` name and unlinked again (before, only `user add`).
#[tokio::test]
async fn accounts_are_freed_and_linked_to_a_staff_name_in_the_desk() {
    let d = Desk::with_env(
        "webadmlink",
        &[("KRM_STAFF_Frau_Beispiel", "sachbearbeitung@jobcenter.test")],
    )
    .await;
    d.add_user("chefin", Role::Admin, None).await;
    d.add_user("carla", Role::Sachbearbeitung, None).await;
    let (admin, csrf) = d.login_csrf("chefin").await;
    let r = d
        .post(
            "/benutzer/sperren",
            Some(&admin),
            &[("csrf", &csrf), ("name", "carla")],
        )
        .await;
    assert!(r.body.contains("Konto „carla“ gesperrt"), "{}", r.body);
    assert!(
        r.body.contains("action=\"/benutzer/freigeben\""),
        "{}",
        r.body
    );
    let free = [("csrf", csrf.as_str()), ("name", "carla")];
    let r = d.post("/benutzer/freigeben", Some(&admin), &free).await;
    assert!(
        r.body.contains("Konto „carla“ wieder freigegeben"),
        "{}",
        r.body
    );
    // Again: nothing to free, and nothing logged (the event list below has it once).
    let r = d.post("/benutzer/freigeben", Some(&admin), &free).await;
    assert!(r.body.contains("Keine Änderung"), "{}", r.body);
    assert_eq!(
        d.w.scalar("SELECT count(*) FROM accounts WHERE disabled")
            .await,
        0
    );
    // An existing account is linked to a [staff] name, and unlinked again.
    for (staff, want) in [
        ("Frau Beispiel", "zuständig als Frau Beispiel"),
        ("Herr Niemand", "keine zuständige Person aus [staff]"),
        ("", "keine zuständige Person."),
    ] {
        let r = d
            .post(
                "/benutzer/zustaendig",
                Some(&admin),
                &[("csrf", &csrf), ("name", "carla"), ("staff", staff)],
            )
            .await;
        assert!(r.body.contains(want), "{staff}: {}", r.body);
        if staff == "Frau Beispiel" {
            assert_eq!(
                d.w.scalar("SELECT count(*) FROM accounts WHERE staff_name = 'Frau Beispiel'")
                    .await,
                1
            );
        }
    }
    assert_eq!(
        d.w.scalar("SELECT count(*) FROM accounts WHERE staff_name IS NOT NULL")
            .await,
        0
    );

    let events: Vec<String> = d
        .events()
        .await
        .into_iter()
        .filter(|e| e.2 == "web:chefin" && e.0 != "login")
        .map(|e| e.0)
        .collect();
    assert_eq!(
        events,
        [
            "account_disabled",
            "account_enabled",
            "staff_changed",
            "staff_changed"
        ]
    );
}

/// Carla's first login with her one-time password: every page leads to `/passwort` until she has
/// chosen her own (too short and a wrong current password refused); then the one-time one is void.
/// Returns her session.
async fn carla_changes_her_one_time_password(d: &Desk, one_time: &str) -> String {
    // Carla must change the one-time password before anything else opens.
    let (carla, carla_csrf) = d.login_as("carla", one_time).await;
    for path in ["/vorgaenge", "/", "/zugriffe"] {
        let r = d.get(path, Some(&carla)).await;
        assert_eq!(
            (r.status, r.header("location")),
            (StatusCode::SEE_OTHER, "/passwort"),
            "{path}"
        );
    }
    let page = d.get("/passwort", Some(&carla)).await;
    assert!(page.body.contains("Einmalpasswort erhalten"));
    let r = d
        .post(
            "/passwort",
            Some(&carla),
            &[
                ("csrf", &carla_csrf),
                ("current", one_time),
                ("new", "kurz"),
                ("repeat", "kurz"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("zu kurz"), "{}", r.body);
    let r = d
        .post(
            "/passwort",
            Some(&carla),
            &[
                ("csrf", &carla_csrf),
                ("current", "falsch-falsch"),
                ("new", "carlas-eigenes-pw"),
                ("repeat", "carlas-eigenes-pw"),
            ],
        )
        .await;
    assert!(
        r.body.contains("bisherige Passwort stimmt nicht"),
        "{}",
        r.body
    );
    let r = d
        .post(
            "/passwort",
            Some(&carla),
            &[
                ("csrf", &carla_csrf),
                ("current", one_time),
                ("new", "carlas-eigenes-pw"),
                ("repeat", "carlas-eigenes-pw"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.header("location")),
        (StatusCode::SEE_OTHER, "/")
    );
    assert_eq!(
        d.get("/vorgaenge", Some(&carla)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        d.try_login("carla", one_time, "").await.status,
        StatusCode::UNAUTHORIZED
    );
    carla
}

#[tokio::test]
async fn the_rules_page_checks_the_rules_and_explains_an_upload_without_storing_it() {
    let d = Desk::with_env("webadmrules", &[("KRM_IMAP_MAX_MESSAGE_SIZE", "4000")]).await;
    d.add_user("admin", Role::Admin, None).await;
    let (cookie, csrf) = d.login_csrf("admin").await;
    let r = d.get("/regeln", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Regeln in Ordnung (Version"), "{}", r.body);
    for file in [
        "senders.toml",
        "topics.toml",
        "stellen.toml (Katalog der Stellen für Kontakte)",
    ] {
        assert!(r.body.contains(&format!("<li>{file}</li>")), "{}", r.body);
    }

    let mail = "From: Erika Beispiel <erika@mail.test>\r\nTo: ombudsstelle@jobcenter.test\r\n\
        Subject: <script>window.__pwned=1</script>\r\nMessage-ID: <up1@mail.test>\r\n\
        Date: Mon, 7 Dec 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/alternative; boundary=\"g\"\r\n\r\n--g\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag, <img src=x onerror=alert(1)>\r\n\
        --g\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hallo<script>alert(2)</script></p>\r\n--g--\r\n";
    let before = d.w.scalar("SELECT count(*) FROM messages").await
        + d.w.scalar("SELECT count(*) FROM outbox").await;
    let r = d.upload(&cookie, Some(&csrf), mail.as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Was der Dienst mit dieser Mail täte"));
    assert!(
        r.body
            .contains("&lt;script&gt;window.__pwned=1&lt;&#x2f;script&gt;"),
        "{}",
        r.body
    );
    assert!(
        !r.body.contains("<script>"),
        "nothing from the mail unescaped"
    );
    assert!(!r.body.contains("<img"), "nothing from the mail unescaped");
    let after = d.w.scalar("SELECT count(*) FROM messages").await
        + d.w.scalar("SELECT count(*) FROM outbox").await;
    assert_eq!((before, after), (0, 0), "nothing stored, nothing sent");

    // Bad uploads: a German message, 4xx.
    let r = d
        .upload(&cookie, Some(&csrf), &[0xffu8, 0x00, 0x12, 0x80, b'x'])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body.contains("keine Mail") || r.body.contains("keine lesbare Mail"),
        "{}",
        r.body
    );
    let big = format!(
        "From: a@mail.test\r\nSubject: gross\r\n\r\n{}",
        "x".repeat(5000)
    );
    let r = d.upload(&cookie, Some(&csrf), big.as_bytes()).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert!(
        r.body.contains("größer als die Grenze der Annahme"),
        "{}",
        r.body
    );
    let huge = "x".repeat(200_000);
    let r = d.upload(&cookie, Some(&csrf), huge.as_bytes()).await;
    assert_eq!(
        r.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "beyond the body limit"
    );
    let r = d
        .post("/regeln/pruefen", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("multipart/form-data"), "{}", r.body);
    let r = d.upload(&cookie, Some(&csrf), b"").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Bitte eine Mail-Datei"), "{}", r.body);
}

/// Inserts an access-log row at `at` (RFC 3339).
async fn access(w: &World, at: &str, actor: &str, case: &str) {
    sqlx::query(
        "INSERT INTO access_log (at, actor, case_number, what) VALUES ($1::timestamptz, $2, $3, 'mail_text')",
    )
    .bind(at)
    .bind(actor)
    .bind(case)
    .execute(&w.pool)
    .await
    .expect("access row");
}

#[tokio::test]
async fn the_access_log_on_the_command_line_and_in_the_desk() {
    let d = Desk::with_env("webadmlogs", &[]).await;
    let w = &d.w;
    access(w, "2026-01-10T09:00:00+01:00", "web:anna", "KRM-2026-00001").await;
    access(w, "2026-02-10T09:30:00+01:00", "bernd", "KRM-2026-00002").await;
    access(w, "2026-03-01T23:30:00+01:00", "web:anna", "KRM-2026-00002").await;
    access(w, "2020-01-01T12:00:00+01:00", "web:alt", "KRM-2020-00001").await;

    let run = |args: &[&str]| {
        let out = w.command().args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["access-log", "--case", "krm-2026-00002"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "2026-02-10 09:30:00\tbernd\tKRM-2026-00002\tMailtexte gelesen\n\
         2026-03-01 23:30:00\tweb:anna\tKRM-2026-00002\tMailtexte gelesen\n"
    );
    let (_, out, _) = run(&[
        "access-log",
        "--account",
        "anna",
        "--from",
        "2026-01-01",
        "--to",
        "2026-02-28",
    ]);
    assert_eq!(
        out,
        "2026-01-10 09:00:00\tweb:anna\tKRM-2026-00001\tMailtexte gelesen\n"
    );
    // `--to` takes the whole Berlin day.
    let (_, out, _) = run(&[
        "access-log",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-01",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect(&out);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(v[0]["actor"], "web:anna");
    assert_eq!(v[0]["case_number"], "KRM-2026-00002");
    assert_eq!(v[0]["what"], "mail_text");
    assert_eq!(v[0]["at"], "2026-03-01 23:30:00");
    let (code, _, err) = run(&["access-log", "--from", "gestern"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("„gestern“ ist kein Datum"), "{err}");
    let (code, _, err) = run(&["access-log", "--case", "KRM-1"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("keine Vorgangsnummer"), "{err}");
    let (code, out, _) = run(&["access-log", "--account", "niemand"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "Keine Zugriffe im gewählten Zeitraum.\n")
    );

    // The security log on the command line.
    d.add_user("dsb", Role::Datenschutz, None).await;
    let (cookie, _) = d.login_csrf("dsb").await;
    let (code, out, _) = run(&["security-log", "--account", "dsb", "--json"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let events: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["account_added", "login"]);
    assert_eq!(
        run(&["security-log", "--case", "KRM-2026-00001"]).0,
        Some(1)
    );

    the_desk_shows_and_downloads_the_logs(&d, &cookie).await;

    // Retention: access-log rows older than [retention] access_log_days go with a purge run.
    let (st, text) = w.run_private(
        &["purge", "--older-than", "3650d"],
        &[("KRM_RETENTION_ACCESS_LOG_DAYS", "2000")],
    );
    assert!(st.success(), "{text}");
    assert_eq!(w.scalar("SELECT count(*) FROM access_log").await, 3);
    assert_eq!(
        w.scalar("SELECT count(*) FROM access_log WHERE actor = 'web:alt'")
            .await,
        0
    );
}

/// `/zugriffe` for the data protection officer's session `cookie`: the access log filtered, both
/// logs as CSV downloads, an impossible date refused.
async fn the_desk_shows_and_downloads_the_logs(d: &Desk, cookie: &str) {
    // The same in the desk, with a CSV download.
    let r = d
        .get("/zugriffe?account=anna&case=&from=&to=", Some(cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("Zugriffsprotokoll: 2 Einträge"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("bernd"));
    let r = d
        .get("/zugriffe?case=KRM-2026-00002&csv=zugriffe", Some(cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        r.header("content-disposition"),
        "attachment; filename=\"zugriffsprotokoll.csv\""
    );
    assert_eq!(
        r.body,
        "zeit,wer,vorgang,was\r\n2026-02-10 09:30:00,bernd,KRM-2026-00002,Mailtexte gelesen\r\n\
         2026-03-01 23:30:00,web:anna,KRM-2026-00002,Mailtexte gelesen\r\n"
    );
    let r = d
        .get("/zugriffe?account=dsb&csv=sicherheit", Some(cookie))
        .await;
    assert!(
        r.body.starts_with("zeit,ereignis,konto,wer,angaben\r\n"),
        "{}",
        r.body
    );
    assert!(r.body.contains(",Anmeldung,dsb,web:dsb,"), "{}", r.body);
    let r = d.get("/zugriffe?from=2026-02-30", Some(cookie)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("„2026-02-30“ ist kein Datum"), "{}", r.body);
}

/// A citizen's mail for this world's inbox.
fn citizen(w: &World, n: &str, subject: &str) -> Vec<u8> {
    mail(
        &format!("Erika Beispiel <{}>", w.sender(CITIZEN)),
        &w.inbox_address(),
        subject,
        &format!("Guten Tag,\r\nAnliegen {n}.\r\n"),
        &format!("<{n}.{}@mail.test>", w.name),
    )
}

/// While `on`, the database refuses mails whose subject starts with "kaputt" (a stand-in for a
/// fault fixed later), so the intake quarantines them.
async fn refuse_kaputt(w: &World, on: bool) {
    let sql = if on {
        "CREATE OR REPLACE FUNCTION reject_kaputt() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.subject LIKE 'kaputt%' THEN
                 RAISE EXCEPTION 'refused' USING ERRCODE = '22023';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER reject_kaputt BEFORE INSERT ON messages
             FOR EACH ROW EXECUTE FUNCTION reject_kaputt();"
    } else {
        "DROP TRIGGER reject_kaputt ON messages"
    };
    sqlx::raw_sql(sql).execute(&w.pool).await.unwrap();
}

/// The quarantine page's `n` sizes as the case page writes them (`512 Bytes`, `3,4 kB`), not
/// raw bytes.
fn assert_sizes_in_words(body: &str, n: usize) {
    let sizes: Vec<&str> = body
        .split("<td data-label=\"Größe\">")
        .skip(1)
        .map(|c| c.split("</td>").next().unwrap_or_default())
        .collect();
    assert_eq!(sizes.len(), n, "{body}");
    assert!(
        sizes
            .iter()
            .all(|c| c.ends_with(" Bytes") || c.ends_with(" kB")),
        "{sizes:?}"
    );
}

#[tokio::test]
async fn a_retry_queued_in_the_desk_is_carried_out_by_the_daemon() {
    let d = Desk::with_env("webadmretry", &[]).await;
    let w = &d.w;
    // The database refuses two mails (a stand-in for a fault fixed later): both quarantined.
    refuse_kaputt(w, true).await;
    w.append(&citizen(w, "r1", "kaputt eins")).await;
    w.append(&citizen(w, "r2", "kaputt zwei")).await;
    let r = w.run_once().await;
    assert_eq!((r.scan.new_cases, r.scan.quarantined), (0, 2), "{r:?}");
    refuse_kaputt(w, false).await;
    let quarantine = format!("{}_quarantaene", w.folder);
    assert_eq!(w.count(OMBUDS, &quarantine).await, 2);
    // The second mail is removed from the quarantine folder by hand.
    let (gone,): (i64,) = sqlx::query_as("SELECT id FROM quarantine WHERE message_id LIKE '<r2.%'")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    let mut mb = login(OMBUDS).await;
    let uids = mb
        .find_by_message_id(&quarantine, &format!("<r2.{}@mail.test>", w.name))
        .await
        .unwrap();
    mb.delete_uids(&uids).await.unwrap();
    mb.logout().await;
    let kept = w
        .scalar("SELECT id FROM quarantine WHERE message_id LIKE '<r1.%'")
        .await;

    d.add_user("admin", Role::Admin, None).await;
    let (cookie, csrf) = d.login_csrf("admin").await;
    let page = d.get("/quarantaene", Some(&cookie)).await;
    assert!(page.body.contains("2 Mails in Quarantäne"), "{}", page.body);
    assert_sizes_in_words(&page.body, 2);
    for id in [kept, gone] {
        let r = d
            .post(
                &format!("/quarantaene/{id}/retry"),
                Some(&cookie),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("erneuter Versuch vorgemerkt"), "{}", r.body);
    }
    let r = d
        .post(
            &format!("/quarantaene/{kept}/retry"),
            Some(&cookie),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "queued once only");
    let r = d
        .post(
            "/quarantaene/999999/retry",
            Some(&cookie),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = d
        .post("/quarantaene/abc/retry", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        w.count(OMBUDS, &quarantine).await,
        1,
        "the desk itself moves nothing"
    );

    // The daemon's next pass (the real binary) carries both out.
    let (st, log) = w.run_private(&["run", "--once"], &[]);
    assert!(st.success(), "{log}");
    assert!(log.contains("Neue Vorgänge: 1,"), "{log}");
    assert_eq!(w.count(OMBUDS, &quarantine).await, 0);
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 1);
    let states: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT quarantine_id, state, reason FROM quarantine_retries ORDER BY quarantine_id",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    assert_eq!(
        states,
        vec![
            (
                kept,
                "done".to_string(),
                format!(
                    "zurück in {} verschoben; der Dienst versucht es erneut.",
                    w.folder
                )
            ),
            (
                gone,
                "failed".to_string(),
                format!("im Ordner {quarantine} nicht gefunden.")
            ),
        ]
    );
    let statuses: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, status FROM quarantine ORDER BY id")
            .fetch_all(&w.pool)
            .await
            .unwrap();
    assert_eq!(
        statuses,
        vec![
            (kept, "retried".to_string()),
            (gone, "quarantined".to_string())
        ]
    );
    let page = d.get("/quarantaene", Some(&cookie)).await;
    assert!(
        page.body.contains("erledigt") && page.body.contains("fehlgeschlagen"),
        "{}",
        page.body
    );
    assert!(page.body.contains("1 Mail in Quarantäne"), "{}", page.body);

    the_sender_search_finds_the_case(&d).await;
}

/// The one case of `d`'s world, found by a case worker's sender search (POST only) and by
/// `case list --sender`.
async fn the_sender_search_finds_the_case(d: &Desk) {
    let w = &d.w;
    let (number,): (String,) = sqlx::query_as("SELECT number FROM cases")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    d.add_user("sb", Role::Sachbearbeitung, None).await;
    let (sb, sb_csrf) = d.login_csrf("sb").await;
    for (needle, found) in [("erika", true), ("BUERGER+", true), ("niemand", false)] {
        let r = d
            .post(
                "/vorgaenge",
                Some(&sb),
                &[("csrf", &sb_csrf), ("sender", needle)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body.contains(&number), found, "{needle}");
    }
    // An empty search lists nothing (not every case there is) and says why.
    let r = d
        .post(
            "/vorgaenge",
            Some(&sb),
            &[("csrf", &sb_csrf), ("sender", " ")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("id=\"sender-fehler\""), "{}", r.body);
    assert!(!r.body.contains(&number) && !r.body.contains("Keine passenden"));
    let r = d
        .post(
            "/vorgaenge",
            Some(&sb),
            &[("csrf", "falsch"), ("sender", "erika")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let out = w
        .command()
        .args([
            "case", "list", "--status", "open", "--sender", "Beispiel", "--json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    let out = w
        .command()
        .args(["case", "list", "--sender", "gibt-es-nicht", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(0));
}

/// `krm-intake web` of this world on a free port; the child and its URL.
async fn spawn_web(w: &World) -> (std::process::Child, String) {
    let (child, line) = crate::web::spawn_web(w).await;
    let url = line.rsplit(' ').next().unwrap_or("").to_string();
    (child, url)
}

/// The admin pages in the browser (tests/browser/admin.mjs): axe-core on each, the rule test
/// with an upload, and a retry queued by clicking — then the daemon moves the mail.
/// Skips like the desk's browser flow where chromium or the npm packages are missing.
#[tokio::test]
async fn browser_admin_pages_with_axe_and_a_retry_the_daemon_carries_out() {
    if !crate::web::browser_ready() {
        return;
    }
    let d = Desk::with_env("webadmbrowser", &[]).await;
    let w = &d.w;
    refuse_kaputt(w, true).await;
    w.append(&citizen(w, "b1", "kaputt")).await;
    assert_eq!(w.run_once().await.scan.quarantined, 1);
    refuse_kaputt(w, false).await;
    d.add_user("admin", Role::Admin, None).await;
    let tmp = tempfile::tempdir().unwrap();
    let mail_file = tmp.path().join("probe.eml");
    std::fs::write(
        &mail_file,
        "From: Probe <probe@mail.test>\r\nTo: ombudsstelle@jobcenter.test\r\n\
         Subject: <img src=x onerror=\"window.__pwned=1\">\r\nMessage-ID: <probe@mail.test>\r\n\
         Date: Mon, 7 Dec 2026 10:00:00 +0100\r\n\r\n<script>window.__pwned=1</script>\r\n",
    )
    .unwrap();
    let (child, url) = spawn_web(w).await;
    let mail_path = mail_file.display().to_string();
    let (ok, text) = crate::web::run_browser_flow(
        "admin.mjs",
        &url,
        &[
            ("DESK_USER", "admin"),
            ("DESK_PASSWORD", PASSWORD),
            ("MAIL_FILE", &mail_path),
        ],
    )
    .await;
    crate::web::stop_web(child).await;
    assert!(ok, "admin browser flow failed:\n{text}");
    assert!(text.contains("Admin-Durchlauf in Ordnung"), "{text}");
    assert_eq!(
        w.scalar("SELECT count(*) FROM quarantine_retries WHERE state = 'queued'")
            .await,
        1
    );
    let (st, log) = w.run_private(&["run", "--once"], &[]);
    assert!(st.success(), "{log}");
    assert_eq!(
        w.scalar("SELECT count(*) FROM quarantine_retries WHERE state = 'done'")
            .await,
        1
    );
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 1);
    assert_eq!(
        w.count(OMBUDS, &format!("{}_quarantaene", w.folder)).await,
        0
    );
}

/// A wrong current password on `/passwort` counts as a failed login: logged each time, and the
/// fifth locks the account and ends its sessions (someone at an unlocked workstation cannot try
/// passwords without limit or trace).
#[tokio::test]
async fn guessing_the_current_password_is_logged_and_locks_the_account() {
    let d = Desk::new("webadmguess").await;
    d.add_user("gustav", Role::Sachbearbeitung, None).await;
    let (cookie, csrf) = d.login_csrf("gustav").await;
    let (other, _) = d.login_csrf("gustav").await;
    let guess = |n: usize| {
        let (cookie, csrf) = (cookie.clone(), csrf.clone());
        let d = &d;
        async move {
            let current = format!("geraten-{n}-xyz");
            d.post(
                "/passwort",
                Some(&cookie),
                &[
                    ("csrf", csrf.as_str()),
                    ("current", current.as_str()),
                    ("new", "gustavs-neues-pw"),
                    ("repeat", "gustavs-neues-pw"),
                ],
            )
            .await
        }
    };
    for n in 1..5 {
        let r = guess(n).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "guess {n}");
        assert!(
            r.body.contains("bisherige Passwort stimmt nicht"),
            "{}",
            r.body
        );
    }
    let r = guess(5).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("zu oft falsch eingegeben"), "{}", r.body);
    // Only the answer to the form says so; no link can.
    let login = d.get("/login?gesperrt=1", None).await;
    assert!(!login.body.contains("zu oft falsch"), "{}", login.body);
    for c in [&cookie, &other] {
        crate::web::assert_login_redirect(&d.get("/vorgaenge", Some(c)).await, "sessions ended");
    }
    assert_eq!(
        d.try_login("gustav", PASSWORD, "").await.status,
        StatusCode::UNAUTHORIZED,
        "locked"
    );
    let events: Vec<String> = d
        .events()
        .await
        .into_iter()
        .filter(|e| e.1.as_deref() == Some("gustav"))
        .map(|e| e.0)
        .collect();
    let mut wanted = vec!["account_added", "login", "login"];
    wanted.extend(["password_change_failed"; 4]);
    wanted.extend(["lockout", "login_locked"]);
    assert_eq!(events, wanted);
}
