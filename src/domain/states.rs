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
            ReviewReason::Spam => "Spam-Verdacht (bestätigen: case confirm, sonst case discard)",
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
                "Spam-Verdacht (vom Mailserver markiert): bestätigen (case confirm) oder \
                 verwerfen (case discard)"
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
        /// The office's final answer, captured from its sent mail.
        Answer => "answer",
        /// An interim reply (a marker word in the subject), captured from sent mail.
        InterimReply => "interim_reply",
        /// A sent mail to an outside body of the catalogue (clarification work).
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
            MessageRole::Answer => "Antwort (gesendet)",
            MessageRole::InterimReply => "Zwischennachricht (gesendet)",
            MessageRole::Contact => "Anfrage an eine Stelle (gesendet)",
            MessageRole::Internal => "interne Korrespondenz (gesendet)",
        }
    }

    /// Whether this is a mail the office sent (`messages.direction = 'out'`).
    pub fn is_outgoing(self) -> bool {
        matches!(
            self,
            MessageRole::Answer
                | MessageRole::InterimReply
                | MessageRole::Contact
                | MessageRole::Internal
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spellings the migrations' CHECK constraints allow, copied from `migrations/`; a new
    /// variant must come with a migration.
    #[test]
    fn database_spellings_match_the_check_constraints() {
        let init = include_str!("../../migrations/20261125000001_init.sql");
        let answers = include_str!("../../migrations/20261206100000_answers_network.sql");
        let check = |column: &str, values: &[&str]| {
            let list = values
                .iter()
                .map(|v| format!("'{v}'"))
                .collect::<Vec<_>>()
                .join(", ");
            let needle = format!("{column} IN ({list})");
            // The answers migration widened the message roles (its list is wrapped once).
            let answers_flat = answers.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                init.contains(&needle) || answers_flat.contains(&needle),
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
        check(
            "role",
            &db(&MessageRole::ALL
                .iter()
                .map(|s| s.as_db())
                .collect::<Vec<_>>()),
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
