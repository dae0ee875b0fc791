//! Command line: parses arguments (clap), loads settings, dispatches to the library.
//! Messages for staff are German; operator diagnostics name file, key and cause.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use term::{errln, outln};

use crate::config::Settings;

pub mod case;
pub mod digest;
pub mod explain;
pub mod logs;
pub mod network;
pub mod parse;
pub mod purge;
pub mod quarantine;
pub mod report;
pub mod term;
pub mod user;
pub mod web;

#[derive(Debug, Parser)]
#[command(
    name = "krm-intake",
    version,
    about = "Mail-Eingang der Ombudsstelle (KRM): IMAP → Vorgang → Eingangsbestätigung"
)]
pub struct Cli {
    /// Konfigurationsdatei (TOML). Ohne sie konfiguriert allein die Umgebung (KRM_…).
    #[arg(long, global = true, env = "KRM_CONFIG", value_name = "DATEI")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Konfiguration, Regeln, Vorlagen und CA-Dateien prüfen (ohne Server).
    Check,
    /// Ausstehende Datenbank-Migrationen anwenden.
    Migrate,
    /// Den Dienst starten (läuft bis SIGTERM/SIGINT).
    Run {
        /// Posteingang und fällige Ausgangsmails einmal abarbeiten, dann beenden.
        #[arg(long)]
        once: bool,
        /// Mit --once: nur Eingang, die Ausgangsmails bleiben liegen.
        #[arg(long, requires = "once")]
        no_send: bool,
    },
    /// Sachbearbeitung: Vorgänge auflisten, zeigen und bearbeiten.
    Case {
        #[command(subcommand)]
        command: case::CaseCommand,
    },
    /// Netzwerkarbeit: Termine mit Organisationen erfassen, auflisten, entfernen.
    Network {
        #[command(subcommand)]
        command: network::NetworkCommand,
    },
    /// Bericht der Ombudsstelle: Reaktionen je Halbjahr und Jahr.
    Report(report::ReportArgs),
    /// Erinnerungen (Tagesübersicht): zeigen, was versandt würde.
    Digest(digest::DigestArgs),
    /// Mails in Quarantäne: auflisten, nach einer Korrektur erneut versuchen.
    Quarantine {
        #[command(subcommand)]
        command: quarantine::QuarantineCommand,
    },
    /// Aufbewahrung: personenbezogene Daten lange abgeschlossener Vorgänge löschen.
    Purge(purge::PurgeArgs),
    /// Zeigen, was der Dienst mit Mail-Dateien täte, ohne einen Server anzusprechen.
    Explain(explain::ExplainArgs),
    /// Konten des Schreibtischs im Browser (krm-intake web).
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Zugriffsprotokoll: wer wann die Mailinhalte welches Vorgangs gelesen hat.
    AccessLog(logs::LogArgs),
    /// Sicherheitsprotokoll: Anmeldungen und Änderungen an Konten.
    SecurityLog(logs::LogArgs),
    /// Den Schreibtisch im Browser bereitstellen, bis SIGTERM/SIGINT (braucht nur die Datenbank).
    Web,
    /// Absenderregeln: ein Regelverzeichnis prüfen.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Regeln prüfen (unbekannte Schlüssel, fehlerhafte Muster, doppelte IDs, verdeckte Regeln).
    Check {
        /// Regelverzeichnis (Vorgabe: rules.dir der Konfiguration).
        #[arg(value_name = "VERZEICHNIS")]
        dir: Option<PathBuf>,
    },
}

/// Exit code 2: a fault in the configuration, the rules, the templates or a CA file — a person
/// must fix a file; restarting does not help (the systemd unit does not restart on 2). Also
/// clap's usage errors (unknown flag, missing argument).
pub const EXIT_CONFIG: u8 = 2;
/// Exit code 1: a fault at run time — a server unreachable, an invalid transition, an unknown
/// case, a bad value for a flag.
pub const EXIT_FAILED: u8 = 1;

/// Exit codes: 0 ok, 1 the command failed at run time, 2 configuration or usage error.
pub fn main() -> ExitCode {
    let cli = match parse::parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(stop) => {
            // Help and version go to stdout as clap renders them (German by `parse`'s
            // templates); a usage error is one German line and hints on stderr.
            match &stop {
                parse::Stop::Help(e) => {
                    let _ = e.print();
                }
                parse::Stop::Failed { text, .. } => term::write_err(text),
            }
            return ExitCode::from(stop.exit_code());
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("krm-intake: Laufzeitumgebung lässt sich nicht starten: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    rt.block_on(dispatch(cli))
}

pub(crate) fn load_settings(cli: &Cli) -> Result<Settings, ExitCode> {
    Settings::load(cli.config.as_deref()).map_err(|e| {
        errln!("krm-intake: Konfigurationsfehler: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

pub(crate) fn fail(e: anyhow::Error) -> ExitCode {
    errln!("krm-intake: {e:#}");
    ExitCode::from(EXIT_FAILED)
}

/// Settings for a long-running service (`run`, `web`): logging set up as configured, and
/// every fault a person must fix in a file reported with exit 2 before any server is contacted.
pub(crate) fn settings_for_service(cli: &Cli) -> Result<Settings, ExitCode> {
    settings_and_rules_for_service(cli).map(|(s, _)| s)
}

/// `settings_for_service`, with the rule set its review loaded (so `run` compiles it once).
pub(crate) fn settings_and_rules_for_service(
    cli: &Cli,
) -> Result<(Settings, Option<crate::rules::RuleSet>), ExitCode> {
    let s = service_settings(cli)?;
    let rules = reviewed_rules(&s)?;
    Ok((s, rules))
}

/// The settings of the service, with logging set up as they say and their warnings logged.
fn service_settings(cli: &Cli) -> Result<Settings, ExitCode> {
    let s = load_settings(cli)?;
    crate::telemetry::init(&s.log.level, s.log.format);
    for w in &s.warnings {
        tracing::warn!("{w}");
    }
    Ok(s)
}

/// The configuration review's faults (exit 2), or the rule set it loaded.
fn reviewed_rules(s: &Settings) -> Result<Option<crate::rules::RuleSet>, ExitCode> {
    let review = Review::of(s);
    if review.faults > 0 {
        for (_, line) in review.lines.iter().filter(|(l, _)| *l == Level::Fault) {
            errln!("krm-intake: {line}");
        }
        return Err(ExitCode::from(EXIT_CONFIG));
    }
    Ok(review.rules)
}

/// The database URL, or exit 2 with a German message when it is not set.
pub(crate) fn database_url(s: &Settings) -> Result<&str, ExitCode> {
    s.database.url.expose().ok_or_else(|| {
        errln!(
            "krm-intake: Konfigurationsfehler: database.url ist nicht gesetzt ({}, oder die Umgebungsvariable KRM_DATABASE_URL), z. B. postgres://krm@localhost/krm",
            match &s.file {
                Some(f) => format!("Abschnitt [database] in {}", f.display()),
                None => "keine Konfigurationsdatei angegeben".to_string(),
            }
        );
        ExitCode::from(EXIT_CONFIG)
    })
}

/// Loads settings and connects to the database (applying migrations), for staff commands.
/// Logging stays quiet (warn) so that command output is clean.
pub(crate) async fn settings_and_db(cli: &Cli) -> Result<(Settings, sqlx::PgPool), ExitCode> {
    let s = load_settings(cli)?;
    crate::telemetry::init("warn", s.log.format);
    let url = database_url(&s)?;
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
        Command::Network { command } => network::run(&cli, command).await,
        Command::Report(args) => report::run(&cli, args).await,
        Command::Digest(args) => digest::run(&cli, args).await,
        Command::Quarantine { command } => quarantine::run(&cli, command).await,
        Command::Purge(args) => purge::run(&cli, args).await,
        Command::Explain(args) => explain::run(&cli, args).await,
        Command::User { command } => user::run(&cli, command).await,
        Command::Web => web::run(&cli).await,
        Command::AccessLog(args) => logs::access(&cli, args).await,
        Command::SecurityLog(args) => logs::security(&cli, args).await,
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
            let url = match database_url(&s) {
                Ok(u) => u,
                Err(c) => return c,
            };
            match crate::store::connect(url, 2).await {
                Ok(_) => {
                    outln!("Datenbank ist auf dem neuesten Stand.");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e.into()),
            }
        }
        Command::Run { once, no_send } => {
            let s = match service_settings(&cli) {
                Ok(s) => s,
                Err(c) => return c,
            };
            if let Err(c) = database_url(&s) {
                return c;
            }
            if let Err(e) = s.require_imap() {
                errln!("krm-intake: Konfigurationsfehler: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
            // The database (and, for one pass, the IMAP login) are under way while the review
            // compiles the rules: a start waits for the longest of them, not their sum. Their
            // errors count only once the review passed.
            let connecting = match crate::app::connect_early(&s) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            let imap = once.then(|| crate::daemon::connect_imap_early(&s));
            let rules = match reviewed_rules(&s) {
                Ok(r) => r,
                Err(c) => {
                    connecting.abort();
                    imap.inspect(|i| i.abort());
                    return c;
                }
            };
            let app = match crate::app::build_connecting(s, rules, connecting).await {
                Ok(a) => a,
                Err(e) => return fail(e),
            };
            if *once {
                match crate::daemon::run_once_connecting(&app, *no_send, imap).await {
                    Ok(r) => {
                        outln!(
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
                        if r.outbox.busy_elsewhere > 0 {
                            outln!(
                                "Noch nicht gesendet: {} Mails, die ein anderer laufender krm-intake gerade sendet (von ihm beansprucht, hier nicht angefasst).",
                                r.outbox.busy_elsewhere
                            );
                        }
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
    if dir.is_file() {
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        errln!(
            "krm-intake: {} ist eine Datei; geprüft wird das ganze Regelverzeichnis, etwa: \
             krm-intake rules check {}",
            dir.display(),
            parent.display()
        );
        return ExitCode::from(2);
    }
    let mut review = Review::default();
    review.rules(dir);
    for (_, line) in &review.lines {
        outln!("{line}");
    }
    if review.faults > 0 {
        errln!("{} Fehler in {}", review.faults, dir.display());
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Warning,
    Fault,
}

/// What `check` (and `run` before it starts) finds in the configuration, the rules, the
/// templates and the CA files. Every line names its file; any fault means exit 2.
#[derive(Debug, Default)]
pub(crate) struct Review {
    lines: Vec<(Level, String)>,
    faults: usize,
    /// The rule set as checked, when it loaded: `run` starts with it instead of compiling the
    /// patterns a second time.
    rules: Option<crate::rules::RuleSet>,
}

impl Review {
    pub(crate) fn push(&mut self, level: Level, line: String) {
        if level == Level::Fault {
            self.faults += 1;
        }
        self.lines.push((level, line));
    }

    pub(crate) fn of(s: &Settings) -> Review {
        let mut r = Review::default();
        for w in &s.warnings {
            r.push(Level::Warning, format!("Warnung: {w}"));
        }
        r.rules(&s.rules_dir);
        match crate::templates::Templates::load(&s.templates_dir) {
            Ok(_) => r.push(
                Level::Info,
                format!("Vorlagen: {} in Ordnung", s.templates_dir.display()),
            ),
            Err(e) => r.push(Level::Fault, format!("Fehler: {}", template_fault(&e))),
        }
        r.report_template(&s.templates_dir);
        let mut smtp_ca_ok = true;
        for (key, path) in [
            ("imap.ca_file", &s.imap.ca_file),
            ("smtp.ca_file", &s.smtp.ca_file),
        ] {
            if let Some(p) = path {
                if let Err(e) = crate::tls::load_ca_file(p) {
                    smtp_ca_ok &= key != "smtp.ca_file";
                    r.push(Level::Fault, format!("Fehler: {key}: {}", ca_fault(p, &e)));
                }
            }
        }
        // The CA file was named above; the SMTP setup would only repeat it.
        if smtp_ca_ok {
            if let Err(e) = crate::smtp::Sender::new(&s.smtp) {
                r.push(Level::Fault, format!("Fehler: SMTP-Einstellungen: {e}"));
            }
        }
        web::check(s, &mut r);
        r.push(Level::Info, answers_line(&s.answers));
        r
    }

    /// The report's document template: broken is a fault; missing means the shipped one (an
    /// upgrade never adds files to the operator's templates directory).
    fn report_template(&mut self, dir: &std::path::Path) {
        let path = dir.join(crate::report::html::TEMPLATE);
        match crate::report::html::ReportTemplate::load(dir) {
            Ok(t) if t.is_builtin() => self.push(
                Level::Warning,
                format!(
                    "Warnung: Berichtsvorlage {} fehlt; die mitgelieferte wird benutzt (zum \
                     Anpassen aus dem templates-Verzeichnis des Pakets kopieren)",
                    path.display()
                ),
            ),
            Ok(_) => self.push(
                Level::Info,
                format!("Berichtsvorlage: {} in Ordnung", path.display()),
            ),
            Err(e) => self.push(Level::Fault, format!("Fehler: {}", template_fault(&e))),
        }
    }

    /// The rules directory: every problem once (file:line), then the set's size and version.
    fn rules(&mut self, dir: &std::path::Path) {
        let (set, problems) = crate::rules::check_and_load_dir(dir);
        let mut errors = false;
        for p in &problems {
            if p.severity == crate::rules::Severity::Error {
                errors = true;
                self.push(Level::Fault, format!("Fehler: {p}"));
            } else {
                self.push(Level::Warning, p.to_string());
            }
        }
        if errors {
            return;
        }
        match set {
            Some(r) => {
                self.push(
                    Level::Info,
                    format!(
                        "{}: {} Regeln in Ordnung (Version {})",
                        dir.display(),
                        r.len(),
                        r.version()
                    ),
                );
                self.rules = Some(r);
            }
            // Without an error problem the set loads; this only guards that promise.
            None => self.push(
                Level::Fault,
                format!("Fehler: {}: Regelwerk nicht ladbar", dir.display()),
            ),
        }
        let file = dir.join(crate::rules::stellen::STELLEN_FILE);
        match crate::rules::Stellen::load(dir) {
            Ok(_) if !file.exists() => self.push(
                Level::Info,
                format!(
                    "{}: fehlt – der Katalog der Stellen ist leer",
                    file.display()
                ),
            ),
            Ok(s) => self.push(
                Level::Info,
                format!(
                    "{}: {} Stellen im Katalog",
                    file.display(),
                    s.names().count()
                ),
            ),
            Err(_) => {}
        }
    }
}

/// A CA file that cannot be used, in German, naming the file.
fn ca_fault(path: &std::path::Path, e: &crate::tls::TlsError) -> String {
    match e {
        crate::tls::TlsError::CaFile { message, .. } if message.starts_with("kein PEM") => format!(
            "{}: keine PEM-Zertifikate (-----BEGIN CERTIFICATE-----) in der Datei",
            path.display()
        ),
        crate::tls::TlsError::CaFile { message, .. } => {
            format!("{}: nicht lesbar oder kein PEM ({message})", path.display())
        }
        other => format!("{}: {other}", path.display()),
    }
}

/// A template that cannot be used, in German, naming the file and line.
pub(crate) fn template_fault(e: &crate::templates::TemplateError) -> String {
    e.german()
}

/// What `check` says about `[answers]`.
fn answers_line(a: &crate::config::AnswersSettings) -> String {
    if a.folders.is_empty() {
        return "Antworten aus dem Postfach: nicht eingerichtet ([answers] folders)".to_string();
    }
    format!(
        "Antworten aus dem Postfach: Ordner {} (nur lesend), Zwischennachricht bei {}, \
         Abschluss bei Antwort: {}",
        a.folders.join(", "),
        a.interim_markers.join(", "),
        if a.close_on_answer { "ja" } else { "nein" }
    )
}

fn check(s: &Settings) -> ExitCode {
    let review = Review::of(s);
    for (_, line) in &review.lines {
        outln!("{line}");
    }
    if s.database.url.expose().is_none() {
        outln!("Hinweis: database.url (KRM_DATABASE_URL) ist nicht gesetzt; run und migrate brauchen sie.");
    }
    if review.faults == 0 {
        outln!("Konfiguration in Ordnung.");
        ExitCode::SUCCESS
    } else {
        errln!(
            "krm-intake: {} Fehler in Konfiguration, Regeln, Vorlagen oder CA-Dateien (Exit-Code 2).",
            review.faults
        );
        ExitCode::from(2)
    }
}
