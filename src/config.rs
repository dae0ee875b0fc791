//! Configuration: one TOML file (optional) overlaid by `KRM_<SECTION>_<KEY>` environment variables.
//! Everything is validated here, at the edge; the rest of the program gets typed, checked settings.
//! Secrets are `SecretString` and never appear in `Debug` output or logs.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

use crate::calendar::{Calendar, ClosingDay, DeadlinePolicy, Land};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: nicht lesbar: {}", io_reason(.source))]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{origin}: {key}: {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
    #[error("Umgebung: unbekannte Variable {0} (kein solcher Konfigurationsschlüssel)")]
    UnknownEnv(String),
}

/// An I/O error in German where its kind says enough; the system's own text otherwise.
fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "Datei nicht gefunden".into(),
        ErrorKind::PermissionDenied => "keine Berechtigung".into(),
        ErrorKind::IsADirectory => "ist ein Verzeichnis".into(),
        // `read_to_string` on a file that is not UTF-8.
        ErrorKind::InvalidData => "kein gültiger UTF-8-Text".into(),
        _ => e.to_string(),
    }
}

/// Where a value came from, for error messages.
fn origin(file: Option<&Path>) -> String {
    match file {
        Some(p) => format!("{} (oder Umgebung)", p.display()),
        None => "Umgebung".to_string(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    Implicit,
    Starttls,
    None,
}

impl FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "implicit" => Ok(TlsMode::Implicit),
            "starttls" => Ok(TlsMode::Starttls),
            "none" => Ok(TlsMode::None),
            o => Err(format!(
                "unbekannter TLS-Modus {o:?} (implicit, starttls, none)"
            )),
        }
    }
}

/// A password given inline or read from a file (systemd `LoadCredential=`).
#[derive(Clone, Default)]
pub struct Secret(Option<SecretString>);

impl Secret {
    pub fn expose(&self) -> Option<&str> {
        self.0.as_ref().map(|s| s.expose_secret())
    }
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "[redacted]"
        } else {
            "None"
        })
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub password: Secret,
    pub channel: String,
    pub mailbox: String,
    pub processed_folder: String,
    pub quarantine_folder: String,
    pub ca_file: Option<PathBuf>,
    pub timeout_secs: u64,
    pub idle_secs: u64,
    pub poll_interval_secs: u64,
    pub max_message_size: usize,
    pub batch_size: usize,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Secret,
    pub from: String,
    pub from_name: String,
    pub ca_file: Option<PathBuf>,
    pub timeout_secs: u64,
    pub hello_name: String,
    pub message_id_domain: String,
    pub max_attempts: u32,
    /// SMTP connections sending at once; also how many sends a crash can repeat.
    pub parallel: usize,
}

#[derive(Debug, Clone)]
pub struct AckSettings {
    pub rate_limit_per_hour: u32,
    pub own_addresses: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedFollowup {
    Reopen,
    NewCase,
}

#[derive(Debug, Clone)]
pub struct IntakeSettings {
    pub closed_followup: ClosedFollowup,
    /// `spam_headers` and `trusted_received_by`: which new mails are held as suspected spam.
    pub spam: crate::message::SpamPolicy,
}

#[derive(Debug, Clone)]
pub struct DigestSettings {
    pub time: chrono::NaiveTime,
    pub team: Option<String>,
    pub lead: Option<String>,
    pub within_working_days: u32,
    pub escalate_after_working_days: u32,
    pub send_empty: bool,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: Option<std::net::SocketAddr>,
}

/// `[web]`: the staff desk (`krm-intake web`).
#[derive(Debug, Clone)]
pub struct WebSettings {
    pub listen: std::net::SocketAddr,
    /// How staff reach the desk (e.g. `https://krm.jobcenter.test`); `https` makes the session
    /// cookie `Secure`. Unset: taken as plain http on `listen`.
    pub base_url: Option<String>,
    /// Serve TLS itself with this certificate chain and key (PEM); both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub session_idle_minutes: u32,
    pub session_max_hours: u32,
}

impl WebSettings {
    /// Whether the browser reaches the desk over https (directly or through a proxy).
    pub fn https(&self) -> bool {
        self.tls_cert.is_some()
            || self
                .base_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
    }
}

/// `[answers]`: folders of the same IMAP account read (read-only) for the office's sent mail.
#[derive(Debug, Clone)]
pub struct AnswersSettings {
    /// Empty: nothing is captured.
    pub folders: Vec<String>,
    /// Subject words (case-insensitive) that mark an interim reply.
    pub interim_markers: Vec<String>,
    /// A captured final answer closes an open case (not one on hold).
    pub close_on_answer: bool,
}

#[derive(Debug, Clone)]
pub struct RetentionSettings {
    pub closed_older_than: Option<chrono::Duration>,
    /// Seconds from the daemon's start to its first retention run (then every 24 h).
    pub first_run_after_secs: u64,
    /// Days the access log keeps who read which case's mail content (default 365).
    pub access_log_days: u32,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub file: Option<PathBuf>,
    pub database: DatabaseSettings,
    pub imap: ImapSettings,
    pub smtp: SmtpSettings,
    pub rules_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub ack: AckSettings,
    pub intake: IntakeSettings,
    pub deadlines: DeadlineSettings,
    pub digest: DigestSettings,
    /// Assignee name -> mail address.
    pub staff: BTreeMap<String, String>,
    pub log: LogSettings,
    pub http: HttpSettings,
    pub web: WebSettings,
    pub answers: AnswersSettings,
    pub retention: RetentionSettings,
    /// Warnings found while loading (e.g. a world-readable file holding a password).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DeadlineSettings {
    pub land: Land,
    pub extra_closed: Vec<ClosingDay>,
    pub policy: DeadlinePolicy,
}

impl DeadlineSettings {
    pub fn calendar(&self) -> Calendar {
        Calendar::new(self.land, self.extra_closed.clone())
    }
}

/// Type of a configuration key; drives environment parsing and `check`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ty {
    Str,
    Int,
    Bool,
    List,
}

/// Every known key. Section names contain no underscore, so `KRM_IMAP_PROCESSED_FOLDER`
/// splits unambiguously into section `imap`, key `processed_folder`.
const KEYS: &[(&str, &str, Ty)] = &[
    ("database", "url", Ty::Str),
    ("database", "max_connections", Ty::Int),
    ("imap", "host", Ty::Str),
    ("imap", "port", Ty::Int),
    ("imap", "tls", Ty::Str),
    ("imap", "username", Ty::Str),
    ("imap", "password", Ty::Str),
    ("imap", "password_file", Ty::Str),
    ("imap", "channel", Ty::Str),
    ("imap", "mailbox", Ty::Str),
    ("imap", "processed_folder", Ty::Str),
    ("imap", "quarantine_folder", Ty::Str),
    ("imap", "ca_file", Ty::Str),
    ("imap", "timeout_secs", Ty::Int),
    ("imap", "idle_secs", Ty::Int),
    ("imap", "poll_interval_secs", Ty::Int),
    ("imap", "max_message_size", Ty::Int),
    ("imap", "batch_size", Ty::Int),
    ("smtp", "host", Ty::Str),
    ("smtp", "port", Ty::Int),
    ("smtp", "tls", Ty::Str),
    ("smtp", "username", Ty::Str),
    ("smtp", "password", Ty::Str),
    ("smtp", "password_file", Ty::Str),
    ("smtp", "from", Ty::Str),
    ("smtp", "from_name", Ty::Str),
    ("smtp", "ca_file", Ty::Str),
    ("smtp", "timeout_secs", Ty::Int),
    ("smtp", "hello_name", Ty::Str),
    ("smtp", "message_id_domain", Ty::Str),
    ("smtp", "max_attempts", Ty::Int),
    ("smtp", "parallel", Ty::Int),
    ("rules", "dir", Ty::Str),
    ("templates", "dir", Ty::Str),
    ("ack", "rate_limit_per_hour", Ty::Int),
    ("ack", "own_addresses", Ty::List),
    ("intake", "closed_followup", Ty::Str),
    ("intake", "spam_headers", Ty::List),
    ("intake", "trusted_received_by", Ty::Str),
    ("deadlines", "land", Ty::Str),
    ("deadlines", "extra_closed", Ty::List),
    ("deadlines", "ack_working_days", Ty::Int),
    ("deadlines", "processing_days", Ty::Int),
    ("digest", "time", Ty::Str),
    ("digest", "team", Ty::Str),
    ("digest", "lead", Ty::Str),
    ("digest", "within_working_days", Ty::Int),
    ("digest", "escalate_after_working_days", Ty::Int),
    ("digest", "send_empty", Ty::Bool),
    ("log", "format", Ty::Str),
    ("log", "level", Ty::Str),
    ("http", "listen", Ty::Str),
    ("web", "listen", Ty::Str),
    ("web", "base_url", Ty::Str),
    ("web", "tls_cert", Ty::Str),
    ("web", "tls_key", Ty::Str),
    ("web", "session_idle_minutes", Ty::Int),
    ("web", "session_max_hours", Ty::Int),
    ("answers", "folders", Ty::List),
    ("answers", "interim_markers", Ty::List),
    ("answers", "close_on_answer", Ty::Bool),
    ("retention", "closed_older_than", Ty::Str),
    ("retention", "first_run_after_secs", Ty::Int),
    ("retention", "access_log_days", Ty::Int),
];

/// Environment variables with the prefix that are not configuration keys.
const NON_KEY_ENV: &[&str] = &["KRM_CONFIG"];

fn key_type(section: &str, key: &str) -> Option<Ty> {
    KEYS.iter()
        .find(|(s, k, _)| *s == section && *k == key)
        .map(|(_, _, t)| *t)
}

impl Settings {
    /// Loads `file` (if any) and overlays the process environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// Same as [`Settings::load`] with an explicit environment (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Settings, ConfigError> {
        let mut warnings = Vec::new();
        let mut table = match file {
            Some(path) => read_table(path, &mut warnings)?,
            None => toml::Table::new(),
        };
        overlay_env(&mut table, env)?;
        let o = origin(file);
        let v = Values {
            table: &table,
            origin: &o,
        };
        let mut s = build(&v)?;
        check_answers_folders(&v, &s)?;
        s.file = file.map(Path::to_path_buf);
        s.warnings.extend(warnings);
        Ok(s)
    }
}

fn read_table(path: &Path, warnings: &mut Vec<String>) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.display().to_string(),
        message: toml_error_with_line(&text, &e),
    })?;
    // Unknown sections/keys in the file are errors, with their line.
    for (section, value) in &table {
        let Some(inner) = value.as_table() else {
            return Err(ConfigError::Syntax {
                path: path.display().to_string(),
                message: format!(
                    "Zeile {}: `{section}` ist kein Abschnitt (Schlüssel stehen unter einem Abschnitt wie [imap])",
                    line_of(&text, section)
                ),
            });
        };
        if section == "staff" {
            continue;
        }
        for key in inner.keys() {
            if key_type(section, key).is_none() {
                return Err(ConfigError::Syntax {
                    path: path.display().to_string(),
                    message: format!(
                        "Zeile {}: unbekannter Schlüssel `{key}` im Abschnitt [{section}]",
                        line_of_key(&text, section, key)
                    ),
                });
            }
        }
    }
    let has_password = ["imap", "smtp", "database"].iter().any(|s| {
        table
            .get(*s)
            .and_then(|t| t.as_table())
            .is_some_and(|t| t.contains_key("password") || t.contains_key("url"))
    });
    if has_password && world_readable(path) {
        warnings.push(format!(
            "{}: Datei ist für andere Benutzer lesbar, enthält aber ein Passwort oder eine Datenbank-URL; chmod 600 setzen oder password_file verwenden",
            path.display()
        ));
    }
    Ok(table)
}

#[cfg(unix)]
fn world_readable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o004 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn world_readable(_: &Path) -> bool {
    false
}

fn toml_error_with_line(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("Zeile {line}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(needle))
        .map(|i| i + 1)
        .unwrap_or(0)
}

fn line_of_key(text: &str, section: &str, key: &str) -> usize {
    let mut in_section = false;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            in_section = t.trim_matches(|c| c == '[' || c == ']').trim() == section;
        } else if in_section && t.starts_with(key) {
            return i + 1;
        }
    }
    0
}

fn overlay_env(table: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("KRM_") else {
            continue;
        };
        if NON_KEY_ENV.contains(&name.as_str()) || rest.starts_with("TEST_") {
            continue;
        }
        let Some((section, key)) = rest.split_once('_') else {
            continue;
        };
        let section = section.to_ascii_lowercase();
        let key_lc = key.to_ascii_lowercase();
        let entry = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(t) = entry.as_table_mut() else {
            continue;
        };
        if section == "staff" {
            // KRM_STAFF_<NAME>=address; names from the environment use '_' for spaces.
            t.insert(key.replace('_', " "), toml::Value::String(value.clone()));
            continue;
        }
        let Some(ty) = key_type(&section, &key_lc) else {
            return Err(ConfigError::UnknownEnv(name.clone()));
        };
        let parsed = match ty {
            Ty::Str => toml::Value::String(value.clone()),
            Ty::Int => match value.trim().parse::<i64>() {
                Ok(i) => toml::Value::Integer(i),
                Err(_) => {
                    return Err(ConfigError::Invalid {
                        origin: "Umgebung".into(),
                        key: name.clone(),
                        message: "erwartet eine ganze Zahl".into(),
                    })
                }
            },
            Ty::Bool => match value.trim() {
                "true" | "1" | "yes" => toml::Value::Boolean(true),
                "false" | "0" | "no" => toml::Value::Boolean(false),
                _ => {
                    return Err(ConfigError::Invalid {
                        origin: "Umgebung".into(),
                        key: name.clone(),
                        message: "erwartet true oder false".into(),
                    })
                }
            },
            Ty::List => toml::Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_string()))
                    .collect(),
            ),
        };
        t.insert(key_lc, parsed);
    }
    Ok(())
}

/// Typed access to the merged table with error messages naming the key.
struct Values<'a> {
    table: &'a toml::Table,
    origin: &'a str,
}

impl Values<'_> {
    fn raw(&self, section: &str, key: &str) -> Option<&toml::Value> {
        self.table.get(section)?.as_table()?.get(key)
    }

    fn err(&self, section: &str, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.to_string(),
            key: format!(
                "{section}.{key} (KRM_{}_{})",
                section.to_uppercase(),
                key.to_uppercase()
            ),
            message: message.into(),
        }
    }

    fn str_opt(&self, section: &str, key: &str) -> Result<Option<String>, ConfigError> {
        match self.raw(section, key) {
            None => Ok(None),
            Some(toml::Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(section, key, "erwartet eine Zeichenkette")),
        }
    }

    fn str_or(&self, section: &str, key: &str, default: &str) -> Result<String, ConfigError> {
        Ok(self
            .str_opt(section, key)?
            .unwrap_or_else(|| default.to_string()))
    }

    fn int_or<T: TryFrom<i64>>(
        &self,
        section: &str,
        key: &str,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.raw(section, key) {
            None => Ok(default),
            Some(toml::Value::Integer(i)) => T::try_from(*i).map_err(|_| {
                self.err(
                    section,
                    key,
                    format!("{i} liegt außerhalb des zulässigen Bereichs"),
                )
            }),
            Some(_) => Err(self.err(section, key, "erwartet eine ganze Zahl")),
        }
    }

    /// `int_or` for a setting where 0 (or less) would break `run` (a zero timeout, a busy poll).
    fn int_at_least_1<T: TryFrom<i64>>(
        &self,
        section: &str,
        key: &str,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.raw(section, key) {
            Some(toml::Value::Integer(i)) if *i < 1 => {
                Err(self.err(section, key, "muss mindestens 1 sein"))
            }
            _ => self.int_or(section, key, default),
        }
    }

    /// `int_or` for a setting bounded by what `run` can work with.
    fn int_between<T: TryFrom<i64>>(
        &self,
        section: &str,
        key: &str,
        default: T,
        min: i64,
        max: i64,
    ) -> Result<T, ConfigError> {
        match self.raw(section, key) {
            Some(toml::Value::Integer(i)) if !(min..=max).contains(i) => Err(self.err(
                section,
                key,
                format!("muss zwischen {min} und {max} liegen"),
            )),
            _ => self.int_or(section, key, default),
        }
    }

    /// A TCP port: 1–65535 (0 would only fail when connecting).
    fn port(&self, section: &str, default: u16) -> Result<u16, ConfigError> {
        self.int_between(section, "port", default, 1, 65535)
    }

    fn bool_or(&self, section: &str, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(section, key) {
            None => Ok(default),
            Some(toml::Value::Boolean(b)) => Ok(*b),
            Some(_) => Err(self.err(section, key, "erwartet true oder false")),
        }
    }

    fn list(&self, section: &str, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.raw(section, key) {
            None => Ok(None),
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        self.err(section, key, "erwartet eine Liste von Zeichenketten")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(toml::Value::String(s)) => Ok(Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            )),
            Some(_) => Err(self.err(section, key, "erwartet eine Liste von Zeichenketten")),
        }
    }

    fn secret(&self, section: &str) -> Result<Secret, ConfigError> {
        let inline = self.str_opt(section, "password")?;
        let file = self.str_opt(section, "password_file")?;
        match (inline, file) {
            (Some(_), Some(_)) => Err(self.err(
                section,
                "password",
                "entweder password oder password_file setzen, nicht beides",
            )),
            (Some(p), None) => Ok(Secret(Some(SecretString::from(p)))),
            (None, Some(f)) => {
                let f = expand_credentials_dir(&f);
                let text = std::fs::read_to_string(&f).map_err(|e| {
                    self.err(
                        section,
                        "password_file",
                        format!("{f}: nicht lesbar: {}", io_reason(&e)),
                    )
                })?;
                let pw = text.trim_end_matches(['\n', '\r']).to_string();
                if pw.is_empty() {
                    return Err(self.err(section, "password_file", format!("{f} ist leer")));
                }
                Ok(Secret(Some(SecretString::from(pw))))
            }
            (None, None) => Ok(Secret(None)),
        }
    }
}

/// `%d/name` refers to systemd's `$CREDENTIALS_DIRECTORY` (LoadCredential=).
fn expand_credentials_dir(path: &str) -> String {
    match (
        path.strip_prefix("%d/"),
        std::env::var("CREDENTIALS_DIRECTORY"),
    ) {
        (Some(rest), Ok(dir)) => format!("{dir}/{rest}"),
        _ => path.to_string(),
    }
}

pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

fn tls_of(v: &Values, section: &str, host: &str) -> Result<TlsMode, ConfigError> {
    let raw = v.str_or(section, "tls", "implicit")?;
    let tls = raw
        .parse::<TlsMode>()
        .map_err(|m| v.err(section, "tls", m))?;
    if tls == TlsMode::None && !is_loopback_host(host) {
        return Err(v.err(
            section,
            "tls",
            format!("\"none\" ist nur für einen Loopback-Host erlaubt, nicht für {host}"),
        ));
    }
    Ok(tls)
}

fn check_address(v: &Values, section: &str, key: &str, addr: &str) -> Result<(), ConfigError> {
    let ok = addr.split_once('@').is_some_and(|(l, d)| {
        !l.is_empty() && d.contains('.') && !addr.contains(char::is_whitespace)
    });
    if ok {
        Ok(())
    } else {
        Err(v.err(section, key, format!("{addr:?} ist keine Mailadresse")))
    }
}

/// `[database]`.
fn database_settings(v: &Values) -> Result<DatabaseSettings, ConfigError> {
    let database = DatabaseSettings {
        url: match v.str_opt("database", "url")? {
            Some(u) => {
                if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                    return Err(v.err("database", "url", "erwartet eine postgres://-URL"));
                }
                Secret(Some(SecretString::from(u)))
            }
            None => Secret(None),
        },
        // Intake's two batches in flight plus the outbox's four senders ([smtp] parallel).
        max_connections: v.int_at_least_1("database", "max_connections", 6u32)?,
    };
    Ok(database)
}

/// `[imap]`, with its folder names checked.
fn imap_settings(v: &Values) -> Result<ImapSettings, ConfigError> {
    let imap_host = v.str_or("imap", "host", "127.0.0.1")?;
    let imap_tls = tls_of(v, "imap", &imap_host)?;
    let imap_default_port = if imap_tls == TlsMode::Implicit {
        993
    } else {
        143
    };
    let imap = ImapSettings {
        port: v.port("imap", imap_default_port)?,
        tls: imap_tls,
        username: v.str_or("imap", "username", "")?,
        password: v.secret("imap")?,
        channel: v.str_or("imap", "channel", "ombudsstelle")?,
        mailbox: v.str_or("imap", "mailbox", "INBOX")?,
        processed_folder: v.str_or("imap", "processed_folder", "Erfasst")?,
        quarantine_folder: v.str_or("imap", "quarantine_folder", "Quarantaene")?,
        ca_file: v.str_opt("imap", "ca_file")?.map(PathBuf::from),
        timeout_secs: v.int_at_least_1("imap", "timeout_secs", 30u64)?,
        idle_secs: v.int_or("imap", "idle_secs", 300u64)?,
        poll_interval_secs: v.int_at_least_1("imap", "poll_interval_secs", 60u64)?,
        max_message_size: v.int_at_least_1("imap", "max_message_size", 25usize * 1024 * 1024)?,
        batch_size: v.int_or("imap", "batch_size", 100usize)?,
        host: imap_host,
    };
    if imap.idle_secs == 0 || imap.idle_secs > 29 * 60 {
        return Err(v.err(
            "imap",
            "idle_secs",
            "muss zwischen 1 und 1740 (29 Minuten) liegen",
        ));
    }
    if imap.batch_size == 0 {
        return Err(v.err("imap", "batch_size", "muss mindestens 1 sein"));
    }
    for (k, f) in [
        ("mailbox", &imap.mailbox),
        ("processed_folder", &imap.processed_folder),
        ("quarantine_folder", &imap.quarantine_folder),
    ] {
        if f.contains(['\r', '\n', '"', '\\']) {
            return Err(v.err(
                "imap",
                k,
                "Ordnername enthält unzulässige Zeichen (Zeilenumbruch, \" oder \\)",
            ));
        }
    }
    if imap.processed_folder == imap.mailbox || imap.quarantine_folder == imap.mailbox {
        return Err(v.err(
            "imap",
            "processed_folder",
            "processed_folder und quarantine_folder müssen sich von mailbox unterscheiden",
        ));
    }
    Ok(imap)
}

/// `[smtp]`; HELO name and Message-ID domain default to the sender's domain.
fn smtp_settings(v: &Values) -> Result<SmtpSettings, ConfigError> {
    let smtp_host = v.str_or("smtp", "host", "127.0.0.1")?;
    let smtp_tls = tls_of(v, "smtp", &smtp_host)?;
    let smtp_default_port = match smtp_tls {
        TlsMode::Implicit => 465,
        TlsMode::Starttls => 587,
        TlsMode::None => 25,
    };
    let from = v.str_or("smtp", "from", "ombudsstelle@jobcenter.test")?;
    check_address(v, "smtp", "from", &from)?;
    let from_domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    let smtp = SmtpSettings {
        port: v.port("smtp", smtp_default_port)?,
        tls: smtp_tls,
        username: v.str_opt("smtp", "username")?,
        password: v.secret("smtp")?,
        from_name: v.str_or("smtp", "from_name", "Ombudsstelle des Jobcenters")?,
        ca_file: v.str_opt("smtp", "ca_file")?.map(PathBuf::from),
        timeout_secs: v.int_at_least_1("smtp", "timeout_secs", 30u64)?,
        hello_name: v.str_or("smtp", "hello_name", &from_domain)?,
        message_id_domain: v.str_or("smtp", "message_id_domain", &from_domain)?,
        max_attempts: v.int_or("smtp", "max_attempts", 8u32)?,
        parallel: v.int_or("smtp", "parallel", 4usize)?,
        from,
        host: smtp_host,
    };
    if smtp.max_attempts == 0 {
        return Err(v.err("smtp", "max_attempts", "muss mindestens 1 sein"));
    }
    if !(1..=32).contains(&smtp.parallel) {
        return Err(v.err("smtp", "parallel", "muss zwischen 1 und 32 liegen"));
    }
    Ok(smtp)
}

/// `[intake]`.
fn intake_settings(v: &Values) -> Result<IntakeSettings, ConfigError> {
    let intake = IntakeSettings {
        closed_followup: match v.str_or("intake", "closed_followup", "reopen")?.as_str() {
            "reopen" => ClosedFollowup::Reopen,
            "new_case" => ClosedFollowup::NewCase,
            o => {
                return Err(v.err(
                    "intake",
                    "closed_followup",
                    format!("{o:?}: erwartet \"reopen\" oder \"new_case\""),
                ))
            }
        },
        spam: crate::message::SpamPolicy::new(
            &v.list("intake", "spam_headers")?.unwrap_or_else(|| {
                crate::message::DEFAULT_SPAM_HEADERS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
            v.str_opt("intake", "trusted_received_by")?.as_deref(),
        )
        .map_err(|m| v.err("intake", "spam_headers", m))?,
    };
    Ok(intake)
}

/// `[deadlines]`.
fn deadline_settings(v: &Values) -> Result<DeadlineSettings, ConfigError> {
    let land_raw = v.str_or("deadlines", "land", "SN")?;
    let land = land_raw
        .parse::<Land>()
        .map_err(|m| v.err("deadlines", "land", m.to_string()))?;
    let extra_closed = v
        .list("deadlines", "extra_closed")?
        .unwrap_or_else(|| vec!["12-24".into(), "12-31".into()])
        .iter()
        .map(|s| {
            s.parse::<ClosingDay>()
                .map_err(|m| v.err("deadlines", "extra_closed", m.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let deadlines = DeadlineSettings {
        land,
        extra_closed,
        policy: DeadlinePolicy {
            ack_working_days: v.int_between(
                "deadlines",
                "ack_working_days",
                3u32,
                0,
                MAX_WORKING_DAYS,
            )?,
            processing_days: v.int_at_least_1("deadlines", "processing_days", 14u32)?,
        },
    };
    Ok(deadlines)
}

/// `[digest]`.
fn digest_settings(v: &Values) -> Result<DigestSettings, ConfigError> {
    let time_raw = v.str_or("digest", "time", "07:30")?;
    let time = chrono::NaiveTime::parse_from_str(&time_raw, "%H:%M").map_err(|_| {
        v.err(
            "digest",
            "time",
            format!("{time_raw:?} ist keine Uhrzeit HH:MM"),
        )
    })?;
    if (2..3).contains(&chrono::Timelike::hour(&time)) {
        return Err(v.err(
            "digest",
            "time",
            "Uhrzeiten zwischen 02:00 und 03:00 sind nicht erlaubt (an den Tagen der Zeitumstellung fehlen sie oder kommen doppelt vor)",
        ));
    }
    let digest = DigestSettings {
        time,
        team: v.str_opt("digest", "team")?,
        lead: v.str_opt("digest", "lead")?,
        within_working_days: v.int_between(
            "digest",
            "within_working_days",
            3u32,
            0,
            MAX_WORKING_DAYS,
        )?,
        escalate_after_working_days: v.int_or("digest", "escalate_after_working_days", 2u32)?,
        send_empty: v.bool_or("digest", "send_empty", false)?,
    };
    for (k, a) in [("team", &digest.team), ("lead", &digest.lead)] {
        if let Some(a) = a {
            check_address(v, "digest", k, a)?;
        }
    }
    Ok(digest)
}

/// `[staff]`: assignee name -> mail address.
fn staff_table(v: &Values) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut staff = BTreeMap::new();
    if let Some(t) = v.table.get("staff").and_then(|t| t.as_table()) {
        for (name, addr) in t {
            let a = addr.as_str().ok_or_else(|| {
                v.err("staff", name, "erwartet eine Mailadresse als Zeichenkette")
            })?;
            check_address(v, "staff", name, a)?;
            staff.insert(name.clone(), a.to_string());
        }
    }
    Ok(staff)
}

fn build(v: &Values) -> Result<Settings, ConfigError> {
    let database = database_settings(v)?;
    let imap = imap_settings(v)?;
    let smtp = smtp_settings(v)?;
    let mut own = v.list("ack", "own_addresses")?.unwrap_or_default();
    own.push(smtp.from.clone());
    if imap.username.contains('@') {
        own.push(imap.username.clone());
    }
    let ack = AckSettings {
        rate_limit_per_hour: v.int_or("ack", "rate_limit_per_hour", 20u32)?,
        own_addresses: own.into_iter().map(|a| a.to_lowercase()).collect(),
    };

    let intake = intake_settings(v)?;
    let deadlines = deadline_settings(v)?;
    let digest = digest_settings(v)?;
    let staff = staff_table(v)?;

    let log = LogSettings {
        format: match v.str_or("log", "format", "text")?.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            o => return Err(v.err("log", "format", format!("{o:?}: erwartet text oder json"))),
        },
        level: v.str_or("log", "level", "info")?,
    };

    let http = HttpSettings {
        listen: match v.str_opt("http", "listen")? {
            None => None,
            Some(s) => Some(s.parse().map_err(|_| {
                v.err(
                    "http",
                    "listen",
                    format!("{s:?} ist nicht von der Form HOST:PORT"),
                )
            })?),
        },
    };

    let retention = RetentionSettings {
        closed_older_than: match v.str_opt("retention", "closed_older_than")? {
            None => None,
            Some(s) => {
                Some(parse_duration(&s).map_err(|m| v.err("retention", "closed_older_than", m))?)
            }
        },
        first_run_after_secs: v.int_or("retention", "first_run_after_secs", 60u64)?,
        access_log_days: v.int_between(
            "retention",
            "access_log_days",
            365u32,
            1,
            MAX_DURATION_DAYS,
        )?,
    };

    Ok(Settings {
        file: None,
        database,
        imap,
        smtp,
        rules_dir: PathBuf::from(v.str_or("rules", "dir", "rules")?),
        templates_dir: PathBuf::from(v.str_or("templates", "dir", "templates")?),
        ack,
        intake,
        deadlines,
        digest,
        staff,
        log,
        http,
        web: web_settings(v)?,
        answers: answers_settings(v)?,
        retention,
        warnings: Vec::new(),
    })
}

fn web_settings(v: &Values) -> Result<WebSettings, ConfigError> {
    let listen_raw = v.str_or("web", "listen", "127.0.0.1:8080")?;
    let listen = listen_raw.parse().map_err(|_| {
        v.err(
            "web",
            "listen",
            format!("{listen_raw:?} ist nicht von der Form HOST:PORT"),
        )
    })?;
    let base_url = match v.str_opt("web", "base_url")? {
        None => None,
        Some(u) => {
            let rest = u
                .strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"))
                .ok_or_else(|| {
                    v.err("web", "base_url", format!("{u:?}: erwartet http(s)://HOST"))
                })?;
            if rest.is_empty() || rest.contains(['?', '#', ' ']) {
                return Err(v.err(
                    "web",
                    "base_url",
                    format!("{u:?}: erwartet http(s)://HOST[/PFAD]"),
                ));
            }
            Some(u.trim_end_matches('/').to_string())
        }
    };
    let tls_cert = v
        .str_opt("web", "tls_cert")?
        .map(|p| PathBuf::from(expand_credentials_dir(&p)));
    let tls_key = v
        .str_opt("web", "tls_key")?
        .map(|p| PathBuf::from(expand_credentials_dir(&p)));
    if tls_cert.is_some() != tls_key.is_some() {
        return Err(v.err(
            "web",
            "tls_cert",
            "tls_cert und tls_key beide setzen oder keines von beiden",
        ));
    }
    let session_idle_minutes: u32 = v.int_or("web", "session_idle_minutes", 30u32)?;
    if session_idle_minutes == 0 {
        return Err(v.err("web", "session_idle_minutes", "muss mindestens 1 sein"));
    }
    let session_max_hours: u32 = v.int_or("web", "session_max_hours", 10u32)?;
    if session_max_hours == 0 || session_max_hours > 24 * 7 {
        return Err(v.err("web", "session_max_hours", "muss zwischen 1 und 168 liegen"));
    }
    Ok(WebSettings {
        listen,
        base_url,
        tls_cert,
        tls_key,
        session_idle_minutes,
        session_max_hours,
    })
}

/// An answers folder is read as the office's sent mail: the inbox or the intake's own folders
/// there would turn received mail into "answers".
fn check_answers_folders(v: &Values, s: &Settings) -> Result<(), ConfigError> {
    let i = &s.imap;
    for f in &s.answers.folders {
        if [&i.mailbox, &i.processed_folder, &i.quarantine_folder].contains(&f) {
            return Err(v.err(
                "answers",
                "folders",
                format!("{f:?} ist der Posteingang oder ein Ordner der Annahme; hier den Gesendet-Ordner angeben"),
            ));
        }
    }
    Ok(())
}

fn answers_settings(v: &Values) -> Result<AnswersSettings, ConfigError> {
    let folders = v.list("answers", "folders")?.unwrap_or_default();
    for f in &folders {
        if f.trim().is_empty() || f.chars().any(char::is_control) {
            return Err(v.err("answers", "folders", format!("{f:?} ist kein Ordnername")));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in &folders {
        if !seen.insert(f.as_str()) {
            return Err(v.err(
                "answers",
                "folders",
                format!("{f:?} ist doppelt aufgeführt"),
            ));
        }
    }
    let interim_markers = match v.list("answers", "interim_markers")? {
        Some(m) => m
            .into_iter()
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty())
            .collect(),
        None => vec![
            "Zwischennachricht".to_string(),
            "Zwischenbescheid".to_string(),
        ],
    };
    Ok(AnswersSettings {
        folders,
        interim_markers,
        close_on_answer: v.bool_or("answers", "close_on_answer", false)?,
    })
}

/// The longest retention period (cases, access log): a century. Far longer ones panicked or
/// reached before the database's first date only when a purge ran.
const MAX_DURATION_DAYS: i64 = 100 * 365;

/// The largest working-day count (acknowledgement deadline, digest window), as `case list
/// --due-within`: counting billions of working days kept intake or the digest busy for minutes.
const MAX_WORKING_DAYS: i64 = 366;

/// Parses retention durations like `730d`, `2y`, `18m` (months), `6w`.
pub fn parse_duration(s: &str) -> Result<chrono::Duration, String> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let not_a_duration = || format!("{s:?} ist keine Dauer wie 730d, 2y, 18m oder 6w");
    let unit_days: i64 = match unit {
        "d" => 1,
        "w" => 7,
        "m" => 30,
        "y" => 365,
        _ => return Err(not_a_duration()),
    };
    if num.is_empty() {
        return Err(not_a_duration());
    }
    // `num` is all digits: where it does not fit, it is merely too long.
    let days = num
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_days))
        .unwrap_or(i64::MAX);
    if days == 0 {
        return Err(format!("{s:?}: Dauer muss größer als null sein"));
    }
    if days > MAX_DURATION_DAYS {
        return Err(format!("{s:?}: höchstens 100 Jahre ({MAX_DURATION_DAYS}d)"));
    }
    Ok(chrono::Duration::days(days))
}

impl Settings {
    /// Requirements for verbs that talk to the servers.
    pub fn require_database(&self) -> Result<&str, ConfigError> {
        self.database
            .url
            .expose()
            .ok_or_else(|| ConfigError::Invalid {
                origin: origin(self.file.as_deref()),
                key: "database.url (KRM_DATABASE_URL)".into(),
                message: "nicht gesetzt".into(),
            })
    }

    pub fn require_imap(&self) -> Result<(), ConfigError> {
        if self.imap.username.is_empty() || !self.imap.password.is_set() {
            return Err(ConfigError::Invalid {
                origin: origin(self.file.as_deref()),
                key: "imap.username / imap.password (KRM_IMAP_USERNAME, KRM_IMAP_PASSWORD)".into(),
                message: "nicht gesetzt".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_alone_is_enough() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("KRM_DATABASE_URL", "postgres://postgres@127.0.0.1/krm"),
                ("KRM_IMAP_PORT", "10143"),
                ("KRM_IMAP_TLS", "starttls"),
                ("KRM_IMAP_PROCESSED_FOLDER", "Done"),
                ("KRM_DEADLINES_EXTRA_CLOSED", "12-24, 12-31"),
                ("KRM_TEST_WHATEVER", "ignored"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(s.imap.port, 10143);
        assert_eq!(s.imap.tls, TlsMode::Starttls);
        assert_eq!(s.imap.processed_folder, "Done");
        assert_eq!(s.deadlines.extra_closed.len(), 2);
        assert_eq!(s.imap.mailbox, "INBOX");
    }

    #[test]
    fn environment_beats_file_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[imap]\nport = 993\nhost = \"127.0.0.1\"\n").unwrap();
        let s = Settings::load_from(Some(&p), &env(&[("KRM_IMAP_PORT", "1993")])).unwrap();
        assert_eq!(s.imap.port, 1993);

        std::fs::write(&p, "[imap]\nport = 993\nhots = \"x\"\n").unwrap();
        let e = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
        assert!(
            e.contains("Zeile 3: unbekannter Schlüssel `hots` im Abschnitt [imap]"),
            "{e}"
        );

        let e = Settings::load_from(None, &env(&[("KRM_IMAP_PORTT", "1")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "Umgebung: unbekannte Variable KRM_IMAP_PORTT (kein solcher Konfigurationsschlüssel)"
        );
    }

    #[test]
    fn plain_tls_only_on_loopback_and_secrets_hidden() {
        let e = Settings::load_from(
            None,
            &env(&[
                ("KRM_SMTP_HOST", "mail.example.test"),
                ("KRM_SMTP_TLS", "none"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(
                "\"none\" ist nur für einen Loopback-Host erlaubt, nicht für mail.example.test"
            ),
            "{e}"
        );
        let s = Settings::load_from(
            None,
            &env(&[
                ("KRM_IMAP_PASSWORD", "hunter2-geheim"),
                ("KRM_DATABASE_URL", "postgres://u:pw-geheim@h/db"),
            ]),
        )
        .unwrap();
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("hunter2") && !dbg.contains("pw-geheim"),
            "{dbg}"
        );
    }

    #[test]
    fn smtp_parallel_defaults_to_four_and_is_bounded() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!(s.smtp.parallel, 4);
        let s = Settings::load_from(None, &env(&[("KRM_SMTP_PARALLEL", "8")])).unwrap();
        assert_eq!(s.smtp.parallel, 8);
        for bad in ["0", "33", "-1"] {
            let e = Settings::load_from(None, &env(&[("KRM_SMTP_PARALLEL", bad)]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("smtp.parallel (KRM_SMTP_PARALLEL)"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn bad_values_are_named() {
        let e = Settings::load_from(None, &env(&[("KRM_DIGEST_TIME", "02:30")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("digest.time"), "{e}");
        let e = Settings::load_from(None, &env(&[("KRM_DEADLINES_LAND", "XX")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("deadlines.land"), "{e}");
        let e = Settings::load_from(None, &env(&[("KRM_IMAP_PORT", "abc")]))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "Umgebung: KRM_IMAP_PORT: erwartet eine ganze Zahl");
    }

    #[test]
    fn messages_are_german_and_name_file_key_and_variable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("krm.toml");
        let shown = p.display().to_string();
        let load = |text: &str| {
            std::fs::write(&p, text).unwrap();
            Settings::load_from(Some(&p), &[]).unwrap_err().to_string()
        };
        assert_eq!(
            load("[digest]\nwithin_working_days = \"drei\"\n"),
            format!(
                "{shown} (oder Umgebung): digest.within_working_days \
                 (KRM_DIGEST_WITHIN_WORKING_DAYS): erwartet eine ganze Zahl"
            )
        );
        // The toml crate's own detail follows in English; the line is ours.
        let e = load("[imap\nport = 1\n");
        assert!(e.starts_with(&format!("{shown}: Zeile 1: ")), "{e}");
        let e = load("port = 1\n");
        assert!(e.contains("Zeile 1: `port` ist kein Abschnitt"), "{e}");
        let e = load("[smtp]\nparallel = 33\n");
        assert!(
            e.ends_with("smtp.parallel (KRM_SMTP_PARALLEL): muss zwischen 1 und 32 liegen"),
            "{e}"
        );
        let e = load("[smtp]\nmax_attempts = -1\n");
        assert!(
            e.ends_with("-1 liegt außerhalb des zulässigen Bereichs"),
            "{e}"
        );
        let e = load("[smtp]\nfrom = \"ombudsstelle\"\n");
        assert!(e.ends_with("\"ombudsstelle\" ist keine Mailadresse"), "{e}");
        let e = load("[imap]\npassword_file = \"/nonexistent/krm-pw\"\n");
        assert!(
            e.ends_with("/nonexistent/krm-pw: nicht lesbar: Datei nicht gefunden"),
            "{e}"
        );

        let missing = dir.path().join("fehlt.toml");
        let e = Settings::load_from(Some(&missing), &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!("{}: nicht lesbar: Datei nicht gefunden", missing.display())
        );

        let e = Settings::load_from(None, &env(&[("KRM_DIGEST_SEND_EMPTY", "vielleicht")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "Umgebung: KRM_DIGEST_SEND_EMPTY: erwartet true oder false"
        );

        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!(
            s.require_database().unwrap_err().to_string(),
            "Umgebung: database.url (KRM_DATABASE_URL): nicht gesetzt"
        );
        assert!(s
            .require_imap()
            .unwrap_err()
            .to_string()
            .ends_with("(KRM_IMAP_USERNAME, KRM_IMAP_PASSWORD): nicht gesetzt"));
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_file_with_a_password_warns_in_german() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("krm.toml");
        std::fs::write(&p, "[imap]\npassword = \"x\"\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = Settings::load_from(Some(&p), &[]).unwrap();
        assert_eq!(s.warnings.len(), 1);
        assert!(
            s.warnings[0].contains("Datei ist für andere Benutzer lesbar"),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn a_port_of_0_and_a_zero_timeout_are_refused_with_the_key_named() {
        for (var, key) in [
            ("KRM_IMAP_PORT", "imap.port"),
            ("KRM_SMTP_PORT", "smtp.port"),
        ] {
            for bad in ["0", "65536", "-1"] {
                let e = Settings::load_from(None, &env(&[(var, bad)]))
                    .unwrap_err()
                    .to_string();
                assert_eq!(
                    e,
                    format!("Umgebung: {key} ({var}): muss zwischen 1 und 65535 liegen"),
                    "{bad}"
                );
            }
        }
        let s = Settings::load_from(
            None,
            &env(&[("KRM_IMAP_PORT", "1"), ("KRM_SMTP_PORT", "65535")]),
        )
        .unwrap();
        assert_eq!((s.imap.port, s.smtp.port), (1, 65535));

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("krm.toml");
        std::fs::write(&p, "[smtp]\nport = 0\n").unwrap();
        let e = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{} (oder Umgebung): smtp.port (KRM_SMTP_PORT): muss zwischen 1 und 65535 liegen",
                p.display()
            )
        );

        for (var, key) in [
            ("KRM_IMAP_TIMEOUT_SECS", "imap.timeout_secs"),
            ("KRM_SMTP_TIMEOUT_SECS", "smtp.timeout_secs"),
            ("KRM_IMAP_POLL_INTERVAL_SECS", "imap.poll_interval_secs"),
            ("KRM_IMAP_MAX_MESSAGE_SIZE", "imap.max_message_size"),
            ("KRM_DATABASE_MAX_CONNECTIONS", "database.max_connections"),
            ("KRM_DEADLINES_PROCESSING_DAYS", "deadlines.processing_days"),
        ] {
            let e = Settings::load_from(None, &env(&[(var, "0")]))
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                format!("Umgebung: {key} ({var}): muss mindestens 1 sein")
            );
            let s = Settings::load_from(None, &env(&[(var, "1")])).unwrap();
            assert_eq!(s.imap.port, 993, "{var}");
        }
    }

    #[test]
    fn counts_that_would_panic_or_spin_in_run_are_refused() {
        for (var, key, bounds) in [
            (
                "KRM_RETENTION_ACCESS_LOG_DAYS",
                "retention.access_log_days",
                "1 und 36500",
            ),
            (
                "KRM_DEADLINES_ACK_WORKING_DAYS",
                "deadlines.ack_working_days",
                "0 und 366",
            ),
            (
                "KRM_DIGEST_WITHIN_WORKING_DAYS",
                "digest.within_working_days",
                "0 und 366",
            ),
        ] {
            for bad in ["4294967295", "-1"] {
                let e = Settings::load_from(None, &env(&[(var, bad)]))
                    .unwrap_err()
                    .to_string();
                assert_eq!(
                    e,
                    format!("Umgebung: {key} ({var}): muss zwischen {bounds} liegen"),
                    "{bad}"
                );
            }
        }
        let e = Settings::load_from(None, &env(&[("KRM_RETENTION_ACCESS_LOG_DAYS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("muss zwischen 1 und 36500 liegen"), "{e}");
        let s = Settings::load_from(
            None,
            &env(&[
                ("KRM_RETENTION_ACCESS_LOG_DAYS", "36500"),
                ("KRM_DEADLINES_ACK_WORKING_DAYS", "0"),
                ("KRM_DIGEST_WITHIN_WORKING_DAYS", "366"),
            ]),
        )
        .unwrap();
        assert_eq!(s.retention.access_log_days, 36500);
        assert_eq!(s.deadlines.policy.ack_working_days, 0);
        assert_eq!(s.digest.within_working_days, 366);
        let e = Settings::load_from(None, &env(&[("KRM_RETENTION_CLOSED_OLDER_THAN", "500y")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "Umgebung: retention.closed_older_than (KRM_RETENTION_CLOSED_OLDER_THAN): \
             \"500y\": höchstens 100 Jahre (36500d)"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("730d").unwrap().num_days(), 730);
        assert_eq!(parse_duration("2y").unwrap().num_days(), 730);
        assert_eq!(
            parse_duration("2x").unwrap_err(),
            "\"2x\" ist keine Dauer wie 730d, 2y, 18m oder 6w"
        );
        assert_eq!(
            parse_duration("0d").unwrap_err(),
            "\"0d\": Dauer muss größer als null sein"
        );
        assert!(parse_duration("d").is_err() && parse_duration("-5d").is_err());
        assert_eq!(parse_duration("100y").unwrap().num_days(), 36500);
        // These panicked (check) or failed every retention run.
        let thirty_digits = "1".repeat(30) + "d";
        for long in [
            "101y",
            "99999999999999999d",
            "99999999999999999y",
            thirty_digits.as_str(),
        ] {
            assert_eq!(
                parse_duration(long).unwrap_err(),
                format!("{long:?}: höchstens 100 Jahre (36500d)")
            );
        }
    }

    #[test]
    fn web_section_defaults_and_refusals() {
        let s = Settings::load_from(None, &env(&[])).unwrap();
        assert_eq!(s.web.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            (s.web.session_idle_minutes, s.web.session_max_hours),
            (30, 10)
        );
        assert!(!s.web.https());
        let s = Settings::load_from(
            None,
            &env(&[
                ("KRM_WEB_BASE_URL", "https://krm.jobcenter.test/"),
                ("KRM_WEB_SESSION_IDLE_MINUTES", "5"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.web.base_url.as_deref(),
            Some("https://krm.jobcenter.test")
        );
        assert!(s.web.https());
        for (k, v) in [
            ("KRM_WEB_LISTEN", "localhost"),
            ("KRM_WEB_BASE_URL", "krm.jobcenter.test"),
            ("KRM_WEB_TLS_CERT", "/etc/cert.pem"),
            ("KRM_WEB_SESSION_IDLE_MINUTES", "0"),
            ("KRM_WEB_SESSION_MAX_HOURS", "1000"),
        ] {
            let e = Settings::load_from(None, &env(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("web."), "{k}: {e}");
        }
    }

    #[test]
    fn answers_section_defaults_env_and_refusals() {
        let s = Settings::load_from(None, &env(&[])).unwrap();
        assert!(s.answers.folders.is_empty());
        assert_eq!(
            s.answers.interim_markers,
            ["Zwischennachricht", "Zwischenbescheid"]
        );
        assert!(!s.answers.close_on_answer);
        let s = Settings::load_from(
            None,
            &env(&[
                ("KRM_ANSWERS_FOLDERS", "Gesendet, Bcc-Ablage"),
                ("KRM_ANSWERS_CLOSE_ON_ANSWER", "true"),
                ("KRM_ANSWERS_INTERIM_MARKERS", "Sachstand"),
            ]),
        )
        .unwrap();
        assert_eq!(s.answers.folders, ["Gesendet", "Bcc-Ablage"]);
        assert_eq!(s.answers.interim_markers, ["Sachstand"]);
        assert!(s.answers.close_on_answer);
        for (k, v) in [
            ("KRM_ANSWERS_FOLDERS", "Gesendet,Gesendet"),
            ("KRM_ANSWERS_FOLDERS", "Gesendet,INBOX"),
            ("KRM_ANSWERS_CLOSE_ON_ANSWER", "vielleicht"),
        ] {
            let e = Settings::load_from(None, &env(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("answers") || e.contains("ANSWERS"), "{k}: {e}");
        }
    }
}
