//! Reminder digests (issue 5) over the real servers: composed by `tick` with an injected clock,
//! sent by the outbox through Postfix, read back from the staff mailboxes in Dovecot.

use crate::helpers::*;
use chrono::{DateTime, Utc};
use krm_intake::digest::{tick, TickOutcome};
use std::time::Duration;

const CLERK: &str = "sachbearbeitung@jobcenter.test";

fn at(s: &str) -> DateTime<Utc> {
    format!("{s}Z").parse().expect("UTC instant")
}

fn set_env(w: &mut World, key: &str, value: &str) {
    w.env.retain(|(k, _)| k != key);
    w.env.push((key.to_string(), value.to_string()));
}

async fn digest_keys(w: &World) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT kind, dedupe_key FROM outbox WHERE kind IN ('digest', 'escalation') ORDER BY id",
    )
    .fetch_all(&w.pool)
    .await
    .expect("outbox")
}

async fn digest_count(w: &World) -> i64 {
    w.scalar("SELECT count(*) FROM outbox WHERE kind IN ('digest', 'escalation')")
        .await
}

/// The decoded text of a delivered mail (lettre may have chosen quoted-printable or base64).
fn text_of(raw: &[u8]) -> (String, String) {
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("parsable mail");
    (
        m.subject().unwrap_or_default().to_string(),
        m.body_text(0).unwrap_or_default().to_string(),
    )
}

async fn number_of(w: &World, message_id: &str) -> String {
    let (n,): (String,) = sqlx::query_as(
        "SELECT c.number FROM cases c JOIN messages m ON m.case_id = c.id WHERE m.message_id = $1",
    )
    .bind(message_id)
    .fetch_one(&w.pool)
    .await
    .expect("case of the mail");
    n
}

#[tokio::test]
async fn digests_arrive_once_per_recipient_and_day() {
    let mut w = World::new("digest").await;
    let (team, lead, clerk) = (w.sender(TEAM), w.sender(LEAD), w.sender(CLERK));
    set_env(&mut w, "KRM_DIGEST_TEAM", &team);
    set_env(&mut w, "KRM_DIGEST_LEAD", &lead);
    set_env(&mut w, "KRM_STAFF_SACHBEARBEITUNG", &clerk);

    // Four cases: three from a citizen, one from a counselling centre.
    let citizen = w.sender(CITIZEN);
    let mut mids = Vec::new();
    for (i, subject) in SUBJECTS.iter().enumerate() {
        let mid = format!("<d{i}.{}@mail.test>", w.name);
        let raw = mail(
            &format!("Erika Beispiel <{citizen}>"),
            &w.inbox_address(),
            subject,
            "Guten Tag,\r\nich warte seit Wochen auf Antwort, Musterstraße 12.\r\n\r\nErika Beispiel",
            &mid,
        );
        w.deliver(&citizen, &raw).await;
        mids.push(mid);
    }
    let caritas = w.sender(CARITAS);
    let mid = format!("<d3.{}@caritas-dresden.test>", w.name);
    let raw = mail(
        &caritas,
        &w.inbox_address(),
        "Klientin wartet auf Bescheid",
        "Guten Tag,\r\nunsere Klientin Frau Beispiel wartet.\r\n\r\nCaritas Schuldnerberatung",
        &mid,
    );
    w.deliver(&caritas, &raw).await;
    mids.push(mid);
    let report = w.run_once().await;
    assert_eq!(report.scan.new_cases, 4, "{report:?}");

    let [overdue, today, soon, held] = [0, 1, 2, 3];
    let n: Vec<String> = {
        let mut v = Vec::new();
        for m in &mids {
            v.push(number_of(&w, m).await);
        }
        v
    };
    // Monday 2026-11-30: overdue since Tuesday 24th (4 working days: escalated), due today,
    // due on Wednesday, and one on hold. The overdue one is the clerk's.
    for (i, sql) in [
        (overdue, "UPDATE cases SET due = '2026-11-24', assignee = 'Sachbearbeitung' WHERE number = $1"),
        (today, "UPDATE cases SET due = '2026-11-30' WHERE number = $1"),
        (soon, "UPDATE cases SET due = '2026-12-02' WHERE number = $1"),
        (held, "UPDATE cases SET due = '2026-11-20', status = 'on_hold', hold_since = '2026-11-19T10:00:00Z' WHERE number = $1"),
    ] {
        sqlx::query(sql).bind(&n[i]).execute(&w.pool).await.expect(sql);
    }

    assert_preview_writes_nothing(&w, [&team, &lead, &clerk], &n, &citizen).await;
    let app = assert_composed_once_per_day(&w, [&team, &lead, &clerk]).await;

    // Sent through Postfix into each staff mailbox, exactly once.
    let stats = krm_intake::outbox::drain(&app.pool, &app.sender, &app.settings, true)
        .await
        .unwrap();
    assert_eq!((stats.sent, stats.failed), (3, 0), "{stats:?}");
    let again = krm_intake::outbox::drain(&app.pool, &app.sender, &app.settings, true)
        .await
        .unwrap();
    assert_eq!(again.sent, 0);
    for user in [TEAM, LEAD, CLERK] {
        w.wait_count(user, &w.folder, 1).await;
    }
    let forbidden = |text: &str| assert_no_personal_data(text, &citizen, &caritas);

    assert_team_digest(&w, &n, &forbidden).await;

    let mails = w.fetch_all(CLERK, &w.folder).await;
    assert_eq!(mails.len(), 1);
    let (_, body) = text_of(&mails[0]);
    forbidden(&body);
    assert!(body.contains(&n[overdue]), "{body}");
    for i in [today, soon, held] {
        assert!(
            !body.contains(&n[i]),
            "{} is not the clerk's:\n{body}",
            n[i]
        );
    }

    let mails = w.fetch_all(LEAD, &w.folder).await;
    assert_eq!(mails.len(), 1);
    let (subject, body) = text_of(&mails[0]);
    assert!(
        subject.contains("Eskalation 2026-11-30: 1 Vorgang"),
        "{subject}"
    );
    forbidden(&body);
    assert!(body.contains(&n[overdue]), "{body}");
    for i in [today, soon, held] {
        assert!(!body.contains(&n[i]), "{} is not escalated:\n{body}", n[i]);
    }
}

/// The subjects of the citizen's three mails (never in a digest).
const SUBJECTS: [&str; 3] = [
    "Meine Unterlagen sind verschwunden",
    "Niemand ruft zurück",
    "Bescheid unverständlich",
];

/// No sender, name, address, subject or body text of a mail in a digest.
fn assert_no_personal_data(text: &str, citizen: &str, caritas: &str) {
    for s in [
        citizen,
        caritas,
        "buerger",
        "Erika",
        "Beispiel",
        "Musterstraße",
        "warte seit Wochen",
        "Klientin wartet",
    ] {
        assert!(!text.contains(s), "{s:?} in a digest:\n{text}");
    }
    for s in SUBJECTS {
        assert!(!text.contains(s), "{s:?} in a digest:\n{text}");
    }
}

/// `digest --preview` shows every recipient and every case, no personal data, and writes nothing.
async fn assert_preview_writes_nothing(
    w: &World,
    recipients: [&String; 3],
    n: &[String],
    citizen: &str,
) {
    let [team, lead, clerk] = recipients;
    let [overdue, today, soon, held] = [0, 1, 2, 3];
    // The preview shows every recipient and writes nothing.
    let out = w
        .command()
        .args(["digest", "--preview", "--date", "2026-11-30"])
        .output()
        .expect("run digest --preview");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for s in [
        team,
        lead,
        clerk,
        &n[overdue],
        &n[today],
        &n[soon],
        &n[held],
    ] {
        assert!(stdout.contains(s.as_str()), "{s} missing in\n{stdout}");
    }
    assert!(!stdout.contains("kein Arbeitstag"), "{stdout}");
    assert!(
        !stdout.contains(citizen) && !stdout.contains("Erika"),
        "{stdout}"
    );
    let out = w
        .command()
        .args(["digest", "--preview", "--date", "2026-11-28"])
        .output()
        .expect("run digest --preview");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("2026-11-28 ist kein Arbeitstag (Samstag)"),
        "{stdout}"
    );
    assert_eq!(digest_count(w).await, 0);
    assert_eq!(w.scalar("SELECT count(*) FROM digest_runs").await, 0);
}

/// Before 07:30 Berlin nothing; at 07:30 one digest per recipient; never again, not after a
/// restart, not even with the day's marker gone. Returns the application for sending.
async fn assert_composed_once_per_day(
    w: &World,
    recipients: [&String; 3],
) -> krm_intake::daemon::App {
    let [team, lead, clerk] = recipients;
    // Before 07:30 Berlin (CET: 06:30 UTC) nothing; at 07:30 one per recipient; never again.
    let app = w.app().await;
    let r = tick(&app, at("2026-11-30T06:29:59")).await.unwrap();
    assert_eq!(r.outcome, TickOutcome::BeforeTime);
    assert_eq!(digest_count(w).await, 0);
    let r = tick(&app, at("2026-11-30T06:30:00")).await.unwrap();
    assert_eq!((r.outcome, r.enqueued), (TickOutcome::Composed, 3), "{r:?}");
    let r = tick(&app, at("2026-11-30T06:31:00")).await.unwrap();
    assert_eq!((r.outcome, r.enqueued), (TickOutcome::AlreadyDone, 0));
    drop(app);
    let app = w.app().await; // a restart
    let r = tick(&app, at("2026-11-30T12:00:00")).await.unwrap();
    assert_eq!(r.outcome, TickOutcome::AlreadyDone);
    // Even with the day's marker gone, the outbox keys hold: nothing new.
    sqlx::query("DELETE FROM digest_runs")
        .execute(&w.pool)
        .await
        .unwrap();
    let r = tick(&app, at("2026-11-30T12:00:30")).await.unwrap();
    assert_eq!(
        (r.outcome, r.enqueued, r.duplicates),
        (TickOutcome::Composed, 0, 3)
    );
    let keys = digest_keys(w).await;
    let lc = |a: &str| a.to_lowercase();
    assert_eq!(
        keys,
        [
            (
                "digest".to_string(),
                format!("digest:{}:2026-11-30", lc(team))
            ),
            (
                "digest".to_string(),
                format!("digest:{}:2026-11-30", lc(clerk))
            ),
            (
                "escalation".to_string(),
                format!("escalation:{}:2026-11-30", lc(lead))
            ),
        ]
    );
    app
}

/// The team's digest: one mail, auto-generated, every case with its state, no personal data.
async fn assert_team_digest(w: &World, n: &[String], forbidden: &dyn Fn(&str)) {
    let [overdue, today, soon, held] = [0, 1, 2, 3];
    let mails = w.fetch_all(TEAM, &w.folder).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        header(&mails[0], "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    let (subject, body) = text_of(&mails[0]);
    assert!(
        subject.contains("Tagesübersicht 2026-11-30: 1 überfällig, 1 heute fällig, 1 bald fällig"),
        "{subject}"
    );
    forbidden(&format!("{subject}\n{body}"));
    forbidden(&String::from_utf8_lossy(&mails[0]));
    for i in [overdue, today, soon, held] {
        assert!(body.contains(&n[i]), "{} missing in\n{body}", n[i]);
    }
    assert!(
        body.contains("4 Arbeitstage überfällig (an die Leitung gemeldet)"),
        "{body}"
    );
    let (org,): (Option<String>,) =
        sqlx::query_as("SELECT organisation FROM cases WHERE number = $1")
            .bind(&n[held])
            .fetch_one(&w.pool)
            .await
            .unwrap();
    let org = org.expect("the sender rules know the Caritas domain");
    assert!(
        body.contains(&format!("{}  {org} ·", n[held])),
        "{org}: {body}"
    );
    assert!(body.contains("Bürger/in (ohne Dritte)"), "{body}");
    assert!(
        body.contains("RUHEND") && body.contains("ruhend seit 2026-11-19"),
        "{body}"
    );
}

#[tokio::test]
async fn working_days_dst_late_start_and_two_instances() {
    let mut w = World::new("digestdays").await;
    let team = w.sender(TEAM);
    set_env(&mut w, "KRM_DIGEST_TEAM", &team);
    set_env(&mut w, "KRM_DIGEST_SEND_EMPTY", "true");
    let app = w.app().await;

    // Saturday, Buß- und Bettag, the closing day 24 December, the DST Sundays: nothing.
    for t in [
        "2026-11-28T10:00:00",
        "2026-11-18T10:00:00",
        "2026-12-24T10:00:00",
        "2026-03-29T10:00:00",
        "2026-10-25T10:00:00",
    ] {
        let r = tick(&app, at(t)).await.unwrap();
        assert_eq!(r.outcome, TickOutcome::NotWorkingDay, "{t}");
    }
    // Monday after the spring change: 07:30 CEST is 05:30 UTC.
    let r = tick(&app, at("2026-03-30T05:29:59")).await.unwrap();
    assert_eq!(r.outcome, TickOutcome::BeforeTime);
    let r = tick(&app, at("2026-03-30T05:30:00")).await.unwrap();
    assert_eq!((r.outcome, r.enqueued), (TickOutcome::Composed, 1));
    // Monday after the autumn change: 06:30 UTC is 07:30 CET; 05:30 UTC is only 06:30.
    let r = tick(&app, at("2026-10-26T05:30:00")).await.unwrap();
    assert_eq!(r.outcome, TickOutcome::BeforeTime);
    let r = tick(&app, at("2026-10-26T06:30:00")).await.unwrap();
    assert_eq!((r.outcome, r.enqueued), (TickOutcome::Composed, 1));
    let r = tick(&app, at("2026-10-26T06:30:30")).await.unwrap();
    assert_eq!(r.outcome, TickOutcome::AlreadyDone);
    // A daemon that was down at 07:30 and starts at 09:10: sends then, once.
    let r = tick(&app, at("2026-11-26T08:10:00")).await.unwrap();
    assert_eq!((r.outcome, r.enqueued), (TickOutcome::Composed, 1));
    let r = tick(&app, at("2026-11-26T08:10:30")).await.unwrap();
    assert_eq!(r.outcome, TickOutcome::AlreadyDone);
    // Missed days are not made up: Friday's tick sends Friday's digest only.
    let r = tick(&app, at("2026-11-27T15:00:00")).await.unwrap();
    assert_eq!((r.outcome, r.enqueued), (TickOutcome::Composed, 1));

    // Two instances ticking at the same moment: one composes, the other finds it done.
    let other = w.app().await;
    let t = at("2026-12-01T07:00:00");
    let (a, b) = tokio::join!(tick(&app, t), tick(&other, t));
    let mut outcomes = [a.unwrap().outcome, b.unwrap().outcome];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, [TickOutcome::AlreadyDone, TickOutcome::Composed]);

    let lc = team.to_lowercase();
    let keys: Vec<String> = digest_keys(&w).await.into_iter().map(|(_, k)| k).collect();
    assert_eq!(
        keys,
        [
            "2026-03-30",
            "2026-10-26",
            "2026-11-26",
            "2026-11-27",
            "2026-12-01"
        ]
        .map(|d| format!("digest:{lc}:{d}"))
    );
}

#[tokio::test]
async fn a_refused_recipient_fails_with_the_servers_answer() {
    let w = World::with_env(
        "digestrefused",
        &[
            ("KRM_DIGEST_TEAM", "team@example.org"),
            ("KRM_DIGEST_SEND_EMPTY", "true"),
        ],
    )
    .await;
    let app = w.app().await;
    let r = tick(&app, at("2026-12-01T07:00:00")).await.unwrap();
    assert_eq!(r.enqueued, 1);
    let stats = krm_intake::outbox::drain(&app.pool, &app.sender, &app.settings, true)
        .await
        .unwrap();
    assert_eq!((stats.sent, stats.failed), (0, 1), "{stats:?}");
    let (status, code, error): (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT status, last_code, last_error FROM outbox WHERE kind = 'digest'")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    let code = code.unwrap_or_default();
    assert!(code.starts_with('5'), "{code} / {error:?}");
    assert!(error.unwrap_or_default().to_lowercase().contains("relay"));
}

/// The daemon's own scheduler (not `tick` called by the test): `krm-intake run` composes the
/// day's digest at start and the outbox sends it once. The scheduler's clock is pinned to noon
/// of the next working day (`KRM_TEST_NOW`), so the test does not depend on the weekday.
#[tokio::test]
async fn the_running_daemon_composes_and_sends_the_digest_once() {
    let mut w = World::new("digestrun").await;
    let team = w.sender(TEAM);
    set_env(&mut w, "KRM_DIGEST_TEAM", &team);
    set_env(&mut w, "KRM_DIGEST_SEND_EMPTY", "true");
    set_env(&mut w, "KRM_DIGEST_TIME", "07:30");
    let cal = w.settings().deadlines.calendar();
    let mut day = krm_intake::calendar::berlin_date(Utc::now());
    while !cal.is_working_day(day) {
        day = day.succ_opt().unwrap();
    }
    let now = format!("{day}T11:00:00Z");
    let (from, raw) = (
        w.sender(CITIZEN),
        mail(
            &format!("Erika Beispiel <{}>", w.sender(CITIZEN)),
            &w.inbox_address(),
            "Frage zum Bescheid",
            "Guten Tag,\r\nich warte auf Antwort.\r\n",
            &format!("<dr.{}@mail.test>", w.name),
        ),
    );
    w.deliver(&from, &raw).await;
    w.prepare_folder(TEAM, &w.folder).await;

    let mut p = crate::ops::daemon(&w, &[("KRM_LOG_LEVEL", "info"), ("KRM_TEST_NOW", &now)]);
    assert!(
        p.wait_log("reminder digests composed", Duration::from_secs(60))
            .await,
        "{}",
        p.log()
    );
    w.wait_count(TEAM, &w.folder, 1).await;
    // A second daemon start the same day composes nothing again.
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(15)).await.is_some());
    let mut p2 = crate::ops::daemon(&w, &[("KRM_LOG_LEVEL", "info"), ("KRM_TEST_NOW", &now)]);
    assert!(
        p2.wait_log("holding the intake lock", Duration::from_secs(60))
            .await,
        "{}",
        p2.log()
    );
    w.wait_scalar("SELECT count(*) FROM outbox WHERE status = 'sent'", 2)
        .await;
    p2.signal(libc::SIGTERM);
    assert!(p2.wait_exit(Duration::from_secs(15)).await.is_some());
    assert!(
        !p2.log().contains("reminder digests composed"),
        "{}",
        p2.log()
    );
    assert_eq!(digest_count(&w).await, 1);
    assert_eq!(
        w.count_settled(TEAM, &w.folder).await,
        1,
        "one digest in the team's mailbox"
    );
    let mails = w.fetch_all(TEAM, &w.folder).await;
    let (subject, _) = text_of(&mails[0]);
    assert!(!subject.is_empty());
    w.assert_private(&(p.log() + &p2.log()));
}
