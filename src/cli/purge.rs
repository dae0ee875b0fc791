//! `krm-intake purge` (placeholder; being written).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct PurgeArgs {}

pub async fn run(_cli: &super::Cli, _args: &PurgeArgs) -> ExitCode {
    eprintln!("krm-intake purge: noch nicht verfügbar");
    ExitCode::from(1)
}
