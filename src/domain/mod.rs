//! Domain vocabulary shared by every stage: addresses, kinds, categories, case numbers.
//! Pure types with parsing at the edge; no I/O here.

mod states;
pub mod text;

pub use states::{
    AckStatus, AnsweredSource, CaseStatus, ContactSource, Direction, MessageRole, NetworkKind,
    OutboxKind, OutboxStatus, ReviewReason,
};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A mail address with its optional display name. `addr` is kept as written;
/// compare with [`Address::normalized`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub addr: String,
    pub name: Option<String>,
}

impl Address {
    pub fn new(addr: impl Into<String>, name: Option<String>) -> Self {
        Address {
            addr: addr.into(),
            name,
        }
    }

    /// Lower-cased address, the form used for matching and rate limits.
    pub fn normalized(&self) -> String {
        self.addr.trim().to_lowercase()
    }

    /// Domain part, lower-cased (empty when there is no `@`).
    pub fn domain(&self) -> String {
        let n = self.normalized();
        n.rsplit_once('@')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default()
    }

    /// Local part, lower-cased.
    pub fn local_part(&self) -> String {
        let n = self.normalized();
        n.rsplit_once('@').map(|(l, _)| l.to_string()).unwrap_or(n)
    }
}

/// Kind of customer reaction (KRM: Beschwerde, Idee/Anregung, Lob).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Beschwerde,
    Anregung,
    Lob,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Beschwerde => "beschwerde",
            Kind::Anregung => "anregung",
            Kind::Lob => "lob",
        }
    }

    /// German label for staff output and reports.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Beschwerde => "Beschwerde",
            Kind::Anregung => "Idee/Anregung",
            Kind::Lob => "Lob",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_lowercase().as_str() {
            "beschwerde" => Ok(Kind::Beschwerde),
            "anregung" | "idee" | "idee/anregung" | "ideen und anregungen" => Ok(Kind::Anregung),
            "lob" => Ok(Kind::Lob),
            other => Err(format!(
                "unbekannte Art „{other}“ (erlaubt: beschwerde, anregung, lob)"
            )),
        }
    }
}

/// Every Message-ID this product generates starts like this (`smtp::outbox_message_id`), so a
/// reply to or a bounce of our own mail is recognised by its references.
pub const OWN_MESSAGE_ID_PREFIX: &str = "<krm-";

/// German label of a stored kind spelling (an unknown spelling is shown as stored).
pub fn kind_label(raw: &str) -> String {
    raw.parse::<Kind>()
        .map(|k| k.label().to_string())
        .unwrap_or_else(|_| raw.to_string())
}

/// A date as staff read it in every output: `YYYY-MM-DD`.
pub fn ymd(d: chrono::NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Category of the organisation behind a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Category {
    #[serde(rename = "Beratungsstelle")]
    Beratungsstelle,
    #[serde(rename = "Verein/Initiative")]
    VereinInitiative,
    #[serde(rename = "Träger")]
    Traeger,
    #[serde(rename = "ehrenamtlich")]
    Ehrenamtlich,
    #[serde(rename = "städtische Stelle")]
    StaedtischeStelle,
    #[serde(rename = "Krankenhaus-Sozialdienst")]
    KrankenhausSozialdienst,
    #[serde(rename = "Sozialpsychiatrischer Dienst")]
    SozialpsychiatrischerDienst,
    #[serde(rename = "Jobcenter")]
    Jobcenter,
    #[serde(rename = "sonstige")]
    Sonstige,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::Beratungsstelle,
        Category::VereinInitiative,
        Category::Traeger,
        Category::Ehrenamtlich,
        Category::StaedtischeStelle,
        Category::KrankenhausSozialdienst,
        Category::SozialpsychiatrischerDienst,
        Category::Jobcenter,
        Category::Sonstige,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Category::Beratungsstelle => "Beratungsstelle",
            Category::VereinInitiative => "Verein/Initiative",
            Category::Traeger => "Träger",
            Category::Ehrenamtlich => "ehrenamtlich",
            Category::StaedtischeStelle => "städtische Stelle",
            Category::KrankenhausSozialdienst => "Krankenhaus-Sozialdienst",
            Category::SozialpsychiatrischerDienst => "Sozialpsychiatrischer Dienst",
            Category::Jobcenter => "Jobcenter",
            Category::Sonstige => "sonstige",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Category::ALL
            .iter()
            .copied()
            .find(|c| {
                c.label().eq_ignore_ascii_case(t) || c.label().to_lowercase() == t.to_lowercase()
            })
            .ok_or_else(|| {
                let names: Vec<_> = Category::ALL.iter().map(|c| c.label()).collect();
                format!("unbekannte Kategorie „{t}“ (erlaubt: {})", names.join(", "))
            })
    }
}

/// How a mail looks to the loop protection (RFC 3834).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AutoClass {
    /// Written by a person: acknowledge it.
    #[default]
    None,
    /// Out-of-office or other automatic reply: never acknowledged.
    AutoReply,
    /// Delivery status notification / bounce: never acknowledged, never a case of its own.
    Bounce,
    /// Bulk or list mail, spam-flagged: a case marked for review, never acknowledged.
    Bulk,
}

impl AutoClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AutoClass::None => "none",
            AutoClass::AutoReply => "auto_reply",
            AutoClass::Bounce => "bounce",
            AutoClass::Bulk => "bulk",
        }
    }
}

/// A case number `KRM-<year>-<5 digits>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseNumber {
    pub year: i32,
    pub seq: u32,
}

impl CaseNumber {
    pub fn new(year: i32, seq: u32) -> Self {
        CaseNumber { year, seq }
    }
}

impl fmt::Display for CaseNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KRM-{:04}-{:05}", self.year, self.seq)
    }
}

impl FromStr for CaseNumber {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = || format!("„{t}“ ist keine Vorgangsnummer (Form: KRM-JJJJ-NNNNN)");
        let rest = t
            .strip_prefix("KRM-")
            .or_else(|| t.strip_prefix("krm-"))
            .ok_or_else(bad)?;
        let (y, n) = rest.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || n.len() != 5 || !y.bytes().chain(n.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let seq: u32 = n.parse().map_err(|_| bad())?;
        if seq == 0 {
            return Err(bad());
        }
        Ok(CaseNumber { year, seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_number_round_trip() {
        let n: CaseNumber = "KRM-2026-00042".parse().unwrap();
        assert_eq!(n, CaseNumber::new(2026, 42));
        assert_eq!(n.to_string(), "KRM-2026-00042");
        assert!("KRM-2026-0042".parse::<CaseNumber>().is_err());
        assert!("KRM-2026-00000".parse::<CaseNumber>().is_err());
        assert!("XYZ-2026-00001".parse::<CaseNumber>().is_err());
    }

    #[test]
    fn address_parts() {
        let a = Address::new("Anna.Beispiel@Caritas-Dresden.TEST", None);
        assert_eq!(a.domain(), "caritas-dresden.test");
        assert_eq!(a.local_part(), "anna.beispiel");
    }

    #[test]
    fn category_parse() {
        assert_eq!("Träger".parse::<Category>().unwrap(), Category::Traeger);
        assert_eq!(
            "städtische stelle".parse::<Category>().unwrap(),
            Category::StaedtischeStelle
        );
        assert!("Kirche".parse::<Category>().is_err());
    }
}
