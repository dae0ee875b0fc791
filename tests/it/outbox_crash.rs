//! The outbox under `kill -9`: every acknowledgement is sent, a kill repeats at most
//! `[smtp] parallel` of them (docs/operations.md), counted in the recipient's mailbox once
//! Postfix has delivered everything, and a dead sender's rows are taken over at once by a
//! running one instead of after their lease.

use crate::helpers::*;
use crate::ops::{append_many, daemon, Proc};
use krm_intake::store::outbox::takeable_count;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const PARALLEL: usize = 4;

fn citizen_mail(w: &World, n: usize) -> Vec<u8> {
    numbered_citizen_mail(w, "oc", n)
}

/// Takes the inbox into cases and acknowledgement rows without sending any.
async fn ingest_without_sending(w: &World, n: usize) {
    let raws: Vec<Vec<u8>> = (0..n).map(|i| citizen_mail(w, i)).collect();
    append_many(w, &raws).await;
    let out = w
        .command()
        .args(["run", "--once", "--no-send"])
        .output()
        .expect("run --once --no-send");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM outbox WHERE kind = 'ack' AND status = 'pending'")
            .await,
        n as i64
    );
}

#[tokio::test]
async fn kills_during_a_drain_repeat_at_most_parallel_acknowledgements_each() {
    const N: usize = 300;
    const KILLS: usize = 5;
    const STEP: i64 = 25;
    let parallel = PARALLEL.to_string();
    let w = World::with_env(
        "obkill",
        &[
            ("KRM_ACK_RATE_LIMIT_PER_HOUR", "100000"),
            ("KRM_SMTP_PARALLEL", parallel.as_str()),
        ],
    )
    .await;
    ingest_without_sending(&w, N).await;

    let sent = "SELECT count(*) FROM outbox WHERE status = 'sent'";
    let in_flight =
        "SELECT count(*) FROM outbox WHERE status = 'pending' AND claimed_by IS NOT NULL";
    let mut claimed_at_kills = 0;
    for k in 0..KILLS {
        let before = w.scalar(sent).await;
        let mut p: Proc = daemon(&w, &[]);
        // Kill as soon as this process has sent a few: mid-drain, sends in flight.
        let start = Instant::now();
        loop {
            let now = w.scalar(sent).await;
            if now >= before + STEP {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "kill {k}: no progress from {before} sent\n{}",
                p.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        p.kill9();
        let after = w.scalar(sent).await;
        claimed_at_kills += w.scalar(in_flight).await;
        assert!(
            after > before && after < N as i64,
            "kill {k} landed mid-work: {before} → {after} of {N} sent"
        );
        // The dead sender's claims are free at once: every pending row is takeable. (Counted
        // afresh each time: a result the killed process had already sent may still commit.)
        poll_until(
            Duration::from_secs(30),
            Duration::from_millis(50),
            "the killed sender's rows takeable",
            || async {
                let pending = w
                    .scalar("SELECT count(*) FROM outbox WHERE status = 'pending'")
                    .await;
                takeable_count(&w.pool, false).await.expect("takeable") == pending
            },
        )
        .await;
    }
    assert!(
        claimed_at_kills > 0,
        "no kill caught a send in flight; the test proves nothing"
    );

    // Finish with one pass; it takes over the dead senders' rows without waiting.
    let out = w
        .command()
        .args(["run", "--once"])
        .output()
        .expect("run --once");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("Noch nicht gesendet"), "{stdout}");
    assert_eq!(w.scalar(sent).await, N as i64, "{stdout}");
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases WHERE ack_status = 'sent'")
            .await,
        N as i64,
        "every case acknowledged"
    );

    // What the citizen got: every acknowledgement, repeats within kills × parallel.
    wait_postfix_queue_clear(&w.folder).await;
    let acks = w.fetch_all(CITIZEN, &w.folder).await;
    let ids: HashSet<String> = acks
        .iter()
        .map(|a| header(a, "Message-ID").expect("Message-ID"))
        .collect();
    let expected: HashSet<String> = sqlx::query_as::<_, (String,)>("SELECT message_id FROM outbox")
        .fetch_all(&w.pool)
        .await
        .expect("message ids")
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(ids, expected, "each acknowledgement arrived");
    let repeats = acks.len() - N;
    eprintln!(
        "{KILLS} kills with {claimed_at_kills} rows claimed at the kills: {repeats} repeated acknowledgements"
    );
    assert!(
        repeats <= KILLS * PARALLEL,
        "{repeats} repeats after {KILLS} kills; documented bound kills × parallel = {}",
        KILLS * PARALLEL
    );
}

/// An SMTP server that accepts connections and never says a word: a send to it hangs.
async fn silent_smtp() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    port
}

#[tokio::test]
async fn a_killed_senders_rows_are_taken_over_by_a_running_sender_before_their_lease() {
    let w = World::new("obtake").await;
    ingest_without_sending(&w, PARALLEL).await;

    // Sender A claims every row and hangs on a silent server.
    let silent = silent_smtp().await.to_string();
    let parallel = PARALLEL.to_string();
    let mut a = daemon(
        &w,
        &[
            ("KRM_SMTP_PORT", silent.as_str()),
            ("KRM_SMTP_TIMEOUT_SECS", "300"),
            ("KRM_SMTP_PARALLEL", parallel.as_str()),
        ],
    );
    let claimed = "SELECT count(*) FROM outbox WHERE status = 'pending' AND claimed_by IS NOT NULL AND locked_until > now()";
    w.wait_scalar(claimed, PARALLEL as i64).await;
    assert_eq!(
        takeable_count(&w.pool, true).await.expect("takeable"),
        0,
        "a live sender's rows are not takeable"
    );

    // A single pass meanwhile (for another channel: A holds this one's intake lock) leaves
    // them alone and says so.
    let out = w
        .command()
        .args(["run", "--once"])
        .env("KRM_IMAP_CHANNEL", "zweitpostfach")
        .output()
        .expect("run --once");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "Noch nicht gesendet: {PARALLEL} Mails, die ein anderer laufender krm-intake gerade sendet"
        )),
        "{stdout}"
    );
    assert_eq!(w.scalar(claimed).await, PARALLEL as i64, "still A's");

    // Sender B runs; then A dies.
    let mut b = daemon(&w, &[("KRM_LOG_LEVEL", "info")]);
    assert!(
        b.wait_log("krm-intake running", Duration::from_secs(30))
            .await,
        "{}",
        b.log()
    );
    let (lease_end,): (chrono::DateTime<chrono::Utc>,) =
        sqlx::query_as("SELECT min(locked_until) FROM outbox")
            .fetch_one(&w.pool)
            .await
            .expect("lease");
    a.kill9();

    poll_until(
        Duration::from_secs(60),
        Duration::from_millis(100),
        "B sent the dead sender's rows",
        || async {
            w.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'")
                .await
                == PARALLEL as i64
        },
    )
    .await;
    let (last_sent,): (chrono::DateTime<chrono::Utc>,) =
        sqlx::query_as("SELECT max(sent_at) FROM outbox")
            .fetch_one(&w.pool)
            .await
            .expect("sent_at");
    assert!(
        last_sent < lease_end,
        "taken over only after the lease ({last_sent} ≥ {lease_end})"
    );
    assert!(
        b.log().contains("mail accepted by SMTP server"),
        "{}",
        b.log()
    );
    w.wait_count(CITIZEN, &w.folder, PARALLEL).await;
    b.signal(libc::SIGTERM);
    let _ = b.wait_exit(Duration::from_secs(10)).await;
}
