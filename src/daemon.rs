//! The running service: wires settings, database, rules and templates together and runs the
//! tasks — intake (under a Postgres advisory lock), outbox sender, digest scheduler, rules
//! reload, HTTP — until shutdown. `run_once` is the scriptable single pass.

use sqlx::postgres::PgConnection;
use sqlx::{Connection, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub use crate::app::{build, App};
use crate::config::Settings;
use crate::health::Role;
use crate::mailbox::{Mailbox, Wake};
use crate::metrics as m;
use crate::outbox::{self, DrainStats};
use crate::rules::RuleSet;
use crate::scan::{self, ScanError, ScanStats};
use crate::stop::sleep_or_stop;

#[derive(Debug, Default)]
pub struct OnceReport {
    pub scan: ScanStats,
    pub outbox: DrainStats,
}

/// One pass: the whole inbox, then one attempt at every due outbox row (unless `no_send`).
pub async fn run_once(app: &App, no_send: bool) -> anyhow::Result<OnceReport> {
    run_once_connecting(app, no_send, None).await
}

/// The IMAP session under way (connected, logged in and the inbox selected), as
/// [`run_once_connecting`] takes it.
pub type ImapConnecting = tokio::task::JoinHandle<Result<Mailbox, crate::mailbox::ImapError>>;

/// Starts connecting and logging in to the IMAP server and selecting the inbox in a task of its
/// own, so that a start can compile its rules and connect the database meanwhile (Dovecot's
/// SELECT of a folder that got many mails since it was last opened indexes them: ~50 ms at
/// 2,000). SELECT reads no mail and changes none; nothing is read before the intake lock is
/// held, and a second instance's early session logs out again.
pub fn connect_imap_early(s: &Settings) -> ImapConnecting {
    let imap = s.imap.clone();
    tokio::spawn(async move {
        let mut mb = Mailbox::connect(&imap).await?;
        mb.select_ahead(&imap.mailbox).await;
        Ok(mb)
    })
}

/// [`run_once`] with the IMAP session already under way (see [`connect_imap_early`]).
pub async fn run_once_connecting(
    app: &App,
    no_send: bool,
    imap: Option<ImapConnecting>,
) -> anyhow::Result<OnceReport> {
    let s = &app.settings;
    s.require_imap()?;
    let mut lock = IntakeLock::connect(&app.pool, s).await?;
    if !lock.try_acquire().await? {
        // The session logged in ahead leaves as any session does.
        if let Some(connecting) = imap {
            if let Ok(Ok(mb)) = connecting.await {
                mb.logout().await;
            }
        }
        anyhow::bail!(
            "Another krm-intake instance holds the intake lock for channel {}",
            s.imap.channel
        );
    }
    // The pass's two database connections get ready while the IMAP session does.
    let warming = tokio::spawn({
        let pool = app.pool.clone();
        async move { crate::store::warm_for_intake(&pool, 2).await }
    });
    let mut mb = match imap {
        Some(connecting) => connecting.await??,
        None => Mailbox::connect(&s.imap).await?,
    };
    let uidvalidity = scan::prepare(&mut mb, &app.pool, &s.imap).await?;
    crate::quarantine::carry_out_queued(&mut mb, &app.pool, &s.imap).await?;
    let (_tx, rx) = watch::channel(false);
    let _ = warming.await;
    let stats = scan::scan(&mut mb, &app.pool, &app.ctx, uidvalidity, &rx).await?;
    capture_answers(app, &mut mb, uidvalidity).await?;
    mb.logout().await;
    drop(lock);
    let outbox = if no_send {
        DrainStats::default()
    } else {
        outbox::drain(&app.pool, &app.sender, s, true).await?
    };
    Ok(OnceReport {
        scan: stats,
        outbox,
    })
}

/// A session-level advisory lock on its own connection: a pooled connection could be
/// recycled or die silently and take the lock with it.
pub struct IntakeLock {
    conn: PgConnection,
    key: String,
    held: bool,
}

impl IntakeLock {
    pub async fn connect(pool: &PgPool, s: &Settings) -> anyhow::Result<IntakeLock> {
        let opts = pool.connect_options().as_ref().clone();
        let conn = PgConnection::connect_with(&opts).await?;
        Ok(IntakeLock {
            conn,
            key: format!("krm-intake:{}", s.imap.channel),
            held: false,
        })
    }

    pub async fn try_acquire(&mut self) -> anyhow::Result<bool> {
        let ok = crate::store::try_named_lock(&mut self.conn, &self.key).await?;
        self.held = ok;
        Ok(ok)
    }

    /// True while the dedicated connection (and so the lock) is alive.
    pub async fn alive(&mut self) -> bool {
        tokio::time::timeout(Duration::from_secs(5), self.conn.ping())
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Capped exponential backoff for reconnects: 1 s, 2 s, 4 s … 5 min.
fn next_backoff(d: Duration) -> Duration {
    (d * 2).min(Duration::from_secs(300))
}

/// The intake task: become the active instance, then scan, wait (IDLE or poll), repeat.
pub async fn intake_loop(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let s = app.settings.clone();
    let mut backoff = Duration::from_secs(1);
    app.health.set_role(Role::Starting);
    'lock: loop {
        if *stop.borrow() {
            return;
        }
        let mut lock = match acquire_lock(&app, &mut backoff, &mut stop).await {
            Acquired::Held(l) => l,
            Acquired::Retry => continue 'lock,
            Acquired::Stopped => return,
        };
        tracing::info!(channel = %s.imap.channel, "holding the intake lock");
        app.health.set_role(Role::Active);
        backoff = Duration::from_secs(1);

        // Connected-session loop; any IMAP error drops the session and reconnects.
        loop {
            if *stop.borrow() {
                return;
            }
            if !lock.alive().await {
                tracing::warn!("intake: lock connection died; re-acquiring before reading mail");
                app.health.set_imap(false);
                continue 'lock;
            }
            let mb = match connect_and_prepare(&app).await {
                Ok(v) => v,
                Err(e) => {
                    app.health.set_imap(false);
                    m::counter(m::IMAP_RECONNECTS, 1);
                    tracing::error!(error = %e, retry_in_secs = backoff.as_secs(), "intake: cannot open the mailbox");
                    if sleep_or_stop(backoff, &mut stop).await {
                        return;
                    }
                    backoff = next_backoff(backoff);
                    continue;
                }
            };
            app.health.set_imap(true);
            let (mut mailbox, uidvalidity) = mb.take();
            loop {
                // Read mail only while the lock is provably held (its connection answers).
                if !lock.alive().await {
                    tracing::warn!(
                        "intake: lock connection died; re-acquiring before reading mail"
                    );
                    app.health.set_imap(false);
                    mailbox.logout().await;
                    continue 'lock;
                }
                // Retries queued in the desk; a failure reconnects (the inbox may not be selected).
                if let Err(e) =
                    crate::quarantine::carry_out_queued(&mut mailbox, &app.pool, &s.imap).await
                {
                    tracing::warn!(error = %e, "intake: queued quarantine retries failed; reconnecting");
                    break;
                }
                match scan::scan(&mut mailbox, &app.pool, &app.ctx, uidvalidity, &stop).await {
                    Ok(stats) => {
                        backoff = Duration::from_secs(1);
                        if stats.handled() > 0 {
                            tracing::info!(
                                new = stats.new_cases,
                                followups = stats.followups,
                                seen_again = stats.seen_again,
                                bounces = stats.bounces,
                                quarantined = stats.quarantined,
                                "inbox scanned"
                            );
                        }
                    }
                    Err(ScanError::Store(e)) => {
                        // Stop fetching while the database is away; the failed batch was not moved.
                        tracing::error!(error = %e, retry_in_secs = backoff.as_secs(), "intake paused: database error");
                        if sleep_or_stop(backoff, &mut stop).await {
                            mailbox.logout().await;
                            return;
                        }
                        backoff = next_backoff(backoff);
                        if !lock.alive().await {
                            app.health.set_imap(false);
                            continue 'lock;
                        }
                        continue;
                    }
                    Err(ScanError::Imap(e)) => {
                        tracing::warn!(error = %e, "intake: IMAP error; reconnecting");
                        m::counter(m::IMAP_RECONNECTS, 1);
                        app.health.set_imap(false);
                        break;
                    }
                }
                if let Err(e) = capture_answers(&app, &mut mailbox, uidvalidity).await {
                    tracing::warn!(error = %e, "answers: reading sent mail failed; reconnecting");
                    app.health.set_imap(false);
                    break;
                }
                if *stop.borrow() {
                    mailbox.logout().await;
                    return;
                }
                mailbox = match wait_for_news(&app, mailbox, &mut stop).await {
                    Waited::News(mb2) => mb2,
                    Waited::Lost => break,
                    Waited::Stopped => return,
                };
            }
            if sleep_or_stop(backoff, &mut stop).await {
                return;
            }
            backoff = next_backoff(backoff);
        }
    }
}

/// How an attempt at the intake lock ended.
enum Acquired {
    Held(IntakeLock),
    /// Try again from a fresh lock connection (the backoff has been waited where due).
    Retry,
    Stopped,
}

/// Connect the lock's own database connection and wait (standing by) until the lock is ours.
async fn acquire_lock(
    app: &App,
    backoff: &mut Duration,
    stop: &mut watch::Receiver<bool>,
) -> Acquired {
    let s = &app.settings;
    let mut lock = match IntakeLock::connect(&app.pool, s).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "intake: database unreachable; retrying");
            if sleep_or_stop(*backoff, stop).await {
                return Acquired::Stopped;
            }
            *backoff = next_backoff(*backoff);
            return Acquired::Retry;
        }
    };
    loop {
        match lock.try_acquire().await {
            Ok(true) => return Acquired::Held(lock),
            Ok(false) => {
                if app.health.role() != Role::Standby {
                    tracing::info!(channel = %s.imap.channel, "another instance holds the intake; standing by");
                    app.health.set_role(Role::Standby);
                }
                if sleep_or_stop(Duration::from_secs(2), stop).await {
                    return Acquired::Stopped;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "intake: lock connection lost");
                return Acquired::Retry;
            }
        }
    }
}

/// How waiting for news in the inbox ended.
enum Waited {
    News(Mailbox),
    /// The session is gone; reconnect.
    Lost,
    /// Asked to stop; the mailbox is logged out.
    Stopped,
}

/// Wait for news: IDLE where the server has it, else poll.
async fn wait_for_news(app: &App, mailbox: Mailbox, stop: &mut watch::Receiver<bool>) -> Waited {
    let s = &app.settings;
    if mailbox.capabilities().idle {
        tracing::debug!(max_secs = s.imap.idle_secs, "waiting in IDLE");
        let mut stop2 = stop.clone();
        let stopped = async move {
            let _ = stop2.changed().await;
        };
        match mailbox
            .idle(Duration::from_secs(s.imap.idle_secs), stopped)
            .await
        {
            Ok((mb2, wake)) => {
                if wake == Wake::Interrupted && *stop.borrow() {
                    mb2.logout().await;
                    return Waited::Stopped;
                }
                Waited::News(mb2)
            }
            Err(e) => {
                tracing::warn!(error = %e, "intake: IDLE failed; reconnecting");
                m::counter(m::IMAP_RECONNECTS, 1);
                app.health.set_imap(false);
                Waited::Lost
            }
        }
    } else if sleep_or_stop(Duration::from_secs(s.imap.poll_interval_secs), stop).await {
        mailbox.logout().await;
        Waited::Stopped
    } else {
        Waited::News(mailbox)
    }
}

/// After the intake pass: the sent mail of the `[answers]` folders (read-only), then the inbox
/// selected again for IDLE. A database error is logged and retried on the next pass; an IMAP
/// error drops the session.
async fn capture_answers(app: &App, mb: &mut Mailbox, uidvalidity: u32) -> Result<(), ScanError> {
    let s = &app.settings;
    if s.answers.folders.is_empty() {
        return Ok(());
    }
    // Read on every pass, so an edited catalogue counts from the next one; a refused catalogue
    // skips the pass rather than record contacts as internal mail.
    let stellen = match crate::rules::Stellen::load(&s.rules_dir) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(
                "answers: the catalogue of outside bodies is refused; sent mail is read later: {e}"
            );
            return Ok(());
        }
    };
    let stelle_of = |addr: &str| stellen.by_address(addr).map(|b| b.name.clone());
    match crate::answers::pass(mb, &app.pool, &app.ctx, &stelle_of).await {
        Ok(_) => {}
        Err(ScanError::Store(e)) => {
            tracing::error!(error = %e, "answers: database error; sent mail is read again next time");
        }
        Err(e) => return Err(e),
    }
    crate::answers::back_to_inbox(mb, &s.imap.mailbox, uidvalidity).await?;
    Ok(())
}

struct Prepared(Mailbox, u32);

impl Prepared {
    fn take(self) -> (Mailbox, u32) {
        (self.0, self.1)
    }
}

async fn connect_and_prepare(app: &App) -> Result<Prepared, ScanError> {
    let mut mb = Mailbox::connect(&app.settings.imap).await?;
    let v = scan::prepare(&mut mb, &app.pool, &app.settings.imap).await?;
    Ok(Prepared(mb, v))
}

/// Reloads the rules on SIGHUP and when the directory changes; a bad set is refused and the
/// last good one stays in force.
pub async fn rules_watcher(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    use notify::Watcher;
    let dir = app.settings.rules_dir.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let watcher = {
        let tx = tx.clone();
        notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if let Ok(ev) = ev {
                // Reading the files (our own reload included) raises open events; reacting
                // to them would reload forever. A closed written file does count.
                use notify::event::{AccessKind, AccessMode, EventKind};
                let only_read = matches!(ev.kind, EventKind::Access(k) if k != AccessKind::Close(AccessMode::Write));
                let relevant = !only_read
                    && ev.paths.iter().any(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| !is_ignored_file_name(n))
                    });
                if relevant {
                    let _ = tx.send(());
                }
            }
        })
    };
    let _watcher = match watcher {
        Ok(mut w) => match w.watch(&dir, notify::RecursiveMode::NonRecursive) {
            Ok(()) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the rules directory; SIGHUP still reloads");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the rules directory; SIGHUP still reloads");
            None
        }
    };
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hup_fut = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup_fut = std::future::pending::<()>();
        tokio::select! {
            _ = stop.changed() => return,
            _ = hup_fut => {}
            Some(()) = rx.recv() => {
                // Debounce: an editor writes several events for one save.
                tokio::time::sleep(Duration::from_millis(300)).await;
                while rx.try_recv().is_ok() {}
            }
        }
        reload_rules(&app);
    }
}

/// Dotfiles and editor droppings do not trigger a reload.
fn is_ignored_file_name(n: &str) -> bool {
    n.starts_with('.')
        || n.starts_with('#')
        || n.ends_with('~')
        || n.ends_with(".swp")
        || n.ends_with(".swx")
        || n.ends_with(".tmp")
}

pub fn reload_rules(app: &App) {
    let dir = &app.settings.rules_dir;
    match RuleSet::load_dir(dir) {
        Ok(r) => {
            let old = app.ctx.rules.current().version().to_string();
            if r.version() != old {
                tracing::info!(version = %r.version(), rules = r.len(), "rules reloaded");
                m::ruleset(r.version());
                app.ctx.rules.replace(r);
            } else {
                tracing::info!(version = %old, "rules unchanged");
            }
        }
        Err(e) => {
            tracing::error!(dir = %dir.display(), "rules refused; the last good set stays in force: {e}");
        }
    }
}

/// Runs every task until SIGTERM/SIGINT, then stops them and waits up to 10 s.
pub async fn run(app: App) -> anyhow::Result<()> {
    run_until(app, shutdown_signal()).await
}

/// Runs every task until `shutdown` resolves (tests pass their own trigger).
pub async fn run_until(
    app: App,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let app = Arc::new(app);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(addr) = app.settings.http.listen {
        let listener = crate::http::bind(addr).await?;
        // The rule-set gauge was set before the recorder existed; publish it again.
        m::ruleset(app.ctx.rules.current().version());
        tasks.spawn(crate::http::serve(listener, app.clone(), stop_rx.clone()));
    }
    tasks.spawn(intake_loop(app.clone(), stop_rx.clone()));
    tasks.spawn(outbox::run(app.clone(), stop_rx.clone()));
    tasks.spawn(crate::digest::scheduler(app.clone(), stop_rx.clone()));
    tasks.spawn(rules_watcher(app.clone(), stop_rx.clone()));
    tasks.spawn(crate::purge::daily(app.clone(), stop_rx.clone()));
    tracing::info!(channel = %app.settings.imap.channel, "krm-intake running");

    shutdown.await;
    tracing::info!("shutdown requested; finishing the mail in hand");
    let _ = stop_tx.send(true);
    let all_done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(9), all_done)
        .await
        .is_err()
    {
        tracing::warn!("tasks did not stop in time; exiting anyway");
    }
    // A task abandoned above may still hold a pooled connection; close() would wait for it.
    tasks.abort_all();
    let _ = tokio::time::timeout(Duration::from_secs(1), app.pool.close()).await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM or SIGINT (also what `krm-intake web` waits for).
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
