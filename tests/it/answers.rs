//! Clarification work and network work (issue 14, items 2 and 3) through the real binary:
//! contacts with outside bodies of `rules/stellen.toml` and the `contributed` flag on a case,
//! with their audit rows and in `case show`; network appointments added, listed and removed;
//! the bad input (unknown body or kind, future dates, a discarded case, a broken
//! catalogue) refused with nothing recorded; a purged case keeps its contacts' body and date
//! but loses their notes, and its sent mail is not queued for deletion on the server.

use crate::helpers::*;
use crate::staff::{fails_with, json, ok, refused};
use serde_json::{json as j, Value};

/// Runs a command that must fail as bad input (exit 2); returns its German message.
fn bad_input(w: &World, args: &[&str]) -> String {
    fails_with(w, args, 2)
}

/// A case by telephone on 1 March 2017: KRM-2017-00001 in a fresh world.
fn phone_case(w: &World) -> &'static str {
    let out = ok(
        w,
        &[
            "case",
            "new",
            "--channel",
            "telefon",
            "--received",
            "2017-03-01T10:00",
        ],
    );
    assert!(
        out.starts_with("Neuer Vorgang KRM-2017-00001 erfasst."),
        "{out}"
    );
    "KRM-2017-00001"
}

/// A case by letter on 2 March 2017: KRM-2017-00002 after [`phone_case`].
fn letter_case(w: &World) {
    ok(
        w,
        &[
            "case",
            "new",
            "--channel",
            "brief",
            "--received",
            "2017-03-02",
        ],
    );
}

/// action, new_value, detail, stated_by of the case's audit rows with these actions.
async fn audit(
    w: &World,
    actions: &[&str],
) -> Vec<(String, Option<String>, Option<String>, Option<String>)> {
    let actions: Vec<String> = actions.iter().map(|s| s.to_string()).collect();
    sqlx::query_as(
        "SELECT action, new_value, detail, stated_by FROM case_events
         WHERE action = ANY($1) ORDER BY id",
    )
    .bind(&actions)
    .fetch_all(&w.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn contacts_and_contribution_are_recorded_audited_and_shown() {
    let w = World::new("answcontact").await;
    let n = phone_case(&w);
    let out = ok(
        &w,
        &[
            "case",
            "contact",
            n,
            "--stelle",
            "familienkasse",
            "--on",
            "2017-03-05",
            "--note",
            "Rückruf zugesagt",
            "--by",
            "Anna Beispiel",
        ],
    );
    assert_eq!(
        out,
        format!("{n}: Kontakt mit Familienkasse am 2017-03-05 erfasst\n")
    );
    let out = ok(
        &w,
        &["case", "contact", n, "--stelle", " Ausländerbehörde "],
    );
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(
        out,
        format!("{n}: Kontakt mit Ausländerbehörde am {today} erfasst\n")
    );

    let out = ok(&w, &["case", "contribution", n, "--contributed", "yes"]);
    assert_eq!(
        out,
        format!("{n}: wesentlich zur Klärung beigetragen: – → ja\n")
    );
    assert_eq!(
        ok(&w, &["case", "contribution", n, "--contributed", "yes"]),
        format!("{n}: keine Änderung\n")
    );

    assert_eq!(
        audit(&w, &["contact", "contribution"]).await,
        vec![
            (
                "contact".to_string(),
                Some("Familienkasse".to_string()),
                Some("Familienkasse am 2017-03-05 – Rückruf zugesagt".to_string()),
                Some("Anna Beispiel".to_string())
            ),
            (
                "contact".to_string(),
                Some("Ausländerbehörde".to_string()),
                Some(format!("Ausländerbehörde am {today}")),
                None
            ),
            (
                "contribution".to_string(),
                Some("true".to_string()),
                Some("contributed".to_string()),
                None
            ),
        ]
    );

    let c = json(&w, &["case", "show", n, "--json"]);
    assert_eq!(c["contributed"], true);
    let ids = contact_ids(&w, n);
    assert_eq!(
        c["contacts"],
        j!([
            {"id": ids[0], "stelle": "Familienkasse", "on": "2017-03-05", "source": "staff", "note": "Rückruf zugesagt"},
            {"id": ids[1], "stelle": "Ausländerbehörde", "on": today, "source": "staff", "note": null},
        ])
    );
    let ev: Vec<&Value> = c["events"].as_array().unwrap().iter().collect();
    assert_eq!(ev.last().unwrap()["field"], "contributed");

    let text = ok(&w, &["case", "show", n]);
    assert!(text.contains("  Beitrag zur Klärung:    ja\n"), "{text}");
    assert!(
        text.contains("Klärungsarbeit: Kontakte mit Stellen (2)"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  2017-03-05  Familienkasse (von Hand erfasst): „Rückruf zugesagt“  [Nr. {}]\n",
            ids[0]
        )),
        "{text}"
    );
    assert!(
        text.contains("Stelle kontaktiert: Familienkasse am 2017-03-05"),
        "{text}"
    );
    assert!(
        text.contains("Klärung bewertet: wesentlich zur Klärung beigetragen: – → ja"),
        "{text}"
    );

    // "no" is a change of its own; a case without a word on it shows null.
    let out = ok(&w, &["case", "contribution", n, "--contributed", "no"]);
    assert_eq!(
        out,
        format!("{n}: wesentlich zur Klärung beigetragen: ja → nein\n")
    );
    letter_case(&w);
    let other = json(&w, &["case", "show", "KRM-2017-00002", "--json"]);
    assert!(other["contributed"].is_null());
    assert_eq!(other["contacts"], j!([]));
}

/// The numbers of the case's contacts, as `case show --json` lists them.
fn contact_ids(w: &World, n: &str) -> Vec<i64> {
    json(w, &["case", "show", n, "--json"])["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect()
}

/// The report's count of reactions with a contact to an outside body, for 2017.
fn cases_with_contact(w: &World) -> Value {
    let r = json(w, &["report", "--year", "2017", "--format", "json"]);
    r["total"]["clarification"]["cases_with_contact"].clone()
}

/// `case contact-remove NUMBER --contact ID`, then any further arguments.
fn remove_args<'a>(n: &'a str, id: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["case", "contact-remove", n, "--contact", id];
    args.extend_from_slice(more);
    args
}

/// Records a contact of the case with the body on the day.
fn contact(w: &World, n: &str, stelle: &str, on: &str, note: Option<&str>) {
    let mut args = vec!["case", "contact", n, "--stelle", stelle, "--on", on];
    if let Some(note) = note {
        args.extend(["--note", note]);
    }
    ok(w, &args);
}

#[tokio::test]
async fn a_contact_recorded_by_mistake_is_removed_audited_and_no_longer_counted() {
    let w = World::new("answuncontact").await;
    let n = phone_case(&w);
    contact(&w, n, "Jugendamt", "2017-03-02", None);
    contact(&w, n, "Familienkasse", "2017-03-03", Some("Kindergeld"));
    let ids: Vec<String> = contact_ids(&w, n).iter().map(i64::to_string).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(cases_with_contact(&w), 1);

    // An id of no contact of this case: refused (exit 1), nothing removed, nothing audited.
    let unknown = (contact_ids(&w, n)[1] + 1000).to_string();
    let e = refused(&w, &remove_args(n, &unknown, &[]));
    assert!(
        e.contains(&format!("{n} hat keinen Kontakt Nr. {unknown}")),
        "{e}"
    );
    assert!(audit(&w, &["contact_removed"]).await.is_empty());

    let out = ok(&w, &remove_args(n, &ids[1], &["--by", "Anna Beispiel"]));
    assert_eq!(
        out,
        format!("{n}: Kontakt mit Familienkasse am 2017-03-03 entfernt\n")
    );
    // Removed once: a second time there is nothing to remove.
    let e = refused(&w, &remove_args(n, &ids[1], &[]));
    assert!(e.contains("hat keinen Kontakt"), "{e}");
    assert_eq!(
        audit(&w, &["contact_removed"]).await,
        vec![(
            "contact_removed".to_string(),
            None,
            Some("Familienkasse am 2017-03-03 – Kindergeld".to_string()),
            Some("Anna Beispiel".to_string())
        )]
    );
    let (old,): (Option<String>,) =
        sqlx::query_as("SELECT old_value FROM case_events WHERE action = 'contact_removed'")
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(old.as_deref(), Some("Familienkasse"));
    let text = ok(&w, &["case", "show", n]);
    assert!(text.contains("Kontakte mit Stellen (1)"), "{text}");
    assert!(
        text.contains("Kontakt entfernt: Familienkasse am 2017-03-03"),
        "{text}"
    );
    assert_eq!(cases_with_contact(&w), 1);

    // The last one removed: the report no longer counts the case.
    ok(&w, &remove_args(n, &ids[0], &[]));
    assert_eq!(cases_with_contact(&w), 0);
    assert_eq!(w.scalar("SELECT count(*) FROM case_contacts").await, 0);
}

#[tokio::test]
async fn a_contact_is_removed_only_from_its_own_case_and_not_from_a_discarded_one() {
    let w = World::new("answuncontactgone").await;
    let n = phone_case(&w);
    contact(&w, n, "Jugendamt", "2017-03-02", None);
    letter_case(&w);
    let other = "KRM-2017-00002";
    contact(&w, other, "Familienkasse", "2017-03-03", None);
    let foreign = contact_ids(&w, other)[0].to_string();
    let e = refused(&w, &remove_args(n, &foreign, &[]));
    assert!(
        e.contains(&format!("{n} hat keinen Kontakt Nr. {foreign}")),
        "{e}"
    );
    assert_eq!(contact_ids(&w, other).len(), 1);

    ok(&w, &["case", "discard", n, "--reason", "Test"]);
    let id = contact_ids(&w, n)[0].to_string();
    let e = refused(&w, &remove_args(n, &id, &[]));
    assert!(e.contains("ist verworfen"), "{e}");
    assert_eq!(w.scalar("SELECT count(*) FROM case_contacts").await, 2);
    assert!(audit(&w, &["contact_removed"]).await.is_empty());
}

#[tokio::test]
async fn bad_contacts_are_refused_and_record_nothing() {
    let w = World::new("answbad").await;
    let n = phone_case(&w);

    let e = bad_input(&w, &["case", "contact", n, "--stelle", "Mondbehörde"]);
    assert!(
        e.contains("Unbekannte Stelle „Mondbehörde“. Stellen im Katalog: Familienkasse, Deutsche Rentenversicherung, Krankenkasse, Ausländerbehörde, Sozialamt, Wohngeldstelle, Agentur für Arbeit, Jugendamt, Unterhaltsvorschussstelle"),
        "{e}"
    );
    let e = refused(
        &w,
        &[
            "case",
            "contact",
            n,
            "--stelle",
            "Jugendamt",
            "--on",
            "2999-01-01",
        ],
    );
    assert!(
        e.contains("Der Kontakt am 2999-01-01 liegt in der Zukunft"),
        "{e}"
    );
    let e = refused(
        &w,
        &[
            "case",
            "contact",
            n,
            "--stelle",
            "Jugendamt",
            "--on",
            "2017-02-28",
        ],
    );
    assert!(
        e.contains("liegt vor dem Eingang von KRM-2017-00001 (2017-03-01)"),
        "{e}"
    );
    let e = refused(
        &w,
        &["case", "contact", "KRM-2017-00099", "--stelle", "Jugendamt"],
    );
    assert!(e.contains("Vorgang KRM-2017-00099 gibt es nicht"), "{e}");
    let e = refused(
        &w,
        &[
            "case",
            "contact",
            n,
            "--stelle",
            "Jugendamt",
            "--on",
            "5.3.2017",
        ],
    );
    assert!(e.contains("kein Datum"), "{e}");

    ok(&w, &["case", "discard", n, "--reason", "fehlgeleitet"]);
    let e = refused(
        &w,
        &[
            "case",
            "contact",
            n,
            "--stelle",
            "Jugendamt",
            "--on",
            "2017-03-05",
        ],
    );
    assert!(e.contains("ist verworfen (fehlgeleitet)"), "{e}");
    let e = refused(&w, &["case", "contribution", n, "--contributed", "yes"]);
    assert!(e.contains("ist verworfen"), "{e}");

    assert_eq!(w.scalar("SELECT count(*) FROM case_contacts").await, 0);
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases WHERE contributed IS NOT NULL")
            .await,
        0
    );
    assert!(audit(&w, &["contact", "contribution"]).await.is_empty());

    assert_broken_catalogue_is_bad_input(&w);
    assert_eq!(w.scalar("SELECT count(*) FROM case_contacts").await, 0);
}

/// A broken catalogue: bad input naming file and line, for `case contact` and `rules check`.
fn assert_broken_catalogue_is_bad_input(w: &World) {
    let dir = tempfile::tempdir().unwrap();
    for f in ["senders.toml", "hints.toml", "topics.toml"] {
        std::fs::copy(project_dir().join("rules").join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("stellen.toml"),
        "[[stelle]]\nname = \"Familienkasse\"\n\n[[stelle]]\nname = \"FAMILIENKASSE\"\n\n[[stelle]]\nname = \"Jugendamt\"\ndomains = [\"jugendamt@stadt.test\"]\nfarbe = \"rot\"\n",
    )
    .unwrap();
    let broken = dir.path().join("stellen.toml").display().to_string();
    let mut c = w.command();
    c.env("KRM_RULES_DIR", dir.path()).args([
        "case",
        "contact",
        "KRM-2017-00001",
        "--stelle",
        "Familienkasse",
    ]);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{broken}:4: Stelle „FAMILIENKASSE“ steht doppelt im Katalog (zuerst in Zeile 1)"
        )),
        "{err}"
    );

    let out = w
        .command()
        .args(["rules", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "Fehler: {broken}:9: domains: „jugendamt@stadt.test“ ist keine Domain (enthält @)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("Fehler: {broken}:10: unbekannter Schlüssel „farbe“ in [[stelle]] (erlaubt: name, domains)")),
        "{text}"
    );
    // Only the catalogue is at fault: it is not read as a sender-rule file.
    let faults: Vec<&str> = text.lines().filter(|l| l.starts_with("Fehler:")).collect();
    assert_eq!(faults.len(), 3, "{text}");
    assert!(faults.iter().all(|l| l.contains(&broken)), "{text}");
}

#[tokio::test]
async fn network_appointments_are_added_listed_and_removed() {
    let w = World::new("answnetwork").await;
    let out = ok(
        &w,
        &[
            "network",
            "add",
            "--date",
            "2017-05-10",
            "--kind",
            "vorstellung",
            "--organisation",
            "Verein für soziale Rechtspflege",
            "--invited",
        ],
    );
    assert_eq!(
        out,
        "Termin 1 erfasst: 2017-05-10 Vorstellung der Ombudsstelle (Verein für soziale Rechtspflege)\n"
    );
    ok(
        &w,
        &[
            "network",
            "add",
            "--date",
            "2017-09-20",
            "--kind",
            "Netzwerktreffen",
            "--organisation",
            "Netzwerk Existenzsicherung und Menschenwürde",
            "--organisation",
            "Caritas Dresden",
            "--organisation",
            " caritas  dresden ",
            "--note",
            "Thema Mietkosten",
        ],
    );
    ok(
        &w,
        &[
            "network",
            "add",
            "--date",
            "2018-01-15",
            "--kind",
            "fachgruppe",
            "--organisation",
            "Fach-AG Integration und Migration",
            "--invited",
        ],
    );

    let list = json(&w, &["network", "list", "--year", "2017", "--json"]);
    assert_eq!(
        list,
        j!([
            {"id": 1, "date": "2017-05-10", "kind": "vorstellung",
             "organisations": ["Verein für soziale Rechtspflege"], "invited": true, "note": null},
            {"id": 2, "date": "2017-09-20", "kind": "netzwerktreffen",
             "organisations": ["Netzwerk Existenzsicherung und Menschenwürde", "Caritas Dresden"],
             "invited": false, "note": "Thema Mietkosten"},
        ])
    );
    let text = ok(&w, &["network", "list"]);
    assert!(
        text.ends_with("3 Termine, davon 2 auf Einladung\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "   2  2017-09-20  {:<30}  Netzwerk Existenzsicherung und Menschenwürde, Caritas Dresden  – Thema Mietkosten\n",
            "Netzwerktreffen"
        )),
        "{text}"
    );

    assert_eq!(
        ok(&w, &["network", "remove", "2"]),
        "Termin 2 entfernt: 2017-09-20 Netzwerktreffen (Netzwerk Existenzsicherung und Menschenwürde, Caritas Dresden)\n"
    );
    let e = refused(&w, &["network", "remove", "2"]);
    assert!(e.contains("Termin 2 gibt es nicht"), "{e}");
    let ids: Vec<(i64,)> = sqlx::query_as("SELECT id FROM network_appointments ORDER BY id")
        .fetch_all(&w.pool)
        .await
        .unwrap();
    assert_eq!(ids, vec![(1,), (3,)]);
    assert_eq!(
        ok(&w, &["network", "list", "--year", "2016"]),
        "Keine Termine.\n"
    );

    assert_network_in_security_log(&w).await;
}

/// Who added and removed what: the security log (no organisations, no notes).
async fn assert_network_in_security_log(w: &World) {
    let log: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT event, actor, detail FROM security_log ORDER BY id")
            .fetch_all(&w.pool)
            .await
            .unwrap();
    let who = "sachbearbeitung".to_string();
    assert_eq!(
        log,
        vec![
            (
                "network_add".into(),
                who.clone(),
                Some("Termin 1: 2017-05-10 (vorstellung)".into())
            ),
            (
                "network_add".into(),
                who.clone(),
                Some("Termin 2: 2017-09-20 (netzwerktreffen)".into())
            ),
            (
                "network_add".into(),
                who.clone(),
                Some("Termin 3: 2018-01-15 (fachgruppe)".into())
            ),
            (
                "network_remove".into(),
                who,
                Some("Termin 2: 2017-09-20 (netzwerktreffen)".into())
            ),
        ]
    );
}

#[tokio::test]
async fn bad_network_input_is_refused_and_records_nothing() {
    let w = World::new("answnetbad").await;
    let add = |extra: &[&str]| {
        let mut args = vec!["network", "add"];
        args.extend_from_slice(extra);
        bad_input(&w, &args)
    };
    let e = add(&[
        "--date",
        "2999-01-01",
        "--kind",
        "besuch",
        "--organisation",
        "Diakonie",
    ]);
    assert!(
        e.contains("Der Termin am 2999-01-01 liegt in der Zukunft"),
        "{e}"
    );
    let e = add(&[
        "--date",
        "2017-05-10",
        "--kind",
        "tagung",
        "--organisation",
        "Diakonie",
    ]);
    assert!(
        e.contains("Unbekannte Art „tagung“. Mögliche Arten: vorstellung, netzwerktreffen, fachgruppe, besuch, sonstiges"),
        "{e}"
    );
    let e = add(&["--date", "2017-05-10", "--kind", "besuch"]);
    assert!(e.contains("Mindestens eine Organisation angeben"), "{e}");
    let e = add(&[
        "--date",
        "2017-05-10",
        "--kind",
        "besuch",
        "--organisation",
        "max.muster@verein.test",
    ]);
    assert!(e.contains("nur Organisationen, keine Personen"), "{e}");
    let e = add(&[
        "--date",
        "2017-05-10",
        "--kind",
        "besuch",
        "--organisation",
        "Frau Muster",
    ]);
    assert!(e.contains("„Frau Muster“ nennt eine Person"), "{e}");
    let e = add(&[
        "--date",
        "10.05.2017",
        "--kind",
        "besuch",
        "--organisation",
        "Diakonie",
    ]);
    assert!(
        e.contains("„10.05.2017“ ist kein Datum (JJJJ-MM-TT)"),
        "{e}"
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM network_appointments").await,
        0
    );
    assert_eq!(w.scalar("SELECT count(*) FROM security_log").await, 0);
}

#[tokio::test]
async fn a_purged_case_keeps_its_contacts_body_and_date_but_not_their_notes() {
    let w = World::new("answpurge").await;
    let n = phone_case(&w);
    ok(
        &w,
        &[
            "case",
            "contact",
            n,
            "--stelle",
            "Sozialamt",
            "--on",
            "2017-03-03",
            "--note",
            "Frau Muster rief zurück",
        ],
    );
    ok(
        &w,
        &[
            "case",
            "contact",
            n,
            "--stelle",
            "Familienkasse",
            "--on",
            "2017-03-04",
        ],
    );
    ok(&w, &["case", "contribution", n, "--contributed", "yes"]);
    ok(&w, &["case", "close", n, "--answered-on", "2017-03-10"]);
    // A sent answer captured from the office's own Sent folder (as the capture stores it).
    sqlx::query(
        "INSERT INTO messages (case_id, role, direction, message_id, content_hash, channel,
                               uidvalidity, uid, received_at, from_addr, to_addrs, subject,
                               text_body, raw, size)
         SELECT id, 'answer', 'out', '<antwort.1@jobcenter.test>', 'hash-antwort-1', 'answers',
                1, 7, '2017-03-10T09:00:00Z', 'ombudsstelle@jobcenter.test',
                '{buerger@mail.test}', 'Ihre Anfrage', 'Sehr geehrte Frau Muster', 'raw', 3
         FROM cases WHERE number = $1",
    )
    .bind(n)
    .execute(&w.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE cases SET closed_at = now() - interval '3 years' WHERE number = $1")
        .bind(n)
        .execute(&w.pool)
        .await
        .unwrap();

    let out = ok(&w, &["purge", "--older-than", "2y"]);
    assert!(out.contains("Bereinigte Vorgänge: 1"), "{out}");

    let contacts: Vec<(String, chrono::NaiveDate, String, Option<String>)> =
        sqlx::query_as("SELECT stelle, on_date, source, note FROM case_contacts ORDER BY on_date")
            .fetch_all(&w.pool)
            .await
            .unwrap();
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    assert_eq!(
        contacts,
        vec![
            ("Sozialamt".into(), day("2017-03-03"), "staff".into(), None),
            (
                "Familienkasse".into(),
                day("2017-03-04"),
                "staff".into(),
                None
            ),
        ]
    );
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases WHERE contributed AND purged_at IS NOT NULL AND NOT case_has_personal_data(id)").await,
        1
    );
    // The sent mail lost its content, and its copy in the office's folder is not ours to delete.
    assert_eq!(
        w.scalar("SELECT count(*) FROM messages WHERE direction = 'out' AND raw IS NULL AND text_body IS NULL AND subject IS NULL AND cardinality(to_addrs) = 0").await,
        1
    );
    assert_eq!(w.scalar("SELECT count(*) FROM purge_imap_pending").await, 0);
    let log: (String,) = sqlx::query_as("SELECT what FROM deletion_log WHERE case_number = $1")
        .bind(n)
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert!(log.0.contains("Bemerkungen zu Kontakten: 1"), "{}", log.0);
    assert!(
        log.0.contains("Serverkopien zur Löschung vorgemerkt: 0"),
        "{}",
        log.0
    );

    // A note added after the purge (the case reopened) makes it hold personal data again.
    sqlx::query("UPDATE case_contacts SET note = 'Herr Beispiel' WHERE stelle = 'Familienkasse'")
        .execute(&w.pool)
        .await
        .unwrap();
    assert_eq!(
        w.scalar("SELECT count(*) FROM cases WHERE case_has_personal_data(id)")
            .await,
        1
    );
}
