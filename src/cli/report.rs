//! `krm-intake report`: the Ombudsstelle's figures per half-year and in total, as a German
//! table, CSV, JSON or a printable HTML document (docs/report.md).

use chrono::NaiveDate;
use std::process::ExitCode;

use crate::cli::term::errln;

use crate::report::{self, Format, ReportError, Selection};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("period").required(true).args(["year", "half_year", "from"])))]
pub struct ReportArgs {
    /// Kalenderjahr, z. B. 2017 (beide Halbjahre und Gesamt).
    #[arg(long, value_name = "JAHR")]
    pub year: Option<i32>,
    /// Halbjahr, z. B. 2017-1 oder 2017-2.
    #[arg(long, value_name = "JJJJ-H")]
    pub half_year: Option<String>,
    /// Eingang ab diesem Tag (JJJJ-MM-TT, einschließlich); mit --to.
    #[arg(long, requires = "to", value_parser = parse_date, value_name = "JJJJ-MM-TT")]
    pub from: Option<NaiveDate>,
    /// Eingang bis zu diesem Tag (JJJJ-MM-TT, einschließlich); mit --from.
    #[arg(long, requires = "from", value_parser = parse_date, value_name = "JJJJ-MM-TT")]
    pub to: Option<NaiveDate>,
    /// Ausgabe: text (deutsche Tabelle), csv (Semikolon, Dezimalkomma), json oder html
    /// (druckbares Dokument aus der Vorlage report.html.j2).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Wie viele Themen und Organisationen die Tabelle zeigt (JSON: immer alle).
    #[arg(long, default_value_t = 10, value_name = "ANZAHL")]
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

/// Exit 2 for a file a person must fix (template, rules), else 1.
fn failed(e: &ReportError) -> ExitCode {
    errln!("krm-intake: {e}");
    match e {
        ReportError::File(_) => ExitCode::from(super::EXIT_CONFIG),
        _ => ExitCode::from(super::EXIT_FAILED),
    }
}

pub async fn run(cli: &super::Cli, args: &ReportArgs) -> ExitCode {
    // Check the arguments before touching the database.
    let sel = match selection(args).and_then(|s| s.span().map(|_| s)) {
        Ok(s) => s,
        Err(e) => return failed(&e),
    };
    let settings = match super::load_settings(cli) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // The template and the topic catalogue are files: a fault there is found before the database.
    let template = match args.format {
        Format::Html => match report::html::ReportTemplate::load(&settings.templates_dir) {
            Ok(t) => Some(t),
            Err(e) => return failed(&ReportError::File(super::template_fault(&e))),
        },
        _ => None,
    };
    let opts = match report::Options::from_settings(&settings) {
        Ok(o) => o,
        Err(e) => return failed(&e),
    };
    let (_, pool) = match super::settings_and_db(cli).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let text = report::generate(&pool, sel, &opts)
        .await
        .and_then(|r| r.output(args.format, args.top, template.as_ref()));
    match text {
        Ok(t) => {
            // Already neutralised for the terminal (the desk serves the same bytes).
            use std::io::Write;
            let _ = std::io::stdout().lock().write_all(t.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => failed(&e),
    }
}
