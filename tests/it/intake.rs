//! Lossless, exactly-once, loop-safe intake (issue 3), against the real servers.

use crate::helpers::*;
use crate::proxy::Proxy;
use std::time::Duration;

fn citizen_mail(w: &World, n: &str, subject: &str) -> (String, Vec<u8>) {
    let from = w.sender(CITIZEN);
    let raw = mail(
        &format!("Erika Beispiel <{from}>"),
        &w.inbox_address(),
        subject,
        &format!("Guten Tag,\r\nAnliegen {n}.\r\n\r\nViele Grüße\r\nErika Beispiel"),
        &format!("<{n}.{}@mail.test>", w.name),
    );
    (from, raw)
}

async fn ack_message_id(w: &World) -> String {
    let (mid,): (String,) =
        sqlx::query_as("SELECT message_id FROM outbox WHERE kind = 'ack' ORDER BY id LIMIT 1")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    mid
}

#[tokio::test]
async fn idle_wakes_the_daemon_for_new_mail() {
    // IDLE interval 10 min: only IDLE itself can bring the mail in within the wait below.
    let w = World::with_env("idle", &[("KRM_IMAP_IDLE_SECS", "600")]).await;
    w.prepare_folder(OMBUDS, &w.folder).await;
    let mut p = crate::ops::daemon(&w, &[("KRM_LOG_LEVEL", "info,krm_intake::daemon=debug")]);
    // The first scan of the empty inbox is done and the daemon is in IDLE.
    assert!(
        p.wait_log("waiting in IDLE", Duration::from_secs(60)).await,
        "{}",
        p.log()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 0);
    let (from, raw) = citizen_mail(&w, "i1", "Frage zum Bescheid");
    w.note_personal(&raw);
    // Not `deliver`: the running daemon may move the mail before a count could see it.
    smtp_send(&from, &w.inbox_address(), &raw).await;
    let sent = std::time::Instant::now();
    let mut cases = 0;
    while sent.elapsed() < Duration::from_secs(20) && cases == 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cases = w.scalar("SELECT count(*) FROM cases").await;
    }
    assert_eq!(
        cases,
        1,
        "no case 20 s after delivery although the next poll is 10 min away: IDLE did not wake \
         the daemon\n{}",
        p.log()
    );
    w.wait_scalar("SELECT count(*) FROM outbox WHERE status = 'sent'", 1)
        .await;
    w.wait_count(CITIZEN, &w.folder, 1).await;
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(15)).await.is_some());
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    w.assert_private(&p.log());
}

#[tokio::test]
async fn without_idle_and_move_it_polls_and_copies_then_expunges_by_uid() {
    let port = var("KRM_TEST_IMAP_NOIDLE_PORT");
    let w = World::with_env(
        "noidle",
        &[
            ("KRM_IMAP_PORT", port.as_str()),
            ("KRM_IMAP_POLL_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let mb = krm_intake::mailbox::Mailbox::connect(&w.settings().imap)
        .await
        .unwrap();
    let caps = mb.capabilities();
    assert!(!caps.idle && !caps.r#move && caps.uidplus, "{caps:?}");
    mb.logout().await;

    // A mail that is not ours stays: only exactly the handled UID is expunged.
    let d = w.spawn_daemon().await;
    for n in ["p1", "p2"] {
        let (from, raw) = citizen_mail(&w, n, "Erreichbarkeit");
        smtp_send(&from, &w.inbox_address(), &raw).await;
    }
    w.wait_scalar("SELECT count(*) FROM cases", 2).await;
    w.wait_count(OMBUDS, &format!("{}_erfasst", w.folder), 2)
        .await;
    d.stop().await;
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);

    // A mail another client flagged \Deleted (not yet expunged) while the daemon moves one of
    // its own: COPY + UID EXPUNGE must remove exactly the moved UID, never the foreign mail.
    let (_, own) = citizen_mail(&w, "p3", "Eigene");
    let (_, foreign) = citizen_mail(&w, "p4", "Fremde");
    w.append(&own).await;
    w.append(&foreign).await;
    let mut mb = krm_intake::mailbox::Mailbox::connect(&w.settings().imap)
        .await
        .unwrap();
    mb.select(&w.folder).await.unwrap();
    let uids = mb.all_uids().await.unwrap();
    assert_eq!(uids.len(), 2);
    mb.flag_deleted(&uids[1..]).await.unwrap();
    mb.move_uids(&uids[..1], &format!("{}_erfasst", w.folder))
        .await
        .unwrap();
    assert_eq!(
        mb.all_uids().await.unwrap(),
        vec![uids[1]],
        "the foreign mail survives"
    );
    mb.logout().await;
}

#[tokio::test]
async fn the_same_mail_twice_is_one_case_and_one_acknowledgement() {
    let w = World::new("dupe").await;
    let (from, raw) = citizen_mail(&w, "d1", "Doppelt");
    w.deliver(&from, &raw).await;
    w.deliver(&from, &raw).await; // other Received lines, same content
    let r = w.run_once().await;
    assert_eq!((r.scan.new_cases, r.scan.seen_again), (1, 1), "{r:?}");
    assert_eq!(w.cases().await.len(), 1);
    assert_eq!(w.scalar("SELECT count(*) FROM outbox").await, 1);
    assert_eq!(
        w.scalar("SELECT count(*) FROM case_events WHERE action = 'mail_seen_again'")
            .await,
        1
    );
    assert_eq!(w.count(OMBUDS, &format!("{}_erfasst", w.folder)).await, 2);

    // Re-appended later (e.g. restored by a person): still no second case.
    w.append(&raw).await;
    let r = w.run_once().await;
    assert_eq!((r.scan.new_cases, r.scan.seen_again), (0, 1));
}

#[tokio::test]
async fn a_reused_message_id_with_other_content_is_a_new_flagged_case() {
    let w = World::new("reuse").await;
    let from = w.sender(CITIZEN);
    let mid = format!("<reused.{}@mail.test>", w.name);
    w.deliver(
        &from,
        &mail(&from, &w.inbox_address(), "Erste", "Text eins", &mid),
    )
    .await;
    w.deliver(
        &from,
        &mail(&from, &w.inbox_address(), "Zweite", "Text zwei", &mid),
    )
    .await;
    let r = w.run_once().await;
    assert_eq!(r.scan.new_cases, 2);
    let flagged = w
        .scalar("SELECT count(*) FROM cases WHERE review_reason = 'possible_duplicate' AND possible_duplicate_of IS NOT NULL")
        .await;
    assert_eq!(flagged, 1);
}

#[tokio::test]
async fn follow_ups_join_their_case_without_a_new_acknowledgement() {
    let w = World::new("follow").await;
    let (from, raw) = citizen_mail(&w, "f1", "Umzug genehmigen");
    w.deliver(&from, &raw).await;
    w.run_once().await;
    let number = w.cases().await[0].0.clone();
    let ack_mid = ack_message_id(&w).await;

    // 1. Case number in the subject behind reply prefixes.
    let reply = mail(
        &from,
        &w.inbox_address(),
        &format!("AW: Re: WG: [{number}] Eingangsbestätigung"),
        "Noch eine Frage.",
        &format!("<f2.{}@mail.test>", w.name),
    );
    w.deliver(&from, &reply).await;
    // 2. A reply to our acknowledgement without the number.
    let reply2 = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Antwort\r\nMessage-ID: <f3.{n}@mail.test>\r\nIn-Reply-To: {ack_mid}\r\nReferences: {ack_mid}\r\n\r\nDanke.\r\n",
        to = w.inbox_address(),
        n = w.name
    );
    w.deliver(&from, reply2.as_bytes()).await;
    // 3. A number that does not exist: a new case.
    let unknown = mail(
        &from,
        &w.inbox_address(),
        "Re: [KRM-2019-99999] alt",
        "Neues Anliegen.",
        &format!("<f4.{}@mail.test>", w.name),
    );
    w.deliver(&from, &unknown).await;

    let r = w.run_once().await;
    assert_eq!((r.scan.followups, r.scan.new_cases), (2, 1), "{r:?}");
    assert_eq!(w.cases().await.len(), 2);
    assert_eq!(
        w.scalar("SELECT count(*) FROM outbox WHERE kind = 'ack'")
            .await,
        2
    );
    let (msgs,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM messages m JOIN cases c ON c.id = m.case_id WHERE c.number = $1",
    )
    .bind(&number)
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!(msgs, 3);
}

/// A citizen's mail recorded as a case, which staff then closed: its sender and case number.
async fn closed_case(w: &World, id: &str) -> (String, String) {
    let (from, raw) = citizen_mail(w, id, "Mietkaution");
    w.deliver(&from, &raw).await;
    w.run_once().await;
    let number = w.cases().await[0].0.clone();
    sqlx::query("UPDATE cases SET status = 'closed', closed_at = now()")
        .execute(&w.pool)
        .await
        .unwrap();
    (from, number)
}

#[tokio::test]
async fn a_follow_up_reopens_a_closed_case_or_opens_a_linked_one() {
    for (mode, expect_cases) in [("reopen", 1usize), ("new_case", 2usize)] {
        let w = World::with_env("closed", &[("KRM_INTAKE_CLOSED_FOLLOWUP", mode)]).await;
        let (from, number) = closed_case(&w, "c1").await;
        let reply = mail(
            &from,
            &w.inbox_address(),
            &format!("Aw: [{number}]"),
            "Es ist wieder passiert.",
            &format!("<c2.{}@mail.test>", w.name),
        );
        w.deliver(&from, &reply).await;
        w.run_once().await;
        let cases = w.cases().await;
        assert_eq!(cases.len(), expect_cases, "mode {mode}");
        if mode == "reopen" {
            assert_eq!(cases[0].1, "open");
            assert_eq!(
                w.scalar("SELECT count(*) FROM case_events WHERE action = 'reopened_by_followup'")
                    .await,
                1
            );
        } else {
            assert_eq!(cases[0].1, "closed");
            assert_eq!(
                w.scalar("SELECT count(*) FROM cases WHERE possible_duplicate_of IS NOT NULL")
                    .await,
                1
            );
        }
    }
}

#[tokio::test]
async fn two_follow_ups_in_one_batch_reopen_a_closed_case_once() {
    // The batch locks the follow-ups' cases ahead and keeps their status in memory: the second
    // follow-up must see the case the first one reopened as open.
    let w = World::with_env("reopen2", &[("KRM_INTAKE_CLOSED_FOLLOWUP", "reopen")]).await;
    let (from, number) = closed_case(&w, "r1").await;
    for (i, text) in [(2, "Es ist wieder passiert."), (3, "Und noch einmal.")] {
        let reply = mail(
            &from,
            &w.inbox_address(),
            &format!("Aw: [{number}]"),
            text,
            &format!("<r{i}.{}@mail.test>", w.name),
        );
        w.append(&reply).await;
    }
    let r = w.run_once().await;
    assert_eq!(r.scan.followups, 2, "{r:?}");
    let cases = w.cases().await;
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].1, "open");
    let events = |action: &'static str| {
        let pool = w.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM case_events WHERE action = $1")
                .bind(action)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(events("reopened_by_followup").await, 1);
    assert_eq!(events("followup").await, 1);
}

#[tokio::test]
async fn machines_get_no_acknowledgement_and_bounces_land_on_their_case() {
    let w = World::new("machines").await;
    let citizen = w.sender(CITIZEN);
    let (_, first) = citizen_mail(&w, "m1", "Antrag");
    w.deliver(&citizen, &first).await;
    w.run_once().await;
    let number = w.cases().await[0].0.clone();
    let ack_mid = ack_message_id(&w).await;

    let to = w.inbox_address();
    let n = &w.name;
    // Out-of-office reply to our acknowledgement: joins the case, no acknowledgement.
    let ooo = format!("From: {citizen}\r\nTo: {to}\r\nSubject: Abwesend: [{number}]\r\nMessage-ID: <ooo.{n}@mail.test>\r\nIn-Reply-To: {ack_mid}\r\nAuto-Submitted: auto-replied\r\n\r\nIch bin bis Montag nicht im Büro.\r\n");
    // An unrelated auto-reply: a case for staff to check, no acknowledgement.
    let auto = format!("From: {citizen}\r\nTo: {to}\r\nSubject: Automatische Antwort\r\nMessage-ID: <auto.{n}@mail.test>\r\nX-Autoreply: yes\r\n\r\nAbwesend.\r\n");
    // Bulk mail: a case marked for review, no acknowledgement.
    let bulk = format!("From: Newsletter <news+{n}@mail.test>\r\nTo: {to}\r\nSubject: Newsletter\r\nMessage-ID: <bulk.{n}@mail.test>\r\nList-Id: <news.mail.test>\r\nPrecedence: bulk\r\n\r\nNeuigkeiten.\r\n");
    // A no-reply sender: a case, no acknowledgement.
    let noreply = format!("From: noreply+{n}@mail.test\r\nTo: {to}\r\nSubject: Hinweis\r\nMessage-ID: <nr.{n}@mail.test>\r\n\r\nBitte nicht antworten.\r\n");
    // A bounce of our acknowledgement: recorded on its case, not a case of its own.
    let dsn = format!(
        "Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mail.test>\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.{n}@mail.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r1\"\r\n\r\n\
         --r1\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\
         --r1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.test\r\n\r\nFinal-Recipient: rfc822; gone@mail.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
         --r1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: ombudsstelle@jobcenter.test\r\nMessage-ID: {ack_mid}\r\nSubject: [{number}] Eingangsbestätigung\r\n\r\n--r1--\r\n"
    );
    for raw in [&ooo, &auto, &bulk, &noreply, &dsn] {
        w.append(raw.as_bytes()).await;
    }
    let r = w.run_once().await;
    assert_eq!(r.scan.followups, 1, "{r:?}");
    assert_eq!(r.scan.bounces, 1, "{r:?}");
    assert_eq!(r.scan.new_cases, 3, "{r:?}");
    // Only the first mail was ever acknowledged.
    assert_eq!(
        w.scalar("SELECT count(*) FROM outbox WHERE kind = 'ack'")
            .await,
        1
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases WHERE ack_status = 'suppressed'")
            .await,
        3
    );
    let (status, detail): (String, Option<String>) =
        sqlx::query_as("SELECT ack_status, ack_detail FROM cases WHERE number = $1")
            .bind(&number)
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), detail.as_deref()),
        ("not_delivered", Some("5.1.1"))
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases WHERE review_reason = 'bulk'")
            .await,
        1
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases WHERE review_reason = 'auto_reply'")
            .await,
        1
    );
}

#[tokio::test]
async fn acknowledgements_are_capped_per_address_except_for_third_parties() {
    let w = World::with_env("cap", &[("KRM_ACK_RATE_LIMIT_PER_HOUR", "2")]).await;
    let citizen = w.sender(CITIZEN);
    let centre = w.sender(MITTELPUNKT);
    for i in 0..3 {
        let (_, raw) = citizen_mail(&w, &format!("cap{i}"), "Beschwerde");
        w.deliver(&citizen, &raw).await;
        let raw = mail(
            &centre,
            &w.inbox_address(),
            "Für unseren Klienten",
            &format!("Fall {i}\r\n\r\nMit freundlichen Grüßen\r\nBeratungsstelle Mittelpunkt"),
            &format!("<bm{i}.{}@beratung-mittelpunkt.test>", w.name),
        );
        w.deliver(&centre, &raw).await;
    }
    let r = w.run_once().await;
    assert_eq!(r.scan.new_cases, 6);
    let (citizen_acks,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM outbox WHERE recipient = lower($1)")
            .bind(&citizen)
            .fetch_one(&w.pool)
            .await
            .unwrap();
    let (centre_acks,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM outbox WHERE recipient = lower($1)")
            .bind(&centre)
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!((citizen_acks, centre_acks), (2, 3));
    // What the recipients really got, once Postfix has delivered everything for this test.
    w.wait_count(CITIZEN, &w.folder, 2).await;
    w.wait_count(MITTELPUNKT, &w.folder, 3).await;
    assert_eq!(
        w.count_settled(CITIZEN, &w.folder).await,
        2,
        "capped at 2 per hour"
    );
    assert_eq!(
        w.count_settled(MITTELPUNKT, &w.folder).await,
        3,
        "third parties are not capped"
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM case_events WHERE action = 'ack_suppressed' AND detail LIKE 'Obergrenze%'").await,
        1
    );
}

#[tokio::test]
async fn bad_mail_goes_to_quarantine_and_never_blocks_the_next() {
    let w = World::with_env("quar", &[("KRM_IMAP_MAX_MESSAGE_SIZE", "200000")]).await;
    let n = &w.name;
    let mut many_headers = String::new();
    for i in 0..10_000 {
        many_headers.push_str(&format!("X-Filler-{i}: x\r\n"));
    }
    let header_bomb = format!("From: a+{n}@mail.test\r\nMessage-ID: <hb.{n}@mail.test>\r\n{many_headers}Subject: x\r\n\r\nbody\r\n");
    let big = format!(
        "From: a+{n}@mail.test\r\nMessage-ID: <big.{n}@mail.test>\r\nSubject: gross\r\n\r\n{}\r\n",
        "x".repeat(300_000)
    );
    w.append(header_bomb.as_bytes()).await;
    w.append(big.as_bytes()).await;
    let (from, raw) = citizen_mail(&w, "q3", "Normal");
    w.append(&raw).await;
    let _ = from;
    // The binary, so that its log is checked for the mails' personal data too.
    let (st, log) = w.run_private(&["run", "--once"], &[]);
    assert!(st.success(), "{log}");
    assert!(
        log.contains("Neue Vorgänge: 1,") && log.contains("Quarantäne: 2;"),
        "{log}"
    );
    assert!(log.contains("mail quarantined"), "{log}");
    assert_eq!(
        w.count(OMBUDS, &format!("{}_quarantaene", w.folder)).await,
        2
    );
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    let reasons: Vec<(String,)> = sqlx::query_as("SELECT reason FROM quarantine ORDER BY id")
        .fetch_all(&w.pool)
        .await
        .unwrap();
    assert!(
        reasons
            .iter()
            .any(|(r,)| r.contains("MB") || r.contains("groß")),
        "{reasons:?}"
    );
    assert!(reasons.iter().all(|(r,)| !r.is_empty()));

    // Staff see them; after raising the limit, a retry brings the large one back.
    let out = w.command().args(["quarantine", "list"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 3, "{text}");
    // Sizes as staff read them elsewhere (`case show`, the desk), not in raw bytes.
    assert!(text.contains(" kB "), "{text}");
    assert!(!text.contains("00000"), "{text}");

    // A mail quarantined for its size was never downloaded, but its header block was: the
    // record has its Message-ID, so after raising the limit a retry brings it back.
    let (id, mid): (i64, Option<String>) =
        sqlx::query_as("SELECT id, message_id FROM quarantine WHERE size > 200000")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(mid, Some(format!("<big.{n}@mail.test>")));
    let (st, text) = w.run_private(&["quarantine", "retry", &id.to_string()], &[]);
    assert!(st.success(), "{text}");
    assert_eq!(w.count(OMBUDS, &w.folder).await, 1);
    let (st, log) = w.run_private(
        &["run", "--once", "--no-send"],
        &[("KRM_IMAP_MAX_MESSAGE_SIZE", "400000")],
    );
    assert!(st.success(), "{log}");
    assert!(log.contains("Neue Vorgänge: 1,"), "{log}");
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
}

#[tokio::test]
async fn a_batch_resolves_its_own_replies_and_duplicates_and_quarantines_only_a_rejected_mail() {
    // All in one batch: the lookups fetched for the batch must see what the batch records itself,
    // and a mail the database refuses (here by a trigger: SQLSTATE 22023) makes the
    // batch redo itself mail by mail, quarantining only that mail.
    let w = World::new("batch").await;
    let n = &w.name;
    let (from, first) = citizen_mail(&w, "b1", "Antrag");
    w.append(&first).await;
    let reply = mail(
        &from,
        &w.inbox_address(),
        "Nachtrag",
        "Noch etwas.\r\n",
        &format!("<b2.{n}@mail.test>"),
    );
    let reply = String::from_utf8(reply).unwrap().replacen(
        "\r\n",
        &format!("\r\nIn-Reply-To: <b1.{n}@mail.test>\r\n"),
        1,
    );
    w.append(reply.as_bytes()).await;
    w.append(&first).await;
    // Stands in for any mail whose data the database refuses.
    sqlx::raw_sql(
        "CREATE FUNCTION reject_kaputt() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.subject = 'kaputt' THEN
                 RAISE EXCEPTION 'refused' USING ERRCODE = '22023';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER reject_kaputt BEFORE INSERT ON messages
             FOR EACH ROW EXECUTE FUNCTION reject_kaputt();",
    )
    .execute(&w.pool)
    .await
    .unwrap();
    let (_, rejected) = citizen_mail(&w, "b4", "kaputt");
    w.append(&rejected).await;
    let (_, last) = citizen_mail(&w, "b5", "Anderes Anliegen");
    w.append(&last).await;

    let r = w.run_once().await;
    assert_eq!(
        (
            r.scan.new_cases,
            r.scan.followups,
            r.scan.seen_again,
            r.scan.quarantined
        ),
        (2, 1, 1, 1),
        "{r:?}"
    );
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 2);
    assert_eq!(w.scalar("SELECT count(*) FROM messages").await, 3);
    assert_eq!(w.scalar("SELECT count(*) FROM outbox").await, 2);
    // The redo numbered the cases anew: gapless, and the counter agrees.
    assert_eq!(w.scalar("SELECT max(seq)::int8 FROM cases").await, 2);
    assert_eq!(
        w.scalar("SELECT max(last)::int8 FROM case_number_seq")
            .await,
        2
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM quarantine WHERE reason LIKE '%SQLSTATE 22%'")
            .await,
        1
    );

    // The database is fixed; staff retry the mail and the next pass makes it a case.
    sqlx::raw_sql("DROP TRIGGER reject_kaputt ON messages")
        .execute(&w.pool)
        .await
        .unwrap();
    let id = w.scalar("SELECT id FROM quarantine").await;
    let (st, text) = w.run_private(&["quarantine", "retry", &id.to_string()], &[]);
    assert!(st.success(), "{text}");
    assert_eq!(w.count(OMBUDS, &w.folder).await, 1, "back in the inbox");
    let (st, log) = w.run_private(&["run", "--once"], &[]);
    assert!(st.success(), "{log}");
    assert!(
        log.contains("Neue Vorgänge: 1,") && log.contains("Quarantäne: 0;"),
        "{log}"
    );
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 3);
    assert_eq!(
        w.scalar("SELECT count(*) FROM messages WHERE subject = 'kaputt'")
            .await,
        1,
        "the retried mail is recorded on a case"
    );
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    assert_eq!(
        w.count(OMBUDS, &format!("{}_quarantaene", w.folder)).await,
        0
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM quarantine WHERE status = 'retried'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_changed_uidvalidity_triggers_a_safe_resync() {
    let w = World::new("uidv").await;
    let (from, raw) = citizen_mail(&w, "u1", "Eins");
    w.deliver(&from, &raw).await;
    let r = w.run_once().await;
    assert_eq!(r.scan.new_cases, 1);
    let old = w.scalar("SELECT uidvalidity FROM mailbox_state").await;
    let (old_uid,): (i64,) = sqlx::query_as("SELECT uid::bigint FROM messages")
        .fetch_one(&w.pool)
        .await
        .unwrap();

    // The server really changes UIDVALIDITY: the folder is deleted and made anew (as after a
    // server migration), so UIDs start again at 1 and collide with the UIDs recorded before.
    let conf = format!("{}/dovecot/dovecot.conf", var("KRM_TEST_SERVICES_DIR"));
    let out = std::process::Command::new("doveadm")
        .args(["-c", &conf, "mailbox", "delete", "-u", OMBUDS, &w.folder])
        .output()
        .expect("doveadm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, new) = citizen_mail(&w, "u2", "Zwei");
    w.append(&new).await; // takes the old mail's UID
    w.append(&raw).await; // the old mail comes back, as after a restore
    let mut mb = login(OMBUDS).await;
    let server = i64::from(mb.select(&w.folder).await.unwrap());
    assert_eq!(
        mb.all_uids().await.unwrap()[0] as i64,
        old_uid,
        "UIDs start again"
    );
    mb.logout().await;
    assert_ne!(server, old, "the server gave the folder a new UIDVALIDITY");

    let r = w.run_once().await;
    assert_eq!((r.scan.new_cases, r.scan.seen_again), (1, 1), "{r:?}");
    assert_eq!(
        w.scalar("SELECT uidvalidity FROM mailbox_state").await,
        server
    );
    assert_eq!(w.cases().await.len(), 2);
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
}

#[tokio::test]
async fn a_crash_between_copy_and_expunge_without_move_creates_no_second_case() {
    let port = var("KRM_TEST_IMAP_NOIDLE_PORT");
    let w = World::with_env("crashcopy", &[("KRM_IMAP_PORT", port.as_str())]).await;
    w.prepare_folder(CITIZEN, &w.folder).await;
    let (from, raw) = citizen_mail(&w, "cc1", "Absturz beim Verschieben");
    w.deliver(&from, &raw).await;
    let processed = format!("{}_erfasst", w.folder);
    let (st, log) = w.run_private(
        &["run", "--once", "--no-send"],
        &[("KRM_FAILPOINT", "after_copy_before_expunge")],
    );
    assert!(!st.success(), "the fail point aborts the process:\n{log}");
    assert!(
        log.contains("fail point after_copy_before_expunge hit"),
        "{log}"
    );
    assert_eq!(
        w.cases().await.len(),
        1,
        "the case was committed before the move"
    );
    assert_eq!(
        w.count(OMBUDS, &w.folder).await,
        1,
        "the original is still in the inbox"
    );
    assert_eq!(w.count(OMBUDS, &processed).await, 1, "the copy was made");

    let (st, log) = w.run_private(&["run", "--once"], &[]);
    assert!(st.success(), "{log}");
    assert!(log.contains("erneut gesehen: 1"), "{log}");
    assert_eq!(w.cases().await.len(), 1, "no second case");
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    assert_eq!(
        w.count(OMBUDS, &processed).await,
        2,
        "the crash's copy and the move's"
    );
    assert_eq!(w.scalar("SELECT count(*) FROM outbox").await, 1);
    w.wait_count(CITIZEN, &w.folder, 1).await;
    assert_eq!(
        w.count_settled(CITIZEN, &w.folder).await,
        1,
        "one acknowledgement"
    );
}

#[tokio::test]
async fn a_mail_over_the_size_limit_is_quarantined_without_being_downloaded() {
    let target = format!("{}:{}", var("KRM_IMAP_HOST"), var("KRM_IMAP_PORT"))
        .parse()
        .unwrap();
    let proxy = Proxy::start(target).await;
    let port = proxy.port();
    let w = World::with_env(
        "sizefirst",
        &[
            ("KRM_IMAP_PORT", port.as_str()),
            ("KRM_IMAP_MAX_MESSAGE_SIZE", "200000"),
        ],
    )
    .await;
    let n = &w.name;
    let big = format!(
        "From: a+{n}@mail.test\r\nMessage-ID: <huge.{n}@mail.test>\r\nSubject: riesig\r\n\r\n{}\r\n",
        "y".repeat(3_000_000)
    );
    w.append(big.as_bytes()).await;
    let (from, raw) = citizen_mail(&w, "s1", "Klein");
    w.deliver(&from, &raw).await;
    let before = proxy.bytes_from_server();
    let r = w.run_once().await;
    assert_eq!((r.scan.new_cases, r.scan.quarantined), (1, 1), "{r:?}");
    let read = proxy.bytes_from_server() - before;
    assert!(
        read < 1_000_000,
        "{read} bytes came from the IMAP server: the 3 MB mail was downloaded"
    );
    let (reason,): (String,) = sqlx::query_as("SELECT reason FROM quarantine")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert!(reason.contains("MB"), "{reason}");
    assert_eq!(
        w.count(OMBUDS, &format!("{}_quarantaene", w.folder)).await,
        1
    );
}

#[tokio::test]
async fn a_crash_after_commit_before_move_creates_no_second_case() {
    let w = World::with_env("crash1", &[("KRM_IMAP_MAX_MESSAGE_SIZE", "200000")]).await;
    let (from, raw) = citizen_mail(&w, "k1", "Absturz");
    w.deliver(&from, &raw).await;
    // And a mail bound for quarantine in the same batch: recorded once, not once per pass.
    let n = &w.name;
    let big = format!(
        "From: a+{n}@mail.test\r\nMessage-ID: <kbig.{n}@mail.test>\r\nSubject: gross\r\n\r\n{}\r\n",
        "x".repeat(300_000)
    );
    w.append(big.as_bytes()).await;
    let out = w
        .command()
        .args(["run", "--once"])
        .env("KRM_FAILPOINT", "after_commit_before_move")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the fail point aborts the process");
    assert_eq!(w.cases().await.len(), 1, "the case was committed");
    assert_eq!(
        w.count(OMBUDS, &w.folder).await,
        2,
        "the mails are still in the inbox"
    );
    assert_eq!(w.scalar("SELECT count(*) FROM quarantine").await, 1);

    let out = w.command().args(["run", "--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(w.cases().await.len(), 1);
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    assert_eq!(w.scalar("SELECT count(*) FROM quarantine").await, 1);
    assert_eq!(
        w.count(OMBUDS, &format!("{}_quarantaene", w.folder)).await,
        1
    );
    assert_eq!(w.scalar("SELECT count(*) FROM outbox").await, 1);
    w.wait_count(CITIZEN, &w.folder, 1).await;
}

#[tokio::test]
async fn a_crash_after_smtp_acceptance_repeats_the_acknowledgement_at_most_once() {
    let w = World::new("crash2").await;
    let (from, raw) = citizen_mail(&w, "k2", "Absturz beim Senden");
    w.deliver(&from, &raw).await;
    let out = w
        .command()
        .args(["run", "--once"])
        .env("KRM_FAILPOINT", "after_smtp_before_mark")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        w.scalar("SELECT count(*) FROM outbox WHERE status = 'pending'")
            .await,
        1
    );
    // The dead sender's lock is gone with its session: the next pass takes the row over.
    let out = w.command().args(["run", "--once"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        w.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'")
            .await,
        1
    );

    // Two copies arrived, recognisable as one acknowledgement by their Message-ID.
    w.wait_count(CITIZEN, &w.folder, 2).await;
    let acks = w.fetch_all(CITIZEN, &w.folder).await;
    let ids: std::collections::HashSet<_> = acks.iter().map(|a| header(a, "Message-ID")).collect();
    assert_eq!(
        (acks.len(), ids.len()),
        (2, 1),
        "one repeat, same Message-ID"
    );
}

#[tokio::test]
async fn random_kills_during_a_backlog_lose_nothing_and_duplicate_nothing() {
    const PARALLEL: usize = 4;
    let w = World::with_env(
        "sigkill",
        &[
            ("KRM_ACK_RATE_LIMIT_PER_HOUR", "100000"),
            ("KRM_IMAP_BATCH_SIZE", "5"),
            ("KRM_SMTP_PARALLEL", "4"),
        ],
    )
    .await;
    const N: i64 = 200;
    let mut mb = login(OMBUDS).await;
    let _ = mb.ensure_folder(&w.folder).await;
    for i in 0..N {
        let (_, raw) = citizen_mail(&w, &format!("s{i}"), &format!("Rückstau {i}"));
        mb.append(&w.folder, &raw).await.unwrap();
    }
    mb.logout().await;

    // Kill the daemon while it works through the backlog: each kill comes as soon as that
    // process has made a case, after a pseudo-random extra moment, and must land mid-work.
    let extra = [0u64, 20, 10, 30, 15, 0];
    let mut before = 0;
    let mut progress = Vec::new();
    for (k, d) in extra.iter().enumerate() {
        let mut child = w
            .command()
            .args(["run"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while w.scalar("SELECT count(*) FROM cases").await <= before {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "kill {k}: no new case"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(*d)).await;
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        let _ = child.wait();
        let now = w.scalar("SELECT count(*) FROM cases").await;
        assert!(
            now > before && now < N,
            "kill {k} landed mid-work: {before} → {now} of {N} cases"
        );
        before = now;
        progress.push(now);
    }
    // One pass finishes; the killed senders' claims are taken over without waiting.
    let out = w.command().args(["run", "--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(w.count(OMBUDS, &w.folder).await, 0, "inbox drained");
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases").await,
        N,
        "one case per mail"
    );
    assert_eq!(
        w.scalar("SELECT count(DISTINCT message_id) FROM messages")
            .await,
        N
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM outbox WHERE kind = 'ack'")
            .await,
        N
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM outbox WHERE status <> 'sent'")
            .await,
        0
    );
    // Acknowledgements: at least one per case; a kill repeats at most `[smtp] parallel`
    // (docs/operations.md), each recognisable by its Message-ID. Counted once Postfix has
    // delivered everything.
    wait_postfix_queue_clear(&w.folder).await;
    let acks = w.fetch_all(CITIZEN, &w.folder).await;
    let ids: std::collections::HashSet<_> = acks.iter().map(|a| header(a, "Message-ID")).collect();
    assert_eq!(ids.len(), N as usize);
    let repeats = acks.len() - N as usize;
    assert!(
        repeats <= extra.len() * PARALLEL,
        "{repeats} repeats after {} kills: more than kills × parallel",
        extra.len()
    );
    eprintln!(
        "cases after each kill {progress:?}; acknowledgement repeats after {} kills: {repeats}",
        extra.len()
    );
}

#[tokio::test]
async fn smtp_outage_keeps_the_acknowledgement_and_retries() {
    let target = format!("{}:{}", var("KRM_SMTP_HOST"), var("KRM_SMTP_PORT"))
        .parse()
        .unwrap();
    let proxy = Proxy::start(target).await;
    let port = proxy.port();
    let w = World::with_env(
        "smtpout",
        &[
            ("KRM_SMTP_PORT", port.as_str()),
            ("KRM_SMTP_TIMEOUT_SECS", "5"),
        ],
    )
    .await;
    let (from, raw) = citizen_mail(&w, "o1", "Während der Störung");
    w.deliver(&from, &raw).await;
    proxy.cut();
    // The binary, so that the log of the failing delivery is checked for personal data too.
    let (st, log) = w.run_private_async(&["run", "--once"], &[]).await;
    assert!(st.success(), "{log}");
    assert!(
        log.contains("Neue Vorgänge: 1,") && log.contains("Mails gesendet: 0, später erneut: 1,"),
        "{log}"
    );
    let (status, attempts): (String, i32) = sqlx::query_as("SELECT status, attempts FROM outbox")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    proxy.restore();
    let (st, log) = w.run_private_async(&["run", "--once"], &[]).await;
    assert!(st.success(), "{log}");
    assert!(log.contains("Mails gesendet: 1,"), "{log}");
    w.wait_count(CITIZEN, &w.folder, 1).await;
}

#[tokio::test]
async fn a_refused_recipient_fails_for_good_with_the_servers_answer() {
    let w = World::new("refused").await;
    // Our test Postfix refuses every recipient outside the .test domains at RCPT.
    let raw = mail(
        "Someone <someone@example.org>",
        &w.inbox_address(),
        "Hallo",
        "Text",
        &format!("<r.{}@example.org>", w.name),
    );
    w.append(&raw).await;
    // The server's answer is recorded; the log (which shows the SMTP status) names no address.
    let (st, log) = w.run_private(&["run", "--once"], &[]);
    assert!(st.success(), "{log}");
    assert!(
        log.contains("Neue Vorgänge: 1,") && log.contains("fehlgeschlagen: 1"),
        "{log}"
    );
    let (code, status): (Option<String>, String) = sqlx::query_as(
        "SELECT o.last_code, c.ack_status FROM outbox o JOIN cases c ON c.id = o.case_id",
    )
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert!(code.unwrap_or_default().starts_with('5'));
    assert_eq!(status, "failed");
}

#[tokio::test]
async fn a_database_outage_pauses_intake_and_loses_nothing() {
    let target = "127.0.0.1:5432".parse().unwrap();
    let proxy = Proxy::start(target).await;
    let w0 = World::new("dbout").await;
    let url = w0
        .db_url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port()));
    let mut w = w0;
    w.env.retain(|(k, _)| k != "KRM_DATABASE_URL");
    w.env.push(("KRM_DATABASE_URL".into(), url));
    w.env.push(("KRM_IMAP_IDLE_SECS".into(), "2".into()));
    w.prepare_folder(OMBUDS, &w.folder).await;
    // A process, so that its log during the outage is checked for personal data too.
    let mut d = crate::ops::daemon(&w, &[("KRM_LOG_LEVEL", "info")]);
    assert!(
        d.wait_log("holding the intake lock", Duration::from_secs(60))
            .await,
        "{}",
        d.log()
    );
    proxy.cut();
    for i in 0..3 {
        let (from, raw) = citizen_mail(&w, &format!("db{i}"), "Datenbank weg");
        w.deliver(&from, &raw).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Nothing may have left the inbox while the database was away.
    assert_eq!(w.count(OMBUDS, &w.folder).await, 3);
    proxy.restore();
    w.wait_scalar("SELECT count(*) FROM cases", 3).await;
    w.wait_count(OMBUDS, &format!("{}_erfasst", w.folder), 3)
        .await;
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit(Duration::from_secs(15)).await.is_some());
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 3);
    let log = d.log();
    assert!(
        log.contains("intake paused: database error")
            || log.contains("intake: database unreachable"),
        "the outage is logged: {log}"
    );
    w.assert_private(&log);
}

/// Replaces the sender headers (From, Reply-To, Sender, Return-Path) of the top header block
/// by one .test address and rewrites any other address there too, so that no acknowledgement can
/// head for a real domain.
fn rewrite_senders(raw: &[u8], to: &str) -> Vec<u8> {
    let re =
        regex::bytes::Regex::new(r"[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+").unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    let (head, body) = raw.split_at(split);
    let mut out = format!("From: <{to}>\r\n").into_bytes();
    let mut skipping = false;
    for line in head.split(|&b| b == b'\n') {
        let is_cont = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !is_cont {
            let lower = String::from_utf8_lossy(line).to_ascii_lowercase();
            skipping = ["from:", "reply-to:", "sender:", "return-path:"]
                .iter()
                .any(|h| lower.starts_with(h));
        }
        if skipping {
            continue;
        }
        out.extend_from_slice(&re.replace_all(line, to.as_bytes()));
        out.push(b'\n');
    }
    out.pop();
    out.extend_from_slice(body);
    out
}

#[tokio::test]
async fn a_sample_of_foreign_mail_goes_through_the_live_pipeline() {
    let w = World::with_env("corpus", &[("KRM_ACK_RATE_LIMIT_PER_HOUR", "100000")]).await;
    let dir = project_dir().join("tests/fixtures/mail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.sort();
    let to = w.sender(CITIZEN);
    let mut mb = login(OMBUDS).await;
    let _ = mb.ensure_folder(&w.folder).await;
    for f in &files {
        let raw = std::fs::read(f).unwrap();
        let raw = rewrite_senders(krm_intake::message::strip_mbox_from_line(&raw), &to);
        mb.append(&w.folder, &raw).await.unwrap();
    }
    mb.logout().await;
    let r = w.run_once().await;
    assert_eq!(r.scan.handled(), files.len(), "{r:?}");
    // Quarantine is not "handled" for these: every fixture is real mail the daemon must record.
    let reasons: Vec<(String,)> = sqlx::query_as("SELECT reason FROM quarantine ORDER BY id")
        .fetch_all(&w.pool)
        .await
        .unwrap();
    assert_eq!(
        (r.scan.quarantined, reasons.len()),
        (0, 0),
        "fixtures quarantined: {reasons:?}"
    );
    assert_eq!(r.scan.new_cases + r.scan.followups, files.len(), "{r:?}");
    assert_eq!(
        w.scalar("SELECT count(*) FROM messages").await,
        files.len() as i64
    );
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    let foreign = w
        .scalar("SELECT count(*) FROM outbox WHERE recipient NOT LIKE '%.test'")
        .await;
    assert_eq!(foreign, 0);
    eprintln!("corpus sample: {r:?}");
}

#[tokio::test]
async fn a_big_mail_is_stored_whole_with_its_attachments_in_order_beside_a_small_one() {
    // Above 1 MiB the raw mail is streamed (COPY) instead of being sent as a statement
    // parameter; both ways must store the same bytes. The attachments are listed in order, each
    // mail's from 1, their bytes decoded again from the stored mail by place and hash.
    let w = World::new("bigstream").await;
    let from = w.sender(CITIZEN);
    let big_text: String = (0..40_000)
        .map(|i| format!("Zeile {i:05} der Anlage, Seite {}\r\n", i / 40))
        .collect();
    let part = |name: &str, body: &str| {
        format!(
            "--b1\r\nContent-Type: text/plain; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{body}\r\n"
        )
    };
    let with_parts = |id: &str, parts: &[String]| {
        format!(
            "From: Erika Beispiel <{from}>\r\nTo: {to}\r\nSubject: Unterlagen {id}\r\n\
             Message-ID: <{n}-{id}@mail.test>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAnbei alles.\r\n\
             {}--b1--\r\n",
            parts.concat(),
            to = w.inbox_address(),
            n = w.name
        )
    };
    let raw = with_parts(
        "big",
        &[
            part("klein.txt", "klein"),
            part("gross.txt", &big_text),
            part("letzte.txt", "ende"),
        ],
    );
    assert!(raw.len() > 1024 * 1024);
    w.append(raw.as_bytes()).await;
    let (_, small) = citizen_mail(&w, "s1", "Kleines Anliegen");
    w.append(&small).await;
    let two = with_parts("zwei", &[part("a.txt", "erste"), part("b.txt", "zweite")]);
    w.append(two.as_bytes()).await;

    let r = w.run_once().await;
    assert_eq!((r.scan.new_cases, r.scan.quarantined), (3, 0), "{r:?}");
    let (same,): (bool,) =
        sqlx::query_as("SELECT raw = $1 FROM messages WHERE message_id LIKE '%-big@mail.test>'")
            .bind(raw.as_bytes())
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert!(
        same,
        "the big mail's raw bytes differ from what was delivered"
    );
    type Row = (
        Option<String>,
        i32,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Vec<u8>,
    );
    let atts: Vec<Row> = sqlx::query_as(
        "SELECT a.name, a.ord, a.sha256, a.content, m.raw
         FROM attachments a JOIN messages m ON m.id = a.message_id ORDER BY a.id",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    let listed: Vec<_> = atts
        .iter()
        .map(|a| (a.0.clone().unwrap_or_default(), a.1, a.3.is_none()))
        .collect();
    assert_eq!(
        listed,
        [
            ("klein.txt".into(), 1, true),
            ("gross.txt".into(), 2, true),
            ("letzte.txt".into(), 3, true),
            ("a.txt".into(), 1, true),
            ("b.txt".into(), 2, true)
        ],
        "in order, each mail's from 1, each stored once (inside the mail)"
    );
    let decoded = |a: &Row| {
        krm_intake::message::attachment_of_raw(&a.4, a.1 as usize, a.2.as_deref().unwrap())
            .expect("decoded from the stored mail")
            .content
    };
    let big = decoded(&atts[1]);
    assert!(String::from_utf8_lossy(&big).starts_with("Zeile 00000 der Anlage"));
    assert!(String::from_utf8_lossy(&big).contains("Zeile 39999 der Anlage"));
    assert_eq!(decoded(&atts[2]), b"ende");
    assert_eq!(decoded(&atts[4]), b"zweite");
    let (small_raw,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM messages WHERE raw IS NOT NULL")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(small_raw, 3);
}

#[tokio::test]
async fn a_database_failure_in_a_later_batch_still_moves_the_batches_committed_before() {
    // Committed batches wait to be moved in groups; when a later batch fails for a reason that
    // is not the mail's (here SQLSTATE 55000 from a trigger), the committed ones still leave
    // the inbox, so the next pass neither sees them again nor quarantines a mail twice.
    let w = World::with_env(
        "laterfail",
        &[
            ("KRM_IMAP_BATCH_SIZE", "2"),
            ("KRM_IMAP_MAX_MESSAGE_SIZE", "200000"),
        ],
    )
    .await;
    let n = &w.name;
    let (_, first) = citizen_mail(&w, "lf1", "Erstes Anliegen");
    w.append(&first).await;
    let big = format!(
        "From: a+{n}@mail.test\r\nMessage-ID: <lfbig.{n}@mail.test>\r\nSubject: gross\r\n\r\n{}\r\n",
        "x".repeat(300_000)
    );
    w.append(big.as_bytes()).await;
    let (_, blocked) = citizen_mail(&w, "lf3", "blockiert");
    w.append(&blocked).await;
    let (_, fourth) = citizen_mail(&w, "lf4", "Viertes Anliegen");
    w.append(&fourth).await;
    sqlx::raw_sql(
        "CREATE FUNCTION block_mail() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.subject = 'blockiert' THEN
                 RAISE EXCEPTION 'not now' USING ERRCODE = '55000';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER block_mail BEFORE INSERT ON messages
             FOR EACH ROW EXECUTE FUNCTION block_mail();",
    )
    .execute(&w.pool)
    .await
    .unwrap();

    let app = w.app().await;
    assert!(krm_intake::daemon::run_once(&app, false).await.is_err());
    // The first batch (one case, one quarantined mail) is committed and moved; the failed one
    // is not.
    assert_eq!(w.count(OMBUDS, &w.folder).await, 2);
    assert_eq!(
        w.count(OMBUDS, &format!("{}_quarantaene", w.folder)).await,
        1
    );

    sqlx::raw_sql("DROP TRIGGER block_mail ON messages")
        .execute(&w.pool)
        .await
        .unwrap();
    let r = w.run_once().await;
    assert_eq!(
        (r.scan.new_cases, r.scan.seen_again, r.scan.quarantined),
        (2, 0, 0),
        "{r:?}"
    );
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    assert_eq!(w.scalar("SELECT count(*) FROM quarantine").await, 1);
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 3);
}

#[tokio::test]
async fn a_date_header_beyond_year_9999_is_kept_raw_and_the_mail_recorded() {
    let w = World::new("year10k").await;
    let from = w.sender(CITIZEN);
    let raw = format!(
        "From: Erika Beispiel <{from}>\r\nTo: {to}\r\nSubject: Termin\r\n\
         Date: Fri, 31 Dec 9999 23:30:00 -0100\r\nMessage-ID: <{n}-y10k@mail.test>\r\n\r\n\
         Guten Tag.\r\n",
        to = w.inbox_address(),
        n = w.name
    );
    w.append(raw.as_bytes()).await;
    let r = w.run_once().await;
    assert_eq!((r.scan.new_cases, r.scan.quarantined), (1, 0), "{r:?}");
    let (header, date_raw): (Option<chrono::DateTime<chrono::Utc>>, Option<String>) =
        sqlx::query_as("SELECT date_header, date_raw FROM messages")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(header, None);
    assert!(date_raw.unwrap_or_default().contains("9999"));
}

/// The Berlin working day on or after today for `digest --preview` (weekends and holidays
/// print no lists).
fn preview(w: &World) -> String {
    let mut day = krm_intake::calendar::berlin_date(chrono::Utc::now());
    for _ in 0..14 {
        let out = w
            .command()
            .args(["digest", "--preview", "--date", &day.to_string()])
            .output()
            .expect("run digest --preview");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{text}");
        if !text.contains("kein Arbeitstag") {
            return text;
        }
        day = day.succ_opt().unwrap();
    }
    panic!("no working day within two weeks");
}

fn report_total(w: &World) -> serde_json::Value {
    let year = chrono::Utc::now().format("%Y").to_string();
    let out = w
        .command()
        .args(["report", "--year", &year, "--format", "json"])
        .output()
        .expect("run report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["total"].clone()
}

#[tokio::test]
async fn spam_is_held_until_staff_confirm_it() {
    let mut w = World::new("spamhold").await;
    let team = w.sender(TEAM);
    w.env.push(("KRM_DIGEST_TEAM".into(), team));

    // A citizen's ordinary mail and a mail the receiving server marked as spam.
    let (citizen, raw) = citizen_mail(&w, "s1", "Bescheid fehlt");
    w.deliver(&citizen, &raw).await;
    let caritas = w.sender(CARITAS);
    let spam = [
        b"X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=7.9 required=5.0\r\n".as_slice(),
        &mail(
            &caritas,
            &w.inbox_address(),
            "Bitte um Rückruf",
            "Guten Tag,\r\nwir bitten um Rückruf.\r\n",
            &format!("<s2.{}@caritas-dresden.test>", w.name),
        ),
    ]
    .concat();
    w.deliver(&caritas, &spam).await;
    let r = w.run_once().await;
    assert_eq!(r.scan.new_cases, 2, "{r:?}");
    w.wait_count(CITIZEN, &w.folder, 1).await;

    // Held: no acknowledgement, review reason, in the digest, not in the report.
    let (number, ack_status): (String, String) =
        sqlx::query_as("SELECT number, ack_status FROM cases WHERE review_reason = 'spam'")
            .fetch_one(&w.pool)
            .await
            .expect("one case held as spam");
    assert_eq!(ack_status, "suppressed");
    assert_eq!(
        w.scalar("SELECT count(*) FROM outbox WHERE kind = 'ack'")
            .await,
        1
    );
    // The folder exists whether or not something was delivered: a count of 0 must mean none.
    w.prepare_folder(CARITAS, &w.folder).await;
    assert_eq!(w.count_settled(CARITAS, &w.folder).await, 0);
    let digest = preview(&w);
    assert!(
        digest.contains(&number) && digest.contains("Spam-Verdacht"),
        "{digest}"
    );
    let total = report_total(&w);
    assert_eq!(total["reactions"], 1, "{total}");
    assert_eq!(total["excluded"]["spam_suspected"], 1, "{total}");
    let show = w
        .command()
        .args(["case", "show", &number])
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&show.stdout).to_string();
    assert!(show.contains("Spam-Verdacht"), "{show}");

    // A follow-up to an existing case is never held, even when marked.
    let citizen_number: String =
        sqlx::query_scalar("SELECT number FROM cases WHERE review_reason IS NULL")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    let followup = [
        b"X-Spam-Flag: YES\r\n".as_slice(),
        &mail(
            &citizen,
            &w.inbox_address(),
            &format!("Re: [{citizen_number}] Eingangsbestätigung"),
            "Noch eine Frage.",
            &format!("<s3.{}@mail.test>", w.name),
        ),
    ]
    .concat();
    w.deliver(&citizen, &followup).await;
    let r = w.run_once().await;
    assert_eq!((r.scan.followups, r.scan.new_cases), (1, 0), "{r:?}");

    // Confirmed: audit-logged, the acknowledgement goes out, the report counts it.
    let out = w
        .command()
        .args(["case", "confirm", &number, "--by", "Frau Beispiel"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Eingangsbestätigung eingereiht"), "{text}");
    assert_eq!(
        w.scalar("SELECT count(*) FROM case_events WHERE action = 'confirm' AND stated_by = 'Frau Beispiel'")
            .await,
        3 // review reason, ack status, ack detail
    );
    w.run_once().await;
    w.wait_count(CARITAS, &w.folder, 1).await;
    let acks = w.fetch_all(CARITAS, &w.folder).await;
    assert!(
        header(&acks[0], "Subject").is_some_and(|s| s.contains(&number)),
        "{:?}",
        header(&acks[0], "Subject")
    );
    let total = report_total(&w);
    assert_eq!(total["reactions"], 2, "{total}");
    assert!(total["excluded"].get("spam_suspected").is_none(), "{total}");
    // Twice: refused, nothing sent again.
    let out = w
        .command()
        .args(["case", "confirm", &number])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nicht unter Spam-Verdacht"));

    forged_marker_below_a_trusted_host_is_ignored(&mut w).await;
}

/// With a trusted host, a spam marker below its Received line (written by the sender) is ignored.
async fn forged_marker_below_a_trusted_host_is_ignored(w: &mut World) {
    let stored: Vec<u8> = sqlx::query_scalar("SELECT raw FROM messages ORDER BY id LIMIT 1")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    let received = header(&stored, "Received").expect("a Received line");
    let host = received
        .split_whitespace()
        .skip_while(|t| *t != "by")
        .nth(1)
        .expect("by HOST")
        .to_string();
    w.env.push(("KRM_INTAKE_TRUSTED_RECEIVED_BY".into(), host));
    let mittelpunkt = w.sender(MITTELPUNKT);
    let forged = [
        b"X-Spam-Flag: YES\r\n".as_slice(),
        &mail(
            &mittelpunkt,
            &w.inbox_address(),
            "Anfrage",
            "Guten Tag.",
            &format!("<s4.{}@beratung-mittelpunkt.test>", w.name),
        ),
    ]
    .concat();
    w.deliver(&mittelpunkt, &forged).await;
    let r = w.run_once().await;
    assert_eq!(r.scan.new_cases, 1, "{r:?}");
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases WHERE review_reason = 'spam'")
            .await,
        0
    );
    w.wait_count(MITTELPUNKT, &w.folder, 1).await;
}

#[tokio::test]
async fn a_mail_without_from_gets_its_sender_from_the_envelope_and_says_so() {
    let w = World::new("nofrom").await;
    let citizen = w.sender(CITIZEN);
    // Appended over IMAP as the delivering server left it: Postfix would add a From: to mail
    // from a local client (local_header_rewrite_clients), so SMTP cannot carry this case.
    let raw = format!(
        "Return-Path: <{citizen}>\r\nTo: {to}\r\nSubject: Ohne Absenderzeile\r\n\
         Message-ID: <nf1.{n}@mail.test>\r\nDate: Wed, 25 Nov 2026 09:15:00 +0100\r\n\r\n\
         Mein Antrag liegt seit Wochen.\r\n",
        to = w.inbox_address(),
        n = w.name
    );
    w.append(raw.as_bytes()).await;
    let r = w.run_once().await;
    assert_eq!(r.scan.new_cases, 1, "{r:?}");
    // The envelope sender (Return-Path) gets the acknowledgement.
    w.wait_count(CITIZEN, &w.folder, 1).await;
    let number = w.cases().await[0].0.clone();
    assert_eq!(
        w.scalar("SELECT count(*) FROM case_events WHERE action = 'sender_inferred'")
            .await,
        1
    );
    let out = w
        .command()
        .args(["case", "show", &number])
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        show.contains(&citizen) && show.contains("Absender erschlossen"),
        "{show}"
    );
}

/// An acknowledgement template that passes `check` (it renders the sample values) but fails
/// for a real case: the case is committed, its acknowledgement recorded as suppressed with the
/// reason, the mail moved on; nothing is retried and no "database error" is logged.
#[tokio::test]
async fn an_ack_template_failing_at_intake_suppresses_the_ack_and_keeps_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = project_dir().join("templates");
    std::fs::copy(
        shipped.join("digest.txt.j2"),
        dir.path().join("digest.txt.j2"),
    )
    .unwrap();
    let ack = std::fs::read_to_string(shipped.join("ack.txt.j2")).unwrap();
    // Renders nothing for the sample case number used at load; fails for any other.
    let broken = format!(
        "{{%- if case_number != \"KRM-2026-00042\" %}}{{{{ keine_solche_funktion() }}}}{{% endif -%}}\n{ack}"
    );
    std::fs::write(dir.path().join("ack.txt.j2"), broken).unwrap();
    let tpl = dir.path().display().to_string();
    let w = World::with_env("acktpl", &[("KRM_TEMPLATES_DIR", tpl.as_str())]).await;
    let (from, raw) = citizen_mail(&w, "t1", "Vorlage kaputt");
    w.deliver(&from, &raw).await;

    let (st, log) = w.run_private_async(&["run", "--once"], &[]).await;
    assert!(st.success(), "{log}");
    assert!(log.contains("Neue Vorgänge: 1,"), "{log}");
    assert!(log.contains("ack=suppressed"), "{log}");
    assert!(!log.contains("ack=enqueued"), "{log}");
    assert!(!log.to_lowercase().contains("database error"), "{log}");
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases WHERE ack_status = 'suppressed' AND ack_detail LIKE 'Vorlage%'")
            .await,
        1
    );
    assert_eq!(w.scalar("SELECT count(*) FROM outbox").await, 0);
    assert_eq!(
        w.scalar("SELECT count(*) FROM case_events WHERE action = 'ack_suppressed'")
            .await,
        1
    );
    // The mail left the inbox: a second pass finds nothing to do.
    w.wait_count(OMBUDS, &format!("{}_erfasst", w.folder), 1)
        .await;
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    let (st, log) = w.run_private_async(&["run", "--once"], &[]).await;
    assert!(st.success(), "{log}");
    assert!(log.contains("Neue Vorgänge: 0,"), "{log}");
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 1);
}

/// A Message-ID longer than a header line may be (6,000 random characters: too long for the
/// database's index) is dropped at parsing: the mail becomes a case without one, and the mail
/// after it is handled as well (an outside try found the intake stopped for good by it).
#[tokio::test]
async fn an_overlong_message_id_does_not_stop_the_intake() {
    let w = World::new("longmid").await;
    let from = w.sender(CITIZEN);
    let mut x: u64 = 1;
    let long: String = (0..6000)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(b"0123456789abcdef"[(x >> 60) as usize])
        })
        .collect();
    let raw = mail(
        &format!("Erika Beispiel <{from}>"),
        &w.inbox_address(),
        "Lange Kennung",
        "Guten Tag,\r\nmein Anliegen.",
        &format!("<{long}@mail.test>"),
    );
    // Appended, not sent: Postfix would fold the long line.
    w.append(&raw).await;
    let (_, next) = citizen_mail(&w, "danach", "Danach");
    w.append(&next).await;
    let (st, log) = w.run_private(&["run", "--once", "--no-send"], &[]);
    assert!(st.success(), "{log}");
    assert!(log.contains("Neue Vorgänge: 2,"), "{log}");
    assert_eq!(
        w.scalar("SELECT count(*) FROM messages WHERE message_id IS NULL")
            .await,
        1
    );
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    // Seen again: the content hash still knows it.
    w.append(&raw).await;
    let (st, log) = w.run_private(&["run", "--once", "--no-send"], &[]);
    assert!(st.success(), "{log}");
    assert!(log.contains("erneut gesehen: 1"), "{log}");
}

/// A case discarded, closed or merged while its acknowledgement still waits in the outbox (the
/// mail server was away) does not get it sent afterwards: withdrawn, and the case says why.
#[tokio::test]
async fn a_case_that_ends_before_its_acknowledgement_went_out_withdraws_it() {
    let w = World::new("ackend").await;
    for (n, subject) in [
        ("e1", "Erstens"),
        ("e2", "Zweitens"),
        ("e3", "Drittens"),
        ("e4", "Viertens"),
    ] {
        let (from, raw) = citizen_mail(&w, n, subject);
        w.deliver(&from, &raw).await;
    }
    let (st, log) = w.run_private(&["run", "--once", "--no-send"], &[]);
    assert!(st.success(), "{log}");
    let numbers: Vec<String> = w.cases().await.into_iter().map(|c| c.0).collect();
    assert_eq!(numbers.len(), 4);
    for args in [
        vec!["case", "discard", &numbers[0], "--reason", "fehlgeleitet"],
        vec!["case", "close", &numbers[1]],
        vec!["case", "merge", &numbers[2], "--into", &numbers[3]],
    ] {
        let (st, log) = w.run_private(&args, &[]);
        assert!(st.success(), "{args:?}: {log}");
        assert!(
            log.contains("ist zurückgezogen und wird nicht versandt"),
            "{log}"
        );
    }
    let (st, log) = w.run_private(&["run", "--once"], &[]);
    assert!(st.success(), "{log}");
    let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT c.number, o.status, c.ack_status, c.ack_detail
         FROM cases c JOIN outbox o ON o.case_id = c.id ORDER BY c.number",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    let detail = |why: &str| {
        Some(format!(
            "zurückgezogen: der Vorgang wurde {why}, bevor die Bestätigung versandt war"
        ))
    };
    assert_eq!(
        rows,
        [
            (
                numbers[0].clone(),
                "withdrawn".into(),
                "suppressed".into(),
                detail("verworfen")
            ),
            (
                numbers[1].clone(),
                "withdrawn".into(),
                "suppressed".into(),
                detail("abgeschlossen")
            ),
            (
                numbers[2].clone(),
                "withdrawn".into(),
                "suppressed".into(),
                detail(&format!("mit {} zusammengeführt", numbers[3]))
            ),
            (numbers[3].clone(), "sent".into(), "sent".into(), None),
        ]
    );
    // The timeline says it, as every changed field: the acknowledgement state of each.
    assert_eq!(
        w.scalar(
            "SELECT count(*) FROM case_events WHERE detail = 'ack_status'
             AND old_value = 'pending' AND new_value = 'suppressed'"
        )
        .await,
        3
    );
}

/// A case ended while a sender holds its acknowledgement (the row is locked: it may be on its
/// way) is ended all the same, and the acknowledgement left to the sender; should it come back
/// to waiting (the send failed for now), the next outbox pass withdraws it instead of sending
/// it for a case that is over.
#[tokio::test]
async fn ending_a_case_goes_ahead_while_a_sender_holds_its_acknowledgement() {
    let w = World::new("ackheld").await;
    let (from, raw) = citizen_mail(&w, "h1", "Gehalten");
    w.prepare_folder(CITIZEN, &w.folder).await;
    w.deliver(&from, &raw).await;
    let (st, log) = w.run_private(&["run", "--once", "--no-send"], &[]);
    assert!(st.success(), "{log}");
    let number = w.cases().await.remove(0).0;
    // A sender in the middle of recording this row holds its lock.
    let mut sender = w.pool.begin().await.unwrap();
    let held: Vec<(i64,)> = sqlx::query_as("SELECT id FROM outbox WHERE kind = 'ack' FOR UPDATE")
        .fetch_all(&mut *sender)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    let (st, log) = w.run_private(&["case", "close", &number], &[]);
    assert!(
        st.success(),
        "the close must not fail on the held row: {log}"
    );
    assert!(!log.contains("zurückgezogen"), "{log}");
    sender.rollback().await.unwrap();
    let state = || async {
        sqlx::query_as::<_, (String, String, Option<String>, String)>(
            "SELECT c.status, c.ack_status, c.ack_detail, o.status
             FROM cases c JOIN outbox o ON o.case_id = c.id",
        )
        .fetch_one(&w.pool)
        .await
        .unwrap()
    };
    assert_eq!(
        state().await,
        ("closed".into(), "pending".into(), None, "pending".into())
    );
    // The sender gave it back unsent; the next pass withdraws it and sends nothing.
    let (st, log) = w.run_private(&["run", "--once"], &[]);
    assert!(st.success(), "{log}");
    assert_eq!(
        state().await,
        (
            "closed".into(),
            "suppressed".into(),
            Some(
                "zurückgezogen: der Vorgang wurde abgeschlossen, bevor die Bestätigung versandt war"
                    .into()
            ),
            "withdrawn".into()
        )
    );
    assert_eq!(
        w.scalar(
            "SELECT count(*) FROM case_events WHERE action = 'ack_withdrawn' AND actor = 'krm-intake'"
        )
        .await,
        1
    );
    assert_eq!(
        w.count_settled(CITIZEN, &w.folder).await,
        0,
        "no acknowledgement went out"
    );
}

/// A sent acknowledgement is recorded on its case in one step (outbox row, acknowledgement
/// state, `ack_sent` event). An acknowledgement recorded by hand withdraws the automatic one
/// still waiting (refused while a sender holds it); one that a staff entry overtook while it
/// was being sent keeps that entry and gets no `ack_sent` event.
#[tokio::test]
async fn a_sent_acknowledgement_is_recorded_on_its_case_unless_recorded_by_hand() {
    let w = World::new("acksent").await;
    for (n, subject) in [("s1", "Erstens"), ("s2", "Zweitens"), ("s3", "Drittens")] {
        let (from, raw) = citizen_mail(&w, n, subject);
        w.deliver(&from, &raw).await;
    }
    let (st, log) = w.run_private(&["run", "--once", "--no-send"], &[]);
    assert!(st.success(), "{log}");
    let numbers: Vec<String> = w.cases().await.into_iter().map(|c| c.0).collect();
    assert_eq!(numbers.len(), 3);
    let today = krm_intake::calendar::berlin_date(chrono::Utc::now()).to_string();
    let outbox = |number: &str, status: &str| {
        let (number, status, pool) = (number.to_string(), status.to_string(), w.pool.clone());
        async move {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM outbox o JOIN cases c ON c.id = o.case_id
                 WHERE c.number = $1 AND o.status = $2",
            )
            .bind(number)
            .bind(status)
            .fetch_one(&pool)
            .await
            .unwrap();
            n
        }
    };
    let hold = |number: &str, held: bool| {
        let (number, pool) = (number.to_string(), w.pool.clone());
        async move {
            sqlx::query(
                "UPDATE outbox SET locked_until = CASE WHEN $2 THEN now() + interval '5 minutes' END
                 WHERE case_id = (SELECT id FROM cases WHERE number = $1)",
            )
            .bind(number)
            .bind(held)
            .execute(&pool)
            .await
            .unwrap();
        }
    };

    // While a sender holds the acknowledgement, recording one by hand is refused: a lease
    // without a sender token, or a running sender's claim even after its lease.
    let refused = || {
        let (st, log) = w.run_private(&["case", "ack-recorded", &numbers[1], "--on", &today], &[]);
        assert_eq!(st.code(), Some(1), "refused: {log}");
        assert!(log.contains("wird gerade versandt"), "{log}");
    };
    hold(&numbers[1], true).await;
    refused();
    hold(&numbers[1], false).await;
    use sqlx::Connection;
    let mut sender = sqlx::PgConnection::connect(&w.db_url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1, 4242)")
        .bind(krm_intake::store::outbox::SENDER_LOCK_CLASS)
        .execute(&mut sender)
        .await
        .unwrap();
    let claim = "UPDATE outbox SET claimed_by = 4242, locked_until = now() - interval '1 minute'
                 WHERE case_id = (SELECT id FROM cases WHERE number = $1)";
    sqlx::query(claim)
        .bind(&numbers[1])
        .execute(&w.pool)
        .await
        .unwrap();
    refused();
    assert_eq!(outbox(&numbers[1], "pending").await, 1);
    // The sender's lock is gone (as when its session ends): its claim no longer holds the row.
    sqlx::query("SELECT pg_advisory_unlock($1, 4242)")
        .bind(krm_intake::store::outbox::SENDER_LOCK_CLASS)
        .execute(&mut sender)
        .await
        .unwrap();
    sender.close().await.unwrap();

    // Waiting: withdrawn, on the timeline, never sent.
    let (st, log) = w.run_private(&["case", "ack-recorded", &numbers[1], "--on", &today], &[]);
    assert!(st.success(), "{log}");
    assert_eq!(outbox(&numbers[1], "withdrawn").await, 1);
    // Case 3: a staff entry that lands while its acknowledgement is being sent.
    sqlx::query("UPDATE cases SET ack_status = 'manual' WHERE number = $1")
        .bind(&numbers[2])
        .execute(&w.pool)
        .await
        .unwrap();
    let (st, log) = w.run_private(&["run", "--once"], &[]);
    assert!(st.success(), "{log}");
    assert_eq!(
        w.scalar("SELECT count(*) FROM outbox WHERE status = 'sent' AND locked_until IS NULL AND claimed_by IS NULL AND last_code = '250'")
            .await,
        2
    );
    assert_eq!(outbox(&numbers[1], "withdrawn").await, 1);
    let state = |number: &str| {
        let number = number.to_string();
        let pool = w.pool.clone();
        async move {
            sqlx::query_as::<_, (String, Option<String>, bool, i64, i64)>(
                "SELECT c.ack_status, c.ack_detail, c.ack_sent_at IS NOT NULL,
                        (SELECT count(*) FROM case_events e WHERE e.case_id = c.id
                           AND e.action = 'ack_sent' AND e.actor = 'krm-intake'
                           AND e.new_value = 'sent' AND e.detail IS NULL),
                        (SELECT count(*) FROM case_events e WHERE e.case_id = c.id
                           AND e.action = 'ack_withdrawn')
                 FROM cases c WHERE c.number = $1",
            )
            .bind(number)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(
        state(&numbers[0]).await,
        ("sent".to_string(), None, true, 1, 0)
    );
    let (status, _, _, sent, withdrawn) = state(&numbers[1]).await;
    assert_eq!((status.as_str(), sent, withdrawn), ("manual", 0, 1));
    let (status, _, _, sent, withdrawn) = state(&numbers[2]).await;
    assert_eq!((status.as_str(), sent, withdrawn), ("manual", 0, 0));
}

/// A pass long enough to move committed groups while it still fetches moves them on a second
/// IMAP session (the fetching one keeps fetching); every mail gets one case and leaves the
/// inbox once, into the processed folder. `KRM_TEST_MOVE_GROUP` makes 40 mails such a pass.
#[tokio::test]
async fn a_long_pass_moves_committed_groups_on_a_second_session_and_loses_nothing() {
    let w = World::with_env(
        "mover",
        &[
            ("KRM_ACK_RATE_LIMIT_PER_HOUR", "100000"),
            ("KRM_IMAP_BATCH_SIZE", "4"),
        ],
    )
    .await;
    const N: usize = 40;
    let mut mb = login(OMBUDS).await;
    let _ = mb.ensure_folder(&w.folder).await;
    for i in 0..N {
        let (_, raw) = citizen_mail(&w, &format!("m{i}"), &format!("Anliegen {i}"));
        mb.append(&w.folder, &raw).await.unwrap();
    }
    mb.logout().await;

    let (status, out) = w.run_private(
        &["run", "--once", "--no-send"],
        &[
            ("KRM_TEST_MOVE_GROUP", "8"),
            ("KRM_LOG_LEVEL", "info,krm_intake::scan=debug"),
        ],
    );
    assert!(status.success(), "{out}");
    let moved_on = |session: &str| {
        out.lines()
            .filter(|l| {
                l.contains("batches moved") && l.contains(&format!("session=\"{session}\""))
            })
            .count()
    };
    assert!(
        moved_on("second") >= 1,
        "no group moved on the second session:\n{out}"
    );
    assert!(
        moved_on("first") >= 1,
        "the last batches move on the first:\n{out}"
    );
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, N as i64);
    assert_eq!(
        w.scalar("SELECT count(DISTINCT uid) FROM messages").await,
        N as i64
    );
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0, "left in the inbox");
    assert_eq!(
        w.count(OMBUDS, &format!("{}_erfasst", w.folder)).await,
        N,
        "in the processed folder"
    );
}
