//! PostgreSQL: the only place that builds SQL. Connects, applies migrations, and offers one
//! function per query, grouped by table. Exactly-once rests on the unique keys of the schema.

pub mod accounts;
pub mod cases;
pub mod digest;
pub mod outbox;
pub mod pending;
pub mod purge;
pub mod quarantine;
pub mod report;
pub mod staff;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgConnection, PgPool};
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database URL: {0}")]
    Url(String),
    #[error("{0}")]
    Conflict(String),
}

impl StoreError {
    /// SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation): the data of
    /// one mail is at fault, not the database. Only these quarantine a mail.
    pub fn is_data_error(&self) -> bool {
        match self {
            StoreError::Sql(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|c| c.starts_with("22") || c.starts_with("23")),
            _ => false,
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Sql(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505"))
    }

    /// The SQLSTATE, for logs (no values of the row).
    pub fn sqlstate(&self) -> Option<String> {
        match self {
            StoreError::Sql(sqlx::Error::Database(db)) => db.code().map(|c| c.to_string()),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub fn connect_options(url: &str) -> Result<PgConnectOptions> {
    // Statements are logged by sqlx at debug only; they carry no secrets, but may carry data.
    PgConnectOptions::from_str(url)
        .map(|o| {
            o.log_statements(tracing::log::LevelFilter::Trace)
                .application_name("krm-intake")
        })
        .map_err(|e| StoreError::Url(redact_url_error(&e.to_string())))
}

fn redact_url_error(s: &str) -> String {
    // sqlx errors may echo the URL; never let a password through.
    let re = regex::Regex::new(r"://[^@/\s]*@").expect("literal regex");
    re.replace_all(s, "://***@").into_owned()
}

/// Connects and applies pending migrations (every verb that touches the database does this).
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    let opts = connect_options(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.max(2))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Strips NUL bytes, which PostgreSQL refuses in text columns.
pub fn text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s.to_string()
    }
}

pub fn opt_text(s: Option<&str>) -> Option<String> {
    s.map(text)
}

/// Stored UIDVALIDITY of a channel's folder, if any.
pub async fn uidvalidity(conn: &mut PgConnection, channel: &str) -> Result<Option<(String, i64)>> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT folder, uidvalidity FROM mailbox_state WHERE channel = $1")
            .bind(channel)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row)
}

pub async fn set_uidvalidity(
    conn: &mut PgConnection,
    channel: &str,
    folder: &str,
    uidvalidity: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO mailbox_state (channel, folder, uidvalidity) VALUES ($1, $2, $3)
         ON CONFLICT (channel) DO UPDATE SET folder = $2, uidvalidity = $3, updated_at = now()",
    )
    .bind(channel)
    .bind(folder)
    .bind(uidvalidity)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn url_errors_are_redacted() {
        assert_eq!(
            super::redact_url_error("bad postgres://u:secret@h/db"),
            "bad postgres://***@h/db"
        );
    }
}
