//! The desk's report page `/bericht` at HTTP level (the real router, a real database): only the
//! lead and the administration see it; CSV and JSON are the CLI's exact bytes as downloads; the
//! HTML embeds the CLI's `--format html` document; a bad period is a German 400, a period
//! without data shows zeros. And the browser flow tests/browser/report.mjs with axe-core.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use krm_intake::accounts::Role;
use tower::ServiceExt;

use crate::helpers::World;
use crate::staff::{krm, ok};

const PASSWORD: &str = "sehr-geheim-123";

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn send(router: &Router, req: Request<Body>) -> Reply {
    let res = router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), 10 << 20)
        .await
        .expect("body")
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(router: &Router, path: &str, cookie: &str) -> Reply {
    let r = Request::get(path).header(header::COOKIE, cookie);
    send(router, r.body(Body::empty()).unwrap()).await
}

/// An account of `role` logged in through the form; its session cookie.
async fn login(w: &World, router: &Router, name: &str, role: Role) -> String {
    krm_intake::accounts::add(
        &w.pool,
        name,
        role,
        None,
        &w.settings().staff,
        PASSWORD,
        "test",
    )
    .await
    .expect("add account");
    let form = send(router, Request::get("/login").body(Body::empty()).unwrap()).await;
    let csrf_cookie = form
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("krm_login_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("login csrf cookie")
        .to_string();
    let body = form.text();
    let i = body.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    let csrf = body[i..i + 64].to_string();
    let req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, csrf_cookie)
        .body(Body::from(
            serde_urlencoded::to_string([
                ("username", name),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("next", ""),
            ])
            .unwrap(),
        ))
        .unwrap();
    let r = send(router, req).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("krm_session="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string()
}

fn new_case(w: &World, args: &[&str]) -> String {
    let mut all = vec!["case", "new", "--channel", "brief"];
    all.extend_from_slice(args);
    ok(w, &all)
        .split_whitespace()
        .find(|t| t.starts_with("KRM-"))
        .expect("case number")
        .to_string()
}

/// Three cases of 2017 (one with a contact and a contribution, one by a counselling centre
/// whose name carries markup) and two network appointments.
async fn fixture(w: &World) {
    let a = new_case(
        w,
        &[
            "--received",
            "2017-02-01T09:00",
            "--kind",
            "beschwerde",
            "--topic",
            "Umzug",
        ],
    );
    new_case(
        w,
        &[
            "--received",
            "2017-08-01T09:00",
            "--organisation",
            "<b>Beratung</b> & Hilfe",
            "--category",
            "Beratungsstelle",
        ],
    );
    new_case(w, &["--received", "2017-09-01T09:00", "--kind", "lob"]);
    let sql = [
        format!("UPDATE cases SET contributed = true WHERE number = '{a}'"),
        format!(
            "INSERT INTO case_contacts (case_id, stelle, on_date, source, actor)
             SELECT id, 'Familienkasse', '2017-02-10', 'staff', 'test' FROM cases WHERE number = '{a}'"
        ),
        "INSERT INTO network_appointments (on_date, kind, organisations, invited, note, actor)
         VALUES ('2017-03-01', 'vorstellung', '{Caritas,Diakonie}', true, 'Frau Geheim', 'test'),
                ('2017-10-01', 'netzwerktreffen', '{Netzwerk Existenzsicherung}', false, NULL, 'test')"
            .to_string(),
    ];
    for q in sql {
        sqlx::query(sqlx::AssertSqlSafe(q))
            .execute(&w.pool)
            .await
            .expect("fixture SQL");
    }
}

#[tokio::test]
async fn only_lead_and_admin_see_the_report_and_the_nav_offers_it_to_them_alone() {
    let w = World::new("webrepro").await;
    let state = krm_intake::web::WebState::new(&w.settings(), w.pool.clone()).expect("state");
    let router = krm_intake::web::router(state);
    let r = send(
        &router,
        Request::get("/bericht").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.header("location").starts_with("/login"));
    for (name, role, status) in [
        ("sabine", Role::Sachbearbeitung, StatusCode::FORBIDDEN),
        ("dora", Role::Datenschutz, StatusCode::FORBIDDEN),
        ("lena", Role::Leitung, StatusCode::OK),
        ("adam", Role::Admin, StatusCode::OK),
    ] {
        let cookie = login(&w, &router, name, role).await;
        for path in ["/bericht?year=2017", "/bericht?year=2017&format=csv"] {
            let r = get(&router, path, &cookie).await;
            assert_eq!(r.status, status, "{name} {path}: {}", r.text());
            if status == StatusCode::FORBIDDEN {
                assert!(
                    r.text().contains("Leitung und Administration"),
                    "{}",
                    r.text()
                );
                assert!(!r.text().contains("Reaktionen"), "{}", r.text());
            }
        }
        // The refusal page has the navigation too: without the report for these roles.
        let nav = get(&router, "/bericht?year=2017", &cookie).await.text();
        assert!(nav.contains("Hauptnavigation"), "{nav}");
        assert_eq!(
            nav.contains("<a href=\"/bericht\""),
            status == StatusCode::OK,
            "{name}: {nav}"
        );
    }
}

#[tokio::test]
async fn csv_json_and_html_are_the_clis_and_bad_periods_are_refused() {
    let w = World::new("webrepbytes").await;
    fixture(&w).await;
    let state = krm_intake::web::WebState::new(&w.settings(), w.pool.clone()).expect("state");
    let router = krm_intake::web::router(state);
    let cookie = login(&w, &router, "lena", Role::Leitung).await;

    for (query, args, ctype) in [
        (
            "year=2017&format=csv",
            vec!["--year", "2017", "--format", "csv"],
            "text/csv",
        ),
        (
            "half_year=2017-2&format=json",
            vec!["--half-year", "2017-2", "--format", "json"],
            "application/json",
        ),
        (
            "from=2017-02-01&to=2017-08-31&format=csv",
            vec![
                "--from",
                "2017-02-01",
                "--to",
                "2017-08-31",
                "--format",
                "csv",
            ],
            "text/csv",
        ),
    ] {
        let r = get(&router, &format!("/bericht?{query}"), &cookie).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
        let mut cli = vec!["report"];
        cli.extend(args);
        let want = krm(&w, &cli);
        assert!(want.status.success(), "{cli:?}");
        assert_eq!(r.body, want.stdout, "{query}: the CLI's bytes");
        assert!(r.header("content-type").starts_with(ctype), "{query}");
        assert!(
            r.header("content-disposition")
                .starts_with("attachment; filename=\"bericht-"),
            "{query}: {}",
            r.header("content-disposition")
        );
    }

    // The page embeds the CLI's document: its <article> byte for byte.
    let page = get(&router, "/bericht?year=2017", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    let page = page.text();
    let doc = ok(&w, &["report", "--year", "2017", "--format", "html"]);
    let article = |s: &str| {
        let a = s.find("<article").expect("article");
        let b = s.find("</article>").expect("end of article") + "</article>".len();
        s[a..b].to_string()
    };
    assert_eq!(article(&page), article(&doc));
    forms_per_kind_of_period(&page);
    assert!(doc.starts_with("<!doctype html>") && doc.contains("<style>"));
    assert!(
        !page.contains("<style") && !page.contains(" style="),
        "no inline style"
    );
    assert!(page.contains("href=\"/static/report.css\""), "{page}");
    assert!(
        page.contains("&lt;b&gt;Beratung&lt;&#x2f;b&gt; &amp; Hilfe"),
        "escaped"
    );
    assert!(!page.contains("<b>Beratung"));
    assert!(page.contains("Familienkasse") && page.contains("Caritas, Diakonie"));
    assert!(
        !page.contains("Frau Geheim") && !doc.contains("Frau Geheim"),
        "never a note"
    );
    let css = send(
        &router,
        Request::get("/static/report.css")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.text().contains(".bericht-tabelle"));

    // A period without data: zeros, no error.
    let empty = get(&router, "/bericht?year=2030", &cookie).await;
    assert_eq!(empty.status, StatusCode::OK);
    let empty = empty.text();
    assert!(empty.contains("keine Reaktion erfasst"), "{empty}");
    assert!(
        empty.contains("<th scope=\"row\">Reaktionen</th><td class=\"zahl\">0</td>"),
        "{empty}"
    );

    // Bad periods and formats: a German message at the form, 400, no figures.
    for (query, message) in [
        ("year=zwanzig", "ist kein Jahr"),
        ("half_year=2017-3", "kein Halbjahr"),
        ("from=2017-03-02&to=2017-03-01", "liegt nach seinem Ende"),
        ("from=2017-03-02", "„von“ und „bis“"),
        ("year=2017&half_year=2017-1", "nur eines"),
        ("year=2017&format=pdf", "Das Format „pdf“ gibt es nicht"),
        ("year=10000", "außerhalb von 1900 bis 9999"),
        // A payload in a field is shown as text, in the message and back in its form.
        (
            "half_year=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            "„&lt;script&gt;alert(1)&lt;&#x2f;script&gt;“ ist kein Halbjahr",
        ),
    ] {
        let r = get(&router, &format!("/bericht?{query}"), &cookie).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        let t = r.text();
        assert!(t.contains(message), "{query}: {t}");
        assert!(!t.contains("<article"), "{query}: no report");
        assert!(!t.contains("<script>alert"), "{query}: {t}");
        // A wrong format is not called a fault of the period.
        let heading = if query.contains("format=") {
            "<h2>Das Format gibt es nicht</h2>"
        } else {
            "<h2>Der Zeitraum enthält einen Fehler</h2>"
        };
        assert!(t.contains(heading), "{query}: {t}");
    }
}

/// Each kind of period has a form of its own that sends only its fields: the year shown (2017)
/// stays in the year's form and cannot make a half-year chosen next ambiguous.
fn forms_per_kind_of_period(page: &str) {
    let form = |id: &str| {
        let a = page.find(&format!("id=\"{id}\"")).expect(id);
        let b = a + page[a..].find("</form>").expect("end of form");
        page[a..b].to_string()
    };
    let names = |f: &str| -> Vec<String> {
        f.split("name=\"")
            .skip(1)
            .map(|r| r[..r.find('"').unwrap()].to_string())
            .collect()
    };
    assert_eq!(names(&form("form-jahr")), ["year"]);
    assert!(form("form-jahr").contains("value=\"2017\""));
    assert_eq!(names(&form("form-halbjahr")), ["half_year"]);
    assert!(form("form-halbjahr").contains("value=\"\""));
    assert_eq!(names(&form("form-zeitraum")), ["from", "to"]);
}

/// The browser flow (tests/browser/report.mjs): the lead opens the report, axe-core finds no
/// violation, the CSV download is the CLI's. Skips like the desk's flow without chromium/node.
#[tokio::test]
async fn browser_the_lead_opens_the_report_and_downloads_the_csv() {
    if !crate::web::browser_ready() {
        return;
    }
    let w = World::new("webrepbrowser").await;
    fixture(&w).await;
    krm_intake::accounts::add(
        &w.pool,
        "lena",
        Role::Leitung,
        None,
        &w.settings().staff,
        PASSWORD,
        "test",
    )
    .await
    .unwrap();
    let csv = ok(&w, &["report", "--year", "2017", "--format", "csv"]);
    let csv_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(csv_file.path(), &csv).unwrap();
    let (child, line) = crate::web::spawn_web(&w).await;
    let url = line.rsplit(' ').next().unwrap().to_string();
    let csv_path = csv_file.path().display().to_string();
    let (ok, text) = crate::web::run_browser_flow(
        "report.mjs",
        &url,
        &[
            ("DESK_USER", "lena"),
            ("DESK_PASSWORD", PASSWORD),
            ("REPORT_CSV", &csv_path),
        ],
    )
    .await;
    crate::web::stop_web(child).await;
    assert!(ok, "browser flow failed:\n{text}");
    assert!(text.contains("Bericht im Browser in Ordnung"), "{text}");
}
