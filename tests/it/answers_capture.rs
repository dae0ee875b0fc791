//! Answers captured from the office's sent mail (issue 14 item 1), on the real Dovecot: sent
//! mails APPENDed into a "Gesendet" folder of the Ombudsstelle's account, read by the intake
//! pass read-only.

use crate::helpers::*;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use krm_intake::mailbox::Mailbox;

fn at(y: i32, m: u32, d: u32, h: u32, min: u32, offset_h: i32) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(offset_h * 3600)
        .unwrap()
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A mail the office sent from its own client.
fn sent(to: &str, subject: &str, mid: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: Ombudsstelle <{OMBUDS}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n\
         {extra}Date: Mon, 02 Nov 2026 08:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Sehr geehrte Damen und Herren,\r\nwir antworten Ihnen hiermit.\r\n"
    )
    .into_bytes()
}

struct Fixture {
    /// (case number, sender address, Message-ID of its first mail)
    cases: Vec<(String, String, String)>,
    /// (raw, INTERNALDATE) of the sent mails, in APPEND order.
    sent: Vec<(Vec<u8>, DateTime<FixedOffset>)>,
}

/// Four cases received on 2 November 2026 (three citizens, one counselling centre known by
/// its rule), then run once so they exist.
async fn four_cases(w: &World) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (i, who) in ["erika", "fritz", "gabi", "caritas"].iter().enumerate() {
        let from = if *who == "caritas" {
            CARITAS.to_string()
        } else {
            format!("{who}+{}@mail.test", w.folder)
        };
        let mid = format!("<in{i}.{}@mail.test>", w.name);
        let raw = mail(
            &from,
            &w.inbox_address(),
            &format!("Beschwerde {who}"),
            "Guten Tag,\r\nich beschwere mich über die Bearbeitung.\r\n",
            &mid,
        );
        w.append_at(&raw, at(2026, 11, 2, 9, i as u32, 1)).await;
        out.push((String::new(), from, mid));
    }
    let app = w.app().await;
    krm_intake::daemon::run_once(&app, true)
        .await
        .expect("run --once");
    for c in &mut out {
        let (n,): (String,) = sqlx::query_as(
            "SELECT c.number FROM cases c JOIN messages m ON m.case_id = c.id
             WHERE m.message_id = $1",
        )
        .bind(&c.2)
        .fetch_one(&w.pool)
        .await
        .expect("case of the mail");
        c.0 = n;
    }
    out
}

fn sent_mails(
    w: &World,
    cases: &[(String, String, String)],
) -> Vec<(Vec<u8>, DateTime<FixedOffset>)> {
    let (a, b, c, d) = (&cases[0], &cases[1], &cases[2], &cases[3]);
    let id = |n: &str| format!("<sent-{n}.{}@jobcenter.test>", w.name);
    vec![
        // Case number in the subject; 23:30 UTC is the next day in Berlin.
        (
            sent(
                &a.1,
                &format!("AW: [{}] Ihre Beschwerde", a.0),
                &id("a"),
                "",
            ),
            at(2026, 11, 16, 23, 30, 0),
        ),
        // Only In-Reply-To names the case's mail.
        (
            sent(
                &b.1,
                "AW: Beschwerde fritz",
                &id("b"),
                &format!("In-Reply-To: {}\r\n", b.2),
            ),
            at(2026, 11, 18, 10, 0, 1),
        ),
        // An interim reply.
        (
            sent(
                &c.1,
                &format!("Zwischennachricht zu Ihrer Beschwerde {}", c.0),
                &id("c"),
                "",
            ),
            at(2026, 11, 10, 11, 0, 1),
        ),
        // To a body of the catalogue.
        (
            sent(
                "kindergeld@familienkasse.test",
                &format!("Anfrage zu {}", c.0),
                &id("c2"),
                "",
            ),
            at(2026, 11, 11, 9, 0, 1),
        ),
        // To a Jobcenter team: internal correspondence of case A.
        (
            sent(
                "team-12@jobcenter.test",
                &format!("[{}] interne Rückfrage", a.0),
                &id("a2"),
                "",
            ),
            at(2026, 11, 12, 9, 0, 1),
        ),
        // Unrelated sent mail.
        (
            sent("freundin@mail.test", "Mittagessen am Freitag", &id("x"), ""),
            at(2026, 11, 13, 9, 0, 1),
        ),
        // A case number that does not exist, to a case's sender.
        (
            sent(&a.1, "AW: [KRM-2026-09999] Ihre Anfrage", &id("y"), ""),
            at(2026, 11, 14, 9, 0, 1),
        ),
        // Another person of the counselling centre the rule recognised.
        (
            sent(
                "leitung@caritas-dresden.test",
                &format!("[{}] Antwort", d.0),
                &id("d"),
                "",
            ),
            at(2026, 11, 19, 9, 0, 1),
        ),
    ]
}

async fn append_all(folder: &str, mails: &[(Vec<u8>, DateTime<FixedOffset>)]) {
    let mut mb = login(OMBUDS).await;
    mb.ensure_folder(folder).await.expect("create folder");
    for (raw, t) in mails {
        mb.append_at(folder, raw, Some(*t)).await.expect("APPEND");
    }
    mb.logout().await;
}

/// UIDs, and per system flag the UIDs carrying it: what "unchanged" means for the folder.
async fn folder_look(folder: &str) -> (u32, Vec<u32>, Vec<Vec<u32>>) {
    let mut mb: Mailbox = login(OMBUDS).await;
    let v = mb.examine(folder).await.expect("EXAMINE");
    let uids = mb.all_uids().await.expect("SEARCH");
    let mut flags = Vec::new();
    for f in ["SEEN", "ANSWERED", "FLAGGED", "DELETED", "DRAFT"] {
        flags.push(mb.search(f).await.expect("SEARCH flag"));
    }
    mb.logout().await;
    (v, uids, flags)
}

type Dates = (Option<NaiveDate>, Option<String>, Option<NaiveDate>, String);

async fn dates(w: &World, number: &str) -> Dates {
    sqlx::query_as(
        "SELECT answered_on, answered_source, interim_reply_on, status FROM cases WHERE number = $1",
    )
    .bind(number)
    .fetch_one(&w.pool)
    .await
    .unwrap()
}

async fn out_roles(w: &World) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT c.number, m.role FROM messages m JOIN cases c ON c.id = m.case_id
         WHERE m.direction = 'out' ORDER BY c.number, m.role",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap()
}

async fn run_with(w: &World) {
    let app = w.app().await;
    krm_intake::daemon::run_once(&app, true)
        .await
        .expect("run --once with answers folders");
}

async fn check_first_capture(w: &World, f: &Fixture) {
    let (a, b, c, d) = (&f.cases[0].0, &f.cases[1].0, &f.cases[2].0, &f.cases[3].0);
    let mb = Some("mailbox".to_string());
    assert_eq!(
        dates(w, a).await,
        (Some(day("2026-11-17")), mb.clone(), None, "open".into())
    );
    assert_eq!(
        dates(w, b).await,
        (Some(day("2026-11-18")), mb.clone(), None, "open".into())
    );
    assert_eq!(
        dates(w, c).await,
        (None, None, Some(day("2026-11-10")), "open".into())
    );
    assert_eq!(
        dates(w, d).await,
        (Some(day("2026-11-19")), mb, None, "open".into())
    );
    let mut want = vec![
        (a.clone(), "answer".to_string()),
        (a.clone(), "internal".to_string()),
        (b.clone(), "answer".to_string()),
        (c.clone(), "contact".to_string()),
        (c.clone(), "interim_reply".to_string()),
        (d.clone(), "answer".to_string()),
    ];
    want.sort();
    assert_eq!(out_roles(w).await, want);
    // Nothing of the unrelated mail or the mail naming an unknown case.
    assert_eq!(
        w.scalar(
            "SELECT count(*) FROM messages WHERE subject LIKE '%Mittagessen%'
                OR subject LIKE '%KRM-2026-09999%'"
        )
        .await,
        0
    );
    let contacts: Vec<(String, String, NaiveDate)> = sqlx::query_as(
        "SELECT stelle, source, on_date FROM case_contacts WHERE message_id IS NOT NULL",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    assert_eq!(
        contacts,
        [(
            "Familienkasse".to_string(),
            "mailbox".to_string(),
            day("2026-11-11")
        )]
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM case_events WHERE action = 'answer_captured'")
            .await,
        3
    );
}

#[tokio::test]
async fn sent_mail_becomes_answers_interim_replies_contacts_and_internal_mail() {
    let gesendet = unique("Gesendet");
    let missing = unique("Fehlt");
    let folders = format!("{gesendet},{missing}");
    let w = World::with_env("answers", &[("KRM_ANSWERS_FOLDERS", folders.as_str())]).await;
    let cases = four_cases(&w).await;
    let f = Fixture {
        sent: sent_mails(&w, &cases),
        cases,
    };
    append_all(&gesendet, &f.sent).await;
    let before = folder_look(&gesendet).await;
    assert_eq!(before.1.len(), 8);

    // A folder that does not exist does not stop the rest.
    run_with(&w).await;
    check_first_capture(&w, &f).await;
    assert_eq!(
        folder_look(&gesendet).await,
        before,
        "the answers folder was changed"
    );

    // Again: nothing new, nothing twice.
    run_with(&w).await;
    check_first_capture(&w, &f).await;

    // A new UIDVALIDITY: the folder deleted, created again, the same mails appended plus a
    // later answer to case B.
    let mut mb = login(OMBUDS).await;
    mb.delete_folder(&gesendet).await.expect("DELETE");
    mb.logout().await;
    let mut again = f.sent.clone();
    let b = &f.cases[1];
    again.push((
        sent(
            &b.1,
            &format!("AW: [{}] Nachtrag", b.0),
            "<sent-b2@jobcenter.test>",
            "",
        ),
        at(2026, 11, 25, 9, 0, 1),
    ));
    append_all(&gesendet, &again).await;
    let recreated = folder_look(&gesendet).await;
    assert_ne!(recreated.0, before.0, "Dovecot gave the same UIDVALIDITY");
    run_with(&w).await;
    // The dates stay those of the first answers; only the new mail is added.
    assert_eq!(
        dates(&w, &b.0).await.0,
        Some(day("2026-11-18")),
        "a later answer moved the answer date"
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM messages WHERE direction = 'out'")
            .await,
        7
    );
    assert_eq!(w.scalar("SELECT count(*) FROM case_contacts").await, 1);
    let v: (i64, i64) =
        sqlx::query_as("SELECT uidvalidity, last_uid FROM answer_folders WHERE folder = $1")
            .bind(&gesendet)
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(v, (i64::from(recreated.0), 9));
    assert_eq!(folder_look(&gesendet).await, recreated);
}

/// Status, answer date and its source of a case.
async fn closing(w: &World, number: &str) -> (String, Option<NaiveDate>, Option<String>) {
    sqlx::query_as("SELECT status, answered_on, answered_source FROM cases WHERE number = $1")
        .bind(number)
        .fetch_one(&w.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_running_daemon_captures_answers_and_close_takes_the_captured_date() {
    use crate::staff::ok;
    use std::time::Duration;
    let gesendet = unique("Gesendet");
    let folders = format!("{},{gesendet}", unique("Fehlt"));
    let w = World::with_env(
        "answersd",
        &[
            ("KRM_ANSWERS_FOLDERS", folders.as_str()),
            ("KRM_ANSWERS_CLOSE_ON_ANSWER", "true"),
            ("KRM_IMAP_IDLE_SECS", "2"),
        ],
    )
    .await;
    w.prepare_folder(OMBUDS, &w.folder).await;
    w.prepare_folder(OMBUDS, &gesendet).await;
    let (st, out) = w.run_private(&["check"], &[]);
    assert!(st.success(), "{out}");
    assert!(
        out.contains(&format!(
            "Antworten aus dem Postfach: Ordner {} (nur lesend)",
            folders.replace(',', ", ")
        )),
        "{out}"
    );
    // The inbox named as an answers folder is refused.
    let (st, out) = w.run_private(&["check"], &[("KRM_ANSWERS_FOLDERS", w.folder.as_str())]);
    assert_eq!(st.code(), Some(2), "{out}");
    assert!(out.contains("answers.folders"), "{out}");
    let mut froms = Vec::new();
    for i in 0..3u32 {
        let from = format!("person{i}+{}@mail.test", w.folder);
        let raw = mail(
            &from,
            &w.inbox_address(),
            &format!("Beschwerde {i}"),
            "Guten Tag,\r\nbitte prüfen Sie meinen Bescheid.\r\n",
            &format!("<d{i}.{}@mail.test>", w.name),
        );
        w.append_at(&raw, at(2026, 11, 2, 9, i, 1)).await;
        froms.push(from);
    }
    let mut p = crate::ops::daemon(&w, &[("KRM_LOG_LEVEL", "info")]);
    w.wait_scalar("SELECT count(*) FROM cases", 3).await;
    let numbers: Vec<String> = w.cases().await.into_iter().map(|c| c.0).collect();
    // Two cases wait for the citizen: a captured answer must not close them.
    ok(&w, &["case", "hold", &numbers[1]]);
    ok(&w, &["case", "hold", &numbers[2]]);
    let mails: Vec<_> = (0..3)
        .map(|i| {
            let n = &numbers[i];
            let raw = sent(
                &froms[i],
                &format!("AW: [{n}] Beschwerde"),
                &format!("<s{i}.{}@jobcenter.test>", w.name),
                "",
            );
            (raw, at(2026, 11, 10 + i as u32, 9, 0, 1))
        })
        .collect();
    for (raw, _) in &mails {
        w.note_personal(raw);
    }
    append_all(&gesendet, &mails).await;
    w.wait_scalar("SELECT count(*) FROM messages WHERE direction = 'out'", 3)
        .await;
    // The inbox is still served after the answers folder was read.
    let late = mail(
        &format!("spaet+{}@mail.test", w.folder),
        &w.inbox_address(),
        "Noch eine Beschwerde",
        "Guten Tag,\r\nnoch etwas.\r\n",
        &format!("<late.{}@mail.test>", w.name),
    );
    w.append(&late).await;
    w.wait_scalar("SELECT count(*) FROM cases", 4).await;
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(15)).await.is_some());
    w.assert_private(&p.log());
    // The missing folder: one warning over many passes, and the rest ran.
    assert_eq!(
        p.log().matches("answers folder does not exist").count(),
        1,
        "{}",
        p.log()
    );
    assert_closing_follows_the_captured_answers(&w, &numbers).await;
}

/// After the daemon captured answers on 10, 11 and 12 November for three cases (the last two on
/// hold): what `close_on_answer`, `close` and `close --answered-on` make of them.
async fn assert_closing_follows_the_captured_answers(w: &World, numbers: &[String]) {
    use crate::staff::{json, ok};
    let mb = Some("mailbox".to_string());
    // close_on_answer closed the open case with the captured date, as the daemon.
    assert_eq!(
        closing(w, &numbers[0]).await,
        ("closed".into(), Some(day("2026-11-10")), mb.clone())
    );
    let closer = w
        .scalar("SELECT count(*) FROM case_events WHERE action = 'close' AND actor = 'krm-intake'")
        .await;
    assert!(closer >= 1, "no close event by the daemon");
    // The held cases keep waiting, with their answer date.
    assert_eq!(
        closing(w, &numbers[1]).await,
        ("on_hold".into(), Some(day("2026-11-11")), mb.clone())
    );
    // close without --answered-on takes the captured date …
    ok(w, &["case", "close", &numbers[1]]);
    assert_eq!(
        closing(w, &numbers[1]).await,
        ("closed".into(), Some(day("2026-11-11")), mb.clone())
    );
    // … a typed date wins, and the timeline says so.
    ok(
        w,
        &["case", "close", &numbers[2], "--answered-on", "2026-11-20"],
    );
    assert_eq!(
        closing(w, &numbers[2]).await,
        (
            "closed".into(),
            Some(day("2026-11-20")),
            Some("typed".into())
        )
    );
    let shown = ok(w, &["case", "show", &numbers[2]]);
    for needle in [
        "Antwortdatum: aus dem Postfach erfasst → von Hand eingegeben",
        "Antwort versandt am: 2026-11-12 → 2026-11-20",
        "Antwort aus dem Postfach erfasst: 2026-11-12",
        "Antwort der Ombudsstelle, gesendet",
    ] {
        assert!(shown.contains(needle), "missing {needle:?} in\n{shown}");
    }
    let listed = json(w, &["case", "list", "--json", "--status", "closed"]);
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["number"] == numbers[1].as_str())
        .expect("closed case listed")
        .clone();
    assert_eq!(row["answered_on"], "2026-11-11");
    assert_eq!(row["answered_source"], "mailbox");
    assert!(row["interim_reply_on"].is_null());
}
