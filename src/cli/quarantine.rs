//! `krm-intake quarantine …` (placeholder; being written).

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum QuarantineCommand {
    /// Not yet available.
    Todo,
}

pub async fn run(_cli: &super::Cli, _cmd: &QuarantineCommand) -> ExitCode {
    eprintln!("krm-intake quarantine: noch nicht verfügbar");
    ExitCode::from(1)
}
