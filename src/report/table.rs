//! The table model shared by text, CSV and HTML: one line per figure, one cell per column (the
//! half-years, then the total). Grouped in parts, so that the HTML document can show each part
//! under its own heading while text and CSV show them one after another.

use super::{german_decimal, german_int, german_percent, Figures, NameCount, Report};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell {
    Count(u64),
    Percent(Option<f64>),
    Days(Option<f64>),
    Empty,
}

impl Cell {
    pub(crate) fn text(self) -> String {
        match self {
            Cell::Count(n) => german_int(n),
            Cell::Percent(p) => german_percent(p),
            Cell::Days(d) => d.map(|x| german_decimal(x, true)).unwrap_or("–".into()),
            Cell::Empty => String::new(),
        }
    }

    pub(crate) fn csv(self) -> String {
        match self {
            Cell::Count(n) => n.to_string(),
            Cell::Percent(p) => p.map(|x| german_decimal(x, false)).unwrap_or_default(),
            Cell::Days(d) => d.map(|x| german_decimal(x, true)).unwrap_or_default(),
            Cell::Empty => String::new(),
        }
    }
}

pub(crate) enum Line {
    Section(String),
    Row {
        label: String,
        indent: usize,
        cells: Vec<Cell>,
    },
}

/// The parts of the table, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// Reactions, kinds, assessment, processing, acknowledgements.
    Figures,
    /// Main topics and their areas.
    Topics,
    /// Organisations and their categories.
    Organisations,
    Clarification,
    Network,
}

type Pick = fn(&Figures) -> &[NameCount];
/// A cell of every column, from that column's figures.
type Get = fn(&Figures) -> Cell;

fn count_of(list: &[NameCount], name: &str) -> u64 {
    list.iter()
        .find(|n| n.name == name)
        .map(|n| n.count)
        .unwrap_or(0)
}

impl Report {
    /// The columns the tables show: the half-years, then the total (only one column when the
    /// span is a single half-year or part of one).
    pub(crate) fn columns(&self) -> Vec<&Figures> {
        if self.periods.len() == 1 {
            vec![&self.total]
        } else {
            self.periods.iter().chain([&self.total]).collect()
        }
    }

    pub(crate) fn column_labels(&self) -> Vec<String> {
        if self.periods.len() == 1 {
            vec![self.periods[0].span.label.clone()]
        } else {
            self.columns()
                .iter()
                .map(|f| f.span.label.clone())
                .collect()
        }
    }

    fn row(&self, label: &str, indent: usize, get: &dyn Fn(&Figures) -> Cell) -> Line {
        Line::Row {
            label: label.to_string(),
            indent,
            cells: self.columns().iter().map(|f| get(f)).collect(),
        }
    }

    /// A section (at `indent` 0) or a sub-heading row listing the total's first `top` names, each
    /// with every column's count.
    fn list(&self, l: &mut Vec<Line>, title: &str, indent: usize, pick: Pick, top: usize) {
        if indent == 0 {
            l.push(Line::Section(title.to_string()));
        } else {
            l.push(self.row(title, indent, &|_| Cell::Empty));
        }
        let names = pick(&self.total);
        if names.is_empty() {
            l.push(self.row("(keine)", indent + 1, &|_| Cell::Empty));
        }
        for n in names.iter().take(top) {
            let name = n.name.clone();
            l.push(self.row(&n.name, indent + 1, &|f| {
                Cell::Count(count_of(pick(f), &name))
            }));
        }
    }

    /// Every line, all parts one after another (text and CSV).
    pub(crate) fn lines(&self, top: usize) -> Vec<Line> {
        self.parts(top).into_iter().flat_map(|(_, l)| l).collect()
    }

    pub(crate) fn parts(&self, top: usize) -> Vec<(Part, Vec<Line>)> {
        vec![
            (Part::Figures, self.figure_lines()),
            (Part::Topics, self.topic_lines(top)),
            (Part::Organisations, self.organisation_lines(top)),
            (Part::Clarification, self.clarification_lines(top)),
            (Part::Network, self.network_lines(top)),
        ]
    }

    fn figure_lines(&self) -> Vec<Line> {
        let mut l = vec![
            self.row("Reaktionen", 0, &|f| Cell::Count(f.reactions)),
            self.row(
                &format!(
                    "an die Ombudsstelle gerichtet (Postfach {})",
                    self.mail_channel
                ),
                1,
                &|f| Cell::Count(f.addressed_to_office),
            ),
            self.row("ohne Unterstützung Dritter", 1, &|f| {
                Cell::Count(f.without_third_party)
            }),
            self.row("mit Unterstützung Dritter", 1, &|f| {
                Cell::Count(f.with_third_party)
            }),
        ];
        // Ways of receipt beyond the mailbox, only when there are any.
        if self
            .total
            .channels
            .iter()
            .any(|c| c.name != self.mail_channel)
        {
            l.push(Line::Section("Eingangsweg".into()));
            for c in self.total.channels.iter() {
                let name = c.name.clone();
                l.push(self.row(&crate::staff::channel_label(&c.name), 1, &|f| {
                    Cell::Count(count_of(&f.channels, &name))
                }));
            }
        }
        l.push(Line::Section("Art der Reaktion".into()));
        l.push(self.row("Beschwerde", 1, &|f| Cell::Count(f.kinds.beschwerde)));
        l.push(self.row("Idee/Anregung", 1, &|f| Cell::Count(f.kinds.anregung)));
        l.push(self.row("Lob", 1, &|f| Cell::Count(f.kinds.lob)));
        l.push(self.row("nicht eingestuft", 1, &|f| {
            Cell::Count(f.kinds.unclassified)
        }));
        self.assessment_lines(&mut l);
        self.processing_lines(&mut l);
        self.acknowledgement_lines(&mut l);
        l
    }

    fn assessment_lines(&self, l: &mut Vec<Line>) {
        l.push(Line::Section("Beschwerden".into()));
        l.push(self.row("als begründet bewertet", 1, &|f| {
            Cell::Count(f.justified.justified)
        }));
        l.push(self.row("Anteil begründet an allen Reaktionen", 1, &|f| {
            Cell::Percent(f.justified.share_of_reactions_percent)
        }));
        l.push(self.row("Anteil begründet an den Beschwerden", 1, &|f| {
            Cell::Percent(f.justified.share_of_complaints_percent)
        }));
        l.push(self.row("als unbegründet bewertet", 1, &|f| {
            Cell::Count(f.justified.not_justified)
        }));
        l.push(self.row("noch nicht bewertet", 1, &|f| {
            Cell::Count(f.justified.not_assessed)
        }));
    }

    fn processing_lines(&self, l: &mut Vec<Line>) {
        l.push(Line::Section("Bearbeitung".into()));
        let rows: [(&str, Get); 8] = [
            ("abgeschlossen", |f| Cell::Count(f.processing.closed)),
            ("davon Antwortdatum aus dem Postfach übernommen", |f| {
                Cell::Count(f.processing.answered_from_mailbox)
            }),
            ("davon innerhalb der Bearbeitungsfrist", |f| {
                Cell::Count(f.processing.closed_within_deadline)
            }),
            ("Anteil innerhalb der Bearbeitungsfrist", |f| {
                Cell::Percent(f.processing.share_within_deadline_percent)
            }),
            ("Bearbeitungsdauer in Tagen (Median)", |f| {
                Cell::Days(f.processing.median_processing_days)
            }),
            ("noch nicht abgeschlossen", |f| {
                Cell::Count(f.processing.not_closed)
            }),
            ("davon beantwortet, aber nicht abgeschlossen", |f| {
                Cell::Count(f.processing.answered_not_closed)
            }),
            ("mit Zwischennachricht", |f| {
                Cell::Count(f.processing.interim_replies)
            }),
        ];
        for (label, get) in rows {
            l.push(self.row(label, 1, &get));
        }
    }

    fn acknowledgement_lines(&self, l: &mut Vec<Line>) {
        l.push(Line::Section("Eingangsbestätigungen".into()));
        let rows: [(&str, Get); 10] = [
            ("erwartet", |f| Cell::Count(f.acknowledgements.expected)),
            ("per Mail versandt", |f| {
                Cell::Count(f.acknowledgements.sent)
            }),
            ("von Hand erfasst", |f| {
                Cell::Count(f.acknowledgements.recorded_by_staff)
            }),
            ("innerhalb der Bestätigungsfrist", |f| {
                Cell::Count(f.acknowledgements.within_deadline)
            }),
            ("Anteil innerhalb der Bestätigungsfrist", |f| {
                Cell::Percent(f.acknowledgements.share_within_deadline_percent)
            }),
            ("fehlgeschlagen", |f| Cell::Count(f.acknowledgements.failed)),
            ("nicht zugestellt (Rückläufer)", |f| {
                Cell::Count(f.acknowledgements.not_delivered)
            }),
            ("noch ausstehend", |f| {
                Cell::Count(f.acknowledgements.pending)
            }),
            ("unterdrückt (automatische Mail u. Ä.)", |f| {
                Cell::Count(f.acknowledgements.suppressed)
            }),
            ("entfällt (nicht per Mail eingegangen)", |f| {
                Cell::Count(f.acknowledgements.not_applicable)
            }),
        ];
        for (label, get) in rows {
            l.push(self.row(label, 1, &get));
        }
    }

    fn topic_lines(&self, top: usize) -> Vec<Line> {
        let mut l = Vec::new();
        self.list(&mut l, "Häufigste Themen", 0, |f| &f.topics, top);
        self.list(&mut l, "Themenbereiche", 0, |f| &f.topic_areas, top);
        l
    }

    fn organisation_lines(&self, top: usize) -> Vec<Line> {
        let mut l = Vec::new();
        self.list(
            &mut l,
            "Häufigste Organisationen",
            0,
            |f| &f.organisations,
            top,
        );
        self.list(
            &mut l,
            "Kategorien der Organisationen",
            0,
            |f| &f.categories,
            top,
        );
        l.push(self.row("ohne Organisation", 1, &|f| {
            Cell::Count(f.without_organisation)
        }));
        l
    }

    fn clarification_lines(&self, top: usize) -> Vec<Line> {
        let mut l = vec![Line::Section("Klärungsarbeit".into())];
        let rows: [(&str, usize, Get); 10] = [
            ("Vorgänge mit Kontakt zu einer Stelle", 1, |f| {
                Cell::Count(f.clarification.cases_with_contact)
            }),
            ("wesentlich zur Klärung beigetragen", 1, |f| {
                Cell::Count(f.clarification.cases_with_contribution)
            }),
            ("Anteil an allen Reaktionen", 1, |f| {
                Cell::Percent(f.clarification.share_of_reactions_percent)
            }),
            ("bei begründeten Beschwerden", 2, |f| {
                Cell::Count(f.clarification.contribution_by_assessment.justified)
            }),
            ("bei unbegründeten Beschwerden", 2, |f| {
                Cell::Count(f.clarification.contribution_by_assessment.not_justified)
            }),
            ("bei nicht bewerteten Beschwerden", 2, |f| {
                Cell::Count(f.clarification.contribution_by_assessment.not_assessed)
            }),
            ("bei anderen Reaktionen", 2, |f| {
                Cell::Count(f.clarification.contribution_by_assessment.no_complaint)
            }),
            ("nicht wesentlich beigetragen", 1, |f| {
                Cell::Count(f.clarification.contributed.no)
            }),
            ("ohne Angabe", 1, |f| {
                Cell::Count(f.clarification.contributed.not_said)
            }),
            ("Kontakte zu Stellen", 1, |f| {
                Cell::Count(f.clarification.contacts.iter().map(|c| c.count).sum())
            }),
        ];
        for (label, indent, get) in rows {
            l.push(self.row(label, indent, &get));
        }
        let pick: Pick = |f| &f.clarification.contacts;
        for n in self.total.clarification.contacts.iter().take(top) {
            let name = n.name.clone();
            l.push(self.row(&n.name, 2, &|f| Cell::Count(count_of(pick(f), &name))));
        }
        l
    }

    fn network_lines(&self, top: usize) -> Vec<Line> {
        let mut l = vec![Line::Section("Netzwerkarbeit".into())];
        l.push(self.row("Termine", 1, &|f| Cell::Count(f.network.appointments)));
        l.push(self.row("auf Einladung", 1, &|f| {
            Cell::Count(f.network.on_invitation)
        }));
        l.push(self.row("Anteil auf Einladung", 1, &|f| {
            Cell::Percent(f.network.share_on_invitation_percent)
        }));
        let kinds: Pick = |f| &f.network.by_kind;
        for n in &self.total.network.by_kind {
            let name = n.name.clone();
            l.push(self.row(&n.name, 2, &|f| Cell::Count(count_of(kinds(f), &name))));
        }
        self.list(
            &mut l,
            "Organisationen (Termine je Organisation)",
            1,
            |f| &f.network.organisations,
            top,
        );
        l
    }
}
