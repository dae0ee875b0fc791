//! `krm-intake report`: the Ombudsstelle's figures per half-year and in total, as a German
//! table, CSV or JSON (docs/report.md).

use chrono::NaiveDate;
use std::process::ExitCode;

use crate::cli::term::{errln, out};

use crate::report::{self, Selection};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Csv,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("period").required(true).args(["year", "half_year", "from"])))]
pub struct ReportArgs {
    /// Kalenderjahr, z. B. 2017 (beide Halbjahre und Gesamt).
    #[arg(long)]
    pub year: Option<i32>,
    /// Halbjahr, z. B. 2017-1 oder 2017-2.
    #[arg(long, value_name = "JJJJ-H")]
    pub half_year: Option<String>,
    /// Eingang ab diesem Tag (JJJJ-MM-TT, einschließlich); mit --to.
    #[arg(long, requires = "to", value_parser = parse_date)]
    pub from: Option<NaiveDate>,
    /// Eingang bis zu diesem Tag (JJJJ-MM-TT, einschließlich); mit --from.
    #[arg(long, requires = "from", value_parser = parse_date)]
    pub to: Option<NaiveDate>,
    /// Ausgabe: text (deutsche Tabelle), csv (Semikolon, Dezimalkomma) oder json.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Wie viele Themen und Organisationen die Tabelle zeigt (JSON: immer alle).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("„{s}“ ist kein Datum (JJJJ-MM-TT)"))
}

fn selection(a: &ReportArgs) -> Result<Selection, report::ReportError> {
    if let Some(y) = a.year {
        return Ok(Selection::Year(y));
    }
    if let Some(h) = &a.half_year {
        let (y, half) = report::parse_half_year(h)?;
        return Ok(Selection::HalfYear(y, half));
    }
    match (a.from, a.to) {
        (Some(f), Some(t)) => Ok(Selection::Range(f, t)),
        _ => Err(report::ReportError::Invalid(
            "Bitte --year, --half-year oder --from mit --to angeben".into(),
        )),
    }
}

pub async fn run(cli: &super::Cli, args: &ReportArgs) -> ExitCode {
    // Check the arguments before touching the database.
    let sel = match selection(args).and_then(|s| s.span().map(|_| s)) {
        Ok(s) => s,
        Err(e) => {
            errln!("krm-intake: {e}");
            return ExitCode::from(1);
        }
    };
    let (settings, pool) = match super::settings_and_db(cli).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let r = match report::generate(&pool, sel, &settings.imap.channel).await {
        Ok(r) => r,
        Err(e) => {
            errln!("krm-intake: {e}");
            return ExitCode::from(1);
        }
    };
    match args.format {
        Format::Text => out!("{}", r.to_text(args.top)),
        Format::Csv => out!("{}", r.to_csv(args.top)),
        Format::Json => super::term::write_json(&r.to_json()),
    }
    ExitCode::SUCCESS
}
