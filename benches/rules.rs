//! Sender-rules benchmark (issue 4, item 7; issue 8, item 4): time per mail with 1,000 rules.
//! `cargo bench --bench rules`. Plain `std::time` (no criterion): the shipped example rules plus
//! generated rules up to 1,000, every condition kind and value form (exact, glob, regex), run
//! against the parsed rule fixtures (tests/fixtures/rules/*.eml: counsellors, citizens, forwards,
//! Cc, top-posted replies). Without `--bench` (e.g. `cargo test --all-targets`) it only runs a
//! quick smoke pass and prints no figures: benchmarks are not tests.

use krm_intake::message::{self, Limits, ParsedMail};
use krm_intake::rules::{RuleSet, SenderInput};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const TOTAL_RULES: usize = 1_000;

/// `count` generated rules, a realistic mix of condition kinds and value forms.
fn generated_rules(count: usize) -> String {
    let mut s = String::new();
    for k in 0..count {
        let head = format!(
            "[[rule]]\nid = \"gen-{k}\"\norganisation = \"Organisation {k} e.V.\"\ncategory = \"{}\"\nthird_party = true\n",
            ["Beratungsstelle", "Verein/Initiative", "Träger", "ehrenamtlich", "sonstige"][k % 5]
        );
        s.push_str(&head);
        let cond = match k % 100 {
            // 40 %: a centre's exact address
            0..=39 => format!("address = \"kontakt{k}@verein{k}.test\"\n"),
            // 25 %: a whole domain
            40..=64 => format!("domain = \"org{k}.test\"\n"),
            // 10 %: units of one domain told apart by the signature
            65..=74 => format!(
                "domain = \"traeger{}.test\"\nsignature = [\"Fachbereich {k}\", \"Abteilung {k} für Beratung\"]\n",
                k / 3
            ),
            // 8 %: signature text only
            75..=82 => format!("signature = \"Beratungsstelle Nummer {k}\"\n"),
            // 5 %: signature regex
            83..=87 => format!("signature = 're:Projekt\\s+{k}\\b|Stadtteilladen\\s+Nr\\.\\s*{k}\\b'\n"),
            // 4 %: display name
            88..=91 => format!("display_name = \"Initiative {k}\"\n"),
            // 3 %: glob over the address
            92..=94 => format!("address = \"glob:*@glob{k}-*.test\"\n"),
            // 3 %: Cc
            95..=97 => format!("cc = \"cc{k}.test\"\n"),
            // 2 %: Reply-To and forwarded-from
            _ => format!("reply_to = \"antwort{k}.test\"\nforwarded_from = \"weiter{k}.test\"\n"),
        };
        s.push_str(&cond);
        s.push('\n');
    }
    s
}

/// The shipped rules plus generated ones up to 1,000. With `strip_word_boundaries`, every `\b`
/// is dropped from the regexes: a diagnosis variant showing what Unicode word boundaries cost
/// (they make the lazy DFA of a `RegexSet` give up on non-ASCII text).
fn load_rules(root: &Path, strip_word_boundaries: bool) -> RuleSet {
    let read = |name: &str| {
        std::fs::read_to_string(root.join("rules").join(name))
            .unwrap_or_else(|e| panic!("rules/{name}: {e}"))
    };
    let strip = |s: String| {
        if strip_word_boundaries {
            s.replace("\\\\b", "").replace("\\b", "")
        } else {
            s
        }
    };
    let (senders, hints, topics) = (
        strip(read("senders.toml")),
        read("hints.toml"),
        read("topics.toml"),
    );
    let shipped = RuleSet::from_sources(&[
        ("senders.toml", &senders),
        ("hints.toml", &hints),
        ("topics.toml", &topics),
    ])
    .unwrap_or_else(|e| panic!("shipped rules: {e}"))
    .len();
    let generated = strip(generated_rules(TOTAL_RULES.saturating_sub(shipped)));
    RuleSet::from_sources(&[
        ("senders.toml", &senders),
        ("zz-generated.toml", &generated),
        ("hints.toml", &hints),
        ("topics.toml", &topics),
    ])
    .unwrap_or_else(|e| panic!("generated rules: {e}"))
}

fn load_shipped(root: &Path) -> RuleSet {
    RuleSet::load_dir(&root.join("rules")).unwrap_or_else(|e| panic!("shipped rules: {e}"))
}

fn load_mails(root: &Path) -> Vec<(String, ParsedMail)> {
    let dir = root.join("tests/fixtures/rules");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let raw = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let parsed = message::parse(&raw, &Limits::default())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, parsed)
        })
        .collect()
}

/// Exactly what intake hands to the rules (`intake::sender_input`).
fn input(m: &ParsedMail) -> SenderInput<'_> {
    SenderInput {
        from: m.from.as_ref(),
        reply_to: &m.reply_to,
        cc: &m.cc,
        text: &m.text,
        attached_forwarded_from: &m.forwarded_from,
    }
}

/// Mean time of `f` over at least `min` wall time, in nanoseconds per call.
fn time_per_call(min: Duration, mut f: impl FnMut()) -> f64 {
    let mut calls = 0u64;
    let started = Instant::now();
    while started.elapsed() < min {
        for _ in 0..100 {
            f();
        }
        calls += 100;
    }
    started.elapsed().as_nanos() as f64 / calls as f64
}

struct Figures {
    classify_ns: f64,
    with_hints_ns: f64,
    /// Per fixture, ascending.
    per_mail: Vec<(f64, String)>,
}

fn measure(rules: &RuleSet, mails: &[(String, ParsedMail)]) -> Figures {
    // Warm up caches and lazy DFA states.
    for _ in 0..200 {
        for (_, m) in mails {
            black_box(rules.classify(&input(m)));
            black_box(rules.hints(m.subject.as_deref().unwrap_or(""), &m.text));
        }
    }
    let n = mails.len() as f64;
    let min = Duration::from_secs(2);
    let classify_ns = time_per_call(min, || {
        for (_, m) in mails {
            black_box(rules.classify(black_box(&input(m))));
        }
    }) / n;
    let with_hints_ns = time_per_call(min, || {
        for (_, m) in mails {
            black_box(rules.classify(black_box(&input(m))));
            black_box(rules.hints(m.subject.as_deref().unwrap_or(""), &m.text));
        }
    }) / n;
    let mut per_mail: Vec<(f64, String)> = mails
        .iter()
        .map(|(name, m)| {
            let ns = time_per_call(Duration::from_millis(150), || {
                black_box(rules.classify(black_box(&input(m))));
            });
            (ns, name.clone())
        })
        .collect();
    per_mail.sort_by(|a, b| a.0.total_cmp(&b.0));
    Figures {
        classify_ns,
        with_hints_ns,
        per_mail,
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    let t = Instant::now();
    let rules = load_rules(root, false);
    let load = t.elapsed();
    let mails = load_mails(root);
    assert!(!mails.is_empty(), "no fixtures");

    if !bench {
        for (_, m) in &mails {
            black_box(rules.classify(&input(m)));
        }
        println!("rules bench: smoke run only (use `cargo bench --bench rules` for figures)");
        return;
    }

    let matched = mails
        .iter()
        .filter(|(_, m)| rules.classify(&input(m)).is_some())
        .count();
    println!(
        "rules: {} sender rules (shipped + generated), loaded and compiled in {:.1} ms",
        rules.len(),
        load.as_secs_f64() * 1e3
    );
    println!(
        "mails: {} fixtures from tests/fixtures/rules ({} matched an organisation)",
        mails.len(),
        matched
    );

    let f = measure(&rules, &mails);
    println!("per mail (classify):");
    for (ns, name) in &f.per_mail {
        println!("  {:>9.2} µs  {name}", ns / 1e3);
    }
    let median = f.per_mail[f.per_mail.len() / 2].0;
    let (slow_ns, slow_name) = f.per_mail[f.per_mail.len() - 1].clone();
    println!(
        "classify (sender rules):         mean {:>8.2} µs/mail, median {:>8.2} µs, slowest {:>8.2} µs ({slow_name})",
        f.classify_ns / 1e3,
        median / 1e3,
        slow_ns / 1e3
    );
    println!(
        "classify + hints (kind/topics):  mean {:>8.2} µs/mail",
        f.with_hints_ns / 1e3
    );
    println!(
        "target ≤ 50 µs/mail (mean classify): {}",
        if f.classify_ns <= 50_000.0 {
            "met"
        } else {
            "MISSED"
        }
    );

    // The shipped example rules alone, as a deployment starts.
    let shipped = load_shipped(root);
    let h = measure(&shipped, &mails);
    println!(
        "shipped rules only ({} rules): classify mean {:>8.2} µs/mail, slowest {:>8.2} µs ({})",
        shipped.len(),
        h.classify_ns / 1e3,
        h.per_mail[h.per_mail.len() - 1].0 / 1e3,
        h.per_mail[h.per_mail.len() - 1].1
    );

    // Diagnosis: the same rules without `\b`.
    let plain = load_rules(root, true);
    let g = measure(&plain, &mails);
    println!(
        "diagnosis, same rules with every \\b removed: classify mean {:>8.2} µs/mail, slowest {:>8.2} µs ({})",
        g.classify_ns / 1e3,
        g.per_mail[g.per_mail.len() - 1].0 / 1e3,
        g.per_mail[g.per_mail.len() - 1].1
    );
}
