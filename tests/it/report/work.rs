//! The 2017 fixture year's answers, clarification work and network work (issue 14): written
//! into the tables the answers capture and the `case contact`/`case contribution`/`network`
//! commands fill, with a known truth per fixture index; the report's new figures must equal it
//! exactly in JSON, CSV, text and HTML.

use serde_json::{json, Value};

use super::{assessments, kind, topics, Fixture, Kind, Numbers, FIRST_HALF, REACTIONS};
use crate::helpers::World;

/// Closed cases (every 7th) whose answer date the answers folder captured; the rest typed.
fn answered_from_mailbox(i: usize) -> bool {
    i % 14 == 0
}

/// Open cases answered from the mailbox but not closed.
fn answered_not_closed(i: usize) -> bool {
    i % 7 != 0 && i % 11 == 0
}

fn interim_reply(i: usize) -> bool {
    i % 9 == 0
}

fn contributed(i: usize) -> Option<bool> {
    match i % 6 {
        0 => Some(true),
        1 => Some(false),
        _ => None,
    }
}

fn contacts(i: usize) -> Vec<&'static str> {
    let mut c = Vec::new();
    if i % 8 == 0 {
        c.push("Familienkasse");
    }
    if i % 12 == 0 {
        c.push("Ausländerbehörde");
    }
    if i % 20 == 5 {
        c.push("Deutsche Rentenversicherung");
    }
    c
}

/// (date, kind, organisations, invited): the seed report's second page, plus one appointment
/// just before and one just after the year.
const APPOINTMENTS: [(&str, &str, &[&str], bool); 11] = [
    ("2016-12-31", "vorstellung", &["Alt-Verein"], true),
    (
        "2017-01-10",
        "vorstellung",
        &["Verein für soziale Rechtspflege"],
        true,
    ),
    (
        "2017-02-14",
        "vorstellung",
        &["Arbeitsloseninitiative Dresden"],
        true,
    ),
    (
        "2017-03-08",
        "netzwerktreffen",
        &["Netzwerk Existenzsicherung und Menschenwürde"],
        true,
    ),
    (
        "2017-05-17",
        "fachgruppe",
        &["Fach-AG Integration und Migration"],
        true,
    ),
    (
        "2017-06-30",
        "besuch",
        &["Caritas Schuldnerberatung", "Diakonie Dresden"],
        false,
    ),
    (
        "2017-07-01",
        "netzwerktreffen",
        &["Netzwerk Existenzsicherung und Menschenwürde"],
        true,
    ),
    (
        "2017-09-20",
        "vorstellung",
        &["Caritas", "Diakonie Dresden"],
        true,
    ),
    (
        "2017-11-15",
        "fachgruppe",
        &["Schuldnerberatungsstellen Dresden"],
        true,
    ),
    (
        "2017-12-31",
        "sonstiges",
        &["Landeshauptstadt Dresden – Sozialamt"],
        false,
    ),
    ("2018-01-01", "besuch", &["Neu-Verein"], true),
];

async fn exec(w: &World, sql: &'static str, numbers: Vec<String>) {
    sqlx::query(sql)
        .bind(numbers)
        .execute(&w.pool)
        .await
        .expect(sql);
}

/// Writes the truth into the database: answer sources and dates, interim replies,
/// contributions, contacts (also on the discarded, merged and 2016 cases, which never count)
/// and the appointments (each with a note naming a person, which never shows).
pub(super) async fn record(w: &World, n: &Numbers, _reactions: &[Fixture], others: &[Fixture]) {
    let pick = |f: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..REACTIONS).filter(|&i| f(i)).map(|i| n.n(i)).collect()
    };
    sqlx::query("UPDATE cases SET answered_source = 'typed' WHERE status = 'closed'")
        .execute(&w.pool)
        .await
        .unwrap();
    exec(
        w,
        "UPDATE cases SET answered_source = 'mailbox' WHERE number = ANY($1) AND status = 'closed'",
        pick(&|i| i % 7 == 0 && answered_from_mailbox(i)),
    )
    .await;
    exec(
        w,
        "UPDATE cases SET answered_on = (received_at AT TIME ZONE 'Europe/Berlin')::date + 3,
                answered_source = 'mailbox'
         WHERE number = ANY($1) AND status <> 'closed'",
        pick(&answered_not_closed),
    )
    .await;
    exec(
        w,
        "UPDATE cases SET interim_reply_on = (received_at AT TIME ZONE 'Europe/Berlin')::date + 1
         WHERE number = ANY($1)",
        pick(&interim_reply),
    )
    .await;
    let excluded = vec![n.of(&others[2]), n.of(&others[3]), n.of(&others[0])];
    for (value, f) in [(true, 0usize), (false, 1)] {
        let mut numbers = pick(&|i| i % 6 == f);
        if value {
            numbers.extend(excluded.clone());
        }
        sqlx::query("UPDATE cases SET contributed = $2 WHERE number = ANY($1)")
            .bind(numbers)
            .bind(value)
            .execute(&w.pool)
            .await
            .unwrap();
    }
    let mut rows: Vec<(String, &str)> = (0..REACTIONS)
        .flat_map(|i| contacts(i).into_iter().map(move |s| (i, s)))
        .map(|(i, s)| (n.n(i), s))
        .collect();
    rows.extend(excluded.iter().map(|num| (num.clone(), "Sozialamt")));
    for (number, stelle) in rows {
        sqlx::query(
            "INSERT INTO case_contacts (case_id, stelle, on_date, source, actor)
             SELECT id, $2, (received_at AT TIME ZONE 'Europe/Berlin')::date + 2, 'staff', 'test'
             FROM cases WHERE number = $1",
        )
        .bind(number)
        .bind(stelle)
        .execute(&w.pool)
        .await
        .unwrap();
    }
    for (date, kind, orgs, invited) in APPOINTMENTS {
        sqlx::query(
            "INSERT INTO network_appointments (on_date, kind, organisations, invited, note, actor)
             VALUES ($1::date, $2, $3, $4, 'Frau Notiz hat eingeladen', 'test')",
        )
        .bind(date)
        .bind(kind)
        .bind(orgs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .bind(invited)
        .execute(&w.pool)
        .await
        .unwrap();
    }
}

/// Counts of fixture reactions per half-year and in total for which `f` holds.
fn per_half(f: impl Fn(usize) -> u64) -> [u64; 3] {
    let mut c = [0u64; 3];
    for i in 0..REACTIONS {
        let v = f(i);
        c[usize::from(i >= FIRST_HALF)] += v;
        c[2] += v;
    }
    c
}

fn pct(num: u64, den: u64) -> Value {
    if den == 0 {
        Value::Null
    } else {
        json!(((num as f64) * 1000.0 / (den as f64)).round() / 10.0)
    }
}

/// The expected figures per column (H1, H2, total) of the fixture's truth.
struct Truth {
    processing: [[u64; 3]; 3],
    clarification: [Value; 3],
    areas: [u64; 3],
    network: [(u64, u64, Vec<u64>); 3],
}

fn truth() -> Truth {
    let b = |x: bool| u64::from(x);
    let mailbox = per_half(|i| b(i % 7 == 0 && answered_from_mailbox(i)));
    let not_closed = per_half(|i| b(answered_not_closed(i)));
    let interim = per_half(|i| b(interim_reply(i)));
    let (justified, not_justified) = assessments();
    let by =
        |want: &dyn Fn(usize) -> bool| per_half(|i| b(contributed(i) == Some(true) && want(i)));
    let complaint = |i: usize| kind(i) == Kind::Beschwerde;
    let by_j = by(&|i| justified.contains(&i));
    let by_nj = by(&|i| not_justified.contains(&i));
    let by_na = by(&|i| complaint(i) && !justified.contains(&i) && !not_justified.contains(&i));
    let by_other = by(&|i| !complaint(i));
    let with_contact = per_half(|i| b(!contacts(i).is_empty()));
    let yes = per_half(|i| b(contributed(i) == Some(true)));
    let no = per_half(|i| b(contributed(i) == Some(false)));
    let not_said = per_half(|i| b(contributed(i).is_none()));
    let body = |s: &str| per_half(|i| contacts(i).iter().filter(|c| **c == s).count() as u64);
    let reactions = [
        FIRST_HALF as u64,
        (REACTIONS - FIRST_HALF) as u64,
        REACTIONS as u64,
    ];
    let clarification = std::array::from_fn(|c| {
        let mut list: Vec<(&str, u64)> = [
            "Ausländerbehörde",
            "Deutsche Rentenversicherung",
            "Familienkasse",
        ]
        .into_iter()
        .map(|s| (s, body(s)[c]))
        .filter(|(_, k)| *k > 0)
        .collect();
        list.sort_by_key(|(_, k)| std::cmp::Reverse(*k));
        json!({
            "cases_with_contact": with_contact[c],
            "contacts": list.iter().map(|(s, k)| json!({"name": s, "count": k})).collect::<Vec<_>>(),
            "cases_with_contribution": yes[c],
            "share_of_reactions_percent": pct(yes[c], reactions[c]),
            "contributed": {"yes": yes[c], "no": no[c], "not_said": not_said[c]},
            "contribution_by_assessment": {
                "justified": by_j[c], "not_justified": by_nj[c],
                "not_assessed": by_na[c], "no_complaint": by_other[c]
            },
        })
    });
    let kommunal = ["Kosten der Unterkunft", "Umzug", "Mietkaution"];
    let areas = per_half(|i| topics(i).iter().filter(|t| kommunal.contains(t)).count() as u64);
    let network = std::array::from_fn(|c| {
        let (from, to) = [
            ("2017-01-01", "2017-06-30"),
            ("2017-07-01", "2017-12-31"),
            ("2017-01-01", "2017-12-31"),
        ][c];
        let held: Vec<_> = APPOINTMENTS
            .iter()
            .filter(|a| from <= a.0 && a.0 <= to)
            .collect();
        let kinds = [
            "vorstellung",
            "netzwerktreffen",
            "fachgruppe",
            "besuch",
            "sonstiges",
        ]
        .map(|k| held.iter().filter(|a| a.1 == k).count() as u64)
        .to_vec();
        (
            held.len() as u64,
            held.iter().filter(|a| a.3).count() as u64,
            kinds,
        )
    });
    Truth {
        processing: [mailbox, not_closed, interim],
        clarification,
        areas,
        network,
    }
}

/// JSON: the new figures of each half-year and of the total equal the truth.
pub(super) fn assert_figures(report: &Value) {
    let t = truth();
    let cols = [
        &report["periods"][0],
        &report["periods"][1],
        &report["total"],
    ];
    for (c, f) in cols.into_iter().enumerate() {
        let p = &f["processing"];
        assert_eq!(
            [
                &p["answered_from_mailbox"],
                &p["answered_not_closed"],
                &p["interim_replies"]
            ],
            [
                &json!(t.processing[0][c]),
                &json!(t.processing[1][c]),
                &json!(t.processing[2][c])
            ],
            "processing, column {c}"
        );
        assert_eq!(
            f["clarification"], t.clarification[c],
            "clarification, column {c}"
        );
        assert_eq!(
            f["topic_areas"],
            json!([{"name": "Kommunale Dienstleistungen", "count": t.areas[c]}]),
            "topic areas, column {c}"
        );
        let (n, invited, kinds) = &t.network[c];
        let net = &f["network"];
        assert_eq!(
            (&net["appointments"], &net["on_invitation"]),
            (&json!(n), &json!(invited))
        );
        assert_eq!(net["share_on_invitation_percent"], pct(*invited, *n));
        let by_kind: Vec<u64> = net["by_kind"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["count"].as_u64().unwrap())
            .collect();
        assert_eq!(&by_kind, kinds, "network kinds, column {c}");
        assert_eq!(net["items"].as_array().unwrap().len() as u64, *n);
    }
    let total = &report["total"]["network"];
    assert_eq!(
        (&total["appointments"], &total["on_invitation"]),
        (&json!(9), &json!(7))
    );
    assert_eq!(
        total["by_kind"][0],
        json!({"name": "Vorstellung der Ombudsstelle", "count": 3})
    );
    assert_eq!(
        total["organisations"][0],
        json!({"name": "Diakonie Dresden", "count": 2})
    );
    assert_eq!(
        total["items"][0],
        json!({"date": "2017-01-10", "kind": "vorstellung", "kind_label": "Vorstellung der Ombudsstelle",
               "organisations": ["Verein für soziale Rechtspflege"], "invited": true})
    );
}

fn row(section: &str, label: &str, cells: [String; 3]) -> String {
    format!(
        "\n{section};{label};{};{};{}\n",
        cells[0], cells[1], cells[2]
    )
}

/// CSV: the same figures, one row each.
pub(super) fn assert_csv(csv: &str) {
    let t = truth();
    let s = |v: [u64; 3]| v.map(|x| x.to_string());
    let col = |key: &str| -> [String; 3] {
        std::array::from_fn(|c| t.clarification[c][key].as_u64().unwrap().to_string())
    };
    for want in [
        row(
            "Bearbeitung",
            "davon Antwortdatum aus dem Postfach übernommen",
            s(t.processing[0]),
        ),
        row(
            "Bearbeitung",
            "davon beantwortet, aber nicht abgeschlossen",
            s(t.processing[1]),
        ),
        row("Bearbeitung", "mit Zwischennachricht", s(t.processing[2])),
        row("Themenbereiche", "Kommunale Dienstleistungen", s(t.areas)),
        row(
            "Klärungsarbeit",
            "Vorgänge mit Kontakt zu einer Stelle",
            col("cases_with_contact"),
        ),
        row(
            "Klärungsarbeit",
            "wesentlich zur Klärung beigetragen",
            col("cases_with_contribution"),
        ),
        row("Netzwerkarbeit", "Termine", s([5, 4, 9])),
        row("Netzwerkarbeit", "auf Einladung", s([4, 3, 7])),
        row(
            "Netzwerkarbeit",
            "Anteil auf Einladung (%)",
            ["80,0".into(), "75,0".into(), "77,8".into()],
        ),
        row("Netzwerkarbeit", "Netzwerktreffen", s([1, 1, 2])),
    ] {
        assert!(csv.contains(&want), "{want:?} not in\n{csv}");
    }
}

/// HTML: a whole document with the chart and the same table rows.
pub(super) fn assert_html(html: &str) {
    let t = truth();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(
        html.contains("<svg") && html.contains("role=\"img\""),
        "{html}"
    );
    let cells = |v: [u64; 3]| {
        v.iter()
            .map(|x| format!("<td class=\"zahl\">{x}</td>"))
            .collect::<String>()
    };
    for (label, v) in [
        ("Reaktionen", [119, 167, 286]),
        ("als begründet bewertet", [34, 50, 84]),
        ("mit Zwischennachricht", t.processing[2]),
        ("Kommunale Dienstleistungen", t.areas),
        ("Termine", [5, 4, 9]),
    ] {
        let want = format!("<th scope=\"row\">{label}</th>{}", cells(v));
        assert!(html.contains(&want), "{want} not in\n{html}");
    }
    for s in [
        "Verein für soziale Rechtspflege",
        "Netzwerk Existenzsicherung und Menschenwürde",
        "Familienkasse",
        "Klärungsarbeit",
    ] {
        assert!(html.contains(s), "{s} not in the document");
    }
}
