//! The SMTP edge: builds outgoing messages (acknowledgements, digests) as raw bytes for the
//! outbox, and sends raw outbox rows through lettre with rustls.

use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox as LettreMailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::PoolConfig;
use lettre::{Address as LettreAddress, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;
use thiserror::Error;

use crate::config::{SmtpSettings, TlsMode};

#[derive(Debug, Error)]
pub enum SmtpError {
    #[error("SMTP setup: {0}")]
    Setup(String),
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("building message: {0}")]
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

pub struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: LettreAddress,
    timeout: Duration,
}

impl Sender {
    pub fn new(s: &SmtpSettings) -> Result<Sender, SmtpError> {
        crate::tls::install_crypto_provider();
        let tls_params = || -> Result<TlsParameters, SmtpError> {
            let mut b = TlsParameters::builder(s.host.clone());
            if let Some(ca) = &s.ca_file {
                let pem = std::fs::read(ca).map_err(|e| {
                    SmtpError::Setup(format!("cannot read CA file {}: {e}", ca.display()))
                })?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| SmtpError::Setup(format!("CA file {}: {e}", ca.display())))?;
                b = b
                    .add_root_certificate(cert)
                    .certificate_store(CertificateStore::None);
            }
            b.build_rustls()
                .map_err(|e| SmtpError::Setup(e.to_string()))
        };
        let tls = match s.tls {
            TlsMode::None => Tls::None,
            TlsMode::Starttls => Tls::Required(tls_params()?),
            TlsMode::Implicit => Tls::Wrapper(tls_params()?),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
            .port(s.port)
            .tls(tls)
            .hello_name(ClientId::Domain(s.hello_name.clone()))
            .timeout(Some(Duration::from_secs(s.timeout_secs)))
            // One connection per sending worker stays open between mails.
            .pool_config(PoolConfig::new().max_size(s.parallel as u32));
        if let (Some(u), Some(p)) = (&s.username, s.password.expose()) {
            b = b.credentials(Credentials::new(u.clone(), p.to_string()));
        }
        let from = s
            .from
            .parse::<LettreAddress>()
            .map_err(|_| SmtpError::Address(s.from.clone()))?;
        Ok(Sender {
            transport: b.build(),
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
        // lettre's own timeout covers only the connection; bound the whole exchange.
        let overall = self.timeout * 3 + Duration::from_secs((raw.len() / 500_000) as u64);
        match tokio::time::timeout(overall, self.transport.send_raw(&envelope, raw)).await {
            Err(_) => SendOutcome::Transient {
                code: None,
                message: "timed out".into(),
            },
            Ok(Ok(resp)) => SendOutcome::Accepted {
                code: resp.code().to_string(),
            },
            Ok(Err(e)) => {
                let code = e.status().map(|c| c.to_string());
                let message = e.to_string();
                if e.is_permanent() {
                    SendOutcome::Permanent { code, message }
                } else {
                    // Transient codes, and connection/TLS/timeouts, are worth another try.
                    SendOutcome::Transient { code, message }
                }
            }
        }
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
