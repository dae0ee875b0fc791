//! The staff CLI (issue 6) through the real binary: cases from the real IMAP intake and by
//! hand, every command's audit rows, refused transitions, list filters and the JSON objects.

use crate::helpers::*;
use chrono::{FixedOffset, TimeZone};
use serde_json::Value;
use std::process::Output;

/// Runs `krm-intake ARGS` with the world's environment as OS user `sachbearbeitung`.
/// The database is reached without TLS: each process opens new connections, and the TLS
/// handshake would dominate the run time of a test that starts the binary hundreds of times.
pub fn krm<S: AsRef<std::ffi::OsStr>>(w: &World, args: &[S]) -> Output {
    let mut c = w.command();
    c.env("KRM_DATABASE_URL", format!("{}?sslmode=disable", w.db_url))
        .env("USER", "sachbearbeitung")
        .args(args);
    c.output().expect("run krm-intake")
}

pub fn ok(w: &World, args: &[&str]) -> String {
    let out = krm(w, args);
    assert!(
        out.status.success(),
        "krm-intake {args:?} failed ({:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs a command that must be refused (exit 1); returns its German message.
pub fn refused(w: &World, args: &[&str]) -> String {
    fails_with(w, args, 1)
}

/// Runs a command that must fail with exit `code` (1 refused, 2 bad input); returns its German
/// message.
pub fn fails_with(w: &World, args: &[&str], code: i32) -> String {
    let out = krm(w, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "krm-intake {args:?} should fail with {code}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn json(w: &World, args: &[&str]) -> Value {
    serde_json::from_str(&ok(w, args)).expect("JSON output")
}

/// actor, stated_by, action, detail (the field), old_value, new_value
type AuditRow = (
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn berlin() -> FixedOffset {
    FixedOffset::east_opt(3600).unwrap()
}

fn with_attachment(w: &World, from: &str, mid: &str) -> Vec<u8> {
    format!(
        "From: Max Muster <{from}>\r\nTo: {to}\r\nSubject: Bescheid fehlt\r\nMessage-ID: {mid}\r\n\
         Date: Mon, 09 Jan 2017 09:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Guten Tag,\r\nich warte seit acht Wochen auf meinen Bescheid.\r\n\r\nViele Grüße\r\nMax Muster\r\n\
         --b1\r\nContent-Type: application/pdf; name=\"bescheid.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"bescheid.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQKJcTl8uXrCg==\r\n--b1--\r\n",
        to = w.inbox_address()
    )
    .into_bytes()
}

#[tokio::test]
async fn staff_work_a_mail_case_from_intake_to_close_with_an_audit_trail() {
    let w = World::with_env(
        "staffflow",
        &[("KRM_STAFF_Anna", "sachbearbeitung@jobcenter.test")],
    )
    .await;
    let from = w.sender(CITIZEN);
    let mid = format!("<att.{}@mail.test>", w.name);
    let at = berlin().with_ymd_and_hms(2017, 1, 9, 9, 0, 0).unwrap();
    w.append_at(&with_attachment(&w, &from, &mid), at).await;
    let r = w.run_once().await;
    assert_eq!(r.scan.new_cases, 1);
    let n = "KRM-2017-00001";

    assert_listed_as_new(&w, n, &mid);
    work_the_case(&w, n);
    assert_audit_trail(&w).await;
    assert_shown(&w, n, &from);
    assert_invalid_transitions_write_nothing(&w, n).await;

    // Reopen, reclassify as praise: the assessment goes, and praise cannot be assessed.
    ok(&w, &["case", "reopen", n]);
    let out = ok(&w, &["case", "classify", n, "--kind", "lob"]);
    assert!(out.contains("begründet: ja → –"), "{out}");
    let e = refused(&w, &["case", "assess", n, "--justified", "yes"]);
    assert!(e.contains("ist als Lob eingestuft; nur Beschwerden"), "{e}");
    // Nothing to change is no error and writes nothing.
    let before = w.scalar("SELECT count(*) FROM case_events").await;
    assert_eq!(
        ok(&w, &["case", "classify", n, "--kind", "lob"]),
        format!("{n}: keine Änderung\n")
    );
    assert_eq!(w.scalar("SELECT count(*) FROM case_events").await, before);
}

/// The list object of a new mail case: documented keys, the first mail's Message-ID, Berlin dates.
fn assert_listed_as_new(w: &World, n: &str, mid: &str) {
    // The list object: documented keys, the first mail's Message-ID, dates as Berlin dates.
    let list = json(w, &["case", "list", "--json"]);
    let c = &list.as_array().unwrap()[0];
    assert_eq!(c["number"], n);
    assert_eq!(c["message_id"], mid);
    assert_eq!(c["channel"], "ombudsstelle");
    assert_eq!(c["received_at"], "2017-01-09T09:00:00+01:00");
    assert_eq!(c["status"], "open");
    assert_eq!(c["due"], "2017-01-23");
    assert_eq!(c["ack_due"], "2017-01-12");
    for key in [
        "organisation",
        "category",
        "kind",
        "justified",
        "closed_at",
        "assignee",
    ] {
        assert!(c[key].is_null(), "{key}: {}", c[key]);
    }
    assert_eq!(c["third_party"], false);
    assert_eq!(c["topics"], serde_json::json!([]));
}

/// Classify, assess, assign, note, set the organisation, hold, resume, close.
fn work_the_case(w: &World, n: &str) {
    // Work the case; every change is one audit row with OS user and stated name.
    let out = ok(
        w,
        &[
            "case",
            "classify",
            n,
            "--kind",
            "beschwerde",
            "--topic",
            "bearbeitungsdauer",
            "--topic",
            "Kosten der Unterkunft",
            "--by",
            "Anna Beispiel",
        ],
    );
    assert_eq!(
        out,
        format!(
            "{n}: Art: – → Beschwerde\n{n}: Themen: – → Bearbeitungsdauer, Kosten der Unterkunft\n"
        )
    );
    ok(
        w,
        &[
            "case",
            "assess",
            n,
            "--justified",
            "yes",
            "--by",
            "Anna Beispiel",
        ],
    );
    ok(w, &["case", "assign", n, "anna"]);
    ok(w, &["case", "note", n, "Rückruf am Montag vereinbart"]);
    ok(
        w,
        &[
            "case",
            "set-third-party",
            n,
            "--organisation",
            "Caritas Schuldnerberatung",
            "--category",
            "Beratungsstelle",
        ],
    );
    ok(w, &["case", "hold", n]);
    ok(w, &["case", "resume", n]);
    let out = ok(w, &["case", "close", n, "--answered-on", "2017-01-20"]);
    assert!(out.contains("Status: offen → abgeschlossen"), "{out}");
    assert!(out.contains("Antwort versandt am: – → 2017-01-20"), "{out}");
}

/// One audit row per change, with OS user and stated name.
async fn assert_audit_trail(w: &World) {
    let events: Vec<AuditRow> = sqlx::query_as(
        "SELECT actor, stated_by, action, detail, old_value, new_value FROM case_events
             WHERE actor <> 'krm-intake' ORDER BY id",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    let by_field = |field: &str| {
        events
            .iter()
            .filter(|e| e.3.as_deref() == Some(field))
            .collect::<Vec<_>>()
    };
    let kind = by_field("kind");
    assert_eq!(kind.len(), 1);
    assert_eq!(kind[0].0, "sachbearbeitung");
    assert_eq!(kind[0].1.as_deref(), Some("Anna Beispiel"));
    assert_eq!(kind[0].2, "classify");
    assert_eq!(
        (kind[0].4.as_deref(), kind[0].5.as_deref()),
        (None, Some("beschwerde"))
    );
    assert_eq!(by_field("justified")[0].5.as_deref(), Some("true"));
    assert_eq!(by_field("assignee")[0].5.as_deref(), Some("Anna"));
    assert_eq!(by_field("status").len(), 3); // hold, resume, close
    assert!(events
        .iter()
        .any(|e| e.2 == "note" && e.5.as_deref() == Some("Rückruf am Montag vereinbart")));
}

/// `case show` (text, --body, --json) of the worked case.
fn assert_shown(w: &World, n: &str, from: &str) {
    // show: the mail with its attachment, and the timeline.
    let text = ok(w, &["case", "show", n]);
    for needle in [
        "Vorgang KRM-2017-00001",
        "abgeschlossen",
        "Bearbeitungsdauer, Kosten der Unterkunft",
        "Caritas Schuldnerberatung (Beratungsstelle) [von Hand gesetzt]",
        &format!("Von: Max Muster <{from}>"),
        "Betreff: Bescheid fehlt",
        "bescheid.pdf (application/pdf",
        "sachbearbeitung (Kommandozeile, angegeben: Anna Beispiel)  eingestuft: Art: – → Beschwerde",
        "Bemerkung: „Rückruf am Montag vereinbart“",
        "Antwort am 2017-01-20",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(
        !text.contains("ich warte seit acht Wochen"),
        "body only with --body"
    );
    assert!(ok(w, &["case", "show", n, "--body"]).contains("| ich warte seit acht Wochen"));

    let shown = json(w, &["case", "show", n, "--json"]);
    assert_eq!(shown["number"], n);
    assert_eq!(shown["kind"], "beschwerde");
    assert_eq!(shown["justified"], true);
    assert_eq!(
        shown["topics"],
        serde_json::json!(["Bearbeitungsdauer", "Kosten der Unterkunft"])
    );
    assert_eq!(shown["answered_on"], "2017-01-20");
    assert!(shown["closed_at"].is_string());
    let m = &shown["messages"][0];
    assert_eq!(m["from"], from);
    assert_eq!(m["attachments"][0]["name"], "bescheid.pdf");
    assert!(m.get("text").is_none());
    let ev = shown["events"].as_array().unwrap();
    assert!(ev.iter().any(|e| e["action"] == "assess"
        && e["field"] == "justified"
        && e["stated_by"] == "Anna Beispiel"));
}

/// Invalid transitions: clear German errors, exit 1, nothing written.
async fn assert_invalid_transitions_write_nothing(w: &World, n: &str) {
    // Invalid transitions: clear German errors, exit 1, nothing written.
    let before = w.scalar("SELECT count(*) FROM case_events").await;
    assert!(refused(w, &["case", "close", n]).contains("bereits abgeschlossen"));
    assert!(refused(w, &["case", "show", "KRM-2017-00999"])
        .contains("Vorgang KRM-2017-00999 gibt es nicht"));
    assert!(refused(w, &["case", "hold", "KRM-17"]).contains("keine Vorgangsnummer"));
    assert!(refused(w, &["case", "assign", n, "Bernd"])
        .contains("Zuständige laut Konfiguration ([staff]): Anna"));
    let e = refused(w, &["case", "classify", n, "--topic", "Mondflug"]);
    assert!(
        e.contains("Unbekanntes Thema „Mondflug“") && e.contains("Umzug"),
        "{e}"
    );
    let e = refused(
        w,
        &[
            "case",
            "classify",
            n,
            "--topic",
            "Umzug",
            "--topic",
            "Mietkaution",
            "--topic",
            "Datenschutz",
            "--topic",
            "Sonstiges",
        ],
    );
    assert!(e.contains("Höchstens 3 Themen"), "{e}");
    assert!(refused(
        w,
        &[
            "case",
            "classify",
            n,
            "--topic",
            "Eingliederungsvereinbarung"
        ]
    )
    .contains("nicht mehr vergeben"));
    assert_eq!(w.scalar("SELECT count(*) FROM case_events").await, before);
}

#[tokio::test]
async fn cases_by_letter_and_phone_are_numbered_by_their_berlin_year() {
    let w = World::new("staffnew").await;
    // 00:30 on 1 January in Berlin is still 31 December in UTC: a 2018 number.
    let out = ok(
        &w,
        &[
            "case",
            "new",
            "--channel",
            "brief",
            "--received",
            "2018-01-01T00:30",
            "--kind",
            "anregung",
            "--topic",
            "Erreichbarkeit",
        ],
    );
    assert!(
        out.starts_with("Neuer Vorgang KRM-2018-00001 erfasst."),
        "{out}"
    );
    let out = ok(
        &w,
        &[
            "case",
            "new",
            "--channel",
            "telefon",
            "--received",
            "2017-12-31T23:30",
            "--organisation",
            "Arbeitsloseninitiative Dresden",
            "--category",
            "Verein/Initiative",
            "--ack-sent",
            "2018-01-02",
            "--by",
            "Anna Beispiel",
        ],
    );
    assert!(
        out.starts_with("Neuer Vorgang KRM-2017-00001 erfasst."),
        "{out}"
    );
    let c = json(&w, &["case", "show", "KRM-2017-00001", "--json"]);
    assert_eq!(c["channel"], "telefon");
    assert_eq!(c["received_at"], "2017-12-31T23:30:00+01:00");
    assert!(c["message_id"].is_null());
    assert_eq!(c["third_party"], true);
    assert_eq!(c["organisation"], "Arbeitsloseninitiative Dresden");
    assert_eq!(c["ack_status"], "manual");
    // Received Sunday 31 Dec: ack due 3 working days later (1 Jan holiday) = 4 Jan;
    // 14 days = Sunday 14 Jan, § 193 BGB: Monday 15 Jan.
    assert_eq!(c["ack_due"], "2018-01-04");
    assert_eq!(c["due"], "2018-01-15");
    let ev = c["events"].as_array().unwrap();
    assert_eq!(ev[0]["action"], "created");
    assert_eq!(ev[0]["stated_by"], "Anna Beispiel");
    let letter = json(&w, &["case", "show", "KRM-2018-00001", "--json"]);
    assert_eq!(letter["ack_status"], "none");
    assert_eq!(letter["third_party"], false);
    assert_eq!(letter["kind"], "anregung");
    // A receipt entered with its day only reads as that day, not as "00:00".
    let eingang = |n: &str| -> String {
        let text = ok(&w, &["case", "show", n]);
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("Eingang:"));
        line.unwrap_or_else(|| panic!("{text}")).to_string()
    };
    assert!(eingang("KRM-2017-00001").ends_with(" 2017-12-31 23:30"));
    let day = [
        "case",
        "new",
        "--channel",
        "brief",
        "--received",
        "2017-05-02",
    ];
    assert!(ok(&w, &day).starts_with("Neuer Vorgang KRM-2017-00002 erfasst."));
    assert!(eingang("KRM-2017-00002").ends_with(" 2017-05-02"));

    assert!(refused(
        &w,
        &[
            "case",
            "new",
            "--channel",
            "telefon",
            "--received",
            "2999-01-01"
        ]
    )
    .contains("Zukunft"));
    assert!(refused(
        &w,
        &["case", "new", "--channel", "fax", "--received", "gestern"]
    )
    .contains("kein Eingangszeitpunkt"));
    assert!(refused(
        &w,
        &[
            "case",
            "new",
            "--channel",
            "fax",
            "--received",
            "2017-05-01",
            "--ack-sent",
            "2017-04-30"
        ]
    )
    .contains("liegt nicht zwischen Eingang"));
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 3);
}

#[tokio::test]
async fn list_filters_combine_and_json_is_one_array() {
    let w = World::with_env(
        "stafflist",
        &[("KRM_STAFF_Anna", "sachbearbeitung@jobcenter.test")],
    )
    .await;
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%Y-%m-%d")
        .to_string();
    // 1: old, open, Caritas, complaint; 2: old, closed; 3: today, open, unclassified;
    // 4: discarded.
    ok(
        &w,
        &[
            "case",
            "new",
            "--channel",
            "brief",
            "--received",
            "2017-03-01",
            "--organisation",
            "Caritas Schuldnerberatung",
            "--kind",
            "beschwerde",
        ],
    );
    ok(
        &w,
        &[
            "case",
            "new",
            "--channel",
            "brief",
            "--received",
            "2017-03-02",
            "--kind",
            "lob",
        ],
    );
    ok(
        &w,
        &["case", "new", "--channel", "telefon", "--received", &today],
    );
    ok(
        &w,
        &[
            "case",
            "new",
            "--channel",
            "fax",
            "--received",
            "2017-03-03",
        ],
    );
    let this_year = &today[..4];
    let n3 = format!("KRM-{this_year}-00001");
    ok(
        &w,
        &[
            "case",
            "close",
            "KRM-2017-00002",
            "--answered-on",
            "2017-03-10",
        ],
    );
    ok(
        &w,
        &[
            "case",
            "discard",
            "KRM-2017-00003",
            "--reason",
            "fehlgeleitet",
        ],
    );
    ok(&w, &["case", "assign", &n3, "Anna"]);

    let numbers = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["case", "list", "--json"];
        a.extend_from_slice(args);
        json(&w, &a)
            .as_array()
            .expect("one array")
            .iter()
            .map(|c| c["number"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(numbers(&[]).len(), 4);
    assert_eq!(numbers(&["--open"]), ["KRM-2017-00001", n3.as_str()]);
    assert_eq!(numbers(&["--overdue"]), ["KRM-2017-00001"]);
    assert_eq!(numbers(&["--due-within", "15"]), [n3.as_str()]);
    assert_eq!(numbers(&["--organisation", "caritas"]), ["KRM-2017-00001"]);
    assert_eq!(numbers(&["--kind", "lob"]), ["KRM-2017-00002"]);
    assert_eq!(
        numbers(&["--kind", "keine", "--status", "open"]),
        [n3.as_str()]
    );
    assert_eq!(numbers(&["--assignee", "Anna"]), [n3.as_str()]);
    assert_eq!(
        numbers(&["--from", "2017-03-02", "--to", "2017-03-03"]),
        ["KRM-2017-00002", "KRM-2017-00003"]
    );
    assert_eq!(numbers(&["--status", "discarded"]), ["KRM-2017-00003"]);
    assert!(numbers(&["--organisation", "%"]).is_empty());
    assert_eq!(
        json(&w, &["case", "list", "--json", "--kind", "anregung"]),
        serde_json::json!([])
    );

    let text = ok(&w, &["case", "list", "--open"]);
    assert!(text.starts_with("Nummer"), "{text}");
    assert!(text.contains("überfällig seit"), "{text}");
    assert!(text.ends_with("2 Vorgänge\n"), "{text}");
    assert_eq!(
        ok(&w, &["case", "list", "--kind", "anregung"]),
        "Keine passenden Vorgänge.\n"
    );
    assert!(refused(
        &w,
        &["case", "list", "--from", "2017-03-02", "--to", "2017-03-01"]
    )
    .contains("liegt nach"));
}

#[tokio::test]
async fn merge_and_discard_are_kept_and_follow_ups_find_the_surviving_case() {
    let w = World::new("staffmerge").await;
    let from = w.sender(CITIZEN);
    for n in ["m1", "m2"] {
        let raw = mail(
            &from,
            &w.inbox_address(),
            "Umzug",
            &format!("Anliegen {n}"),
            &format!("<{n}.{}@mail.test>", w.name),
        );
        w.append(&raw).await;
    }
    w.run_once().await;
    let cases = w.cases().await;
    let (a, b) = (cases[0].0.clone(), cases[1].0.clone());
    assert!(refused(&w, &["case", "merge", &a, "--into", &a]).contains("mit sich selbst"));
    let out = ok(
        &w,
        &["case", "merge", &b, "--into", &a, "--by", "Anna Beispiel"],
    );
    assert!(
        out.contains(&format!("zusammengeführt in: – → {a}")),
        "{out}"
    );
    assert!(refused(&w, &["case", "classify", &b, "--kind", "lob"])
        .contains(&format!("in {a} zusammengeführt")));
    assert!(refused(&w, &["case", "merge", &a, "--into", &b]).contains("zusammengeführt"));
    let shown = json(&w, &["case", "show", &a, "--json"]);
    assert!(shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "merged_from" && e["new_value"] == b.as_str()));
    assert_eq!(
        json(&w, &["case", "show", &b, "--json"])["merged_into"],
        a.as_str()
    );

    // A reply to the merged case's mail lands on the surviving case.
    let reply = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: AW: Umzug\r\nMessage-ID: <m3.{n}@mail.test>\r\nIn-Reply-To: <m2.{n}@mail.test>\r\n\r\nNoch etwas.\r\n",
        to = w.inbox_address(),
        n = w.name
    );
    w.append(reply.as_bytes()).await;
    let r = w.run_once().await;
    assert_eq!(r.scan.followups, 1);
    assert_eq!(
        json(&w, &["case", "show", &a, "--json"])["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    assert!(refused(&w, &["case", "discard", &a, "--reason", " "]).contains("Grund"));
    ok(&w, &["case", "discard", &a, "--reason", "duplikat"]);
    assert!(
        refused(&w, &["case", "discard", &a, "--reason", "spam"]).contains("verworfen (duplikat)")
    );
    ok(&w, &["case", "reopen", &a]);
    assert_eq!(json(&w, &["case", "show", &a, "--json"])["status"], "open");
    // The acknowledgement went out by mail already.
    assert!(
        refused(&w, &["case", "ack-recorded", &a, "--on", "2000-01-01"])
            .contains("bereits per Mail versandt")
    );
}

/// The probe's payload: clears the screen and plants a hyperlink on a terminal that obeys it.
const PAYLOAD: &str = "Body \x1b[2J\x1b]8;;http://evil\x07link\x1b]8;;\x07";

/// A mail carrying the payload (and a right-to-left override) in the body, the subject, the
/// display name, the address and an attachment's file name.
fn hostile_mail(w: &World, mid: &str) -> Vec<u8> {
    // Encoded words and RFC 2231 carry the control characters through the header syntax.
    let q = "=?utf-8?q?Max_=1B[2J=1B]8;;http://evil=07Link=1B]8;;=07_=E2=80=AE?=";
    format!(
        "From: {q} <\"max\u{202e}exe.\"@mail.test>\r\nTo: {to}\r\n\
         Subject: =?utf-8?q?Bescheid_=1B[2J=1B]8;;http://evil=07x=1B]8;;=07_=E2=80=AEfdp?=\r\n\
         Message-ID: {mid}\r\nDate: Mon, 09 Jan 2017 09:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         {PAYLOAD}\r\nzweite Zeile \u{202e}fdp.exe\r\n\r\nViele Grüße\r\n\
         --b1\r\nContent-Type: application/pdf\r\n\
         Content-Disposition: attachment; filename*=utf-8''%1B%5B2J%E2%80%AEfdp.exe\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQKJcTl8uXrCg==\r\n--b1--\r\n",
        to = w.inbox_address()
    )
    .into_bytes()
}

/// What a terminal would act on: ESC, BEL, CSI (C1) and the right-to-left override.
fn assert_neutral(what: &str, text: &str) {
    for (c, name) in [
        ('\x1b', "ESC"),
        ('\x07', "BEL"),
        ('\u{9b}', "CSI"),
        ('\u{202e}', "U+202E"),
    ] {
        assert!(!text.contains(c), "{what}: raw {name} in output:\n{text:?}");
    }
}

#[tokio::test]
async fn mail_and_rules_text_reaches_the_terminal_neutralised() {
    let team = "krm-team@jobcenter.test";
    let w = World::with_env("termesc", &[("KRM_DIGEST_TEAM", team)]).await;
    let mid = format!("<hostile.{}@mail.test>", w.name);
    let raw = hostile_mail(&w, &mid);
    w.append(&raw).await;
    w.run_once().await;
    let number = w.cases().await[0].0.clone();
    let hostile = format!("Verein {PAYLOAD} \u{202e}fdp");
    ok(
        &w,
        &[
            "case",
            "set-third-party",
            &number,
            "--organisation",
            &hostile,
        ],
    );
    ok(
        &w,
        &[
            "case",
            "note",
            &number,
            &format!("Notiz {PAYLOAD} \u{202e}"),
        ],
    );
    sqlx::query("INSERT INTO quarantine (channel, reason, size) VALUES ('mail', $1, 10)")
        .bind(format!("Grund {PAYLOAD} \u{202e}"))
        .execute(&w.pool)
        .await
        .unwrap();

    let show = ok(&w, &["case", "show", &number, "--body"]);
    assert_neutral("case show --body", &show);
    // Every field is there, shown as escapes: body, subject, name, address, file name,
    // organisation, note.
    assert!(
        show.contains("| Body \\x1b[2J\\x1b]8;;http://evil\\x07link\\x1b]8;;\\x07"),
        "{show}"
    );
    assert!(show.contains("zweite Zeile \\u202efdp.exe"), "{show}");
    // The parser already drops control characters from header words; the override stays.
    assert!(
        show.contains("Betreff: Bescheid ") && show.contains("\\u202efdp\n"),
        "{show}"
    );
    assert!(
        show.contains("Von: Max ") && show.contains(" \\u202e <"),
        "{show}"
    );
    assert!(show.contains("max\\u202eexe."), "{show}");
    assert!(show.contains("\\u202efdp.exe (application/pdf"), "{show}");
    assert!(show.contains("Verein Body \\x1b[2J"), "{show}");
    assert!(show.contains("Notiz Body \\x1b[2J"), "{show}");
    assert_neutral("case show", &ok(&w, &["case", "show", &number]));
    let list = ok(&w, &["case", "list"]);
    assert_neutral("case list", &list);
    assert!(list.contains("Verein Body \\x1b[2J"), "{list}");

    // JSON keeps the value (escaped as JSON does) and holds nothing a terminal acts on.
    let shown = ok(&w, &["case", "show", &number, "--json", "--body"]);
    assert_neutral("case show --json", &shown);
    let v: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["organisation"], hostile.as_str());
    assert_neutral("case list --json", &ok(&w, &["case", "list", "--json"]));

    let q = ok(&w, &["quarantine", "list"]);
    assert_neutral("quarantine list", &q);
    assert!(q.contains("Grund Body \\x1b[2J"), "{q}");
    assert_neutral(
        "quarantine list --json",
        &ok(&w, &["quarantine", "list", "--json"]),
    );

    let due = v["due"].as_str().unwrap().to_string();
    let digest = ok(&w, &["digest", "--preview", "--date", &due]);
    assert_neutral("digest --preview", &digest);
    assert!(digest.contains("Verein Body \\x1b[2J"), "{digest}");

    let year = &v["received_date"].as_str().unwrap()[..4];
    for format in ["text", "csv", "json"] {
        let report = ok(&w, &["report", "--year", year, "--format", format]);
        assert_neutral(&format!("report --format {format}"), &report);
    }

    // explain: the mail file and a rules file with the payload in the organisation's name.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("senders.toml"),
        "[[rule]]\nid = \"mail-test\"\n\
         organisation = \"Regel \\u001b[2J\\u001b]8;;http://evil\\u0007x\\u001b]8;;\\u0007 \\u202efdp\"\n\
         category = \"Beratungsstelle\"\nthird_party = true\ndomain = \"mail.test\"\n",
    )
    .unwrap();
    let eml = dir.path().join("hostile.eml");
    std::fs::write(&eml, &raw).unwrap();
    let rules_arg = rules.display().to_string();
    let eml_arg = eml.display().to_string();
    let explained = ok(&w, &["explain", "--rules", &rules_arg, &eml_arg]);
    assert_neutral("explain", &explained);
    assert!(explained.contains("Regel \\x1b[2J"), "{explained}");
    assert!(explained.contains("\\u202efdp"), "{explained}");
    let explained = ok(&w, &["explain", "--json", "--rules", &rules_arg, &eml_arg]);
    assert_neutral("explain --json", &explained);
    let rules_checked = ok(&w, &["rules", "check", &rules_arg]);
    assert_neutral("rules check", &rules_checked);

    // A faulty regex's message names the pattern: the payload in it is shown as escapes.
    std::fs::write(
        rules.join("kaputt.toml"),
        "[[rule]]\nid = \"kaputt\"\norganisation = \"Kaputt\"\n\
         category = \"Beratungsstelle\"\nthird_party = true\n\
         signature = \"re:\\u001b[2J(\"\n",
    )
    .unwrap();
    let out = krm(&w, &["rules", "check", &rules_arg]);
    assert_eq!(out.status.code(), Some(2));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_neutral("rules check with a faulty regex", &said);
    assert!(
        said.contains("„\\x1b[2J(“: die Zeichenklasse „[“ wird nicht geschlossen"),
        "{said}"
    );
}

#[tokio::test]
async fn a_date_header_outside_four_digit_years_is_shown_as_unknown() {
    let w = World::new("baddate").await;
    let cases = [
        ("Fri, 31 Dec 99999 23:59:59 +0000", "a"),
        ("Sat, 01 Jan 0000 10:00:00 +0000", "b"),
    ];
    for (date, tag) in cases {
        let raw = format!(
            "From: Max Muster <buerger@mail.test>\r\nTo: {}\r\nSubject: Datum {tag}\r\n\
             Message-ID: <date.{tag}.{}@mail.test>\r\nDate: {date}\r\n\r\nGuten Tag.\r\n",
            w.inbox_address(),
            w.name
        );
        w.append(raw.as_bytes()).await;
    }
    w.run_once().await;
    let numbers = w.cases().await;
    assert_eq!(numbers.len(), 2);
    for ((date, _), (number, _)) in cases.iter().zip(&numbers) {
        let text = ok(&w, &["case", "show", number]);
        assert!(
            text.contains(&format!("Datum (Kopfzeile): unbekannt („{date}“)")),
            "{text}"
        );
        assert!(
            !text.contains("+10000") && !text.contains("2000-01-01"),
            "{text}"
        );
        let v = json(&w, &["case", "show", number, "--json"]);
        assert_eq!(v["messages"][0]["date"], Value::Null, "{v}");
        assert_eq!(v["messages"][0]["date_raw"], *date, "{v}");
    }
}
