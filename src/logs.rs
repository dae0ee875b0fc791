//! The access log (who read which case's mail content) and the security log (logins, account
//! changes) as the data protection officer reads them: one filter (account, case number,
//! period in Berlin days), one view per entry, one CSV layout. The CLI (`access-log`,
//! `security-log`) and the desk (`/zugriffe`) both use these; SQL lives in `store::logs`.

use chrono::{NaiveDate, NaiveTime};
use serde::Serialize;
use sqlx::PgPool;

use crate::calendar::berlin_local_to_utc;
use crate::domain::CaseNumber;
use crate::store::access::AccessWhat;
use crate::store::logs::{self as q, LogQuery};
use crate::store::StoreError;

/// Most entries one query returns (a page or a CSV file); the filter narrows further.
pub const MAX_ENTRIES: i64 = 10_000;

/// The filter as given: each part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogFilter {
    pub account: Option<String>,
    pub case_number: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl LogFilter {
    /// Parses the textual filter (CLI flags, form fields); an empty string is "any". Errors
    /// are German and name the field.
    pub fn parse(
        account: &str,
        case_number: &str,
        from: &str,
        to: &str,
    ) -> Result<LogFilter, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let opt = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_string())
        };
        let case_number = match opt(case_number).map(|c| c.parse::<CaseNumber>()) {
            None => None,
            Some(Ok(n)) => Some(n.to_string()),
            Some(Err(m)) => {
                errors.push(("case", format!("{m}.")));
                None
            }
        };
        let mut date = |field: &'static str, v: &str| -> Option<NaiveDate> {
            let v = v.trim();
            if v.is_empty() {
                return None;
            }
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| {
                    errors.push((field, format!("„{v}“ ist kein Datum der Form JJJJ-MM-TT.")))
                })
                .ok()
        };
        let from = date("from", from);
        let to = date("to", to);
        if let (Some(a), Some(b)) = (from, to) {
            if a > b {
                errors.push((
                    "to",
                    "Das Ende des Zeitraums liegt vor seinem Anfang.".into(),
                ));
            }
        }
        if errors.is_empty() {
            Ok(LogFilter {
                account: opt(account),
                case_number,
                from,
                to,
            })
        } else {
            Err(errors)
        }
    }

    /// The store's query: `from` from the start of that Berlin day, `to` through its end.
    pub fn query(&self) -> LogQuery {
        let start = |d: NaiveDate| berlin_local_to_utc(d, NaiveTime::MIN);
        LogQuery {
            account: self.account.clone(),
            case_number: self.case_number.clone(),
            from: self.from.and_then(start),
            until: self.to.and_then(|d| d.succ_opt()).and_then(start),
            limit: MAX_ENTRIES,
        }
    }
}

/// One access-log entry as shown.
#[derive(Debug, Clone, Serialize)]
pub struct AccessEntry {
    /// Berlin time, `JJJJ-MM-TT HH:MM:SS`.
    pub at: String,
    pub actor: String,
    pub case_number: String,
    pub what: String,
    pub what_label: String,
}

/// One security-log entry as shown.
#[derive(Debug, Clone, Serialize)]
pub struct SecurityEntry {
    pub at: String,
    pub event: String,
    pub event_label: String,
    pub account: String,
    pub actor: String,
    pub detail: String,
}

fn berlin_second(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::Berlin)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// German label of a security-log event.
pub fn event_label(event: &str) -> String {
    match event {
        "login" => "Anmeldung",
        "logout" => "Abmeldung",
        "login_failed" => "Anmeldung fehlgeschlagen",
        "login_locked" => "Anmeldeversuch während Sperre",
        "lockout" => "Konto nach Fehlversuchen gesperrt",
        "account_added" => "Konto angelegt",
        "role_changed" => "Rolle geändert",
        "account_disabled" => "Konto gesperrt",
        "account_enabled" => "Konto wieder freigegeben",
        "staff_changed" => "Zuständigkeit des Kontos geändert",
        "password_changed" => "Passwort gesetzt",
        "password_reset" => "Passwort zurückgesetzt",
        "password_changed_by_user" => "Passwort selbst geändert",
        "password_change_failed" => "Passwortwechsel: bisheriges Passwort falsch",
        other => other,
    }
    .to_string()
}

pub async fn access(pool: &PgPool, f: &LogFilter) -> Result<Vec<AccessEntry>, StoreError> {
    Ok(q::access(pool, &f.query())
        .await?
        .into_iter()
        .map(|r| AccessEntry {
            at: berlin_second(r.at),
            what_label: AccessWhat::from_db(&r.what)
                .map(|w| w.label().to_string())
                .unwrap_or_else(|| r.what.clone()),
            actor: r.actor,
            case_number: r.case_number,
            what: r.what,
        })
        .collect())
}

pub async fn security(pool: &PgPool, f: &LogFilter) -> Result<Vec<SecurityEntry>, StoreError> {
    Ok(q::security(pool, &f.query())
        .await?
        .into_iter()
        .map(|r| SecurityEntry {
            at: berlin_second(r.at),
            event_label: event_label(&r.event),
            event: r.event,
            account: r.account.unwrap_or_default(),
            actor: r.actor,
            detail: r.detail.unwrap_or_default(),
        })
        .collect())
}

/// One CSV field (RFC 4180 quoting). A field that a spreadsheet would run as a formula gets a
/// leading apostrophe.
fn csv_field(s: &str) -> String {
    let s = crate::domain::text::spreadsheet_text(s).into_owned();
    if s.contains([',', '"', '\n', '\r', ';']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv<const N: usize>(header: [&str; N], rows: impl Iterator<Item = [String; N]>) -> String {
    let mut out = header.join(",");
    out.push_str("\r\n");
    for r in rows {
        let line: Vec<String> = r.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

pub fn access_csv(entries: &[AccessEntry]) -> String {
    csv(
        ["zeit", "wer", "vorgang", "was"],
        entries.iter().map(|e| {
            [
                e.at.clone(),
                e.actor.clone(),
                e.case_number.clone(),
                e.what_label.clone(),
            ]
        }),
    )
}

pub fn security_csv(entries: &[SecurityEntry]) -> String {
    csv(
        ["zeit", "ereignis", "konto", "wer", "angaben"],
        entries.iter().map(|e| {
            [
                e.at.clone(),
                e.event_label.clone(),
                e.account.clone(),
                e.actor.clone(),
                e.detail.clone(),
            ]
        }),
    )
}

/// Removes access-log rows older than `days` days (`[retention] access_log_days`).
pub async fn purge_access(
    pool: &PgPool,
    days: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, StoreError> {
    q::purge_access(pool, now - chrono::Duration::days(i64::from(days))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_parses_and_names_bad_fields() {
        let f = LogFilter::parse(" anna ", "krm-2026-00001", "2026-01-01", "2026-01-31").unwrap();
        assert_eq!(f.account.as_deref(), Some("anna"));
        assert_eq!(f.case_number.as_deref(), Some("KRM-2026-00001"));
        let q = f.query();
        assert_eq!(q.from.unwrap().to_rfc3339(), "2025-12-31T23:00:00+00:00");
        assert_eq!(q.until.unwrap().to_rfc3339(), "2026-01-31T23:00:00+00:00");
        let e = LogFilter::parse("", "KRM-1", "gestern", "2026-01-01").unwrap_err();
        let fields: Vec<&str> = e.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, vec!["case", "from"]);
        let e = LogFilter::parse("", "", "2026-02-01", "2026-01-01").unwrap_err();
        assert_eq!(e[0].0, "to");
        assert_eq!(
            LogFilter::parse("", "", "", "").unwrap(),
            LogFilter::default()
        );
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("a"), "a");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("x\"y"), "\"x\"\"y\"");
        assert_eq!(csv_field("say \"hi\", you"), "\"say \"\"hi\"\", you\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        let s = security_csv(&[SecurityEntry {
            at: "2026-01-01 10:00:00".into(),
            event: "login".into(),
            event_label: event_label("login"),
            account: "anna".into(),
            actor: "web:anna".into(),
            detail: String::new(),
        }]);
        assert_eq!(
            s,
            "zeit,ereignis,konto,wer,angaben\r\n2026-01-01 10:00:00,Anmeldung,anna,web:anna,\r\n"
        );
    }
}
