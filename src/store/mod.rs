//! PostgreSQL: the only place that builds SQL. Connects, applies migrations, and offers one
//! function per query, grouped by table. Exactly-once rests on the unique keys of the schema.

pub mod access;
pub mod accounts;
pub mod answers;
pub(crate) mod batch;
pub(crate) mod cases;
pub mod contacts;
pub(crate) mod digest;
pub mod forms;
pub mod logs;
pub mod network;
pub mod outbox;
pub(crate) mod pending;
pub(crate) mod purge;
pub(crate) mod quarantine;
pub(crate) mod report;
pub(crate) mod staff;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgConnection, PgPool};
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database's schema and this program's migrations do not fit together: a German
    /// sentence saying which migration and what to do (see [`migrate_failure`]).
    #[error("{0}")]
    Schema(String),
    #[error("database URL: {0}")]
    Url(String),
    /// Connecting failed: a German sentence naming the server (no password) and what to check.
    #[error("{0}")]
    Connect(String),
    /// A case the caller just saw (or was told about) is not there: deleted meanwhile.
    #[error("case {0} not found")]
    CaseNotFound(i64),
    /// A chain of merged cases longer than any staff would build: refused rather than followed.
    #[error("case {0}: merged more than 16 times in a row")]
    MergeChainTooLong(i64),
    /// Sixteen random outbox sender tokens were all in use.
    #[error("no free outbox sender token after 16 draws")]
    NoSenderToken,
    /// Held rows could not be encoded for the batch's statement (the driver's encoding error):
    /// the data of the batch is at fault, not the database.
    #[error("encoding rows: {0}")]
    Encode(#[source] sqlx::error::BoxDynError),
    /// Intake's decision named no case although the facts were looked up (cannot happen:
    /// only a decision without facts leaves the case open).
    #[error("intake decision without its case")]
    Undecided,
    /// A batch recorded ahead of its predecessor's commit (see `store::batch`) needed an answer
    /// only the database has: the batch is recorded again, the ordinary way.
    #[error("batch recorded ahead needs the database")]
    NotAhead,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Encode(e) => StoreError::Encode(e),
            e => StoreError::Sql(e),
        }
    }
}

impl StoreError {
    /// SQLSTATE classes 22 (data exception), 23 (integrity constraint violation) and 54
    /// (program limit exceeded: a value too long for an index entry, say), and rows that cannot
    /// be encoded: the data of one mail is at fault, not the database. Only these quarantine a
    /// mail (a batch that hits one is redone mail by mail, so only that mail is quarantined).
    pub fn is_data_error(&self) -> bool {
        match self {
            StoreError::Encode(_) => true,
            StoreError::Sql(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|c| ["22", "23", "54"].iter().any(|class| c.starts_with(class))),
            _ => false,
        }
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

/// How long one connection attempt may take before we say the server does not answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects and applies pending migrations (every verb that touches the database does this).
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    let pool = open(url, max_connections).await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// [`connect`] without the migrations (see [`migrate`]): a start connects while it still
/// reviews its configuration, and migrates only once that passed.
pub async fn open(url: &str, max_connections: u32) -> Result<PgPool> {
    let opts = connect_options(url)?;
    // One plain attempt first: the pool retries a refused connection until its acquire timeout
    // and then says only "pool timed out", naming neither host nor port.
    match tokio::time::timeout(CONNECT_TIMEOUT, opts.connect()).await {
        Err(_) => {
            return Err(StoreError::Connect(format!(
                "Die Datenbank auf {} antwortet nicht (keine Antwort innerhalb von {} s). Prüfen: \
                 Host und Port in database.url, eine Firewall dazwischen.",
                target(&opts),
                CONNECT_TIMEOUT.as_secs()
            )))
        }
        Ok(Err(e)) => return Err(StoreError::Connect(connect_failure(&opts, &e))),
        Ok(Ok(c)) => {
            let _ = sqlx::Connection::close(c).await;
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.max(2))
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(opts.clone())
        .await
        .map_err(|e| StoreError::Connect(connect_failure(&opts, &e)))?;
    Ok(pool)
}

/// Warms `n` connections of the pool for intake (see [`batch::BatchWriter::warm`]), together,
/// so that the pool opens them now. A failure is left for the intake itself to meet.
pub async fn warm_for_intake(pool: &PgPool, n: usize) {
    let now = chrono::Utc::now();
    let one = || async move {
        let mut conn = pool.acquire().await?;
        batch::BatchWriter::warm(&mut conn, now).await?;
        Ok::<_, StoreError>(conn)
    };
    let warmed = futures::future::join_all((0..n).map(|_| one())).await;
    if let Some(Err(e)) = warmed.iter().find(|r| r.is_err()) {
        tracing::debug!(error = %e, "warming the intake's connections failed");
    }
}

/// Applies the migrations this program has and the database lacks.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await.map_err(migrate_failure)
}

/// The migration errors an operator meets after installing another version, as German
/// sentences with what to do; any other as it is.
fn migrate_failure(e: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError as M;
    match e {
        M::VersionMissing(v) => StoreError::Schema(format!(
            "Die Datenbank ist neuer als dieses Programm: sie enthält die Migration {v}, die \
             dieses Programm nicht kennt (eine neuere Version hat sie angelegt). Die neuere \
             Version installieren; zurück geht es nur über die Sicherung von vor dem Update \
             (docs/operations.md, Abschnitt 7)."
        )),
        M::VersionMismatch(v) => StoreError::Schema(format!(
            "Die Migration {v} in der Datenbank weicht von der dieses Programms ab (die \
             Migrationsdatei wurde nach dem Einspielen geändert). Nichts wurde verändert; die \
             Version installieren, die die Datenbank angelegt hat, und den Fehler melden."
        )),
        M::Dirty(v) => StoreError::Schema(format!(
            "Die Migration {v} ist in der Datenbank nur zum Teil ausgeführt. Die Sicherung von \
             vor dem Update einspielen und `migrate` erneut ausführen."
        )),
        other => StoreError::Migrate(other),
    }
}

/// One connection whose every transaction is read-only, without migrations (`explain --db`
/// reads a live database and must change nothing, not even its schema).
pub async fn connect_read_only(url: &str) -> Result<PgConnection> {
    let opts = connect_options(url)?;
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, opts.connect()).await {
        Err(_) => {
            return Err(StoreError::Connect(format!(
                "Die Datenbank auf {} antwortet nicht (keine Antwort innerhalb von {} s).",
                target(&opts),
                CONNECT_TIMEOUT.as_secs()
            )))
        }
        Ok(Err(e)) => return Err(StoreError::Connect(connect_failure(&opts, &e))),
        Ok(Ok(c)) => c,
    };
    sqlx::query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// `host:port/database` (or the socket directory), never the password.
fn target(o: &PgConnectOptions) -> String {
    let db = o.get_database().unwrap_or(o.get_username());
    match o.get_socket() {
        Some(dir) => format!("Socket {}:{}/{db}", dir.display(), o.get_port()),
        None => format!("{}:{}/{db}", o.get_host(), o.get_port()),
    }
}

/// What failed, where, and what to check — in German, for the person starting the command.
fn connect_failure(o: &PgConnectOptions, e: &sqlx::Error) -> String {
    let at = target(o);
    let user = o.get_username();
    let db = o.get_database().unwrap_or(user);
    match e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
            "Keine Verbindung zur Datenbank auf {at}: dort nimmt kein Server Verbindungen an. \
             Prüfen: Läuft PostgreSQL? Stimmen Host und Port in database.url?"
        ),
        sqlx::Error::Io(io) => format!(
            "Keine Verbindung zur Datenbank auf {at}: {io}. Prüfen: Host, Port bzw. \
             Socket-Verzeichnis in database.url; läuft PostgreSQL?"
        ),
        sqlx::Error::Tls(t) => format!(
            "TLS-Verbindung zur Datenbank auf {at} gescheitert: {t}. Prüfen: sslmode und \
             Zertifikate in database.url, TLS-Einstellungen des Servers."
        ),
        sqlx::Error::PoolTimedOut => format!(
            "Die Datenbank auf {at} antwortet nicht (keine Antwort innerhalb von {} s). \
             Prüfen: Host und Port in database.url; ist der Server überlastet?",
            CONNECT_TIMEOUT.as_secs()
        ),
        sqlx::Error::Database(d) => match d.code().as_deref() {
            Some("3D000") => format!(
                "Die Datenbank „{db}“ gibt es auf {}:{} nicht. Prüfen: den Namen in \
                 database.url; anlegen mit `createdb -O {user} {db}`.",
                o.get_host(),
                o.get_port()
            ),
            Some("28P01" | "28000") => format!(
                "Die Datenbank auf {at} lehnt die Anmeldung als „{user}“ ab. Prüfen: Benutzer \
                 und Passwort in database.url (bzw. password_file), pg_hba.conf des Servers."
            ),
            Some("53300") => format!(
                "Die Datenbank auf {at} nimmt keine weiteren Verbindungen an (zu viele \
                 Verbindungen). Prüfen: max_connections des Servers, andere Programme."
            ),
            code => format!(
                "Die Datenbank auf {at} lehnt die Verbindung ab: {} (SQLSTATE {}).",
                d.message(),
                code.unwrap_or("?")
            ),
        },
        other => format!("Verbindung zur Datenbank auf {at} gescheitert: {other}."),
    }
}

/// Strips NUL bytes, which PostgreSQL refuses in text columns.
/// Take the session-level advisory lock named `key` if it is free; it is held until released or
/// until this connection closes. Used for the intake lock and the purge run.
pub async fn try_named_lock(conn: &mut PgConnection, key: &str) -> Result<bool> {
    let (ok,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
    Ok(ok)
}

/// Take the session-level advisory lock of the pair (`class`, `key`) if it is free (the
/// outbox's sender tokens, one class of many small keys).
pub async fn try_pair_lock(conn: &mut PgConnection, class: i32, key: i32) -> Result<bool> {
    let (ok,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1, $2)")
        .bind(class)
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
    Ok(ok)
}

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
    fn connection_failures_name_the_server_but_not_the_password() {
        let o = super::connect_options("postgres://krm:geheim-pw@db.example.test:6543/krm_prod")
            .unwrap();
        assert_eq!(super::target(&o), "db.example.test:6543/krm_prod");
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let m = super::connect_failure(&o, &refused);
        assert!(m.contains("db.example.test:6543/krm_prod"), "{m}");
        assert!(m.contains("kein Server"), "{m}");
        assert!(!m.contains("geheim-pw"), "{m}");
        let m = super::connect_failure(&o, &sqlx::Error::PoolTimedOut);
        assert!(
            m.contains("db.example.test:6543") && m.contains("antwortet nicht"),
            "{m}"
        );
    }

    /// Rows that cannot be encoded are the batch's data at fault (mail by mail, then
    /// quarantine), not a database outage to retry.
    #[test]
    fn an_encoding_error_is_a_data_error_without_sqlstate() {
        let e = super::StoreError::from(sqlx::Error::Encode("value too large".into()));
        assert!(e.is_data_error());
        assert_eq!(e.sqlstate(), None);
        assert!(!e.to_string().contains("database"), "{e}");
    }

    #[test]
    fn url_errors_are_redacted() {
        assert_eq!(
            super::redact_url_error("bad postgres://u:secret@h/db"),
            "bad postgres://***@h/db"
        );
    }

    /// Where a query must filter by state, the state is written into the SQL text (a partial
    /// index such as `outbox_due … WHERE status = 'pending'` is only used for a literal). Each
    /// such literal must be a database spelling of a domain state (or one of the few other
    /// TEXT codes: quarantine states, stored content kinds).
    #[test]
    fn state_literals_in_sql_are_domain_spellings() {
        use crate::domain::{
            AckStatus, CaseStatus, MessageRole, OutboxKind, OutboxStatus, ReviewReason,
        };
        let sources = [
            include_str!("answers.rs"),
            include_str!("cases.rs"),
            include_str!("digest.rs"),
            include_str!("mod.rs"),
            include_str!("outbox.rs"),
            include_str!("pending.rs"),
            include_str!("purge.rs"),
            include_str!("quarantine.rs"),
            include_str!("report.rs"),
            include_str!("staff.rs"),
        ];
        let mut known: Vec<&str> = Vec::new();
        known.extend(CaseStatus::ALL.iter().map(|s| s.as_db()));
        known.extend(AckStatus::ALL.iter().map(|s| s.as_db()));
        known.extend(ReviewReason::ALL.iter().map(|s| s.as_db()));
        known.extend(OutboxKind::ALL.iter().map(|s| s.as_db()));
        known.extend(OutboxStatus::ALL.iter().map(|s| s.as_db()));
        known.extend(MessageRole::ALL.iter().map(|s| s.as_db()));
        // quarantine.status: not a domain state of a case.
        known.extend(["quarantined", "retried", "purged"]);
        let cmp = regex::Regex::new(
            r"(?:\b(?:status|ack_status|kind|role|review_reason)|\$\d+)\s*(?:=|<>)\s*'([^']*)'",
        )
        .unwrap();
        let list = regex::Regex::new(
            r"\b(?:status|ack_status|kind|role|review_reason)\s+IN\s*\(([^)]*)\)",
        )
        .unwrap();
        let quoted = regex::Regex::new(r"'([^']*)'").unwrap();
        let mut seen = 0;
        for src in sources {
            for c in cmp.captures_iter(src) {
                seen += 1;
                assert!(
                    known.contains(&&c[1]),
                    "unknown state literal in SQL: '{}'",
                    &c[1]
                );
            }
            for l in list.captures_iter(src) {
                for q in quoted.captures_iter(&l[1]) {
                    seen += 1;
                    assert!(
                        known.contains(&&q[1]),
                        "unknown state literal in SQL: '{}'",
                        &q[1]
                    );
                }
            }
        }
        assert!(seen > 10, "the patterns found only {seen} literals");
    }
}
