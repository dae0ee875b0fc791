//! `krm-intake access-log` and `krm-intake security-log`: the data protection officer's view of
//! who read which case's mail content, and of logins and account changes. Filters and views
//! live in `crate::logs`; this is arguments and output (tab-separated lines or JSON).

use std::process::ExitCode;

use crate::cli::term::{errln, outln};
use crate::logs::{self, LogFilter};

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// Nur Einträge zu diesem Vorgang (KRM-JJJJ-NNNNN; nur Zugriffsprotokoll).
    #[arg(long = "case", value_name = "NUMMER")]
    pub case_number: Option<String>,
    /// Nur Einträge dieses Kontos (Schreibtisch-Konto oder Betriebssystem-Benutzer).
    #[arg(long, value_name = "KONTO")]
    pub account: Option<String>,
    /// Ab diesem Tag (JJJJ-MM-TT, Berliner Zeit).
    #[arg(long, value_name = "JJJJ-MM-TT")]
    pub from: Option<String>,
    /// Bis einschließlich diesem Tag (JJJJ-MM-TT, Berliner Zeit).
    #[arg(long, value_name = "JJJJ-MM-TT")]
    pub to: Option<String>,
    /// Als JSON-Array.
    #[arg(long)]
    pub json: bool,
}

impl LogArgs {
    fn filter(&self) -> Result<LogFilter, ExitCode> {
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        LogFilter::parse(
            &s(&self.account),
            &s(&self.case_number),
            &s(&self.from),
            &s(&self.to),
        )
        .map_err(|errors| {
            for (_, m) in errors {
                errln!("krm-intake: {m}");
            }
            ExitCode::from(super::EXIT_FAILED)
        })
    }
}

/// The filter and a database connection, or the exit code already reported.
async fn filter_and_db(
    cli: &super::Cli,
    args: &LogArgs,
) -> Result<(LogFilter, sqlx::PgPool), ExitCode> {
    let filter = args.filter()?;
    let (_, pool) = super::settings_and_db(cli).await?;
    Ok((filter, pool))
}

/// `access-log`: time, who, case, what — one line each, oldest first.
pub async fn access(cli: &super::Cli, args: &LogArgs) -> ExitCode {
    let (filter, pool) = match filter_and_db(cli, args).await {
        Ok(v) => v,
        Err(c) => return c,
    };
    let entries = match logs::access(&pool, &filter).await {
        Ok(e) => e,
        Err(e) => return super::fail(e.into()),
    };
    if args.json {
        return match super::term::print_json(&entries) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => super::fail(e.into()),
        };
    }
    if entries.is_empty() {
        outln!("Keine Zugriffe im gewählten Zeitraum.");
    }
    for e in &entries {
        outln!("{}\t{}\t{}\t{}", e.at, e.actor, e.case_number, e.what_label);
    }
    ExitCode::SUCCESS
}

/// `security-log`: time, event, account, who, details — one line each, oldest first.
pub async fn security(cli: &super::Cli, args: &LogArgs) -> ExitCode {
    if args.case_number.is_some() {
        errln!("krm-intake: --case gilt nur für das Zugriffsprotokoll (access-log).");
        return ExitCode::from(super::EXIT_FAILED);
    }
    let (filter, pool) = match filter_and_db(cli, args).await {
        Ok(v) => v,
        Err(c) => return c,
    };
    let entries = match logs::security(&pool, &filter).await {
        Ok(e) => e,
        Err(e) => return super::fail(e.into()),
    };
    if args.json {
        return match super::term::print_json(&entries) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => super::fail(e.into()),
        };
    }
    if entries.is_empty() {
        outln!("Keine Einträge im gewählten Zeitraum.");
    }
    for e in &entries {
        outln!(
            "{}\t{}\t{}\t{}\t{}",
            e.at,
            e.event_label,
            e.account,
            e.actor,
            e.detail
        );
    }
    ExitCode::SUCCESS
}
