//! Test environment: a fresh database and a fresh IMAP folder per test, mail delivery over the
//! real Postfix, and reading mailboxes over the real Dovecot. No fakes.

#![allow(dead_code)]

use chrono::Utc;
use krm_intake::config::{ImapSettings, Settings};
use krm_intake::mailbox::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sqlx::{Connection, PgConnection, PgPool};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub const OMBUDS: &str = "ombudsstelle@jobcenter.test";
pub const CITIZEN: &str = "buerger@mail.test";
pub const CARITAS: &str = "beratung@caritas-dresden.test";
pub const MITTELPUNKT: &str = "info@beratung-mittelpunkt.test";
pub const TEAM: &str = "krm-team@jobcenter.test";
pub const LEAD: &str = "leitung@jobcenter.test";

pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the local services. Run `deploy/test`, or \
             `deploy/services up && eval \"$(deploy/services env)\"` before `cargo test`."
        )
    })
}

pub fn password_of(user: &str) -> String {
    let local = user
        .split('@')
        .next()
        .unwrap_or(user)
        .split('+')
        .next()
        .unwrap_or(user);
    var(&format!(
        "KRM_TEST_PASSWORD_{}",
        local.to_uppercase().replace(['-', '.'], "_")
    ))
}

pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short unique token for folder and database names.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = Utc::now().timestamp_micros() % 1_000_000_000;
    format!("{prefix}{}x{t}x{n}", std::process::id())
}

/// One test's world: its own database, inbox folder, processed and quarantine folders.
pub struct World {
    pub name: String,
    pub db_url: String,
    pub pool: PgPool,
    pub folder: String,
    pub env: Vec<(String, String)>,
    /// Addresses, display names, subjects and body lines of the mails this test delivered or
    /// appended: none of them may appear in the daemon's log (see [`World::assert_private`]).
    personal: std::sync::Mutex<Vec<String>>,
}

impl World {
    pub async fn new(test: &str) -> World {
        Self::with_env(test, &[]).await
    }

    pub async fn with_env(test: &str, extra: &[(&str, &str)]) -> World {
        if let Ok(level) = std::env::var("KRM_TEST_LOG") {
            krm_intake::telemetry::init(&level, krm_intake::config::LogFormat::Text);
        }
        let name = unique(&format!("t{}", &test[..test.len().min(12)]))
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "");
        let admin = var("KRM_TEST_POSTGRES_ADMIN_URL");
        let mut conn = PgConnection::connect(&admin)
            .await
            .expect("admin connection");
        let db = format!("krm_t_{name}");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let db_url = format!("{base}/{db}");
        let pool = krm_intake::store::connect(&db_url, 4)
            .await
            .expect("connect + migrate");
        let folder = name.clone();
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| {
                k.starts_with("KRM_") && !k.starts_with("KRM_TEST_") && k != "KRM_CONFIG"
            })
            .collect();
        let mut set = |k: &str, v: &str| {
            env.retain(|(kk, _)| kk != k);
            env.push((k.to_string(), v.to_string()));
        };
        set("KRM_DATABASE_URL", &db_url);
        set("KRM_IMAP_MAILBOX", &folder);
        set("KRM_IMAP_PROCESSED_FOLDER", &format!("{folder}_erfasst"));
        set(
            "KRM_IMAP_QUARANTINE_FOLDER",
            &format!("{folder}_quarantaene"),
        );
        set("KRM_IMAP_IDLE_SECS", "30");
        set("KRM_IMAP_TIMEOUT_SECS", "20");
        set(
            "KRM_RULES_DIR",
            &project_dir().join("rules").display().to_string(),
        );
        set(
            "KRM_TEMPLATES_DIR",
            &project_dir().join("templates").display().to_string(),
        );
        set("KRM_SMTP_FROM_NAME", "Ombudsstelle des Jobcenters Dresden");
        for (k, v) in extra {
            set(k, v);
        }
        World {
            name,
            db_url,
            pool,
            folder,
            env,
            personal: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub fn settings(&self) -> Settings {
        Settings::load_from(None, &self.env).expect("test settings")
    }

    /// The address that delivers into this test's inbox folder.
    pub fn inbox_address(&self) -> String {
        format!("ombudsstelle+{}@jobcenter.test", self.folder)
    }

    /// A sender address of `user` whose replies land in this test's folder of that user.
    pub fn sender(&self, user: &str) -> String {
        let (l, d) = user.split_once('@').expect("address");
        format!("{l}+{}@{d}", self.folder)
    }

    pub async fn app(&self) -> krm_intake::daemon::App {
        krm_intake::daemon::build(self.settings())
            .await
            .expect("build app")
    }

    pub async fn run_once(&self) -> krm_intake::daemon::OnceReport {
        let app = self.app().await;
        krm_intake::daemon::run_once(&app, false)
            .await
            .expect("run --once")
    }

    /// Delivers `raw` over SMTP (the real Postfix) to this test's inbox and waits until
    /// Dovecot has it.
    pub async fn deliver(&self, from: &str, raw: &[u8]) {
        self.note_personal(raw);
        let before = try_count(OMBUDS, &self.folder).await.unwrap_or(0);
        smtp_send(from, &self.inbox_address(), raw).await;
        self.wait_count(OMBUDS, &self.folder, before + 1).await;
    }

    /// Mails in `folder` of `user`. A folder that cannot be selected is an error (a panic), so
    /// that a negative check ("0 mails there") cannot pass because the folder is missing; use
    /// [`World::prepare_folder`] first where a folder may legitimately stay empty.
    pub async fn count(&self, user: &str, folder: &str) -> usize {
        try_count(user, folder)
            .await
            .unwrap_or_else(|e| panic!("{user}/{folder}: {e}"))
    }

    /// Creates `folder` of `user` if missing, so a later `count` of 0 means "nothing arrived".
    pub async fn prepare_folder(&self, user: &str, folder: &str) {
        let mut mb = login(user).await;
        mb.ensure_folder(folder).await.expect("create folder");
        mb.logout().await;
    }

    /// Like [`World::count`], but first waits (bounded) until Postfix's queue holds nothing
    /// for this test, so that a duplicate still in transit is counted too.
    pub async fn count_settled(&self, user: &str, folder: &str) -> usize {
        wait_postfix_queue_clear(&self.folder).await;
        self.count(user, folder).await
    }

    /// Waits (bounded) until `folder` of `user` holds at least `n` mails. The folder may not
    /// exist yet (Dovecot creates it on first delivery).
    pub async fn wait_count(&self, user: &str, folder: &str, n: usize) -> usize {
        let mut last = 0;
        for _ in 0..wait_steps(n) {
            last = try_count(user, folder).await.unwrap_or(0);
            if last >= n {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{user}/{folder}: expected {n} mails, found {last} after {} s",
            wait_steps(n) / 10
        );
    }

    pub async fn fetch_all(&self, user: &str, folder: &str) -> Vec<Vec<u8>> {
        fetch_all(user, folder).await
    }

    /// APPENDs a raw mail directly into this test's inbox (for fixtures with odd senders).
    pub async fn append(&self, raw: &[u8]) {
        self.note_personal(raw);
        let mut mb = login(OMBUDS).await;
        let _ = mb.ensure_folder(&self.folder).await;
        mb.append(&self.folder, raw).await.expect("APPEND");
    }

    /// APPENDs with a chosen INTERNALDATE (receipt time), e.g. just after midnight in Berlin.
    pub async fn append_at(&self, raw: &[u8], at: chrono::DateTime<chrono::FixedOffset>) {
        self.note_personal(raw);
        let mut mb = login(OMBUDS).await;
        let _ = mb.ensure_folder(&self.folder).await;
        mb.append_at(&self.folder, raw, Some(at))
            .await
            .expect("APPEND");
    }

    /// Runs the daemon in this process until the returned handle is stopped.
    pub async fn spawn_daemon(&self) -> Daemon {
        let app = self.app().await;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let join = tokio::spawn(async move {
            krm_intake::daemon::run_until(app, async {
                let _ = rx.await;
            })
            .await
        });
        Daemon {
            stop: Some(tx),
            join,
        }
    }

    /// Waits (bounded) until `sql` returns at least `n`.
    pub async fn wait_scalar(&self, sql: &'static str, n: i64) -> i64 {
        let mut last = 0;
        for _ in 0..wait_steps(n.max(0) as usize).max(300) {
            last = self.scalar(sql).await;
            if last >= n {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{sql}: expected {n}, got {last} (waited in steps of 100 ms)");
    }

    pub async fn cases(&self) -> Vec<(String, String)> {
        sqlx::query_as("SELECT number, status FROM cases ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .expect("cases")
    }

    pub async fn scalar(&self, sql: &'static str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&self.pool).await.expect(sql);
        n
    }

    /// Remembers the personal data of `raw` (sender, display name, subject, body lines) for
    /// [`World::assert_private`]. `deliver` and `append` call it; call it for mails sent
    /// another way (e.g. `smtp_send` straight to a running daemon).
    pub fn note_personal(&self, raw: &[u8]) {
        let found = personal_data(raw);
        let mut p = self.personal.lock().expect("personal");
        for f in found {
            if !p.contains(&f) {
                p.push(f);
            }
        }
    }

    /// Fails when `log` holds an address, display name, subject or body line of a mail this
    /// test delivered (§ 35 SGB I: logs carry no social data at info level).
    pub fn assert_private(&self, log: &str) {
        let log = &strip_ansi(log);
        let p = self.personal.lock().expect("personal");
        for needle in p.iter() {
            assert!(
                !log.contains(needle.as_str()),
                "personal data {needle:?} appears in the daemon's log:\n{log}"
            );
        }
    }

    /// Runs the binary with `args` at log level info (unless `env` says otherwise), returns
    /// its exit status and everything it wrote, and checks that output for personal data.
    pub fn run_private(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (std::process::ExitStatus, String) {
        let out = self
            .private_command(args, env)
            .output()
            .expect("run krm-intake");
        self.checked_output(out)
    }

    /// [`World::run_private`] without blocking the test's runtime (for tests whose in-process
    /// proxy must keep serving while the binary runs).
    pub async fn run_private_async(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (std::process::ExitStatus, String) {
        let out = tokio::process::Command::from(self.private_command(args, env))
            .output()
            .await
            .expect("run krm-intake");
        self.checked_output(out)
    }

    fn private_command(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
        let mut c = self.command();
        c.env("KRM_LOG_LEVEL", "info").args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// Status and everything written (stderr, then stdout), checked for personal data.
    fn checked_output(&self, out: std::process::Output) -> (std::process::ExitStatus, String) {
        let text = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        self.assert_private(&text);
        (out.status, text)
    }

    /// Runs the binary with this world's environment.
    pub fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_krm-intake"));
        c.env_clear();
        for k in ["PATH", "HOME", "USER", "LANG"] {
            if let Ok(v) = std::env::var(k) {
                c.env(k, v);
            }
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }
}

/// `log` without terminal colour codes (the text log colours field names).
pub fn strip_ansi(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Polling steps of 100 ms for waiting on `n` things: 20 s plus 0.2 s per thing, so that a cap
/// grows with the work instead of failing a loaded machine.
pub fn wait_steps(n: usize) -> usize {
    200 + 2 * n
}

/// The `n`-th of a run of plain citizen mails to this world's inbox; `tag` keeps the
/// Message-IDs of different tests apart.
pub fn numbered_citizen_mail(w: &World, tag: &str, n: usize) -> Vec<u8> {
    mail(
        &format!("Buergerin {n} <{}>", w.sender(CITIZEN)),
        &w.inbox_address(),
        &format!("Anliegen Nummer {n}"),
        &format!("Guten Tag,\r\nmein Anliegen Nummer {n} ist noch offen.\r\n"),
        &format!("<{tag}-{n}-{}@mail.test>", w.name),
    )
}

/// Polls `cond` every `every` until it holds; panics with `what` after `cap`.
pub async fn poll_until<F, Fut>(cap: Duration, every: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < cap {
        if cond().await {
            return;
        }
        tokio::time::sleep(every).await;
    }
    panic!("{what}: not reached within {} s", cap.as_secs());
}

/// [`poll_until`] every 250 ms.
pub async fn wait_until<F, Fut>(cap: Duration, what: &str, cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    poll_until(cap, Duration::from_millis(250), what, cond).await
}

/// Mails in `folder` of `user`, or why the folder cannot be read.
pub async fn try_count(user: &str, folder: &str) -> Result<usize, String> {
    let mut mb = login(user).await;
    mb.select(folder).await.map_err(|e| e.to_string())?;
    let n = mb.all_uids().await.map_err(|e| e.to_string())?.len();
    mb.logout().await;
    Ok(n)
}

/// Waits (bounded) until the test Postfix's queue holds no mail for a recipient of this test
/// (its addresses carry `+tag@`), so counts of delivered mail are final.
pub async fn wait_postfix_queue_clear(tag: &str) {
    let conf = format!("{}/postfix/conf", var("KRM_TEST_SERVICES_DIR"));
    let needle = format!("+{tag}@");
    let mut last = String::new();
    // Generous: after a 300-mail drain Postfix may still be delivering for a while.
    for _ in 0..1200 {
        let out = std::process::Command::new("postqueue")
            .args(["-c", &conf, "-p"])
            .output()
            .expect("postqueue -p");
        last = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() && !last.contains(&needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Postfix still holds mail for {needle} after 120 s:\n{last}");
}

/// The personal data of a raw test mail: sender addresses and display names (From, Reply-To,
/// Sender), the subject, and body lines long enough not to match ordinary log words.
pub fn personal_data(raw: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for h in ["From", "Reply-To", "Sender"] {
        let Some(v) = header(raw, h) else { continue };
        for part in v.split(',') {
            let (name, addr) = match part.split_once('<') {
                Some((n, a)) => (n.trim().trim_matches('"').trim(), a.trim_end_matches('>')),
                None => ("", part.trim()),
            };
            if name.chars().count() >= 4 {
                out.push(name.to_string());
            }
            if addr.contains('@') {
                out.push(addr.trim().to_string());
            }
        }
    }
    if let Some(subject) = header(raw, "Subject") {
        if subject.chars().count() >= 8 && subject.contains(' ') {
            out.push(subject);
        }
    }
    let text = String::from_utf8_lossy(raw);
    let body = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .map(|(_, b)| b)
        .unwrap_or("");
    for line in body.lines().map(str::trim).take(20) {
        if line.chars().count() >= 12 && line.contains(' ') && !line.starts_with("--") {
            out.push(line.to_string());
        }
    }
    out
}

pub fn imap_settings(user: &str) -> ImapSettings {
    let s = Settings::load_from(
        None,
        &[
            ("KRM_IMAP_HOST".to_string(), var("KRM_IMAP_HOST")),
            ("KRM_IMAP_PORT".to_string(), var("KRM_IMAP_PORT")),
            ("KRM_IMAP_TLS".to_string(), var("KRM_IMAP_TLS")),
            ("KRM_IMAP_CA_FILE".to_string(), var("KRM_IMAP_CA_FILE")),
            ("KRM_IMAP_USERNAME".to_string(), user.to_string()),
            ("KRM_IMAP_PASSWORD".to_string(), password_of(user)),
        ],
    )
    .expect("imap settings");
    let mut i = s.imap;
    i.timeout_secs = 20;
    i
}

pub async fn login(user: &str) -> Mailbox {
    Mailbox::connect(&imap_settings(user))
        .await
        .expect("IMAP login")
}

/// Every mail in `folder` of `user`; a folder that cannot be selected is an error.
pub async fn fetch_all(user: &str, folder: &str) -> Vec<Vec<u8>> {
    let mut mb = login(user).await;
    if let Err(e) = mb.select(folder).await {
        panic!("{user}/{folder}: {e}");
    }
    let uids = mb.all_uids().await.expect("search");
    mb.fetch_bodies(&uids, 0)
        .await
        .expect("fetch")
        .into_iter()
        .map(|(_, b)| b.to_vec())
        .collect()
}

/// Sends a raw message through the real Postfix (STARTTLS with the test CA).
pub async fn smtp_send(from: &str, to: &str, raw: &[u8]) {
    krm_intake::tls::install_crypto_provider();
    let ca = std::fs::read(var("KRM_SMTP_CA_FILE")).expect("CA file");
    let host = var("KRM_SMTP_HOST");
    let tls = lettre::transport::smtp::client::TlsParameters::builder(host.clone())
        .add_root_certificate(
            lettre::transport::smtp::client::Certificate::from_pem(&ca).expect("pem"),
        )
        .build_rustls()
        .expect("tls");
    let port: u16 = var("KRM_TEST_SMTP_PORT").parse().expect("port");
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(lettre::transport::smtp::client::Tls::Required(tls))
        .timeout(Some(Duration::from_secs(20)))
        .build();
    let env = lettre::address::Envelope::new(
        Some(from.parse().expect("from")),
        vec![to.parse().expect("to")],
    )
    .expect("envelope");
    t.send_raw(&env, raw).await.expect("SMTP send");
}

/// A small German mail as a citizen or counsellor would write it.
pub fn mail(from: &str, to: &str, subject: &str, body: &str, message_id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\
         Date: Wed, 25 Nov 2026 09:15:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_string();
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        if let Some(v) = value.as_mut() {
            if line.starts_with(' ') || line.starts_with('\t') {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            } else {
                break;
            }
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_string());
            }
        }
    }
    value
}

pub struct Daemon {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    join: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Daemon {
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(15), &mut self.join)
            .await
            .expect("daemon stops within 15 s")
            .expect("daemon task")
            .expect("daemon result");
    }
}
