//! The report's figures beyond intake: clarification work (contacts with outside bodies and
//! whether the Ombudsstelle contributed), network work (appointments with organisations, never
//! persons) and the topics summed by their catalogue area. Pure; docs/report.md.

use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;

use super::{percent, ser_date, sorted, NameCount};
use crate::domain::NetworkKind;
use crate::store::report::{AppointmentRow, ReportCaseRow};

/// Whether the Ombudsstelle contributed substantially to clarifying the matter.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Contributed {
    pub yes: u64,
    pub no: u64,
    /// Staff have not said.
    pub not_said: u64,
}

/// The cases the Ombudsstelle contributed to, by the complaint's assessment: the justified share
/// alone does not show its value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContributionByAssessment {
    pub justified: u64,
    pub not_justified: u64,
    pub not_assessed: u64,
    /// Ideas, praise and unclassified reactions.
    pub no_complaint: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Clarification {
    /// Reactions with at least one contact to an outside body.
    pub cases_with_contact: u64,
    /// Contacts per body (a case with two contacts to the same body counts twice).
    pub contacts: Vec<NameCount>,
    pub cases_with_contribution: u64,
    /// Cases with contribution in percent of all reactions.
    pub share_of_reactions_percent: Option<f64>,
    pub contributed: Contributed,
    pub contribution_by_assessment: ContributionByAssessment,
}

/// One appointment of network work as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkItem {
    #[serde(serialize_with = "ser_date")]
    pub date: NaiveDate,
    /// `vorstellung`, `netzwerktreffen`, `fachgruppe`, `besuch` or `sonstiges`.
    pub kind: String,
    pub kind_label: String,
    pub organisations: Vec<String>,
    pub invited: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Network {
    pub appointments: u64,
    pub on_invitation: u64,
    pub share_on_invitation_percent: Option<f64>,
    /// Every kind in catalogue order (German labels), also with 0.
    pub by_kind: Vec<NameCount>,
    /// Appointments per organisation.
    pub organisations: Vec<NameCount>,
    pub items: Vec<NetworkItem>,
}

/// The German label of a network kind (unknown values as stored); the labels are the domain's
/// (`NetworkKind::label`), the one list the CLI, the desk and the report share.
pub fn network_kind_label(kind: &str) -> String {
    NetworkKind::from_db(kind).map_or_else(|| kind.to_string(), |k| k.label().to_string())
}

/// Counts clarification work over the cases that count as reactions.
#[derive(Default)]
pub(super) struct ClarificationTally {
    c: Clarification,
    contacts: BTreeMap<String, u64>,
}

impl ClarificationTally {
    pub(super) fn add(&mut self, r: &ReportCaseRow) {
        let c = &mut self.c;
        if !r.contacts.is_empty() {
            c.cases_with_contact += 1;
        }
        for s in &r.contacts {
            *self.contacts.entry(s.clone()).or_default() += 1;
        }
        match r.contributed {
            Some(true) => c.contributed.yes += 1,
            Some(false) => c.contributed.no += 1,
            None => c.contributed.not_said += 1,
        }
        if r.contributed != Some(true) {
            return;
        }
        c.cases_with_contribution += 1;
        let by = &mut c.contribution_by_assessment;
        match (r.kind.as_deref(), r.justified) {
            (Some("beschwerde"), Some(true)) => by.justified += 1,
            (Some("beschwerde"), Some(false)) => by.not_justified += 1,
            (Some("beschwerde"), None) => by.not_assessed += 1,
            _ => by.no_complaint += 1,
        }
    }

    pub(super) fn finish(self, reactions: u64) -> Clarification {
        let mut c = self.c;
        c.contacts = sorted(self.contacts);
        c.share_of_reactions_percent = percent(c.cases_with_contribution, reactions);
        c
    }
}

/// Topics summed by their catalogue area (`topic → area`); topics without an area are left out.
pub(super) fn topic_areas(
    topics: &[NameCount],
    areas: &BTreeMap<String, String>,
) -> Vec<NameCount> {
    let mut sum: BTreeMap<String, u64> = BTreeMap::new();
    for t in topics {
        if let Some(a) = areas.get(&t.name) {
            *sum.entry(a.clone()).or_default() += t.count;
        }
    }
    sorted(sum)
}

/// The network work of the appointments held from `from` to `to` (both inclusive).
pub fn network(appointments: &[AppointmentRow], from: NaiveDate, to: NaiveDate) -> Network {
    let mut n = Network::default();
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    let mut orgs: BTreeMap<String, u64> = BTreeMap::new();
    for a in appointments
        .iter()
        .filter(|a| from <= a.on_date && a.on_date <= to)
    {
        n.appointments += 1;
        if a.invited {
            n.on_invitation += 1;
        }
        *kinds.entry(a.kind.as_str()).or_default() += 1;
        for o in &a.organisations {
            *orgs.entry(o.clone()).or_default() += 1;
        }
        n.items.push(NetworkItem {
            date: a.on_date,
            kind: a.kind.clone(),
            kind_label: network_kind_label(&a.kind),
            organisations: a.organisations.clone(),
            invited: a.invited,
        });
    }
    n.share_on_invitation_percent = percent(n.on_invitation, n.appointments);
    n.by_kind = NetworkKind::ALL
        .iter()
        .map(|k| NameCount {
            name: k.label().to_string(),
            count: kinds.get(k.as_db()).copied().unwrap_or(0),
        })
        .collect();
    // A kind the catalogue does not know (a newer database) still counts.
    for (k, count) in kinds {
        if NetworkKind::from_db(k).is_none() {
            n.by_kind.push(NameCount {
                name: k.to_string(),
                count,
            });
        }
    }
    n.organisations = sorted(orgs);
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::test_dates::d;

    fn appt(date: &str, kind: &str, orgs: &[&str], invited: bool) -> AppointmentRow {
        AppointmentRow {
            on_date: d(date),
            kind: kind.into(),
            organisations: orgs.iter().map(|s| s.to_string()).collect(),
            invited,
        }
    }

    #[test]
    fn network_counts_kinds_organisations_and_invitations_in_the_span() {
        let a = [
            appt("2017-02-01", "vorstellung", &["Caritas", "Diakonie"], true),
            appt("2017-03-01", "netzwerktreffen", &["Caritas"], true),
            appt("2017-07-01", "fachgruppe", &["Fach-AG Migration"], false),
        ];
        let n = network(&a, d("2017-01-01"), d("2017-06-30"));
        assert_eq!((n.appointments, n.on_invitation), (2, 2));
        assert_eq!(n.share_on_invitation_percent, Some(100.0));
        assert_eq!(n.by_kind.len(), 5);
        assert_eq!(n.by_kind[0].name, "Vorstellung der Ombudsstelle");
        assert_eq!((n.by_kind[0].count, n.by_kind[2].count), (1, 0));
        assert_eq!(
            n.organisations[0],
            NameCount {
                name: "Caritas".into(),
                count: 2
            }
        );
        assert_eq!(n.items[1].kind_label, "Netzwerktreffen");
        let none = network(&a, d("2018-01-01"), d("2018-12-31"));
        assert_eq!(none.share_on_invitation_percent, None);
        assert!(none.items.is_empty());
    }

    #[test]
    fn topic_areas_sum_their_topics() {
        let areas: BTreeMap<String, String> = [
            ("Umzug", "Kommunale Dienstleistungen"),
            ("Mietkaution", "Kommunale Dienstleistungen"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let topics = [
            NameCount {
                name: "Umzug".into(),
                count: 3,
            },
            NameCount {
                name: "Mietkaution".into(),
                count: 2,
            },
            NameCount {
                name: "Erreichbarkeit".into(),
                count: 9,
            },
        ];
        assert_eq!(
            topic_areas(&topics, &areas),
            vec![NameCount {
                name: "Kommunale Dienstleistungen".into(),
                count: 5
            }]
        );
    }
}
