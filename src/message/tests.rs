//! Whole-mail tests: fixtures under tests/fixtures/mail, limits against generated bombs, every
//! file of the shared corpus, and random mutations of real mails.

use super::*;
use crate::domain::CaseNumber;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../tests/fixtures/mail/", $name)).as_slice()
    };
}

/// Fixtures fed to the mutation test; includes_bytes! keeps them independent of the working dir.
const FIXTURES: &[&[u8]] = &[
    fixture!("own-plain-citizen.eml"),
    fixture!("own-html-only-list-table.eml"),
    fixture!("own-iso-8859-1-qp.eml"),
    fixture!("own-rfc2047-subject.eml"),
    fixture!("own-out-of-office.eml"),
    fixture!("own-dsn-bounce.eml"),
    fixture!("own-dsn-headers-only.eml"),
    fixture!("own-bulk-list-id.eml"),
    fixture!("own-forward-rfc822.eml"),
    fixture!("own-pdf-attachment.eml"),
    fixture!("own-header-injection.eml"),
    fixture!("otobo-PostMaster-Test10.box"),
    fixture!("otobo-InlineImage.box"),
    fixture!("otobo-UTF-7.box"),
    fixture!("otobo-FilenameWithCRLF.box"),
    fixture!("otobo-test-email-8-bulgarian-cp1251.box"),
    fixture!("otobo-test-email-10-ks_c_5601-1987.box"),
    fixture!("otobo-test-email-7-euro-iso-8859-15.box"),
    fixture!("php-imap-example_bounce.eml"),
    fixture!("php-imap-html_only.eml"),
    fixture!("php-imap-missing_from.eml"),
    fixture!("php-imap-multiple_nested_attachments.eml"),
    fixture!("rt-multipart-report"),
    fixture!("rt-new-ticket-from-gb18030"),
    fixture!("rt-outlook-rfc822"),
    fixture!("rt-rfc2231-attachment-filename-continuations"),
    fixture!("rt-very-long-subject"),
    fixture!("mail-parser-malformed-000.eml"),
    fixture!("own-no-from-sender.eml"),
    fixture!("own-no-from-envelope.box"),
    fixture!("own-empty-plain-alternative.eml"),
    fixture!("own-uuencode-inline.eml"),
    fixture!("own-x-uuencode-part.eml"),
    fixture!("own-report-text-parts.eml"),
    fixture!("own-charset-x-unknown.eml"),
    fixture!("own-charset-gb2312.eml"),
    fixture!("own-charset-shift-jis-win1250.eml"),
];

fn parse_ok(raw: &[u8]) -> ParsedMail {
    match parse(raw, &Limits::default()) {
        Ok(mail) => mail,
        Err(e) => panic!("parse failed: {e}"),
    }
}

/// A mail with three attachments, the first and the last alike in name, type and size.
fn three_attachments() -> Vec<u8> {
    let part = |name: &str, body: &str| {
        format!(
            "--b\r\nContent-Type: text/plain; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{body}\r\n"
        )
    };
    format!(
        "From: Erika <erika@mail.test>\r\nSubject: Anlagen\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nAnbei.\r\n{}{}{}--b--\r\n",
        part("a.txt", "eins"),
        part("b.txt", "zwei!"),
        part("a.txt", "drei"),
    )
    .into_bytes()
}

#[test]
fn an_attachment_is_decoded_again_from_its_stored_mail() {
    let raw = three_attachments();
    let parsed = parse_ok(&raw).attachments;
    let hash = |i: usize| parsed[i].sha256;
    let at = |ord, sha256: [u8; 32]| attachment_of_raw(&raw, ord, &sha256).map(|a| a.content);
    // By its place, checked against the hash of its bytes.
    assert_eq!(at(1, hash(0)).as_deref(), Some(&b"eins"[..]));
    assert_eq!(at(2, hash(1)).as_deref(), Some(&b"zwei!"[..]));
    assert_eq!(at(3, hash(2)).as_deref(), Some(&b"drei"[..]));
    // Listed elsewhere now (another parser version), or no place known: the bytes decide.
    assert_eq!(at(1, hash(1)).as_deref(), Some(&b"zwei!"[..]));
    assert_eq!(at(7, hash(2)).as_deref(), Some(&b"drei"[..]));
    assert_eq!(at(0, hash(0)).as_deref(), Some(&b"eins"[..]));
    // Bytes the mail does not hold: nothing, never other bytes.
    assert_eq!(at(1, [0; 32]), None);
    assert_eq!(attachment_of_raw(b"", 1, &hash(0)), None);
}

#[test]
fn plain_citizen_mail() {
    let mail = parse_ok(fixture!("own-plain-citizen.eml"));
    assert_eq!(
        mail.message_id.as_deref(),
        Some("<20260202091358.1a2b@post.test>")
    );
    let from = mail.from.as_ref().unwrap();
    assert_eq!(from.addr, "anna.beispiel@post.test");
    assert_eq!(from.name.as_deref(), Some("Anna Beispiel"));
    assert_eq!(mail.to.len(), 1);
    assert_eq!(mail.to[0].addr, "ombudsstelle@jobcenter.test");
    assert!(mail.cc.is_empty() && mail.reply_to.is_empty());
    assert_eq!(
        mail.subject.as_deref(),
        Some("Beschwerde: Bescheid seit Wochen nicht bearbeitet")
    );
    assert_eq!(mail.date.unwrap().to_rfc3339(), "2026-02-02T09:13:58+01:00");
    assert_eq!(
        mail.date_raw.as_deref(),
        Some("Mon, 02 Feb 2026 09:13:58 +0100")
    );
    assert_eq!(mail.return_path.as_deref(), Some("anna.beispiel@post.test"));
    assert!(mail.text.contains("Weiterbewilligungsantrag"));
    assert!(mail.text.contains("Mit freundlichen Grüßen"));
    assert!(mail.attachments.is_empty() && mail.forwarded_from.is_empty());
    assert!(!mail.has_html);
    assert_eq!(mail.auto, AutoClass::None);
    assert_eq!(mail.auto_reason, None);
    assert_eq!(mail.bounce, None);
    assert_eq!(mail.size, fixture!("own-plain-citizen.eml").len());
    assert_eq!(
        mail.content_hash,
        content_hash(fixture!("own-plain-citizen.eml"))
    );
}

#[test]
fn html_only_keeps_list_items_and_table_rows_on_their_own_lines() {
    let mail = parse_ok(fixture!("own-html-only-list-table.eml"));
    let lines: Vec<&str> = mail.text.lines().collect();
    let line_with = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .copied()
            .unwrap_or_else(|| panic!("{needle:?} missing in {:?}", mail.text))
    };
    assert!(!line_with("Lange Wartezeiten").contains("Zuständigkeiten"));
    assert!(!line_with("Unklare Zuständigkeiten").contains("Rückrufe"));
    line_with("Fehlende Rückrufe");
    assert!(line_with("12.01.2026").contains("Antrag verloren"));
    assert!(!line_with("12.01.2026").contains("19.01.2026"));
    line_with("Beratungsstelle Süd");
    assert!(!mail.text.contains("<li>"));
    assert!(mail.has_html);
    assert_eq!(
        mail.from.unwrap().name.as_deref(),
        Some("Beratungsstelle Süd")
    );
}

#[test]
fn has_html_says_what_html_body_finds() {
    let mut seen = Vec::new();
    for (i, raw) in FIXTURES.iter().copied().enumerate() {
        let Ok(mail) = parse(raw, &Limits::default()) else {
            continue;
        };
        assert_eq!(mail.has_html, html_body(raw).is_some(), "fixture {i}");
        seen.push(mail.has_html);
    }
    assert!(seen.contains(&true) && seen.contains(&false), "{seen:?}");
}

#[test]
fn iso_8859_1_quoted_printable() {
    let mail = parse_ok(fixture!("own-iso-8859-1-qp.eml"));
    assert_eq!(mail.subject.as_deref(), Some("Lob für Frau Größer"));
    assert_eq!(mail.from.unwrap().name.as_deref(), Some("Jürgen Müller"));
    assert!(mail.text.contains("ich möchte mich ausdrücklich für"));
    assert!(mail.text.contains("Frau Größer bedanken"), "{}", mail.text);
}

#[test]
fn rfc2047_subject_with_case_number_and_thread_ids() {
    let mail = parse_ok(fixture!("own-rfc2047-subject.eml"));
    let subject = mail.subject.as_deref().unwrap();
    assert_eq!(
        subject,
        "AW: WG: [KRM-2026-00042] Ihre Beschwerde – Rückfrage"
    );
    assert_eq!(
        case_number_in_subject(subject),
        Some(CaseNumber::new(2026, 42))
    );
    assert_eq!(mail.from.unwrap().name.as_deref(), Some("Ömer Yılmaz"));
    assert_eq!(mail.in_reply_to, ["<ack-42.KRM-2026-00042@jobcenter.test>"]);
    assert_eq!(
        mail.references,
        [
            "<orig-42@mieterhilfe.test>",
            "<ack-42.KRM-2026-00042@jobcenter.test>"
        ]
    );
    assert_eq!(mail.return_path, None);
}

#[test]
fn out_of_office_is_an_auto_reply() {
    let mail = parse_ok(fixture!("own-out-of-office.eml"));
    assert_eq!(mail.auto, AutoClass::AutoReply);
    assert_eq!(
        mail.auto_reason.as_deref(),
        Some("Auto-Submitted: auto-replied")
    );
    assert_eq!(mail.bounce, None);
}

/// Automatic replies that only their subject gives away (an outside try got acknowledgements
/// to both): no acknowledgement, so no loop. A subject that merely mentions absence is a person's.
#[test]
fn an_auto_reply_known_only_by_its_subject_is_one() {
    let with = |subject: &str| {
        format!(
            "From: Erika Beispiel <erika@mail.test>\r\nTo: ombudsstelle@jobcenter.test\r\n\
             Subject: {subject}\r\nMessage-ID: <s@mail.test>\r\n\r\nIch bin nicht im Haus.\r\n"
        )
    };
    for subject in [
        "Abwesenheitsnotiz: Beschwerde",
        "Automatische Antwort: Ihre Eingangsbestätigung KRM-2026-00042",
        "=?UTF-8?Q?Automatische_Antwort:_Ihre_Eingangsbest=C3=A4tigung?=",
        "Out of Office AutoReply: Ihr Anliegen",
        "Automatic reply: Eingangsbestätigung",
        "AUTO: Erika Beispiel ist nicht im Büro",
    ] {
        let mail = parse_ok(with(subject).as_bytes());
        assert_eq!(mail.auto, AutoClass::AutoReply, "{subject}");
        assert!(
            mail.auto_reason
                .as_deref()
                .unwrap()
                .starts_with("Subject: "),
            "{subject}"
        );
    }
    for subject in [
        "Meine Abwesenheitsnotiz wurde ignoriert",
        "AW: Abwesenheit beim Termin",
        "Automatisierte Bescheide",
        "Auto: Reparaturkosten nicht übernommen",
    ] {
        assert_eq!(
            parse_ok(with(subject).as_bytes()).auto,
            AutoClass::None,
            "{subject}"
        );
    }
}

#[test]
fn dsn_bounce_of_our_acknowledgement() {
    let mail = parse_ok(fixture!("own-dsn-bounce.eml"));
    assert_eq!(mail.auto, AutoClass::Bounce);
    assert_eq!(
        mail.auto_reason.as_deref(),
        Some("Content-Type: multipart/report; report-type=delivery-status")
    );
    assert_eq!(mail.return_path.as_deref(), Some(""));
    assert_eq!(
        mail.bounce,
        Some(Bounce {
            status: Some("5.1.1".into()),
            original_message_id: Some("<ack-17.KRM-2026-00003@jobcenter.test>".into()),
            original_recipient: Some("unbekannt@post.test".into()),
        })
    );
    assert_eq!(mail.forwarded_from[0].addr, "ombudsstelle@jobcenter.test");
}

#[test]
fn dsn_bounce_with_returned_headers_only() {
    let mail = parse_ok(fixture!("own-dsn-headers-only.eml"));
    assert_eq!(mail.auto, AutoClass::Bounce);
    assert_eq!(
        mail.bounce,
        Some(Bounce {
            status: Some("4.2.2".into()),
            original_message_id: Some("<ack-21.KRM-2026-00005@jobcenter.test>".into()),
            original_recipient: Some("voll@post.test".into()),
        })
    );
}

#[test]
fn corpus_bounces() {
    let mail = parse_ok(fixture!("otobo-PostMaster-Test10.box"));
    assert_eq!(mail.auto, AutoClass::Bounce);
    let bounce = mail.bounce.unwrap();
    assert_eq!(bounce.status.as_deref(), Some("5.0.0"));
    assert_eq!(
        bounce.original_recipient.as_deref(),
        Some("asdfasdfasdfasd@example.com")
    );
    assert!(bounce.original_message_id.is_some());

    let mail = parse_ok(fixture!("php-imap-example_bounce.eml"));
    assert_eq!(mail.auto, AutoClass::Bounce);
    let bounce = mail.bounce.unwrap();
    assert_eq!(bounce.status.as_deref(), Some("5.0.0"));
    assert_eq!(bounce.original_recipient.as_deref(), Some("ding@ding.de"));

    let mail = parse_ok(fixture!("rt-multipart-report"));
    assert_eq!(mail.auto, AutoClass::Bounce);
    let bounce = mail.bounce.unwrap();
    assert_eq!(bounce.status.as_deref(), Some("5.1.1"));
    assert_eq!(
        bounce.original_message_id.as_deref(),
        Some("<200308221615.h7MGFGac020135@mx12.other.example.com>")
    );
}

#[test]
fn bulk_with_list_id() {
    let mail = parse_ok(fixture!("own-bulk-list-id.eml"));
    assert_eq!(mail.auto, AutoClass::Bulk);
    assert_eq!(mail.auto_reason.as_deref(), Some("Precedence: bulk"));
    let without_precedence =
        String::from_utf8_lossy(fixture!("own-bulk-list-id.eml")).replace("Precedence: bulk\n", "");
    let mail = parse_ok(without_precedence.as_bytes());
    assert_eq!(mail.auto, AutoClass::Bulk);
    assert_eq!(mail.auto_reason.as_deref(), Some("List-Id"));
}

#[test]
fn attached_message_is_an_attachment_and_names_its_sender() {
    let mail = parse_ok(fixture!("own-forward-rfc822.eml"));
    assert_eq!(
        mail.from.as_ref().unwrap().addr,
        "s.helfer@caritas-mitte.test"
    );
    assert_eq!(mail.forwarded_from.len(), 1);
    assert_eq!(mail.forwarded_from[0].addr, "k.buerger@post.test");
    assert_eq!(mail.forwarded_from[0].name.as_deref(), Some("Klaus Bürger"));
    assert_eq!(mail.attachments.len(), 1);
    let eml = &mail.attachments[0];
    assert_eq!(eml.content_type, "message/rfc822");
    assert_eq!(eml.name.as_deref(), Some("Mein Problem.eml"));
    assert!(eml.content.starts_with("From: Klaus Bürger".as_bytes()));
    assert_eq!(eml.size, eml.content.len());
    // the attached message is itself a parseable mail
    let inner = parse_ok(&eml.content);
    assert_eq!(inner.message_id.as_deref(), Some("<inner-1@post.test>"));
    assert!(mail.text.contains("mit der Bitte um Prüfung"));
    assert!(!mail.text.contains("Seit drei Monaten"));
}

#[test]
fn pdf_attachment_crlf() {
    let raw = fixture!("own-pdf-attachment.eml");
    assert!(raw.windows(2).any(|w| w == b"\r\n"));
    let mail = parse_ok(raw);
    assert_eq!(mail.attachments.len(), 1);
    let pdf = &mail.attachments[0];
    assert_eq!(pdf.name.as_deref(), Some("Bescheid März.pdf"));
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(pdf.content.starts_with(b"%PDF-1.4\n"));
    assert!(pdf.content.ends_with(b"%%EOF\n"));
    assert!(mail.text.contains("den ich nicht verstehe"));
    assert!(!mail.text.contains('\r'));
    assert!(
        !format!("{pdf:?}").contains("PDF-1.4"),
        "Debug hides content"
    );
}

#[test]
fn encoded_crlf_in_subject_and_name_stays_on_one_line() {
    let mail = parse_ok(fixture!("own-header-injection.eml"));
    let subject = mail.subject.unwrap();
    assert_eq!(subject, "a Bcc: x@evil.test");
    let name = mail.from.unwrap().name.unwrap();
    assert_eq!(name, "Eve Bcc: x@evil.test");
    assert!(!mail.text.contains('\0'));
    assert!(mail.text.contains("Hallo Welt"));
}

#[test]
fn charsets_from_the_corpus() {
    let mail = parse_ok(fixture!("otobo-test-email-8-bulgarian-cp1251.box"));
    assert!(mail
        .text
        .chars()
        .any(|c| ('\u{0400}'..='\u{04FF}').contains(&c)));
    // Greek letters in a Korean charset
    let mail = parse_ok(fixture!("otobo-test-email-10-ks_c_5601-1987.box"));
    assert!(mail
        .text
        .chars()
        .any(|c| ('\u{0391}'..='\u{03C9}').contains(&c)));
    let mail = parse_ok(fixture!("rt-new-ticket-from-gb18030"));
    assert_eq!(mail.text.trim(), "测试");
    let mail = parse_ok(
        b"From: a@beispiel.test\nContent-Type: text/plain; charset=iso-8859-15\n\
Content-Transfer-Encoding: quoted-printable\n\n=A4 12,50\n",
    );
    assert_eq!(mail.text.trim(), "€ 12,50");
}

#[test]
fn missing_from_with_body_is_accepted() {
    let mail = parse_ok(fixture!("php-imap-missing_from.eml"));
    assert_eq!(mail.from, None);
    assert_eq!(mail.sender_inferred, None);
    assert_eq!(mail.text.trim(), "Hi");
}

#[test]
fn sender_inferred_when_from_is_missing() {
    let mail = parse_ok(fixture!("own-no-from-sender.eml"));
    assert_eq!(mail.from.as_ref().unwrap().addr, "beratung@verein.test");
    assert_eq!(mail.sender_inferred, Some(SenderSource::SenderHeader));

    // The envelope line wins over Return-Path (a relay's bounce address).
    let mail = parse_ok(fixture!("own-no-from-envelope.box"));
    assert_eq!(mail.from.as_ref().unwrap().addr, "buerger@post.test");
    assert_eq!(mail.sender_inferred, Some(SenderSource::Envelope));

    let mail = parse_ok(fixture!("own-no-from-return-path.eml"));
    assert_eq!(mail.from.as_ref().unwrap().addr, "anna.beispiel@post.test");
    assert_eq!(mail.sender_inferred, Some(SenderSource::ReturnPath));

    // A second From that can be read beats an unreadable first one, and is not inferred.
    let mail = parse_ok(fixture!("own-second-from-unparseable.eml"));
    let from = mail.from.as_ref().unwrap();
    assert_eq!(from.addr, "anna.beispiel@post.test");
    assert_eq!(mail.sender_inferred, None);

    // An empty Return-Path and a daemon envelope line are no sender.
    let mail = parse_ok(
        b"From MAILER-DAEMON Mon Feb  2 10:00:00 2026\nReturn-Path: <>\nSubject: x\n\nText\n",
    );
    assert_eq!((mail.from, mail.sender_inferred), (None, None));
    // A From with an address is never replaced.
    let mail = parse_ok(b"From env@post.test Mon Feb  2 10:00:00 2026\nFrom: a@post.test\nSender: s@post.test\n\nText\n");
    assert_eq!(mail.from.unwrap().addr, "a@post.test");
    assert_eq!(mail.sender_inferred, None);
}

#[test]
fn empty_plain_alternative_reads_the_html() {
    let mail = parse_ok(fixture!("own-empty-plain-alternative.eml"));
    assert!(mail.text.contains("Widerspruch"), "{:?}", mail.text);
    assert!(mail.text.contains("Sehr geehrte Damen und Herren"));
    assert!(!mail.text.contains("<p>"));
    assert!(mail.attachments.is_empty());
}

#[test]
fn uuencoded_files_are_attachments() {
    let mail = parse_ok(fixture!("own-uuencode-inline.eml"));
    assert_eq!(mail.attachments.len(), 1, "{:?}", mail.attachments);
    let a = &mail.attachments[0];
    assert_eq!(a.name.as_deref(), Some("bescheid.jpg"));
    let expected: Vec<u8> = (0..=255u8).cycle().take(768).collect();
    assert_eq!(a.content, expected);
    assert!(mail.text.contains("anbei der Bescheid."));
    assert!(mail.text.contains("Mit freundlichen Grüßen"));
    assert!(!mail.text.contains("begin 644"), "{:?}", mail.text);

    let mail = parse_ok(fixture!("own-x-uuencode-part.eml"));
    let names: Vec<_> = mail.attachments.iter().map(|a| a.name.as_deref()).collect();
    assert_eq!(names.len(), 2, "{:?}", mail.attachments);
    assert!(names.contains(&Some("liste.txt")) && names.contains(&Some("ball.png")));
    let liste = mail
        .attachments
        .iter()
        .find(|a| a.name.as_deref() == Some("liste.txt"))
        .unwrap();
    assert_eq!(liste.content, b"Hallo Welt!\n");
    let ball = mail
        .attachments
        .iter()
        .find(|a| a.name.as_deref() == Some("ball.png"))
        .unwrap();
    assert_eq!(ball.content, b"\x89PNG\r\n\x1a\n");
    assert_eq!(mail.text.trim(), "Siehe Anhang.");
}

#[test]
fn report_parts_are_attachments() {
    let mail = parse_ok(fixture!("own-report-text-parts.eml"));
    assert_eq!(
        mail.text.trim(),
        "Ihre Nachricht konnte nicht zugestellt werden."
    );
    let types: Vec<_> = mail
        .attachments
        .iter()
        .map(|a| a.content_type.as_str())
        .collect();
    assert_eq!(types, ["message/delivery-status", "text/plain"]);
    for fixture in [
        fixture!("rt-multipart-report"),
        fixture!("own-dsn-bounce.eml"),
    ] {
        let mail = parse_ok(fixture);
        let types: Vec<_> = mail
            .attachments
            .iter()
            .map(|a| a.content_type.as_str())
            .collect();
        assert_eq!(types, ["message/delivery-status", "message/rfc822"]);
    }
    let mail = parse_ok(fixture!("own-dsn-headers-only.eml"));
    assert_eq!(mail.attachments.len(), 2);
    assert_eq!(mail.text.trim(), "Mailbox full.");
}

#[test]
fn charset_labels_as_clients_write_them() {
    let mail = parse_ok(fixture!("own-charset-x-unknown.eml"));
    assert_eq!(
        mail.subject.as_deref(),
        Some("Beschwerde über den Bescheid")
    );
    assert!(
        mail.text.contains("möchte mich über den Bescheid"),
        "{:?}",
        mail.text
    );
    assert!(mail.text.contains("Grüßen") && !mail.text.contains('\u{FFFD}'));

    let mail = parse_ok(fixture!("own-charset-gb2312.eml"));
    assert_eq!(mail.subject.as_deref(), Some("投诉"));
    assert_eq!(mail.from.as_ref().unwrap().name.as_deref(), Some("王芳"));
    assert_eq!(mail.text.trim(), "您好，我的申请已经等了八周。");

    let mail = parse_ok(fixture!("own-charset-shift-jis-win1250.eml"));
    assert_eq!(mail.subject.as_deref(), Some("申請についてŠkešda"));
    assert!(
        mail.text.contains("申請は八週間前です。"),
        "{:?}",
        mail.text
    );
    assert!(mail.text.contains("Dobrý den, Škoda"));

    let mail = parse_ok(fixture!("php-imap-ks_c_5601-1987_headers.eml"));
    assert_eq!(
        mail.subject.as_deref(),
        Some("RE: 회원님께 Ersi님이 메시지를 보냈습니다.")
    );
    let mail = parse_ok(fixture!("php-imap-issue-410-iso-2022-jp.eml"));
    assert!(mail
        .subject
        .as_deref()
        .unwrap()
        .contains("月刊エクステリア・ワーク"));

    // UTF-8 characters split across encoded words (as in otobo's PostMaster-Test21/22).
    let mail = parse_ok(b"From: a@post.test\nSubject: =?utf-8?Q?=D0=95=D0=B2=D0=B3=D0=B5=D0=BD=D0=B8=D0=B9_=D0?=\n =?utf-8?Q?=92=D0=B0=D1=81=D0=B8=D0=BB=D1=8C=D0=B5=D0=B2?=\n\nText\n");
    assert_eq!(mail.subject.as_deref(), Some("Евгений Васильев"));

    // Undeclared 8-bit text that is not UTF-8: detected, not replacement characters.
    let mail = parse_ok(b"From: a@post.test\nSubject: Gr\xfc\xdfe aus M\xfcnchen\n\nIch m\xf6chte mich \xfcber die Bearbeitung beschweren.\n");
    assert_eq!(mail.subject.as_deref(), Some("Grüße aus München"));
    assert!(mail.text.contains("möchte mich über"), "{:?}", mail.text);
}

#[test]
fn very_long_subject_is_cut() {
    let subject = format!("Subject: {}\n", "Beschwerde ".repeat(300));
    let raw = format!("From: a@beispiel.test\n{subject}\nText\n");
    let mail = parse_ok(raw.as_bytes());
    assert_eq!(mail.subject.unwrap().chars().count(), 998);
    let mail = parse_ok(fixture!("rt-very-long-subject"));
    assert!(!mail.subject.unwrap().contains('\n'));
}

#[test]
fn unparseable_rules() {
    let unparseable = |raw: &[u8]| {
        matches!(
            parse(raw, &Limits::default()),
            Err(ParseError::Unparseable(_))
        )
    };
    assert!(unparseable(b""));
    assert!(unparseable(b" \r\n\r\n"));
    assert!(unparseable(b"From sender@x Mon Feb  2 10:00:00 2026\n"));
    assert!(unparseable(b"just some words without any header\n"));
    assert!(unparseable(b"Subject: leer\nTo: a@b.test\n\n \n"));
    // sender but no content, or content but no sender: both fine
    assert!(parse(
        b"From: a@beispiel.test\nSubject: leer\n\n",
        &Limits::default()
    )
    .is_ok());
    assert!(parse(b"Subject: nur Text\n\nInhalt\n", &Limits::default()).is_ok());
    assert!(parse(b"X-Foo: bar\n\nInhalt ohne Absender\n", &Limits::default()).is_ok());
}

#[test]
fn nested_message_headers_without_body_do_not_panic() {
    // reaches a debug_assert!(false) inside mail-parser 0.11.9
    let raw = b"From: a@beispiel.test\nSubject: x\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
--b\nContent-Type: message/rfc822\n\nContent-Type: message/rfc822\n\nFrom: c@beispiel.test\n\nx\n--b--\n";
    match parse(raw, &Limits::default()) {
        Ok(mail) => assert_eq!(mail.from.unwrap().addr, "a@beispiel.test"),
        Err(e) => assert!(matches!(e, ParseError::Unparseable(_)), "{e}"),
    }
}

#[test]
fn mbox_line_is_skipped() {
    let raw = [
        b"From anna.beispiel@post.test Mon Feb  2 09:14:03 2026\n".as_slice(),
        fixture!("own-plain-citizen.eml"),
    ]
    .concat();
    let mail = parse_ok(&raw);
    assert_eq!(mail.from.unwrap().addr, "anna.beispiel@post.test");
    assert_eq!(
        mail.content_hash,
        content_hash(fixture!("own-plain-citizen.eml"))
    );
}

#[test]
fn text_is_truncated_to_the_limit() {
    let raw = format!(
        "From: a@beispiel.test\nSubject: lang\n\n{}",
        "ä".repeat(5_000)
    );
    let limits = Limits {
        max_text_chars: 1_000,
        ..Limits::default()
    };
    let mail = parse(raw.as_bytes(), &limits).unwrap();
    assert_eq!(mail.text.chars().count(), 1_000);
}

// --- limits, end to end -------------------------------------------------------------------

// The limits are checked by what the error reports: parsing stops at the limit plus one, so
// the work is bounded by the limit, not by the size of the bomb (no wall-clock thresholds).

#[test]
fn fifty_megabyte_attachment_is_too_large() {
    let mut raw = b"From: a@beispiel.test\nSubject: gross\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n".to_vec();
    raw.resize(raw.len() + 50 * 1024 * 1024, b'A');
    raw.extend_from_slice(b"\n--b--\n");
    let err = parse(&raw, &Limits::default()).unwrap_err();
    // Refused on its size alone, before any parsing.
    assert!(
        matches!(err, ParseError::TooLarge { size, limit } if size == raw.len() && limit == Limits::default().max_size),
        "{err}"
    );
    assert!(
        err.reason_de().starts_with("Mail ist 50 MB groß"),
        "{}",
        err.reason_de()
    );
}

#[test]
fn ten_thousand_headers() {
    let mut raw = String::from("From: a@beispiel.test\n");
    for i in 0..10_000 {
        raw.push_str(&format!("X-Header-{i}: {i}\n"));
    }
    raw.push_str("\nText\n");
    let err = parse(raw.as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(
        err,
        ParseError::TooManyHeaders {
            count: 1001,
            limit: 1000
        }
    );
}

#[test]
fn five_thousand_parts() {
    let mut raw = String::from(
        "From: a@beispiel.test\nSubject: Teile\nContent-Type: multipart/mixed; boundary=\"b\"\n\n",
    );
    for _ in 0..5_000 {
        raw.push_str("--b\nContent-Type: text/plain\n\nx\n");
    }
    raw.push_str("--b--\n");
    let err = parse(raw.as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(
        err,
        ParseError::TooManyParts {
            count: 501,
            limit: 500
        }
    );
}

#[test]
fn nesting_bombs() {
    let mut multiparts = String::from("From: a@beispiel.test\nSubject: tief\n");
    for i in 0..2_000 {
        multiparts.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
        ));
    }
    multiparts.push_str("Content-Type: text/plain\n\nx\n");
    let mut messages = String::from("From: a@beispiel.test\nSubject: tief\n");
    // 200,000 levels: enough to overflow the stack inside mail-parser if it got that far
    for _ in 0..200_000 {
        messages.push_str("Content-Type: message/rfc822\n\nFrom: b@beispiel.test\n");
    }
    messages.push_str("Content-Type: text/plain\n\nx\n");
    for raw in [multiparts, messages] {
        let err = parse(raw.as_bytes(), &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            ParseError::TooDeep {
                depth: 11,
                limit: 10
            }
        );
    }
}

// --- corpus ----------------------------------------------------------------------------------

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let is_doc = name.starts_with("readme")
            || name.starts_with("license")
            || name.starts_with("copying")
            || name.ends_with(".md")
            || name.ends_with(".txt");
        if !is_doc {
            out.push(path);
        }
    }
}

/// Every file of the shared corpus goes through `parse` without panic: Ok, or Err with a reason.
#[test]
fn whole_corpus_parses_or_fails_with_a_reason() {
    let dir = std::env::var_os("KRM_TEST_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if !dir.is_dir() {
        // Absent corpus is a failure unless the run says explicitly that it has none.
        assert!(
            std::env::var("KRM_TEST_NO_CORPUS").is_ok_and(|v| v == "1"),
            "the shared corpus {} is missing: set KRM_TEST_CORPUS_DIR, or KRM_TEST_NO_CORPUS=1 to \
             run without it (see README)",
            dir.display()
        );
        println!("corpus test not run: KRM_TEST_NO_CORPUS=1");
        return;
    }
    let mut files = Vec::new();
    collect_files(&dir, &mut files);
    files.sort();
    assert!(!files.is_empty(), "{} holds no mail files", dir.display());
    let (mut ok, mut failed) = (0, 0);
    let mut by_class = std::collections::BTreeMap::new();
    for path in &files {
        let raw = std::fs::read(path).unwrap();
        match parse(&raw, &Limits::default()) {
            Ok(mail) => {
                ok += 1;
                *by_class.entry(mail.auto.as_str()).or_insert(0) += 1;
                assert!(!mail.text.contains('\0'));
                if let Some(s) = &mail.subject {
                    assert!(!s.contains(['\r', '\n']), "{}", path.display());
                }
            }
            Err(e) => {
                failed += 1;
                // Real mail within the default limits: only files that hold no mail at all
                // (no header, neither sender nor content) may be refused, never by a limit.
                assert!(
                    matches!(e, ParseError::Unparseable(_)),
                    "{}: refused by a limit: {e}",
                    path.display()
                );
                assert!(!e.reason_de().is_empty());
                println!("{}: {}", path.display(), e.reason_de());
            }
        }
    }
    println!(
        "corpus: {} files, {ok} parsed, {failed} rejected, classes {by_class:?}",
        files.len()
    );
    // At most 2 % of the corpus may be unreadable (276 files, 3 without any mail in them).
    assert!(
        failed * 50 <= files.len(),
        "{failed} of {} files rejected",
        files.len()
    );
}

// --- mutations -------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: prop::sample::Index,
        bit: u8,
    },
    Insert {
        at: prop::sample::Index,
        bytes: Vec<u8>,
    },
    Delete {
        at: prop::sample::Index,
        len: usize,
    },
    Duplicate {
        at: prop::sample::Index,
        len: usize,
        to: prop::sample::Index,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop::sample::select(vec![
        b"\r".to_vec(),
        b"\n".to_vec(),
        b"\r\n".to_vec(),
        b"\0".to_vec(),
        b"\n\n".to_vec(),
        b"--".to_vec(),
        b"=?utf-8?q?=0D=0A?=".to_vec(),
        b"\nContent-Type: message/rfc822\n\n".to_vec(),
        b"\nContent-Type: multipart/mixed; boundary=x\n\n--x\n".to_vec(),
        b"\nContent-Transfer-Encoding: base64\n".to_vec(),
        vec![0xff, 0xfe],
    ]);
    prop_oneof![
        (any::<prop::sample::Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (
            any::<prop::sample::Index>(),
            prop_oneof![special, prop::collection::vec(any::<u8>(), 1..8)]
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<prop::sample::Index>(), 1usize..64)
            .prop_map(|(at, len)| Mutation::Delete { at, len }),
        (
            any::<prop::sample::Index>(),
            1usize..256,
            any::<prop::sample::Index>()
        )
            .prop_map(|(at, len, to)| Mutation::Duplicate { at, len, to }),
    ]
}

fn apply(raw: &mut Vec<u8>, m: &Mutation) {
    if raw.is_empty() {
        raw.push(b'x');
    }
    match m {
        Mutation::Flip { at, bit } => {
            let i = at.index(raw.len());
            raw[i] ^= 1 << bit;
        }
        Mutation::Insert { at, bytes } => {
            let i = at.index(raw.len() + 1);
            raw.splice(i..i, bytes.iter().copied());
        }
        Mutation::Delete { at, len } => {
            let i = at.index(raw.len());
            let end = (i + len).min(raw.len());
            raw.drain(i..end);
        }
        Mutation::Duplicate { at, len, to } => {
            let i = at.index(raw.len());
            let end = (i + len).min(raw.len());
            let chunk = raw[i..end].to_vec();
            let j = to.index(raw.len() + 1);
            raw.splice(j..j, chunk);
        }
    }
}

proptest! {
    // No regression files: they would land outside src/message; found cases become unit tests.
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

    #[test]
    fn mutated_mails_never_panic(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..16),
    ) {
        let mut raw = FIXTURES[which.index(FIXTURES.len())].to_vec();
        for m in &mutations {
            apply(&mut raw, m);
        }
        if let Ok(mail) = parse(&raw, &Limits::default()) {
            prop_assert!(!mail.text.contains('\0'));
            if let Some(subject) = &mail.subject {
                prop_assert!(!subject.chars().any(char::is_control));
                let _ = case_number_in_subject(subject);
            }
            prop_assert_eq!(mail.content_hash, content_hash(&raw));
        }
    }
}
