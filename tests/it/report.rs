//! Acceptance of the report (issue 6): a fixture year whose ground truth is the Ombudsstelle's
//! 2017 table — 286 reactions (119 + 167), 11 without third-party support, 275 complaints,
//! 10 ideas, 1 praise, 84 justified complaints (29,4 % of all reactions) — delivered through
//! the real IMAP intake, classified by staff through the CLI binary, reported by the binary.

mod work;

use crate::helpers::*;
use crate::staff::{json, krm, ok};
use chrono::{DateTime, Datelike, Duration, FixedOffset, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const REACTIONS: usize = 286;
const FIRST_HALF: usize = 119;

fn berlin(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<FixedOffset> {
    Berlin
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("unambiguous Berlin time")
        .fixed_offset()
}

/// Receipt time of reaction `i`: the first at 00:10 on 1 January, the last of the first half
/// at 23:50 on 30 June, the first of the second half at 00:10 on 1 July (22:10 UTC on 30 June),
/// the last at 23:50 on 31 December; the others spread over the days between.
fn received(i: usize) -> DateTime<FixedOffset> {
    match i {
        0 => berlin(2017, 1, 1, 0, 10),
        118 => berlin(2017, 6, 30, 23, 50),
        119 => berlin(2017, 7, 1, 0, 10),
        285 => berlin(2017, 12, 31, 23, 50),
        _ => {
            let (start, k, span, n) = if i < FIRST_HALF {
                (berlin(2017, 1, 2, 8, 0), i - 1, 176, 117)
            } else {
                (berlin(2017, 7, 2, 8, 0), i - 120, 180, 165)
            };
            let day = start + Duration::days((k * span / n) as i64);
            day + Duration::minutes(((i * 37) % 600) as i64)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Beschwerde,
    Anregung,
    Lob,
}

const ANREGUNG: [usize; 10] = [3, 30, 60, 90, 120, 150, 180, 210, 240, 270];
const LOB: usize = 7;
/// A citizen whose counsellor helped, as staff learn later: the rules see no third party.
const CORRECTED: usize = 143;

fn kind(i: usize) -> Kind {
    if i == LOB {
        Kind::Lob
    } else if ANREGUNG.contains(&i) {
        Kind::Anregung
    } else {
        Kind::Beschwerde
    }
}

/// Without third-party support (after staff correction): 11 reactions.
fn without_third_party(i: usize) -> bool {
    i % 26 == 0
}

fn topics(i: usize) -> Vec<&'static str> {
    let mut t = Vec::new();
    if i % 2 == 0 {
        t.push("Bearbeitungsdauer");
    }
    if i % 5 == 0 {
        t.push("Kosten der Unterkunft");
    }
    if i % 7 == 0 {
        t.push("Umzug");
    }
    if t.is_empty() {
        t.push(["Erreichbarkeit", "Leistungsberechnung", "Mietkaution"][i % 3]);
    }
    t
}

struct Fixture {
    at: DateTime<FixedOffset>,
    raw: Vec<u8>,
    message_id: String,
}

#[allow(clippy::too_many_arguments)]
fn raw(
    from: &str,
    to: &str,
    cc: Option<&str>,
    extra: &str,
    subject: &str,
    date: &str,
    message_id: &str,
    body: &str,
) -> Vec<u8> {
    let cc = cc.map(|c| format!("Cc: {c}\r\n")).unwrap_or_default();
    format!(
        "From: {from}\r\nTo: {to}\r\n{cc}{extra}Subject: {subject}\r\nDate: {date}\r\n\
         Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
        body.replace('\n', "\r\n")
    )
    .into_bytes()
}

/// Reaction `i` as real senders write it: counselling centres, a counsellor on freemail known
/// by her signature, a citizen with the counsellor in Cc, a centre forwarding its client's
/// mail, city services, volunteers; and citizens, one forwarded by a Jobcenter colleague.
fn reaction(w: &World, i: usize) -> Fixture {
    let at = received(i);
    // One mail's Date header is written in UTC: 22:10 on 30 June, received 00:10 on 1 July.
    let date = if i == 119 {
        at.with_timezone(&Utc).to_rfc2822()
    } else {
        at.to_rfc2822()
    };
    let message_id = format!("<r{i}.{}@fixture.test>", w.name);
    let to = format!("Ombudsstelle <{}>", w.inbox_address());
    let folder = &w.folder;
    let subject = format!("Anliegen Nr. {i}");
    let ask = "seit Wochen wartet die Familie auf eine Entscheidung über den Antrag.";
    let citizen_variant = i == CORRECTED || without_third_party(i);
    let (from, cc, body) = if citizen_variant {
        citizen_reaction(folder, i, ask)
    } else {
        third_party_reaction(folder, i, ask)
    };
    Fixture {
        at,
        raw: raw(
            &from,
            &to,
            cc.as_deref(),
            "",
            &subject,
            &date,
            &message_id,
            &body,
        ),
        message_id,
    }
}

/// From, Cc and body of a reaction that came without help of a third party.
fn citizen_reaction(folder: &str, i: usize, ask: &str) -> (String, Option<String>, String) {
    match (i / 26) % 3 {
            _ if i == CORRECTED => (
                format!("Max Muster <buerger+{folder}@mail.test>"),
                None,
                format!("Guten Tag,\n\nFrau Schulz hilft mir bei den Anträgen. Es geht um {i}.\n\nViele Grüße\nMax Muster"),
            ),
            0 => (
                format!("Max Muster <buerger+{folder}@mail.test>"),
                None,
                format!("Guten Tag,\n\n{ask} Vorgang {i}.\n\nViele Grüße\nMax Muster"),
            ),
            // Mentions a counselling centre in the text: still a citizen.
            1 => (
                format!("Erika Beispiel <buerger+{folder}@mail.test>"),
                None,
                format!(
                    "Hallo,\n\ndie Caritas Schuldnerberatung hat mir geraten, mich an Sie zu wenden. \
                     {ask} ({i})\n\nMit freundlichen Grüßen\nErika Beispiel"
                ),
            ),
            // A Jobcenter colleague forwards a citizen's mail: the citizen is the sender.
            _ => (
                "Kollege Markt <k.markt@jobcenter.test>".to_string(),
                None,
                format!(
                    "Zur Kenntnis und Bearbeitung.\n\n-----Ursprüngliche Nachricht-----\n\
                     Von: Max Muster <buerger@mail.test>\nGesendet: Sonntag, 1. Januar 2017 20:00\n\
                     An: Markt, Kollege\nBetreff: Anfrage\n\n{ask} ({i})\n\n\
                     Mit freundlichen Grüßen\nMax Muster"
                ),
            ),
        }
}

/// From, Cc and body of a reaction sent or accompanied by a third party.
fn third_party_reaction(folder: &str, i: usize, ask: &str) -> (String, Option<String>, String) {
    match i % 10 {
            0 | 1 => (
                format!("Caritas Schuldnerberatung <beratung+{folder}@caritas-dresden.test>"),
                None,
                format!(
                    "Sehr geehrte Damen und Herren,\n\nunser Klient: {ask} ({i})\n\n\
                     Mit freundlichen Grüßen\nGabi Muster\nSchuldnerberatung\nCaritasverband für Dresden e.V."
                ),
            ),
            // A counsellor on a freemail address, known by her signature.
            2 => (
                format!("Anna Beispiel <anna.beispiel{i}@mail.test>"),
                None,
                format!(
                    "Sehr geehrte Damen und Herren,\n\nich schreibe für meinen Klienten: {ask} ({i})\n\n\
                     Mit freundlichen Grüßen\nAnna Beispiel\nSchuldner- und Insolvenzberatung\n\
                     Caritasverband für Dresden e.V.\nTel. 0351 0000000"
                ),
            ),
            // A citizen with the counsellor in Cc.
            3 => (
                format!("Max Muster <buerger+{folder}@mail.test>"),
                Some("Caritas Schuldnerberatung <beratung@caritas-dresden.test>".to_string()),
                format!("Guten Tag,\n\nmeine Beraterin ist in Kopie. {ask} ({i})\n\nViele Grüße\nMax Muster"),
            ),
            // A counselling centre forwards its client's mail.
            4 => (
                format!("Gabi Berater <info+{folder}@beratung-mittelpunkt.test>"),
                None,
                format!(
                    "Sehr geehrte Damen und Herren,\n\nwir leiten Ihnen die Nachricht unseres Klienten weiter.\n\n\
                     Mit freundlichen Grüßen\nGabi Berater\nBeratungsstelle Mittelpunkt\n\n\
                     -------- Weitergeleitete Nachricht --------\nBetreff: \tHilfe\n\
                     Datum: \tFri, 27 Jan 2017 18:00:00 +0100\nVon: \tMax Muster <buerger@mail.test>\n\
                     An: \tinfo@beratung-mittelpunkt.test\n\n{ask} ({i})\n\nGruß Max"
                ),
            ),
            5 => (
                "P. Muster <p.muster@dresden-stadt.test>".to_string(),
                None,
                format!(
                    "Sehr geehrte Damen und Herren,\n\n{ask} ({i})\n\nMit freundlichen Grüßen\n\
                     P. Muster\nLandeshauptstadt Dresden\nSozialamt"
                ),
            ),
            6 => (
                "H. Helfer <h.helfer@diakonie-dresden.test>".to_string(),
                None,
                format!(
                    "Guten Tag,\n\n{ask} ({i})\n\nFreundliche Grüße\nH. Helfer\n\
                     Diakonie Dresden – Wohnungsnotfallhilfe"
                ),
            ),
            7 => (
                format!("Arbeitsloseninitiative Dresden <alo{i}@mail.test>"),
                None,
                format!("Hallo,\n\n{ask} ({i})\n\nViele Grüße\nIhre Initiative"),
            ),
            8 => (
                "Sozialdienst <sozialdienst@klinikum-dresden.test>".to_string(),
                None,
                format!(
                    "Sehr geehrte Damen und Herren,\n\nfür unsere Patientin: {ask} ({i})\n\n\
                     Mit freundlichen Grüßen\nK. Pflege\nSozialdienst\nStädtisches Klinikum"
                ),
            ),
            _ => (
                format!("Helga Helfer <helga{i}@mail.test>"),
                None,
                format!(
                    "Guten Tag,\n\nich begleite Herrn M.: {ask} ({i})\n\nViele Grüße\nHelga Helfer\n\
                     ehrenamtliche Betreuerin"
                ),
            ),
        }
}

/// Mails that are no reaction of 2017: one just before and one just after the year (the latter
/// with its Date header in UTC, still 2017 there), a spam mail and a second letter about the
/// same matter (staff discard and merge them), and two follow-ups to 2017 reactions.
fn others(w: &World) -> Vec<Fixture> {
    let to = format!("Ombudsstelle <{}>", w.inbox_address());
    let folder = &w.folder;
    let citizen = format!("Max Muster <buerger+{folder}@mail.test>");
    let mid = |n: &str| format!("<{n}.{}@fixture.test>", w.name);
    let body = "Guten Tag,\n\nich habe eine Frage zu meinem Bescheid.\n\nViele Grüße\nMax Muster";
    let mut v = Vec::new();
    let at = berlin(2016, 12, 31, 23, 50);
    v.push(Fixture {
        raw: raw(
            &citizen,
            &to,
            None,
            "",
            "Silvester",
            &at.to_rfc2822(),
            &mid("y2016"),
            body,
        ),
        at,
        message_id: mid("y2016"),
    });
    let at = berlin(2018, 1, 1, 0, 10);
    v.push(Fixture {
        raw: raw(
            &citizen,
            &to,
            None,
            "",
            "Neujahr",
            &at.with_timezone(&Utc).to_rfc2822(),
            &mid("y2018"),
            body,
        ),
        at,
        message_id: mid("y2018"),
    });
    let at = berlin(2017, 5, 5, 11, 0);
    v.push(Fixture {
        raw: raw(
            "Gewinnspiel <gewinn@lotto-spam.test>",
            &to,
            None,
            "Precedence: bulk\r\n",
            "Sie haben gewonnen",
            &at.to_rfc2822(),
            &mid("spam"),
            "Jetzt Gewinn abholen!",
        ),
        at,
        message_id: mid("spam"),
    });
    let at = berlin(2017, 3, 15, 10, 0);
    v.push(Fixture {
        raw: raw(
            &format!("Caritas Schuldnerberatung <beratung+{folder}@caritas-dresden.test>"),
            &to,
            None,
            "",
            "Nachtrag zu Anliegen Nr. 50",
            &at.to_rfc2822(),
            &mid("dup"),
            "Sehr geehrte Damen und Herren,\n\nanbei noch der fehlende Bescheid.\n\n\
             Mit freundlichen Grüßen\nGabi Muster\nSchuldnerberatung\nCaritasverband für Dresden e.V.",
        ),
        at,
        message_id: mid("dup"),
    });
    for n in [10usize, 200] {
        let at = received(n) + Duration::days(2);
        let extra = format!(
            "In-Reply-To: <r{n}.{name}@fixture.test>\r\nReferences: <r{n}.{name}@fixture.test>\r\n",
            name = w.name
        );
        v.push(Fixture {
            raw: raw(
                &citizen,
                &to,
                None,
                &extra,
                &format!("AW: Anliegen Nr. {n}"),
                &at.to_rfc2822(),
                &mid(&format!("fu{n}")),
                body,
            ),
            at,
            message_id: mid(&format!("fu{n}")),
        });
    }
    v
}

/// Runs every command line of `jobs` through the binary, four at a time; all must succeed.
fn run_all(w: &World, jobs: &[Vec<String>]) {
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(args) = jobs.get(k) else { break };
                let out = krm(w, args);
                if !out.status.success() {
                    failures.lock().unwrap().push(format!(
                        "{args:?}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            });
        }
    });
    let f = failures.into_inner().unwrap();
    assert!(f.is_empty(), "{} commands failed: {f:#?}", f.len());
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The case numbers of the fixture, by Message-ID.
struct Numbers {
    by_mid: HashMap<String, String>,
    reactions: Vec<String>,
}

impl Numbers {
    fn n(&self, i: usize) -> String {
        self.reactions[i].clone()
    }

    fn of(&self, f: &Fixture) -> String {
        self.by_mid[&f.message_id].clone()
    }
}

/// Appends the fixture year to the inbox and runs one intake without sending; the numbers.
async fn intake(w: &World, reactions: &[Fixture], others: &[Fixture]) -> Numbers {
    let mut mb = login(OMBUDS).await;
    mb.ensure_folder(&w.folder).await.expect("folder");
    for f in reactions.iter().chain(others) {
        mb.append_at(&w.folder, &f.raw, Some(f.at))
            .await
            .expect("APPEND");
    }
    mb.logout().await;

    // Intake without sending: the acknowledgements' outcome is set below from the fixture, so
    // the report's figures do not depend on which addresses the test Postfix accepts or on
    // acknowledging 2017 mail today.
    let app = w.app().await;
    let r = krm_intake::daemon::run_once(&app, true)
        .await
        .expect("run --once --no-send");
    assert_eq!(r.scan.new_cases, REACTIONS + 4, "{r:?}");
    assert_eq!(r.scan.followups, 2, "{r:?}");
    assert_eq!(r.scan.quarantined, 0, "{r:?}");

    // The case numbers, by Message-ID, from the documented list JSON.
    let list = json(w, &["case", "list", "--json"]);
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), REACTIONS + 4);
    let by_mid: HashMap<String, String> = list
        .iter()
        .map(|c| {
            (
                c["message_id"].as_str().unwrap().to_string(),
                c["number"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let numbers = Numbers {
        reactions: reactions
            .iter()
            .map(|f| by_mid[&f.message_id].clone())
            .collect(),
        by_mid,
    };
    // Half-years by Berlin time: the 00:10 mails carry their Berlin year's number.
    assert!(numbers.n(0).starts_with("KRM-2017-"));
    assert!(numbers.of(&others[0]).starts_with("KRM-2016-"));
    assert!(numbers.of(&others[1]).starts_with("KRM-2018-"));
    // The rules saw a third party behind all but the 11 citizens and the one staff correct.
    let mut got: Vec<String> = list
        .iter()
        .filter(|c| {
            c["third_party"] == false && c["received_at"].as_str().unwrap().starts_with("2017")
        })
        .map(|c| c["number"].as_str().unwrap().to_string())
        .collect();
    let mut expected: Vec<String> = (0..REACTIONS)
        .filter(|&i| without_third_party(i) || i == CORRECTED)
        .map(|i| numbers.n(i))
        .collect();
    expected.push(numbers.of(&others[2])); // the spam
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    numbers
}

const BY: &str = "Erika Sachbearbeiterin";

/// Kinds and topics of every reaction, all through the binary.
fn classify(w: &World, n: &Numbers) {
    let mut classify = Vec::new();
    for i in 0..REACTIONS {
        let k = match kind(i) {
            Kind::Beschwerde => "beschwerde",
            Kind::Anregung => "anregung",
            Kind::Lob => "lob",
        };
        let mut a = args(&["case", "classify", &n.n(i), "--kind", k, "--by", BY]);
        for t in topics(i) {
            a.extend(args(&["--topic", t]));
        }
        classify.push(a);
    }
    run_all(w, &classify);
}

/// 84 justified complaints spread evenly (fixture indices), then 20 assessed not justified.
fn assessments() -> (Vec<usize>, Vec<usize>) {
    let complaints: Vec<usize> = (0..REACTIONS)
        .filter(|&i| kind(i) == Kind::Beschwerde)
        .collect();
    assert_eq!(complaints.len(), 275);
    let justified: Vec<usize> = complaints
        .iter()
        .enumerate()
        .filter(|(p, _)| (p + 1) * 84 / 275 != p * 84 / 275)
        .map(|(_, &i)| i)
        .collect();
    assert_eq!(justified.len(), 84);
    let not_justified: Vec<usize> = complaints
        .iter()
        .copied()
        .filter(|i| !justified.contains(i))
        .step_by(9)
        .take(20)
        .collect();
    (justified, not_justified)
}

/// Assessments, closing (the day of the final answer: 2 to 21 days after receipt), the spam
/// discarded, the second letter merged, the third party corrected — through the binary.
fn staff_work(w: &World, n: &Numbers, reactions: &[Fixture], others: &[Fixture]) {
    let (justified, not_justified) = assessments();
    let mut work = Vec::new();
    for (list, yes_no) in [(&justified, "yes"), (&not_justified, "no")] {
        for &i in list {
            work.push(args(&[
                "case",
                "assess",
                &n.n(i),
                "--justified",
                yes_no,
                "--by",
                BY,
            ]));
        }
    }
    for i in (0..REACTIONS).step_by(7) {
        let answered = (reactions[i].at.date_naive() + Duration::days((2 + i % 20) as i64))
            .format("%Y-%m-%d")
            .to_string();
        work.push(args(&[
            "case",
            "close",
            &n.n(i),
            "--answered-on",
            &answered,
        ]));
    }
    work.push(args(&[
        "case",
        "discard",
        &n.of(&others[2]),
        "--reason",
        "spam",
    ]));
    work.push(args(&[
        "case",
        "merge",
        &n.of(&others[3]),
        "--into",
        &n.n(50),
    ]));
    work.push(args(&[
        "case",
        "set-third-party",
        &n.n(CORRECTED),
        "--organisation",
        "Diakonie Wohnungsnotfallhilfe",
        "--category",
        "Beratungsstelle",
        "--by",
        BY,
    ]));
    run_all(w, &work);
}

/// Acknowledgements with a known outcome: by fixture index, sent within the deadline, sent
/// late, failed, or still pending. Auto-replies and the like stay suppressed by intake; their
/// numbers are returned.
async fn acknowledgements(w: &World, n: &Numbers) -> Vec<String> {
    let suppressed: Vec<(String,)> =
        sqlx::query_as("SELECT number FROM cases WHERE ack_status = 'suppressed'")
            .fetch_all(&w.pool)
            .await
            .unwrap();
    let suppressed: Vec<String> = suppressed.into_iter().map(|(n,)| n).collect();
    assert_eq!(
        (0..REACTIONS)
            .filter(|&i| suppressed.contains(&n.n(i)))
            .count(),
        3,
        "three of the reactions are automatic mails: {suppressed:?}"
    );
    for i in 0..REACTIONS {
        let (status, delay) = match i % 4 {
            0 => ("sent", Some(1)),
            1 => ("sent", Some(30 * 24)),
            2 => ("failed", None),
            _ => ("pending", None),
        };
        sqlx::query(
            "UPDATE cases SET ack_status = $2,
                    ack_sent_at = received_at + make_interval(hours => $3)
             WHERE number = $1 AND ack_status <> 'suppressed'",
        )
        .bind(n.n(i))
        .bind(status)
        .bind(delay)
        .execute(&w.pool)
        .await
        .unwrap();
    }
    suppressed
}

#[derive(Default, Debug, PartialEq)]
struct Acks {
    expected: u64,
    sent: u64,
    within: u64,
    failed: u64,
    pending: u64,
    suppressed: u64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

/// Acknowledgements and processing per half-year equal the fixture's.
async fn assert_acks_and_processing(
    w: &World,
    report: &serde_json::Value,
    n: &Numbers,
    suppressed: &[String],
) {
    let mut want = [Acks::default(), Acks::default()];
    let mut closed_want = [0u64; 2];
    let mut days_want: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for i in 0..REACTIONS {
        let half = usize::from(i >= FIRST_HALF);
        let a = &mut want[half];
        if suppressed.contains(&n.n(i)) {
            a.suppressed += 1;
        } else {
            a.expected += 1;
            match i % 4 {
                0 => {
                    a.sent += 1;
                    a.within += 1
                }
                1 => a.sent += 1,
                2 => a.failed += 1,
                _ => a.pending += 1,
            }
        }
        if i % 7 == 0 {
            closed_want[half] += 1;
            days_want[half].push((2 + i % 20) as f64);
        }
    }
    // Closed within the processing deadline: by the deadline the case itself carries.
    let within_deadline: Vec<(bool,)> = sqlx::query_as(
        "SELECT EXTRACT(MONTH FROM received_at AT TIME ZONE 'Europe/Berlin') > 6
         FROM cases WHERE status = 'closed' AND answered_on <= due
           AND EXTRACT(YEAR FROM received_at AT TIME ZONE 'Europe/Berlin') = 2017",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    for (half, p) in [&report["periods"][0], &report["periods"][1]]
        .into_iter()
        .enumerate()
    {
        let a = &p["acknowledgements"];
        let got = Acks {
            expected: a["expected"].as_u64().unwrap(),
            sent: a["sent"].as_u64().unwrap(),
            within: a["within_deadline"].as_u64().unwrap(),
            failed: a["failed"].as_u64().unwrap(),
            pending: a["pending"].as_u64().unwrap(),
            suppressed: a["suppressed"].as_u64().unwrap(),
        };
        assert_eq!(got, want[half], "acknowledgements, half-year {}", half + 1);
        assert_eq!(a["recorded_by_staff"], 0);
        assert_eq!(a["not_delivered"], 0);
        let pr = &p["processing"];
        assert_eq!(pr["closed"].as_u64(), Some(closed_want[half]));
        let within = within_deadline
            .iter()
            .filter(|(h,)| usize::from(*h) == half)
            .count();
        assert_eq!(pr["closed_within_deadline"].as_u64(), Some(within as u64));
        assert_eq!(
            pr["not_closed"].as_u64(),
            Some([FIRST_HALF, REACTIONS - FIRST_HALF][half] as u64 - closed_want[half])
        );
        assert_eq!(
            pr["median_processing_days"].as_f64(),
            Some(median(&mut days_want[half]))
        );
    }
}

/// The seed report's table: 286 reactions, 11 without third-party support, 275 complaints,
/// 10 ideas, 1 praise, 84 justified (29,4 %).
fn assert_seed_table(report: &serde_json::Value) {
    let t = &report["total"];
    let h1 = &report["periods"][0];
    let h2 = &report["periods"][1];
    assert_eq!(h1["half_year"], "2017-1");
    assert_eq!(h2["half_year"], "2017-2");
    assert_eq!(
        (h1["reactions"].as_u64(), h2["reactions"].as_u64()),
        (Some(119), Some(167))
    );
    assert_eq!(t["reactions"], 286);
    assert_eq!(t["addressed_to_office"], 286);
    assert_eq!(t["without_third_party"], 11);
    assert_eq!(t["with_third_party"], 275);
    assert_eq!(
        t["kinds"],
        serde_json::json!({"beschwerde": 275, "anregung": 10, "lob": 1, "unclassified": 0})
    );
    assert_eq!(t["justified"]["justified"], 84);
    assert_eq!(t["justified"]["not_justified"], 20);
    assert_eq!(t["justified"]["not_assessed"], 171);
    assert_eq!(t["justified"]["share_of_reactions_percent"], 29.4);
    assert_eq!(t["justified"]["share_of_complaints_percent"], 30.5);
    assert_eq!(
        t["excluded"],
        serde_json::json!({"discarded": 1, "merged": 1})
    );
    assert_eq!(t["topics"][0]["name"], "Bearbeitungsdauer");
    assert_eq!(t["topics"][0]["count"], 143);
    let (h1_kinds, h2_kinds) = (&h1["kinds"], &h2["kinds"]);
    assert_eq!(
        h1_kinds["beschwerde"].as_u64().unwrap() + h2_kinds["beschwerde"].as_u64().unwrap(),
        275
    );
    let closed = (0..REACTIONS).step_by(7).count() as u64;
    assert_eq!(t["processing"]["closed"], closed);
}

/// No person ever: no address, name, subject or note of the fixture in any format.
fn assert_no_person(outputs: &[&str]) {
    for out in outputs {
        for needle in [
            "@",
            "Muster",
            "Beispiel",
            "Anliegen",
            "Helga",
            "H. Helfer",
            "Schulz",
            "Sachbearbeiterin",
            "Frau Notiz",
        ] {
            assert!(!out.contains(needle), "{needle:?} in report:\n{out}");
        }
    }
}

/// The boundaries of the half-years, with an inclusive --to.
fn assert_boundaries(w: &World, reactions: &[Fixture]) {
    let day = |d: &str| {
        json(w, &["report", "--from", d, "--to", d, "--format", "json"])["total"]["reactions"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(day("2017-07-01"), 1);
    assert_eq!(day("2017-06-30"), 1);
    assert_eq!(day("2017-01-01"), 1);
    assert_eq!(day("2016-12-31"), 1);
    let h2_only = json(w, &["report", "--half-year", "2017-2", "--format", "json"]);
    assert_eq!(h2_only["total"]["reactions"], 167);
    assert_eq!(h2_only["periods"].as_array().unwrap().len(), 1);
    assert_eq!(reactions[119].at.with_timezone(&Utc).day(), 30);
}

#[tokio::test]
async fn the_2017_table_is_reproduced_from_mail_intake_and_staff_classification() {
    let w = World::with_env("report2017", &[("KRM_ACK_RATE_LIMIT_PER_HOUR", "1000")]).await;
    let reactions: Vec<Fixture> = (0..REACTIONS).map(|i| reaction(&w, i)).collect();
    let others = others(&w);
    let n = intake(&w, &reactions, &others).await;
    classify(&w, &n);
    // Intake ran without sending; the acknowledgements' outcomes are set on the cases below. Their
    // outbox rows are taken as handed over, as the daemon does within seconds, so that closing
    // a case does not withdraw one still waiting (what a real waiting one would get).
    sqlx::query("UPDATE outbox SET status = 'sent', sent_at = now() WHERE status = 'pending'")
        .execute(&w.pool)
        .await
        .unwrap();
    staff_work(&w, &n, &reactions, &others);
    let suppressed = acknowledgements(&w, &n).await;
    work::record(&w, &n, &reactions, &others).await;

    // The report, by the binary, in every format.
    let report = json(&w, &["report", "--year", "2017", "--format", "json"]);
    assert_acks_and_processing(&w, &report, &n, &suppressed).await;
    assert_seed_table(&report);
    work::assert_figures(&report);
    let text = ok(&w, &["report", "--year", "2017"]);
    let csv = ok(&w, &["report", "--year", "2017", "--format", "csv"]);
    let html = ok(&w, &["report", "--year", "2017", "--format", "html"]);
    // The document's own stylesheet has `@media print`; everything else is from the data.
    let style = html.find("<style>").unwrap()..html.find("</style>").unwrap();
    let html_data = format!("{}{}", &html[..style.start], &html[style.end..]);
    assert_no_person(&[&text, &csv, &html_data, &report.to_string()]);
    work::assert_csv(&csv);
    work::assert_html(&html);
    assert!(text.contains("29,4 %"), "{text}");
    assert!(text.contains("30,5 %"), "{text}");
    insta::assert_snapshot!("report_2017_text", text);
    assert_boundaries(&w, &reactions);
}

#[tokio::test]
async fn an_empty_year_and_bad_periods_give_clear_messages() {
    let w = World::new("reportempty").await;
    let text = ok(&w, &["report", "--year", "2017"]);
    assert!(text.contains("ist keine Reaktion erfasst"), "{text}");
    let j = json(&w, &["report", "--year", "2017", "--format", "json"]);
    assert_eq!(j["total"]["reactions"], 0);
    assert!(j["total"]["justified"]["share_of_reactions_percent"].is_null());
    assert!(j["total"]["processing"]["median_processing_days"].is_null());
    let csv = ok(&w, &["report", "--half-year", "2017-1", "--format", "csv"]);
    assert!(
        csv.contains("Anteil begründet an allen Reaktionen (%);\n"),
        "{csv}"
    );

    let bad = |a: &[&str]| {
        let out = krm(&w, a);
        assert!(!out.status.success(), "{a:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(bad(&["report", "--half-year", "2017-3"]).contains("kein Halbjahr"));
    assert!(bad(&["report", "--from", "2017-02-01", "--to", "2017-01-01"]).contains("liegt nach"));
    assert!(
        bad(&["report", "--year", "2017", "--half-year", "2017-1"]).contains("nicht zusammen mit")
    );
    assert!(bad(&["report", "--from", "2017-02-01"]).contains("--to"));
    assert!(bad(&["report"]).contains("--year"));
}

/// The report's document template is checked like the mail templates: broken → `check` and
/// `report --format html` name file and line in German and exit 2 (before the database);
/// missing → the shipped one, with a warning from `check`.
#[tokio::test]
async fn a_broken_report_template_is_a_file_fault_and_a_missing_one_the_shipped() {
    let w = World::new("reporttpl").await;
    let dir = tempfile::tempdir().unwrap();
    for name in ["ack.txt.j2", "digest.txt.j2"] {
        std::fs::copy(
            project_dir().join("templates").join(name),
            dir.path().join(name),
        )
        .unwrap();
    }
    let tpl = dir.path().display().to_string();
    let run = |args: &[&str]| {
        let out = w
            .command()
            .env("KRM_TEMPLATES_DIR", &tpl)
            .args(args)
            .output()
            .expect("krm-intake");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let (code, out) = run(&["check"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("Berichtsvorlage") && out.contains("mitgelieferte"),
        "{out}"
    );
    let (code, out) = run(&["report", "--year", "2017", "--format", "html"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("<!doctype html>"), "{out}");

    let broken = dir.path().join("report.html.j2");
    std::fs::write(&broken, "<h1>{{ title }}</h1>\n{% for x in %}\n").unwrap();
    let want = format!("Vorlage {}, Zeile 2", broken.display());
    let (code, out) = run(&["check"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains(&want), "{out}");
    let (code, out) = run(&["report", "--year", "2017", "--format", "html"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains(&want), "{out}");
    assert!(!out.contains("<h1>"), "nothing printed: {out}");
    // The other formats do not need the template.
    let (code, out) = run(&["report", "--year", "2017", "--format", "csv"]);
    assert_eq!(code, Some(0), "{out}");
    std::fs::write(&broken, "<p>{{ keine_solche_kennzahl }}</p>\n").unwrap();
    let (code, out) = run(&["check"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("lässt sich nicht darstellen"), "{out}");
}
