//! The Ombudsstelle's report: reactions per half-year and in total, from the stored cases.
//! Aggregation and formatting (German text table, CSV, JSON) are pure; only [`generate`] reads
//! the database. Aggregates only: organisations appear by name, persons never.
//! Figures and JSON keys: docs/report.md. Clarification and network work: `work`; the printable
//! HTML document: `html`.

pub mod html;
mod table;
pub mod work;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use thiserror::Error;

use crate::calendar;
use crate::domain::{ymd, AckStatus, CaseStatus};
use crate::staff::Channel;
use crate::store::report::{self as q, AppointmentRow, ReportCaseRow};
use crate::store::StoreError;
use table::{Cell, Line};
use work::{Clarification, ClarificationTally, Network};

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("{0}")]
    Invalid(String),
    /// A file a person must fix (the report template, the rules' topic catalogue): exit 2.
    #[error("{0}")]
    File(String),
    #[error("Datenbank: {0}")]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ReportError {
    fn from(e: sqlx::Error) -> Self {
        ReportError::Store(StoreError::Sql(e))
    }
}

// ---------------------------------------------------------------------------------------------
// Periods
// ---------------------------------------------------------------------------------------------

/// The report's output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Csv,
    Json,
    Html,
}

/// What the report covers, as asked on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    Year(i32),
    /// Year and half (1 or 2).
    HalfYear(i32, u8),
    /// Both dates inclusive (Berlin dates of receipt).
    Range(NaiveDate, NaiveDate),
}

/// A span of Berlin dates, both inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    pub label: String,
    /// `2017-1` when the span is a whole half-year.
    pub half_year: Option<String>,
    #[serde(serialize_with = "ser_date")]
    pub from: NaiveDate,
    #[serde(serialize_with = "ser_date")]
    pub to: NaiveDate,
}

fn ser_date<S: serde::Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.format("%Y-%m-%d").to_string())
}

fn date(y: i32, m: u32, d: u32) -> Result<NaiveDate, ReportError> {
    NaiveDate::from_ymd_opt(y, m, d)
        .ok_or_else(|| ReportError::Invalid(format!("Das Jahr {y} liegt außerhalb des Kalenders")))
}

fn half_bounds(year: i32, half: u8) -> Result<(NaiveDate, NaiveDate), ReportError> {
    Ok(if half == 1 {
        (date(year, 1, 1)?, date(year, 6, 30)?)
    } else {
        (date(year, 7, 1)?, date(year, 12, 31)?)
    })
}

/// Parses `2017-1`, `2017-2` (also `2017-H1`, `2017/2`).
pub fn parse_half_year(s: &str) -> Result<(i32, u8), ReportError> {
    let t = s.trim();
    let bad = || {
        ReportError::Invalid(format!(
            "„{t}“ ist kein Halbjahr (Form: JJJJ-1 oder JJJJ-2, z. B. 2017-1)"
        ))
    };
    let (y, h) = t.split_once(['-', '/']).ok_or_else(bad)?;
    let h = h.trim_start_matches(['H', 'h']);
    let year: i32 = y.parse().map_err(|_| bad())?;
    let half: u8 = h.parse().map_err(|_| bad())?;
    if !(1..=2).contains(&half) || !(1900..=9999).contains(&year) || y.len() != 4 {
        return Err(bad());
    }
    Ok((year, half))
}

impl Selection {
    /// The whole span, checked.
    pub fn span(&self) -> Result<Span, ReportError> {
        let check_year = |y: i32| {
            if (1900..=9999).contains(&y) {
                Ok(())
            } else {
                Err(ReportError::Invalid(format!(
                    "Das Jahr {y} liegt außerhalb von 1900 bis 9999"
                )))
            }
        };
        match *self {
            Selection::Year(y) => {
                check_year(y)?;
                Ok(Span {
                    label: y.to_string(),
                    half_year: None,
                    from: date(y, 1, 1)?,
                    to: date(y, 12, 31)?,
                })
            }
            Selection::HalfYear(y, h) => {
                check_year(y)?;
                if !(1..=2).contains(&h) {
                    return Err(ReportError::Invalid(format!(
                        "Halbjahr {h} gibt es nicht (1 oder 2)"
                    )));
                }
                let (from, to) = half_bounds(y, h)?;
                Ok(Span {
                    label: format!("{h}. Halbjahr {y}"),
                    half_year: Some(format!("{y}-{h}")),
                    from,
                    to,
                })
            }
            Selection::Range(from, to) => {
                if from > to {
                    return Err(ReportError::Invalid(format!(
                        "--from {} liegt nach --to {}",
                        ymd(from),
                        ymd(to)
                    )));
                }
                check_year(from.year())?;
                check_year(to.year())?;
                Ok(Span {
                    label: format!("{} bis {}", ymd(from), ymd(to)),
                    half_year: None,
                    from,
                    to,
                })
            }
        }
    }
}

/// The half-years `span` touches, each clipped to it.
pub fn half_year_columns(span: &Span) -> Vec<Span> {
    let mut out = Vec::new();
    let mut start = span.from;
    while start <= span.to {
        let half: u8 = if start.month() <= 6 { 1 } else { 2 };
        let Ok((hf, ht)) = half_bounds(start.year(), half) else {
            break;
        };
        let end = ht.min(span.to);
        let whole = start == hf && end == ht;
        out.push(Span {
            label: if whole {
                format!("{half}. Halbjahr {}", start.year())
            } else {
                format!("{} bis {}", ymd(start), ymd(end))
            },
            half_year: whole.then(|| format!("{}-{half}", start.year())),
            from: start,
            to: end,
        });
        match end.succ_opt() {
            Some(n) => start = n,
            None => break,
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NameCount {
    pub name: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Kinds {
    pub beschwerde: u64,
    pub anregung: u64,
    pub lob: u64,
    pub unclassified: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Justified {
    pub justified: u64,
    pub not_justified: u64,
    pub not_assessed: u64,
    /// Justified complaints in percent of all reactions.
    pub share_of_reactions_percent: Option<f64>,
    /// Justified complaints in percent of all complaints.
    pub share_of_complaints_percent: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Processing {
    pub closed: u64,
    pub closed_within_deadline: u64,
    pub share_within_deadline_percent: Option<f64>,
    pub median_processing_days: Option<f64>,
    pub not_closed: u64,
    /// Closed cases whose answer date was captured from the answers folders, not typed.
    pub answered_from_mailbox: u64,
    /// Reactions with an answer date that are not closed.
    pub answered_not_closed: u64,
    /// Reactions with an interim reply.
    pub interim_replies: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Acknowledgements {
    /// Reactions that called for an acknowledgement (all but `suppressed` and `not_applicable`).
    pub expected: u64,
    pub sent: u64,
    pub recorded_by_staff: u64,
    /// Sent or recorded by the end of the acknowledgement deadline.
    pub within_deadline: u64,
    pub share_within_deadline_percent: Option<f64>,
    pub suppressed: u64,
    pub failed: u64,
    pub not_delivered: u64,
    pub pending: u64,
    pub not_applicable: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Excluded {
    pub discarded: u64,
    pub merged: u64,
    /// New cases held as suspected spam that staff have not confirmed (`case confirm`) yet;
    /// the key is left out while there is none.
    #[serde(skip_serializing_if = "is_zero")]
    pub spam_suspected: u64,
}

/// ", N unter Spam-Verdacht (nicht bestätigt)" when there are such cases.
fn spam_note(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {} unter Spam-Verdacht (nicht bestätigt)", german_int(n))
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The figures of one column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    #[serde(flatten)]
    pub span: Span,
    pub reactions: u64,
    /// Channel equals the configured mailbox (*an die Ombudsstelle gerichtet*).
    pub addressed_to_office: u64,
    pub channels: Vec<NameCount>,
    pub with_third_party: u64,
    /// *ohne Unterstützung Dritter*.
    pub without_third_party: u64,
    pub kinds: Kinds,
    pub justified: Justified,
    pub topics: Vec<NameCount>,
    /// Topics summed by their catalogue area.
    pub topic_areas: Vec<NameCount>,
    pub organisations: Vec<NameCount>,
    pub without_organisation: u64,
    pub categories: Vec<NameCount>,
    pub processing: Processing,
    pub acknowledgements: Acknowledgements,
    pub clarification: Clarification,
    /// Appointments held in the column's span (by their date, not by a case's receipt).
    pub network: Network,
    pub excluded: Excluded,
}

/// What the report needs besides the database: the mailbox whose cases count as *an die
/// Ombudsstelle gerichtet* and the topic catalogue's areas (`topic → area`).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub mail_channel: String,
    pub topic_areas: BTreeMap<String, String>,
}

impl Options {
    /// From the configuration: the mailbox name and the areas of the rules' topic catalogue.
    pub fn from_settings(s: &crate::config::Settings) -> Result<Options, ReportError> {
        let rules = crate::rules::RuleSet::load_dir(&s.rules_dir).map_err(|e| {
            ReportError::File(format!(
                "Regeln {} (Themenkatalog): {e}",
                s.rules_dir.display()
            ))
        })?;
        Ok(Options {
            mail_channel: s.imap.channel.clone(),
            topic_areas: rules
                .topics()
                .iter()
                .filter_map(|t| t.area.clone().map(|a| (t.name.clone(), a)))
                .collect(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub title: String,
    #[serde(serialize_with = "ser_date")]
    pub from: NaiveDate,
    #[serde(serialize_with = "ser_date")]
    pub to: NaiveDate,
    /// The mailbox whose cases count as *an die Ombudsstelle gerichtet*.
    pub mail_channel: String,
    pub periods: Vec<Figures>,
    pub total: Figures,
}

/// Percent `num / den`, rounded to one decimal; `None` when `den` is 0.
pub fn percent(num: u64, den: u64) -> Option<f64> {
    if den == 0 {
        return None;
    }
    Some(((num as f64) * 1000.0 / (den as f64)).round() / 10.0)
}

/// The median; `None` for no values. An even count gives the mean of the middle two.
pub fn median(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2] as f64
    } else {
        (values[n / 2 - 1] as f64 + values[n / 2] as f64) / 2.0
    })
}

fn sorted(map: BTreeMap<String, u64>) -> Vec<NameCount> {
    let mut v: Vec<NameCount> = map
        .into_iter()
        .map(|(name, count)| NameCount { name, count })
        .collect();
    // Stable: equal counts keep the name order of the map.
    v.sort_by_key(|n| std::cmp::Reverse(n.count));
    v
}

/// Channel order: the mailbox first, then the manual channels, then other mailboxes.
fn channel_rank(mail_channel: &str, c: &str) -> (usize, String) {
    if c == mail_channel {
        return (0, String::new());
    }
    match Channel::ALL.iter().position(|x| x.as_str() == c) {
        Some(i) => (1 + i, String::new()),
        None => (99, c.to_string()),
    }
}

/// The running counts of one column's lists and medians while its cases are read.
#[derive(Default)]
struct Tally {
    channels: BTreeMap<String, u64>,
    topics: BTreeMap<String, u64>,
    orgs: BTreeMap<String, u64>,
    cats: BTreeMap<String, u64>,
    days: Vec<i64>,
    clarification: ClarificationTally,
}

impl Figures {
    fn empty(span: Span) -> Figures {
        Figures {
            span,
            reactions: 0,
            addressed_to_office: 0,
            channels: Vec::new(),
            with_third_party: 0,
            without_third_party: 0,
            kinds: Kinds::default(),
            justified: Justified::default(),
            topics: Vec::new(),
            topic_areas: Vec::new(),
            organisations: Vec::new(),
            without_organisation: 0,
            categories: Vec::new(),
            processing: Processing::default(),
            acknowledgements: Acknowledgements::default(),
            clarification: Clarification::default(),
            network: Network::default(),
            excluded: Excluded::default(),
        }
    }

    /// Counts `r` apart when it is no reaction; true when it is one.
    fn exclude(&mut self, r: &ReportCaseRow) -> bool {
        match r.status {
            CaseStatus::Discarded => self.excluded.discarded += 1,
            CaseStatus::Merged => self.excluded.merged += 1,
            _ if r.spam_suspected => self.excluded.spam_suspected += 1,
            _ => return true,
        }
        false
    }

    fn add_kind(&mut self, r: &ReportCaseRow) {
        match r.kind.as_deref() {
            Some("beschwerde") => {
                self.kinds.beschwerde += 1;
                match r.justified {
                    Some(true) => self.justified.justified += 1,
                    Some(false) => self.justified.not_justified += 1,
                    None => self.justified.not_assessed += 1,
                }
            }
            Some("anregung") => self.kinds.anregung += 1,
            Some("lob") => self.kinds.lob += 1,
            _ => self.kinds.unclassified += 1,
        }
    }

    fn add_processing(&mut self, r: &ReportCaseRow, days: &mut Vec<i64>) {
        let p = &mut self.processing;
        match (r.status, r.answered_on) {
            (CaseStatus::Closed, Some(answered)) => {
                p.closed += 1;
                if answered <= r.due {
                    p.closed_within_deadline += 1;
                }
                if r.answered_source.as_deref() == Some("mailbox") {
                    p.answered_from_mailbox += 1;
                }
                days.push((answered - calendar::berlin_date(r.received_at)).num_days());
            }
            (_, answered) => {
                p.not_closed += 1;
                if answered.is_some() {
                    p.answered_not_closed += 1;
                }
            }
        }
        if r.interim_reply_on.is_some() {
            p.interim_replies += 1;
        }
    }

    fn add_acknowledgement(&mut self, r: &ReportCaseRow) {
        let a = &mut self.acknowledgements;
        match r.ack_status {
            AckStatus::Sent => a.sent += 1,
            AckStatus::Manual => a.recorded_by_staff += 1,
            AckStatus::Suppressed => a.suppressed += 1,
            AckStatus::Failed => a.failed += 1,
            AckStatus::NotDelivered => a.not_delivered += 1,
            AckStatus::None => a.not_applicable += 1,
            AckStatus::Pending => a.pending += 1,
        }
        if matches!(r.ack_status, AckStatus::Sent | AckStatus::Manual)
            && r.ack_sent_at
                .is_some_and(|t| calendar::berlin_date(t) <= r.ack_due)
        {
            a.within_deadline += 1;
        }
    }

    /// Counts one reaction.
    fn add(&mut self, r: &ReportCaseRow, t: &mut Tally, mail_channel: &str) {
        self.reactions += 1;
        if r.channel == mail_channel {
            self.addressed_to_office += 1;
        }
        *t.channels.entry(r.channel.clone()).or_default() += 1;
        if r.third_party {
            self.with_third_party += 1;
        } else {
            self.without_third_party += 1;
        }
        self.add_kind(r);
        for topic in &r.topics {
            *t.topics.entry(topic.clone()).or_default() += 1;
        }
        match &r.organisation {
            Some(o) => *t.orgs.entry(o.clone()).or_default() += 1,
            None => self.without_organisation += 1,
        }
        if let Some(c) = &r.category {
            *t.cats.entry(c.clone()).or_default() += 1;
        }
        self.add_processing(r, &mut t.days);
        self.add_acknowledgement(r);
        t.clarification.add(r);
    }

    /// Shares, medians and sorted lists once every case is counted.
    fn finish(&mut self, t: Tally, opts: &Options) {
        self.justified.share_of_reactions_percent =
            percent(self.justified.justified, self.reactions);
        self.justified.share_of_complaints_percent =
            percent(self.justified.justified, self.kinds.beschwerde);
        self.processing.share_within_deadline_percent = percent(
            self.processing.closed_within_deadline,
            self.processing.closed,
        );
        let mut days = t.days;
        self.processing.median_processing_days = median(&mut days);
        let a = &mut self.acknowledgements;
        a.expected = self.reactions - a.suppressed - a.not_applicable;
        a.share_within_deadline_percent = percent(a.within_deadline, a.expected);
        let mut ch: Vec<NameCount> = t
            .channels
            .into_iter()
            .map(|(name, count)| NameCount { name, count })
            .collect();
        ch.sort_by_key(|c| channel_rank(&opts.mail_channel, &c.name));
        self.channels = ch;
        self.topics = sorted(t.topics);
        self.topic_areas = work::topic_areas(&self.topics, &opts.topic_areas);
        self.organisations = sorted(t.orgs);
        self.categories = sorted(t.cats);
        self.clarification = t.clarification.finish(self.reactions);
    }
}

/// Aggregates the cases of one span and the appointments held in it. Discarded and merged cases
/// are counted apart, never as reactions; kinds count only when confirmed by staff.
pub fn figures(
    span: Span,
    rows: &[&ReportCaseRow],
    appointments: &[AppointmentRow],
    opts: &Options,
) -> Figures {
    let mut f = Figures::empty(span);
    let mut t = Tally::default();
    for r in rows {
        if f.exclude(r) {
            f.add(r, &mut t, &opts.mail_channel);
        }
    }
    f.finish(t, opts);
    f.network = work::network(appointments, f.span.from, f.span.to);
    f
}

/// Builds the report for `span` from the cases received in it and the appointments held in it.
pub fn build(
    span: &Span,
    rows: &[ReportCaseRow],
    appointments: &[AppointmentRow],
    opts: &Options,
) -> Report {
    let within = |from: NaiveDate, to: NaiveDate| -> Vec<&ReportCaseRow> {
        rows.iter()
            .filter(|r| {
                let d = calendar::berlin_date(r.received_at);
                from <= d && d <= to
            })
            .collect()
    };
    let periods = half_year_columns(span)
        .into_iter()
        .map(|col| {
            let mine = within(col.from, col.to);
            figures(col, &mine, appointments, opts)
        })
        .collect();
    let mut total_span = span.clone();
    total_span.label = "Gesamt".to_string();
    Report {
        title: span.label.clone(),
        from: span.from,
        to: span.to,
        mail_channel: opts.mail_channel.clone(),
        periods,
        total: figures(total_span, &within(span.from, span.to), appointments, opts),
    }
}

/// Reads the cases received in the selected span (Berlin dates) and the network appointments
/// held in it, and builds the report.
pub async fn generate(
    pool: &PgPool,
    selection: Selection,
    opts: &Options,
) -> Result<Report, ReportError> {
    let span = selection.span()?;
    let start = |d: NaiveDate| {
        calendar::berlin_local_to_utc(d, NaiveTime::MIN).ok_or_else(|| {
            ReportError::Invalid(format!("{} liegt außerhalb des Kalenders", ymd(d)))
        })
    };
    let from: DateTime<Utc> = start(span.from)?;
    let until = start(
        span.to
            .succ_opt()
            .ok_or_else(|| ReportError::Invalid("Zeitraum zu groß".into()))?,
    )?;
    let mut conn = pool.acquire().await?;
    let rows = q::cases_received(&mut conn, from, until).await?;
    let appointments = q::appointments_held(&mut conn, span.from, span.to).await?;
    Ok(build(&span, &rows, &appointments, opts))
}

// ---------------------------------------------------------------------------------------------
// German number formats
// ---------------------------------------------------------------------------------------------

/// `1.234.567`.
pub fn german_int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(ch);
    }
    out
}

/// One decimal with a decimal comma (`29,4`), no decimals for whole numbers when `trim`.
pub fn german_decimal(x: f64, trim: bool) -> String {
    let rounded = (x * 10.0).round() / 10.0;
    if trim && rounded.fract() == 0.0 {
        return format!("{rounded:.0}");
    }
    format!("{rounded:.1}").replace('.', ",")
}

/// `29,4 %`, or `–` when undefined.
pub fn german_percent(p: Option<f64>) -> String {
    match p {
        Some(x) => format!("{} %", german_decimal(x, false)),
        None => "–".to_string(),
    }
}

impl Report {
    /// The German table a person can paste into the yearly report.
    pub fn to_text(&self, top: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Bericht der Ombudsstelle: {}", self.title);
        let _ = writeln!(
            out,
            "Zeitraum: {} bis {} (Eingang, Berliner Zeit)",
            ymd(self.from),
            ymd(self.to)
        );
        let t = &self.total;
        if t.reactions == 0 && t.network.appointments == 0 {
            let _ = writeln!(
                out,
                "\nIm Zeitraum {} bis {} ist keine Reaktion erfasst; es gibt nichts auszuwerten.",
                ymd(self.from),
                ymd(self.to)
            );
            if t.excluded.discarded + t.excluded.merged + t.excluded.spam_suspected > 0 {
                let _ = writeln!(
                    out,
                    "Nicht gezählt: {} verworfen, {} zusammengeführt{}.",
                    german_int(t.excluded.discarded),
                    german_int(t.excluded.merged),
                    spam_note(t.excluded.spam_suspected)
                );
            }
            return out;
        }
        out.push('\n');
        out.push_str(&self.table_text(top));
        out.push_str(&self.network_items_text());
        let _ = writeln!(
            out,
            "\nNicht gezählt: {} verworfen, {} zusammengeführt{}. Folgemails gehören zu ihrem \
             Vorgang und zählen nie als eigene Reaktion.",
            german_int(t.excluded.discarded),
            german_int(t.excluded.merged),
            spam_note(t.excluded.spam_suspected)
        );
        let _ = writeln!(
            out,
            "Arten zählen nur, wenn die Ombudsstelle sie bestätigt hat; Anteile: – = nicht \
             bestimmbar (keine Fälle)."
        );
        out
    }

    /// The table as aligned text: labels left, figures right.
    fn table_text(&self, top: usize) -> String {
        let mut out = String::new();
        let lines = self.lines(top);
        let labels = self.column_labels();
        let label_width = lines
            .iter()
            .map(|l| match l {
                Line::Section(s) => s.chars().count(),
                Line::Row { label, indent, .. } => label.chars().count() + 2 * indent,
            })
            .max()
            .unwrap_or(0)
            .max(10);
        let widths: Vec<usize> = labels
            .iter()
            .enumerate()
            .map(|(i, h)| {
                lines
                    .iter()
                    .filter_map(|l| match l {
                        Line::Row { cells, .. } => cells.get(i).map(|c| c.text().chars().count()),
                        Line::Section(_) => None,
                    })
                    .chain([h.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let pad_right =
            |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
        let pad_left =
            |s: &str, w: usize| format!("{}{s}", " ".repeat(w.saturating_sub(s.chars().count())));
        let mut header = pad_right("", label_width);
        for (h, w) in labels.iter().zip(&widths) {
            header.push_str("  ");
            header.push_str(&pad_left(h, *w));
        }
        let _ = writeln!(out, "{}", header.trim_end());
        let _ = writeln!(
            out,
            "{}",
            "-".repeat(label_width + widths.iter().map(|w| w + 2).sum::<usize>())
        );
        for l in &lines {
            match l {
                Line::Section(s) => {
                    let _ = writeln!(out, "{s}");
                }
                Line::Row {
                    label,
                    indent,
                    cells,
                } => {
                    let mut s = pad_right(&format!("{}{label}", "  ".repeat(*indent)), label_width);
                    for (c, w) in cells.iter().zip(&widths) {
                        s.push_str("  ");
                        s.push_str(&pad_left(&c.text(), *w));
                    }
                    let _ = writeln!(out, "{}", s.trim_end());
                }
            }
        }
        out
    }

    /// The network appointments, one per line (the table has only their counts).
    fn network_items_text(&self) -> String {
        let items = &self.total.network.items;
        if items.is_empty() {
            return String::new();
        }
        let mut out = String::from("\nTermine der Netzwerkarbeit\n");
        for i in items {
            let _ = writeln!(
                out,
                "  {}  {}: {}{}",
                ymd(i.date),
                i.kind_label,
                i.organisations.join(", "),
                if i.invited { " (auf Einladung)" } else { "" }
            );
        }
        out
    }

    /// Semicolon-separated, decimal comma (for spreadsheets with German settings); one row per
    /// figure, one column per half-year and the total. Percent columns carry no sign.
    pub fn to_csv(&self, top: usize) -> String {
        let mut out = String::new();
        let esc = |s: &str| {
            let s = crate::domain::text::spreadsheet_text(s);
            if s.contains([';', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let mut header = vec!["Abschnitt".to_string(), "Kennzahl".to_string()];
        header.extend(self.column_labels());
        let _ = writeln!(
            out,
            "{}",
            header.iter().map(|h| esc(h)).collect::<Vec<_>>().join(";")
        );
        let mut section = String::new();
        for l in self.lines(top) {
            match l {
                Line::Section(s) => section = s,
                Line::Row { label, cells, .. } => {
                    let label = match cells.first() {
                        Some(Cell::Percent(_)) => format!("{label} (%)"),
                        _ => label,
                    };
                    let mut fields = vec![esc(&section), esc(&label)];
                    fields.extend(cells.iter().map(|c| c.csv()));
                    let _ = writeln!(out, "{}", fields.join(";"));
                }
            }
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Exactly what `krm-intake report --format …` writes to stdout (the desk's downloads are
    /// these bytes): neutralised for a terminal like every CLI output. `html` needs the template.
    pub fn output(
        &self,
        format: Format,
        top: usize,
        template: Option<&html::ReportTemplate>,
    ) -> Result<String, ReportError> {
        use crate::domain::text::{json_safe, neutralise};
        Ok(match format {
            Format::Text => neutralise(&self.to_text(top)).into_owned(),
            Format::Csv => neutralise(&self.to_csv(top)).into_owned(),
            Format::Json => format!("{}\n", json_safe(&self.to_json())),
            Format::Html => {
                let t = template.ok_or_else(|| {
                    ReportError::File(format!("Vorlage {} fehlt", html::TEMPLATE))
                })?;
                let doc = t
                    .render(self, top, true)
                    .map_err(|e| ReportError::File(e.german()))?;
                neutralise(&doc).into_owned()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::test_dates::{berlin_at as at, d};

    fn row(received: DateTime<Utc>) -> ReportCaseRow {
        ReportCaseRow {
            received_at: received,
            channel: "ombudsstelle".into(),
            status: CaseStatus::Open,
            kind: None,
            topics: vec![],
            justified: None,
            organisation: None,
            category: None,
            third_party: false,
            due: d("2017-01-20"),
            answered_on: None,
            ack_due: d("2017-01-05"),
            ack_status: AckStatus::Pending,
            ack_sent_at: None,
            spam_suspected: false,
            answered_source: None,
            interim_reply_on: None,
            contributed: None,
            contacts: vec![],
        }
    }

    fn opts() -> Options {
        Options {
            mail_channel: "ombudsstelle".into(),
            topic_areas: [("Umzug", "Kommunale Dienstleistungen")]
                .into_iter()
                .map(|(t, a)| (t.to_string(), a.to_string()))
                .collect(),
        }
    }

    #[test]
    fn german_numbers() {
        assert_eq!(german_int(0), "0");
        assert_eq!(german_int(286), "286");
        assert_eq!(german_int(1234), "1.234");
        assert_eq!(german_int(1234567), "1.234.567");
        assert_eq!(german_percent(percent(84, 286)), "29,4 %");
        assert_eq!(german_percent(percent(84, 275)), "30,5 %");
        assert_eq!(german_percent(percent(1, 1)), "100,0 %");
        assert_eq!(german_percent(percent(0, 0)), "–");
        assert_eq!(german_decimal(4.5, true), "4,5");
        assert_eq!(german_decimal(4.0, true), "4");
        assert_eq!(percent(84, 286), Some(29.4));
        assert_eq!(percent(1, 3), Some(33.3));
        assert_eq!(percent(2, 3), Some(66.7));
    }

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [7]), Some(7.0));
        assert_eq!(median(&mut [9, 1, 5]), Some(5.0));
        assert_eq!(median(&mut [10, 1, 4, 5]), Some(4.5));
    }

    #[test]
    fn selections_and_half_year_columns() {
        let y = Selection::Year(2017).span().unwrap();
        let cols = half_year_columns(&y);
        assert_eq!(cols.len(), 2);
        assert_eq!(cols[0].label, "1. Halbjahr 2017");
        assert_eq!(
            (cols[0].from, cols[0].to),
            (d("2017-01-01"), d("2017-06-30"))
        );
        assert_eq!(cols[1].half_year.as_deref(), Some("2017-2"));
        let h = Selection::HalfYear(2017, 2).span().unwrap();
        assert_eq!((h.from, h.to), (d("2017-07-01"), d("2017-12-31")));
        assert_eq!(half_year_columns(&h).len(), 1);
        let r = Selection::Range(d("2017-03-01"), d("2018-01-31"))
            .span()
            .unwrap();
        let cols = half_year_columns(&r);
        assert_eq!(
            cols.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(),
            [
                "2017-03-01 bis 2017-06-30",
                "2. Halbjahr 2017",
                "2018-01-01 bis 2018-01-31"
            ]
        );
        assert!(Selection::Range(d("2017-03-02"), d("2017-03-01"))
            .span()
            .is_err());
        assert!(Selection::Year(20170).span().is_err());
        assert_eq!(parse_half_year("2017-1").unwrap(), (2017, 1));
        assert_eq!(parse_half_year("2017-H2").unwrap(), (2017, 2));
        for bad in ["2017-3", "2017", "17-1", "x-1", "2017-0"] {
            assert!(parse_half_year(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn half_years_go_by_berlin_time_and_excluded_cases_do_not_count() {
        let span = Selection::Year(2017).span().unwrap();
        let mut rows = vec![
            row(at(2017, 1, 1, 0, 10)),    // 2016-12-31 23:10 UTC: 2017, H1
            row(at(2016, 12, 31, 23, 50)), // not 2017
            row(at(2017, 6, 30, 23, 50)),  // H1
            row(at(2017, 7, 1, 0, 10)),    // 2017-06-30 22:10 UTC: H2
            row(at(2017, 12, 31, 23, 50)), // H2
            row(at(2018, 1, 1, 0, 10)),    // 2017-12-31 23:10 UTC: not 2017
        ];
        let mut spam = row(at(2017, 3, 1, 9, 0));
        spam.status = CaseStatus::Discarded;
        let mut dup = row(at(2017, 8, 1, 9, 0));
        dup.status = CaseStatus::Merged;
        let mut held = row(at(2017, 9, 1, 9, 0));
        held.spam_suspected = true;
        rows.extend([spam, dup, held]);
        let r = build(&span, &rows, &[], &opts());
        assert_eq!(r.periods[0].reactions, 2);
        assert_eq!(r.periods[1].reactions, 2);
        assert_eq!(r.total.reactions, 4);
        assert_eq!(
            r.total.excluded,
            Excluded {
                discarded: 1,
                merged: 1,
                spam_suspected: 1
            }
        );
        assert_eq!(r.periods[1].excluded.spam_suspected, 1);
        assert_eq!(r.periods[0].excluded.discarded, 1);
        assert_eq!(r.total.kinds.unclassified, 4);
    }

    #[test]
    fn figures_of_a_small_sample() {
        let span = Selection::HalfYear(2017, 1).span().unwrap();
        let mk = |kind: Option<&str>, justified: Option<bool>, org: Option<&str>| {
            let mut r = row(at(2017, 1, 2, 10, 0));
            r.kind = kind.map(String::from);
            r.justified = justified;
            r.organisation = org.map(String::from);
            r.category = org.map(|_| "Beratungsstelle".to_string());
            r.third_party = org.is_some();
            r
        };
        let mut rows = vec![
            mk(Some("beschwerde"), Some(true), Some("Caritas")),
            mk(Some("beschwerde"), Some(false), Some("Caritas")),
            mk(Some("beschwerde"), None, Some("Mittelpunkt")),
            mk(Some("lob"), None, None),
            mk(None, None, None),
        ];
        rows[0].topics = vec!["Umzug".into(), "Mietkaution".into()];
        rows[1].topics = vec!["Umzug".into()];
        // Closed on time after 8 days, and late after 20 days.
        rows[0].status = CaseStatus::Closed;
        rows[0].answered_on = Some(d("2017-01-10"));
        rows[1].status = CaseStatus::Closed;
        rows[1].answered_on = Some(d("2017-01-22"));
        rows[2].ack_status = AckStatus::Sent;
        rows[2].ack_sent_at = Some(at(2017, 1, 2, 10, 5));
        rows[3].ack_status = AckStatus::Manual;
        rows[3].ack_sent_at = Some(at(2017, 1, 9, 12, 0)); // after ack_due
        rows[4].ack_status = AckStatus::Suppressed;
        rows[4].channel = "telefon".into();
        let r = build(&span, &rows, &[], &opts());
        let f = &r.total;
        assert_eq!((f.reactions, f.addressed_to_office), (5, 4));
        assert_eq!((f.with_third_party, f.without_third_party), (3, 2));
        assert_eq!(
            f.kinds,
            Kinds {
                beschwerde: 3,
                anregung: 0,
                lob: 1,
                unclassified: 1
            }
        );
        assert_eq!(
            (
                f.justified.justified,
                f.justified.not_justified,
                f.justified.not_assessed
            ),
            (1, 1, 1)
        );
        assert_eq!(f.justified.share_of_reactions_percent, Some(20.0));
        assert_eq!(f.justified.share_of_complaints_percent, Some(33.3));
        assert_eq!(
            f.topics[0],
            NameCount {
                name: "Umzug".into(),
                count: 2
            }
        );
        assert_eq!(f.organisations[0].name, "Caritas");
        assert_eq!(f.without_organisation, 2);
        assert_eq!(
            (f.processing.closed, f.processing.closed_within_deadline),
            (2, 1)
        );
        assert_eq!(f.processing.share_within_deadline_percent, Some(50.0));
        assert_eq!(f.processing.median_processing_days, Some(14.0));
        let a = &f.acknowledgements;
        assert_eq!(
            (a.expected, a.sent, a.recorded_by_staff, a.within_deadline),
            (4, 1, 1, 1)
        );
        assert_eq!((a.suppressed, a.pending), (1, 2));
        assert_eq!(f.channels[0].name, "ombudsstelle");
        let text = r.to_text(10);
        assert!(text.contains("20,0 %") && text.contains("33,3 %"), "{text}");
        assert!(text.contains("Telefon"), "{text}");
        let csv = r.to_csv(10);
        assert!(
            csv.starts_with("Abschnitt;Kennzahl;1. Halbjahr 2017\n"),
            "{csv}"
        );
        assert!(
            csv.contains(";Anteil begründet an allen Reaktionen (%);20,0\n"),
            "{csv}"
        );
    }

    #[test]
    fn answers_clarification_and_topic_areas() {
        let span = Selection::HalfYear(2017, 1).span().unwrap();
        let mut rows: Vec<ReportCaseRow> = (0..5).map(|_| row(at(2017, 1, 2, 10, 0))).collect();
        rows[0].status = CaseStatus::Closed;
        rows[0].answered_on = Some(d("2017-01-10"));
        rows[0].answered_source = Some("mailbox".into());
        rows[1].status = CaseStatus::Closed;
        rows[1].answered_on = Some(d("2017-01-12"));
        rows[1].answered_source = Some("typed".into());
        rows[2].answered_on = Some(d("2017-01-09"));
        rows[2].answered_source = Some("mailbox".into());
        rows[2].interim_reply_on = Some(d("2017-01-05"));
        rows[3].interim_reply_on = Some(d("2017-01-06"));
        rows[0].kind = Some("beschwerde".into());
        rows[0].justified = Some(false);
        rows[0].contributed = Some(true);
        rows[0].contacts = vec!["Familienkasse".into(), "Familienkasse".into()];
        rows[1].kind = Some("lob".into());
        rows[1].contributed = Some(true);
        rows[1].contacts = vec!["Jugendamt".into()];
        rows[2].contributed = Some(false);
        rows[0].topics = vec!["Umzug".into(), "Erreichbarkeit".into()];
        rows[1].topics = vec!["Umzug".into()];
        let mut discarded = row(at(2017, 1, 3, 10, 0));
        discarded.status = CaseStatus::Discarded;
        discarded.contributed = Some(true);
        discarded.contacts = vec!["Sozialamt".into()];
        rows.push(discarded);
        let f = build(&span, &rows, &[], &opts()).total;
        let p = &f.processing;
        assert_eq!((p.closed, p.answered_from_mailbox), (2, 1));
        assert_eq!((p.answered_not_closed, p.interim_replies), (1, 2));
        let c = &f.clarification;
        assert_eq!((c.cases_with_contact, c.cases_with_contribution), (2, 2));
        assert_eq!(c.share_of_reactions_percent, Some(40.0));
        assert_eq!(
            c.contacts,
            vec![
                NameCount {
                    name: "Familienkasse".into(),
                    count: 2
                },
                NameCount {
                    name: "Jugendamt".into(),
                    count: 1
                }
            ]
        );
        assert_eq!(
            (c.contributed.yes, c.contributed.no, c.contributed.not_said),
            (2, 1, 2)
        );
        let by = &c.contribution_by_assessment;
        assert_eq!(
            (
                by.justified,
                by.not_justified,
                by.not_assessed,
                by.no_complaint
            ),
            (0, 1, 0, 1)
        );
        assert_eq!(
            f.topic_areas,
            vec![NameCount {
                name: "Kommunale Dienstleistungen".into(),
                count: 2
            }]
        );
    }

    #[test]
    fn a_period_with_network_work_but_no_reaction_still_shows_it() {
        let span = Selection::HalfYear(2017, 1).span().unwrap();
        let a = AppointmentRow {
            on_date: d("2017-03-01"),
            kind: "fachgruppe".into(),
            organisations: vec!["Fach-AG Integration und Migration".into()],
            invited: true,
        };
        let r = build(&span, &[], &[a], &opts());
        let text = r.to_text(10);
        assert!(!text.contains("keine Reaktion erfasst"), "{text}");
        assert!(
            text.contains("2017-03-01  Fachgruppe/Arbeitsgruppe: Fach-AG Integration und Migration (auf Einladung)"),
            "{text}"
        );
        assert!(r.to_csv(10).contains("Netzwerkarbeit;Termine;1\n"));
    }

    /// A name a spreadsheet would run as a formula is written as text (an outside try put
    /// `=HYPERLINK(…)` into an organisation).
    #[test]
    fn the_csv_defuses_formulas_in_names() {
        let span = Selection::HalfYear(2017, 1).span().unwrap();
        let a = AppointmentRow {
            on_date: d("2017-03-01"),
            kind: "fachgruppe".into(),
            organisations: vec!["=HYPERLINK(\"http://x.test\";\"klick\")".into()],
            invited: false,
        };
        let csv = build(&span, &[], &[a], &opts()).to_csv(10);
        assert!(
            csv.contains("\"'=HYPERLINK(\"\"http://x.test\"\";\"\"klick\"\")\""),
            "{csv}"
        );
        assert!(!csv.contains(";=") && !csv.contains(";\"="), "{csv}");
    }

    #[test]
    fn an_empty_period_divides_by_nothing() {
        let span = Selection::Year(2030).span().unwrap();
        let r = build(&span, &[], &[], &opts());
        assert_eq!(r.total.reactions, 0);
        assert_eq!(r.total.justified.share_of_reactions_percent, None);
        assert_eq!(r.total.processing.median_processing_days, None);
        let text = r.to_text(10);
        assert!(text.contains("keine Reaktion erfasst"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["total"]["reactions"], 0);
        assert!(json["total"]["justified"]["share_of_reactions_percent"].is_null());
        assert!(r
            .to_csv(10)
            .contains(";Anteil begründet an allen Reaktionen (%);;;\n"));
    }
}
