//! Operations: the daemon as a process — SIGTERM, the HTTP listener (/healthz, /readyz,
//! /metrics), a port already in use, `check` on a world-readable config file. Also the
//! subprocess helpers the privacy and failover tests share.

use crate::helpers::*;
use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `krm-intake` child process whose stdout and stderr are collected as it runs.
pub struct Proc {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn krm-intake");
        let out = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut pipe = pipe;
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        Proc { child, out }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything the process wrote so far (stdout and stderr interleaved).
    pub fn log(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Waits (bounded) until the output contains `needle`; false if the process exited or the
    /// cap passed first.
    pub async fn wait_log(&mut self, needle: &str, cap: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < cap {
            if self.log().contains(needle) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.log().contains(needle);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", self.pid());
    }

    /// Waits up to `cap` for the process to exit.
    pub async fn wait_exit(&mut self, cap: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < cap {
            if let Ok(Some(st)) = self.child.try_wait() {
                // Let the reader threads drain the pipes.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Some(st);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("addr").port()
}

/// A plain HTTP/1.1 GET; returns (status, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect HTTP");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read HTTP response");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Waits (bounded) until the listener on `port` answers.
pub async fn wait_http(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on 127.0.0.1:{port} after 20 s");
}

/// APPENDs many mails into the test inbox over one IMAP session (delivery through Postfix
/// would take minutes for hundreds).
pub async fn append_many(w: &World, raws: &[Vec<u8>]) {
    let mut mb = login(OMBUDS).await;
    let _ = mb.ensure_folder(&w.folder).await;
    for raw in raws {
        w.note_personal(raw);
        mb.append(&w.folder, raw).await.expect("APPEND");
    }
    mb.logout().await;
}

pub fn daemon(w: &World, extra: &[(&str, &str)]) -> Proc {
    let mut c = w.command();
    c.arg("run");
    for (k, v) in extra {
        c.env(k, v);
    }
    Proc::spawn(c)
}

fn citizen_mail(w: &World, n: usize) -> Vec<u8> {
    mail(
        &format!("Erika Beispiel <{}>", w.sender(CITIZEN)),
        &w.inbox_address(),
        &format!("Frage zu meinem Bescheid {n}"),
        "Guten Tag,\r\nich warte seit Wochen auf eine Antwort.\r\n\r\nErika Beispiel",
        &format!("<ops-{n}-{}@mail.test>", w.name),
    )
}

#[tokio::test]
async fn sigterm_stops_a_running_daemon_with_exit_0() {
    let w = World::new("sigterm").await;
    w.deliver(&w.sender(CITIZEN), &citizen_mail(&w, 1)).await;
    let mut p = daemon(&w, &[("KRM_LOG_LEVEL", "info")]);
    assert!(
        p.wait_log("holding the intake lock", Duration::from_secs(30))
            .await,
        "{}",
        p.log()
    );
    // The mail is handled and the daemon sits in IDLE when the signal comes.
    w.wait_scalar("SELECT count(*) FROM cases", 1).await;
    p.signal(libc::SIGTERM);
    let st = p
        .wait_exit(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("no exit within 10 s after SIGTERM:\n{}", p.log()));
    assert!(st.success(), "{st:?}\n{}", p.log());
    let log = p.log();
    assert!(log.contains("shutdown requested"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains("did not stop in time"), "{log}");
    w.assert_private(&log);
}

#[tokio::test]
async fn sigterm_during_an_imap_outage_exits_promptly() {
    let w = World::new("sigoutage").await;
    let closed = free_port().to_string();
    let mut p = daemon(
        &w,
        &[
            ("KRM_LOG_LEVEL", "info"),
            ("KRM_IMAP_PORT", closed.as_str()),
        ],
    );
    // Sitting in reconnect backoff.
    assert!(
        p.wait_log("cannot open the mailbox", Duration::from_secs(30))
            .await,
        "{}",
        p.log()
    );
    p.signal(libc::SIGTERM);
    let st = p
        .wait_exit(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("no exit within 10 s after SIGTERM:\n{}", p.log()));
    assert!(st.success(), "{st:?}\n{}", p.log());
    assert!(!p.log().contains("did not stop in time"), "{}", p.log());
}

/// The value of an unlabelled Prometheus sample, if present.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (n == name).then(|| v.trim().parse().ok()).flatten()
        })
}

/// A world whose daemon serves its HTTP endpoints on a free port of its own.
async fn world_with_http(test: &str) -> (World, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    (
        World::with_env(test, &[("KRM_HTTP_LISTEN", listen.as_str())]).await,
        port,
    )
}

#[tokio::test]
async fn health_readiness_and_metrics_over_http() {
    let (w, port) = world_with_http("http").await;
    w.deliver(&w.sender(CITIZEN), &citizen_mail(&w, 1)).await;
    let mut p = daemon(&w, &[]);
    wait_http(port).await;
    assert_eq!(http_get(port, "/healthz").0, 200);
    w.wait_scalar("SELECT count(*) FROM cases", 1).await;
    w.wait_scalar(
        "SELECT count(*) FROM outbox WHERE kind = 'ack' AND status = 'sent'",
        1,
    )
    .await;

    // Ready once the IMAP session stands (bounded wait: the scan may still be finishing).
    let mut ready = (0, String::new());
    for _ in 0..100 {
        ready = http_get(port, "/readyz");
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready.0, 200, "{}", ready.1);
    assert!(ready.1.contains("database: ok"), "{}", ready.1);
    assert!(ready.1.contains("role: Active"), "{}", ready.1);

    let (status, m) = http_get(port, "/metrics");
    assert_eq!(status, 200);
    assert!(
        sample(&m, "krm_mails_ingested_total").is_some_and(|v| v >= 1.0),
        "{m}"
    );
    assert!(
        sample(&m, "krm_acks_sent_total").is_some_and(|v| v >= 1.0),
        "{m}"
    );
    for name in [
        "krm_cases_created_total",
        "krm_followups_total",
        "krm_mails_quarantined_total",
        "krm_acks_failed_total",
        "krm_digests_sent_total",
        "krm_outbox_pending",
        "krm_imap_reconnects_total",
        "krm_ruleset_info",
        "krm_ingest_batch_seconds_per_mail",
    ] {
        assert!(m.contains(name), "{name} missing in /metrics:\n{m}");
    }
    // Only operational figures: no addresses, no subjects.
    assert!(!m.contains("mail.test") && !m.contains("Bescheid"), "{m}");
    assert_eq!(http_get(port, "/nope").0, 404);

    p.signal(libc::SIGTERM);
    let st = p.wait_exit(Duration::from_secs(10)).await;
    assert!(st.is_some_and(|s| s.success()), "{}", p.log());
}

#[tokio::test]
async fn a_metrics_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let w = World::with_env("httpbusy", &[("KRM_HTTP_LISTEN", listen.as_str())]).await;
    let mut p = daemon(&w, &[]);
    let st = p
        .wait_exit(Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("daemon kept running on a taken port:\n{}", p.log()));
    assert!(!st.success(), "{st:?}");
    let log = p.log();
    assert!(log.contains(&format!("port {port}")), "{log}");
    drop(taken);
}

#[tokio::test]
async fn check_warns_about_a_world_readable_config_with_a_password() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new("checkperm").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("krm-intake.toml");
    std::fs::write(
        &path,
        "[imap]\nusername = \"ombudsstelle@jobcenter.test\"\npassword = \"geheim-im-klartext\"\n",
    )
    .unwrap();
    let run = |mode: u32| {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut c = w.command();
        // The file is the subject here; the world's password variables would hide it.
        c.env_remove("KRM_IMAP_PASSWORD")
            .env_remove("KRM_IMAP_USERNAME");
        let out = c
            .arg("--config")
            .arg(&path)
            .arg("check")
            .output()
            .expect("run check");
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (st, text) = run(0o644);
    assert!(st.success(), "{text}");
    assert!(
        text.contains("Warnung") && text.contains("Datei ist für andere Benutzer lesbar"),
        "{text}"
    );
    assert!(!text.contains("geheim-im-klartext"), "{text}");
    let (st, text) = run(0o600);
    assert!(st.success(), "{text}");
    assert!(!text.contains("für andere Benutzer lesbar"), "{text}");
}

/// Metric names in the table of docs/operations.md ("| `krm_…` |" rows, both names of a
/// "`a` / `b`" row).
fn documented_metrics() -> Vec<String> {
    let doc = std::fs::read_to_string(project_dir().join("docs/operations.md"))
        .expect("docs/operations.md");
    let re = regex::Regex::new(r"`(krm_[a-z_]+)").unwrap();
    let mut names: Vec<String> = doc
        .lines()
        .filter(|l| l.starts_with("| `krm_"))
        .flat_map(|l| {
            let first_cell = l.split('|').nth(1).unwrap_or("").to_string();
            re.captures_iter(&first_cell)
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    names.dedup();
    names
}

/// Whether `/metrics` has a sample of `name` (a histogram's `_bucket`/`_sum`/`_count` count).
fn has_sample(metrics: &str, name: &str) -> bool {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split([' ', '{']).next())
        .any(|n| {
            n == name
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| n.strip_suffix(s) == Some(name))
        })
}

#[tokio::test]
async fn every_documented_metric_is_there_from_the_start() {
    let names = documented_metrics();
    assert!(names.len() >= 12, "metric table not found: {names:?}");
    let (w, port) = world_with_http("metricsdoc").await;
    w.prepare_folder(OMBUDS, &w.folder).await;
    let mut p = daemon(&w, &[]);
    wait_http(port).await;
    // Before any mail: every metric the operator may alert on is already exported.
    let (status, m) = http_get(port, "/metrics");
    assert_eq!(status, 200);
    let missing: Vec<&String> = names.iter().filter(|n| !has_sample(&m, n)).collect();
    assert!(
        missing.is_empty(),
        "missing from /metrics at start: {missing:?}\n{m}"
    );
    assert_eq!(w.scalar("SELECT count(*) FROM cases").await, 0);
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(15)).await.is_some());
}

#[tokio::test]
async fn readyz_reports_a_stuck_outbox() {
    let (w, port) = world_with_http("stuck").await;
    w.deliver(&w.sender(CITIZEN), &citizen_mail(&w, 1)).await;
    let (st, log) = w.run_private(&["run", "--once", "--no-send"], &[]);
    assert!(st.success(), "{log}");
    // The acknowledgement has waited 20 minutes without a single attempt: its sender hangs
    // (it holds the lease and never comes back).
    sqlx::query(
        "UPDATE outbox SET created_at = now() - interval '20 minutes',
                locked_until = now() + interval '1 hour'",
    )
    .execute(&w.pool)
    .await
    .unwrap();
    let mut p = daemon(&w, &[]);
    wait_http(port).await;
    let mut ready = (0, String::new());
    for _ in 0..wait_steps(0) {
        ready = http_get(port, "/readyz");
        if ready.1.contains("imap: ok") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready.1.contains("database: ok") && ready.1.contains("imap: ok"),
        "{}",
        ready.1
    );
    assert_eq!(ready.0, 503, "{}", ready.1);
    assert!(ready.1.contains("outbox: stuck"), "{}", ready.1);

    // Once the row is dealt with, the instance is ready again.
    sqlx::query("UPDATE outbox SET status = 'sent', locked_until = NULL")
        .execute(&w.pool)
        .await
        .unwrap();
    let ready = http_get(port, "/readyz");
    assert_eq!(ready.0, 200, "{}", ready.1);
    assert!(ready.1.contains("outbox: ok"), "{}", ready.1);
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(15)).await.is_some());
    w.assert_private(&p.log());
}

/// The default transport: implicit TLS (IMAPS), here on the test Dovecot's port 10993, end to
/// end — intake, move, acknowledgement.
#[tokio::test]
async fn implicit_tls_is_the_default_and_works_end_to_end() {
    let imaps = var("KRM_TEST_IMAPS_PORT");
    let mut w = World::with_env("imaps", &[("KRM_IMAP_PORT", imaps.as_str())]).await;
    w.env.retain(|(k, _)| k != "KRM_IMAP_TLS");
    assert_eq!(
        w.settings().imap.tls,
        krm_intake::config::TlsMode::Implicit,
        "implicit TLS is the default"
    );
    let mut defaults = w.env.clone();
    defaults.retain(|(k, _)| k != "KRM_IMAP_PORT");
    let d = krm_intake::config::Settings::load_from(None, &defaults).unwrap();
    assert_eq!(d.imap.port, 993, "IMAPS port by default");

    w.deliver(&w.sender(CITIZEN), &citizen_mail(&w, 1)).await;
    let (st, log) = w.run_private(&["run", "--once"], &[]);
    assert!(st.success(), "{log}");
    assert!(log.contains("Neue Vorgänge: 1,"), "{log}");
    assert_eq!(w.count(OMBUDS, &w.folder).await, 0);
    assert_eq!(w.count(OMBUDS, &format!("{}_erfasst", w.folder)).await, 1);
    w.wait_count(CITIZEN, &w.folder, 1).await;

    // The daemon on IMAPS too: IDLE over implicit TLS brings the next mail in.
    let mut p = daemon(&w, &[("KRM_LOG_LEVEL", "info")]);
    assert!(
        p.wait_log("holding the intake lock", Duration::from_secs(30))
            .await,
        "{}",
        p.log()
    );
    let raw = citizen_mail(&w, 2);
    w.note_personal(&raw);
    smtp_send(&w.sender(CITIZEN), &w.inbox_address(), &raw).await;
    w.wait_scalar("SELECT count(*) FROM cases", 2).await;
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(Duration::from_secs(15)).await.is_some());
    w.assert_private(&p.log());
}
