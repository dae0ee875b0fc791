//! `krm-intake network …`: the Ombudsstelle's network work (appointments with organisations)
//! for the yearly report. Parses arguments, calls `staff::network`, prints German text or the
//! documented JSON. Bad input (date, kind, organisations) exits with 2, an unknown id with 1.

use chrono::Utc;
use std::process::ExitCode;

use crate::calendar;
use crate::cli::term::{errln, out, outln};
use crate::domain::ymd;
use crate::staff::network::{self as net, AppointmentInput, AppointmentJson, NetworkError};
use crate::store::network::AppointmentRow;

#[derive(Debug, clap::Subcommand)]
pub enum NetworkCommand {
    /// Einen stattgefundenen Termin erfassen (nur Organisationen, keine Personen).
    Add(AddArgs),
    /// Termine auflisten (nach Datum).
    List(ListArgs),
    /// Einen versehentlich erfassten Termin entfernen.
    Remove {
        /// Nummer des Termins (aus network list).
        id: i64,
    },
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Tag des Termins (JJJJ-MM-TT, nicht in der Zukunft).
    #[arg(long, value_name = "JJJJ-MM-TT")]
    pub date: String,
    /// Art: vorstellung, netzwerktreffen, fachgruppe, besuch oder sonstiges.
    #[arg(long, value_name = "ART")]
    pub kind: String,
    /// Beteiligte Organisation (wiederholbar, mindestens eine).
    #[arg(long = "organisation", value_name = "NAME")]
    pub organisations: Vec<String>,
    /// Die Ombudsstelle war eingeladen.
    #[arg(long)]
    pub invited: bool,
    /// Kurze Bemerkung (ohne Namen von Personen).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Nur Termine dieses Kalenderjahres.
    #[arg(long, value_name = "JAHR")]
    pub year: Option<i32>,
    /// Als JSON-Array (docs/staff-cli.md).
    #[arg(long)]
    pub json: bool,
}

fn fail(e: NetworkError) -> ExitCode {
    errln!("krm-intake: {e}");
    match e {
        NetworkError::Input(_) => ExitCode::from(super::EXIT_CONFIG),
        NetworkError::NotFound(_) | NetworkError::Store(_) => ExitCode::from(super::EXIT_FAILED),
    }
}

fn actor() -> crate::staff::Actor {
    crate::staff::Actor {
        os_user: super::os_user(),
        stated_by: None,
    }
}

pub async fn run(cli: &super::Cli, cmd: &NetworkCommand) -> ExitCode {
    match cmd {
        NetworkCommand::Add(a) => add(cli, a).await,
        NetworkCommand::List(a) => list(cli, a).await,
        NetworkCommand::Remove { id } => remove(cli, *id).await,
    }
}

async fn add(cli: &super::Cli, a: &AddArgs) -> ExitCode {
    // Input is checked before the database is needed: a typo costs no connection.
    let input = AppointmentInput {
        date: a.date.clone(),
        kind: a.kind.clone(),
        organisations: a.organisations.clone(),
        invited: a.invited,
        note: a.note.clone(),
    };
    let checked = match net::check_appointment(&input, calendar::berlin_date(Utc::now())) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let (_, pool) = match super::settings_and_db(cli).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    match net::add_appointment(&pool, &checked, &actor()).await {
        Ok(id) => {
            outln!(
                "Termin {id} erfasst: {} {} ({})",
                ymd(checked.on),
                checked.kind.label(),
                checked.organisations.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

async fn list(cli: &super::Cli, a: &ListArgs) -> ExitCode {
    let (_, pool) = match super::settings_and_db(cli).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let rows = match net::list_appointments(&pool, a.year).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if a.json {
        let v: Vec<AppointmentJson> = rows.iter().map(AppointmentJson::of).collect();
        return match super::term::print_json(&v) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => super::fail(e.into()),
        };
    }
    out!("{}", list_text(&rows));
    ExitCode::SUCCESS
}

async fn remove(cli: &super::Cli, id: i64) -> ExitCode {
    let (_, pool) = match super::settings_and_db(cli).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    match net::remove_appointment(&pool, id, &actor()).await {
        Ok(r) => {
            outln!(
                "Termin {} entfernt: {} {} ({})",
                r.id,
                ymd(r.on_date),
                r.kind.label(),
                r.organisations.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// The German list: one line per appointment, then the count.
pub fn list_text(rows: &[AppointmentRow]) -> String {
    if rows.is_empty() {
        return "Keine Termine.\n".to_string();
    }
    let mut out = String::new();
    for r in rows {
        out.push_str(&format!(
            "{:>4}  {}  {:<30}  {}{}{}\n",
            r.id,
            ymd(r.on_date),
            r.kind.label(),
            r.organisations.join(", "),
            if r.invited { "  [auf Einladung]" } else { "" },
            r.note
                .as_deref()
                .map(|n| format!("  – {n}"))
                .unwrap_or_default()
        ));
    }
    let invited = rows.iter().filter(|r| r.invited).count();
    out.push_str(&match rows.len() {
        1 => format!("1 Termin, davon {invited} auf Einladung\n"),
        n => format!("{n} Termine, davon {invited} auf Einladung\n"),
    });
    out
}
