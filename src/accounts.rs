//! Accounts of the staff desk: roles, argon2id passwords, login with lockout, server-side
//! sessions and the security log. The CLI (`krm-intake user …`) and the desk (`krm-intake web`)
//! both call these functions; SQL lives in `store::accounts`. Messages are German.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use thiserror::Error;

use crate::store::accounts as q;
use crate::store::StoreError;

/// Failed logins in a row that lock an account.
pub const MAX_FAILED_LOGINS: i32 = 5;
/// How long a lockout lasts.
pub const LOCKOUT_MINUTES: i64 = 15;
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

#[derive(Debug, Error)]
pub enum AccountError {
    /// Bad input or an impossible change; the message is German and complete.
    #[error("{0}")]
    Refused(String),
    #[error("Datenbank: {0}")]
    Store(#[from] StoreError),
    #[error("Passwort-Hash: {0}")]
    Hash(String),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        AccountError::Store(StoreError::Sql(e))
    }
}

pub type Result<T> = std::result::Result<T, AccountError>;

fn refused(msg: impl Into<String>) -> AccountError {
    AccountError::Refused(msg.into())
}

/// What an account may do (issue 15/16): the one place for role names and labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Role {
    /// Works cases.
    #[value(help = "bearbeitet Vorgänge")]
    Sachbearbeitung,
    /// Also assigns others' cases, discards and merges.
    #[value(
        help = "wie Sachbearbeitung, dazu: Vorgänge anderer zuweisen, verwerfen, zusammenführen"
    )]
    Leitung,
    /// Manages accounts.
    #[value(help = "verwaltet die Konten")]
    Admin,
    /// Reads the access and security logs only, no case content.
    #[value(help = "liest nur Zugriffs- und Sicherheitsprotokoll, keine Vorgangsinhalte")]
    Datenschutz,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Sachbearbeitung,
        Role::Leitung,
        Role::Admin,
        Role::Datenschutz,
    ];

    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sachbearbeitung => "sachbearbeitung",
            Role::Leitung => "leitung",
            Role::Admin => "admin",
            Role::Datenschutz => "datenschutz",
        }
    }

    /// The German label staff read.
    pub fn label(self) -> &'static str {
        match self {
            Role::Sachbearbeitung => "Sachbearbeitung",
            Role::Leitung => "Leitung",
            Role::Admin => "Administration",
            Role::Datenschutz => "Datenschutz",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the role may see case data: those who work cases. The administration manages
    /// accounts, rules and quarantine, the data protection officer reads the logs; neither
    /// needs citizens' mails to do so (§ 35 SGB I: social data only where the task needs it).
    pub fn reads_cases(self) -> bool {
        self.works_cases()
    }

    /// Where the desk starts for the role (after login, and `/`).
    pub fn start_page(self) -> &'static str {
        match self {
            Role::Sachbearbeitung | Role::Leitung => "/vorgaenge",
            Role::Admin => "/benutzer",
            Role::Datenschutz => "/zugriffe",
        }
    }

    /// Whether the role changes cases (the desk's case actions and new reactions).
    pub fn works_cases(self) -> bool {
        matches!(self, Role::Sachbearbeitung | Role::Leitung)
    }

    /// Whether the role also assigns others' cases, discards and merges.
    pub fn leads(self) -> bool {
        matches!(self, Role::Leitung)
    }
}

// ---------------------------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------------------------

/// argon2id with the crate's defaults (v19, m = 19 MiB, t = 2, p = 1) as a PHC string.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (a malformed hash never matches).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash of no one's password: verifying against it costs what a real verification costs, so
/// that an unknown account name is not told apart by the time the answer takes.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("kein Konto, nur Zeitausgleich").unwrap_or_default())
}

/// The password rules: long enough, not only blanks, not the account name.
pub fn check_password(name: &str, password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(refused(format!(
            "Das Passwort ist zu kurz: mindestens {MIN_PASSWORD_CHARS} Zeichen."
        )));
    }
    if password.trim().is_empty() {
        return Err(refused("Das Passwort besteht nur aus Leerzeichen."));
    }
    if password.eq_ignore_ascii_case(name) {
        return Err(refused("Das Passwort darf nicht der Kontoname sein."));
    }
    Ok(())
}

/// Account names: 1–64 characters of letters, digits, `.`, `_`, `-`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            // Lower case only: `paula` and `PAULA` would be two accounts that the logs and
            // people cannot tell apart (found by an outside try).
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(refused(format!(
            "Ungültiger Kontoname „{name}“: erlaubt sind 1–64 Kleinbuchstaben (a–z), Ziffern, \
             Punkt, Unterstrich und Bindestrich."
        )))
    }
}

async fn hash_blocking(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AccountError::Hash(e.to_string()))?
}

async fn verify_blocking(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// Account management (`krm-intake user …`)
// ---------------------------------------------------------------------------------------------

/// An account as listed (no password hash).
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub name: String,
    pub role: Role,
    pub role_label: &'static str,
    pub staff: Option<String>,
    pub disabled: bool,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub password_changed_at: DateTime<Utc>,
    /// A one-time password is set; the user must change it at the next login.
    pub must_change_password: bool,
}

impl AccountView {
    fn of(r: &q::AccountRow) -> Option<AccountView> {
        let role = Role::parse(&r.role)?;
        Some(AccountView {
            name: r.name.clone(),
            role,
            role_label: role.label(),
            staff: r.staff_name.clone(),
            disabled: r.disabled,
            locked_until: r.locked_until,
            created_at: r.created_at,
            password_changed_at: r.password_changed_at,
            must_change_password: r.must_change_password,
        })
    }
}

impl AccountView {
    /// What is unusual about the account at `now`, in German (disabled, locked after failed
    /// logins, one-time password unchanged); empty for an ordinary active account.
    pub fn state(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut state = Vec::new();
        if self.disabled {
            state.push("gesperrt".to_string());
        }
        if let Some(t) = self.locked_until.filter(|t| *t > now) {
            state.push(format!(
                "nach Fehlversuchen gesperrt bis {}",
                crate::staff::berlin_minute(t)
            ));
        }
        if self.must_change_password {
            state.push("Einmalpasswort noch nicht geändert".to_string());
        }
        state
    }
}

pub async fn list(pool: &PgPool) -> Result<Vec<AccountView>> {
    Ok(q::all(pool)
        .await?
        .iter()
        .filter_map(AccountView::of)
        .collect())
}

/// Adds an account. `staff` must name an assignee of `[staff]`.
pub async fn add(
    pool: &PgPool,
    name: &str,
    role: Role,
    staff: Option<&str>,
    known_staff: &BTreeMap<String, String>,
    password: &str,
    actor: &str,
) -> Result<()> {
    add_account(pool, name, role, staff, known_staff, password, actor, false).await
}

/// Adds an account with a one-time password (the desk's form): returns the password, shown
/// once; the user must change it at the first login.
pub async fn add_with_one_time_password(
    pool: &PgPool,
    name: &str,
    role: Role,
    staff: Option<&str>,
    known_staff: &BTreeMap<String, String>,
    actor: &str,
) -> Result<String> {
    let password = one_time_password();
    add_account(pool, name, role, staff, known_staff, &password, actor, true).await?;
    Ok(password)
}

#[allow(clippy::too_many_arguments)]
async fn add_account(
    pool: &PgPool,
    name: &str,
    role: Role,
    staff: Option<&str>,
    known_staff: &BTreeMap<String, String>,
    password: &str,
    actor: &str,
    one_time: bool,
) -> Result<()> {
    check_name(name)?;
    check_password(name, password)?;
    check_staff(staff, known_staff)?;
    let hash = hash_blocking(password.to_string()).await?;
    let mut tx = pool.begin().await?;
    if q::insert(&mut tx, name, role.as_str(), staff, &hash)
        .await?
        .is_none()
    {
        return Err(refused(format!("Das Konto „{name}“ gibt es schon.")));
    }
    if one_time {
        q::set_must_change(&mut tx, name, true).await?;
    }
    let detail = format!(
        "Rolle {}{}",
        role.as_str(),
        staff
            .map(|s| format!(", zuständig als {s}"))
            .unwrap_or_default()
    );
    q::log_security(&mut *tx, "account_added", Some(name), actor, Some(&detail)).await?;
    tx.commit().await?;
    Ok(())
}

/// A staff name must be one of `[staff]` (the names cases are assigned to).
fn check_staff(staff: Option<&str>, known_staff: &BTreeMap<String, String>) -> Result<()> {
    match staff {
        Some(s) if !known_staff.contains_key(s) => {
            let names: Vec<&str> = known_staff.keys().map(String::as_str).collect();
            Err(refused(format!(
                "„{s}“ ist keine zuständige Person aus [staff] (bekannt: {}).",
                if names.is_empty() {
                    "keine".to_string()
                } else {
                    names.join(", ")
                }
            )))
        }
        _ => Ok(()),
    }
}

/// Links the account to a `[staff]` name (its „mir zugewiesen“ and what it may assign), or
/// unlinks it (`None`); false (nothing logged) when it was so already.
pub async fn set_staff(
    pool: &PgPool,
    name: &str,
    staff: Option<&str>,
    known_staff: &BTreeMap<String, String>,
    actor: &str,
) -> Result<bool> {
    check_staff(staff, known_staff)?;
    let mut tx = pool.begin().await?;
    let Some(account) = q::by_name_in(&mut tx, name).await? else {
        return Err(no_such(name));
    };
    if account.staff_name.as_deref() == staff {
        return Ok(false);
    }
    q::set_staff(&mut tx, name, staff).await?;
    let detail = match staff {
        Some(s) => format!("zuständig als {s}"),
        None => "keine zuständige Person".to_string(),
    };
    q::log_security(&mut *tx, "staff_changed", Some(name), actor, Some(&detail)).await?;
    tx.commit().await?;
    Ok(true)
}

fn no_such(name: &str) -> AccountError {
    refused(format!("Das Konto „{name}“ gibt es nicht."))
}

pub async fn set_role(pool: &PgPool, name: &str, role: Role, actor: &str) -> Result<()> {
    change_role(pool, name, role, actor, false).await
}

/// The desk's role change (and `user set-role` without `--force`): refused when it would
/// leave no enabled admin.
pub async fn set_role_keeping_an_admin(
    pool: &PgPool,
    name: &str,
    role: Role,
    actor: &str,
) -> Result<()> {
    change_role(pool, name, role, actor, true).await
}

/// The message when a change would leave no enabled admin.
pub const LAST_ADMIN: &str = "Das ist das letzte aktive Administrationskonto. Legen Sie zuerst \
    ein weiteres Administrationskonto an; sonst kann niemand mehr Konten verwalten.";

/// Refuses when `name` is an enabled admin and no other enabled admin exists.
async fn keep_an_admin(conn: &mut sqlx::PgConnection, name: &str) -> Result<()> {
    let is_active_admin = q::by_name_in(conn, name)
        .await?
        .is_some_and(|a| a.role == Role::Admin.as_str() && !a.disabled);
    if is_active_admin && q::other_active_admins(conn, name).await? == 0 {
        return Err(refused(LAST_ADMIN));
    }
    Ok(())
}

async fn change_role(pool: &PgPool, name: &str, role: Role, actor: &str, keep: bool) -> Result<()> {
    let mut tx = pool.begin().await?;
    if keep && role != Role::Admin {
        keep_an_admin(&mut tx, name).await?;
    }
    if !q::set_role(&mut tx, name, role.as_str()).await? {
        return Err(no_such(name));
    }
    q::log_security(
        &mut *tx,
        "role_changed",
        Some(name),
        actor,
        Some(role.as_str()),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Disables an account and ends its sessions.
pub async fn disable(pool: &PgPool, name: &str, actor: &str) -> Result<()> {
    disable_account(pool, name, actor, false).await
}

/// The desk's disable (and `user disable` without `--force`): refused when it would leave no
/// enabled admin.
pub async fn disable_keeping_an_admin(pool: &PgPool, name: &str, actor: &str) -> Result<()> {
    disable_account(pool, name, actor, true).await
}

async fn disable_account(pool: &PgPool, name: &str, actor: &str, keep: bool) -> Result<()> {
    let mut tx = pool.begin().await?;
    if keep {
        keep_an_admin(&mut tx, name).await?;
    }
    if !q::disable(&mut tx, name).await? {
        return Err(no_such(name));
    }
    q::log_security(&mut *tx, "account_disabled", Some(name), actor, None).await?;
    tx.commit().await?;
    Ok(())
}

/// Enables a disabled account again (`user enable`; the desk has no form for it).
/// Enables a disabled account; false (nothing logged) when it was not disabled.
pub async fn enable(pool: &PgPool, name: &str, actor: &str) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let Some(account) = q::by_name_in(&mut tx, name).await? else {
        return Err(no_such(name));
    };
    if !account.disabled {
        return Ok(false);
    }
    q::enable(&mut tx, name).await?;
    q::log_security(&mut *tx, "account_enabled", Some(name), actor, None).await?;
    tx.commit().await?;
    Ok(true)
}

/// Sets a new password (lifting a lockout, ending the account's sessions).
pub async fn set_password(pool: &PgPool, name: &str, password: &str, actor: &str) -> Result<()> {
    check_password(name, password)?;
    if q::by_name(pool, name).await?.is_none() {
        return Err(no_such(name));
    }
    let hash = hash_blocking(password.to_string()).await?;
    let mut tx = pool.begin().await?;
    if !q::set_password(&mut tx, name, &hash).await? {
        return Err(no_such(name));
    }
    q::log_security(&mut *tx, "password_changed", Some(name), actor, None).await?;
    tx.commit().await?;
    Ok(())
}

/// A one-time password: 16 characters without look-alikes (no 0/O, 1/l/I), about 90 bits.
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b.iter()
        .map(|x| ALPHABET[usize::from(*x) % ALPHABET.len()] as char)
        .collect()
}

/// The desk's password reset: a one-time password (returned, shown once) the user must change
/// at the next login; lifts a lockout and ends the account's sessions.
pub async fn reset_password(pool: &PgPool, name: &str, actor: &str) -> Result<String> {
    let password = one_time_password();
    let hash = hash_blocking(password.clone()).await?;
    let mut tx = pool.begin().await?;
    if !q::set_password(&mut tx, name, &hash).await? {
        return Err(no_such(name));
    }
    q::set_must_change(&mut tx, name, true).await?;
    q::log_security(&mut *tx, "password_reset", Some(name), actor, None).await?;
    tx.commit().await?;
    Ok(password)
}

/// What [`change_own_password`] refuses with after the wrong current password was typed
/// [`MAX_FAILED_LOGINS`] times: the account is locked as after failed logins, every session of
/// it ended.
pub const LOCKED_WHILE_CHANGING: &str = "Das bisherige Passwort wurde zu oft falsch eingegeben: \
    das Konto ist für 15 Minuten gesperrt, und Sie sind abgemeldet.";

/// A user changes their own password (`/passwort`): the current one must match, the new one
/// follow the rules and differ. Clears "must change"; other sessions of the account end.
/// A wrong current password counts as a failed login (someone at an unlocked workstation must
/// not try passwords without limit or trace): logged, and the [`MAX_FAILED_LOGINS`]th locks the
/// account and ends its sessions ([`LOCKED_WHILE_CHANGING`]).
pub async fn change_own_password(
    pool: &PgPool,
    name: &str,
    session_token: &str,
    current: &str,
    new: &str,
) -> Result<()> {
    let Some(a) = q::by_name(pool, name).await? else {
        return Err(no_such(name));
    };
    let actor = format!("web:{name}");
    if !verify_blocking(current.to_string(), a.password_hash.clone()).await {
        let until = Utc::now() + Duration::minutes(LOCKOUT_MINUTES);
        if q::record_failure(pool, a.id, MAX_FAILED_LOGINS, until).await? {
            let mut tx = pool.begin().await?;
            // No token hash is empty: every session of the account ends.
            q::end_other_sessions(&mut tx, name, "").await?;
            let detail = format!(
                "{MAX_FAILED_LOGINS} Fehlversuche beim Passwortwechsel, gesperrt für \
                 {LOCKOUT_MINUTES} Minuten, Sitzungen beendet"
            );
            q::log_security(&mut *tx, "lockout", Some(name), &actor, Some(&detail)).await?;
            tx.commit().await?;
            return Err(refused(LOCKED_WHILE_CHANGING));
        }
        let detail = "falsches bisheriges Passwort beim Passwortwechsel";
        q::log_security(
            pool,
            "password_change_failed",
            Some(name),
            &actor,
            Some(detail),
        )
        .await?;
        return Err(refused("Das bisherige Passwort stimmt nicht."));
    }
    check_password(name, new)?;
    if current == new {
        return Err(refused(
            "Das neue Passwort muss sich vom bisherigen unterscheiden.",
        ));
    }
    let hash = hash_blocking(new.to_string()).await?;
    let mut tx = pool.begin().await?;
    q::set_own_password(&mut tx, name, &hash).await?;
    q::end_other_sessions(&mut tx, name, &token_hash(session_token)).await?;
    q::log_security(
        &mut *tx,
        "password_changed_by_user",
        Some(name),
        &actor,
        None,
    )
    .await?;
    tx.commit().await?;
    // Knowing the current password ends a run of failures, as a login does.
    q::reset_failures(pool, a.id).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Login and sessions
// ---------------------------------------------------------------------------------------------

/// Idle and absolute session lifetimes (`[web] session_idle_minutes`, `session_max_hours`).
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub max: Duration,
}

/// A new session: the token goes into the cookie (only its hash is stored), the CSRF token into
/// every form.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    /// The account's role: where the desk starts when no page was asked for.
    pub role: Option<Role>,
}

/// A signed-in account, as a request sees it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionAccount {
    pub name: String,
    pub role: Role,
    /// The `[staff]` name this account works as.
    pub staff: Option<String>,
    pub csrf: String,
    /// Only `/passwort` opens until a one-time password is changed.
    pub must_change_password: bool,
}

/// The one answer to every failed login: it does not tell an unknown account, a wrong password,
/// a disabled or a locked account apart.
pub const LOGIN_REFUSED: &str = "Anmeldung nicht möglich: Benutzername oder Passwort ist falsch, \
    oder das Konto ist vorübergehend gesperrt. Nach mehreren Fehlversuchen bitte 15 Minuten warten.";

/// A random token (256 bits, hex).
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// What is stored of a session token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks name and password; on success opens a new session. `None` means refused
/// ([`LOGIN_REFUSED`]); every attempt is written to the security log.
pub async fn login(
    pool: &PgPool,
    name: &str,
    password: &str,
    policy: SessionPolicy,
    now: DateTime<Utc>,
) -> Result<Option<NewSession>> {
    let typed: String = name.chars().take(64).collect();
    let account = q::by_name(pool, name).await?;
    let Some(a) = account.filter(|a| !a.disabled && Role::parse(&a.role).is_some()) else {
        verify_blocking(password.to_string(), dummy_hash().to_string()).await;
        q::log_security(
            pool,
            "login_failed",
            Some(&typed),
            "web",
            Some("unbekanntes oder gesperrtes Konto"),
        )
        .await?;
        return Ok(None);
    };
    let actor = format!("web:{}", a.name);
    if a.locked_until.is_some_and(|t| t > now) {
        verify_blocking(password.to_string(), dummy_hash().to_string()).await;
        q::log_security(
            pool,
            "login_locked",
            Some(&a.name),
            &actor,
            Some("Anmeldeversuch während der Sperre"),
        )
        .await?;
        return Ok(None);
    }
    if !verify_blocking(password.to_string(), a.password_hash.clone()).await {
        let until = now + Duration::minutes(LOCKOUT_MINUTES);
        let locked = q::record_failure(pool, a.id, MAX_FAILED_LOGINS, until).await?;
        let (event, detail) = if locked {
            (
                "lockout",
                format!("{MAX_FAILED_LOGINS} Fehlversuche, gesperrt für {LOCKOUT_MINUTES} Minuten"),
            )
        } else {
            ("login_failed", "falsches Passwort".to_string())
        };
        q::log_security(pool, event, Some(&a.name), &actor, Some(&detail)).await?;
        return Ok(None);
    }
    q::reset_failures(pool, a.id).await?;
    let s = NewSession {
        token: random_token(),
        csrf: random_token(),
        role: Role::parse(&a.role),
    };
    q::insert_session(pool, &token_hash(&s.token), a.id, &s.csrf, now + policy.max).await?;
    q::log_security(pool, "login", Some(&a.name), &actor, None).await?;
    Ok(Some(s))
}

/// The account behind a session cookie's token, if the session is still alive (and marks it
/// as used now).
pub async fn session(
    pool: &PgPool,
    token: &str,
    policy: SessionPolicy,
    now: DateTime<Utc>,
) -> Result<Option<SessionAccount>> {
    let row = q::touch_session(pool, &token_hash(token), now - policy.idle).await?;
    Ok(row.and_then(|r| {
        Some(SessionAccount {
            role: Role::parse(&r.role)?,
            name: r.account,
            staff: r.staff_name,
            csrf: r.csrf,
            must_change_password: r.must_change_password,
        })
    }))
}

/// Ends a session (logout).
pub async fn logout(pool: &PgPool, token: &str, account: &str) -> Result<()> {
    q::end_session(pool, &token_hash(token)).await?;
    q::log_security(
        pool,
        "logout",
        Some(account),
        &format!("web:{account}"),
        None,
    )
    .await?;
    Ok(())
}

/// Deletes sessions that can no longer be used.
pub async fn purge_sessions(
    pool: &PgPool,
    policy: SessionPolicy,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(q::delete_expired_sessions(pool, now - policy.idle).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip_is_argon2id() {
        let h = hash_password("ein langes Passwort").unwrap();
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password("ein langes Passwort", &h));
        assert!(!verify_password("ein anderes Passwort", &h));
        assert!(!verify_password("ein langes Passwort", "kein-phc"));
        let h2 = hash_password("ein langes Passwort").unwrap();
        assert_ne!(h, h2, "every hash has its own salt");
    }

    #[test]
    fn password_rules() {
        assert!(check_password("anna", "kurz").is_err());
        assert!(check_password("anna", "          ").is_err());
        assert!(check_password("annaannaanna", "AnnaAnnaAnna").is_err());
        assert!(check_password("anna", "lang genug 123").is_ok());
    }

    #[test]
    fn account_names() {
        assert!(check_name("anna.schmidt").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("anna schmidt").is_err());
        assert!(check_name("<script>").is_err());
        assert!(check_name("PAULA").is_err(), "lower case only");
    }

    #[test]
    fn roles_round_trip_with_labels() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert!(!r.label().is_empty());
        }
        assert_eq!(Role::parse("root"), None);
        assert!(!Role::Datenschutz.reads_cases());
        assert!(
            !Role::Admin.reads_cases(),
            "the administration reads no case content"
        );
        assert!(Role::Sachbearbeitung.reads_cases() && Role::Leitung.reads_cases());
    }

    #[test]
    fn one_time_passwords_are_long_distinct_and_unambiguous() {
        let a = one_time_password();
        assert_eq!(a.chars().count(), 16);
        assert!(check_password("carla", &a).is_ok());
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() && !"0O1lI".contains(c)),
            "{a}"
        );
        assert_ne!(a, one_time_password());
    }

    #[test]
    fn account_state_names_what_is_unusual() {
        let now = Utc::now();
        let mut v = AccountView {
            name: "carla".into(),
            role: Role::Sachbearbeitung,
            role_label: Role::Sachbearbeitung.label(),
            staff: None,
            disabled: false,
            locked_until: Some(now - Duration::minutes(1)),
            created_at: now,
            password_changed_at: now,
            must_change_password: false,
        };
        assert!(v.state(now).is_empty(), "an expired lockout is no state");
        v.disabled = true;
        v.must_change_password = true;
        assert_eq!(
            v.state(now),
            vec!["gesperrt", "Einmalpasswort noch nicht geändert"]
        );
    }

    #[test]
    fn token_hash_is_sha256_hex_and_tokens_differ() {
        let t = random_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, random_token());
        assert_eq!(token_hash(&t).len(), 64);
        assert_ne!(token_hash(&t), t);
    }
}
