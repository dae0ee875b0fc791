//! What staff do with a case: classify, assess, hold and resume, close, reopen, assign, correct
//! the organisation, discard, merge, record reactions that came by letter or phone. One core for
//! both front ends (the CLI and the desk), in three parts:
//! - [`transitions`]: pure functions on [`CaseState`] — every validation and state change, with the
//!   German message staff read when it is refused; unit-tested without a database;
//! - [`store`]: the commands against the database, one transaction each, writing one audit row
//!   (`case_events`) per changed field; and the reads (`detail`, `list`); SQL lives in `store::staff`;
//! - [`contacts`]: clarification work (contacts with outside bodies, `contributed`), checks and
//!   commands in one file;
//! - [`network`]: network work (appointments with organisations), not tied to a case;
//! - [`views`]: the documented JSON of `case list --json`/`case show --json` and the formatting of
//!   dates and values that the CLI prints and the desk renders.

use thiserror::Error;

use crate::domain::{AckStatus, CaseStatus};
use crate::store::StoreError;

pub mod contacts;
pub mod network;
pub mod store;
pub mod transitions;
pub mod views;

pub use contacts::*;
pub use store::*;
pub use transitions::*;
pub use views::*;

pub use crate::domain::{kind_label, ymd};
pub use crate::store::staff::{CaseRef, CaseState};

#[derive(Debug, Error)]
pub enum StaffError {
    #[error("Vorgang {0} gibt es nicht")]
    NotFound(String),
    /// An invalid transition or input; the message is German and complete.
    #[error("{0}")]
    Refused(String),
    /// The case changed since the version a form was rendered from (the desk's optimistic lock).
    #[error("Der Vorgang {0} wurde inzwischen geändert")]
    Stale(String),
    #[error("Datenbank: {0}")]
    Store(#[from] StoreError),
    /// The acknowledgement template failed to render; nothing was changed.
    #[error("Vorlage der Eingangsbestätigung: {0}")]
    Template(String),
}

impl From<sqlx::Error> for StaffError {
    fn from(e: sqlx::Error) -> Self {
        StaffError::Store(StoreError::Sql(e))
    }
}

fn refused(msg: impl Into<String>) -> StaffError {
    StaffError::Refused(msg.into())
}

pub type Result<T> = std::result::Result<T, StaffError>;

// ---------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------

/// German label of a stored status (unknown values shown as stored).
pub fn status_label(s: &str) -> String {
    CaseStatus::from_db(s)
        .map(|x| x.label().to_string())
        .unwrap_or_else(|| s.to_string())
}

/// How a reaction arrived when it did not come through the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Channel {
    Brief,
    Telefon,
    Persoenlich,
    Fax,
    Sonstiges,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Brief,
        Channel::Telefon,
        Channel::Persoenlich,
        Channel::Fax,
        Channel::Sonstiges,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Brief => "brief",
            Channel::Telefon => "telefon",
            Channel::Persoenlich => "persoenlich",
            Channel::Fax => "fax",
            Channel::Sonstiges => "sonstiges",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Channel::Brief => "Brief",
            Channel::Telefon => "Telefon",
            Channel::Persoenlich => "persönlich",
            Channel::Fax => "Fax",
            Channel::Sonstiges => "sonstiger Weg",
        }
    }
}

/// German label of a stored channel: a manual channel, or else a mailbox name.
pub fn channel_label(s: &str) -> String {
    Channel::ALL
        .into_iter()
        .find(|c| c.as_str() == s)
        .map(|c| c.label().to_string())
        .unwrap_or_else(|| format!("E-Mail ({s})"))
}

/// German label of a stored acknowledgement status (unknown values shown as stored).
pub fn ack_status_label(s: &str) -> &str {
    AckStatus::from_db(s).map(AckStatus::label).unwrap_or(s)
}

/// `JJJJ-MM-TT` as staff give dates (`--answered-on`, `--on`, `--ack-sent`).
pub fn parse_date(s: &str) -> std::result::Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("„{s}“ ist kein Datum (JJJJ-MM-TT)"))
}

/// `yes`/`no` (also `ja`/`nein`, `true`/`false`) as staff give it (`--justified`, `--third-party`).
pub fn parse_yes_no(s: &str) -> std::result::Result<bool, String> {
    match s.trim().to_lowercase().as_str() {
        "yes" | "ja" | "true" => Ok(true),
        "no" | "nein" | "false" => Ok(false),
        _ => Err(format!("„{s}“: erwartet ja oder nein (yes/no)")),
    }
}

/// Who acts: the OS user (the audit log's "who") and the name given with `--by`.
#[derive(Debug, Clone)]
pub struct Actor {
    pub os_user: String,
    pub stated_by: Option<String>,
}

impl Actor {
    /// A timeline event of this actor; the caller fills in the values.
    pub fn event<'a>(&'a self, action: &'a str) -> crate::store::cases::Event<'a> {
        crate::store::cases::Event {
            actor: &self.os_user,
            stated_by: self.stated_by.as_deref(),
            action,
            ..Default::default()
        }
    }
}
