//! The SMTP edge: builds outgoing messages (acknowledgements, digests) as raw bytes for the
//! outbox, and sends raw outbox rows through lettre with rustls.

use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox as LettreMailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::Address as LettreAddress;
use rustls::pki_types::ServerName;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use thiserror::Error;

use crate::config::{SmtpSettings, TlsMode};

#[derive(Debug, Error)]
pub enum SmtpError {
    #[error("SMTP-Einrichtung: {0}")]
    Setup(String),
    #[error("ungültige Adresse {0:?}")]
    Address(String),
    #[error("Nachricht nicht erstellbar: {0}")]
    Build(String),
}

/// Result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted {
        code: String,
    },
    Transient {
        code: Option<String>,
        message: String,
    },
    Permanent {
        code: Option<String>,
        message: String,
    },
}

/// Sends outbox rows over connections of its own: one per sending worker, kept open between
/// mails. lettre's pool is not used because its sockets keep Nagle's algorithm on: lettre writes
/// a message and its final `.` in two writes, so every send waited for the server's delayed ACK
/// (~40 ms on Linux) — 78 sends/s over 4 connections. Our sockets set `TCP_NODELAY`, and a
/// connection that was idle only briefly is reused without a `NOOP` round trip.
pub struct Sender {
    endpoint: Endpoint,
    idle: std::sync::Mutex<Vec<IdleConnection>>,
    max_idle: usize,
    from: LettreAddress,
    timeout: Duration,
}

/// Where and how to connect.
struct Endpoint {
    host: String,
    port: u16,
    security: Security,
    hello: ClientId,
    credentials: Option<Credentials>,
}

enum Security {
    Plain,
    Starttls(TlsParameters),
    Implicit(Arc<rustls::ClientConfig>, ServerName<'static>),
}

struct IdleConnection {
    conn: AsyncSmtpConnection,
    since: Instant,
}

/// A connection idle longer than this is tested with `NOOP` before it carries a mail.
const TEST_AFTER_IDLE: Duration = Duration::from_secs(5);
/// … and one idle longer than this is closed: servers drop idle clients (Postfix after 300 s).
const CLOSE_AFTER_IDLE: Duration = Duration::from_secs(60);

impl Sender {
    pub fn new(s: &SmtpSettings) -> Result<Sender, SmtpError> {
        crate::tls::install_crypto_provider();
        let security = match s.tls {
            TlsMode::None => Security::Plain,
            TlsMode::Starttls => Security::Starttls(starttls_parameters(s)?),
            TlsMode::Implicit => {
                let config = crate::tls::client_config(s.ca_file.as_deref())
                    .map_err(|e| SmtpError::Setup(e.to_string()))?;
                let name = crate::tls::server_name(&s.host)
                    .map_err(|e| SmtpError::Setup(e.to_string()))?;
                Security::Implicit(config, name)
            }
        };
        let credentials = match (&s.username, s.password.expose()) {
            (Some(u), Some(p)) => Some(Credentials::new(u.clone(), p.to_string())),
            _ => None,
        };
        let from = s
            .from
            .parse::<LettreAddress>()
            .map_err(|_| SmtpError::Address(s.from.clone()))?;
        Ok(Sender {
            endpoint: Endpoint {
                host: s.host.clone(),
                port: s.port,
                security,
                hello: ClientId::Domain(s.hello_name.clone()),
                credentials,
            },
            idle: std::sync::Mutex::new(Vec::new()),
            max_idle: s.parallel.max(1),
            from,
            timeout: Duration::from_secs(s.timeout_secs),
        })
    }

    /// One attempt to hand a raw message to the server.
    pub async fn send_raw(&self, recipient: &str, raw: &[u8]) -> SendOutcome {
        let to = match recipient.parse::<LettreAddress>() {
            Ok(a) => a,
            Err(_) => {
                return SendOutcome::Permanent {
                    code: None,
                    message: "invalid recipient address".into(),
                }
            }
        };
        let envelope = match lettre::address::Envelope::new(Some(self.from.clone()), vec![to]) {
            Ok(e) => e,
            Err(e) => {
                return SendOutcome::Permanent {
                    code: None,
                    message: e.to_string(),
                }
            }
        };
        let mut conn = match self.connection().await {
            Ok(c) => c,
            Err(outcome) => return outcome,
        };
        // Bound the whole exchange, not only the connection.
        let overall = self.timeout * 3 + Duration::from_secs((raw.len() / 500_000) as u64);
        match tokio::time::timeout(overall, conn.send(&envelope, raw)).await {
            Err(_) => SendOutcome::Transient {
                code: None,
                message: "timed out".into(),
            },
            Ok(Ok(resp)) => {
                self.put_back(conn);
                SendOutcome::Accepted {
                    code: resp.code().to_string(),
                }
            }
            // lettre has already quit and closed a connection whose exchange failed.
            Ok(Err(e)) => failure(&e),
        }
    }

    /// An idle connection that still works, or a new one.
    async fn connection(&self) -> Result<AsyncSmtpConnection, SendOutcome> {
        while let Some(mut idle) = self.take_idle() {
            let idle_for = idle.since.elapsed();
            if idle_for > CLOSE_AFTER_IDLE {
                let _ = tokio::time::timeout(self.timeout, idle.conn.quit()).await;
                continue;
            }
            if idle_for <= TEST_AFTER_IDLE
                || tokio::time::timeout(self.timeout, idle.conn.test_connected())
                    .await
                    .unwrap_or(false)
            {
                return Ok(idle.conn);
            }
        }
        match tokio::time::timeout(self.timeout * 2, self.connect()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(ConnectError::Io(e))) => Err(SendOutcome::Transient {
                code: None,
                message: format!("Verbindung: {e}"),
            }),
            Ok(Err(ConnectError::Smtp(e))) => Err(failure(&e)),
            Err(_) => Err(SendOutcome::Transient {
                code: None,
                message: "Verbindungsaufbau: Zeitüberschreitung".into(),
            }),
        }
    }

    fn take_idle(&self) -> Option<IdleConnection> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put_back(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle && !conn.has_broken() {
            idle.push(IdleConnection {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// TCP (without Nagle), TLS as configured, EHLO, AUTH.
    async fn connect(&self) -> Result<AsyncSmtpConnection, ConnectError> {
        let e = &self.endpoint;
        let tcp = tokio::net::TcpStream::connect((e.host.as_str(), e.port)).await?;
        tcp.set_nodelay(true)?;
        let mut conn = match &e.security {
            Security::Plain => {
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &e.hello).await?
            }
            Security::Starttls(params) => {
                let mut c =
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &e.hello).await?;
                c.starttls(params.clone(), &e.hello).await?;
                c
            }
            Security::Implicit(config, name) => {
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name.clone(), tcp)
                    .await?;
                AsyncSmtpConnection::connect_with_transport(Box::new(ImplicitTls(tls)), &e.hello)
                    .await?
            }
        };
        if let Some(credentials) = &e.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await?;
        }
        Ok(conn)
    }
}

/// A TLS stream from the first byte (SMTPS), in the shape lettre takes an existing stream.
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl lettre::transport::smtp::client::AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Connecting fails in our socket code or in lettre's SMTP exchange.
enum ConnectError {
    Io(std::io::Error),
    Smtp(lettre::transport::smtp::Error),
}

impl From<std::io::Error> for ConnectError {
    fn from(e: std::io::Error) -> Self {
        ConnectError::Io(e)
    }
}

impl From<lettre::transport::smtp::Error> for ConnectError {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        ConnectError::Smtp(e)
    }
}

/// lettre's TLS parameters for STARTTLS: the configured CA file, else the platform's roots.
fn starttls_parameters(s: &SmtpSettings) -> Result<TlsParameters, SmtpError> {
    let mut b = TlsParameters::builder(s.host.clone());
    if let Some(ca) = &s.ca_file {
        let pem = std::fs::read(ca).map_err(|e| {
            SmtpError::Setup(format!("CA-Datei {} nicht lesbar: {e}", ca.display()))
        })?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| SmtpError::Setup(format!("CA-Datei {}: {e}", ca.display())))?;
        b = b
            .add_root_certificate(cert)
            .certificate_store(CertificateStore::None);
    }
    b.build_rustls()
        .map_err(|e| SmtpError::Setup(format!("TLS-Einrichtung: {e}")))
}

/// A failed attempt: permanent only when the server said so with a 5xx.
fn failure(e: &lettre::transport::smtp::Error) -> SendOutcome {
    let code = e.status().map(|c| c.to_string());
    let message = e.to_string();
    if e.is_permanent() {
        SendOutcome::Permanent { code, message }
    } else {
        // Transient codes, and connection/TLS/timeouts, are worth another try.
        SendOutcome::Transient { code, message }
    }
}

/// What an outgoing mail needs besides its text.
pub struct Outgoing<'a> {
    pub from: &'a str,
    pub from_name: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    /// `auto-replied` for acknowledgements, `auto-generated` for digests.
    pub auto_submitted: &'a str,
    pub date: DateTime<Utc>,
}

/// Renders an outgoing mail to RFC 5322 bytes. Every header value is sanitised: nothing from
/// an incoming mail can inject a header.
pub fn build(o: &Outgoing<'_>) -> Result<Vec<u8>, SmtpError> {
    let from_addr = o
        .from
        .parse::<LettreAddress>()
        .map_err(|_| SmtpError::Address(o.from.to_string()))?;
    let to_addr =
        o.to.parse::<LettreAddress>()
            .map_err(|_| SmtpError::Address(o.to.to_string()))?;
    let clean = crate::message::sanitize_header_value;
    let mut b = lettre::Message::builder()
        .from(LettreMailbox::new(Some(clean(o.from_name)), from_addr))
        .to(LettreMailbox::new(None, to_addr))
        .subject(clean(o.subject))
        .message_id(Some(clean(o.message_id)))
        .date(o.date.into())
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            o.auto_submitted.to_string(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
            "All".to_string(),
        ));
    if let Some(irt) = o.in_reply_to {
        b = b.in_reply_to(clean(irt));
    }
    let refs: Vec<String> = o
        .references
        .iter()
        .map(|r| clean(r))
        .filter(|r| r.starts_with('<') && r.ends_with('>') && !r.contains(' '))
        .collect();
    if !refs.is_empty() {
        b = b.references(refs.join(" "));
    }
    let msg = b
        .header(ContentType::TEXT_PLAIN)
        .body(o.body.to_string())
        .map_err(|e| SmtpError::Build(e.to_string()))?;
    Ok(msg.formatted())
}

/// Our Message-ID for an outbox row: recognisable, so a repeat after a crash is visible.
pub fn outbox_message_id(kind: crate::domain::OutboxKind, id: i64, domain: &str) -> String {
    let prefix = crate::domain::OWN_MESSAGE_ID_PREFIX;
    format!("{prefix}{kind}-{id}@{domain}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_message_has_loop_headers_and_no_injection() {
        let raw = build(&Outgoing {
            from: "ombudsstelle@jobcenter.test",
            from_name: "Ombudsstelle",
            to: "buerger@mail.test",
            subject: "[KRM-2026-00001] Eingang\r\nBcc: x@evil.test",
            body: "Text\n",
            message_id: "<krm-ack-1@jobcenter.test>",
            in_reply_to: Some("<a@mail.test>"),
            references: &["<a@mail.test>".to_string(), "bad\r\nX: y".to_string()],
            auto_submitted: "auto-replied",
            date: Utc::now(),
        })
        .unwrap();
        let s = String::from_utf8_lossy(&raw);
        assert!(s.contains("Auto-Submitted: auto-replied\r\n"), "{s}");
        assert!(s.contains("X-Auto-Response-Suppress: All\r\n"));
        assert!(s.contains("Message-ID: <krm-ack-1@jobcenter.test>\r\n"));
        assert!(s.contains("In-Reply-To: <a@mail.test>\r\n"));
        assert!(!s.contains("\r\nBcc:"), "{s}");
        assert!(!s.contains("\r\nX: y"), "{s}");
    }
}
