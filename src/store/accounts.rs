//! Queries of the desk's accounts: the accounts themselves, server-side sessions (keyed by the
//! hash of their token), failed-login counting and the security log. Decisions (lockout, role
//! checks, password rules) live in `crate::accounts`; this module only reads and writes.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::Result;

/// One account as stored (the password hash stays inside `crate::accounts`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub staff_name: Option<String>,
    pub password_hash: String,
    pub disabled: bool,
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub password_changed_at: DateTime<Utc>,
    pub must_change_password: bool,
}

const ACCOUNT_COLUMNS: &str = "id, name, role, staff_name, password_hash, disabled, \
    failed_logins, locked_until, created_at, password_changed_at, must_change_password";

pub async fn by_name(pool: &PgPool, name: &str) -> Result<Option<AccountRow>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1");
    Ok(sqlx::query_as::<_, AccountRow>(sqlx::AssertSqlSafe(sql))
        .bind(name)
        .fetch_optional(pool)
        .await?)
}

/// [`by_name`] inside a transaction, locking the row.
pub async fn by_name_in(conn: &mut PgConnection, name: &str) -> Result<Option<AccountRow>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1 FOR UPDATE");
    Ok(sqlx::query_as::<_, AccountRow>(sqlx::AssertSqlSafe(sql))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?)
}

pub async fn all(pool: &PgPool) -> Result<Vec<AccountRow>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name");
    Ok(sqlx::query_as::<_, AccountRow>(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?)
}

/// Inserts an account; `None` when the name is taken.
pub async fn insert(
    conn: &mut PgConnection,
    name: &str,
    role: &str,
    staff_name: Option<&str>,
    password_hash: &str,
) -> Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO accounts (name, role, staff_name, password_hash)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO NOTHING
         RETURNING id",
    )
    .bind(name)
    .bind(role)
    .bind(staff_name)
    .bind(password_hash)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.0))
}

/// Sets the role; false when there is no such account.
pub async fn set_role(conn: &mut PgConnection, name: &str, role: &str) -> Result<bool> {
    let r = sqlx::query("UPDATE accounts SET role = $2 WHERE name = $1")
        .bind(name)
        .bind(role)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Sets or clears the `[staff]` name the account works as; false when there is no such account.
pub async fn set_staff(conn: &mut PgConnection, name: &str, staff: Option<&str>) -> Result<bool> {
    let r = sqlx::query("UPDATE accounts SET staff_name = $2 WHERE name = $1")
        .bind(name)
        .bind(staff)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Disables the account and ends its sessions; false when there is no such account.
pub async fn disable(conn: &mut PgConnection, name: &str) -> Result<bool> {
    let r = sqlx::query("UPDATE accounts SET disabled = true WHERE name = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    end_sessions_of(conn, name).await?;
    Ok(r.rows_affected() == 1)
}

/// Enables a disabled account again (its password stays as it was); false when there is no such
/// account.
pub async fn enable(conn: &mut PgConnection, name: &str) -> Result<bool> {
    let r = sqlx::query("UPDATE accounts SET disabled = false WHERE name = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Sets a new password hash, lifts a lockout and ends the account's sessions.
pub async fn set_password(conn: &mut PgConnection, name: &str, hash: &str) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE accounts SET password_hash = $2, password_changed_at = now(),
            failed_logins = 0, locked_until = NULL
         WHERE name = $1",
    )
    .bind(name)
    .bind(hash)
    .execute(&mut *conn)
    .await?;
    end_sessions_of(conn, name).await?;
    Ok(r.rows_affected() == 1)
}

async fn end_sessions_of(conn: &mut PgConnection, name: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM web_sessions WHERE account_id = (SELECT id FROM accounts WHERE name = $1)",
    )
    .bind(name)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Counts one failed login. When the count reaches `limit`, the account is locked until
/// `lock_until` and the count starts again; returns whether this failure locked it.
pub async fn record_failure(
    pool: &PgPool,
    id: i64,
    limit: i32,
    lock_until: DateTime<Utc>,
) -> Result<bool> {
    let (locked,): (bool,) = sqlx::query_as(
        "WITH old AS (SELECT failed_logins + 1 >= $2 AS locks FROM accounts WHERE id = $1 FOR UPDATE)
         UPDATE accounts a SET
            failed_logins = CASE WHEN old.locks THEN 0 ELSE a.failed_logins + 1 END,
            locked_until = CASE WHEN old.locks THEN $3 ELSE a.locked_until END
         FROM old
         WHERE a.id = $1
         RETURNING old.locks",
    )
    .bind(id)
    .bind(limit)
    .bind(lock_until)
    .fetch_one(pool)
    .await?;
    Ok(locked)
}

pub async fn reset_failures(pool: &PgPool, id: i64) -> Result<()> {
    sqlx::query("UPDATE accounts SET failed_logins = 0, locked_until = NULL WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// A live session with its account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub account_id: i64,
    pub account: String,
    pub role: String,
    pub staff_name: Option<String>,
    pub csrf: String,
    pub must_change_password: bool,
}

pub async fn insert_session(
    pool: &PgPool,
    token_hash: &str,
    account_id: i64,
    csrf: &str,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO web_sessions (token_hash, account_id, csrf, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(account_id)
    .bind(csrf)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// The session behind `token_hash` if it is neither idle past `idle_since` nor past its
/// absolute end and its account is enabled; marks it as seen now. An expired session is
/// deleted on the way.
pub async fn touch_session(
    pool: &PgPool,
    token_hash: &str,
    idle_since: DateTime<Utc>,
) -> Result<Option<SessionRow>> {
    let row = sqlx::query_as::<_, SessionRow>(
        "UPDATE web_sessions s SET last_seen_at = now()
         FROM accounts a
         WHERE s.token_hash = $1 AND a.id = s.account_id AND NOT a.disabled
           AND s.last_seen_at > $2 AND s.expires_at > now()
         RETURNING s.account_id, a.name AS account, a.role, a.staff_name, s.csrf,
                   a.must_change_password",
    )
    .bind(token_hash)
    .bind(idle_since)
    .fetch_optional(pool)
    .await?;
    if row.is_none() {
        end_session(pool, token_hash).await?;
    }
    Ok(row)
}

pub async fn end_session(pool: &PgPool, token_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(())
}

/// Removes sessions past their absolute end or idle since `idle_since`.
pub async fn delete_expired_sessions(pool: &PgPool, idle_since: DateTime<Utc>) -> Result<u64> {
    let r = sqlx::query("DELETE FROM web_sessions WHERE expires_at <= now() OR last_seen_at <= $1")
        .bind(idle_since)
        .execute(pool)
        .await?;
    Ok(r.rows_affected())
}

/// One security-log entry.
pub async fn log_security<'e, E>(
    exec: E,
    event: &str,
    account: Option<&str>,
    actor: &str,
    detail: Option<&str>,
) -> Result<()>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query("INSERT INTO security_log (event, account, actor, detail) VALUES ($1, $2, $3, $4)")
        .bind(event)
        .bind(account.map(super::text))
        .bind(super::text(actor))
        .bind(detail.map(super::text))
        .execute(exec)
        .await?;
    Ok(())
}

/// A security-log entry as read back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecurityEntry {
    pub at: DateTime<Utc>,
    pub event: String,
    pub account: Option<String>,
    pub actor: String,
    pub detail: Option<String>,
}

/// The newest `limit` entries, newest first.
pub async fn security_log(pool: &PgPool, limit: i64) -> Result<Vec<SecurityEntry>> {
    Ok(sqlx::query_as::<_, SecurityEntry>(
        "SELECT at, event, account, actor, detail FROM security_log ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Sets or clears "must change the password at the next login".
pub async fn set_must_change(conn: &mut PgConnection, name: &str, must: bool) -> Result<()> {
    sqlx::query("UPDATE accounts SET must_change_password = $2 WHERE name = $1")
        .bind(name)
        .bind(must)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Enabled admins other than `name`, locked against a concurrent change until the transaction
/// ends (two admins demoting each other at once cannot leave none).
pub async fn other_active_admins(conn: &mut PgConnection, name: &str) -> Result<usize> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM accounts WHERE role = 'admin' AND NOT disabled AND name <> $1 FOR UPDATE",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.len())
}

/// Ends every session of `name` except the one whose token hash is `keep`.
pub async fn end_other_sessions(conn: &mut PgConnection, name: &str, keep: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM web_sessions
         WHERE account_id = (SELECT id FROM accounts WHERE name = $1) AND token_hash <> $2",
    )
    .bind(name)
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Sets a password hash chosen by the user: clears "must change", keeps the sessions.
pub async fn set_own_password(conn: &mut PgConnection, name: &str, hash: &str) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE accounts SET password_hash = $2, password_changed_at = now(),
            must_change_password = false
         WHERE name = $1",
    )
    .bind(name)
    .bind(hash)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
