//! Mail in, case out, acknowledgement back — over the real servers.

use crate::helpers::*;

type MessageRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    i32,
    i32,
);

#[tokio::test]
async fn mail_becomes_one_case_and_an_acknowledgement() {
    let w = World::new("found").await;
    let from = w.sender(CITIZEN);
    let mid = format!("<{}@mail.test>", w.name);
    let raw = mail(
        &format!("Erika Beispiel <{from}>"),
        &w.inbox_address(),
        "Meine Unterlagen sind verschwunden",
        "Guten Tag,\r\nich habe am 3. November Unterlagen abgegeben und seither nichts gehört.\r\n\r\nMit freundlichen Grüßen\r\nErika Beispiel",
        &mid,
    );
    w.deliver(&from, &raw).await;

    let report = w.run_once().await;
    assert_eq!(report.scan.new_cases, 1, "{report:?}");
    assert_eq!(report.outbox.sent, 1, "{report:?}");

    // Exactly one case with the right fields.
    let cases = w.cases().await;
    assert_eq!(cases.len(), 1);
    let number = &cases[0].0;
    assert!(
        regex::Regex::new(r"^KRM-\d{4}-\d{5}$")
            .unwrap()
            .is_match(number),
        "{number}"
    );
    let (message_id, from_addr, from_name, subject, channel, text_body, size, raw_len): MessageRow = sqlx::query_as(
        "SELECT message_id, from_addr, from_name, subject, channel, text_body, size, length(raw) FROM messages",
    )
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!(message_id.as_deref(), Some(mid.as_str()));
    assert_eq!(from_addr.as_deref(), Some(from.as_str()));
    assert_eq!(from_name.as_deref(), Some("Erika Beispiel"));
    assert_eq!(
        subject.as_deref(),
        Some("Meine Unterlagen sind verschwunden")
    );
    assert_eq!(channel, "ombudsstelle");
    assert!(text_body.unwrap().contains("seither nichts gehört"));
    assert_eq!(size, raw_len);
    let (ack_status, due_after_receipt): (String, bool) = sqlx::query_as(
        "SELECT ack_status, due > (received_at AT TIME ZONE 'Europe/Berlin')::date FROM cases",
    )
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!(ack_status, "sent");
    assert!(due_after_receipt);

    // The acknowledgement arrives in the sender's mailbox with loop-safe headers.
    w.wait_count(CITIZEN, &w.folder, 1).await;
    wait_postfix_queue_clear(&w.folder).await;
    let acks = w.fetch_all(CITIZEN, &w.folder).await;
    assert_eq!(acks.len(), 1);
    let ack = &acks[0];
    let subject = header(ack, "Subject").unwrap();
    assert!(subject.contains(&format!("[{number}]")), "{subject}");
    assert_eq!(
        header(ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        header(ack, "X-Auto-Response-Suppress").as_deref(),
        Some("All")
    );
    assert_eq!(header(ack, "In-Reply-To").as_deref(), Some(mid.as_str()));
    assert!(header(ack, "References").unwrap().contains(&mid));
    let ack_mid = header(ack, "Message-ID").unwrap();
    assert!(
        ack_mid.starts_with("<krm-ack-") && ack_mid.ends_with("@jobcenter.test>"),
        "{ack_mid}"
    );
    let body = String::from_utf8_lossy(ack);
    assert!(
        !body.contains("Unterlagen abgegeben"),
        "the acknowledgement must not quote the mail"
    );

    // The original left the inbox for the processed folder.
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    assert_eq!(w.count(OMBUDS, &format!("{}_erfasst", w.folder)).await, 1);

    // A second pass does nothing.
    let again = w.run_once().await;
    assert_eq!(again.scan.handled(), 0, "{again:?}");
    assert_eq!(again.outbox.sent, 0);
    assert_eq!(w.cases().await.len(), 1);
    assert_eq!(w.scalar("SELECT count(*) FROM outbox").await, 1);
}

#[tokio::test]
async fn reply_to_wins_over_from_and_attachments_are_stored() {
    let w = World::new("replyto").await;
    // The From address's folder exists, so "nothing arrived there" is a real observation.
    w.prepare_folder(CARITAS, &w.folder).await;
    let from = w.sender(CARITAS);
    let reply_to = w.sender(MITTELPUNKT);
    let raw = format!(
        "From: Beratung <{from}>\r\nReply-To: <{reply_to}>\r\nTo: {to}\r\nSubject: Bescheid\r\n\
         Message-ID: <{n}-att@caritas-dresden.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Anbei der Bescheid.\r\n--b1\r\nContent-Type: application/pdf; name=\"bescheid.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"bescheid.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQKJcfsj6IK\r\n--b1--\r\n",
        to = w.inbox_address(),
        n = w.name
    );
    w.deliver(&from, raw.as_bytes()).await;
    let r = w.run_once().await;
    assert_eq!(r.scan.new_cases, 1);
    let (name, ctype, size): (Option<String>, String, i32) =
        sqlx::query_as("SELECT name, content_type, size FROM attachments")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(name.as_deref(), Some("bescheid.pdf"));
    assert_eq!(ctype, "application/pdf");
    assert_eq!(size, 15);
    // Acknowledgement went to Reply-To, not From.
    w.wait_count(MITTELPUNKT, &w.folder, 1).await;
    assert_eq!(w.count_settled(CARITAS, &w.folder).await, 0);
}

#[tokio::test]
async fn a_reply_to_list_naming_a_colleague_first_acknowledges_the_next_address() {
    let w = World::new("replytolist").await;
    w.prepare_folder(CARITAS, &w.folder).await;
    let from = w.sender(CARITAS);
    let reply_to = w.sender(MITTELPUNKT);
    let raw = format!(
        "From: Beratung <{from}>\r\nReply-To: Kollegin <kollegin@jobcenter.test>, <{reply_to}>\r\n\
         To: {to}\r\nSubject: Bescheid\r\nMessage-ID: <{n}-list@caritas-dresden.test>\r\n\r\n\
         Bitte an die Beratungsstelle antworten.\r\n",
        to = w.inbox_address(),
        n = w.name
    );
    w.deliver(&from, raw.as_bytes()).await;
    let r = w.run_once().await;
    assert_eq!(r.scan.new_cases, 1);
    assert_eq!(r.outbox.sent, 1, "{r:?}");
    let (recipient,): (String,) = sqlx::query_as("SELECT recipient FROM outbox")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(recipient, reply_to.to_lowercase());
    w.wait_count(MITTELPUNKT, &w.folder, 1).await;
    assert_eq!(w.count_settled(CARITAS, &w.folder).await, 0);
}
