//! Scenario tests: the shipped example rules (`rules/*.toml`) against the fixture mails in
//! `tests/fixtures/rules/`, parsed with mail-parser the way the intake will; plus a check of the
//! compiled matcher against a rule-by-rule reference on 1,000 generated rules.

use super::*;
use mail_parser::MessageParser;
use std::sync::LazyLock;

const SHIPPED: [(&str, &str); 3] = [
    ("hints.toml", include_str!("../../rules/hints.toml")),
    ("senders.toml", include_str!("../../rules/senders.toml")),
    ("topics.toml", include_str!("../../rules/topics.toml")),
];

/// Loaded once: compiling the sets takes about a second in a debug build.
static SHIPPED_SET: LazyLock<RuleSet> = LazyLock::new(|| match RuleSet::from_sources(&SHIPPED) {
    Ok(s) => s,
    Err(e) => panic!("{e}"),
});

fn shipped() -> &'static RuleSet {
    &SHIPPED_SET
}

struct Mail {
    from: Option<Address>,
    reply_to: Vec<Address>,
    cc: Vec<Address>,
    subject: String,
    text: String,
    attached_from: Vec<Address>,
    attached_text: Vec<String>,
}

impl Mail {
    fn input(&self) -> SenderInput<'_> {
        SenderInput {
            from: self.from.as_ref(),
            reply_to: &self.reply_to,
            cc: &self.cc,
            text: &self.text,
            attached_forwarded_from: &self.attached_from,
        }
    }
}

fn addrs(a: Option<&mail_parser::Address<'_>>) -> Vec<Address> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| {
                x.address
                    .as_ref()
                    .map(|ad| Address::new(ad.to_string(), x.name.as_ref().map(|n| n.to_string())))
            })
            .collect()
    })
    .unwrap_or_default()
}

fn parse(raw: &[u8]) -> Mail {
    let m = MessageParser::default().parse(raw).unwrap();
    let mut attached_from = Vec::new();
    let mut attached_text = Vec::new();
    for part in m.attachments() {
        if let Some(inner) = part.message() {
            if let Some(a) = addrs(inner.from()).into_iter().next() {
                attached_from.push(a);
                attached_text.push(
                    inner
                        .body_text(0)
                        .map(|t| t.into_owned())
                        .unwrap_or_default(),
                );
            }
        }
    }
    Mail {
        from: addrs(m.from()).into_iter().next(),
        reply_to: addrs(m.reply_to()),
        cc: addrs(m.cc()),
        subject: m.subject().unwrap_or_default().to_string(),
        text: m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        attached_from,
        attached_text,
    }
}

macro_rules! fixture {
    ($name:literal) => {
        parse(include_bytes!(concat!(
            "../../tests/fixtures/rules/",
            $name
        )))
    };
}

fn classify(set: &RuleSet, m: &Mail) -> Option<SenderMatch> {
    set.classify_with_attached_texts(&m.input(), &m.attached_text)
}

fn rule_id(set: &RuleSet, m: &Mail) -> Option<String> {
    classify(set, m).map(|m| m.rule_id)
}

#[test]
fn shipped_rules_load_without_warnings() {
    let s = shipped();
    assert!(s.warnings().is_empty(), "{:#?}", s.warnings());
    assert!(s.len() >= 25);
    assert_eq!(s.internal_domains(), ["jobcenter.test"]);
    let names: Vec<_> = s
        .topics()
        .iter()
        .filter(|t| !t.retired)
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Bearbeitungsdauer",
            "Umzug",
            "Mietkaution",
            "Kosten der Unterkunft",
            "Bildung und Teilhabe",
            "Presse- und Öffentlichkeitsarbeit",
            "Erreichbarkeit",
            "Verhalten von Mitarbeitenden",
            "Leistungsberechnung",
            "Sanktionen/Leistungsminderung",
            "Eingliederung/Maßnahmen",
            "Datenschutz",
            "Sonstiges",
        ]
    );
    assert_eq!(
        s.check_topic("Kosten der Unterkunft")
            .unwrap()
            .area
            .as_deref(),
        Some("Kommunale Dienstleistungen")
    );
    assert!(s.check_topic("Eingliederungsvereinbarung").is_err());
}

#[test]
fn shipped_rules_cover_the_organisation_types_of_the_report() {
    let s = shipped();
    let orgs: Vec<&str> = s
        .matcher
        .rules
        .iter()
        .map(|r| r.organisation.as_str())
        .collect();
    for needle in [
        "Verein für soziale Rechtspflege",
        "Arbeitsloseninitiative",
        "Caritas Schuldnerberatung",
        "Caritas Schwangerschaftsberatung",
        "Diakonie Wohnungsnotfallhilfe",
        "Migrationsberatung",
        "Schuldner- und Insolvenzberatung",
        "Beratungsstelle Mittelpunkt",
        "Gemeinnützige Gesellschaft Striesen Pentacon",
        "Pflege- und Betreuungsverein",
        "Radebeuler Sozialprojekte",
        "Sozialdienst",
        "Sozialpsychiatrischer Dienst",
        "Ehrenamtliche",
        "Jobcenter",
    ] {
        assert!(orgs.iter().any(|o| o.contains(needle)), "{needle}");
    }
    let internal = s
        .matcher
        .rules
        .iter()
        .find(|r| r.id == "jobcenter-intern")
        .unwrap();
    assert!(!internal.third_party);
    assert_eq!(internal.category, Category::Jobcenter);
}

#[test]
fn counsellor_on_freemail_signing_with_centre() {
    let m = s_classify(&fixture!("counsellor-freemail.eml"));
    assert_eq!(m.rule_id, "caritas-schuldnerberatung-signatur");
    assert_eq!(m.organisation, "Caritas Schuldnerberatung");
    assert_eq!(m.category, Category::Beratungsstelle);
    assert!(m.third_party);
    assert_eq!(m.evidence.len(), 1);
    assert_eq!(m.evidence[0].field, "signature");
    assert!(m.evidence[0]
        .condition
        .starts_with("signature = re:Caritas"));
}

fn s_classify(m: &Mail) -> SenderMatch {
    classify(shipped(), m).expect("a match")
}

#[test]
fn two_units_on_one_domain_told_apart_by_signature() {
    let sb = s_classify(&fixture!("caritas-schuldnerberatung.eml"));
    assert_eq!(sb.rule_id, "caritas-schuldnerberatung");
    assert_eq!(
        sb.evidence,
        vec![
            Evidence {
                field: "from_domain".into(),
                text: "caritas-dresden.test".into(),
                condition: "domain = caritas-dresden.test".into(),
            },
            Evidence {
                field: "signature".into(),
                text: "Insolvenzberatung".into(),
                condition: "signature = Insolvenzberatung".into(),
            },
        ]
    );
    let swb = s_classify(&fixture!("caritas-schwangerschaftsberatung.eml"));
    assert_eq!(swb.rule_id, "caritas-schwangerschaftsberatung");
    assert_eq!(swb.organisation, "Caritas Schwangerschaftsberatung");
    // Without a unit in the signature the plain domain rule applies.
    let plain = s_classify(&fixture!("caritas-ohne-einheit.eml"));
    assert_eq!(plain.rule_id, "caritas-dresden");
    assert_eq!(plain.category, Category::Traeger);
}

#[test]
fn city_domain_with_many_services() {
    let amt = s_classify(&fixture!("stadt-sozialamt.eml"));
    assert_eq!(amt.rule_id, "stadt-sozialamt");
    assert_eq!(amt.category, Category::StaedtischeStelle);
    let spdi = s_classify(&fixture!("stadt-spdi.eml"));
    assert_eq!(spdi.rule_id, "stadt-sozialpsychiatrischer-dienst");
    assert_eq!(spdi.category, Category::SozialpsychiatrischerDienst);
    assert_eq!(spdi.evidence[0].text, "gesundheitsamt.dresden-stadt.test");
    let other = s_classify(&fixture!("stadt-ohne-einheit.eml"));
    assert_eq!(other.rule_id, "stadt-dresden");
    assert_eq!(other.organisation, "Landeshauptstadt Dresden");
    assert_eq!(other.category, Category::StaedtischeStelle);
}

#[test]
fn citizen_mentioning_a_centre_is_a_citizen() {
    let m = fixture!("citizen-mentions-centre.eml");
    assert!(m.text.contains("Schuldnerberatung der Caritas"));
    assert_eq!(rule_id(shipped(), &m), None);
}

#[test]
fn citizen_with_counsellor_in_cc() {
    let m = s_classify(&fixture!("citizen-cc-counsellor.eml"));
    assert_eq!(m.rule_id, "cc-caritas-schuldnerberatung");
    assert_eq!(m.organisation, "Caritas Schuldnerberatung");
    assert!(m.third_party);
    assert_eq!(m.evidence[0].field, "cc");
    assert_eq!(m.evidence[0].text, "beratung@caritas-dresden.test");
}

#[test]
fn city_counsellor_in_cc_named_in_the_writers_own_text() {
    let m = s_classify(&fixture!("citizen-cc-stadt-spdi.eml"));
    assert_eq!(m.rule_id, "cc-stadt-sozialpsychiatrischer-dienst");
    assert_eq!(m.category, Category::SozialpsychiatrischerDienst);
    let fields: Vec<_> = m.evidence.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["cc", "text"]);
    assert_eq!(m.evidence[1].text, "Sozialpsychiatrischen Dienst");
    assert!(m.evidence[1]
        .condition
        .starts_with("text = re:Sozialpsychiatrische"));
    // Named only in the quoted part: the Cc alone decides nothing, a citizen.
    let m = fixture!("citizen-cc-stadt-quoted.eml");
    assert!(m.text.contains("Sozialpsychiatrischen Dienst"));
    assert_eq!(rule_id(shipped(), &m), None);
}

#[test]
fn text_alone_is_refused_and_text_ranks_just_above_its_other_conditions() {
    let errs = RuleSet::from_sources(&[(
        "senders.toml",
        "[[rule]]\nid = \"nur-text\"\norganisation = \"X\"\ncategory = \"Beratungsstelle\"\nthird_party = true\ntext = \"Sozialpsychiatrischer Dienst\"\n",
    )])
    .unwrap_err()
    .to_string();
    assert!(
        errs.contains("senders.toml:1")
            && errs.contains("nur-text")
            && errs.contains("„text“ allein"),
        "{errs}"
    );
    let rules = "[[rule]]\nid = \"cc\"\norganisation = \"Stadt\"\ncategory = \"städtische Stelle\"\nthird_party = true\ncc = \"stadt.test\"\n\n\
[[rule]]\nid = \"cc-text\"\norganisation = \"SpDi\"\ncategory = \"Sozialpsychiatrischer Dienst\"\nthird_party = true\ncc = \"stadt.test\"\ntext = \"Sozialpsychiatrischer Dienst\"\n\n\
[[rule]]\nid = \"fwd\"\norganisation = \"F\"\ncategory = \"Beratungsstelle\"\nthird_party = true\nforwarded_from = \"stadt.test\"\n";
    let set = RuleSet::from_sources(&[("senders.toml", rules)]).unwrap();
    // No rule shadows another (only general warnings about the missing catalogue).
    assert!(
        set.warnings().iter().all(|w| w.rule_id.is_none()),
        "{:?}",
        set.warnings()
    );
    let from = Address::new("buerger@mail.test", None);
    let cc = [Address::new("x@stadt.test", None)];
    let input = |text: &'static str| SenderInput {
        from: Some(&from),
        cc: &cc,
        text,
        ..Default::default()
    };
    let id = |t| set.classify(&input(t)).map(|m| m.rule_id);
    assert_eq!(
        id("Der Sozialpsychiatrische  Dienst\nist informiert.").as_deref(),
        Some("cc")
    );
    assert_eq!(
        id("Der Sozialpsychiatrischer\nDienst ist informiert.").as_deref(),
        Some("cc-text")
    );
    assert_eq!(
        id("Danke.\n\n-------- Weitergeleitete Nachricht --------\nVon: P <p@stadt.test>\n\nSozialpsychiatrischer Dienst\n").as_deref(),
        Some("fwd")
    );
}

#[test]
fn centre_forwarding_a_clients_mail_is_the_centre() {
    let mail = fixture!("centre-forwards-client.eml");
    assert_eq!(
        inline_forwarded_from(&mail.text).unwrap().addr,
        "buerger@mail.test"
    );
    let m = s_classify(&mail);
    assert_eq!(m.rule_id, "beratung-mittelpunkt");
    assert!(m.evidence.iter().all(|e| e.field != "forwarded_by"));
    assert_eq!(shipped().original_sender(&mail.input()), None);
}

#[test]
fn jobcenter_colleague_forwarding_inline_outlook() {
    let mail = fixture!("jobcenter-forward-outlook.eml");
    let s = shipped();
    let m = s.classify(&mail.input()).unwrap();
    // The original sender and the signature inside the forwarded part decide.
    assert_eq!(m.rule_id, "caritas-schwangerschaftsberatung");
    let by = m.evidence.last().unwrap();
    assert_eq!(by.field, "forwarded_by");
    assert_eq!(by.text, "k.leistung@jobcenter.test");
    assert_eq!(by.condition, "internal_domains = jobcenter.test");
    assert_eq!(
        s.original_sender(&mail.input()).unwrap().addr,
        "b.muster@caritas-dresden.test"
    );
}

#[test]
fn jobcenter_colleague_forwarding_as_attachment() {
    let mail = fixture!("jobcenter-forward-attached.eml");
    assert_eq!(mail.attached_from.len(), 1);
    let m = s_classify(&mail);
    assert_eq!(m.rule_id, "diakonie-wohnungsnotfallhilfe");
    assert_eq!(m.organisation, "Diakonie Wohnungsnotfallhilfe");
    // Without the attached text only the domain is known.
    assert_eq!(
        shipped().classify(&mail.input()).unwrap().rule_id,
        "diakonie-dresden"
    );
}

#[test]
fn jobcenter_colleague_forwarding_a_citizen_is_a_citizen() {
    let mail = fixture!("jobcenter-forward-citizen.eml");
    assert_eq!(rule_id(shipped(), &mail), None);
    assert_eq!(
        shipped().original_sender(&mail.input()).unwrap().addr,
        "buerger@mail.test"
    );
}

#[test]
fn quoted_signature_in_top_posted_reply_does_not_count() {
    let mail = fixture!("top-posted-reply.eml");
    assert!(mail.text.contains("> Caritasverband für Dresden e.V."));
    assert_eq!(rule_id(shipped(), &mail), None);
}

#[test]
fn test_environment_mailboxes() {
    let s = shipped();
    assert_eq!(rule_id(s, &fixture!("env-citizen.eml")), None);
    let mp = s
        .classify(&fixture!("env-mittelpunkt.eml").input())
        .unwrap();
    assert_eq!(mp.organisation, "Beratungsstelle Mittelpunkt");
    let ca = s.classify(&fixture!("env-caritas.eml").input()).unwrap();
    assert_eq!(ca.organisation, "Caritas Schuldnerberatung");
    let internal = fixture!("env-internal.eml");
    assert!(s.is_internal(internal.from.as_ref().unwrap()));
    let m = s.classify(&internal.input()).unwrap();
    assert_eq!(m.rule_id, "jobcenter-intern");
    assert!(!m.third_party);
}

#[test]
fn shipped_hints() {
    let s = shipped();
    let m = fixture!("env-citizen.eml");
    let h = s.hints(&m.subject, &m.text);
    assert_eq!(h.kind, Some(crate::domain::Kind::Beschwerde));
    assert_eq!(h.topics, ["Bearbeitungsdauer", "Umzug"]);
    let h = s.hints(
        "Danke",
        "Ich möchte mich herzlich bedanken, Frau X hat hervorragend beraten.",
    );
    assert_eq!(h.kind, Some(crate::domain::Kind::Lob));
    let h = s.hints(
        "",
        "Mietkaution und Miete, Heizkosten, Klassenfahrt but BuT, Sanktion",
    );
    assert_eq!(h.topics.len(), MAX_TOPICS);
    assert_eq!(h.topics[0], "Kosten der Unterkunft");
    assert_eq!(s.hints("", "but nothing"), Hints::default());
    for t in s.topics() {
        assert!(s.find_topic(&t.name).is_some());
    }
}

/// A tiny deterministic generator, so the test needs no seed handling.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn generated_rules(n: usize) -> String {
    let mut s = String::from("[settings]\ninternal_domains = [\"jobcenter.test\"]\n");
    for i in 0..n {
        let org = i % 300;
        let cond = match i % 7 {
            0 => format!("address = \"a{i}@org{org}.test\""),
            1 => format!("domain = \"org{org}.test\""),
            2 => format!(
                "domain = \"org{org}.test\"\nsignature = \"Einheit {}\"",
                i % 11
            ),
            3 => format!("signature = 're:Verein\\s+Nr\\.\\s*{i}\\b'"),
            4 if i % 3 == 0 => format!(
                "cc = [\"glob:*@cc{}.test\", \"c{i}@x.test\"]\ntext = \"Anliegen {}\"",
                i % 50,
                i % 4
            ),
            4 => format!("cc = [\"glob:*@cc{}.test\", \"c{i}@x.test\"]", i % 50),
            5 => format!(
                "display_name = \"Team {}\"\nreply_to = \"org{org}.test\"",
                i % 13
            ),
            _ => format!(
                "forwarded_from = \"org{org}.test\"\ndomain = \"fw{}.test\"",
                i % 5
            ),
        };
        let priority = if i % 17 == 0 { "priority = 1\n" } else { "" };
        s.push_str(&format!(
            "\n[[rule]]\nid = \"r{i}\"\norganisation = \"O{i}\"\ncategory = \"Beratungsstelle\"\nthird_party = true\n{priority}{cond}\n"
        ));
    }
    s
}

/// Rule by rule in evaluation order: what the compiled sets must agree with.
fn reference(set: &RuleSet, input: &SenderInput) -> Option<String> {
    let values = set.view(input, &[]).values;
    let mut rules: Vec<_> = set.matcher.rules.iter().collect();
    rules.sort_by_key(|r| r.order);
    rules
        .into_iter()
        .find(|r| {
            Field::ALL
                .iter()
                .filter(|f| r.required & f.bit() != 0)
                .all(|&f| {
                    r.patterns
                        .iter()
                        .map(|&p| &set.matcher.patterns[p])
                        .filter(|p| p.field == f)
                        .any(|p| {
                            values
                                .get(f)
                                .iter()
                                .any(|(v, d)| p.single.find(v, d.as_deref()).is_some())
                        })
                })
        })
        .map(|r| r.id.clone())
}

#[test]
fn thousand_generated_rules_agree_with_reference() {
    let text = generated_rules(1000);
    let set = RuleSet::from_sources(&[("gen.toml", &text)]).unwrap();
    assert_eq!(set.len(), 1000);
    let mut rng = Lcg(7);
    let mut matched = 0;
    for _ in 0..3000 {
        let org = rng.next(320);
        let from = match rng.next(4) {
            0 => Address::new(format!("a{}@org{org}.test", rng.next(1000)), None),
            1 => Address::new(
                format!("x@sub.org{org}.test"),
                Some(format!("Team {}", rng.next(15))),
            ),
            2 => Address::new(format!("x@fw{}.test", rng.next(6)), None),
            _ => Address::new("buerger@mail.test", None),
        };
        let cc = [Address::new(
            if rng.next(2) == 0 {
                format!("y@cc{}.test", rng.next(60))
            } else {
                format!("c{}@x.test", rng.next(1000))
            },
            None,
        )];
        let reply_to = [Address::new(format!("r@org{}.test", rng.next(400)), None)];
        let body = format!(
            "Text Anliegen {}\n\nViele Grüße\nEinheit {}\nVerein Nr. {}\n{}",
            rng.next(5),
            rng.next(12),
            rng.next(1100),
            if rng.next(3) == 0 {
                format!("\n-------- Weitergeleitete Nachricht --------\nVon: P <p@org{}.test>\n\nHallo Anliegen 1\n", rng.next(350))
            } else {
                String::new()
            }
        );
        let use_cc = rng.next(2) == 0;
        let use_reply = rng.next(3) == 0;
        let input = SenderInput {
            from: Some(&from),
            cc: if use_cc { &cc } else { &[] },
            reply_to: if use_reply { &reply_to } else { &[] },
            text: &body,
            ..Default::default()
        };
        let fast = set.classify(&input).map(|m| m.rule_id);
        assert_eq!(fast, reference(&set, &input), "{input:?}");
        matched += usize::from(fast.is_some());
    }
    assert!(
        matched > 1000,
        "generator should hit rules often: {matched}"
    );
}

#[test]
fn classify_survives_odd_input() {
    let s = shipped();
    let odd = [
        Address::new("", None),
        Address::new("@", Some("\"\"".into())),
        Address::new("no-at-sign", None),
        Address::new("ä@ö.ü", Some("\u{0}".into())),
    ];
    for a in &odd {
        for text in [
            "",
            "\n",
            "-- ",
            "> x",
            "Von: a@b.test\nGesendet: x",
            "Viele Grüße\n\u{feff}",
        ] {
            let input = SenderInput {
                from: Some(a),
                reply_to: &odd,
                cc: &odd,
                text,
                attached_forwarded_from: &odd,
            };
            let _ = s.classify(&input);
            let _ = s.classify_with_attached_texts(&input, &[text.to_string()]);
            let _ = s.hints(text, text);
        }
    }
}
