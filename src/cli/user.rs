//! `krm-intake user …`: accounts of the staff desk. Every change goes to the security log with
//! the OS user as actor. Passwords come from a file (first line) or a prompt without echo.

use crate::cli::term::{errln, outln};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::accounts::{self, AccountError, Role};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Ein Konto für den Schreibtisch anlegen.
    Add {
        /// Anmeldename des Kontos.
        name: String,
        /// Rolle des Kontos.
        #[arg(long, value_enum, value_name = "ROLLE")]
        role: Role,
        /// Zuständige Person aus [staff], als die das Konto arbeitet („mir zugewiesen“).
        #[arg(long, value_name = "NAME")]
        staff: Option<String>,
        /// Passwort aus dieser Datei (erste Zeile) statt einer Eingabeaufforderung.
        #[arg(long, value_name = "DATEI")]
        password_file: Option<PathBuf>,
    },
    /// Alle Konten auflisten.
    List {
        /// Als JSON-Array.
        #[arg(long)]
        json: bool,
    },
    /// Die Rolle eines Kontos ändern.
    SetRole {
        /// Anmeldename des Kontos.
        name: String,
        /// Die neue Rolle.
        #[arg(value_enum, value_name = "ROLLE")]
        role: Role,
        /// Auch das letzte aktive Administrationskonto herabstufen.
        #[arg(long)]
        force: bool,
    },
    /// Die zuständige Person aus [staff] setzen, als die das Konto arbeitet („mir zugewiesen“).
    SetStaff {
        /// Anmeldename des Kontos.
        name: String,
        /// Name aus [staff].
        #[arg(value_name = "PERSON", required_unless_present = "none")]
        staff: Option<String>,
        /// Keine zuständige Person mehr.
        #[arg(long, conflicts_with = "staff")]
        none: bool,
    },
    /// Ein Konto sperren (beendet seine Sitzungen).
    Disable {
        /// Anmeldename des Kontos.
        name: String,
        /// Auch das letzte aktive Administrationskonto sperren (etwa wenn es missbraucht wird).
        #[arg(long)]
        force: bool,
    },
    /// Ein gesperrtes Konto wieder freigeben (das Passwort bleibt).
    Enable {
        /// Anmeldename des Kontos.
        name: String,
    },
    /// Ein neues Passwort setzen (hebt eine Sperre nach Fehlversuchen auf, beendet Sitzungen).
    Password {
        /// Anmeldename des Kontos.
        name: String,
        /// Passwort aus dieser Datei (erste Zeile) statt einer Eingabeaufforderung.
        #[arg(long, value_name = "DATEI")]
        password_file: Option<PathBuf>,
    },
}

/// The new password from `file` (first line) or a prompt; a failure is already reported.
fn read_password(file: Option<&Path>) -> Result<String, ExitCode> {
    prompt_or_file(file).map_err(|m| {
        errln!("krm-intake: {m}");
        ExitCode::from(1)
    })
}

fn prompt_or_file(file: Option<&Path>) -> Result<String, String> {
    match file {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| format!("{} kann nicht gelesen werden: {e}", f.display()))?;
            Ok(text.lines().next().unwrap_or("").to_string())
        }
        None => {
            let first = rpassword::prompt_password("Neues Passwort: ")
                .map_err(|e| format!("Passwort kann nicht gelesen werden: {e}"))?;
            let second = rpassword::prompt_password("Passwort wiederholen: ")
                .map_err(|e| format!("Passwort kann nicht gelesen werden: {e}"))?;
            if first != second {
                return Err("Die beiden Eingaben stimmen nicht überein.".to_string());
            }
            Ok(first)
        }
    }
}

fn account_fail(e: AccountError) -> ExitCode {
    match e {
        // The desk's refusal, with the operator's way past it.
        AccountError::Refused(m) if m == accounts::LAST_ADMIN => {
            errln!("krm-intake: {m} Mit --force geschieht es trotzdem.");
        }
        e => errln!("krm-intake: {e}"),
    }
    ExitCode::from(1)
}

pub async fn run(cli: &super::Cli, cmd: &UserCommand) -> ExitCode {
    let (settings, pool) = match super::settings_and_db(cli).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let actor = super::os_user();
    let done = |msg: String| {
        outln!("{msg}");
        ExitCode::SUCCESS
    };
    match cmd {
        UserCommand::Add {
            name,
            role,
            staff,
            password_file,
        } => {
            // A name that cannot be is said before the password is asked for.
            if let Err(e) = accounts::check_name(name) {
                return account_fail(e);
            }
            let pw = match read_password(password_file.as_deref()) {
                Ok(p) => p,
                Err(code) => return code,
            };
            match accounts::add(
                &pool,
                name,
                *role,
                staff.as_deref(),
                &settings.staff,
                &pw,
                &actor,
            )
            .await
            {
                Ok(()) => done(format!("Konto „{name}“ angelegt ({}).", role.label())),
                Err(e) => account_fail(e),
            }
        }
        UserCommand::List { json } => match accounts::list(&pool).await {
            Ok(list) if *json => match serde_json::to_string_pretty(&list) {
                Ok(s) => done(s),
                Err(e) => super::fail(e.into()),
            },
            Ok(list) if list.is_empty() => done("Keine Konten.".to_string()),
            Ok(list) => {
                let now = chrono::Utc::now();
                for a in &list {
                    let state = a.state(now);
                    outln!(
                        "{}  {}{}{}",
                        a.name,
                        a.role_label,
                        a.staff
                            .as_deref()
                            .map(|s| format!(", zuständig als {s}"))
                            .unwrap_or_default(),
                        if state.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", state.join(", "))
                        }
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => account_fail(e),
        },
        UserCommand::SetRole { name, role, force } => {
            let changed = if *force {
                accounts::set_role(&pool, name, *role, &actor).await
            } else {
                accounts::set_role_keeping_an_admin(&pool, name, *role, &actor).await
            };
            match changed {
                Ok(()) => done(format!("Konto „{name}“: Rolle {}.", role.label())),
                Err(e) => account_fail(e),
            }
        }
        UserCommand::SetStaff { name, staff, none } => {
            let staff = if *none { None } else { staff.as_deref() };
            set_staff(&pool, &settings.staff, name, staff, &actor).await
        }
        UserCommand::Disable { name, force } => {
            let disabled = if *force {
                accounts::disable(&pool, name, &actor).await
            } else {
                accounts::disable_keeping_an_admin(&pool, name, &actor).await
            };
            match disabled {
                Ok(()) => done(format!("Konto „{name}“ gesperrt.")),
                Err(e) => account_fail(e),
            }
        }
        UserCommand::Enable { name } => match accounts::enable(&pool, name, &actor).await {
            Ok(false) => done(format!(
                "Konto „{name}“ ist nicht gesperrt; keine Änderung."
            )),
            Ok(true) => done(format!("Konto „{name}“ wieder freigegeben.")),
            Err(e) => account_fail(e),
        },
        UserCommand::Password {
            name,
            password_file,
        } => {
            let pw = match read_password(password_file.as_deref()) {
                Ok(p) => p,
                Err(code) => return code,
            };
            match accounts::set_password(&pool, name, &pw, &actor).await {
                Ok(()) => done(format!("Konto „{name}“: neues Passwort gesetzt.")),
                Err(e) => account_fail(e),
            }
        }
    }
}

/// `user set-staff`: the account's `[staff]` name, or none.
async fn set_staff(
    pool: &sqlx::PgPool,
    known: &std::collections::BTreeMap<String, String>,
    name: &str,
    staff: Option<&str>,
    actor: &str,
) -> ExitCode {
    let said = match accounts::set_staff(pool, name, staff, known, actor).await {
        Ok(false) => format!("Konto „{name}“: keine Änderung."),
        Ok(true) => match staff {
            Some(s) => format!("Konto „{name}“: zuständig als {s}."),
            None => format!("Konto „{name}“: keine zuständige Person."),
        },
        Err(e) => return account_fail(e),
    };
    outln!("{said}");
    ExitCode::SUCCESS
}
