//! Two instances, one mailbox: two `krm-intake run` processes on the same inbox and database
//! must not double-process. One holds the intake (advisory lock), both send from the outbox.
//! Killing the holder hands the intake to the standby.

use crate::helpers::*;
use crate::ops::{append_many, daemon, free_port, http_get, wait_http, Proc};
use std::collections::HashSet;
use std::time::Duration;

const MAILS: usize = 300;
const MORE: usize = 5;

fn citizen_mail(w: &World, n: usize) -> Vec<u8> {
    numbered_citizen_mail(w, "fo", n)
}

fn role(port: u16) -> Option<String> {
    let (_, body) = std::panic::catch_unwind(|| http_get(port, "/readyz")).ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix("role: "))
        .map(str::to_string)
}

/// Two daemons on the same inbox and database, each with its own HTTP port, both serving.
async fn two_daemons(w: &World) -> ([u16; 2], Vec<Proc>) {
    let ports = [free_port(), free_port()];
    let procs: Vec<Proc> = ports
        .iter()
        .map(|p| {
            let listen = format!("127.0.0.1:{p}");
            daemon(
                w,
                &[
                    ("KRM_HTTP_LISTEN", listen.as_str()),
                    ("KRM_LOG_LEVEL", "info"),
                ],
            )
        })
        .collect();
    for p in ports {
        wait_http(p).await;
    }
    (ports, procs)
}

#[tokio::test]
async fn two_daemons_process_each_mail_once_and_the_standby_takes_over() {
    let w = World::with_env(
        "failover",
        &[
            ("KRM_IMAP_IDLE_SECS", "5"),
            ("KRM_ACK_RATE_LIMIT_PER_HOUR", "100000"),
        ],
    )
    .await;
    let raws: Vec<Vec<u8>> = (0..MAILS).map(|n| citizen_mail(&w, n)).collect();
    append_many(&w, &raws).await;
    assert_eq!(w.count(OMBUDS, &w.folder).await, MAILS);

    let (ports, mut procs) = two_daemons(&w).await;

    // Everything handled: the inbox empty, every case made, nothing left to send.
    wait_until(
        Duration::from_secs(240),
        "all mails handled and acknowledged",
        || async {
            w.count(OMBUDS, &w.folder).await == 0
                && w.scalar("SELECT count(*) FROM cases").await == MAILS as i64
                && w.scalar("SELECT count(*) FROM outbox WHERE status <> 'sent'")
                    .await
                    == 0
                && w.scalar("SELECT count(*) FROM outbox").await == MAILS as i64
        },
    )
    .await;

    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, MAILS as i64);
    assert_eq!(
        w.scalar("SELECT count(*) FROM messages").await,
        MAILS as i64,
        "one stored mail per delivered mail"
    );
    assert_eq!(
        w.scalar(
            "SELECT count(*) FROM (SELECT case_id FROM outbox WHERE kind = 'ack'
             GROUP BY case_id HAVING count(*) = 1) one"
        )
        .await,
        MAILS as i64,
        "exactly one acknowledgement row per case"
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases WHERE ack_status = 'sent'")
            .await,
        MAILS as i64
    );

    // What arrived at the sender, once Postfix has delivered everything: one acknowledgement
    // per mail, no duplicates.
    w.wait_count(CITIZEN, &w.folder, MAILS).await;
    // Nothing for this test left in Postfix's queue: a duplicate in transit would count too.
    wait_postfix_queue_clear(&w.folder).await;
    let acks = w.fetch_all(CITIZEN, &w.folder).await;
    let ids: HashSet<String> = acks
        .iter()
        .map(|a| header(a, "Message-ID").expect("ack Message-ID"))
        .collect();
    assert_eq!(acks.len(), MAILS, "acknowledgements in the sender's folder");
    assert_eq!(ids.len(), MAILS, "no acknowledgement twice");
    let cases: HashSet<String> = acks
        .iter()
        .filter_map(|a| {
            let s = header(a, "Subject")?;
            let start = s.find("KRM-")?;
            Some(s[start..start + 14].to_string())
        })
        .collect();
    assert_eq!(cases.len(), MAILS, "one acknowledgement for each case");

    // Exactly one instance holds the intake, the other stands by.
    let roles: Vec<Option<String>> = ports.iter().map(|p| role(*p)).collect();
    let holder = roles
        .iter()
        .position(|r| r.as_deref() == Some("Active"))
        .unwrap_or_else(|| panic!("no active instance: {roles:?}"));
    let standby = 1 - holder;
    assert_eq!(
        roles[standby].as_deref(),
        Some("Standby"),
        "{roles:?}\n{}",
        procs[standby].log()
    );
    assert!(procs[holder].log().contains("holding the intake lock"));
    assert!(!procs[standby].log().contains("holding the intake lock"));

    // Kill the holder without a chance to clean up; the standby must take over.
    procs[holder].kill9();
    let more: Vec<Vec<u8>> = (MAILS..MAILS + MORE).map(|n| citizen_mail(&w, n)).collect();
    append_many(&w, &more).await;
    let total = (MAILS + MORE) as i64;
    wait_until(
        Duration::from_secs(120),
        "standby took over the intake",
        || async {
            w.scalar("SELECT count(*) FROM cases").await == total
                && w.count(OMBUDS, &w.folder).await == 0
        },
    )
    .await;
    assert!(
        procs[standby].log().contains("holding the intake lock"),
        "{}",
        procs[standby].log()
    );
    assert_eq!(role(ports[standby]).as_deref(), Some("Active"));
    assert_eq!(w.scalar("SELECT count(*) FROM messages").await, total);

    procs[standby].signal(libc::SIGTERM);
    let st = procs[standby].wait_exit(Duration::from_secs(10)).await;
    assert!(st.is_some_and(|s| s.success()), "{}", procs[standby].log());
    // Both logs, the killed holder's and the one that took over, hold no personal data.
    for p in &procs {
        w.assert_private(&p.log());
    }
}

/// The backend pid of the connection holding the intake lock in this test's database.
async fn lock_holder_pid(w: &World) -> Option<i32> {
    let row: Option<(i32,)> = sqlx::query_as(
        "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND d.datname = current_database()",
    )
    .fetch_optional(&w.pool)
    .await
    .expect("pg_locks");
    row.map(|(p,)| p)
}

#[tokio::test]
async fn losing_the_lock_connection_makes_the_holder_stand_down() {
    let w = World::with_env("lockloss", &[("KRM_IMAP_IDLE_SECS", "2")]).await;
    w.prepare_folder(OMBUDS, &w.folder).await;
    let (ports, mut procs) = two_daemons(&w).await;
    wait_until(
        Duration::from_secs(60),
        "one active, one standby",
        || async {
            let r: Vec<Option<String>> = ports.iter().map(|p| role(*p)).collect();
            r.contains(&Some("Active".into())) && r.contains(&Some("Standby".into()))
        },
    )
    .await;
    let holder = ports
        .iter()
        .position(|p| role(*p).as_deref() == Some("Active"))
        .expect("holder");
    let old_pid = lock_holder_pid(&w).await.expect("the intake lock is held");

    // The lock's connection dies under the holder (a database restart, a network cut, an
    // administrator's pg_terminate_backend): the lock is gone with it.
    let (ok,): (bool,) = sqlx::query_as("SELECT pg_terminate_backend($1)")
        .bind(old_pid)
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert!(ok);
    let died = "intake: lock connection died; re-acquiring before reading mail";
    assert!(
        procs[holder].wait_log(died, Duration::from_secs(60)).await,
        "the holder did not notice:\n{}",
        procs[holder].log()
    );
    // Someone holds the lock again, on a new connection, and exactly one instance is active.
    wait_until(
        Duration::from_secs(60),
        "the lock is taken again",
        || async { lock_holder_pid(&w).await.is_some_and(|p| p != old_pid) },
    )
    .await;
    wait_until(
        Duration::from_secs(30),
        "exactly one active instance",
        || async {
            let r: Vec<Option<String>> = ports.iter().map(|p| role(*p)).collect();
            r.iter().filter(|x| x.as_deref() == Some("Active")).count() == 1
                && r.iter().filter(|x| x.as_deref() == Some("Standby")).count() == 1
        },
    )
    .await;

    // And the intake goes on: new mail becomes a case exactly once.
    let more: Vec<Vec<u8>> = (0..MORE).map(|n| citizen_mail(&w, n)).collect();
    for raw in &more {
        w.note_personal(raw);
    }
    append_many(&w, &more).await;
    wait_until(
        Duration::from_secs(60),
        "the new mails are handled",
        || async {
            w.scalar("SELECT count(*) FROM cases").await == MORE as i64
                && w.count(OMBUDS, &w.folder).await == 0
        },
    )
    .await;
    assert_eq!(w.scalar("SELECT count(*) FROM messages").await, MORE as i64);
    for p in procs.iter_mut() {
        p.signal(libc::SIGTERM);
        assert!(p.wait_exit(Duration::from_secs(15)).await.is_some());
        w.assert_private(&p.log());
    }
}
