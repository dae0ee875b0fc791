//! `krm-intake case …` (placeholder; being written).

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum CaseCommand {
    /// Not yet available.
    Todo,
}

pub async fn run(_cli: &super::Cli, _cmd: &CaseCommand) -> ExitCode {
    eprintln!("krm-intake case: noch nicht verfügbar");
    ExitCode::from(1)
}
