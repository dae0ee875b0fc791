//! Retention (`krm-intake purge`): a closed case past retention loses its personal data in the
//! database and on the mail server, keeps its anonymous statistics record and leaves a
//! deletion-log entry; open and recently closed cases stay whole; a dry run changes nothing;
//! without a bound nothing happens; an unreachable mail server is caught up later; a deletion
//! log is replayed into a restored backup.

use crate::helpers::*;
use crate::ops::free_port;
use chrono::{FixedOffset, TimeZone};
use sqlx::{Connection, PgPool};
use std::process::Output;

fn at(y: i32, m: u32, d: u32) -> chrono::DateTime<FixedOffset> {
    FixedOffset::east_opt(3600)
        .unwrap()
        .with_ymd_and_hms(y, m, d, 10, 0, 0)
        .unwrap()
}

/// A citizen's mail with a small PDF attached.
fn mail_with_attachment(from: &str, to: &str, subject: &str, body: &str, mid: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n\
         Date: Wed, 01 Mar 2023 09:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         {body}\r\n\
         --b1\r\nContent-Type: application/pdf; name=\"bescheid.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"bescheid.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK\r\n\
         --b1--\r\n"
    )
    .into_bytes()
}

fn run(w: &World, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut c = w.command();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out: Output = c.output().expect("run krm-intake");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

async fn case_id(pool: &PgPool, mid: &str) -> (i64, String) {
    sqlx::query_as(
        "SELECT c.id, c.number FROM cases c JOIN messages m ON m.case_id = c.id
         WHERE m.message_id = $1 AND m.role = 'initial'",
    )
    .bind(mid)
    .fetch_one(pool)
    .await
    .expect("case of mail")
}

/// Staff closed the case `days_ago` days ago, classified and assessed it, and left a note.
async fn close(pool: &PgPool, id: i64, days_ago: i64) {
    sqlx::query(
        "UPDATE cases SET status = 'closed', closed_at = now() - make_interval(days => $2),
             answered_on = (now() - make_interval(days => $2))::date, kind = 'beschwerde',
             topics = '{Leistung}', justified = true, assignee = 'Frau Beispiel'
         WHERE id = $1",
    )
    .bind(id)
    .bind(days_ago as i32)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO case_events (case_id, actor, stated_by, action, old_value, new_value, detail)
         VALUES ($1, 'sb1', 'Frau Beispiel', 'note', NULL, NULL,
                 'Frau Musterfrau rief an, Tel. 0351 4711'),
                ($1, 'sb1', NULL, 'closed', 'open', 'closed', NULL)",
    )
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
}

type Personal = (
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Vec<String>,
    Option<String>,
    Option<String>,
);

async fn personal_of(pool: &PgPool, case: i64) -> Vec<Personal> {
    sqlx::query_as(
        "SELECT raw, text_body, from_addr, from_name, subject, to_addrs, message_id, content_hash
         FROM messages WHERE case_id = $1 ORDER BY id",
    )
    .bind(case)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn count(pool: &PgPool, sql: &'static str, id: i64) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).bind(id).fetch_one(pool).await.unwrap();
    n
}

/// Message-IDs of the mails in `folder` of the Ombudsstelle account.
async fn ids_in(folder: &str) -> Vec<String> {
    fetch_all(OMBUDS, folder)
        .await
        .iter()
        .filter_map(|r| header(r, "Message-ID"))
        .collect()
}

fn report_json(w: &World, year: &str) -> serde_json::Value {
    let (ok, text) = run(w, &["report", "--year", year, "--format", "json"], &[]);
    assert!(ok, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test]
async fn purge_removes_personal_data_and_keeps_the_statistics() {
    let w = World::new("purge").await;
    let citizen = w.sender(CITIZEN);
    let processed = format!("{}_erfasst", w.folder);
    let quarantine = format!("{}_quarantaene", w.folder);
    let mid_old = format!("<old-{}@mail.test>", w.name);
    let mid_open = format!("<open-{}@mail.test>", w.name);
    let mid_recent = format!("<recent-{}@mail.test>", w.name);
    let old = mail_with_attachment(
        &format!("Erika Musterfrau <{citizen}>"),
        &w.inbox_address(),
        "Mein Bescheid vom Februar",
        "Guten Tag,\r\nmein Bescheid ist falsch berechnet.\r\nErika Musterfrau",
        &mid_old,
    );
    w.append_at(&old, at(2023, 3, 1)).await;
    w.append_at(
        &mail(
            &format!("Max Offen <{citizen}>"),
            &w.inbox_address(),
            "Noch offen",
            "Mein Anliegen ist noch offen.",
            &mid_open,
        ),
        at(2023, 3, 2),
    )
    .await;
    w.append_at(
        &mail(
            &format!("Rita Neu <{citizen}>"),
            &w.inbox_address(),
            "Kuerzlich erledigt",
            "Danke für die schnelle Hilfe.",
            &mid_recent,
        ),
        at(2026, 11, 2),
    )
    .await;
    let r = w.run_once().await;
    assert_eq!(r.scan.new_cases, 3, "{r:?}");
    let pool = w.pool.clone();
    let (old_id, old_no) = case_id(&pool, &mid_old).await;
    let (open_id, _) = case_id(&pool, &mid_open).await;
    let (recent_id, recent_no) = case_id(&pool, &mid_recent).await;
    close(&pool, old_id, 3 * 365).await;
    close(&pool, recent_id, 10).await;

    let decoy = plant_server_copies(&w, &old, &mid_old, &processed, &quarantine).await;
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.case_id = $1",
            old_id
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM outbox WHERE case_id = $1",
            old_id
        )
        .await,
        1
    );
    let report_before = report_json(&w, "2023");
    let stats_sql = "SELECT received_at, status, kind, topics, justified, organisation, category,
                            third_party, due, answered_on, closed_at, ack_status
                     FROM cases ORDER BY id";
    type Stats = (
        chrono::DateTime<chrono::Utc>,
        String,
        Option<String>,
        Vec<String>,
        Option<bool>,
        Option<String>,
        Option<String>,
        bool,
        chrono::NaiveDate,
        Option<chrono::NaiveDate>,
        Option<chrono::DateTime<chrono::Utc>>,
        String,
    );
    let stats_before: Vec<Stats> = sqlx::query_as(stats_sql).fetch_all(&pool).await.unwrap();

    assert_refused_and_dry_run_change_nothing(&w, &processed, &old_no, &recent_no).await;

    // The purge.
    let (ok, text) = run(&w, &["purge", "--older-than", "2y"], &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&old_no) && text.contains("Bereinigte Vorgänge: 1"),
        "{text}"
    );
    assert!(text.contains("Serverkopien gelöscht: 2"), "{text}");

    assert_old_case_purged(&w, old_id, &old_no).await;
    assert_server_copies_deleted(
        &w,
        &processed,
        &quarantine,
        &decoy,
        [&mid_open, &mid_recent],
    )
    .await;
    assert_untouched(&pool, [open_id, recent_id], recent_id).await;

    // The statistics record: unchanged, and the report counts the case as before.
    let stats_after: Vec<Stats> = sqlx::query_as(stats_sql).fetch_all(&pool).await.unwrap();
    assert_eq!(stats_after, stats_before);
    let report_after = report_json(&w, "2023");
    assert_eq!(report_after["total"], report_before["total"]);
    assert_eq!(report_after["periods"], report_before["periods"]);
    assert!(
        report_after.to_string().contains("\"reactions\":2"),
        "{report_after}"
    );

    // Nothing left to do: a second run purges nothing.
    let (ok, text) = run(&w, &["purge", "--older-than", "2y"], &[]);
    assert!(ok, "{text}");
    assert!(text.contains("Bereinigte Vorgänge: 0"), "{text}");
}

/// On the server: a mangled copy of the old mail sits in quarantine (with its record), and a
/// different mail that reuses its Message-ID sits in the processed folder. Returns that decoy.
async fn plant_server_copies(
    w: &World,
    old: &[u8],
    mid_old: &str,
    processed: &str,
    quarantine: &str,
) -> Vec<u8> {
    let mangled = [old, b"\r\n--b1--\r\n--b1--\r\n".as_slice()].concat();
    let decoy = mail(
        "Jemand Anderes <anders@mail.test>",
        &w.inbox_address(),
        "Gleiche Message-ID, andere Mail",
        "Diese Mail gehört zu keinem Vorgang.",
        mid_old,
    );
    {
        let mut mb = login(OMBUDS).await;
        mb.append(quarantine, &mangled).await.unwrap();
        mb.append(processed, &decoy).await.unwrap();
        mb.logout().await;
    }
    sqlx::query(
        "INSERT INTO quarantine (channel, message_id, content_hash, size, reason)
         VALUES ('ombudsstelle', $1, $2, $3, 'Test: nicht lesbar')",
    )
    .bind(mid_old)
    .bind(krm_intake::message::content_hash(&mangled))
    .bind(mangled.len() as i32)
    .execute(&w.pool)
    .await
    .unwrap();
    decoy
}

/// Without a bound or with a wrong one: refused. The dry run lists the old case only and
/// changes nothing, in the database or on the server.
async fn assert_refused_and_dry_run_change_nothing(
    w: &World,
    processed: &str,
    old_no: &str,
    recent_no: &str,
) {
    let pool = w.pool.clone();
    // No bound: refused, nothing touched.
    let (ok, text) = run(w, &["purge"], &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("ohne Grenze"), "{text}");
    let (ok, text) = run(w, &["purge", "--older-than", "zwei Jahre"], &[]);
    assert!(!ok, "{text}");

    // Dry run: lists the old case only and changes nothing.
    let fingerprint = |pool: PgPool| async move {
        let q = |sql: &'static str| {
            let pool = pool.clone();
            async move {
                let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
                n
            }
        };
        vec![
            q("SELECT count(*) FROM messages WHERE raw IS NOT NULL").await,
            q("SELECT count(*) FROM attachments").await,
            q("SELECT count(*) FROM outbox").await,
            q("SELECT count(*) FROM quarantine").await,
            q("SELECT count(*) FROM deletion_log").await,
            q("SELECT count(*) FROM cases WHERE purged_at IS NOT NULL").await,
            q("SELECT count(*) FROM case_events WHERE detail IS NOT NULL").await,
        ]
    };
    let before = fingerprint(pool.clone()).await;
    let processed_before = ids_in(processed).await;
    let (ok, text) = run(w, &["purge", "--older-than", "2y", "--dry-run"], &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains(old_no) && text.contains("Probelauf"),
        "{text}"
    );
    assert!(text.contains("Anhänge 1"), "{text}");
    assert!(!text.contains(recent_no), "{text}");
    assert_eq!(fingerprint(pool.clone()).await, before);
    assert_eq!(ids_in(processed).await, processed_before);
}

/// Personal data of the old case: gone; its timeline, quarantine record and deletion log as
/// documented.
async fn assert_old_case_purged(w: &World, old_id: i64, old_no: &str) {
    let pool = w.pool.clone();
    // Personal data of the old case: gone.
    for m in personal_of(&pool, old_id).await {
        assert!(m.0.is_none() && m.1.is_none() && m.2.is_none(), "{m:?}");
        assert!(m.3.is_none() && m.4.is_none() && m.5.is_empty(), "{m:?}");
        // The technical identity stays, so a leftover copy is never a new case.
        assert!(m.6.is_some() && m.7.is_some(), "{m:?}");
    }
    for (sql, what) in [
        (
            "SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.case_id = $1",
            "attachments",
        ),
        ("SELECT count(*) FROM outbox WHERE case_id = $1", "outbox rows"),
        (
            "SELECT count(*) FROM case_events WHERE case_id = $1 AND action <> 'purged'
               AND (old_value IS NOT NULL OR new_value IS NOT NULL OR detail IS NOT NULL
                    OR stated_by IS NOT NULL)",
            "audit values",
        ),
        (
            "SELECT count(*) FROM cases WHERE id = $1 AND (rule_evidence IS NOT NULL
               OR assignee IS NOT NULL OR purged_at IS NULL)",
            "case personal fields",
        ),
    ] {
        assert_eq!(count(&pool, sql, old_id).await, 0, "{what} left");
    }
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM case_events WHERE case_id = $1 AND action IN ('note', 'closed', 'created')",
            old_id
        )
        .await,
        3,
        "the timeline keeps what happened and when"
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM quarantine").await,
        0,
        "quarantine record of the case"
    );
    let log: Vec<(String, String)> =
        sqlx::query_as("SELECT case_number, what FROM deletion_log ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|(n, _)| *n == old_no), "{log:?}");
    assert!(
        log[0].1.contains("Mails: 1") && log[0].1.contains("Anhänge: 1"),
        "{log:?}"
    );
    assert!(log[1].1.contains("Serverkopien gelöscht: 2"), "{log:?}");
}

/// The server copies: gone from the processed and quarantine folders; the decoy with the same
/// Message-ID but other content stays, as do the other cases' mails.
async fn assert_server_copies_deleted(
    w: &World,
    processed: &str,
    quarantine: &str,
    decoy: &[u8],
    others: [&String; 2],
) {
    let left = fetch_all(OMBUDS, processed).await;
    assert_eq!(left.len(), 3, "open, recent, decoy");
    assert!(left.iter().any(|r| r == decoy), "the decoy stays");
    assert!(!left
        .iter()
        .any(|r| header(r, "Subject").as_deref() == Some("Mein Bescheid vom Februar")));
    assert!(ids_in(processed).await.contains(others[0]));
    assert!(ids_in(processed).await.contains(others[1]));
    assert_eq!(w.count(OMBUDS, quarantine).await, 0);
}

/// Open and recently closed cases: untouched.
async fn assert_untouched(pool: &PgPool, ids: [i64; 2], recent_id: i64) {
    for id in ids {
        for m in personal_of(pool, id).await {
            assert!(m.0.is_some() && m.1.is_some() && m.2.is_some() && m.4.is_some());
        }
        assert_eq!(
            count(pool, "SELECT count(*) FROM outbox WHERE case_id = $1", id).await,
            1
        );
    }
    assert!(
        count(
            pool,
            "SELECT count(*) FROM case_events WHERE case_id = $1 AND detail IS NOT NULL",
            recent_id
        )
        .await
            > 0
    );
}

#[tokio::test]
async fn server_copies_are_deleted_later_when_the_mail_server_was_away() {
    let w = World::new("purgeaway").await;
    let mid = format!("<away-{}@mail.test>", w.name);
    let processed = format!("{}_erfasst", w.folder);
    w.deliver(
        &w.sender(CITIZEN),
        &mail(
            &format!("Erika Musterfrau <{}>", w.sender(CITIZEN)),
            &w.inbox_address(),
            "Alte Sache",
            "Längst erledigt.",
            &mid,
        ),
    )
    .await;
    w.run_once().await;
    let (id, number) = case_id(&w.pool, &mid).await;
    close(&w.pool, id, 800).await;
    assert_eq!(w.count(OMBUDS, &processed).await, 1);

    let closed = free_port().to_string();
    let (ok, text) = run(
        &w,
        &["purge", "--closed-before", "2025-01-01"],
        &[("KRM_IMAP_PORT", closed.as_str())],
    );
    assert!(ok, "{text}");
    assert!(text.contains(&number) && text.contains("Warnung"), "{text}");
    // The database side is done; the server copy waits.
    assert_eq!(
        count(
            &w.pool,
            "SELECT count(*) FROM messages WHERE case_id = $1 AND raw IS NOT NULL",
            id
        )
        .await,
        0
    );
    assert_eq!(w.scalar("SELECT count(*) FROM purge_imap_pending").await, 1);
    assert_eq!(
        w.scalar(
            "SELECT count(*) FROM purge_imap_pending WHERE attempts = 1 AND last_error IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(w.count(OMBUDS, &processed).await, 1);

    // Next run, server back: the copy goes, the log says so.
    let (ok, text) = run(&w, &["purge", "--closed-before", "2025-01-01"], &[]);
    assert!(ok, "{text}");
    assert!(text.contains("Serverkopien gelöscht: 1"), "{text}");
    assert_eq!(w.scalar("SELECT count(*) FROM purge_imap_pending").await, 0);
    assert_eq!(w.count(OMBUDS, &processed).await, 0);
    assert_eq!(w.scalar("SELECT count(*) FROM deletion_log").await, 2);
}

#[tokio::test]
async fn a_deletion_log_replayed_into_a_restored_backup_purges_again() {
    let w = World::new("purgereplay").await;
    let mid = format!("<replay-{}@mail.test>", w.name);
    let raw = mail(
        &format!("Erika Musterfrau <{}>", w.sender(CITIZEN)),
        &w.inbox_address(),
        "Vor der Sicherung",
        "Dieser Text darf nach der Wiederherstellung nicht zurückkommen.",
        &mid,
    );
    w.append(&raw).await;
    w.run_once().await;
    let (id, number) = case_id(&w.pool, &mid).await;
    close(&w.pool, id, 800).await;

    // The nightly backup: a copy of the database taken before the purge.
    w.pool.close().await;
    let backup_db = format!("krm_t_{}_backup", w.name);
    let admin = var("KRM_TEST_POSTGRES_ADMIN_URL");
    let admin_pool = PgPool::connect(&admin).await.unwrap();
    let source = w.db_url.rsplit('/').next().unwrap().to_string();
    // Connections of the finished run may take a moment to close; TEMPLATE needs none open.
    let mut created = Err(String::new());
    for _ in 0..100 {
        created = sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{backup_db}\" TEMPLATE \"{source}\""
        )))
        .execute(&admin_pool)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
        if created.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    created.expect("backup copy of the database");
    let backup_url = format!("{}/{backup_db}", admin.rsplit_once('/').unwrap().0);

    let (ok, text) = run(&w, &["purge", "--older-than", "2y"], &[]);
    assert!(ok, "{text}");
    let (ok, exported) = run(&w, &["purge", "--show-log"], &[]);
    assert!(ok, "{exported}");
    assert!(
        exported.starts_with("case_number\tdeleted_at\twhat\n"),
        "{exported}"
    );
    assert!(exported.contains(&number), "{exported}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("loeschprotokoll.tsv");
    std::fs::write(&file, &exported).unwrap();

    // Restore: the backup comes back with the personal data in it; the replay removes it.
    let backup = PgPool::connect(&backup_url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM messages WHERE raw IS NOT NULL")
        .fetch_one(&backup)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let on_backup = [("KRM_DATABASE_URL", backup_url.as_str())];
    let file_arg = file.display().to_string();
    let (ok, text) = run(
        &w,
        &["purge", "--replay", &file_arg, "--dry-run"],
        &on_backup,
    );
    assert!(
        ok && text.contains(&number) && text.contains("Probelauf"),
        "{text}"
    );
    let (ok, text) = run(&w, &["purge", "--replay", &file_arg], &on_backup);
    assert!(ok, "{text}");
    assert!(text.contains("Bereinigte Vorgänge: 1"), "{text}");
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM messages
         WHERE raw IS NOT NULL OR text_body IS NOT NULL OR has_html IS DISTINCT FROM false",
    )
    .fetch_one(&backup)
    .await
    .unwrap();
    assert_eq!(n, 0);
    let (what,): (String,) =
        sqlx::query_as("SELECT what FROM deletion_log WHERE case_number = $1 ORDER BY id LIMIT 1")
            .bind(&number)
            .fetch_one(&backup)
            .await
            .unwrap();
    assert!(what.starts_with("Wiederholung"), "{what}");

    // Replaying twice is harmless.
    let (ok, text) = run(&w, &["purge", "--replay", &file_arg], &on_backup);
    assert!(ok && text.contains("bereits bereinigt"), "{text}");

    // A restored mail server brings the server copy back: the replay finds and deletes it.
    let processed = format!("{}_erfasst", w.folder);
    {
        let mut mb = login(OMBUDS).await;
        mb.append(&processed, &raw).await.unwrap();
        mb.logout().await;
    }
    assert_eq!(w.count(OMBUDS, &processed).await, 1);
    let (ok, text) = run(&w, &["purge", "--replay", &file_arg], &[]);
    assert!(ok && text.contains("bereits bereinigt"), "{text}");
    assert!(text.contains("Serverkopien gelöscht: 1"), "{text}");
    assert_eq!(w.count(OMBUDS, &processed).await, 0);
    backup.close().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{backup_db}\""
    )))
    .execute(&admin_pool)
    .await;
}

#[tokio::test]
async fn discarded_and_merged_cases_follow_the_case_they_ended_with() {
    let w = World::new("purgemerge").await;
    let from = w.sender(CITIZEN);
    let mut mids = Vec::new();
    for n in 0..5 {
        let mid = format!("<m{n}-{}@mail.test>", w.name);
        w.append(&mail(
            &format!("Erika Musterfrau <{from}>"),
            &w.inbox_address(),
            &format!("Anliegen {n}"),
            &format!("Text {n}"),
            &mid,
        ))
        .await;
        mids.push(mid);
    }
    w.run_once().await;
    let mut ids = Vec::new();
    for mid in &mids {
        ids.push(case_id(&w.pool, mid).await.0);
    }
    let [spam, target_open, merged_into_open, closed_old, merged_into_closed] = ids[..] else {
        panic!("five cases expected");
    };
    let exec = |sql: &'static str, a: i64, b: Option<i64>| {
        let pool = w.pool.clone();
        async move {
            sqlx::query(sql)
                .bind(a)
                .bind(b)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    // Discarded long ago without a closed_at: retention counts from its last recorded change.
    exec(
        "UPDATE cases SET status = 'discarded', discard_reason = 'Spam' WHERE id = $1 AND $2::bigint IS NULL",
        spam,
        None,
    )
    .await;
    exec(
        "UPDATE case_events SET at = now() - interval '3 years' WHERE case_id = $1 AND $2::bigint IS NULL",
        spam,
        None,
    )
    .await;
    // Merged long ago into a case that is still open: stays while that case is open.
    exec(
        "UPDATE cases SET status = 'merged', merged_into = $2, closed_at = now() - interval '3 years' WHERE id = $1",
        merged_into_open,
        Some(target_open),
    )
    .await;
    // Merged into a case closed long ago: goes with it.
    close(&w.pool, closed_old, 3 * 365).await;
    exec(
        "UPDATE cases SET status = 'merged', merged_into = $2 WHERE id = $1",
        merged_into_closed,
        Some(closed_old),
    )
    .await;

    let (ok, text) = run(&w, &["purge", "--older-than", "2y"], &[]);
    assert!(ok, "{text}");
    let purged: Vec<(i64,)> =
        sqlx::query_as("SELECT id FROM cases WHERE purged_at IS NOT NULL ORDER BY id")
            .fetch_all(&w.pool)
            .await
            .unwrap();
    let mut expected = vec![spam, closed_old, merged_into_closed];
    expected.sort();
    assert_eq!(
        purged.into_iter().map(|r| r.0).collect::<Vec<_>>(),
        expected,
        "{text}"
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases WHERE discard_reason IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn a_late_follow_up_to_a_purged_case_is_purged_when_it_ends_again() {
    let w = World::new("purgelate").await;
    let from = w.sender(CITIZEN);
    let processed = format!("{}_erfasst", w.folder);
    let mid = format!("<first-{}@mail.test>", w.name);
    w.deliver(
        &from,
        &mail(
            &format!("Erika Musterfrau <{from}>"),
            &w.inbox_address(),
            "Erste Mail",
            "Das erste Anliegen.",
            &mid,
        ),
    )
    .await;
    w.run_once().await;
    let (id, number) = case_id(&w.pool, &mid).await;
    close(&w.pool, id, 800).await;
    let (ok, text) = run(&w, &["purge", "--older-than", "2y"], &[]);
    assert!(ok && text.contains("Bereinigte Vorgänge: 1"), "{text}");

    // Years later the citizen answers the old acknowledgement: the purged case is reopened and
    // holds a new mail with personal data.
    w.deliver(
        &from,
        &mail(
            &format!("Erika Musterfrau <{from}>"),
            &w.inbox_address(),
            &format!("Re: Ihre Nachricht [{number}]"),
            "Ich habe wieder ein Problem mit meinem Bescheid.",
            &format!("<late-{}@mail.test>", w.name),
        ),
    )
    .await;
    let r = w.run_once().await;
    assert_eq!(r.scan.followups, 1, "{r:?}");
    assert_eq!(
        count(
            &w.pool,
            "SELECT count(*) FROM messages WHERE case_id = $1 AND raw IS NOT NULL",
            id
        )
        .await,
        1
    );
    // Not past retention while open.
    let (ok, text) = run(&w, &["purge", "--older-than", "2y"], &[]);
    assert!(ok && text.contains("Bereinigte Vorgänge: 0"), "{text}");

    // It ends again, long enough ago: the new mail goes too, in the database and on the server.
    close(&w.pool, id, 800).await;
    let (ok, text) = run(&w, &["purge", "--older-than", "2y"], &[]);
    assert!(ok && text.contains(&number), "{text}");
    assert!(text.contains("Serverkopien gelöscht: 1"), "{text}");
    assert_eq!(
        count(
            &w.pool,
            "SELECT count(*) FROM messages WHERE case_id = $1 AND (raw IS NOT NULL OR subject IS NOT NULL)",
            id
        )
        .await,
        0
    );
    assert_eq!(w.count(OMBUDS, &processed).await, 0);
}

#[tokio::test]
async fn the_daemons_retention_pass_uses_the_configured_period() {
    let w = World::with_env("purgedaily", &[("KRM_RETENTION_CLOSED_OLDER_THAN", "730d")]).await;
    let mid = format!("<daily-{}@mail.test>", w.name);
    w.append(&mail(
        &format!("Erika Musterfrau <{}>", w.sender(CITIZEN)),
        &w.inbox_address(),
        "Alt genug",
        "Längst erledigt.",
        &mid,
    ))
    .await;
    w.run_once().await;
    let (old, number) = case_id(&w.pool, &mid).await;
    close(&w.pool, old, 731).await;
    let app = w.app().await;
    // 729 days later than the close the case is not due yet; a period unset means no pass.
    let early = chrono::Utc::now() - chrono::Duration::days(2);
    let r = krm_intake::purge::retention_pass(&app, early, None)
        .await
        .unwrap()
        .expect("period configured");
    assert!(r.cases.is_empty(), "{r:?}");
    let r = krm_intake::purge::retention_pass(&app, chrono::Utc::now(), None)
        .await
        .unwrap()
        .expect("period configured");
    assert_eq!(r.cases.len(), 1, "{r:?}");
    assert_eq!(r.cases[0].number, number);
    assert_eq!(r.server.map(|s| s.deleted), Some(1));
    let (_, audit_actor): (i64, String) =
        sqlx::query_as("SELECT case_id, actor FROM case_events WHERE action = 'purged'")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(audit_actor, "krm-intake");

    let unset = World::new("purgenone").await;
    let app = unset.app().await;
    assert!(
        krm_intake::purge::retention_pass(&app, chrono::Utc::now(), None)
            .await
            .unwrap()
            .is_none()
    );
}

/// The daily retention inside `krm-intake run` (not `retention_pass` called by the test): with
/// the first run one second after start, the daemon purges the case that ended 731 days ago
/// and logs it by case number only.
#[tokio::test]
async fn the_running_daemon_purges_by_itself() {
    let w = World::with_env(
        "purgerun",
        &[
            ("KRM_RETENTION_CLOSED_OLDER_THAN", "730d"),
            ("KRM_RETENTION_FIRST_RUN_AFTER_SECS", "1"),
        ],
    )
    .await;
    let old_mid = format!("<run-old-{}@mail.test>", w.name);
    let new_mid = format!("<run-new-{}@mail.test>", w.name);
    for (mid, subject) in [(&old_mid, "Längst erledigt"), (&new_mid, "Gerade erledigt")] {
        w.append(&mail(
            &format!("Erika Musterfrau <{}>", w.sender(CITIZEN)),
            &w.inbox_address(),
            subject,
            "Bitte prüfen Sie meinen Bescheid.",
            mid,
        ))
        .await;
    }
    let (st, log) = w.run_private(&["run", "--once", "--no-send"], &[]);
    assert!(st.success(), "{log}");
    let (old, number) = case_id(&w.pool, &old_mid).await;
    let (recent, _) = case_id(&w.pool, &new_mid).await;
    close(&w.pool, old, 731).await;
    close(&w.pool, recent, 700).await;

    let mut p = crate::ops::daemon(&w, &[("KRM_LOG_LEVEL", "info")]);
    assert!(
        p.wait_log("retention run finished", std::time::Duration::from_secs(60))
            .await,
        "{}",
        p.log()
    );
    p.signal(libc::SIGTERM);
    assert!(p
        .wait_exit(std::time::Duration::from_secs(15))
        .await
        .is_some());
    let log = strip_ansi(&p.log());
    assert!(
        log.contains(&format!("case purged: personal data removed case={number}")),
        "{log}"
    );
    assert!(log.contains("purged=1"), "{log}");
    w.assert_private(&log);
    assert_eq!(
        count(
            &w.pool,
            "SELECT count(*) FROM cases WHERE id = $1 AND purged_at IS NOT NULL",
            old
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &w.pool,
            "SELECT count(*) FROM cases WHERE id = $1 AND purged_at IS NULL",
            recent
        )
        .await,
        1,
        "700 days are within the period"
    );
    assert!(personal_of(&w.pool, old)
        .await
        .iter()
        .all(|m| m.0.is_none()));
}

/// The CLI's guards: a cut-off in the future is refused, a purge already running (the advisory
/// lock `krm-intake:purge`, as the daemon's daily run holds it) makes a manual one stop with
/// exit 1, and `--replay -` reads the case numbers from standard input (the journal).
#[tokio::test]
async fn purge_refuses_a_future_bound_waits_its_turn_and_replays_from_stdin() {
    let w = World::new("purgeguard").await;
    let mid = format!("<guard-{}@mail.test>", w.name);
    w.append(&mail(
        &format!("Erika Musterfrau <{}>", w.sender(CITIZEN)),
        &w.inbox_address(),
        "Alter Vorgang",
        "Bitte prüfen Sie meinen Bescheid.",
        &mid,
    ))
    .await;
    w.run_once().await;
    let (id, number) = case_id(&w.pool, &mid).await;
    close(&w.pool, id, 800).await;
    let purged = "SELECT count(*) FROM cases WHERE id = $1 AND purged_at IS NOT NULL";

    let future = (chrono::Utc::now() + chrono::Duration::days(3))
        .date_naive()
        .to_string();
    let out = w
        .command()
        .args(["purge", "--closed-before", &future])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("liegt in der Zukunft"), "{text}");
    assert_eq!(count(&w.pool, purged, id).await, 0);

    // Another purge holds the lock.
    let mut other = sqlx::PgConnection::connect(&w.db_url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtext('krm-intake:purge'))")
        .execute(&mut other)
        .await
        .unwrap();
    let out = w
        .command()
        .args(["purge", "--older-than", "2y"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("eine andere Löschung läuft gerade"), "{text}");
    assert_eq!(
        count(&w.pool, purged, id).await,
        0,
        "nothing purged meanwhile"
    );
    other.close().await.unwrap();

    // The journal's lines piped in, as docs/operations.md shows.
    let journal = format!(
        "Dez 06 03:00:01 host krm-intake[42]: INFO case purged: personal data removed case={number}\n\
         Dez 06 03:00:01 host krm-intake[42]: INFO case purged: personal data removed case=KRM-1999-00001\n"
    );
    let mut child = w
        .command()
        .args(["purge", "--replay", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(journal.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Bereinigte Vorgänge: 1"), "{text}");
    assert!(
        text.contains("KRM-1999-00001"),
        "the unknown number is named: {text}"
    );
    assert_eq!(count(&w.pool, purged, id).await, 1);
}
