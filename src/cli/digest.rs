//! `krm-intake digest --preview [--date YYYY-MM-DD]`: prints every recipient's digest as the
//! daemon would compose it on that date at the digest time, from the cases' current state.
//! Sends nothing and writes nothing; sending is the daemon's job.

use chrono::{NaiveDate, Utc};
use std::process::ExitCode;

use crate::cli::term::{errln, out, outln};

use crate::calendar;
use crate::digest::{self, Audience};
use crate::templates::Templates;

#[derive(Debug, clap::Args)]
pub struct DigestArgs {
    /// Die Erinnerungen zeigen statt senden (die einzige Betriebsart: versenden tut der Dienst).
    #[arg(long, required = true)]
    pub preview: bool,
    /// Der Tag der Vorschau (JJJJ-MM-TT, Berliner Zeit); Vorgabe: heute.
    #[arg(long, value_name = "JJJJ-MM-TT", value_parser = parse_date)]
    pub date: Option<NaiveDate>,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("„{s}“ ist kein Datum der Form JJJJ-MM-TT"))
}

pub async fn run(cli: &super::Cli, args: &DigestArgs) -> ExitCode {
    let (settings, pool) = match super::settings_and_db(cli).await {
        Ok(v) => v,
        Err(c) => return c,
    };
    let templates = match Templates::load(&settings.templates_dir) {
        Ok(t) => t,
        Err(e) => {
            errln!(
                "krm-intake: Konfigurationsfehler: {}",
                super::template_fault(&e)
            );
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let cal = settings.deadlines.calendar();
    let date = args
        .date
        .unwrap_or_else(|| calendar::berlin_date(Utc::now()));
    let mut conn = match pool.acquire().await {
        Ok(c) => c,
        Err(e) => return super::fail(e.into()),
    };
    let composed = match digest::compose(&mut conn, &settings, &cal, &templates, date).await {
        Ok(c) => c,
        Err(e) => return super::fail(e.into()),
    };

    let time = settings.digest.time.format("%H:%M");
    outln!(
        "Vorschau der Erinnerungen für {}, {date}, {time} Uhr (Stand der Vorgänge: jetzt). Es wird nichts versandt.",
        digest::weekday_de(date)
    );
    if let Some(why) = digest::non_working_reason(&cal, date) {
        outln!(
            "Hinweis: {date} ist kein Arbeitstag ({why}); an diesem Tag versendet der Daemon keine Erinnerungen."
        );
    }
    if settings.digest.team.is_none() {
        outln!("Hinweis: digest.team ist nicht gesetzt; es gibt keine Team-Übersicht.");
    }
    if settings.digest.lead.is_none() {
        outln!(
            "Hinweis: digest.lead ist nicht gesetzt; überfällige Vorgänge werden nicht eskaliert."
        );
    }
    if composed.is_empty() {
        outln!("\nKeine Empfänger.");
    }
    for c in &composed {
        let role = match c.planned.audience {
            Audience::Team => "Team".to_string(),
            Audience::Assignee => format!("zuständig: {}", c.planned.context.recipient_label),
            Audience::Escalation => "Leitung, Eskalation".to_string(),
        };
        let verdict = if c.send {
            "würde versandt"
        } else if c.planned.audience == Audience::Escalation {
            "würde nicht versandt: nichts zu eskalieren"
        } else {
            "würde nicht versandt: nichts zu melden (digest.send_empty = false)"
        };
        outln!(
            "\n==== An: {} ({role}) – {verdict} ====",
            c.planned.recipient
        );
        outln!("Betreff: {}\n", c.rendered.subject);
        out!("{}", c.rendered.body);
        if !c.rendered.body.ends_with('\n') {
            outln!();
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_checked() {
        assert!(super::parse_date("2026-11-25").is_ok());
        let e = super::parse_date("25.11.2026").unwrap_err();
        assert!(e.contains("JJJJ-MM-TT"), "{e}");
    }
}
