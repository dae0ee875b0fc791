//! The application handle: settings, database pool, rules, templates, SMTP sender and health,
//! built once (`build`) and shared by every task the daemon starts and by the CLI. Tasks take
//! an `Arc<App>`; none of them imports the daemon, which only starts and stops them.

use anyhow::Context as _;
use sqlx::PgPool;
use std::sync::{Arc, RwLock};

use crate::calendar::Calendar;
use crate::config::Settings;
use crate::health::Health;
use crate::metrics as m;
use crate::rules::RuleSet;
use crate::smtp::Sender;
use crate::store;
use crate::templates::Templates;

/// The rule set in force; swapped atomically on reload.
#[derive(Clone)]
pub struct SharedRules(Arc<RwLock<Arc<RuleSet>>>);

impl SharedRules {
    pub fn new(r: RuleSet) -> Self {
        SharedRules(Arc::new(RwLock::new(Arc::new(r))))
    }
    pub fn current(&self) -> Arc<RuleSet> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
    pub fn replace(&self, r: RuleSet) {
        match self.0.write() {
            Ok(mut g) => *g = Arc::new(r),
            Err(p) => *p.into_inner() = Arc::new(r),
        }
    }
}

/// Everything intake needs besides the connection.
pub struct Context {
    pub settings: Arc<Settings>,
    pub rules: SharedRules,
    pub templates: Arc<Templates>,
    pub calendar: Calendar,
}

/// The handle every task and CLI command that needs more than the database receives.
pub struct App {
    pub settings: Arc<Settings>,
    pub pool: PgPool,
    pub ctx: Arc<Context>,
    pub sender: Arc<Sender>,
    pub health: Arc<Health>,
}

/// Loads rules and templates (refusing bad ones), connects and migrates the database.
pub async fn build(settings: Settings) -> anyhow::Result<App> {
    build_with(settings, None).await
}

/// `build` with the rule set already loaded by the start's configuration review, if it was.
///
/// The database is connected by a task (network) while this thread compiles the rules where
/// still needed (CPU, ~0.03 s for the shipped set) and loads the templates, so a start waits for
/// the longer of the two, not their sum (#17: start to the first IDLE); it is migrated once the
/// rules and templates are good. The
/// compiling stays on the calling thread: on a thread of its own, its transient allocations
/// would land in a second malloc arena and raise the peak memory by ~5 MiB. A fault in the rules
/// or templates is reported before one of the database, as when the two ran one after the other.
pub async fn build_with(settings: Settings, rules: Option<RuleSet>) -> anyhow::Result<App> {
    let connecting = connect_early(&settings)?;
    build_connecting(settings, rules, connecting).await
}

/// The database connection under way, as [`build_connecting`] takes it.
pub type Connecting = tokio::task::JoinHandle<Result<sqlx::PgPool, store::StoreError>>;

/// Starts connecting the database in a task of its own, so that a start can compile its rules
/// meanwhile; [`build_connecting`] migrates it once the rules and templates are good.
pub fn connect_early(settings: &Settings) -> anyhow::Result<Connecting> {
    let url = settings.require_database()?.to_owned();
    let max_connections = settings.database.max_connections;
    // The store's connection error is a whole German sentence naming host, port and database.
    Ok(tokio::spawn(async move {
        store::open(&url, max_connections).await
    }))
}

/// [`build_with`] with the database connection already under way (see [`connect_early`]).
pub async fn build_connecting(
    settings: Settings,
    rules: Option<RuleSet>,
    connecting: Connecting,
) -> anyhow::Result<App> {
    let settings = Arc::new(settings);
    let rules = match rules {
        Some(r) => Ok(r),
        None => RuleSet::load_dir(&settings.rules_dir)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("Loading rules from {}", settings.rules_dir.display())),
    };
    let files = rules.and_then(|r| Ok((r, Templates::load(&settings.templates_dir)?)));
    let (rules, templates) = match files {
        Ok(f) => f,
        Err(e) => {
            connecting.abort();
            return Err(e);
        }
    };
    let pool = connecting.await.context("connecting the database")??;
    store::migrate(&pool).await?;
    let sender = Sender::new(&settings.smtp)?;
    m::ruleset(rules.version());
    let ctx = Context {
        settings: settings.clone(),
        rules: SharedRules::new(rules),
        templates: Arc::new(templates),
        calendar: settings.deadlines.calendar(),
    };
    Ok(App {
        settings,
        pool,
        ctx: Arc::new(ctx),
        sender: Arc::new(sender),
        health: Arc::new(Health::default()),
    })
}
