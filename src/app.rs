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
    let settings = Arc::new(settings);
    let rules = RuleSet::load_dir(&settings.rules_dir)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("Loading rules from {}", settings.rules_dir.display()))?;
    let templates = Templates::load(&settings.templates_dir)?;
    let url = settings.require_database()?;
    // The store's connection error is a whole German sentence naming host, port and database.
    let pool = store::connect(url, settings.database.max_connections).await?;
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
