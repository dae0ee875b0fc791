//! Logging setup. Privacy by default: at info and above, lines carry case numbers, UIDs, rule
//! ids, sizes and counts only. Libraries that log protocol traffic (and with it credentials or
//! mail data) are held at warn whatever the configured filter says.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

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

pub fn init(level: &str, format: LogFormat) {
    let directives = filter_directives(level);
    let filter = EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| EnvFilter::new(filter_directives("info")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
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
}
