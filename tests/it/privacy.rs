//! Privacy by default (§ 35 SGB I): the binary runs the whole pipeline over real mail and its
//! captured log is searched for what must never be in it — addresses, display names, subjects,
//! body text at info level; passwords at any level, protocol tracing included.

use crate::helpers::*;

const DB_PASSWORD: &str = "db-geheim-7Qx";

struct Scenario {
    w: World,
    /// Strings that must not appear in an info-level log.
    personal: Vec<String>,
    /// Strings that must not appear at any level.
    secrets: Vec<String>,
}

/// Standard base64, for the encoded forms of SMTP AUTH PLAIN / LOGIN.
fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn scenario(name: &str) -> Scenario {
    let mut w = World::new(name).await;
    // Trust authentication ignores the password, so a URL with one still connects — and the
    // password must not leak from it.
    let url = w.db_url.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{DB_PASSWORD}@"),
        1,
    );
    assert_ne!(url, w.db_url, "admin URL has an unexpected form");
    w.env.retain(|(k, _)| k != "KRM_DATABASE_URL");
    w.env.push(("KRM_DATABASE_URL".into(), url));

    let citizen = w.sender(CITIZEN);
    let centre = w.sender(MITTELPUNKT);
    let caritas = w.sender(CARITAS);
    let mails = [
        (
            citizen.clone(),
            mail(
                &format!("Erika Musterfrau <{citizen}>"),
                &w.inbox_address(),
                "Kein Geld seit Oktober",
                "Guten Tag,\r\nmein Weiterbewilligungsantrag liegt seit dem 2. Oktober vor und \
                 ich habe keine Zahlung erhalten.\r\n\r\nErika Musterfrau\r\nLindenweg 7",
                &format!("<p1-{}@mail.test>", w.name),
            ),
        ),
        (
            centre.clone(),
            mail(
                &format!("Beratungsstelle Mittelpunkt <{centre}>"),
                &w.inbox_address(),
                "Beschwerde fuer Herrn Ottokar Zwiebelmann",
                "Sehr geehrte Damen und Herren,\r\nwir beraten Herrn Zwiebelmann, dessen \
                 Mietkostenbescheinigung verloren ging.\r\n\r\nBeratungsstelle Mittelpunkt",
                &format!("<p2-{}@beratung-mittelpunkt.test>", w.name),
            ),
        ),
        (
            caritas.clone(),
            mail(
                &format!("Schuldnerberatung Caritas <{caritas}>"),
                &w.inbox_address(),
                "Anfrage zu Frau Gundula Kesselring",
                "Guten Tag,\r\nFrau Kesselring bittet um Rückruf wegen der Pfändung.\r\n\r\n\
                 Caritas Schuldnerberatung",
                &format!("<p3-{}@caritas-dresden.test>", w.name),
            ),
        ),
    ];
    for (from, raw) in &mails {
        w.deliver(from, raw).await;
    }
    let mut personal: Vec<String> = vec![
        citizen,
        centre,
        caritas,
        CITIZEN.into(),
        "Erika Musterfrau".into(),
        "Musterfrau".into(),
        "Beratungsstelle Mittelpunkt <".into(),
        "Schuldnerberatung Caritas".into(),
        "Kein Geld seit Oktober".into(),
        "Ottokar".into(),
        "Zwiebelmann".into(),
        "Kesselring".into(),
        "Weiterbewilligungsantrag".into(),
        "Mietkostenbescheinigung".into(),
        "Lindenweg".into(),
        "Pfändung".into(),
    ];
    personal.retain(|s| !s.is_empty());
    let imap_pw = var("KRM_IMAP_PASSWORD");
    let smtp_pw = var("KRM_SMTP_PASSWORD");
    let user = var("KRM_SMTP_USERNAME");
    let mut secrets = vec![
        imap_pw.clone(),
        smtp_pw.clone(),
        DB_PASSWORD.to_string(),
        b64(format!("\0{user}\0{smtp_pw}").as_bytes()),
        b64(smtp_pw.as_bytes()),
        b64(imap_pw.as_bytes()),
    ];
    secrets.dedup();
    Scenario {
        w,
        personal,
        secrets,
    }
}

/// Runs `run --once` with the given log settings; returns everything it wrote.
fn run_once(w: &World, level: &str, format: &str) -> String {
    let out = w
        .command()
        .args(["run", "--once"])
        .env("KRM_LOG_LEVEL", level)
        .env("KRM_LOG_FORMAT", format)
        .output()
        .expect("run --once");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    text
}

fn assert_absent(log: &str, needles: &[String], what: &str) {
    for n in needles {
        assert!(
            !log.contains(n.as_str()),
            "{what} {n:?} appears in the log:\n{log}"
        );
    }
}

/// The cases were made and acknowledged: the log is about real work, not an empty run.
async fn assert_worked(s: &Scenario, log: &str) {
    assert_eq!(s.w.scalar("SELECT count(*) FROM cases").await, 3, "{log}");
    let numbers: Vec<(String,)> = sqlx::query_as("SELECT number FROM cases")
        .fetch_all(&s.w.pool)
        .await
        .unwrap();
    for (n,) in numbers {
        assert!(log.contains(&n), "case {n} not in the log:\n{log}");
    }
    assert!(
        s.w.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'")
            .await
            >= 1,
        "{log}"
    );
}

#[tokio::test]
async fn info_log_carries_no_personal_data_and_no_secret() {
    let s = scenario("privtext").await;
    let log = run_once(&s.w, "info", "text");
    assert_worked(&s, &log).await;
    assert!(log.contains("new case"), "{log}");
    assert_absent(&log, &s.personal, "personal data");
    assert_absent(&log, &s.secrets, "secret");
    assert!(!log.contains("debug logging is on"), "{log}");
}

#[tokio::test]
async fn json_log_carries_no_personal_data_and_no_secret() {
    let s = scenario("privjson").await;
    let log = run_once(&s.w, "info", "json");
    assert_worked(&s, &log).await;
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with('{')).collect();
    assert!(lines.len() >= 3, "{log}");
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(
            v.get("level").is_some() && v.get("message").is_some(),
            "{l}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"case\"") && l.contains("\"uid\"")),
        "a line about a mail carries its case number and UID:\n{log}"
    );
    assert_absent(&log, &s.personal, "personal data");
    assert_absent(&log, &s.secrets, "secret");
}

#[tokio::test]
async fn debug_log_warns_and_still_shows_no_secret() {
    let s = scenario("privdebug").await;
    let log = run_once(&s.w, "debug", "text");
    assert_worked(&s, &log).await;
    assert!(log.contains("debug logging is on"), "{log}");
    assert_absent(&log, &s.secrets, "secret");
}

/// Whatever the filter says — even naming the protocol libraries' own modules at trace —
/// SMTP AUTH, IMAP LOGIN and SQL statements stay out of the log.
#[tokio::test]
async fn trace_filter_cannot_open_protocol_logging() {
    let s = scenario("privtrace").await;
    let level = "trace,lettre=trace,lettre::transport::smtp=trace,async_imap=trace,\
                 async_imap::imap_stream=trace,imap_proto=trace,sqlx=trace,sqlx::query=trace,\
                 rustls=trace,tokio_rustls=trace";
    let log = run_once(&s.w, level, "text");
    assert_worked(&s, &log).await;
    assert!(log.contains("debug logging is on"), "{log}");
    assert_absent(&log, &s.secrets, "secret");
    let upper = log.to_uppercase();
    for proto in [
        "AUTH PLAIN",
        "AUTH LOGIN",
        "LOGIN \"",
        "INSERT INTO",
        "EHLO ",
    ] {
        assert!(
            !upper.contains(proto),
            "protocol line {proto:?} in the log:\n{log}"
        );
    }
}

/// The shared log check of every daemon test looks for the right strings: sender address and
/// name, subject, body lines — also behind the text log's colour codes.
#[test]
fn the_shared_log_check_knows_what_is_personal() {
    let raw = mail(
        "\"Erika Musterfrau\" <erika+x1@mail.test>",
        "ombudsstelle+x1@jobcenter.test",
        "Frage zu meinem Bescheid",
        "Guten Tag,\r\nich warte seit Wochen auf Antwort.\r\n",
        "<p1@mail.test>",
    );
    let p = personal_data(&raw);
    for want in [
        "Erika Musterfrau",
        "erika+x1@mail.test",
        "Frage zu meinem Bescheid",
        "ich warte seit Wochen auf Antwort.",
    ] {
        assert!(p.iter().any(|s| s == want), "{want:?} not in {p:?}");
    }
    assert!(
        !p.iter().any(|s| s.contains("ombudsstelle")),
        "the recipient is ours, not personal: {p:?}"
    );
    let coloured = "\u{1b}[3mfrom\u{1b}[0m\u{1b}[2m=\u{1b}[0merika+x1@mail.test";
    assert!(strip_ansi(coloured).contains("from=erika+x1@mail.test"));
}
