//! `krm-intake digest` (placeholder; being written).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DigestArgs {}

pub async fn run(_cli: &super::Cli, _args: &DigestArgs) -> ExitCode {
    eprintln!("krm-intake digest: noch nicht verfügbar");
    ExitCode::from(1)
}
