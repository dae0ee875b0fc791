//! Logging setup. Privacy by default: at info and above, lines carry case numbers, UIDs, rule
//! ids, sizes and counts only. Libraries that log protocol traffic (and with it credentials or
//! mail data) are held at warn whatever the configured filter says.

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing::Level;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{filter, EnvFilter, Layer};

/// Targets that may log protocol traffic: never below warn.
const QUIET: &[&str] = &[
    "async_imap",
    "imap_proto",
    "lettre",
    "sqlx",
    "rustls",
    "tokio_rustls",
    "notify",
    "mio",
];

pub fn filter_directives(level: &str) -> String {
    let mut d = level.trim().to_string();
    if d.is_empty() {
        d = "info".into();
    }
    for t in QUIET {
        d.push_str(&format!(",{t}=warn"));
    }
    d
}

/// True for targets of the protocol libraries (the crate itself and every module below it).
fn is_quiet(target: &str) -> bool {
    QUIET.iter().any(|q| {
        target
            .strip_prefix(q)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// Colour codes only on a terminal, and not there either when `NO_COLOR` is set
/// (<https://no-color.org>): a file, a pipe or the journal gets plain text.
fn colour(stderr_is_terminal: bool) -> bool {
    stderr_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn init(level: &str, format: LogFormat) {
    let directives = filter_directives(level);
    let filter = EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| EnvFilter::new(filter_directives("info")));
    // A hard cap after the configured filter: a directive naming a module below a quiet crate
    // (`lettre::transport=trace`) is more specific than the appended `lettre=warn` and would win
    // inside the EnvFilter; here nothing below warn from those crates gets through.
    let cap = filter::filter_fn(|meta| !is_quiet(meta.target()) || *meta.level() <= Level::WARN);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour(std::io::stderr().is_terminal()))
        .with_target(false);
    let fmt = match format {
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt.with_filter(cap))
        .try_init();
    let lc = level.to_ascii_lowercase();
    if lc.contains("debug") || lc.contains("trace") {
        tracing::warn!("debug logging is on: log lines may contain mail addresses and subjects (social data); never at info");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn protocol_libraries_stay_at_warn() {
        let d = super::filter_directives("debug,lettre=trace");
        assert!(d.ends_with(",mio=warn"));
        let pos_trace = d.find("lettre=trace").unwrap();
        let pos_warn = d.rfind("lettre=warn").unwrap();
        assert!(pos_warn > pos_trace);
    }

    #[test]
    fn no_colour_codes_outside_a_terminal() {
        assert!(!super::colour(false));
    }

    #[test]
    fn quiet_targets_cover_their_modules_only() {
        assert!(super::is_quiet("lettre"));
        assert!(super::is_quiet("lettre::transport::smtp::client"));
        assert!(super::is_quiet("async_imap::imap_stream"));
        assert!(super::is_quiet("sqlx::query"));
        assert!(!super::is_quiet("lettre_like"));
        assert!(!super::is_quiet("krm_intake::scan"));
    }
}
