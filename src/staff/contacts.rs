//! Clarification work on a case: recording that the Ombudsstelle contacted an outside body of
//! the catalogue (`rules/stellen.toml`), and whether it contributed substantially to clarifying
//! the matter. Pure checks first (unit-tested), then the commands against the database, each in
//! one transaction with its audit row (actions `contact`, `contact_removed` and `contribution`).

use chrono::NaiveDate;
use sqlx::PgPool;

use crate::calendar;
use crate::domain::ContactSource;
use crate::rules::{Stelle, Stellen};
use crate::store::cases::{self, Event};
use crate::store::contacts::{self, NewContact};

use super::store::{load_locked, normalise_number};
use super::*;

/// Longest note staff may add to a contact.
pub const MAX_NOTE_CHARS: usize = 500;

/// The body of the catalogue named `name` (case-insensitive); the error (German) lists the
/// catalogue. Bad input: the CLI exits with 2.
pub fn check_stelle<'a>(
    stellen: &'a Stellen,
    name: &str,
) -> std::result::Result<&'a Stelle, String> {
    if let Some(s) = stellen.find(name) {
        return Ok(s);
    }
    if name.trim().is_empty() {
        return Err("Bitte eine Stelle wählen".to_string());
    }
    let names: Vec<&str> = stellen.names().collect();
    if names.is_empty() {
        return Err(format!(
            "Unbekannte Stelle „{}“: der Katalog der Stellen (rules/stellen.toml) ist leer",
            name.trim()
        ));
    }
    Err(format!(
        "Unbekannte Stelle „{}“. Stellen im Katalog: {}",
        name.trim(),
        names.join(", ")
    ))
}

/// Whether a contact on `on` may be recorded for the case: not for a discarded or merged case,
/// not in the future, not before the case came in.
pub fn check_contact(
    s: &CaseState,
    number: &str,
    received: NaiveDate,
    on: NaiveDate,
    today: NaiveDate,
) -> Result<()> {
    refuse_if_gone(s, number)?;
    if on > today {
        return Err(refused(format!(
            "Der Kontakt am {} liegt in der Zukunft (heute ist der {})",
            ymd(on),
            ymd(today)
        )));
    }
    if on < received {
        return Err(refused(format!(
            "Der Kontakt am {} liegt vor dem Eingang von {number} ({})",
            ymd(on),
            ymd(received)
        )));
    }
    Ok(())
}

/// Records whether the Ombudsstelle contributed substantially to clarifying the matter. Any
/// kind of reaction may count; a discarded or merged case does not.
pub fn contribution(s: &CaseState, number: &str, contributed: bool) -> Result<CaseState> {
    refuse_if_gone(s, number)?;
    let mut next = s.clone();
    next.contributed = Some(contributed);
    Ok(next)
}

/// A trimmed note, `None` when empty; refused when too long.
fn clean_note(note: Option<&str>) -> Result<Option<String>> {
    let Some(n) = note.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if n.chars().count() > MAX_NOTE_CHARS {
        return Err(refused(format!(
            "Die Bemerkung ist zu lang (höchstens {MAX_NOTE_CHARS} Zeichen)"
        )));
    }
    Ok(Some(n.to_string()))
}

/// What `remove_contact` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRemoved {
    pub number: String,
    pub stelle: String,
    pub on: NaiveDate,
}

/// Removes the contact `id` of the case (one recorded by mistake, by staff or from a sent
/// mail), with an audit row `contact_removed` (old value: the body's name; detail: date and
/// note). The report no longer counts it. Refused on a discarded or merged case, and for an id
/// the case does not have (`case show` lists each contact's number).
pub async fn remove_contact(
    pool: &PgPool,
    number: &str,
    actor: &Actor,
    id: i64,
) -> Result<ContactRemoved> {
    let number = normalise_number(number)?;
    let mut tx = pool.begin().await?;
    let case = load_locked(&mut tx, &number).await?;
    refuse_if_gone(&CaseState::of(&case), &number)?;
    let Some(row) = contacts::delete(&mut tx, case.row.id, id).await? else {
        return Err(refused(format!(
            "{number} hat keinen Kontakt Nr. {id} (`case show {number}` nennt die Nummern)"
        )));
    };
    let mut detail = format!("{} am {}", row.stelle, ymd(row.on_date));
    if let Some(n) = &row.note {
        detail.push_str(&format!(" – {n}"));
    }
    cases::add_event(
        &mut tx,
        case.row.id,
        &Event {
            old_value: Some(row.stelle.clone()),
            detail: Some(detail),
            ..actor.event("contact_removed")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ContactRemoved {
        number,
        stelle: row.stelle,
        on: row.on_date,
    })
}

/// What `record_contact` stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecorded {
    pub number: String,
    pub stelle: String,
    pub on: NaiveDate,
}

/// Records that staff contacted `stelle` for the case on `on` (source `staff`), with an audit
/// row `contact` (new value: the body's name; detail: date and note).
pub async fn record_contact(
    pool: &PgPool,
    number: &str,
    actor: &Actor,
    stelle: &Stelle,
    on: NaiveDate,
    note: Option<&str>,
    today: NaiveDate,
) -> Result<ContactRecorded> {
    let number = normalise_number(number)?;
    let note = clean_note(note)?;
    let mut tx = pool.begin().await?;
    let case = load_locked(&mut tx, &number).await?;
    let received = calendar::berlin_date(case.row.received_at);
    check_contact(&CaseState::of(&case), &number, received, on, today)?;
    contacts::insert(
        &mut tx,
        &NewContact {
            case_id: case.row.id,
            stelle: &stelle.name,
            on_date: on,
            source: ContactSource::Staff,
            message_id: None,
            note: note.as_deref(),
            actor: &actor.os_user,
        },
    )
    .await?;
    let mut detail = format!("{} am {}", stelle.name, ymd(on));
    if let Some(n) = &note {
        detail.push_str(&format!(" – {n}"));
    }
    cases::add_event(
        &mut tx,
        case.row.id,
        &Event {
            new_value: Some(stelle.name.clone()),
            detail: Some(detail),
            ..actor.event("contact")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ContactRecorded {
        number,
        stelle: stelle.name.clone(),
        on,
    })
}

/// `case contribution`: sets `contributed`, one audit row `contribution` when it changed.
pub async fn set_contribution(
    pool: &PgPool,
    number: &str,
    actor: &Actor,
    contributed: bool,
) -> Result<Applied> {
    apply(pool, number, actor, "contribution", |_, s, n| {
        contribution(s, n, contributed)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::test_dates::d;
    use std::path::Path;

    fn state(status: CaseStatus) -> CaseState {
        CaseState {
            status,
            discard_reason: Some("spam".into()),
            ..crate::staff::transitions::tests::state()
        }
    }

    #[test]
    fn contact_dates_and_states() {
        let n = "KRM-2026-00001";
        let (rec, today) = (d("2026-03-02"), d("2026-03-10"));
        let open = state(CaseStatus::Open);
        assert!(check_contact(&open, n, rec, today, today).is_ok());
        assert!(check_contact(&open, n, rec, rec, today).is_ok());
        assert!(check_contact(&state(CaseStatus::Closed), n, rec, today, today).is_ok());
        let e = check_contact(&open, n, rec, d("2026-03-11"), today).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Der Kontakt am 2026-03-11 liegt in der Zukunft (heute ist der 2026-03-10)"
        );
        let e = check_contact(&open, n, rec, d("2026-03-01"), today).unwrap_err();
        assert!(e.to_string().contains("vor dem Eingang"), "{e}");
        let e = check_contact(&state(CaseStatus::Discarded), n, rec, today, today).unwrap_err();
        assert!(e.to_string().contains("ist verworfen (spam)"), "{e}");
    }

    #[test]
    fn contribution_sets_the_flag_except_on_discarded_cases() {
        let n = "KRM-2026-00001";
        let s = contribution(&state(CaseStatus::Closed), n, true).unwrap();
        assert_eq!(s.contributed, Some(true));
        let c = changes(&state(CaseStatus::Closed), &s);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].field, Field::Contributed);
        assert_eq!(
            c[0].to_string(),
            "wesentlich zur Klärung beigetragen: – → ja"
        );
        assert!(contribution(&state(CaseStatus::Discarded), n, false).is_err());
    }

    #[test]
    fn unknown_stelle_lists_the_catalogue() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let st = Stellen::load(&dir).unwrap();
        assert_eq!(
            check_stelle(&st, "familienkasse").unwrap().name,
            "Familienkasse"
        );
        let e = check_stelle(&st, "Mondbehörde").unwrap_err();
        assert!(
            e.starts_with("Unbekannte Stelle „Mondbehörde“. Stellen im Katalog: Familienkasse, Deutsche Rentenversicherung,"),
            "{e}"
        );
        let empty = Stellen::load(Path::new("/nonexistent")).unwrap();
        assert!(check_stelle(&empty, "X").unwrap_err().contains("ist leer"));
    }

    #[test]
    fn notes_are_trimmed_and_bounded() {
        assert_eq!(clean_note(Some("  ")).unwrap(), None);
        assert_eq!(
            clean_note(Some(" Rückruf ")).unwrap().as_deref(),
            Some("Rückruf")
        );
        assert!(clean_note(Some(&"x".repeat(MAX_NOTE_CHARS + 1))).is_err());
    }
}
