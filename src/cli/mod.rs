//! Command line: parses arguments (clap), loads settings, dispatches to the library.
//! Messages for staff are German; operator diagnostics name file, key and cause.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Settings;

pub mod case;
pub mod digest;
pub mod explain;
pub mod purge;
pub mod quarantine;
pub mod report;
pub mod user;
pub mod web;

#[derive(Debug, Parser)]
#[command(
    name = "krm-intake",
    version,
    about = "Mail-Eingang der Ombudsstelle (KRM): IMAP → Vorgang → Eingangsbestätigung"
)]
pub struct Cli {
    /// Configuration file (TOML). Without it, the environment (KRM_…) alone configures.
    #[arg(long, global = true, env = "KRM_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate configuration, rules and templates (no server needed).
    Check,
    /// Apply pending database migrations.
    Migrate,
    /// Run the daemon until SIGTERM/SIGINT.
    Run {
        /// Process the whole inbox and every due outbox row once, then exit.
        #[arg(long)]
        once: bool,
        /// With --once: intake only, leave the outbox pending.
        #[arg(long, requires = "once")]
        no_send: bool,
    },
    /// Staff: list, show and work on cases (Vorgänge).
    Case {
        #[command(subcommand)]
        command: case::CaseCommand,
    },
    /// The Ombudsstelle's report: reactions per half-year and year.
    Report(report::ReportArgs),
    /// Reminder digests: preview what would be sent.
    Digest(digest::DigestArgs),
    /// Mails in quarantine: list them, retry after a fix.
    Quarantine {
        #[command(subcommand)]
        command: quarantine::QuarantineCommand,
    },
    /// Retention: remove personal data of cases closed long ago.
    Purge(purge::PurgeArgs),
    /// Show what the daemon would do with mail files, without touching any server.
    Explain(explain::ExplainArgs),
    /// Accounts of the staff desk (krm-intake web).
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// The staff desk in the browser until SIGTERM/SIGINT (needs only the database).
    Web,
    /// Sender rules: check a rules directory.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate the rules (unknown keys, bad patterns, duplicate ids, shadowed rules).
    Check {
        /// Rules directory (default: configured rules.dir).
        dir: Option<PathBuf>,
    },
}

/// Exit codes: 0 ok, 1 the command failed (bad input, invalid transition), 2 configuration error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("krm-intake: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(dispatch(cli))
}

pub(crate) fn load_settings(cli: &Cli) -> Result<Settings, ExitCode> {
    Settings::load(cli.config.as_deref()).map_err(|e| {
        eprintln!("krm-intake: configuration error: {e}");
        ExitCode::from(2)
    })
}

pub(crate) fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("krm-intake: {e:#}");
    ExitCode::from(1)
}

/// Loads settings and connects to the database (applying migrations), for staff commands.
/// Logging stays quiet (warn) so that command output is clean.
pub(crate) async fn settings_and_db(cli: &Cli) -> Result<(Settings, sqlx::PgPool), ExitCode> {
    let s = load_settings(cli)?;
    crate::telemetry::init("warn", s.log.format);
    let url = s.require_database().map_err(|e| fail(e.into()))?;
    let pool = crate::store::connect(url, 2)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok((s, pool))
}

/// Who runs a staff command: the OS user (the audit log's "who").
pub(crate) fn os_user() -> String {
    for k in ["SUDO_USER", "USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(k) {
            if !u.is_empty() {
                return u;
            }
        }
    }
    format!("uid:{}", process_uid())
}

/// The numeric uid, read without libc calls (owner of /proc/self).
fn process_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0)
}

async fn dispatch(cli: Cli) -> ExitCode {
    match &cli.command {
        Command::Case { command } => case::run(&cli, command).await,
        Command::Report(args) => report::run(&cli, args).await,
        Command::Digest(args) => digest::run(&cli, args).await,
        Command::Quarantine { command } => quarantine::run(&cli, command).await,
        Command::Purge(args) => purge::run(&cli, args).await,
        Command::Explain(args) => explain::run(&cli, args).await,
        Command::User { command } => user::run(&cli, command).await,
        Command::Web => web::run(&cli).await,
        Command::Rules {
            command: RulesCommand::Check { dir },
        } => {
            let dir = match dir {
                Some(d) => d.clone(),
                None => match load_settings(&cli) {
                    Ok(s) => s.rules_dir,
                    Err(c) => return c,
                },
            };
            rules_check(&dir)
        }
        Command::Check => {
            let s = match load_settings(&cli) {
                Ok(s) => s,
                Err(c) => return c,
            };
            check(&s)
        }
        Command::Migrate => {
            let s = match load_settings(&cli) {
                Ok(s) => s,
                Err(c) => return c,
            };
            crate::telemetry::init(&s.log.level, s.log.format);
            let url = match s.require_database() {
                Ok(u) => u,
                Err(e) => return fail(e.into()),
            };
            match crate::store::connect(url, 2).await {
                Ok(_) => {
                    println!("Datenbank ist auf dem neuesten Stand.");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e.into()),
            }
        }
        Command::Run { once, no_send } => {
            let s = match load_settings(&cli) {
                Ok(s) => s,
                Err(c) => return c,
            };
            crate::telemetry::init(&s.log.level, s.log.format);
            for w in &s.warnings {
                tracing::warn!("{w}");
            }
            let app = match crate::daemon::build(s).await {
                Ok(a) => a,
                Err(e) => return fail(e),
            };
            if *once {
                match crate::daemon::run_once(&app, *no_send).await {
                    Ok(r) => {
                        println!(
                            "Neue Vorgänge: {}, Folgemails: {}, erneut gesehen: {}, Rückläufer: {}, Quarantäne: {}; Mails gesendet: {}, später erneut: {}, fehlgeschlagen: {}",
                            r.scan.new_cases,
                            r.scan.followups,
                            r.scan.seen_again,
                            r.scan.bounces,
                            r.scan.quarantined,
                            r.outbox.sent,
                            r.outbox.retry,
                            r.outbox.failed
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e),
                }
            } else {
                match crate::daemon::run(app).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fail(e),
                }
            }
        }
    }
}

fn rules_check(dir: &std::path::Path) -> ExitCode {
    let problems = crate::rules::check_dir(dir);
    let errors = problems
        .iter()
        .filter(|p| p.severity == crate::rules::Severity::Error)
        .count();
    for p in &problems {
        println!("{p}");
    }
    if errors > 0 {
        eprintln!("{errors} Fehler in {}", dir.display());
        ExitCode::from(1)
    } else {
        match crate::rules::RuleSet::load_dir(dir) {
            Ok(r) => {
                println!(
                    "{}: {} Regeln in Ordnung (Version {})",
                    dir.display(),
                    r.len(),
                    r.version()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        }
    }
}

fn check(s: &Settings) -> ExitCode {
    let mut ok = true;
    for w in &s.warnings {
        println!("Warnung: {w}");
    }
    match crate::rules::RuleSet::load_dir(&s.rules_dir) {
        Ok(r) => println!(
            "Regeln: {} Regeln aus {} (Version {})",
            r.len(),
            s.rules_dir.display(),
            r.version()
        ),
        Err(e) => {
            ok = false;
            println!("Fehler: {e}");
        }
    }
    for p in crate::rules::check_dir(&s.rules_dir)
        .iter()
        .filter(|p| p.severity != crate::rules::Severity::Error)
    {
        println!("{p}");
    }
    match crate::templates::Templates::load(&s.templates_dir) {
        Ok(_) => println!("Vorlagen: {} in Ordnung", s.templates_dir.display()),
        Err(e) => {
            ok = false;
            println!("Fehler: {e}");
        }
    }
    if let Err(e) = crate::smtp::Sender::new(&s.smtp) {
        ok = false;
        println!("Fehler: smtp: {e}");
    }
    for (what, path) in [
        ("imap.ca_file", &s.imap.ca_file),
        ("smtp.ca_file", &s.smtp.ca_file),
    ] {
        if let Some(p) = path {
            if let Err(e) = crate::tls::load_ca_file(p) {
                ok = false;
                println!("Fehler: {what}: {e}");
            }
        }
    }
    ok &= web::check(s);
    if s.database.url.expose().is_none() {
        println!("Hinweis: database.url (KRM_DATABASE_URL) ist nicht gesetzt; run und migrate brauchen sie.");
    }
    if ok {
        println!("Konfiguration in Ordnung.");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
