//! `krm-intake web`: the staff desk in the browser until SIGTERM/SIGINT. Needs only the
//! database; `[web]` configures address, TLS and session lifetimes.

use std::process::ExitCode;

pub async fn run(cli: &super::Cli) -> ExitCode {
    let s = match super::load_settings(cli) {
        Ok(s) => s,
        Err(c) => return c,
    };
    crate::telemetry::init(&s.log.level, s.log.format);
    for w in &s.warnings {
        tracing::warn!("{w}");
    }
    let url = match s.require_database() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("krm-intake: configuration error: {e}");
            return ExitCode::from(2);
        }
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

/// `check`: what `[web]` needs beyond parsing (certificate and key readable and matching).
pub fn check(s: &crate::config::Settings) -> bool {
    match (&s.web.tls_cert, &s.web.tls_key) {
        (Some(cert), Some(key)) => match crate::web::tls::server_config(cert, key) {
            Ok(_) => {
                println!("Schreibtisch: TLS-Zertifikat {} in Ordnung", cert.display());
                true
            }
            Err(e) => {
                println!("Fehler: {e:#}");
                false
            }
        },
        _ => {
            if s.web
                .base_url
                .as_deref()
                .is_some_and(|u| u.starts_with("http://"))
                && !crate::config::is_loopback_host(&s.web.listen.ip().to_string())
            {
                println!(
                    "Warnung: web.base_url ist http:// und web.listen ({}) nicht nur lokal: \
                     Passwörter gingen unverschlüsselt übers Netz. TLS (tls_cert/tls_key) oder \
                     einen Reverse-Proxy mit https davor verwenden.",
                    s.web.listen
                );
            }
            true
        }
    }
}
