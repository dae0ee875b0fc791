//! Optional HTTP listener for operators: `/healthz`, `/readyz`, `/metrics` (Prometheus text).
//! Three fixed GET routes do not justify a web framework; this is a minimal HTTP/1.1 responder.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::app::App;
use crate::health::Role;

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0])
                .ok()?
                .install_recorder()
                .ok()?;
            crate::metrics::describe();
            Some(handle)
        })
        .as_ref()
}

pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    prometheus();
    TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "HTTP listener: cannot bind {addr} (port {}): {e}",
            addr.port()
        )
    })
}

pub async fn serve(listener: TcpListener, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => {
                if let Ok((sock, _)) = accepted {
                    let app = app.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(Duration::from_secs(10), handle(sock, app)).await;
                    });
                }
            }
        }
    }
}

async fn handle(mut sock: TcpStream, app: Arc<App>) -> std::io::Result<()> {
    let mut buf = vec![0u8; 2048];
    let mut n = 0;
    while n < buf.len() {
        let r = sock.read(&mut buf[n..]).await?;
        if r == 0 {
            break;
        }
        n += r;
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n")
            || buf[..n].windows(2).any(|w| w == b"\n\n")
        {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path) {
        ("GET", "/healthz") => (200, "text/plain", "ok\n".to_string()),
        ("GET", "/readyz") => readiness(&app).await,
        ("GET", "/metrics") => (
            200,
            "text/plain; version=0.0.4",
            prometheus().map(|h| h.render()).unwrap_or_default(),
        ),
        ("GET", _) => (404, "text/plain", "not found\n".to_string()),
        _ => (405, "text/plain", "method not allowed\n".to_string()),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(resp.as_bytes()).await?;
    sock.shutdown().await
}

async fn readiness(app: &App) -> (u16, &'static str, String) {
    let db = tokio::time::timeout(
        Duration::from_secs(3),
        sqlx::query("SELECT 1").execute(&app.pool),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    let role = app.health.role();
    let imap = app.health.imap_connected() || role == Role::Standby;
    let outbox_ok = match crate::store::outbox::counts(&app.pool).await {
        Ok(c) => c.stuck == 0,
        Err(_) => false,
    };
    let ok = db && imap && outbox_ok;
    let body = format!(
        "database: {}\nimap: {}\nrole: {:?}\noutbox: {}\n",
        if db { "ok" } else { "unreachable" },
        if imap { "ok" } else { "no session" },
        role,
        if outbox_ok { "ok" } else { "stuck" }
    );
    (if ok { 200 } else { 503 }, "text/plain", body)
}
