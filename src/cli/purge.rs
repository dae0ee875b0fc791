//! `krm-intake purge`: retention by hand. Removes the personal data of cases that ended before a
//! bound (never without one), replays a deletion log after a restore, or prints the log.
//! The logic lives in `crate::purge`; this is arguments and German output.

use chrono::{DateTime, NaiveDate, Utc};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::term::{errln, outln};

use crate::purge::{self, PurgeReport, Selection};

#[derive(Debug, clap::Args)]
pub struct PurgeArgs {
    /// Vorgänge, die vor diesem Tag abgeschlossen (oder verworfen/zusammengeführt) wurden
    /// (JJJJ-MM-TT, Berliner Zeit).
    #[arg(long, value_name = "DATUM", conflicts_with_all = ["older_than", "replay", "show_log"])]
    pub closed_before: Option<NaiveDate>,
    /// Vorgänge, die länger als diese Dauer abgeschlossen sind, z. B. 730d, 2y, 18m, 6w.
    #[arg(long, value_name = "DAUER", conflicts_with_all = ["replay", "show_log"])]
    pub older_than: Option<String>,
    /// Nach dem Einspielen einer Sicherung: jeden Vorgang aus diesem Export des Löschprotokolls
    /// (`purge --show-log`) oder Journal-Auszug erneut löschen; `-` liest die Standardeingabe.
    #[arg(long, value_name = "DATEI", conflicts_with = "show_log")]
    pub replay: Option<PathBuf>,
    /// Das Löschprotokoll ausgeben (tabulatorgetrennt: Vorgangsnummer, Zeit, was gelöscht wurde).
    #[arg(long)]
    pub show_log: bool,
    /// Nur auflisten, was gelöscht würde; nichts ändern.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(cli: &super::Cli, args: &PurgeArgs) -> ExitCode {
    let now = Utc::now();
    // Refuse before touching anything: a purge needs an explicit bound.
    let bound = match bound_of(args, now) {
        Ok(b) => b,
        Err(msg) => {
            errln!("krm-intake purge: {msg}");
            return ExitCode::from(1);
        }
    };
    let (settings, pool) = match super::settings_and_db(cli).await {
        Ok(v) => v,
        Err(c) => return c,
    };
    let selection = match bound {
        Bound::ShowLog => return show_log(&pool).await,
        Bound::Selection(s) => s,
    };
    let imap = settings.require_imap().ok().map(|_| &settings.imap);
    let actor = super::os_user();
    if !args.dry_run {
        purge::access_log_pass(&pool, settings.retention.access_log_days, now).await;
    }
    match purge::run(&pool, imap, &selection, args.dry_run, &actor, now, None).await {
        Ok(r) => {
            print_report(&r, &selection, imap.is_some());
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e.into()),
    }
}

enum Bound {
    Selection(Selection),
    ShowLog,
}

fn bound_of(args: &PurgeArgs, now: DateTime<Utc>) -> Result<Bound, String> {
    if args.show_log {
        return Ok(Bound::ShowLog);
    }
    if let Some(d) = args.closed_before {
        return Selection::closed_before(d, now)
            .map(Bound::Selection)
            .map_err(|e| e.to_string());
    }
    if let Some(s) = &args.older_than {
        let d = crate::config::parse_duration(s)?;
        return Selection::older_than(d, now)
            .map(Bound::Selection)
            .map_err(|e| e.to_string());
    }
    if let Some(path) = &args.replay {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())
                .map_err(|e| format!("Standardeingabe: {e}"))?
        } else {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
        };
        let numbers = purge::case_numbers_in(&text);
        if numbers.is_empty() {
            return Err(format!(
                "{}: keine Vorgangsnummern (KRM-JJJJ-NNNNN) gefunden",
                path.display()
            ));
        }
        return Ok(Bound::Selection(Selection::Replay(numbers)));
    }
    Err(
        "ohne Grenze wird nichts gelöscht: --closed-before DATUM, --older-than DAUER \
         (z. B. 730d, 2y) oder --replay DATEI angeben (--dry-run zeigt vorher, was ginge)"
            .into(),
    )
}

async fn show_log(pool: &sqlx::PgPool) -> ExitCode {
    match crate::store::purge::log_entries(pool).await {
        Ok(rows) => {
            outln!("case_number\tdeleted_at\twhat");
            for r in rows {
                outln!(
                    "{}\t{}\t{}",
                    r.case_number,
                    r.deleted_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    r.what.replace(['\t', '\n'], " ")
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e.into()),
    }
}

fn day(ts: Option<DateTime<Utc>>) -> String {
    ts.map(|t| crate::calendar::berlin_date(t).to_string())
        .unwrap_or_else(|| "–".into())
}

fn print_report(r: &PurgeReport, selection: &Selection, imap_configured: bool) {
    if let Selection::Replay(_) = selection {
        for n in &r.unknown {
            outln!("{n}: in dieser Datenbank unbekannt; nichts zu tun.");
        }
        for n in &r.already_purged {
            outln!("{n}: bereits bereinigt; Serverkopien werden erneut gesucht.");
        }
    }
    let verb = if r.dry_run {
        "würde bereinigt"
    } else {
        "bereinigt"
    };
    for c in &r.cases {
        let m = &c.removal;
        outln!(
            "{}  {} {}  {verb}: Mails {}, Anhänge {}, Verlaufseinträge {}, ausgehende Mails {}, Quarantäneeinträge {}, Serverkopien {}",
            c.number,
            c.status.label(),
            day(c.ended_at),
            m.messages,
            m.attachments,
            m.events,
            m.outbox,
            m.quarantine,
            m.server_copies
        );
        if matches!(selection, Selection::Replay(_)) && !c.status.is_ended() {
            outln!(
                "  Hinweis: in der wiederhergestellten Datenbank {}; bereinigt, weil das Löschprotokoll es verlangt.",
                c.status.label()
            );
        }
    }
    if r.dry_run {
        outln!(
            "Probelauf: Vorgänge, die bereinigt würden: {}; aus früheren Läufen ausstehende Serverkopien: {}. Nichts wurde geändert.",
            r.cases.len(),
            r.pending_before
        );
        return;
    }
    outln!(
        "Bereinigte Vorgänge: {} (Statistikdaten bleiben erhalten, Löschprotokoll geschrieben).",
        r.cases.len()
    );
    match &r.server {
        Some(s) => {
            outln!(
                "Mailserver: Serverkopien gelöscht: {}, nicht mehr vorhanden: {}, noch ausstehend: {}.",
                s.deleted, s.not_found, s.pending
            );
            if let Some(e) = &s.error {
                outln!(
                    "Warnung: Mailserver-Bereinigung unterbrochen ({e}); die ausstehenden Kopien werden beim nächsten Lauf gelöscht."
                );
            }
        }
        None if !imap_configured => outln!(
            "Warnung: IMAP ist nicht konfiguriert; Serverkopien bleiben vorgemerkt, bis ein Lauf mit IMAP-Zugang sie löscht."
        ),
        None => {}
    }
}
