//! Batches recorded ahead (#17): a batch is recorded while the one before it is still being
//! committed, answering what that one writes from memory. `KRM_TEST_HOLD_COMMIT_MS` holds each
//! batch's COMMIT, so the next one is always recorded in that gap.

use crate::helpers::*;
use std::time::Duration;

fn citizen(w: &World, n: &str, subject: &str, extra_header: &str) -> Vec<u8> {
    let raw = mail(
        &format!("Erika Beispiel <{}>", w.sender(CITIZEN)),
        &w.inbox_address(),
        subject,
        &format!("Guten Tag,\r\nAnliegen {n}.\r\n\r\nViele Grüße\r\nErika Beispiel"),
        &format!("<{n}.{}@mail.test>", w.name),
    );
    let raw = String::from_utf8(raw).unwrap();
    raw.replacen("\r\n", &format!("\r\n{extra_header}"), 1)
        .into_bytes()
}

/// The case number the `seq`-th case of this year gets.
fn number(seq: u32) -> String {
    let year =
        chrono::Datelike::year(&chrono::Utc::now().with_timezone(&chrono_tz::Europe::Berlin));
    format!("KRM-{year}-{seq:05}")
}

/// (case number, subject) of every stored mail, in UID order.
async fn mails_by_case(w: &World) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT c.number, m.subject FROM messages m JOIN cases c ON c.id = m.case_id
         ORDER BY m.uid",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap()
}

/// Every acknowledgement names the case it belongs to.
async fn assert_acks_name_their_case(w: &World) {
    let acks: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT c.number, o.raw FROM outbox o JOIN cases c ON c.id = o.case_id
         WHERE o.kind = 'ack'",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    for (number, raw) in acks {
        assert!(
            String::from_utf8_lossy(&raw).contains(&number),
            "the acknowledgement of {number} names it"
        );
    }
}

/// One pass whose batches each hold their COMMIT for `ms`, logging the batches as JSON.
fn held(w: &World, ms: u32) -> std::process::Command {
    let mut c = w.command();
    c.args(["run", "--once", "--no-send"])
        .env("KRM_TEST_HOLD_COMMIT_MS", ms.to_string())
        .env("KRM_LOG_FORMAT", "json")
        .env("KRM_LOG_LEVEL", "warn,krm_intake::scan=debug");
    c
}

/// Starts one pass whose batches each hold their COMMIT for 1.5 s, and returns once the first
/// batch holds it (and the year's counter).
async fn held_pass(w: &World) -> std::process::Child {
    let intake = held(w, 1500)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // A session waiting for its COMMIT with the counter written; seen twice, 50 ms apart: the
    // start's warm-up writes nothing but holds the same lock for a moment, and a poll that
    // caught that one would let the test go on before any batch is written.
    let holder = || async {
        w.scalar(
            "SELECT coalesce(min(l.pid), 0)::int8 FROM pg_locks l
             JOIN pg_class c ON c.oid = l.relation
             JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND c.relname = 'case_number_seq' AND l.mode = 'RowExclusiveLock'
               AND a.state = 'idle in transaction'",
        )
        .await
    };
    let start = std::time::Instant::now();
    loop {
        assert!(start.elapsed() < Duration::from_secs(30), "no batch held");
        let pid = holder().await;
        if pid != 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if holder().await == pid {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    intake
}

/// Waits for the pass; it succeeded, and one batch recorded ahead met a change and was
/// recorded again, and only that one (the batch after it did not take its rows from memory).
fn recorded_again(intake: std::process::Child) {
    let out = intake.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert_eq!(
        log.matches("batch recorded ahead met a change; recording it again")
            .count(),
        1,
        "{log}"
    );
    assert!(
        !log.contains("the batch before was recorded again"),
        "{log}"
    );
}

#[tokio::test]
async fn a_batch_recorded_ahead_answers_from_the_uncommitted_batch_before_it() {
    let w = World::with_env(
        "ahead",
        &[
            ("KRM_IMAP_BATCH_SIZE", "1"),
            ("KRM_ACK_RATE_LIMIT_PER_HOUR", "2"),
        ],
    )
    .await;
    let n = &w.name;
    let first = citizen(&w, "a1", "Antrag", "");
    w.append(&first).await;
    // A reply to the mail of the batch before, that mail again, two more new cases from the same
    // address (the second over the hourly cap) and a mail naming the last case's number.
    w.append(&citizen(
        &w,
        "a2",
        "Nachtrag",
        &format!("In-Reply-To: <a1.{n}@mail.test>\r\n"),
    ))
    .await;
    w.append(&first).await;
    w.append(&citizen(&w, "a4", "Zweites Anliegen", "")).await;
    w.append(&citizen(&w, "a5", "Drittes Anliegen", "")).await;
    let about_third = format!("Frage zu {}", number(3));
    w.append(&citizen(&w, "a6", &about_third, "")).await;

    let out = held(&w, 400).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    // Every batch after the first took the one before from memory.
    assert_eq!(
        log.matches("\"before_from_memory\":true").count(),
        5,
        "{log}"
    );
    assert!(!log.contains("recording it again"), "{log}");

    assert_eq!(w.count(OMBUDS, &w.folder).await, 0, "inbox empty");
    let expected = [
        (number(1), "Antrag"),
        (number(1), "Nachtrag"),
        (number(2), "Zweites Anliegen"),
        (number(3), "Drittes Anliegen"),
        (number(3), about_third.as_str()),
    ];
    let got = mails_by_case(&w).await;
    let got: Vec<(&str, &str)> = got.iter().map(|(c, s)| (c.as_str(), s.as_str())).collect();
    let expected: Vec<(&str, &str)> = expected.iter().map(|(c, s)| (c.as_str(), *s)).collect();
    assert_eq!(got, expected);
    // One mail seen again; three numbers; the cap counts the batch before's acknowledgements:
    // two, the third case's suppressed.
    assert_eq!(
        [
            w.scalar("SELECT count(*) FROM case_events WHERE action = 'mail_seen_again'")
                .await,
            w.scalar("SELECT max(last)::int8 FROM case_number_seq")
                .await,
            w.scalar("SELECT count(*) FROM outbox WHERE kind = 'ack'")
                .await,
            w.scalar("SELECT count(*) FROM cases WHERE ack_status = 'suppressed' AND seq = 3")
                .await,
        ],
        [1, 3, 2, 1]
    );
    assert_acks_name_their_case(&w).await;
}

#[tokio::test]
async fn a_number_staff_take_meanwhile_makes_the_batch_recorded_ahead_record_again() {
    let w = World::with_env("aheadstaff", &[("KRM_IMAP_BATCH_SIZE", "1")]).await;
    w.append(&citizen(&w, "s1", "Erstes Anliegen", "")).await;
    w.append(&citizen(&w, "s2", "Zweites Anliegen", "")).await;
    w.append(&citizen(&w, "s3", "Drittes Anliegen", "")).await;

    let intake = held_pass(&w).await;
    // The first batch holds its COMMIT (and the year's counter); the second is recorded ahead
    // with the next number meanwhile.
    // Staff record a letter: their number comes once the first batch has committed.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%Y-%m-%d")
        .to_string();
    let (st, text) = w.run_private(
        &["case", "new", "--channel", "brief", "--received", &today],
        &[],
    );
    assert!(st.success(), "{text}");
    recorded_again(intake);

    let cases: Vec<(String, String)> =
        sqlx::query_as("SELECT number, channel FROM cases ORDER BY seq")
            .fetch_all(&w.pool)
            .await
            .unwrap();
    let channels: Vec<&str> = cases.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(channels.len(), 4);
    assert_eq!(channels[1], "brief", "staff's case after the first mail");
    let numbers: Vec<String> = cases.into_iter().map(|c| c.0).collect();
    assert_eq!(numbers, [number(1), number(2), number(3), number(4)]);
    assert_acks_name_their_case(&w).await;
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0, "inbox empty");
}

#[tokio::test]
async fn a_case_staff_close_meanwhile_makes_the_follow_up_recorded_ahead_reopen_it() {
    let w = World::with_env("aheadclose", &[("KRM_IMAP_BATCH_SIZE", "1")]).await;
    let n = &w.name;
    w.append(&citizen(&w, "c1", "Antrag", "")).await;
    let (st, log) = w.run_private(&["run", "--once", "--no-send"], &[]);
    assert!(st.success(), "{log}");
    w.append(&citizen(&w, "c2", "Anderes Anliegen", "")).await;
    w.append(&citizen(
        &w,
        "c3",
        "Nachtrag",
        &format!("In-Reply-To: <c1.{n}@mail.test>\r\n"),
    ))
    .await;

    let intake = held_pass(&w).await;
    // While the other mail's batch holds its COMMIT, the reply is recorded ahead as joining an
    // open case; staff close that case meanwhile.
    let (st, text) = w.run_private(&["case", "close", &number(1)], &[]);
    assert!(st.success(), "{text}");
    recorded_again(intake);
    // As if the reply had come after the close: it reopens the case.
    let (status,): (String,) = sqlx::query_as("SELECT status FROM cases WHERE seq = 1")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(status, "open");
    assert_eq!(
        w.scalar("SELECT count(*) FROM case_events WHERE action = 'reopened_by_followup'")
            .await,
        1
    );
    let got = mails_by_case(&w).await;
    let got: Vec<(&str, &str)> = got.iter().map(|(c, s)| (c.as_str(), s.as_str())).collect();
    assert_eq!(
        got,
        [
            (number(1).as_str(), "Antrag"),
            (number(2).as_str(), "Anderes Anliegen"),
            (number(1).as_str(), "Nachtrag"),
        ]
    );
}

/// The connections a pass warms before its first batch (the batch's statements for a mail
/// nothing matches, the INSERT with no rows, rolled back) leave nothing behind: no row, no
/// counter, no outbox notification; and the pass after them records as ever.
#[tokio::test]
async fn warming_the_connections_writes_nothing_and_the_pass_after_it_records_as_ever() {
    let w = World::new("aheadwarm").await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&w.pool)
        .await
        .unwrap();
    listener.listen("krm_outbox").await.unwrap();
    krm_intake::store::warm_for_intake(&w.pool, 2).await;
    for table in [
        "cases",
        "messages",
        "attachments",
        "case_events",
        "outbox",
        "case_number_seq",
    ] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&w.pool)
                .await
                .unwrap();
        assert_eq!(n, 0, "{table} after warming");
    }
    let notified = tokio::time::timeout(Duration::from_millis(300), listener.try_recv()).await;
    assert!(
        notified.is_err(),
        "a notification after warming: {notified:?}"
    );

    w.append(&citizen(&w, "w1", "Anliegen", "")).await;
    w.append(&citizen(&w, "w2", "Noch ein Anliegen", "")).await;
    let r = w.run_once().await;
    assert_eq!(r.scan.new_cases, 2);
    assert_eq!(
        w.cases()
            .await
            .iter()
            .map(|c| c.0.clone())
            .collect::<Vec<_>>(),
        [number(1), number(2)]
    );
}
