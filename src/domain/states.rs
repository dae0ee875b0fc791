//! The states a case, its acknowledgement and an outbox row can be in, and why a case is marked
//! for review. Each state has its database spelling (the TEXT values the migrations' CHECK
//! constraints allow) and its German labels here and nowhere else; the store binds and decodes
//! these enums directly.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares a state enum with its database spelling, `as_db`/`from_db`, `ALL`, `Display` (the
/// database spelling), comparison with that spelling, and sqlx encode/decode as TEXT.
macro_rules! db_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $db:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        pub enum $name { $( $(#[$vmeta])* $variant ),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling stored in the database (and printed in JSON output).
            pub const fn as_db(self) -> &'static str {
                match self { $($name::$variant => $db),+ }
            }

            /// Parses the database spelling; None for anything else.
            pub fn from_db(s: &str) -> Option<$name> {
                match s { $($db => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_db())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_db() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_db() == *other
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
            fn array_compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::postgres::PgHasArrayType>::array_compatible(ty)
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Postgres>>::encode_by_ref(&self.as_db(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let s = <&str as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
                $name::from_db(s).ok_or_else(|| {
                    format!(concat!("unknown ", stringify!($name), " {:?}"), s).into()
                })
            }
        }
    };
}

db_enum! {
    /// The documented status set of a case (docs/staff-cli.md).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
    #[serde(rename_all = "snake_case")]
    #[value(rename_all = "snake_case")]
    pub enum CaseStatus {
        Open => "open",
        OnHold => "on_hold",
        Closed => "closed",
        Discarded => "discarded",
        Merged => "merged",
    }
}

impl CaseStatus {
    /// The statuses in which a case is finished (purge may remove it after the retention time).
    pub const ENDED: [CaseStatus; 3] = [
        CaseStatus::Closed,
        CaseStatus::Discarded,
        CaseStatus::Merged,
    ];

    /// German label for staff output, digests and purge output.
    pub fn label(self) -> &'static str {
        match self {
            CaseStatus::Open => "offen",
            CaseStatus::OnHold => "ruht",
            CaseStatus::Closed => "abgeschlossen",
            CaseStatus::Discarded => "verworfen",
            CaseStatus::Merged => "zusammengeführt",
        }
    }

    pub fn is_ended(self) -> bool {
        CaseStatus::ENDED.contains(&self)
    }
}

db_enum! {
    /// Where a case's acknowledgement stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum AckStatus {
        Pending => "pending",
        Sent => "sent",
        Failed => "failed",
        Suppressed => "suppressed",
        NotDelivered => "not_delivered",
        Manual => "manual",
        /// The case did not come in by mail (`case new`).
        None => "none",
    }
}

impl AckStatus {
    /// German label for staff output.
    pub fn label(self) -> &'static str {
        match self {
            AckStatus::Pending => "ausstehend",
            AckStatus::Sent => "versandt",
            AckStatus::Failed => "fehlgeschlagen",
            AckStatus::Suppressed => "unterdrückt",
            AckStatus::NotDelivered => "nicht zugestellt",
            AckStatus::Manual => "von Hand erfasst",
            AckStatus::None => "keine (nicht per Mail eingegangen)",
        }
    }
}

db_enum! {
    /// Why intake marked a new case for staff to check (`cases.review_reason`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ReviewReason {
        /// The receiving server marked the mail as spam; the case counts after `case confirm`.
        Spam => "spam",
        Bulk => "bulk",
        AutoReply => "auto_reply",
        Bounce => "bounce",
        PossibleDuplicate => "possible_duplicate",
        FollowupToClosed => "followup_to_closed",
    }
}

impl ReviewReason {
    /// German label for `case show`.
    pub fn label(self) -> &'static str {
        match self {
            ReviewReason::Spam => "Spam-Verdacht (aufheben oder verwerfen)",
            ReviewReason::Bulk => "Massen- oder Listenmail",
            ReviewReason::AutoReply => "automatische Antwort",
            ReviewReason::Bounce => "Unzustellbarkeitsnachricht",
            ReviewReason::PossibleDuplicate => "mögliches Duplikat (gleiche Message-ID)",
            ReviewReason::FollowupToClosed => "Nachricht zu einem abgeschlossenen Vorgang",
        }
    }

    /// The longer wording a digest uses (it names what to do).
    pub fn digest_text(self) -> &'static str {
        match self {
            ReviewReason::Spam => {
                "Spam-Verdacht (vom Mailserver markiert): Spam-Verdacht aufheben oder den \
                 Vorgang verwerfen"
            }
            ReviewReason::Bulk => "Massen- oder Listenmail (bulk)",
            ReviewReason::AutoReply => "automatische Antwort (z. B. Abwesenheitsnotiz)",
            ReviewReason::Bounce => "Unzustellbarkeitsnachricht ohne zugehörigen Vorgang",
            ReviewReason::PossibleDuplicate => "mögliches Duplikat (gleiche Message-ID)",
            ReviewReason::FollowupToClosed => "Nachricht zu einem abgeschlossenen Vorgang",
        }
    }

    /// The short note `explain` appends to its summary line ("" where it names none).
    pub fn explain_note(self) -> &'static str {
        match self {
            ReviewReason::Bulk => ", zur Prüfung markiert (Massenmail)",
            ReviewReason::AutoReply => ", zur Prüfung markiert (Autoantwort)",
            ReviewReason::Bounce => ", zur Prüfung markiert (Unzustellbarkeitsmeldung)",
            ReviewReason::Spam => {
                ", zur Prüfung markiert (Spam-Verdacht; zählt erst nach „case confirm“)"
            }
            ReviewReason::PossibleDuplicate | ReviewReason::FollowupToClosed => "",
        }
    }
}

db_enum! {
    /// What an outbox row carries.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum OutboxKind {
        Ack => "ack",
        Digest => "digest",
        Escalation => "escalation",
    }
}

db_enum! {
    /// Where an outbox row stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum OutboxStatus {
        Pending => "pending",
        Sent => "sent",
        Failed => "failed",
        /// An acknowledgement staff recorded as given another way before it was sent.
        Withdrawn => "withdrawn",
    }
}

db_enum! {
    /// The role a stored mail plays in its case (`messages.role`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum MessageRole {
        Initial => "initial",
        Followup => "followup",
        AutoReply => "auto_reply",
        Bounce => "bounce",
        /// A final answer the Ombudsstelle sent (captured from an answers folder).
        Answer => "answer",
        /// An interim reply the Ombudsstelle sent (subject with an interim marker).
        InterimReply => "interim_reply",
        /// A mail the Ombudsstelle sent to an outside body of the catalogue (clarification).
        Contact => "contact",
        /// Other sent mail of the case, e.g. to a Jobcenter team.
        Internal => "internal",
    }
}

impl MessageRole {
    /// German label for `case show`.
    pub fn label(self) -> &'static str {
        match self {
            MessageRole::Initial => "Erstmail",
            MessageRole::Followup => "Folgemail",
            MessageRole::AutoReply => "automatische Antwort",
            MessageRole::Bounce => "Rückläufer",
            MessageRole::Answer => "Antwort der Ombudsstelle",
            MessageRole::InterimReply => "Zwischennachricht der Ombudsstelle",
            MessageRole::Contact => "Anfrage an eine Stelle",
            MessageRole::Internal => "interne Korrespondenz",
        }
    }

    /// Which way a mail of this role went.
    pub fn direction(self) -> Direction {
        match self {
            MessageRole::Initial
            | MessageRole::Followup
            | MessageRole::AutoReply
            | MessageRole::Bounce => Direction::In,
            MessageRole::Answer
            | MessageRole::InterimReply
            | MessageRole::Contact
            | MessageRole::Internal => Direction::Out,
        }
    }
}

db_enum! {
    /// Which way a stored mail went (`messages.direction`): received by the Ombudsstelle, or
    /// sent by it (captured from an answers folder).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Direction {
        In => "in",
        Out => "out",
    }
}

impl Direction {
    /// German label for staff output.
    pub fn label(self) -> &'static str {
        match self {
            Direction::In => "eingegangen",
            Direction::Out => "gesendet",
        }
    }
}

db_enum! {
    /// Where a case's answer date came from (`cases.answered_source`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum AnsweredSource {
        /// Captured from a sent mail in an answers folder.
        Mailbox => "mailbox",
        /// Typed by staff (`case close --answered-on`).
        Typed => "typed",
    }
}

impl AnsweredSource {
    /// German label for staff output.
    pub fn label(self) -> &'static str {
        match self {
            AnsweredSource::Mailbox => "aus dem Postfach erfasst",
            AnsweredSource::Typed => "von Hand eingegeben",
        }
    }
}

db_enum! {
    /// Who recorded a contact with an outside body (`case_contacts.source`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ContactSource {
        /// Staff (`case contact`, the desk).
        Staff => "staff",
        /// A sent mail to a domain of the body, captured from an answers folder.
        Mailbox => "mailbox",
    }
}

impl ContactSource {
    /// German label for staff output.
    pub fn label(self) -> &'static str {
        match self {
            ContactSource::Staff => "von Hand erfasst",
            ContactSource::Mailbox => "aus dem Postfach erfasst",
        }
    }
}

db_enum! {
    /// What kind of network appointment (`network_appointments.kind`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum NetworkKind {
        /// Presenting the Ombudsstelle's concept, e.g. at a counselling centre.
        Vorstellung => "vorstellung",
        Netzwerktreffen => "netzwerktreffen",
        Fachgruppe => "fachgruppe",
        Besuch => "besuch",
        Sonstiges => "sonstiges",
    }
}

impl NetworkKind {
    /// German label for staff output and the report.
    pub fn label(self) -> &'static str {
        match self {
            NetworkKind::Vorstellung => "Vorstellung der Ombudsstelle",
            NetworkKind::Netzwerktreffen => "Netzwerktreffen",
            NetworkKind::Fachgruppe => "Fachgruppe/Arbeitsgruppe",
            NetworkKind::Besuch => "Besuch",
            NetworkKind::Sonstiges => "Sonstiges",
        }
    }
}

impl std::str::FromStr for NetworkKind {
    type Err = String;

    /// The database spelling, case-insensitive; the error (German) lists the kinds.
    fn from_str(s: &str) -> Result<Self, String> {
        NetworkKind::from_db(&s.trim().to_lowercase()).ok_or_else(|| {
            let all: Vec<&str> = NetworkKind::ALL.iter().map(|k| k.as_db()).collect();
            format!(
                "Unbekannte Art „{}“. Mögliche Arten: {}",
                s.trim(),
                all.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spellings the migrations' CHECK constraints allow, copied from `migrations/`; a new
    /// variant must come with a migration.
    #[test]
    fn database_spellings_match_the_check_constraints() {
        // init.sql, and the migrations that replaced one of its constraints.
        let init = concat!(
            include_str!("../../migrations/20261125000001_init.sql"),
            include_str!("../../migrations/20261207020000_outbox_withdrawn.sql"),
        );
        let check = |column: &str, values: &[&str]| {
            let list = values
                .iter()
                .map(|v| format!("'{v}'"))
                .collect::<Vec<_>>()
                .join(", ");
            let needle = format!("{column} IN ({list})");
            assert!(
                init.contains(&needle),
                "missing in the migrations: {needle}"
            );
        };
        let db = |all: &[&'static str]| all.to_vec();
        check(
            "status",
            &db(&CaseStatus::ALL
                .iter()
                .map(|s| s.as_db())
                .collect::<Vec<_>>()),
        );
        check(
            "ack_status",
            &db(&AckStatus::ALL.iter().map(|s| s.as_db()).collect::<Vec<_>>()),
        );
        check(
            "kind",
            &db(&OutboxKind::ALL
                .iter()
                .map(|s| s.as_db())
                .collect::<Vec<_>>()),
        );
        check(
            "status",
            &db(&OutboxStatus::ALL
                .iter()
                .map(|s| s.as_db())
                .collect::<Vec<_>>()),
        );
    }

    /// The spellings of the answers-and-network migration's CHECK constraints.
    #[test]
    fn answers_spellings_match_the_check_constraints() {
        let sql = include_str!("../../migrations/20261206100000_answers_network.sql");
        let list = |all: Vec<&str>| {
            all.iter()
                .map(|v| format!("'{v}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let needles = [
            format!(
                "role IN\n    ({})",
                list(MessageRole::ALL.iter().map(|s| s.as_db()).collect())
            ),
            format!(
                "direction IN ({})",
                list(Direction::ALL.iter().map(|s| s.as_db()).collect())
            ),
            format!(
                "answered_source IN ({})",
                list(AnsweredSource::ALL.iter().map(|s| s.as_db()).collect())
            ),
            format!(
                "source IN ({})",
                list(ContactSource::ALL.iter().map(|s| s.as_db()).collect())
            ),
            format!(
                "kind IN ({})",
                list(NetworkKind::ALL.iter().map(|s| s.as_db()).collect())
            ),
        ];
        for n in needles {
            assert!(sql.contains(&n), "missing in the migration: {n}");
        }
        assert_eq!(MessageRole::Answer.direction(), Direction::Out);
        assert_eq!(MessageRole::Bounce.direction(), Direction::In);
        assert_eq!("Fachgruppe".parse(), Ok(NetworkKind::Fachgruppe));
        assert_eq!(
            "Tagung".parse::<NetworkKind>().unwrap_err(),
            "Unbekannte Art „Tagung“. Mögliche Arten: vorstellung, netzwerktreffen, fachgruppe, besuch, sonstiges"
        );
    }

    #[test]
    fn round_trip_and_labels() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::from_db(s.as_db()), Some(*s));
        }
        for s in ReviewReason::ALL {
            assert_eq!(ReviewReason::from_db(s.as_db()), Some(*s));
        }
        assert_eq!(CaseStatus::OnHold.label(), "ruht");
        assert_eq!(CaseStatus::from_db("ruhend"), None);
        assert_eq!(
            serde_json::to_value(ReviewReason::AutoReply).ok(),
            Some(serde_json::json!("auto_reply"))
        );
    }
}
