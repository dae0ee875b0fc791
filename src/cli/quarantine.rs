//! `krm-intake quarantine list|retry`: mails the daemon could not handle. `retry` moves a
//! quarantined mail back into the inbox (found by Message-ID, not by a remembered UID) so the
//! daemon tries it again after a fix.

use clap::Subcommand;
use std::process::ExitCode;

use crate::cli::term::{errln, outln};

use crate::mailbox::Mailbox;
use crate::store::quarantine;

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Mails in Quarantäne auflisten (mit --all auch die bereits erneut versuchten).
    List {
        /// Auch bereits erneut versuchte Einträge.
        #[arg(long)]
        all: bool,
        /// Als JSON-Array.
        #[arg(long)]
        json: bool,
    },
    /// Mails aus der Quarantäne zurück in den Posteingang legen, für einen neuen Versuch.
    Retry {
        /// Nummer des Quarantäne-Eintrags (siehe `quarantine list`).
        id: Option<i64>,
        /// Alle Mails in Quarantäne erneut versuchen.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

pub async fn run(cli: &super::Cli, cmd: &QuarantineCommand) -> ExitCode {
    let (settings, pool) = match super::settings_and_db(cli).await {
        Ok(v) => v,
        Err(c) => return c,
    };
    match cmd {
        QuarantineCommand::List { all, json } => {
            let rows = match quarantine::list(&pool, *all).await {
                Ok(r) => r,
                Err(e) => return super::fail(e.into()),
            };
            if *json {
                match super::term::print_json(&rows) {
                    Ok(()) => {}
                    Err(e) => return super::fail(e.into()),
                }
                return ExitCode::SUCCESS;
            }
            if rows.is_empty() {
                outln!("Keine Mails in Quarantäne.");
                return ExitCode::SUCCESS;
            }
            outln!(
                "{:>5}  {:<16}  {:>8}  {:>10}  {:<11}  Grund",
                "ID",
                "Eingang",
                "UID",
                "Größe",
                "Status"
            );
            for r in rows {
                outln!(
                    "{:>5}  {:<16}  {:>8}  {:>10}  {:<11}  {}",
                    r.id,
                    r.created_at
                        .with_timezone(&chrono_tz::Europe::Berlin)
                        .format("%Y-%m-%d %H:%M"),
                    r.uid.map(|u| u.to_string()).unwrap_or_default(),
                    r.size
                        .map(crate::staff::views::size_text)
                        .unwrap_or_default(),
                    match r.status.as_str() {
                        "quarantined" => "Quarantäne",
                        "retried" => "erneut",
                        other => other,
                    },
                    r.reason
                );
            }
            ExitCode::SUCCESS
        }
        QuarantineCommand::Retry { id, all } => {
            let rows = match (id, all) {
                (Some(id), _) => match quarantine::get(&pool, *id).await {
                    Ok(Some(r)) if r.status == "quarantined" => vec![r],
                    Ok(Some(_)) => {
                        errln!("Quarantäne-Eintrag {id} wurde bereits erneut versucht.");
                        return ExitCode::from(1);
                    }
                    Ok(None) => {
                        errln!("Unbekannter Quarantäne-Eintrag {id}.");
                        return ExitCode::from(1);
                    }
                    Err(e) => return super::fail(e.into()),
                },
                (None, true) => match quarantine::list(&pool, false).await {
                    Ok(r) => r,
                    Err(e) => return super::fail(e.into()),
                },
                (None, false) => {
                    errln!("Bitte eine ID angeben oder --all.");
                    return ExitCode::from(1);
                }
            };
            if let Err(e) = settings.require_imap() {
                errln!("krm-intake: Konfigurationsfehler: {e}");
                return ExitCode::from(super::EXIT_CONFIG);
            }
            let mut mb = match Mailbox::connect(&settings.imap).await {
                Ok(m) => m,
                Err(e) => return super::fail(e.into()),
            };
            let mut failed = 0;
            for r in rows {
                match crate::quarantine::retry_one(&mut mb, &pool, &settings.imap, &r).await {
                    Ok(outcome) => {
                        if !outcome.done() {
                            failed += 1;
                        }
                        outln!("{}: {}", r.id, outcome.text(&settings.imap));
                    }
                    Err(e) => return super::fail(e.into()),
                }
            }
            mb.logout().await;
            if failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
