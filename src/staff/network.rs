//! Network work of the Ombudsstelle: appointments with organisations (concept presentations,
//! network meetings, working groups, visits), recorded for the yearly report. Organisations
//! only, never persons. Not case events: who added or removed an appointment goes to the
//! security log (docs/decisions.md). Pure checks first, then the commands against the database.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgPool;
use thiserror::Error;

use crate::domain::{ymd, NetworkKind};
use crate::store::accounts::log_security;
use crate::store::network::{self as q, AppointmentRow, NewAppointment};
use crate::store::StoreError;

use super::Actor;

/// Longest organisation name and note.
pub const MAX_ORGANISATION_CHARS: usize = 200;
pub const MAX_NETWORK_NOTE_CHARS: usize = 500;

#[derive(Debug, Error)]
pub enum NetworkError {
    /// Bad input (date, kind, organisations, note); the message is German and complete.
    #[error("{0}")]
    Input(String),
    #[error("Termin {0} gibt es nicht")]
    NotFound(i64),
    #[error("Datenbank: {0}")]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for NetworkError {
    fn from(e: sqlx::Error) -> Self {
        NetworkError::Store(StoreError::Sql(e))
    }
}

fn input(msg: impl Into<String>) -> NetworkError {
    NetworkError::Input(msg.into())
}

/// An appointment as staff enter it, before checking.
#[derive(Debug, Clone, Default)]
pub struct AppointmentInput {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// One of the kinds' database spellings (case-insensitive).
    pub kind: String,
    pub organisations: Vec<String>,
    pub invited: bool,
    pub note: Option<String>,
}

/// A checked appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    pub on: NaiveDate,
    pub kind: NetworkKind,
    /// Trimmed, each once (case-insensitive), in the order given.
    pub organisations: Vec<String>,
    pub invited: bool,
    pub note: Option<String>,
}

/// Whether an organisation as typed starts with a form of address (`Frau Müller`, `Herrn
/// Dr. Beispiel`): a person, whose name the yearly report must not carry.
fn names_a_person(o: &str) -> bool {
    let first = o
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_lowercase();
    matches!(
        first.as_str(),
        "frau" | "herr" | "herrn" | "fr." | "hr." | "hrn."
    )
}

/// Checks an appointment: a date not after `today`, a known kind, at least one organisation,
/// none of them a mail address or a person addressed as such (organisations only, never
/// persons).
pub fn check_appointment(
    a: &AppointmentInput,
    today: NaiveDate,
) -> Result<Appointment, NetworkError> {
    let on = NaiveDate::parse_from_str(a.date.trim(), "%Y-%m-%d")
        .map_err(|_| input(format!("„{}“ ist kein Datum (JJJJ-MM-TT)", a.date.trim())))?;
    if on > today {
        return Err(input(format!(
            "Der Termin am {} liegt in der Zukunft (heute ist der {}); erfasst werden nur stattgefundene Termine",
            ymd(on),
            ymd(today)
        )));
    }
    let earliest = super::transitions::earliest_date();
    if on < earliest {
        return Err(input(format!(
            "Der Termin am {} liegt vor dem {} (seit dann gibt es die Jobcenter); bitte das Jahr prüfen",
            ymd(on),
            ymd(earliest)
        )));
    }
    let kind: NetworkKind = a.kind.parse().map_err(NetworkError::Input)?;
    let mut organisations: Vec<String> = Vec::new();
    for o in &a.organisations {
        let o = o.split_whitespace().collect::<Vec<_>>().join(" ");
        if o.is_empty() {
            return Err(input("Eine Organisation ist leer"));
        }
        if o.contains('@') {
            return Err(input(format!(
                "„{o}“ sieht wie eine Mailadresse aus: erfasst werden nur Organisationen, keine Personen"
            )));
        }
        if names_a_person(&o) {
            return Err(input(format!(
                "„{o}“ nennt eine Person: erfasst werden nur Organisationen (z. B. „Caritas \
                 Dresden“), keine Personen"
            )));
        }
        if o.chars().count() > MAX_ORGANISATION_CHARS {
            return Err(input(format!(
                "Der Name einer Organisation ist zu lang (höchstens {MAX_ORGANISATION_CHARS} Zeichen)"
            )));
        }
        if !organisations
            .iter()
            .any(|e| e.to_lowercase() == o.to_lowercase())
        {
            organisations.push(o);
        }
    }
    if organisations.is_empty() {
        return Err(input(
            "Mindestens eine Organisation angeben (--organisation NAME, wiederholbar)",
        ));
    }
    let note = a
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    if note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NETWORK_NOTE_CHARS)
    {
        return Err(input(format!(
            "Die Bemerkung ist zu lang (höchstens {MAX_NETWORK_NOTE_CHARS} Zeichen)"
        )));
    }
    Ok(Appointment {
        on,
        kind,
        organisations,
        invited: a.invited,
        note,
    })
}

/// What the security log says about an appointment (no note: it is free text).
fn log_detail(id: i64, on: NaiveDate, kind: NetworkKind) -> String {
    format!("Termin {id}: {} ({})", ymd(on), kind.as_db())
}

/// Records a checked appointment; its id.
pub async fn add_appointment(
    pool: &PgPool,
    a: &Appointment,
    actor: &Actor,
) -> Result<i64, NetworkError> {
    let mut tx = pool.begin().await?;
    let id = q::insert(
        &mut tx,
        &NewAppointment {
            on_date: a.on,
            kind: a.kind,
            organisations: &a.organisations,
            invited: a.invited,
            note: a.note.as_deref(),
            actor: &actor.os_user,
        },
    )
    .await?;
    let detail = log_detail(id, a.on, a.kind);
    log_security(&mut *tx, "network_add", None, &actor.os_user, Some(&detail)).await?;
    tx.commit().await?;
    Ok(id)
}

/// Appointments of one calendar year, or all, by date.
pub async fn list_appointments(
    pool: &PgPool,
    year: Option<i32>,
) -> Result<Vec<AppointmentRow>, NetworkError> {
    let (from, to) = match year {
        Some(y) => {
            let first = NaiveDate::from_ymd_opt(y, 1, 1)
                .ok_or_else(|| input(format!("{y} ist kein gültiges Jahr")))?;
            (Some(first), NaiveDate::from_ymd_opt(y, 12, 31))
        }
        None => (None, None),
    };
    let mut conn = pool.acquire().await?;
    Ok(q::list(&mut conn, from, to).await?)
}

/// Removes an appointment (entered by mistake); the removed row.
pub async fn remove_appointment(
    pool: &PgPool,
    id: i64,
    actor: &Actor,
) -> Result<AppointmentRow, NetworkError> {
    let mut tx = pool.begin().await?;
    let row = q::delete(&mut tx, id)
        .await?
        .ok_or(NetworkError::NotFound(id))?;
    let detail = log_detail(row.id, row.on_date, row.kind);
    log_security(
        &mut *tx,
        "network_remove",
        None,
        &actor.os_user,
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// The documented JSON of `network list --json` (docs/staff-cli.md).
#[derive(Debug, Clone, Serialize)]
pub struct AppointmentJson {
    pub id: i64,
    pub date: String,
    pub kind: NetworkKind,
    pub organisations: Vec<String>,
    pub invited: bool,
    pub note: Option<String>,
}

impl AppointmentJson {
    pub fn of(r: &AppointmentRow) -> AppointmentJson {
        AppointmentJson {
            id: r.id,
            date: ymd(r.on_date),
            kind: r.kind,
            organisations: r.organisations.clone(),
            invited: r.invited,
            note: r.note.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::test_dates::d;

    fn input_of(date: &str, kind: &str, orgs: &[&str]) -> AppointmentInput {
        AppointmentInput {
            date: date.into(),
            kind: kind.into(),
            organisations: orgs.iter().map(|s| s.to_string()).collect(),
            invited: true,
            note: Some("  ".into()),
        }
    }

    fn err(a: &AppointmentInput) -> String {
        check_appointment(a, d("2026-12-06"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_good_appointment_is_normalised() {
        let a = check_appointment(
            &input_of(
                "2026-11-03",
                "Netzwerktreffen",
                &["  Caritas  Dresden ", "Diakonie", "caritas dresden"],
            ),
            d("2026-12-06"),
        )
        .unwrap();
        assert_eq!(a.on, d("2026-11-03"));
        assert_eq!(a.kind, NetworkKind::Netzwerktreffen);
        assert_eq!(a.organisations, ["Caritas Dresden", "Diakonie"]);
        assert_eq!(a.note, None);
        assert!(
            check_appointment(&input_of("2026-12-06", "besuch", &["X"]), d("2026-12-06")).is_ok()
        );
    }

    #[test]
    fn bad_input_is_refused_in_german() {
        assert_eq!(
            err(&input_of("2026-12-07", "besuch", &["X"])),
            "Der Termin am 2026-12-07 liegt in der Zukunft (heute ist der 2026-12-06); erfasst werden nur stattgefundene Termine"
        );
        assert_eq!(
            err(&input_of("7.12.2026", "besuch", &["X"])),
            "„7.12.2026“ ist kein Datum (JJJJ-MM-TT)"
        );
        assert_eq!(
            err(&input_of("1800-05-05", "besuch", &["X"])),
            "Der Termin am 1800-05-05 liegt vor dem 2005-01-01 (seit dann gibt es die Jobcenter); bitte das Jahr prüfen"
        );
        assert!(
            err(&input_of("2026-12-01", "tagung", &["X"])).starts_with("Unbekannte Art „tagung“")
        );
        assert!(
            err(&input_of("2026-12-01", "besuch", &[])).starts_with("Mindestens eine Organisation")
        );
        assert!(err(&input_of("2026-12-01", "besuch", &[" "])).contains("leer"));
        assert!(
            err(&input_of("2026-12-01", "besuch", &["max@verein.test"])).contains("keine Personen")
        );
        for person in [
            "Frau Müller",
            "herr Dr. Beispiel",
            "Hr. Schulze",
            "Herrn Maier",
        ] {
            let e = err(&input_of("2026-12-01", "besuch", &["Caritas", person]));
            assert!(e.contains("nennt eine Person"), "{person}: {e}");
        }
        // A name that merely contains such a word is an organisation.
        let ok = check_appointment(
            &input_of(
                "2026-12-01",
                "besuch",
                &["Frauenhaus Dresden", "Verein Frau und Beruf"],
            ),
            d("2026-12-06"),
        );
        assert!(ok.is_ok(), "{ok:?}");
        let mut long = input_of("2026-12-01", "besuch", &["X"]);
        long.note = Some("x".repeat(MAX_NETWORK_NOTE_CHARS + 1));
        assert!(err(&long).contains("zu lang"));
    }
}
