//! krm-intake: the mail intake of a Jobcenter Ombudsstelle's complaints management (KRM).
//! IMAP inbox → parse → sender rules → case in PostgreSQL → acknowledgement; deadlines and
//! reminder digests for staff; a staff CLI and the yearly report.

pub mod accounts;
pub mod answers;
pub mod app;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod daemon;
pub(crate) mod decide;
pub mod digest;
pub mod domain;
pub(crate) mod explain;
pub mod failpoint;
pub mod health;
pub mod http;
pub(crate) mod intake;
pub mod logs;
pub mod mailbox;
pub mod message;
pub mod metrics;
pub mod outbox;
pub mod purge;
pub mod quarantine;
pub mod report;
pub mod rules;
pub mod scan;
pub(crate) mod smtp;
pub mod staff;
pub mod stop;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod tls;
pub mod web;

/// The top-level modules form a graph without cycles (layers point one way: `domain` at the
/// bottom, `store` below the stages, `app` below the tasks, `daemon` and `cli` on top). Edges
/// are read from the source text (`crate::X` outside test code).
#[cfg(test)]
mod module_graph {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read src").flatten() {
            let p = e.path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    fn edges() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let path = regex::Regex::new(r"crate::(\w+)").unwrap();
        let group = regex::Regex::new(r"use crate::\{([^}]*)\}").unwrap();
        let first = regex::Regex::new(r"(?:^|,)\s*(\w+)").unwrap();
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in files {
            let rel = f.strip_prefix(&src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if top == "lib" || top == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            // Code only: test modules and comment lines (docs name other modules freely).
            let code: String = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or("")
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let code = code.as_str();
            let mut to: Vec<String> = path.captures_iter(code).map(|c| c[1].to_string()).collect();
            for c in group.captures_iter(code) {
                to.extend(first.captures_iter(&c[1]).map(|x| x[1].to_string()));
            }
            let set = g.entry(top.clone()).or_default();
            set.extend(to.into_iter().filter(|t| *t != top));
        }
        g
    }

    /// A cycle as a path `a -> b -> … -> a`, if there is one.
    fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
        fn visit(
            v: &str,
            g: &BTreeMap<String, BTreeSet<String>>,
            done: &mut BTreeSet<String>,
            stack: &mut Vec<String>,
        ) -> Option<Vec<String>> {
            if let Some(i) = stack.iter().position(|s| s == v) {
                let mut c = stack[i..].to_vec();
                c.push(v.to_string());
                return Some(c);
            }
            if done.contains(v) {
                return None;
            }
            stack.push(v.to_string());
            for w in g.get(v).into_iter().flatten() {
                if let Some(c) = visit(w, g, done, stack) {
                    return Some(c);
                }
            }
            stack.pop();
            done.insert(v.to_string());
            None
        }
        let mut done = BTreeSet::new();
        g.keys()
            .find_map(|v| visit(v, g, &mut done, &mut Vec::new()))
    }

    #[test]
    fn top_level_modules_have_no_cycles() {
        let g = edges();
        assert!(
            g["daemon"].contains("app"),
            "the edge reader finds edges: {g:?}"
        );
        if let Some(c) = cycle(&g) {
            panic!("module cycle: {}", c.join(" -> "));
        }
    }

    #[test]
    fn the_cycle_finder_finds_one() {
        let mut g = BTreeMap::new();
        g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
        g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
        assert_eq!(
            cycle(&g),
            Some(vec!["a".to_string(), "b".to_string(), "a".to_string()])
        );
    }
}
