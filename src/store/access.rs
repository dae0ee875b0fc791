//! The access log: who read a case's social data (its mail content) and when, kept apart from
//! the case's timeline (§ 35 SGB I, Art. 5(2) GDPR). Written by the desk when a case's mail
//! content is shown and by `case show --body`; read by the data protection officer.

use sqlx::PgExecutor;

use super::Result;

/// What was read, as stored in `access_log.what`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessWhat {
    /// The mail texts of a case (desk case page, `case show --body`).
    MailText,
    /// The sanitised HTML part of one mail (the desk's mail frame).
    MailHtml,
    /// One attachment.
    Attachment,
}

impl AccessWhat {
    pub fn as_db(self) -> &'static str {
        match self {
            AccessWhat::MailText => "mail_text",
            AccessWhat::MailHtml => "mail_html",
            AccessWhat::Attachment => "attachment",
        }
    }

    /// German label for the access log's readers.
    pub fn label(self) -> &'static str {
        match self {
            AccessWhat::MailText => "Mailtexte gelesen",
            AccessWhat::MailHtml => "HTML-Teil einer Mail gelesen",
            AccessWhat::Attachment => "Anhang geöffnet",
        }
    }

    pub fn from_db(s: &str) -> Option<AccessWhat> {
        [
            AccessWhat::MailText,
            AccessWhat::MailHtml,
            AccessWhat::Attachment,
        ]
        .into_iter()
        .find(|w| w.as_db() == s)
    }
}

/// Record one read of case content by `actor` (`web:<account>` or the OS user).
pub async fn record<'e>(
    db: impl PgExecutor<'e>,
    actor: &str,
    case_id: i64,
    case_number: &str,
    what: AccessWhat,
) -> Result<()> {
    // A case page is shown again after every form sent on it: one row per person, case and
    // 10 minutes says who read it and when, without burying the rest of the log (an outside
    // try found 53 rows for a few minutes' work on one case). Mail frames and attachments
    // are opened one by one and stay one row each.
    sqlx::query(
        "INSERT INTO access_log (actor, case_id, case_number, what)
         SELECT $1, $2, $3, $4
         WHERE $4 <> 'mail_text' OR NOT EXISTS (
             SELECT 1 FROM access_log
             WHERE case_number = $3 AND actor = $1 AND what = $4
               AND at > now() - interval '10 minutes')",
    )
    .bind(actor)
    .bind(case_id)
    .bind(case_number)
    .bind(what.as_db())
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_spellings_round_trip() {
        for w in [
            AccessWhat::MailText,
            AccessWhat::MailHtml,
            AccessWhat::Attachment,
        ] {
            assert_eq!(AccessWhat::from_db(w.as_db()), Some(w));
        }
        assert_eq!(AccessWhat::from_db("inhalt"), None);
    }
}
