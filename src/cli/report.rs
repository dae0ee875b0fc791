//! `krm-intake report` (placeholder; being written).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

pub async fn run(_cli: &super::Cli, _args: &ReportArgs) -> ExitCode {
    eprintln!("krm-intake report: noch nicht verfügbar");
    ExitCode::from(1)
}
