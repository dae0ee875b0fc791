//! `krm-intake case …`: the staff's commands on cases. Parses arguments, calls `staff`, prints
//! German text (or the documented JSON of docs/staff-cli.md). Exit 1 on a refused command.

use chrono::{NaiveDate, Utc};
use std::process::ExitCode;

use crate::cli::term::{errln, out, outln};

use crate::calendar;
use crate::domain::{CaseStatus, Category, Kind};
use crate::staff::{
    self, Actor, Applied, CaseDetail, CaseJson, Channel, ListFilter, ManualCase,
    ManualOrganisation, StaffError,
};
use crate::store::staff::StaffCase;

#[derive(Debug, Clone, clap::Args)]
pub struct ByArg {
    /// Name der handelnden Person; steht im Verlauf neben dem Benutzerkonto.
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct NumberArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042
    #[arg(value_name = "NUMMER")]
    pub number: String,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Subcommand)]
pub enum CaseCommand {
    /// Vorgänge auflisten (Filter lassen sich kombinieren).
    List(ListArgs),
    /// Einen Vorgang zeigen: Angaben, alle Mails, Anhänge, Verlauf.
    Show(ShowArgs),
    /// Eine Reaktion erfassen, die per Brief, Telefon, persönlich o. Ä. kam.
    New(NewArgs),
    /// Art bestätigen und Themen (höchstens drei) vergeben.
    Classify(ClassifyArgs),
    /// Eine Beschwerde als begründet oder unbegründet bewerten.
    Assess(AssessArgs),
    /// Vorgang ruhen lassen (Warten auf Rückmeldung); die Frist läuft nicht.
    Hold(NumberArgs),
    /// Ruhenden Vorgang fortsetzen; die Frist verlängert sich um die ganzen Ruhetage.
    Resume(NumberArgs),
    /// Vorgang abschließen (Tag der abschließenden Antwort).
    Close(CloseArgs),
    /// Abgeschlossenen oder verworfenen Vorgang wieder öffnen.
    Reopen(NumberArgs),
    /// Bemerkung (Erfasserbemerkung) in den Verlauf schreiben.
    Note(NoteArgs),
    /// Zuständige Person setzen (Name aus [staff]) oder entfernen.
    Assign(AssignArgs),
    /// Organisation von Hand setzen oder entfernen.
    SetThirdParty(SetThirdPartyArgs),
    /// Vorgang verwerfen (Spam, fehlgeleitet, Duplikat): bleibt erhalten, zählt nicht.
    Discard(DiscardArgs),
    /// Vorgang in einen anderen zusammenführen; die Mails bleiben, wo sie sind.
    Merge(MergeArgs),
    /// Eine von Hand versandte Eingangsbestätigung erfassen.
    AckRecorded(AckRecordedArgs),
    /// Vorgang unter Spam-Verdacht bestätigen: zählt dann mit; die zurückgehaltene
    /// Eingangsbestätigung geht hinaus.
    Confirm(NumberArgs),
    /// Klärungsarbeit: festhalten, dass die Ombudsstelle eine Stelle aus dem Katalog
    /// (rules/stellen.toml) zu diesem Vorgang kontaktiert hat.
    Contact(ContactArgs),
    /// Klärungsarbeit: einen versehentlich erfassten Kontakt wieder entfernen (die Nummer
    /// nennt `case show`).
    ContactRemove(ContactRemoveArgs),
    /// Klärungsarbeit: festhalten, ob die Ombudsstelle wesentlich zur Klärung beigetragen hat.
    Contribution(ContributionArgs),
}

#[derive(Debug, clap::Args)]
pub struct ContactArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// Name der Stelle aus rules/stellen.toml (Groß-/Kleinschreibung egal).
    #[arg(long, value_name = "NAME")]
    pub stelle: String,
    /// Tag des Kontakts (JJJJ-MM-TT; Vorgabe: heute).
    #[arg(long, value_parser = parse_date, value_name = "JJJJ-MM-TT")]
    pub on: Option<NaiveDate>,
    /// Kurze Bemerkung (ohne personenbezogene Daten).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Args)]
pub struct ContactRemoveArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// Nummer des Kontakts, wie `case show` sie nennt („Nr. 3“).
    #[arg(long, value_name = "NR")]
    pub contact: i64,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Args)]
pub struct ContributionArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// yes (wesentlich zur Klärung beigetragen) oder no.
    #[arg(long, value_parser = parse_yes_no, value_name = "yes|no", action = clap::ArgAction::Set)]
    pub contributed: bool,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Nur offene und ruhende Vorgänge.
    #[arg(long, conflicts_with = "status")]
    pub open: bool,
    /// Nur offene Vorgänge, deren Frist vor heute endete.
    #[arg(long)]
    pub overdue: bool,
    /// Nur offene Vorgänge, die innerhalb von N Arbeitstagen fällig sind (heute eingeschlossen).
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u32).range(0..=i64::from(crate::staff::MAX_DUE_WITHIN))
    )]
    pub due_within: Option<u32>,
    /// Organisation (Teil des Namens, Groß-/Kleinschreibung egal).
    #[arg(long)]
    pub organisation: Option<String>,
    /// Bestätigte Art: beschwerde, anregung, lob, oder „keine“ für nicht eingestufte.
    #[arg(long, value_parser = parse_kind_filter, value_name = "ART")]
    pub kind: Option<KindFilter>,
    /// Zuständige Person.
    #[arg(long, conflicts_with = "unassigned", value_name = "NAME")]
    pub assignee: Option<String>,
    /// Nur Vorgänge ohne zuständige Person.
    #[arg(long)]
    pub unassigned: bool,
    /// Eingang ab diesem Tag (JJJJ-MM-TT, einschließlich).
    #[arg(long, value_parser = parse_date, value_name = "JJJJ-MM-TT")]
    pub from: Option<NaiveDate>,
    /// Eingang bis zu diesem Tag (JJJJ-MM-TT, einschließlich).
    #[arg(long, value_parser = parse_date, value_name = "JJJJ-MM-TT")]
    pub to: Option<NaiveDate>,
    /// Status (mehrfach möglich).
    #[arg(long, value_enum)]
    pub status: Vec<CaseStatus>,
    /// Absenderadresse oder -name (Teil davon, Groß-/Kleinschreibung egal) einer Mail des Vorgangs.
    #[arg(long, value_name = "TEXT")]
    pub sender: Option<String>,
    /// Ein JSON-Array aller passenden Vorgänge (docs/staff-cli.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum KindFilter {
    Kind(Kind),
    Unclassified,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// Auch den Text der Mails zeigen.
    #[arg(long)]
    pub body: bool,
    /// Als JSON-Objekt (docs/staff-cli.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// Eingangsweg.
    #[arg(long, value_enum, value_name = "WEG")]
    pub channel: Channel,
    /// Eingang, Berliner Zeit: JJJJ-MM-TT oder JJJJ-MM-TTTHH:MM.
    #[arg(long, value_name = "ZEITPUNKT")]
    pub received: String,
    /// Organisation, die für die Person geschrieben oder angerufen hat.
    #[arg(long)]
    pub organisation: Option<String>,
    /// Kategorie der Organisation.
    #[arg(long, value_parser = parse_category, value_name = "KATEGORIE")]
    pub category: Option<Category>,
    /// Mit Unterstützung Dritter: yes oder no (Vorgabe: yes mit --organisation, sonst no).
    #[arg(long, value_parser = parse_yes_no, value_name = "yes|no")]
    pub third_party: Option<bool>,
    /// Art (bestätigt): beschwerde, anregung, lob.
    #[arg(long, value_parser = parse_kind, value_name = "ART")]
    pub kind: Option<Kind>,
    /// Thema aus dem Themenkatalog (wiederholbar, höchstens drei).
    #[arg(long = "topic", value_name = "THEMA")]
    pub topics: Vec<String>,
    /// Tag, an dem eine Eingangsbestätigung von Hand versandt wurde.
    #[arg(long, value_parser = parse_date, value_name = "JJJJ-MM-TT")]
    pub ack_sent: Option<NaiveDate>,
    /// Was der Brief oder das Gespräch enthielt (wird die erste Bemerkung des Vorgangs).
    #[arg(long, value_name = "TEXT")]
    pub text: Option<String>,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// beschwerde, anregung oder lob.
    #[arg(long, value_parser = parse_kind, value_name = "ART")]
    pub kind: Option<Kind>,
    /// Thema aus dem Themenkatalog (wiederholbar, höchstens drei); ersetzt die bisherigen.
    #[arg(long = "topic", value_name = "THEMA")]
    pub topics: Vec<String>,
    /// Alle Themen entfernen.
    #[arg(long, conflicts_with = "topics")]
    pub no_topics: bool,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Args)]
pub struct AssessArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// yes (begründet) oder no (unbegründet).
    #[arg(long, value_parser = parse_yes_no, value_name = "yes|no", action = clap::ArgAction::Set)]
    pub justified: bool,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// Tag, an dem die abschließende Antwort hinausging (Vorgabe: heute).
    #[arg(long, value_parser = parse_date, value_name = "JJJJ-MM-TT")]
    pub answered_on: Option<NaiveDate>,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Args)]
pub struct NoteArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// Text der Bemerkung.
    pub text: String,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["name", "none"])))]
pub struct AssignArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// Name aus dem Abschnitt [staff] der Konfiguration.
    pub name: Option<String>,
    /// Zuständigkeit entfernen.
    #[arg(long)]
    pub none: bool,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("org").required(true).args(["organisation", "none"])))]
pub struct SetThirdPartyArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// Name der Organisation.
    #[arg(long)]
    pub organisation: Option<String>,
    /// Kategorie der Organisation.
    #[arg(long, value_parser = parse_category, value_name = "KATEGORIE", requires = "organisation")]
    pub category: Option<Category>,
    /// Mit Unterstützung Dritter: yes oder no (Vorgabe: yes).
    #[arg(long, value_parser = parse_yes_no, value_name = "yes|no", requires = "organisation")]
    pub third_party: Option<bool>,
    /// Keine Organisation, keine Unterstützung Dritter.
    #[arg(long)]
    pub none: bool,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Args)]
pub struct DiscardArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// Grund: spam, fehlgeleitet, duplikat oder ein kurzer Text.
    #[arg(long, value_name = "GRUND")]
    pub reason: String,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Der Vorgang, der aufgeht.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// Der Vorgang, der bleibt.
    #[arg(long, value_name = "KRM-…")]
    pub into: String,
    #[command(flatten)]
    pub by: ByArg,
}

#[derive(Debug, clap::Args)]
pub struct AckRecordedArgs {
    /// Vorgangsnummer, z. B. KRM-2026-00042.
    #[arg(value_name = "NUMMER")]
    pub number: String,
    /// Tag, an dem die Bestätigung hinausging.
    #[arg(long, value_parser = parse_date, value_name = "JJJJ-MM-TT")]
    pub on: NaiveDate,
    #[command(flatten)]
    pub by: ByArg,
}

use staff::{parse_date, parse_yes_no};

fn parse_kind(s: &str) -> Result<Kind, String> {
    s.parse()
}

fn parse_kind_filter(s: &str) -> Result<KindFilter, String> {
    match s.trim().to_lowercase().as_str() {
        "keine" | "none" | "-" => Ok(KindFilter::Unclassified),
        _ => s.parse().map(KindFilter::Kind),
    }
}

fn parse_category(s: &str) -> Result<Category, String> {
    s.parse()
}

fn actor(by: &ByArg) -> Actor {
    Actor {
        os_user: super::os_user(),
        stated_by: by
            .by
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from),
    }
}

fn staff_fail(e: StaffError) -> ExitCode {
    errln!("krm-intake: {e}");
    ExitCode::from(1)
}

fn print_applied(a: &Applied) {
    if a.changes.is_empty() {
        outln!("{}: keine Änderung", a.number);
    }
    for c in &a.changes {
        outln!("{}: {c}", a.number);
    }
    for also in &a.also {
        outln!("{}: {}", a.number, also.text());
    }
}

pub async fn run(cli: &super::Cli, cmd: &CaseCommand) -> ExitCode {
    let (settings, pool) = match super::settings_and_db(cli).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let cal = settings.deadlines.calendar();
    let now = Utc::now();
    let today = calendar::berlin_date(now);
    let load_rules = || {
        staff::topic_catalogue(&settings.rules_dir).map_err(|e| {
            errln!("krm-intake: {e}");
            ExitCode::from(super::EXIT_CONFIG)
        })
    };
    let result: Result<Applied, StaffError> = match cmd {
        CaseCommand::List(a) => return list(&pool, &cal, a, today).await,
        CaseCommand::Show(a) => return show(&pool, a, &cal, today).await,
        CaseCommand::New(a) => return new_case(&pool, &settings, &cal, a, now).await,
        CaseCommand::Classify(a) => {
            let rules = match load_rules() {
                Ok(r) => r,
                Err(c) => return c,
            };
            staff::apply(&pool, &a.number, &actor(&a.by), "classify", |_, s, n| {
                staff::classify(s, n, &rules, a.kind, &a.topics, a.no_topics)
            })
            .await
        }
        CaseCommand::Assess(a) => {
            staff::apply(&pool, &a.number, &actor(&a.by), "assess", |_, s, n| {
                staff::assess(s, n, a.justified)
            })
            .await
        }
        CaseCommand::Hold(a) => {
            staff::apply(&pool, &a.number, &actor(&a.by), "hold", |_, s, n| {
                staff::hold(s, n, now)
            })
            .await
        }
        CaseCommand::Resume(a) => {
            staff::apply(&pool, &a.number, &actor(&a.by), "resume", |_, s, n| {
                staff::resume(s, n, &cal, now)
            })
            .await
        }
        CaseCommand::Close(a) => {
            staff::apply(&pool, &a.number, &actor(&a.by), "close", |c, s, n| {
                let received = calendar::berlin_date(c.row.received_at);
                let on = staff::close_date(s, a.answered_on, today);
                staff::close(s, n, &cal, received, on, now)
            })
            .await
        }
        CaseCommand::Reopen(a) => {
            staff::apply(&pool, &a.number, &actor(&a.by), "reopen", |_, s, n| {
                staff::reopen(s, n)
            })
            .await
        }
        CaseCommand::Note(a) => return note(&pool, a).await,
        CaseCommand::Assign(a) => {
            let name = if a.none { None } else { a.name.as_deref() };
            staff::apply(&pool, &a.number, &actor(&a.by), "assign", |_, s, n| {
                staff::assign(s, n, &settings.staff, name)
            })
            .await
        }
        CaseCommand::SetThirdParty(a) => {
            let org = a.organisation.as_ref().map(|o| ManualOrganisation {
                organisation: o.clone(),
                category: a.category,
                third_party: a.third_party.unwrap_or(true),
            });
            staff::apply(
                &pool,
                &a.number,
                &actor(&a.by),
                "set_third_party",
                |_, s, n| staff::set_third_party(s, n, org.as_ref()),
            )
            .await
        }
        CaseCommand::Discard(a) => {
            staff::apply(&pool, &a.number, &actor(&a.by), "discard", |_, s, n| {
                staff::discard(s, n, &a.reason)
            })
            .await
        }
        CaseCommand::Merge(a) => {
            staff::merge_cases(&pool, &a.number, &a.into, &actor(&a.by), None).await
        }
        CaseCommand::Confirm(a) => return confirm(&pool, &settings, a).await,
        CaseCommand::Contact(a) => return contact(&pool, &settings, a, today).await,
        CaseCommand::ContactRemove(a) => return contact_remove(&pool, a).await,
        CaseCommand::Contribution(a) => {
            staff::set_contribution(&pool, &a.number, &actor(&a.by), a.contributed).await
        }
        CaseCommand::AckRecorded(a) => {
            staff::apply(
                &pool,
                &a.number,
                &actor(&a.by),
                "ack_recorded",
                |c, s, n| {
                    let received = calendar::berlin_date(c.row.received_at);
                    staff::record_ack(s, n, received, a.on, today)
                },
            )
            .await
        }
    };
    match result {
        Ok(applied) => {
            print_applied(&applied);
            ExitCode::SUCCESS
        }
        Err(e) => staff_fail(e),
    }
}

async fn note(pool: &sqlx::PgPool, a: &NoteArgs) -> ExitCode {
    match staff::note(pool, &a.number, &actor(&a.by), &a.text, None).await {
        Ok(applied) => {
            outln!("{}: Bemerkung gespeichert", applied.number);
            ExitCode::SUCCESS
        }
        Err(e) => staff_fail(e),
    }
}

/// `case new`: a reaction that did not come by mail.
async fn new_case(
    pool: &sqlx::PgPool,
    settings: &crate::config::Settings,
    cal: &calendar::Calendar,
    a: &NewArgs,
    now: chrono::DateTime<Utc>,
) -> ExitCode {
    let rules = match staff::topic_catalogue(&settings.rules_dir) {
        Ok(r) => r,
        Err(e) => {
            errln!("krm-intake: {e}");
            return ExitCode::from(super::EXIT_CONFIG);
        }
    };
    let received_at = match staff::parse_received(&a.received) {
        Ok(t) => t,
        Err(e) => return staff_fail(e),
    };
    let m = ManualCase {
        channel: a.channel,
        received_at,
        organisation: a.organisation.clone(),
        category: a.category,
        third_party: a.third_party,
        kind: a.kind,
        topics: a.topics.clone(),
        ack_sent_on: a.ack_sent,
        text: a.text.clone(),
    };
    let policy = settings.deadlines.policy;
    match staff::new_case(pool, cal, policy, &rules, &m, &actor(&a.by), now).await {
        Ok(applied) => {
            outln!("Neuer Vorgang {} erfasst.", applied.number);
            for c in &applied.changes {
                outln!("{}: {c}", applied.number);
            }
            ExitCode::SUCCESS
        }
        Err(e) => staff_fail(e),
    }
}

/// `case contact`: an unknown body or a broken catalogue is bad input (exit 2).
async fn contact(
    pool: &sqlx::PgPool,
    settings: &crate::config::Settings,
    a: &ContactArgs,
    today: NaiveDate,
) -> ExitCode {
    let stellen = match crate::rules::Stellen::load(&settings.rules_dir) {
        Ok(s) => s,
        Err(e) => {
            errln!("krm-intake: {e}");
            return ExitCode::from(crate::cli::EXIT_CONFIG);
        }
    };
    let stelle = match staff::check_stelle(&stellen, &a.stelle) {
        Ok(s) => s,
        Err(e) => {
            errln!("krm-intake: {e}");
            return ExitCode::from(crate::cli::EXIT_CONFIG);
        }
    };
    let on = a.on.unwrap_or(today);
    let note = a.note.as_deref();
    match staff::record_contact(pool, &a.number, &actor(&a.by), stelle, on, note, today).await {
        Ok(r) => {
            outln!(
                "{}: Kontakt mit {} am {} erfasst",
                r.number,
                r.stelle,
                staff::ymd(r.on)
            );
            ExitCode::SUCCESS
        }
        Err(e) => staff_fail(e),
    }
}

/// `case contact-remove`: an id the case does not have is refused (exit 1).
async fn contact_remove(pool: &sqlx::PgPool, a: &ContactRemoveArgs) -> ExitCode {
    match staff::remove_contact(pool, &a.number, &actor(&a.by), a.contact).await {
        Ok(r) => {
            outln!(
                "{}: Kontakt mit {} am {} entfernt",
                r.number,
                r.stelle,
                staff::ymd(r.on)
            );
            ExitCode::SUCCESS
        }
        Err(e) => staff_fail(e),
    }
}

async fn confirm(
    pool: &sqlx::PgPool,
    settings: &crate::config::Settings,
    a: &NumberArgs,
) -> ExitCode {
    let templates = match crate::templates::Templates::load(&settings.templates_dir) {
        Ok(t) => t,
        Err(e) => {
            errln!("krm-intake: {}", crate::cli::template_fault(&e));
            return ExitCode::from(crate::cli::EXIT_CONFIG);
        }
    };
    match staff::confirm(pool, &a.number, &actor(&a.by), settings, &templates, None).await {
        Ok(c) => {
            outln!(
                "{}: Spam-Verdacht aufgehoben; der Vorgang zählt im Bericht",
                c.applied.number
            );
            for ch in &c.applied.changes {
                outln!("{}: {ch}", c.applied.number);
            }
            if c.ack_enqueued {
                outln!(
                    "{}: Eingangsbestätigung eingereiht (geht mit dem nächsten Versand hinaus)",
                    c.applied.number
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => staff_fail(e),
    }
}

async fn list(
    pool: &sqlx::PgPool,
    cal: &calendar::Calendar,
    a: &ListArgs,
    today: NaiveDate,
) -> ExitCode {
    let f = ListFilter {
        statuses: if a.open {
            vec![CaseStatus::Open, CaseStatus::OnHold]
        } else {
            a.status.clone()
        },
        organisation: a.organisation.clone(),
        kind: match a.kind {
            Some(KindFilter::Kind(k)) => Some(k),
            _ => None,
        },
        unclassified: matches!(a.kind, Some(KindFilter::Unclassified)),
        assignee: a.assignee.clone(),
        unassigned: a.unassigned,
        from: a.from,
        to: a.to,
        overdue: a.overdue,
        due_within: a.due_within,
        sender: a.sender.clone(),
    };
    let cases = match staff::list(pool, cal, &f, today).await {
        Ok(c) => c,
        Err(e) => return staff_fail(e),
    };
    if a.json {
        let v: Vec<CaseJson> = cases.iter().map(CaseJson::of).collect();
        match super::term::print_json(&v) {
            Ok(()) => {}
            Err(e) => return super::fail(e.into()),
        }
        return ExitCode::SUCCESS;
    }
    if cases.is_empty() {
        outln!("Keine passenden Vorgänge.");
        return ExitCode::SUCCESS;
    }
    out!("{}", list_table(&cases, cal, today));
    ExitCode::SUCCESS
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The German list table.
pub fn list_table(cases: &[StaffCase], cal: &calendar::Calendar, today: NaiveDate) -> String {
    let header = [
        "Nummer",
        "Eingang",
        "Weg",
        "Status",
        "Art",
        "Organisation",
        "Zuständig",
        "Frist",
        "Hinweis",
    ];
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|c| {
            let r = &c.row;
            let kind = match (&r.kind, &r.suggested_kind) {
                (Some(k), _) => staff::kind_label(k),
                (None, Some(s)) => format!("({}?)", staff::kind_label(s)),
                (None, None) => "–".into(),
            };
            let overdue = calendar::working_days_overdue(cal, r.due, today);
            let hint = match r.status {
                CaseStatus::Open if r.due < today && overdue == 0 => "überfällig".to_string(),
                CaseStatus::Open if r.due < today => {
                    format!("überfällig seit {}", staff::working_days(overdue))
                }
                CaseStatus::Open if r.due == today => "heute fällig".to_string(),
                CaseStatus::OnHold => format!(
                    "ruht seit {}",
                    r.hold_since
                        .map(|t| staff::ymd(calendar::berlin_date(t)))
                        .unwrap_or_default()
                ),
                CaseStatus::Merged => {
                    format!("→ {}", c.merged_into_number.clone().unwrap_or_default())
                }
                CaseStatus::Discarded => r.discard_reason.clone().unwrap_or_default(),
                _ => String::new(),
            };
            // Why intake marked it for a look (suspected spam, an auto-reply, …), beside the rest.
            let hint = match (&r.review_reason, hint.is_empty()) {
                (Some(rr), true) => format!("zu prüfen: {}", rr.label()),
                (Some(rr), false) => format!("{hint}; zu prüfen: {}", rr.label()),
                (None, _) => hint,
            };
            vec![
                r.number.clone(),
                staff::ymd(calendar::berlin_date(r.received_at)),
                cut(&staff::channel_label(&r.channel), 24),
                r.status.label().to_string(),
                kind,
                cut(r.organisation.as_deref().unwrap_or("–"), 36),
                r.assignee.clone().unwrap_or_else(|| "–".into()),
                staff::ymd(r.due),
                hint,
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| super::term::shown_width(&r[i]))
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let s: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                // Widths as the terminal writer will show the cells (escapes are wider).
                let pad = w.saturating_sub(super::term::shown_width(c));
                format!("{c}{}", " ".repeat(pad))
            })
            .collect();
        format!("{}\n", s.join("  ").trim_end())
    };
    let mut out = line(&header.map(String::from));
    for r in &rows {
        out.push_str(&line(r));
    }
    out.push_str(&match cases.len() {
        1 => "1 Vorgang\n".to_string(),
        n => format!("{n} Vorgänge\n"),
    });
    out
}

async fn show(
    pool: &sqlx::PgPool,
    a: &ShowArgs,
    cal: &calendar::Calendar,
    today: NaiveDate,
) -> ExitCode {
    let d = match staff::detail(pool, &a.number).await {
        Ok(d) => d,
        Err(e) => return staff_fail(e),
    };
    if a.body {
        // Reading mail content is social data: logged apart from the timeline.
        if let Err(e) = crate::store::access::record(
            pool,
            &super::os_user(),
            d.case.row.id,
            &d.case.row.number,
            crate::store::access::AccessWhat::MailText,
        )
        .await
        {
            return super::fail(e.into());
        }
    }
    if a.json {
        match super::term::print_json(&d.json(a.body)) {
            Ok(()) => {}
            Err(e) => return super::fail(e.into()),
        }
        return ExitCode::SUCCESS;
    }
    out!("{}", show_text(&d, a.body, cal, today));
    ExitCode::SUCCESS
}

/// The German text of `case show` (the facts, mails and timeline of `staff::views`).
pub fn show_text(d: &CaseDetail, body: bool, cal: &calendar::Calendar, today: NaiveDate) -> String {
    let mut out = format!("Vorgang {}\n", d.case.row.number);
    for (k, v) in staff::case_facts(&d.case, cal, today) {
        out.push_str(&format!("  {:<24}{v}\n", format!("{k}:")));
    }
    out.push_str(&contacts_text(d));
    let messages = d.message_views(body);
    out.push_str(&format!("\nMails ({})\n", messages.len()));
    for (i, m) in messages.iter().enumerate() {
        out.push_str(&format!(
            "  {}. {}, {} {}\n     Von: {}\n     Betreff: {}\n     Größe: {}{}\n",
            i + 1,
            m.role,
            m.verb,
            m.received,
            m.from,
            m.subject,
            m.size,
            m.message_id
                .as_deref()
                .map(|id| format!(", Message-ID {id}"))
                .unwrap_or_default()
        ));
        if let Some(date) = &m.date {
            out.push_str(&format!("     Datum (Kopfzeile): {date}\n"));
        }
        if !m.attachments.is_empty() {
            out.push_str("     Anhänge:\n");
            for a in &m.attachments {
                out.push_str(&format!(
                    "       - {} ({}, {})\n",
                    a.name, a.content_type, a.size
                ));
            }
        }
        if let Some(text) = &m.text {
            out.push_str("     Text:\n");
            for line in text.lines() {
                out.push_str(&format!("       | {line}\n"));
            }
        }
    }
    out.push_str(&format!("\nVerlauf ({})\n", d.events.len()));
    for e in d.event_views() {
        out.push_str(&format!(
            "  {}  {}  {}{}{}\n",
            e.at,
            e.who,
            e.action,
            if e.what.is_empty() { "" } else { ": " },
            e.what
        ));
    }
    out
}

/// The contacts with outside bodies (clarification work), when there are any.
fn contacts_text(d: &CaseDetail) -> String {
    if d.contacts.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\nKlärungsarbeit: Kontakte mit Stellen ({})\n",
        d.contacts.len()
    );
    for c in &d.contacts {
        out.push_str(&format!(
            "  {}  {} ({}){}  [Nr. {}]\n",
            staff::ymd(c.on_date),
            c.stelle,
            c.source.label(),
            c.note
                .as_deref()
                .map(|n| format!(": „{n}“"))
                .unwrap_or_default(),
            c.id
        ));
    }
    out
}
