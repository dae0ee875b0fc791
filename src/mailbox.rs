//! The IMAP edge: connect (implicit TLS, STARTTLS or plain on loopback), select, list by UID,
//! fetch, move, IDLE. Every command runs under a timeout because async-imap has none of its own;
//! callers treat any error as "drop the session and reconnect".

use async_imap::types::Fetch;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{ImapSettings, TlsMode};
use crate::tls;

#[derive(Debug, Error)]
pub enum ImapError {
    #[error(
        "Keine Verbindung zum IMAP-Server {host}:{port} (Prüfen: Läuft der Server? Stimmen imap.host und imap.port?)"
    )]
    Connect {
        host: String,
        port: u16,
        source: std::io::Error,
    },
    #[error("IMAP-TLS: {0}")]
    Tls(String),
    #[error("IMAP-Anmeldung mit imap.username und imap.password fehlgeschlagen: {message}")]
    Login { message: String },
    #[error("IMAP {0}: keine Antwort des Servers (Zeit überschritten)")]
    Timeout(&'static str),
    #[error("IMAP {what}: {source}")]
    Protocol {
        what: &'static str,
        source: async_imap::error::Error,
    },
    #[error("IMAP-Ordner {folder:?}: {message}")]
    Folder { folder: String, message: String },
    #[error(
        "Der IMAP-Server kann weder UIDPLUS noch MOVE: eine einzelne Mail lässt sich nicht sicher aus dem Postfach nehmen"
    )]
    NoSafeMove,
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync + Debug> Io for T {}
type Stream = Box<dyn Io>;
type Session = async_imap::Session<Stream>;

#[derive(Debug, Clone, Copy, Default)]
pub struct Capabilities {
    pub idle: bool,
    pub r#move: bool,
    pub uidplus: bool,
}

/// Size and receipt time of a mail, fetched before its body.
#[derive(Debug, Clone)]
pub struct MailMeta {
    pub uid: u32,
    pub size: usize,
    pub internal_date: Option<DateTime<Utc>>,
}

/// The header block of a mail and its receipt time, fetched before (and often instead of) its
/// body.
#[derive(Debug, Clone)]
pub struct MailHeader {
    pub uid: u32,
    pub internal_date: Option<DateTime<Utc>>,
    pub header: Vec<u8>,
}

pub struct Mailbox {
    session: Session,
    caps: Capabilities,
    timeout: Duration,
    selected: Option<String>,
    /// A folder selected ahead ([`Mailbox::select_ahead`]) and its UIDVALIDITY, until taken.
    ahead: Option<(String, u32)>,
}

/// A fetched mail's raw bytes, left in the server's response as it was read: not copied (a
/// big mail is held once). Reads as `[u8]`.
pub struct RawMail(Fetch);

impl std::ops::Deref for RawMail {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // Only built from a response that has a body (`fetch_bodies`).
        self.0.body().unwrap_or_default()
    }
}

/// Outcome of one IDLE period.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    NewData,
    Timeout,
    Interrupted,
}

async fn timed<T, E>(
    d: Duration,
    what: &'static str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError>
where
    E: Into<async_imap::error::Error>,
{
    match tokio::time::timeout(d, fut).await {
        Err(_) => Err(ImapError::Timeout(what)),
        Ok(Err(e)) => Err(ImapError::Protocol {
            what,
            source: e.into(),
        }),
        Ok(Ok(v)) => Ok(v),
    }
}

/// The longest sequence set one command carries: RFC 7162 asks servers to accept command
/// lines of at least 8,192 octets; a scattered set of 2,000 UIDs could be longer.
const MAX_SET_LEN: usize = 4000;

/// UIDs as IMAP sequence sets with ranges, each at most `max_len` octets (a single range is
/// never split), in ascending order.
pub fn uid_sets(uids: &[u32], max_len: usize) -> Vec<String> {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::new();
    let mut set = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        let range = if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        };
        if !set.is_empty() && set.len() + 1 + range.len() > max_len {
            out.push(std::mem::take(&mut set));
        }
        if !set.is_empty() {
            set.push(',');
        }
        set.push_str(&range);
        i += 1;
    }
    if !set.is_empty() {
        out.push(set);
    }
    out
}

fn quote(folder: &str) -> String {
    format!("\"{}\"", folder.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Mailbox {
    pub async fn connect(s: &ImapSettings) -> Result<Mailbox, ImapError> {
        let t = Duration::from_secs(s.timeout_secs);
        let tcp = tokio::time::timeout(t, TcpStream::connect((s.host.as_str(), s.port)))
            .await
            .map_err(|_| ImapError::Timeout("connect"))?
            .map_err(|source| ImapError::Connect {
                host: s.host.clone(),
                port: s.port,
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let client = match s.tls {
            TlsMode::None => {
                let mut c = async_imap::Client::new(Box::new(tcp) as Stream);
                greeting(&mut c, t).await?;
                c
            }
            TlsMode::Implicit => {
                let tls = wrap_tls(tcp, s).await?;
                let mut c = async_imap::Client::new(Box::new(tls) as Stream);
                greeting(&mut c, t).await?;
                c
            }
            TlsMode::Starttls => {
                let mut c = async_imap::Client::new(tcp);
                greeting(&mut c, t).await?;
                timed(t, "STARTTLS", c.run_command_and_check_ok("STARTTLS", None)).await?;
                let tcp = c.into_inner();
                let tls = wrap_tls(tcp, s).await?;
                async_imap::Client::new(Box::new(tls) as Stream)
            }
        };
        let login = tokio::time::timeout(
            t,
            client.login(&s.username, s.password.expose().unwrap_or("")),
        )
        .await
        .map_err(|_| ImapError::Timeout("LOGIN"))?;
        let mut session = login.map_err(|(e, _)| ImapError::Login {
            message: login_message(&e),
        })?;
        let caps = timed(t, "CAPABILITY", session.capabilities()).await?;
        let caps = Capabilities {
            idle: caps.has_str("IDLE"),
            r#move: caps.has_str("MOVE"),
            uidplus: caps.has_str("UIDPLUS"),
        };
        Ok(Mailbox {
            session,
            caps,
            timeout: t,
            selected: None,
            ahead: None,
        })
    }

    pub fn capabilities(&self) -> Capabilities {
        self.caps
    }

    /// Selects `folder` and returns its UIDVALIDITY.
    pub async fn select(&mut self, folder: &str) -> Result<u32, ImapError> {
        self.open(folder, false).await
    }

    /// Selects `folder` for a pass about to start (SELECT reads no mail and changes none), so
    /// that the pass's [`Mailbox::select_once`] need not wait for it. A failure is left for
    /// that one to report, in its place among the pass's checks.
    pub async fn select_ahead(&mut self, folder: &str) {
        if let Ok(v) = self.open(folder, false).await {
            self.ahead = Some((folder.to_string(), v));
        }
    }

    /// Selects `folder`, or takes the selection [`Mailbox::select_ahead`] made of it if nothing
    /// else was opened since; its UIDVALIDITY.
    pub async fn select_once(&mut self, folder: &str) -> Result<u32, ImapError> {
        match self.ahead.take() {
            Some((f, v)) if f == folder && self.selected.as_deref() == Some(folder) => Ok(v),
            _ => self.select(folder).await,
        }
    }

    /// Opens `folder` read-only (EXAMINE) and returns its UIDVALIDITY: nothing done while it is
    /// open can change a flag or remove a mail there.
    pub async fn examine(&mut self, folder: &str) -> Result<u32, ImapError> {
        self.open(folder, true).await
    }

    /// SELECT or EXAMINE `folder`; its UIDVALIDITY.
    async fn open(&mut self, folder: &str, read_only: bool) -> Result<u32, ImapError> {
        self.ahead = None;
        let (what, opened) = if read_only {
            (
                "EXAMINE",
                tokio::time::timeout(self.timeout, self.session.examine(folder)).await,
            )
        } else {
            (
                "SELECT",
                tokio::time::timeout(self.timeout, self.session.select(folder)).await,
            )
        };
        let mb = opened
            .map_err(|_| ImapError::Timeout(what))?
            .map_err(|e| ImapError::Folder {
                folder: folder.to_string(),
                message: e.to_string(),
            })?;
        self.selected = Some(folder.to_string());
        Ok(mb.uid_validity.unwrap_or(0))
    }

    /// Whether `folder` exists on the server (LIST).
    pub async fn folder_exists(&mut self, folder: &str) -> Result<bool, ImapError> {
        let names: Vec<_> = timed(self.timeout, "LIST", async {
            let stream = self.session.list(Some(""), Some(folder)).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        Ok(names.iter().any(|n| n.name() == folder))
    }

    /// `UID FETCH items` of these UIDs, every response collected (none asked, none sent).
    async fn uid_fetch_all(
        &mut self,
        uids: &[u32],
        items: &str,
        what: &'static str,
        t: Duration,
    ) -> Result<Vec<Fetch>, ImapError> {
        let mut all = Vec::new();
        for set in uid_sets(uids, MAX_SET_LEN) {
            let part = timed(t, what, async {
                let s = self.session.uid_fetch(&set, items).await?;
                s.try_collect::<Vec<_>>().await
            })
            .await?;
            all.extend(part);
        }
        Ok(all)
    }

    /// Header blocks (their first 64 KiB: a header block is a few KiB, and an oversized mail
    /// may be oversized by its header) and INTERNALDATEs, without setting \Seen.
    pub async fn fetch_headers(&mut self, uids: &[u32]) -> Result<Vec<MailHeader>, ImapError> {
        let fetched = self
            .uid_fetch_all(
                uids,
                "(UID INTERNALDATE BODY.PEEK[HEADER]<0.65536>)",
                "UID FETCH (header)",
                self.timeout,
            )
            .await?;
        let mut out: Vec<MailHeader> = fetched
            .iter()
            .filter_map(|f| {
                Some(MailHeader {
                    uid: f.uid?,
                    internal_date: f.internal_date().map(|d| d.with_timezone(&Utc)),
                    header: f.header()?.to_vec(),
                })
            })
            .collect();
        out.sort_by_key(|m| m.uid);
        Ok(out)
    }

    /// Creates `folder` unless it exists.
    pub async fn ensure_folder(&mut self, folder: &str) -> Result<(), ImapError> {
        let names: Vec<_> = timed(self.timeout, "LIST", async {
            let stream = self.session.list(Some(""), Some(folder)).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        if names.iter().any(|n| n.name() == folder) {
            return Ok(());
        }
        tokio::time::timeout(self.timeout, self.session.create(folder))
            .await
            .map_err(|_| ImapError::Timeout("CREATE"))?
            .map_err(|e| ImapError::Folder {
                folder: folder.to_string(),
                message: format!("cannot create: {e}"),
            })?;
        let _ = tokio::time::timeout(self.timeout, self.session.subscribe(folder)).await;
        Ok(())
    }

    /// Deletes `folder`. The service never calls this; tests use it to give a folder a new
    /// UIDVALIDITY.
    pub async fn delete_folder(&mut self, folder: &str) -> Result<(), ImapError> {
        if self.selected.as_deref() == Some(folder) {
            let _ = timed(self.timeout, "CLOSE", self.session.close()).await;
            self.selected = None;
        }
        timed(self.timeout, "DELETE", self.session.delete(folder)).await
    }

    /// Every UID in the selected folder, ascending (`UID SEARCH ALL`).
    pub async fn all_uids(&mut self) -> Result<Vec<u32>, ImapError> {
        let set = timed(self.timeout, "UID SEARCH", self.session.uid_search("ALL")).await?;
        let mut v: Vec<u32> = set.into_iter().collect();
        v.sort_unstable();
        Ok(v)
    }

    pub async fn search(&mut self, query: &str) -> Result<Vec<u32>, ImapError> {
        let set = timed(self.timeout, "UID SEARCH", self.session.uid_search(query)).await?;
        let mut v: Vec<u32> = set.into_iter().collect();
        v.sort_unstable();
        Ok(v)
    }

    pub async fn fetch_meta(&mut self, uids: &[u32]) -> Result<Vec<MailMeta>, ImapError> {
        let fetched = self
            .uid_fetch_all(
                uids,
                "(UID RFC822.SIZE INTERNALDATE)",
                "UID FETCH (size)",
                self.timeout,
            )
            .await?;
        let mut out: Vec<MailMeta> = fetched
            .iter()
            .filter_map(|f| {
                Some(MailMeta {
                    uid: f.uid?,
                    size: f.size.unwrap_or(0) as usize,
                    internal_date: f.internal_date().map(|d| d.with_timezone(&Utc)),
                })
            })
            .collect();
        out.sort_by_key(|m| m.uid);
        Ok(out)
    }

    /// Raw bodies without setting \Seen. The timeout grows with the amount requested.
    pub async fn fetch_bodies(
        &mut self,
        uids: &[u32],
        expected_bytes: usize,
    ) -> Result<Vec<(u32, RawMail)>, ImapError> {
        // Allow ~1 MB/s at worst on top of the base timeout.
        let t = self.timeout + Duration::from_secs((expected_bytes / 1_000_000) as u64);
        let fetched = self
            .uid_fetch_all(uids, "(UID BODY.PEEK[])", "UID FETCH (body)", t)
            .await?;
        Ok(fetched
            .into_iter()
            .filter_map(|f| match (f.uid, f.body().is_some()) {
                (Some(uid), true) => Some((uid, RawMail(f))),
                _ => None,
            })
            .collect())
    }

    /// Moves exactly these UIDs out of the selected folder: MOVE where available, else
    /// COPY + STORE \Deleted + UID EXPUNGE of exactly these UIDs (never a plain EXPUNGE).
    pub async fn move_uids(&mut self, uids: &[u32], target: &str) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        let sets = uid_sets(uids, MAX_SET_LEN);
        if self.caps.r#move {
            for set in &sets {
                timed(self.timeout, "UID MOVE", self.session.uid_mv(set, target)).await?;
            }
            return Ok(());
        }
        if !self.caps.uidplus {
            return Err(ImapError::NoSafeMove);
        }
        for set in &sets {
            timed(self.timeout, "UID COPY", self.session.uid_copy(set, target)).await?;
        }
        crate::failpoint::hit(crate::failpoint::AFTER_COPY_BEFORE_EXPUNGE);
        self.delete_uids(uids).await
    }

    pub async fn append(&mut self, folder: &str, raw: &[u8]) -> Result<(), ImapError> {
        self.append_at(folder, raw, None).await
    }

    /// APPEND with an explicit INTERNALDATE (the receipt time the daemon records).
    pub async fn append_at(
        &mut self,
        folder: &str,
        raw: &[u8],
        internal_date: Option<DateTime<chrono::FixedOffset>>,
    ) -> Result<(), ImapError> {
        let date = internal_date.map(|d| format!("\"{}\"", d.format("%d-%b-%Y %H:%M:%S %z")));
        timed(
            self.timeout + Duration::from_secs((raw.len() / 1_000_000) as u64),
            "APPEND",
            self.session.append(folder, None, date.as_deref(), raw),
        )
        .await
    }

    /// Finds UIDs in `folder` whose Message-ID header equals `message_id`.
    pub async fn find_by_message_id(
        &mut self,
        folder: &str,
        message_id: &str,
    ) -> Result<Vec<u32>, ImapError> {
        self.select(folder).await?;
        let q = format!("HEADER Message-ID {}", quote(message_id));
        self.search(&q).await
    }

    /// Removes exactly these UIDs from the selected folder (used by purge).
    pub async fn delete_uids(&mut self, uids: &[u32]) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        if !self.caps.uidplus {
            return Err(ImapError::NoSafeMove);
        }
        self.flag_deleted(uids).await?;
        for set in uid_sets(uids, MAX_SET_LEN) {
            timed(self.timeout, "UID EXPUNGE", async {
                let s = self.session.uid_expunge(&set).await?;
                s.try_collect::<Vec<_>>().await
            })
            .await?;
        }
        Ok(())
    }

    /// Sets `\Deleted` on exactly these UIDs of the selected folder, without expunging.
    pub async fn flag_deleted(&mut self, uids: &[u32]) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        for set in uid_sets(uids, MAX_SET_LEN) {
            timed(self.timeout, "UID STORE", async {
                let s = self
                    .session
                    .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                    .await?;
                s.try_collect::<Vec<_>>().await
            })
            .await?;
        }
        Ok(())
    }

    /// Waits in IDLE up to `max` or until `stop` resolves. The read timeout is lifted while
    /// idling (the wait is bounded by `max`); `DONE` runs under its own timeout.
    pub async fn idle(
        mut self,
        max: Duration,
        stop: impl Future<Output = ()>,
    ) -> Result<(Mailbox, Wake), ImapError> {
        // Notifications that arrived earlier are irrelevant: the caller re-scans by UID.
        while self.session.unsolicited_responses.try_recv().is_ok() {}
        let timeout = self.timeout;
        let caps = self.caps;
        let selected = self.selected.take();
        let ahead = self.ahead.take();
        let mut handle = self.session.idle();
        timed(timeout, "IDLE", handle.init()).await?;
        let wake = {
            let (wait, interrupt) = handle.wait_with_timeout(max);
            tokio::pin!(wait);
            tokio::pin!(stop);
            tokio::select! {
                r = &mut wait => match r {
                    Ok(async_imap::extensions::idle::IdleResponse::NewData(_)) => Wake::NewData,
                    Ok(async_imap::extensions::idle::IdleResponse::Timeout) => Wake::Timeout,
                    Ok(async_imap::extensions::idle::IdleResponse::ManualInterrupt) => Wake::Interrupted,
                    Err(e) => return Err(ImapError::Protocol { what: "IDLE", source: e }),
                },
                _ = &mut stop => {
                    drop(interrupt);
                    Wake::Interrupted
                }
            }
        };
        let session = timed(timeout, "DONE", handle.done()).await?;
        Ok((
            Mailbox {
                session,
                caps,
                timeout,
                selected,
                ahead,
            },
            wake,
        ))
    }

    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.session.logout()).await;
    }
}

async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Send + Debug>(
    c: &mut async_imap::Client<T>,
    t: Duration,
) -> Result<(), ImapError> {
    match tokio::time::timeout(t, c.read_response()).await {
        Err(_) => Err(ImapError::Timeout("greeting")),
        Ok(Err(e)) => Err(ImapError::Protocol {
            what: "greeting",
            source: e.into(),
        }),
        Ok(Ok(None)) => Err(ImapError::Protocol {
            what: "greeting",
            source: async_imap::error::Error::ConnectionLost,
        }),
        Ok(Ok(Some(_))) => Ok(()),
    }
}

async fn wrap_tls(
    tcp: TcpStream,
    s: &ImapSettings,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ImapError> {
    let config =
        tls::client_config(s.ca_file.as_deref()).map_err(|e| ImapError::Tls(e.to_string()))?;
    let name = tls::server_name(&s.host).map_err(|e| ImapError::Tls(e.to_string()))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    tokio::time::timeout(
        Duration::from_secs(s.timeout_secs),
        connector.connect(name, tcp),
    )
    .await
    .map_err(|_| ImapError::Timeout("TLS handshake"))?
    .map_err(|e| ImapError::Tls(e.to_string()))
}

/// The server's refusal text, without anything we sent (the password never appears in it).
fn login_message(e: &async_imap::error::Error) -> String {
    match e {
        async_imap::error::Error::No(m) | async_imap::error::Error::Bad(m) => server_text(m),
        other => other.to_string(),
    }
}

/// The server's own words from async-imap's `code: …, info: Some("…")` rendering of a NO or
/// BAD answer (the rest as it is).
fn server_text(m: &str) -> String {
    m.split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.strip_suffix("\")"))
        .map_or_else(|| m.to_string(), |t| t.replace("\\\"", "\""))
}

#[cfg(test)]
mod tests {
    use super::{uid_sets, MAX_SET_LEN};

    #[test]
    fn a_refused_login_says_the_servers_words() {
        assert_eq!(
            super::server_text(
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(super::server_text("outcome: x"), "outcome: x");
    }

    #[test]
    fn uid_sets_compress_ranges() {
        assert_eq!(uid_sets(&[5, 1, 2, 3, 9, 10], usize::MAX), ["1:3,5,9:10"]);
        assert_eq!(uid_sets(&[7], usize::MAX), ["7"]);
    }

    #[test]
    fn scattered_uid_sets_are_cut_into_commands_of_bounded_length() {
        let scattered: Vec<u32> = (0..2000).map(|i| 100_000 + 2 * i).collect();
        let sets = uid_sets(&scattered, MAX_SET_LEN);
        assert!(sets.len() > 1, "{}", sets.len());
        assert!(sets.iter().all(|s| s.len() <= MAX_SET_LEN));
        let back: Vec<u32> = sets
            .iter()
            .flat_map(|s| s.split(','))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(back, scattered, "every UID once, in order");
        assert_eq!(uid_sets(&[5, 1, 2, 3, 9, 10], 4), ["1:3", "5", "9:10"]);
        assert!(uid_sets(&[], MAX_SET_LEN).is_empty());
    }
}
