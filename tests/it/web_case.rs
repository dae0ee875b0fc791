//! The desk's case page and case actions at HTTP level (the real router, a real database, mail
//! through the real intake): what a case page shows and never runs, the sandboxed mail frame
//! and attachment headers, 404s for what belongs to another case, the access log, each verb
//! through the staff core with actor `web:<account>`, CSRF, roles, a stale version, refusals
//! shown beside their form, `/vorgaenge/neu`, and the verb table against clap's `case`.

use axum::http::StatusCode;
use clap::CommandFactory;

use crate::helpers::{numbered_citizen_mail, World, CITIZEN};
use crate::web::{new_case, Desk, Reply};
use krm_intake::accounts::Role;

const STAFF: (&str, &str) = ("KRM_STAFF_Frau_Beispiel", "sachbearbeitung@jobcenter.test");
const STAFF2: (&str, &str) = ("KRM_STAFF_Herr_Anders", "anders@jobcenter.test");

/// A citizen's mail with a text part, an HTML part and two attachments, every visible field
/// carrying a payload that would run script if it reached a page unescaped.
pub(crate) fn html_mail(w: &World) -> Vec<u8> {
    let from = w.sender(CITIZEN);
    format!(
        "From: \"<script>window.__pwned=1</script> Bürger\" <{from}>\r\n\
         To: {to}\r\n\
         Subject: =?utf-8?q?<img_src=3Dx_onerror=3Dwindow.=5F=5Fpwned=3D1>_Umzug?=\r\n\
         Message-ID: <html.{name}@mail.test>\r\n\
         Date: Wed, 25 Nov 2026 09:15:00 +0100\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"aussen\"\r\n\r\n\
         --aussen\r\n\
         Content-Type: multipart/alternative; boundary=\"innen\"\r\n\r\n\
         --innen\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Guten Tag, <script>window.__pwned=1</script> mein Umzug.\r\n\
         --innen\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n\
         <html><body><p>Guten Tag, <b>mein Umzug</b>.</p>\
         <script>window.__pwned=1</script>\
         <img src=\"https://tracker.test/pixel.gif\">\
         <a href=\"https://phish.test/\" onclick=\"window.__pwned=1\">Link</a></body></html>\r\n\
         --innen--\r\n\
         --aussen\r\n\
         Content-Type: application/pdf; name=\"<script>x</script>.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"<script>x</script>.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQKJSVFT0YK\r\n\
         --aussen\r\n\
         Content-Type: text/html; name=\"seite.html\"\r\n\
         Content-Disposition: attachment; filename=\"seite.html\"\r\n\r\n\
         <script>window.__pwned=1</script>\r\n\
         --aussen--\r\n",
        to = w.inbox_address(),
        name = w.name,
    )
    .into_bytes()
}

/// (id, name) of the case's attachments.
async fn attachment_ids(w: &World, number: &str) -> Vec<(i64, String)> {
    sqlx::query_as(
        "SELECT a.id, coalesce(a.name, '') FROM attachments a JOIN messages m ON m.id = a.message_id
         JOIN cases c ON c.id = m.case_id WHERE c.number = $1 ORDER BY a.id",
    )
    .bind(number)
    .fetch_all(&w.pool)
    .await
    .unwrap()
}

async fn access_rows(w: &World) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT actor, case_number, what FROM access_log ORDER BY id")
        .fetch_all(&w.pool)
        .await
        .unwrap()
}

fn assert_no_script(r: &Reply, what: &str) {
    for bad in ["<script>window", "<img src=x", "onclick=\""] {
        assert!(!r.body.contains(bad), "{what}: {bad} in {}", r.body);
    }
}

/// The value of the hidden `version` field of a case page.
fn version_of(r: &Reply) -> String {
    let i = r
        .body
        .find("name=\"version\" value=\"")
        .expect("version field")
        + 22;
    r.body[i..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn the_case_page_shows_mail_content_escaped_framed_and_logged() {
    let d = Desk::new("wcpage").await;
    d.w.append(&html_mail(&d.w)).await;
    d.w.run_once().await;
    let number = d.w.cases().await[0].0.clone();
    let other = new_case(&d.w, &["--received", "2026-01-05T09:00"]);
    d.add_user("anna", Role::Sachbearbeitung, None).await;
    d.add_user("dora", Role::Datenschutz, None).await;
    let s = d.login("anna").await;

    // The work list links the case; the page shows it, every payload escaped.
    let list = d.get("/vorgaenge", Some(&s)).await;
    assert!(
        list.body.contains(&format!("href=\"/vorgaenge/{number}\""))
            || list
                .body
                .contains(&format!("href=\"&#x2f;vorgaenge&#x2f;{number}\"")),
        "{}",
        list.body
    );
    let r = d.get(&format!("/vorgaenge/{number}"), Some(&s)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_no_script(&r, "case page");
    assert!(
        r.body
            .contains("&lt;script&gt;window.__pwned=1&lt;&#x2f;script&gt; Bürger"),
        "{}",
        r.body
    );
    assert!(r.body.contains("mein Umzug."), "mail text shown");
    assert!(
        r.body.contains("&lt;script&gt;x&lt;_script&gt;.pdf"),
        "attachment name escaped"
    );
    assert_eq!(r.header("cache-control"), "no-store");
    let mail_id: (i64,) = sqlx::query_as("SELECT id FROM messages")
        .fetch_one(&d.w.pool)
        .await
        .unwrap();
    let frame = format!("/vorgaenge/{number}/mails/{}/html", mail_id.0);
    assert!(
        r.body
            .contains("<iframe class=\"mail-html\" sandbox src=\""),
        "{}",
        r.body
    );

    // The HTML part: sanitised, sandboxed, framed by the desk only, nothing remote.
    let f = d.get(&frame, Some(&s)).await;
    assert_eq!(f.status, StatusCode::OK);
    let csp = f.header("content-security-policy");
    assert!(csp.starts_with("sandbox"), "{csp}");
    assert!(
        csp.contains("frame-ancestors 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert!(f.body.contains("<b>mein Umzug</b>"), "{}", f.body);
    for gone in ["<script", "tracker.test", "phish.test", "onclick", "<img"] {
        assert!(!f.body.contains(gone), "{gone}: {}", f.body);
    }

    let att =
        attachments_are_downloads_and_foreign_ids_404(&d, &s, &number, &other, mail_id.0).await;

    // Each opening of mail content is in the access log, with the account.
    let rows = access_rows(&d.w).await;
    let whats: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(
        whats,
        ["mail_text", "mail_html", "attachment", "attachment"],
        "{rows:?}"
    );
    assert!(
        rows.iter().all(|r| r.0 == "web:anna" && r.1 == number),
        "{rows:?}"
    );
    // The page again within minutes (as after every form sent on it): still one row for it.
    let again = d.get(&format!("/vorgaenge/{number}"), Some(&s)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(access_rows(&d.w).await.len(), 4);

    // The data protection officer sees no case content at all.
    let dora = d.login("dora").await;
    for path in [
        format!("/vorgaenge/{number}"),
        frame.clone(),
        format!("/vorgaenge/{number}/anhaenge/{}", att[0].0),
        "/vorgaenge/neu".to_string(),
    ] {
        assert_eq!(
            d.get(&path, Some(&dora)).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert_eq!(access_rows(&d.w).await.len(), 4, "a refusal reads nothing");

    // `case show --body` is logged too, with the OS user; without --body it is not.
    let out =
        d.w.command()
            .args(["case", "show", &number])
            .output()
            .unwrap();
    assert!(out.status.success());
    let out =
        d.w.command()
            .args(["case", "show", &number, "--body"])
            .env("USER", "os-anna")
            .env_remove("SUDO_USER")
            .output()
            .unwrap();
    assert!(out.status.success());
    let rows = access_rows(&d.w).await;
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows[4],
        (
            "os-anna".to_string(),
            number.clone(),
            "mail_text".to_string()
        )
    );

    rows_holding_content_or_changed(&d, &s, &number, &att).await;
}

/// Whether case `number`'s page offers the HTML view of a mail.
async fn offers_html_view(d: &Desk, s: &str, number: &str) -> bool {
    let r = d.get(&format!("/vorgaenge/{number}"), Some(s)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body.contains("<iframe class=\"mail-html\"")
}

#[tokio::test]
async fn the_html_view_is_offered_by_what_intake_recorded() {
    let d = Desk::new("wchtml").await;
    d.w.append(&html_mail(&d.w)).await;
    d.w.append(&numbered_citizen_mail(&d.w, "plain", 1)).await;
    d.w.run_once().await;
    let rows = html_recorded(&d).await;
    let recorded: Vec<Option<bool>> = rows.iter().map(|r| r.1).collect();
    assert_eq!(recorded, [Some(true), Some(false)]);
    let (html, plain) = (&rows[0].0, &rows[1].0);
    d.add_user("anna", Role::Sachbearbeitung, None).await;
    let s = d.login("anna").await;
    assert!(offers_html_view(&d, &s, html).await);
    assert!(!offers_html_view(&d, &s, plain).await);

    // The page goes by the recorded answer and does not read the stored mails.
    sqlx::query("UPDATE messages SET has_html = NOT has_html")
        .execute(&d.w.pool)
        .await
        .unwrap();
    assert!(!offers_html_view(&d, &s, html).await);
    assert!(offers_html_view(&d, &s, plain).await);

    // Mails stored by an earlier version are read once, and the answer recorded.
    sqlx::query("UPDATE messages SET has_html = NULL")
        .execute(&d.w.pool)
        .await
        .unwrap();
    assert!(offers_html_view(&d, &s, html).await);
    assert!(!offers_html_view(&d, &s, plain).await);
    let again: Vec<Option<bool>> = html_recorded(&d).await.iter().map(|r| r.1).collect();
    assert_eq!(again, [Some(true), Some(false)]);

    // A purged mail has nothing to show, whatever was recorded.
    sqlx::query("UPDATE messages SET raw = NULL, has_html = true")
        .execute(&d.w.pool)
        .await
        .unwrap();
    assert!(!offers_html_view(&d, &s, html).await);
}

/// (case number, `has_html`) of every stored mail, in the order they were stored.
async fn html_recorded(d: &Desk) -> Vec<(String, Option<bool>)> {
    sqlx::query_as(
        "SELECT c.number, m.has_html FROM messages m JOIN cases c ON c.id = m.case_id
         ORDER BY m.id",
    )
    .fetch_all(&d.w.pool)
    .await
    .unwrap()
}

/// Posts `verb` on `number` with the page's csrf and version plus `fields`.
async fn act(d: &Desk, s: &str, number: &str, verb: &str, fields: &[(&str, &str)]) -> Reply {
    let page = d.get(&format!("/vorgaenge/{number}"), Some(s)).await;
    let (csrf, version) = (page.csrf_field(), version_or_one(&page));
    let mut form = vec![("csrf", csrf.as_str()), ("version", version.as_str())];
    form.extend_from_slice(fields);
    d.post(&format!("/vorgaenge/{number}/{verb}"), Some(s), &form)
        .await
}

async fn act_ok(d: &Desk, s: &str, number: &str, verb: &str, fields: &[(&str, &str)]) {
    let r = act(d, s, number, verb, fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{verb}: {}", r.body);
    assert_sealed(
        r.header("location"),
        &format!("/vorgaenge/{number}?erledigt={verb}"),
    );
}

/// A redirect after an action: `wanted`, then the notice's seal (`&z=` and 16 hex digits).
fn assert_sealed(location: &str, wanted: &str) {
    let z = location
        .strip_prefix(wanted)
        .and_then(|rest| rest.strip_prefix("&z="))
        .unwrap_or_else(|| panic!("{location} is not {wanted}&z=…"));
    assert!(
        z.len() == 16 && z.bytes().all(|b| b.is_ascii_hexdigit()),
        "{location}"
    );
}

fn show_json(w: &World, number: &str) -> serde_json::Value {
    let out = w
        .command()
        .args(["case", "show", number, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// "Spam-Verdacht aufheben" is offered only on a case held as suspected spam; posted anyway,
/// its form shows with the refusal.
async fn confirm_is_offered_only_where_it_can_succeed(d: &Desk, s: &str, keep: &str) {
    // Not offered on a case not held; posted anyway, the form shows with its refusal.
    let page = d.get(&format!("/vorgaenge/{keep}"), Some(s)).await;
    assert!(
        !page.body.contains("id=\"aktion-confirm\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"aktion-hold\""), "{}", page.body);
    let r = act(d, s, keep, "confirm", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("steht nicht unter Spam-Verdacht")
            && r.body.contains("id=\"aktion-confirm\""),
        "{}",
        r.body
    );
    sqlx::query("UPDATE cases SET review_reason = 'spam' WHERE number = $1")
        .bind(keep)
        .execute(&d.w.pool)
        .await
        .unwrap();
    let held = d.get(&format!("/vorgaenge/{keep}"), Some(s)).await;
    assert!(held.body.contains("id=\"aktion-confirm\""), "{}", held.body);
    sqlx::query("UPDATE cases SET review_reason = NULL WHERE number = $1")
        .bind(keep)
        .execute(&d.w.pool)
        .await
        .unwrap();
}

/// Attachment `id` of case `number`, as the account of session `s` downloads it.
async fn attachment(d: &Desk, s: &str, number: &str, id: i64) -> Reply {
    d.get(&format!("/vorgaenge/{number}/anhaenge/{id}"), Some(s))
        .await
}

/// An attachment row written before 7 December 2026 holds its content: served as stored.
/// One whose bytes the stored mail no longer holds (another hash): 404, never other bytes.
async fn rows_holding_content_or_changed(d: &Desk, s: &str, number: &str, att: &[(i64, String)]) {
    sqlx::query("UPDATE attachments SET content = '%PDF-1.4 aus der Zeile' WHERE id = $1")
        .bind(att[0].0)
        .execute(&d.w.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE attachments SET sha256 = sha256(sha256) WHERE id = $1")
        .bind(att[1].0)
        .execute(&d.w.pool)
        .await
        .unwrap();
    let stored = attachment(d, s, number, att[0].0).await;
    assert_eq!(stored.body, "%PDF-1.4 aus der Zeile");
    let changed = attachment(d, s, number, att[1].0).await;
    assert_eq!(changed.status, StatusCode::NOT_FOUND);
}

/// The two attachments of the case `number` (a PDF, an HTML file) are downloads, inline only for
/// the harmless type; ids of another case or of nothing are 404. The attachments' ids and names.
async fn attachments_are_downloads_and_foreign_ids_404(
    d: &Desk,
    s: &str,
    number: &str,
    other: &str,
    mail: i64,
) -> Vec<(i64, String)> {
    // Attachments: always a download, inline type only for the harmless ones.
    let att = attachment_ids(&d.w, number).await;
    assert_eq!(att.len(), 2, "{att:?}");
    let pdf = attachment(d, s, number, att[0].0).await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(pdf.header("content-type"), "application/pdf");
    assert!(
        pdf.header("content-disposition")
            .starts_with("attachment; filename=\"_script_x__script_.pdf\""),
        "{}",
        pdf.header("content-disposition")
    );
    assert!(pdf.header("content-security-policy").starts_with("sandbox"));
    assert_eq!(
        pdf.body, "%PDF-1.4\n%%EOF\n",
        "decoded from the stored mail, whole"
    );
    let html = attachment(d, s, number, att[1].0).await;
    assert_eq!(html.header("content-type"), "application/octet-stream");
    assert!(html
        .header("content-disposition")
        .starts_with("attachment;"));

    // What belongs to another case, or nothing, is 404.
    for path in [
        format!("/vorgaenge/{other}/anhaenge/{}", att[0].0),
        format!("/vorgaenge/{number}/anhaenge/999999"),
        format!("/vorgaenge/{number}/anhaenge/x"),
        format!("/vorgaenge/{other}/mails/{}/html", mail),
        "/vorgaenge/KRM-2026-99999".to_string(),
        "/vorgaenge/KRM-26-1".to_string(),
        "/vorgaenge/krm-2026-00001".to_string(),
    ] {
        assert_eq!(
            d.get(&path, Some(s)).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    att
}

/// A merged case offers a note only, and leads to the case it lives on in; an open case
/// offers no form that could only be refused.
async fn only_forms_that_can_succeed_are_offered(d: &Desk, s: &str, n: &str, keep: &str) {
    let page = d.get(&format!("/vorgaenge/{n}"), Some(s)).await;
    assert!(
        page.body.contains(&format!(
            "<a href=\"/vorgaenge/{keep}\">{keep}</a> zusammengeführt"
        )),
        "{}",
        page.body
    );
    let forms = |body: &str, number: &str| -> Vec<String> {
        body.match_indices(&format!("action=\"/vorgaenge/{number}/"))
            .map(|(i, m)| {
                body[i + m.len()..]
                    .split('"')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(forms(&page.body, n), ["note"]);
    let open = d.get(&format!("/vorgaenge/{keep}"), Some(s)).await;
    let offered = forms(&open.body, keep);
    assert!(offered.contains(&"hold".to_string()) && offered.contains(&"close".to_string()));
    assert!(
        !offered.contains(&"resume".to_string()) && !offered.contains(&"reopen".to_string()),
        "{offered:?}"
    );
}

/// What `case show --json` says after every verb: the fields, and each verb on the timeline as
/// the desk account.
fn every_verb_is_on_the_timeline_as_the_account(d: &Desk, n: &str, keep: &str) {
    let v = show_json(&d.w, n);
    assert_eq!(v["status"], "merged");
    assert_eq!(v["merged_into"], keep);
    assert_eq!(v["assignee"], "Herr Anders");
    assert_eq!(v["kind"], "beschwerde");
    assert_eq!(v["topics"], serde_json::json!(["Umzug", "Mietkaution"]));
    assert_eq!(v["justified"], true);
    assert_eq!(v["organisation"], "Caritas");
    assert_eq!(v["ack_status"], "manual");
    let events = v["events"].as_array().unwrap();
    let web: Vec<&str> = events
        .iter()
        .filter(|e| e["actor"] == "web:bernd")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "assign",
        "classify",
        "assess",
        "note",
        "hold",
        "resume",
        "set_third_party",
        "ack_recorded",
        "close",
        "reopen",
        "discard",
        "merge",
    ] {
        assert!(web.contains(&action), "{action} in {web:?}");
    }
    assert!(
        events
            .iter()
            .all(|e| e["actor"] == "web:bernd" || e["action"] == "created" || e["action"] == "new"),
        "{events:?}"
    );
}

#[tokio::test]
async fn every_verb_changes_the_case_through_the_staff_core_as_the_account() {
    let d = Desk::with_env("wcverbs", &[STAFF, STAFF2]).await;
    d.add_user("bernd", Role::Leitung, Some("Frau Beispiel"))
        .await;
    let s = d.login("bernd").await;
    let n = new_case(&d.w, &["--received", "2026-01-05T09:00"]);
    let keep = new_case(&d.w, &["--received", "2026-01-06T09:00"]);
    let today = krm_intake::staff::ymd(krm_intake::calendar::berlin_date(chrono::Utc::now()));

    act_ok(&d, &s, &n, "assign", &[("name", "Herr Anders")]).await;
    act_ok(
        &d,
        &s,
        &n,
        "classify",
        &[
            ("kind", "beschwerde"),
            ("topic", "Umzug"),
            ("topic", "Mietkaution"),
        ],
    )
    .await;
    // The form lists every topic (an empty `topic` marks the list): unticking one removes it,
    // unticking all clears them, the kind left as it is.
    act_ok(
        &d,
        &s,
        &n,
        "classify",
        &[("kind", ""), ("topic", ""), ("topic", "Mietkaution")],
    )
    .await;
    assert_eq!(
        show_json(&d.w, &n)["topics"],
        serde_json::json!(["Mietkaution"])
    );
    act_ok(&d, &s, &n, "classify", &[("kind", ""), ("topic", "")]).await;
    let v = show_json(&d.w, &n);
    assert_eq!(
        (&v["topics"], &v["kind"]),
        (&serde_json::json!([]), &serde_json::json!("beschwerde"))
    );
    act_ok(
        &d,
        &s,
        &n,
        "classify",
        &[("topic", ""), ("topic", "Umzug"), ("topic", "Mietkaution")],
    )
    .await;
    act_ok(&d, &s, &n, "assess", &[("justified", "yes")]).await;
    act_ok(
        &d,
        &s,
        &n,
        "note",
        &[("text", "<script>window.__pwned=1</script> Rückruf")],
    )
    .await;
    act_ok(&d, &s, &n, "hold", &[]).await;
    act_ok(&d, &s, &n, "resume", &[]).await;
    act_ok(
        &d,
        &s,
        &n,
        "set-third-party",
        &[
            ("organisation", "Caritas"),
            ("category", "Beratungsstelle"),
            ("third_party", "yes"),
        ],
    )
    .await;
    act_ok(&d, &s, &n, "ack-recorded", &[("on", &today)]).await;
    act_ok(&d, &s, &n, "close", &[("answered_on", &today)]).await;
    act_ok(&d, &s, &n, "reopen", &[]).await;
    act_ok(&d, &s, &n, "discard", &[("reason", "duplikat")]).await;
    act_ok(&d, &s, &n, "reopen", &[]).await;
    // Not without the confirmation that it is final.
    let r = act(&d, &s, &n, "merge", &[("into", &keep)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("endgültig"), "{}", r.body);
    act_ok(&d, &s, &n, "merge", &[("into", &keep), ("endgueltig", "1")]).await;

    only_forms_that_can_succeed_are_offered(&d, &s, &n, &keep).await;
    every_verb_is_on_the_timeline_as_the_account(&d, &n, &keep);

    // The note is shown escaped; confirm is refused with the CLI's message on a case not held.
    let page = d.get(&format!("/vorgaenge/{keep}"), Some(&s)).await;
    assert!(page.body.contains("Vorgang aufgenommen"), "{}", page.body);
    confirm_is_offered_only_where_it_can_succeed(&d, &s, &keep).await;
    let r = d.get(&format!("/vorgaenge/{n}"), Some(&s)).await;
    assert!(
        r.body.contains("&lt;script&gt;window.__pwned=1"),
        "{}",
        r.body
    );
    assert_no_script(&r, "note");
}

/// Roles: Sachbearbeitung neither discards, merges nor assigns to others; it takes its own
/// case, or gives it back.
async fn sachbearbeitung_assigns_only_itself_or_nobody(d: &Desk, s: &str, n: &str, other: &str) {
    for (verb, fields) in [
        ("discard", vec![("reason", "spam")]),
        ("merge", vec![("into", other)]),
        ("assign", vec![("name", "Herr Anders")]),
    ] {
        let r = act(d, s, n, verb, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{verb}");
    }
    // Her form offers only herself and nobody.
    let page = d.get(&format!("/vorgaenge/{n}"), Some(s)).await;
    assert!(
        page.body.contains("<option value=\"Frau Beispiel\"")
            && !page.body.contains("<option value=\"Herr Anders\""),
        "{}",
        page.body
    );
    act_ok(d, s, n, "assign", &[("name", "Frau Beispiel")]).await;
    let out =
        d.w.command()
            .args(["case", "assign", other, "Herr Anders"])
            .output()
            .unwrap();
    assert!(out.status.success());
    let r = act(d, s, other, "assign", &[("none", "1")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another's case");
    let r = act(d, s, other, "assign", &[("name", "")]).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "another's case, nobody chosen"
    );
    // Another's case offers her no assign form at all.
    let page = d.get(&format!("/vorgaenge/{other}"), Some(s)).await;
    assert!(!page
        .body
        .contains(&format!("action=\"/vorgaenge/{other}/assign\"")));
    // Nobody (the empty choice) on her own case.
    act_ok(d, s, n, "assign", &[("name", "")]).await;
    assert!(show_json(&d.w, n)["assignee"].is_null());
    // The same again changes nothing, and the notice says so rather than „gespeichert“.
    let r = act(d, s, n, "assign", &[("name", "")]).await;
    assert_sealed(
        r.header("location"),
        &format!("/vorgaenge/{n}?erledigt=assign&hinweis=unveraendert"),
    );
    let page = d.get(r.header("location"), Some(s)).await;
    assert!(page.body.contains("Keine Änderung"), "{}", page.body);
}

#[tokio::test]
async fn refusals_csrf_roles_and_a_stale_version_change_nothing() {
    let d = Desk::with_env("wcrefuse", &[STAFF, STAFF2]).await;
    d.add_user("anna", Role::Sachbearbeitung, Some("Frau Beispiel"))
        .await;
    d.add_user("adam", Role::Admin, None).await;
    let s = d.login("anna").await;
    let n = new_case(&d.w, &["--received", "2026-01-05T09:00"]);
    let other = new_case(&d.w, &["--received", "2026-01-06T09:00"]);
    let events = || async {
        d.w.scalar("SELECT count(*) FROM case_events WHERE action <> 'created'")
            .await
    };

    // CSRF missing or wrong: 403, nothing changes.
    let page = d.get(&format!("/vorgaenge/{n}"), Some(&s)).await;
    let version = version_of(&page);
    for csrf in [None, Some("falsch")] {
        let mut form = vec![("version", version.as_str())];
        form.extend(csrf.map(|c| ("csrf", c)));
        let r = d
            .post(&format!("/vorgaenge/{n}/hold"), Some(&s), &form)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{csrf:?}");
    }
    assert_eq!(events().await, 0);

    // Invalid transitions and bad values: the CLI's message beside the form, input kept, 400.
    let r = act(&d, &s, &n, "resume", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("ruht nicht"), "{}", r.body);
    assert!(
        r.body.contains("aria-describedby=\"resume-fehler\""),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("role=\"alert\" id=\"resume-fehler\""),
        "{}",
        r.body
    );
    let r = act(&d, &s, &n, "close", &[("answered_on", "2099-01-01")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("liegt in der Zukunft"), "{}", r.body);
    assert!(
        r.body.contains("value=\"2099-01-01\""),
        "input kept: {}",
        r.body
    );
    let r = act(&d, &s, &n, "classify", &[("topic", "Gibt es nicht")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = act(&d, &s, &n, "assess", &[("justified", "yes")]).await;
    assert!(
        r.body
            .contains("noch nicht als Beschwerde eingestuft; bitte zuerst „Einstufen“ wählen"),
        "the desk's button, not the CLI command: {}",
        r.body
    );
    let r = act(&d, &s, &n, "close", &[("answered_on", "gestern")]).await;
    assert!(r.body.contains("ist kein Datum"), "{}", r.body);
    assert_eq!(events().await, 0);

    // A stale version: 409, the fresh state, nothing changes.
    let stale = version_of(&d.get(&format!("/vorgaenge/{n}"), Some(&s)).await);
    let out =
        d.w.command()
            .args(["case", "note", &n, "dazwischen"])
            .output()
            .unwrap();
    assert!(out.status.success());
    sqlx::query("UPDATE cases SET assignee = assignee WHERE number = $1")
        .bind(&n)
        .execute(&d.w.pool)
        .await
        .unwrap();
    let csrf = page.csrf_field();
    let r = d
        .post(
            &format!("/vorgaenge/{n}/hold"),
            Some(&s),
            &[("csrf", &csrf), ("version", &stale)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("inzwischen geändert"), "{}", r.body);
    assert!(r.body.contains("dazwischen"), "fresh state: {}", r.body);
    assert_ne!(version_of(&r), stale);
    assert_eq!(show_json(&d.w, &n)["status"], "open");

    sachbearbeitung_assigns_only_itself_or_nobody(&d, &s, &n, &other).await;
    let adam = d.login("adam").await;
    let r = act(&d, &adam, &n, "hold", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "admin works no cases");
    assert!(r.body.contains("sieht keine Vorgänge"), "{}", r.body);
    // Nor reads them: the administration needs no citizen's mail for its work.
    for path in [
        format!("/vorgaenge/{n}"),
        format!("/vorgaenge/{n}/mails/1/html"),
        "/vorgaenge".to_string(),
    ] {
        let r = d.get(&path, Some(&adam)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(show_json(&d.w, &n)["status"], "open");
    // Without a session: the login redirect, nothing shown, nothing changed.
    for path in [
        format!("/vorgaenge/{n}/mails/1/html"),
        format!("/vorgaenge/{n}/anhaenge/1"),
        "/vorgaenge/neu".to_string(),
    ] {
        crate::web::assert_login_redirect(&d.get(&path, None).await, &path);
    }
    let r = d
        .post(&format!("/vorgaenge/{n}/hold"), None, &[("version", "1")])
        .await;
    crate::web::assert_login_redirect(&r, "POST hold");
    assert_eq!(show_json(&d.w, &n)["status"], "open");
    // An unknown verb or case: 404.
    let r = act(&d, &s, &n, "loeschen", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_new_reaction_by_letter_phone_or_in_person() {
    let d = Desk::new("wcnew").await;
    d.add_user("anna", Role::Sachbearbeitung, None).await;
    let s = d.login("anna").await;
    let form = d.get("/vorgaenge/neu", Some(&s)).await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.csrf_field();
    let r = d
        .post(
            "/vorgaenge/neu",
            Some(&s),
            &[
                ("csrf", &csrf),
                ("channel", "telefon"),
                ("received", "morgen"),
                ("organisation", "<b>VdK</b>"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("ist kein Eingangszeitpunkt"), "{}", r.body);
    assert!(
        r.body.contains("value=\"&lt;b&gt;VdK&lt;&#x2f;b&gt;\""),
        "input kept: {}",
        r.body
    );
    assert_eq!(d.w.scalar("SELECT count(*) FROM cases").await, 0);
    let r = d
        .post(
            "/vorgaenge/neu",
            Some(&s),
            &[
                ("csrf", &csrf),
                ("channel", "telefon"),
                ("received", "2026-01-05T09:30"),
                ("organisation", "VdK"),
                ("kind", "beschwerde"),
                ("topic", "Umzug"),
                ("text", "Anruf: Umzug nicht genehmigt.\r\nRückruf erbeten."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let number = d.w.cases().await[0].0.clone();
    assert_sealed(
        r.header("location"),
        &format!("/vorgaenge/{number}?erledigt=neu"),
    );
    let v = show_json(&d.w, &number);
    assert_eq!(v["channel"], "telefon");
    assert_eq!(v["organisation"], "VdK");
    assert_eq!(v["third_party"], true);
    assert_eq!(v["kind"], "beschwerde");
    assert_eq!(v["events"][0]["actor"], "web:anna");
    // What was said is the case's first note.
    let notes: Vec<&serde_json::Value> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "note")
        .collect();
    assert_eq!(notes.len(), 1, "{v}");
    assert_eq!(
        notes[0]["new_value"],
        "Anruf: Umzug nicht genehmigt.\r\nRückruf erbeten."
    );
    // Without the session's token: 403, nothing created.
    let r = d
        .post(
            "/vorgaenge/neu",
            Some(&s),
            &[("channel", "brief"), ("received", "2026-01-05")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(d.w.scalar("SELECT count(*) FROM cases").await, 1);
}

/// Every `case` subcommand that changes a case has a route, and its fields are the
/// subcommand's arguments (`-` written `_`; `--by` is the signed-in account).
#[test]
fn every_case_subcommand_that_changes_a_case_has_a_route_with_its_flags() {
    let cli = krm_intake::cli::Cli::command();
    let case = cli.find_subcommand("case").expect("case subcommand");
    let fields = |c: &clap::Command| -> Vec<String> {
        let mut f: Vec<String> = c
            .get_arguments()
            .filter(|a| !matches!(a.get_id().as_str(), "number" | "by" | "help"))
            .map(|a| {
                a.get_long()
                    .unwrap_or(a.get_id().as_str())
                    .replace('-', "_")
            })
            .collect();
        f.sort();
        f
    };
    let mut routed = Vec::new();
    for sub in case.get_subcommands() {
        let name = sub.get_name();
        let wanted = match name {
            "list" | "show" => continue,
            "new" => krm_intake::web::actions::NEW_FIELDS.to_vec(),
            _ => {
                let v = krm_intake::web::actions::VERBS
                    .iter()
                    .find(|v| v.name == name)
                    .unwrap_or_else(|| panic!("case {name} changes a case but has no desk route"));
                routed.push(name.to_string());
                v.fields.to_vec()
            }
        };
        let mut wanted: Vec<String> = wanted.iter().map(|s| s.to_string()).collect();
        wanted.sort();
        assert_eq!(fields(sub), wanted, "fields of {name}");
    }
    assert_eq!(
        routed.len(),
        krm_intake::web::actions::VERBS.len(),
        "no route without a subcommand"
    );
}

/// The version field, or `1` where the page shows no forms (a role that works no cases).
fn version_or_one(r: &Reply) -> String {
    if r.body.contains("name=\"version\"") {
        version_of(r)
    } else {
        "1".to_string()
    }
}

#[tokio::test]
async fn clarification_work_is_recorded_from_the_case_page() {
    let d = Desk::with_env("wcclar", &[STAFF, STAFF2]).await;
    d.add_user("bernd", Role::Leitung, Some("Frau Beispiel"))
        .await;
    let s = d.login("bernd").await;
    let n = new_case(&d.w, &["--received", "2026-01-05T09:00"]);
    let today = krm_intake::staff::ymd(krm_intake::calendar::berlin_date(chrono::Utc::now()));

    // The catalogue's bodies are offered; an unknown one is refused beside its form. Nothing
    // to remove yet, so no form for it.
    let page = d.get(&format!("/vorgaenge/{n}"), Some(&s)).await;
    assert!(
        page.body.contains("<option value=\"Familienkasse\">"),
        "{}",
        page.body
    );
    let remove_form = format!("action=\"/vorgaenge/{n}/contact-remove\"");
    assert!(!page.body.contains(&remove_form), "{}", page.body);
    let r = act(&d, &s, &n, "contact", &[("stelle", "Gibt es nicht")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Unbekannte Stelle"), "{}", r.body);
    let r = act(&d, &s, &n, "contribution", &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(show_json(&d.w, &n)["contacts"]
        .as_array()
        .unwrap()
        .is_empty());

    act_ok(
        &d,
        &s,
        &n,
        "contact",
        &[
            ("stelle", "familienkasse"),
            ("on", &today),
            ("note", "<b>Rückfrage Kindergeld</b>"),
        ],
    )
    .await;
    act_ok(&d, &s, &n, "contribution", &[("contributed", "yes")]).await;

    let v = show_json(&d.w, &n);
    assert_eq!(v["contributed"], true);
    let contacts = v["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0]["stelle"], "Familienkasse");
    assert_eq!(contacts[0]["on"], today.as_str());
    let web: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "web:bernd")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(web, ["contact", "contribution"]);
    let page = d.get(&format!("/vorgaenge/{n}"), Some(&s)).await;
    assert!(page.body.contains("Klärungsarbeit"), "{}", page.body);
    let id = contacts[0]["id"].as_i64().unwrap();
    assert!(page.body.contains(&remove_form), "{}", page.body);
    assert!(
        page.body.contains(&format!(
            "<option value=\"{id}\">Nr. {id}: {today}, Familienkasse"
        )),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("&lt;b&gt;Rückfrage Kindergeld&lt;&#x2f;b&gt;")
            || page
                .body
                .contains("&lt;b&gt;Rückfrage Kindergeld&lt;/b&gt;"),
        "{}",
        page.body
    );

    // A contact recorded by mistake: an id the case lacks is refused beside the form, the
    // right one removed, audited as the account and no longer offered.
    let r = act(
        &d,
        &s,
        &n,
        "contact-remove",
        &[("contact", &(id + 1000).to_string())],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .contains(&format!("hat keinen Kontakt Nr. {}", id + 1000)),
        "{}",
        r.body
    );
    let r = act(&d, &s, &n, "contact-remove", &[("contact", "")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Bitte einen Kontakt wählen."), "{}", r.body);
    // A payload in the field is refused and not echoed.
    let payload = "<script>window.__pwned=1</script>";
    let r = act(&d, &s, &n, "contact-remove", &[("contact", payload)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Bitte einen Kontakt wählen."), "{}", r.body);
    assert!(!r.body.contains("window.__pwned"), "{}", r.body);
    assert_eq!(show_json(&d.w, &n)["contacts"].as_array().unwrap().len(), 1);
    act_ok(
        &d,
        &s,
        &n,
        "contact-remove",
        &[("contact", &id.to_string())],
    )
    .await;
    let v = show_json(&d.w, &n);
    assert!(v["contacts"].as_array().unwrap().is_empty(), "{v}");
    let removed: Vec<&serde_json::Value> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "contact_removed")
        .collect();
    assert_eq!(removed.len(), 1, "{v}");
    assert_eq!(removed[0]["actor"], "web:bernd");
    let page = d.get(&format!("/vorgaenge/{n}"), Some(&s)).await;
    assert!(!page.body.contains(&remove_form), "{}", page.body);
    assert!(page.body.contains("Kontakt entfernt"), "{}", page.body);
}

#[tokio::test]
async fn an_acknowledgement_recorded_by_hand_withdraws_the_waiting_one_and_says_so() {
    let d = Desk::new("wcwithdraw").await;
    d.w.append(&html_mail(&d.w)).await;
    // Intake without sending: the automatic acknowledgement waits in the outbox.
    let app = d.w.app().await;
    krm_intake::daemon::run_once(&app, true)
        .await
        .expect("run --once --no-send");
    let number = d.w.cases().await[0].0.clone();
    d.add_user("anna", Role::Sachbearbeitung, None).await;
    let s = d.login("anna").await;
    let today = krm_intake::calendar::berlin_date(chrono::Utc::now()).to_string();
    let r = act(&d, &s, &number, "ack-recorded", &[("on", &today)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let location = r.header("location");
    assert_sealed(
        location,
        &format!("/vorgaenge/{number}?erledigt=ack-recorded&hinweis=bestaetigung-zurueckgezogen"),
    );
    let page = d.get(location, Some(&s)).await;
    assert!(
        page.body
            .contains("ist zurückgezogen und wird nicht versandt"),
        "{}",
        page.body
    );
    let (status,): (String,) = sqlx::query_as("SELECT status FROM outbox")
        .fetch_one(&d.w.pool)
        .await
        .unwrap();
    assert_eq!(status, "withdrawn");
    // The hint is a fixed key: anything else adds nothing to the notice.
    let other = d
        .get(
            &format!("/vorgaenge/{number}?erledigt=ack-recorded&hinweis=%3Cscript%3E"),
            Some(&s),
        )
        .await;
    assert!(!other.body.contains("zurückgezogen und") && !other.body.contains("<script>"));
    // A notice without its seal (a link someone sent) is not shown: the desk claims nothing
    // that was not done — neither a verb nor a hint, nor a seal of another case or session.
    let z = location.rsplit_once("&z=").unwrap().1;
    for forged in [
        format!("/vorgaenge/{number}?erledigt=discard"),
        format!("/vorgaenge/{number}?erledigt=ack-recorded&hinweis=bestaetigung-zurueckgezogen"),
        format!("/vorgaenge/{number}?erledigt=close&z={z}"),
    ] {
        let page = d.get(&forged, Some(&s)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            !page.body.contains("class=\"notice\"") && !page.body.contains("zurückgezogen und"),
            "{forged}: {}",
            page.body
        );
    }
    let other_session = d.login("anna").await;
    let page = d.get(location, Some(&other_session)).await;
    assert!(
        !page.body.contains("class=\"notice\""),
        "another session's seal"
    );
}

/// A desk where „anna“ (Sachbearbeitung) is signed in, a new case, and its page's form fields:
/// (desk, session, case number, csrf, version, once).
async fn anna_on_a_new_case(name: &str) -> (Desk, String, String, String, String, String) {
    let d = Desk::with_env(name, &[STAFF, STAFF2]).await;
    d.add_user("anna", Role::Sachbearbeitung, Some("Frau Beispiel"))
        .await;
    let s = d.login("anna").await;
    let n = new_case(&d.w, &["--received", "2026-01-05T09:00"]);
    let page = d.get(&format!("/vorgaenge/{n}"), Some(&s)).await;
    let (csrf, version, once) = (
        page.csrf_field(),
        version_of(&page),
        page.hidden_field("once"),
    );
    (d, s, n, csrf, version, once)
}

/// A form sent twice (a double click, a reload of the POST) is stored once: every case form and
/// `/vorgaenge/neu` carry a one-time token; a repeat leads to what the first one did. A refused
/// form frees its token, so the corrected form can be sent.
#[tokio::test]
async fn a_form_sent_twice_is_stored_once() {
    let (d, s, n, csrf, version, once) = anna_on_a_new_case("wconce").await;
    let note = [
        ("csrf", csrf.as_str()),
        ("version", version.as_str()),
        ("once", once.as_str()),
        ("text", "Rückruf vereinbart"),
    ];
    let first = d
        .post(&format!("/vorgaenge/{n}/note"), Some(&s), &note)
        .await;
    assert_sealed(
        first.header("location"),
        &format!("/vorgaenge/{n}?erledigt=note"),
    );
    let again = d
        .post(&format!("/vorgaenge/{n}/note"), Some(&s), &note)
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_sealed(
        again.header("location"),
        &format!("/vorgaenge/{n}?erledigt=doppelt"),
    );
    let shown = d.get(again.header("location"), Some(&s)).await;
    assert!(shown.body.contains("schon abgeschickt"), "{}", shown.body);
    assert_eq!(
        d.w.scalar("SELECT count(*) FROM case_events WHERE action = 'note'")
            .await,
        1
    );

    // Refused (a date in the future): the token is free again for the corrected form.
    let page = d.get(&format!("/vorgaenge/{n}"), Some(&s)).await;
    let (version, once) = (version_of(&page), page.hidden_field("once"));
    let close = |on: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("version", version.clone()),
            ("once", once.clone()),
            ("answered_on", on.to_string()),
        ]
    };
    let form = close("2099-01-01");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = d
        .post(&format!("/vorgaenge/{n}/close"), Some(&s), &form)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let today = krm_intake::staff::ymd(krm_intake::calendar::berlin_date(chrono::Utc::now()));
    let form = [
        ("csrf", csrf.as_str()),
        ("version", version.as_str()),
        ("once", once.as_str()),
        ("answered_on", today.as_str()),
    ];
    let r = d
        .post(&format!("/vorgaenge/{n}/close"), Some(&s), &form)
        .await;
    assert_sealed(
        r.header("location"),
        &format!("/vorgaenge/{n}?erledigt=close"),
    );

    // A new case sent twice: one case; the repeat leads to it.
    let page = d.get("/vorgaenge/neu", Some(&s)).await;
    let once = page.hidden_field("once");
    let form = [
        ("csrf", csrf.as_str()),
        ("once", once.as_str()),
        ("channel", "fax"),
        ("received", "2026-01-07T10:00"),
    ];
    let before = d.w.scalar("SELECT count(*) FROM cases").await;
    let first = d.post("/vorgaenge/neu", Some(&s), &form).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let created = first
        .header("location")
        .split_once("?erledigt=neu")
        .unwrap()
        .0
        .to_string();
    let again = d.post("/vorgaenge/neu", Some(&s), &form).await;
    assert_sealed(
        again.header("location"),
        &format!("{created}?erledigt=doppelt"),
    );
    assert_eq!(d.w.scalar("SELECT count(*) FROM cases").await, before + 1);
}

/// A repeat that arrives while the first request is still running waits for it: when the first
/// is refused, the repeat is handled as a first request (refused too, here), not answered with
/// "schon gespeichert" for an action that never happened (a double click shows the second answer).
#[tokio::test]
async fn a_repeat_waits_for_the_first_request_and_follows_its_outcome() {
    let (d, s, n, csrf, version, once) = anna_on_a_new_case("wcrepeat").await;
    let form = [
        ("csrf", csrf.as_str()),
        ("version", version.as_str()),
        ("once", once.as_str()),
        ("answered_on", "2099-01-01"),
    ];
    let path = format!("/vorgaenge/{n}/close");
    // Someone else holds the case: the first request claims its token, then waits on the row.
    let mut other = d.w.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM cases WHERE number = $1 FOR UPDATE")
        .bind(&n)
        .execute(&mut *other)
        .await
        .unwrap();
    let claimed = || async {
        let (c,): (i64,) = sqlx::query_as("SELECT count(*) FROM form_submissions WHERE token = $1")
            .bind(format!("{once}:close"))
            .fetch_one(&d.w.pool)
            .await
            .unwrap();
        c
    };
    let (first, second, ()) = futures::join!(
        d.post(&path, Some(&s), &form),
        async {
            while claimed().await == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            d.post(&path, Some(&s), &form).await
        },
        async {
            while claimed().await == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            // The repeat is sent and finds the token claimed, not settled.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            sqlx::query("SELECT 1").execute(&mut *other).await.unwrap();
            other.rollback().await.unwrap();
        }
    );
    for (which, r) in [("first", &first), ("repeat", &second)] {
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{which}: {}", r.body);
        assert!(
            r.body.contains("liegt in der Zukunft"),
            "{which}: {}",
            r.body
        );
    }
    assert_eq!(claimed().await, 0, "a refused form's token is free again");
    let (status,): (String,) = sqlx::query_as("SELECT status FROM cases WHERE number = $1")
        .bind(&n)
        .fetch_one(&d.w.pool)
        .await
        .unwrap();
    assert_eq!(status, "open");
}

/// Limits a person can meet: a note of more than a page and an organisation's name of more than
/// a line are refused beside the form (the input kept); what the framework itself refuses (too
/// big, not a form, the wrong method) is a German page, not English plain text.
#[tokio::test]
async fn overlong_input_and_framework_refusals_are_german() {
    let d = Desk::with_env("wclimits", &[STAFF, STAFF2]).await;
    d.add_user("anna", Role::Sachbearbeitung, Some("Frau Beispiel"))
        .await;
    let s = d.login("anna").await;
    let n = new_case(&d.w, &["--received", "2026-01-05T09:00"]);
    let long_note = "x".repeat(krm_intake::staff::MAX_CASE_NOTE_CHARS + 1);
    let r = act(&d, &s, &n, "note", &[("text", &long_note)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .contains("Die Bemerkung ist zu lang (höchstens 10000 Zeichen"),
        "{}",
        r.body
    );
    let r = act(
        &d,
        &s,
        &n,
        "set-third-party",
        &[("organisation", &"O".repeat(201)), ("third_party", "yes")],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("Der Name der Organisation ist zu lang"),
        "{}",
        r.body
    );
    assert_eq!(
        d.w.scalar("SELECT count(*) FROM case_events WHERE action IN ('note', 'set_third_party')")
            .await,
        0
    );

    let german = |r: &Reply, status: StatusCode, words: &str| {
        assert_eq!(r.status, status, "{}", r.body);
        assert!(
            r.header("content-type").starts_with("text/html"),
            "{status}"
        );
        assert!(r.body.contains(words), "{status}: {}", r.body);
        assert!(
            !r.body.contains("Failed to") && !r.body.contains("Form requests"),
            "{}",
            r.body
        );
    };
    let big = "x".repeat(3 * 1024 * 1024);
    let r = d
        .post(&format!("/vorgaenge/{n}/note"), Some(&s), &[("text", &big)])
        .await;
    german(&r, StatusCode::PAYLOAD_TOO_LARGE, "zu groß");
    let r = d
        .send(
            axum::http::Request::post(format!("/vorgaenge/{n}/note"))
                .header(axum::http::header::COOKIE, &s)
                .body(axum::body::Body::from("text=ohne-Formular"))
                .unwrap(),
        )
        .await;
    german(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unerwarteten Form");
    let r = d.get("/logout", Some(&s)).await;
    german(&r, StatusCode::METHOD_NOT_ALLOWED, "Abmelden");
}
