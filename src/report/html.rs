//! `report --format html`: one self-contained printable document shaped like the seed report
//! (title, period, the table, a bar chart drawn as SVG, topics and areas, organisations,
//! clarification work, network work), rendered from the operator-editable template
//! `templates/report.html.j2` (minijinja, every value escaped). The desk shows the same
//! document's `<article>` inside its own frame, with the stylesheet served as a file.

use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use std::path::{Path, PathBuf};

use super::table::{Line, Part};
use super::{build, german_int, Figures, Options, Report, Selection};
use crate::templates::TemplateError;

pub const TEMPLATE: &str = "report.html.j2";

/// The document's stylesheet: inlined into the standalone document, served by the desk as
/// `/static/report.css` (its content security policy allows no inline style).
pub const CSS: &str = include_str!("../../static/report.css");

/// The shipped template, used when the templates directory has none (an installation upgraded
/// from a version without it: upgrades never touch the operator's templates).
const SHIPPED: &str = include_str!("../../templates/report.html.j2");

pub struct ReportTemplate {
    env: Environment<'static>,
    path: PathBuf,
    builtin: bool,
}

/// One line of a table as the template shows it.
#[derive(Debug, Serialize)]
struct Row {
    section: bool,
    label: String,
    indent: usize,
    cells: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Bar {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    fill: &'static str,
    value: String,
    /// Where the value is written (above the bar).
    text_x: u32,
    text_y: u32,
}

#[derive(Debug, Serialize)]
struct Legend {
    label: &'static str,
    fill: &'static str,
    x: u32,
}

#[derive(Debug, Serialize)]
struct Group {
    label: String,
    x: u32,
}

#[derive(Debug, Serialize)]
struct Chart {
    width: u32,
    height: u32,
    /// The base line of the bars.
    axis_y: u32,
    bars: Vec<Bar>,
    groups: Vec<Group>,
    legend: Vec<Legend>,
    legend_y: u32,
    /// What the chart shows, in words (for screen readers).
    description: String,
}

#[derive(Debug, Serialize)]
struct NetworkLine {
    date: String,
    kind: String,
    organisations: String,
    invited: bool,
}

/// (label, colour, value) of each bar of a group.
type Series = (&'static str, &'static str, fn(&Figures) -> u64);

const SERIES: [Series; 4] = [
    ("Reaktionen", "#0b3d91", |f| f.reactions),
    ("mit Unterstützung Dritter", "#2e6fb7", |f| {
        f.with_third_party
    }),
    ("Beschwerden", "#5a6270", |f| f.kinds.beschwerde),
    ("davon begründet", "#b34700", |f| f.justified.justified),
];

/// Grouped bars per half-year: reactions, with third-party support, complaints, justified.
fn chart(r: &Report) -> Chart {
    const BAR: u32 = 28;
    const GAP: u32 = 6;
    const GROUP_GAP: u32 = 48;
    const TOP: u32 = 24;
    const PLOT: u32 = 180;
    let group_width = SERIES.len() as u32 * (BAR + GAP) - GAP;
    let max = r
        .periods
        .iter()
        .flat_map(|f| SERIES.iter().map(move |(_, _, get)| get(f)))
        .max()
        .unwrap_or(0)
        .max(1);
    let mut bars = Vec::new();
    let mut groups = Vec::new();
    let mut description = Vec::new();
    for (i, f) in r.periods.iter().enumerate() {
        let gx = 16 + i as u32 * (group_width + GROUP_GAP);
        groups.push(Group {
            label: f.span.label.clone(),
            x: gx + group_width / 2,
        });
        let mut parts = Vec::new();
        for (j, (label, fill, get)) in SERIES.iter().enumerate() {
            let v = get(f);
            let height = ((v as f64) * f64::from(PLOT) / (max as f64)).round() as u32;
            let x = gx + j as u32 * (BAR + GAP);
            bars.push(Bar {
                x,
                y: TOP + PLOT - height,
                width: BAR,
                height,
                fill,
                value: german_int(v),
                text_x: x + BAR / 2,
                text_y: TOP + PLOT - height - 4,
            });
            parts.push(format!("{label} {}", german_int(v)));
        }
        description.push(format!("{}: {}", f.span.label, parts.join(", ")));
    }
    let groups_width = r.periods.len() as u32 * (group_width + GROUP_GAP);
    Chart {
        width: groups_width.max(4 * 150) + 32,
        height: TOP + PLOT + 64,
        axis_y: TOP + PLOT,
        bars,
        groups,
        legend: SERIES
            .iter()
            .enumerate()
            .map(|(j, (label, fill, _))| Legend {
                label,
                fill,
                x: 16 + j as u32 * 150,
            })
            .collect(),
        legend_y: TOP + PLOT + 44,
        description: description.join("; "),
    }
}

fn rows(lines: Vec<Line>) -> Vec<Row> {
    lines
        .into_iter()
        .map(|l| match l {
            Line::Section(s) => Row {
                section: true,
                label: s,
                indent: 0,
                cells: Vec::new(),
            },
            Line::Row {
                label,
                indent,
                cells,
            } => Row {
                section: false,
                label,
                indent,
                cells: cells.into_iter().map(|c| c.text()).collect(),
            },
        })
        .collect()
}

fn de_date(d: chrono::NaiveDate) -> String {
    d.format("%d.%m.%Y").to_string()
}

/// Everything the template may use. Aggregates only, like every format.
fn context(r: &Report, top: usize, standalone: bool) -> Value {
    let mut parts = serde_json::Map::new();
    for (part, lines) in r.parts(top) {
        let key = match part {
            Part::Figures => "figures",
            Part::Topics => "topics",
            Part::Organisations => "organisations",
            Part::Clarification => "clarification",
            Part::Network => "network",
        };
        parts.insert(key.into(), serde_json::json!(rows(lines)));
    }
    let network: Vec<NetworkLine> = r
        .total
        .network
        .items
        .iter()
        .map(|i| NetworkLine {
            date: de_date(i.date),
            kind: i.kind_label.clone(),
            organisations: i.organisations.join(", "),
            invited: i.invited,
        })
        .collect();
    let t = &r.total;
    let ctx = serde_json::json!({
        "title": format!("Bericht der Ombudsstelle: {}", r.title),
        "period": format!("{} bis {}", de_date(r.from), de_date(r.to)),
        "columns": r.column_labels(),
        "parts": parts,
        "chart": chart(r),
        "network_items": network,
        "empty": t.reactions == 0,
        "excluded": format!(
            "Nicht gezählt: {} verworfen, {} zusammengeführt{}.",
            german_int(t.excluded.discarded),
            german_int(t.excluded.merged),
            super::spam_note(t.excluded.spam_suspected)
        ),
        "report": r,
        "standalone": standalone,
    });
    let mut v = Value::from(Serde(&ctx));
    if standalone {
        // Our own stylesheet, compiled in: the one value not escaped.
        v = minijinja::context! { css => Value::from_safe_string(CSS.to_string()), ..v };
    } else {
        v = minijinja::context! { css => "", ..v };
    }
    v
}

/// A small report with every part filled, to render the template once at load.
fn sample() -> Report {
    let span = Selection::Year(2017)
        .span()
        .unwrap_or_else(|_| unreachable!());
    let appointment = crate::store::report::AppointmentRow {
        on_date: span.from,
        kind: "vorstellung".into(),
        organisations: vec!["Beratungsstelle".into()],
        invited: true,
    };
    build(&span, &[], &[appointment], &Options::default())
}

impl ReportTemplate {
    /// Loads `report.html.j2` from `dir` and renders it once with sample figures, so that a
    /// syntax error or an unknown name fails at `check`, not when the lead needs the report.
    pub fn load(dir: &Path) -> Result<ReportTemplate, TemplateError> {
        let path = dir.join(TEMPLATE);
        let (source, builtin) = match std::fs::read_to_string(&path) {
            Ok(s) => (s, false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (SHIPPED.to_string(), true),
            Err(source) => {
                return Err(TemplateError::Read {
                    path: path.clone(),
                    source,
                })
            }
        };
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.add_template_owned(TEMPLATE.to_string(), source)
            .map_err(|e| TemplateError::Syntax {
                path: path.clone(),
                line: e.line().unwrap_or(0),
                message: e.detail().unwrap_or("syntax error").to_string(),
            })?;
        let t = ReportTemplate { env, path, builtin };
        t.render(&sample(), 10, true)?;
        t.render(&sample(), 10, false)?;
        Ok(t)
    }

    /// The directory has no `report.html.j2`: the shipped one is used.
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// The document: the whole page when `standalone`, else only its `<article>` (the desk).
    pub fn render(
        &self,
        r: &Report,
        top: usize,
        standalone: bool,
    ) -> Result<String, TemplateError> {
        let err = |message: String| TemplateError::Render {
            path: self.path.clone(),
            message,
        };
        let tmpl = self
            .env
            .get_template(TEMPLATE)
            .map_err(|e| err(e.to_string()))?;
        tmpl.render(context(r, top, standalone))
            .map_err(|e| err(format!("Zeile {}: {e}", e.line().unwrap_or(0))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::test_dates::berlin_at as at;
    use crate::store::report::ReportCaseRow;

    fn shipped() -> ReportTemplate {
        ReportTemplate::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")).unwrap()
    }

    fn report_with(org: &str) -> Report {
        let span = Selection::HalfYear(2017, 1).span().unwrap();
        let row = ReportCaseRow {
            received_at: at(2017, 1, 2, 10, 0),
            channel: "ombudsstelle".into(),
            status: crate::domain::CaseStatus::Open,
            kind: Some("beschwerde".into()),
            topics: vec!["Umzug".into()],
            justified: Some(true),
            organisation: Some(org.into()),
            category: None,
            third_party: true,
            due: span.to,
            answered_on: None,
            ack_due: span.to,
            ack_status: crate::domain::AckStatus::Pending,
            ack_sent_at: None,
            spam_suspected: false,
            answered_source: None,
            interim_reply_on: None,
            contributed: Some(true),
            contacts: vec!["Familienkasse".into()],
        };
        build(&span, &[row], &[], &Options::default())
    }

    #[test]
    fn the_shipped_template_renders_a_whole_document_and_escapes() {
        let t = shipped();
        let r = report_with("<script>alert(1)</script> & Co");
        let doc = t.render(&r, 10, true).unwrap();
        assert!(doc.starts_with("<!doctype html>"), "{doc}");
        assert!(doc.contains("<style>"), "{doc}");
        assert!(
            doc.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; Co"),
            "{doc}"
        );
        assert!(!doc.contains("<script>"), "{doc}");
        assert!(doc.contains("<svg"), "{doc}");
        assert!(doc.contains("Familienkasse"), "{doc}");
        let article = t.render(&r, 10, false).unwrap();
        assert!(!article.contains("<style"), "{article}");
        assert!(!article.contains(" style="), "{article}");
        assert!(
            doc.contains(article.trim()),
            "the desk's article is the document's"
        );
    }

    #[test]
    fn a_broken_template_names_file_and_line_and_a_missing_one_is_the_shipped() {
        let dir = tempfile::tempdir().unwrap();
        let t = ReportTemplate::load(dir.path()).unwrap();
        assert!(t.is_builtin());
        assert!(!shipped().is_builtin());
        std::fs::write(dir.path().join(TEMPLATE), "<p>\n{% if %}\n").unwrap();
        let e = ReportTemplate::load(dir.path()).err().unwrap();
        assert!(matches!(e, TemplateError::Syntax { line: 2, .. }), "{e:?}");
        std::fs::write(dir.path().join(TEMPLATE), "<p>{{ no_such_figure }}</p>\n").unwrap();
        let e = ReportTemplate::load(dir.path()).err().unwrap();
        assert!(matches!(e, TemplateError::Render { .. }), "{e:?}");
    }
}
