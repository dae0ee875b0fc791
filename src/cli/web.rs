//! `krm-intake web`: the staff desk in the browser until SIGTERM/SIGINT. Needs only the
//! database; `[web]` configures address, TLS and session lifetimes.

use super::{Level, Review};
use std::process::ExitCode;

pub async fn run(cli: &super::Cli) -> ExitCode {
    let s = match super::settings_for_service(cli) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let url = match super::database_url(&s) {
        Ok(u) => u,
        Err(c) => return c,
    };
    let pool = match crate::store::connect(url, s.database.max_connections).await {
        Ok(p) => p,
        Err(e) => return super::fail(e.into()),
    };
    match crate::web::serve(&s, pool.clone(), crate::daemon::shutdown_signal()).await {
        Ok(()) => {
            pool.close().await;
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e),
    }
}

/// `check` (and `run`, `web` before they start): what `[web]` needs beyond parsing — the
/// certificate and key readable and matching; a warning for plain http beyond loopback.
pub(crate) fn check(s: &crate::config::Settings, r: &mut Review) {
    match (&s.web.tls_cert, &s.web.tls_key) {
        (Some(cert), Some(key)) => match crate::web::tls::server_config(cert, key) {
            Ok(_) => r.push(
                Level::Info,
                format!("Schreibtisch: TLS-Zertifikat {} in Ordnung", cert.display()),
            ),
            Err(e) => r.push(Level::Fault, format!("Fehler: {e:#}")),
        },
        _ => {
            if s.web
                .base_url
                .as_deref()
                .is_some_and(|u| u.starts_with("http://"))
                && !crate::config::is_loopback_host(&s.web.listen.ip().to_string())
            {
                r.push(
                    Level::Warning,
                    format!(
                        "Warnung: web.base_url ist http:// und web.listen ({}) nicht nur lokal: \
                         Passwörter gingen unverschlüsselt übers Netz. TLS (tls_cert/tls_key) \
                         oder einen Reverse-Proxy mit https davor verwenden.",
                        s.web.listen
                    ),
                );
            }
        }
    }
}
