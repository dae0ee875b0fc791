//! `krm-intake explain FILE…`: shows, without touching any server, what the daemon would do with
//! mail files. Reads files and the rules directory; the decisions live in `crate::decide`, the
//! rendering in `crate::explain`. With `--db` the facts (known mails, referenced cases, rate-cap
//! counts) are read from the configured database in read-only transactions.
//! Exit 0 when every file was read (unparseable mails included), 1 when a file or directory
//! could not be read, 2 when the rules are invalid (a fault in a file a person must fix).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::term::{errln, out};

use crate::decide::Facts;
use crate::explain::{self, Explanation, Options};
use crate::rules::RuleSet;
use crate::store::batch::BatchWriter;

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Mail-Dateien (beliebiger Name; eine mbox-Zeile „From “ am Anfang wird übersprungen) oder
    /// Verzeichnisse (alle Dateien darin, sortiert; ohne versteckte Dateien und Unterverzeichnisse).
    #[arg(required = true, value_name = "DATEI")]
    pub files: Vec<PathBuf>,
    /// Regelverzeichnis. Vorgabe: rules.dir der Konfiguration, sonst KRM_RULES_DIR, sonst ./rules.
    #[arg(long, value_name = "VERZEICHNIS")]
    pub rules: Option<PathBuf>,
    /// Ein JSON-Array, ein Objekt je Datei (docs/explain.md).
    #[arg(long)]
    pub json: bool,
    /// Fakten aus der konfigurierten Datenbank lesen (nur lesend): schon erfasste Mails,
    /// vorhandene Vorgänge, Obergrenze der Bestätigungen.
    #[arg(long)]
    pub db: bool,
}

pub async fn run(cli: &super::Cli, args: &ExplainArgs) -> ExitCode {
    // The configuration is optional: it contributes the rules directory, the size limit and the
    // Ombudsstelle's own addresses. Without one (or with a broken one) the defaults apply.
    let (config_rules, opts, settings) = match crate::config::Settings::load(cli.config.as_deref())
    {
        Ok(s) => (Some(s.rules_dir.clone()), Options::of(&s), Some(s)),
        Err(e) if args.db => {
            errln!("krm-intake explain: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
        Err(e) => {
            errln!("krm-intake explain: Konfiguration nicht verwendet ({e}); es gelten die Voreinstellungen.");
            (None, Options::default(), None)
        }
    };
    let mut db = None;
    if args.db {
        let url = match settings.as_ref().map(|s| s.require_database()) {
            Some(Ok(url)) => url,
            Some(Err(e)) => {
                errln!("krm-intake explain: {e}");
                return ExitCode::from(super::EXIT_CONFIG);
            }
            None => return ExitCode::from(super::EXIT_CONFIG),
        };
        match crate::store::connect_read_only(url).await {
            Ok(c) => db = Some(c),
            Err(e) => return super::fail(e.into()),
        }
    }
    let rules_dir = args
        .rules
        .clone()
        .or(config_rules)
        .or_else(|| std::env::var_os("KRM_RULES_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("rules"));
    let rules = match RuleSet::load_dir(&rules_dir) {
        Ok(r) => r,
        Err(e) => {
            errln!("krm-intake explain: Regeln in {}: {e}", rules_dir.display());
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };

    let mut all_read = true;
    let mut out: Vec<Explanation> = Vec::new();
    for arg in &args.files {
        match files_of(arg) {
            Ok(files) => {
                for f in files {
                    let e = match explain_file(&f, &rules, &opts, db.as_mut()).await {
                        Ok(e) => e,
                        Err(e) => return super::fail(e.into()),
                    };
                    all_read &= e.action.is_some();
                    out.push(e);
                }
            }
            Err(reason) => {
                all_read = false;
                out.push(Explanation::unreadable(
                    &arg.display().to_string(),
                    reason,
                    &rules,
                ));
            }
        }
    }

    if args.json {
        match super::term::print_json(&out) {
            Ok(()) => {}
            Err(e) => return super::fail(e.into()),
        }
    } else {
        out!("{}", explain::render_text(&out));
    }
    if all_read {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The files an argument names: itself, or a directory's plain files in name order.
fn files_of(arg: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(arg).map_err(|e| unreadable_reason("Datei", &e))?;
    if !meta.is_dir() {
        return Ok(vec![arg.to_path_buf()]);
    }
    let entries = std::fs::read_dir(arg).map_err(|e| unreadable_reason("Verzeichnis", &e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| unreadable_reason("Verzeichnis", &e))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        // Follows symlinks: a link to a mail file counts, a link to a directory does not.
        let is_file = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file());
        if !hidden && is_file {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Reads one file, refusing oversized ones before reading them as the daemon does; with a
/// database connection, the facts come from there.
async fn explain_file(
    path: &Path,
    rules: &RuleSet,
    opts: &Options,
    db: Option<&mut sqlx::PgConnection>,
) -> Result<Explanation, crate::store::StoreError> {
    let name = path.display().to_string();
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => {
            return Ok(Explanation::unreadable(
                &name,
                unreadable_reason("Datei", &e),
                rules,
            ))
        }
    };
    if size > opts.limits.max_size as u64 {
        let err = crate::message::ParseError::TooLarge {
            size: usize::try_from(size).unwrap_or(usize::MAX),
            limit: opts.limits.max_size,
        };
        return Ok(Explanation::rejected(&name, &err, rules));
    }
    let raw = match std::fs::read(path) {
        Ok(raw) => raw,
        Err(e) => {
            return Ok(Explanation::unreadable(
                &name,
                unreadable_reason("Datei", &e),
                rules,
            ))
        }
    };
    let Some(conn) = db else {
        return Ok(explain::explain(&name, &raw, rules, opts));
    };
    let parsed = crate::message::parse(&raw, &opts.limits);
    let facts = match &parsed {
        Ok(mail) => {
            let to = crate::decide::ack_recipient(mail, &opts.own_addresses, rules);
            db_facts(conn, mail, to).await?
        }
        Err(_) => Facts::default(),
    };
    Ok(explain::explain_with_facts(
        &name,
        &raw,
        parsed.as_ref(),
        rules,
        opts,
        &facts,
    ))
}

/// The facts intake would look up for `mail`, in one read-only transaction.
async fn db_facts(
    conn: &mut sqlx::PgConnection,
    mail: &crate::message::ParsedMail,
    ack_to: Option<&crate::domain::Address>,
) -> Result<Facts, crate::store::StoreError> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    let mut writer = BatchWriter::read_only();
    let now = chrono::Utc::now();
    let facts = crate::intake::facts(&mut tx, &mut writer, mail, ack_to, now).await?;
    tx.rollback().await?;
    Ok(facts)
}

/// "Datei nicht gefunden", "Datei nicht lesbar: keine Berechtigung", …
fn unreadable_reason(what: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => format!("{what} nicht gefunden"),
        std::io::ErrorKind::PermissionDenied => format!("{what} nicht lesbar: keine Berechtigung"),
        _ => format!("{what} nicht lesbar: {e}"),
    }
}
