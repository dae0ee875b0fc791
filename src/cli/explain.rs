//! `krm-intake explain` (placeholder; being written).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {}

pub async fn run(_cli: &super::Cli, _args: &ExplainArgs) -> ExitCode {
    eprintln!("krm-intake explain: noch nicht verfügbar");
    ExitCode::from(1)
}
