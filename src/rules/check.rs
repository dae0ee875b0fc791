//! Review checks that do not stop loading: rules that can never win because an earlier rule always
//! matches first (shadowed), and one organisation named with two categories. Warnings only;
//! errors are found while reading (`file`) and compiling (`matcher`, `hints`).

use super::defs::{Field, PatternDef, RuleDef, Syntax};
use super::file::Parsed;
use super::matcher::{domain_covers, order_key, rank, rank_name};
use super::Severity;
use std::collections::HashMap;

/// Whether pattern `a` matches every value that pattern `b` matches. Decided only where it is
/// certain: identical patterns, a domain and its subdomains or addresses, a text inside a longer
/// text. Regexes and globs count only when written identically.
fn covers(a: &PatternDef, b: &PatternDef) -> bool {
    match (&a.syntax, &b.syntax) {
        (x, y) if x == y => true,
        (Syntax::Domain(d), Syntax::Domain(e)) => domain_covers(d, e),
        (Syntax::Domain(d), Syntax::Address(addr)) => addr
            .rsplit_once('@')
            .is_some_and(|(_, e)| domain_covers(d, e)),
        (Syntax::Text(s), Syntax::Text(t)) => t.to_lowercase().contains(&s.to_lowercase()),
        _ => false,
    }
}

/// Whether rule `a` matches every mail that rule `b` matches: each field of `a` must be implied
/// by `b`'s conditions. `b`'s exact sender addresses also imply `a`'s sender domains.
pub(crate) fn implies(b: &RuleDef, a: &RuleDef) -> bool {
    a.conditions.iter().all(|ca| match b.condition(ca.field) {
        Some(cb) => cb
            .patterns
            .iter()
            .all(|pb| ca.patterns.iter().any(|pa| covers(pa, pb))),
        None if ca.field == Field::Domain => b.condition(Field::Address).is_some_and(|cb| {
            cb.patterns
                .iter()
                .all(|pb| ca.patterns.iter().any(|pa| covers(pa, pb)))
        }),
        None => false,
    })
}

/// Adds warnings for shadowed rules and inconsistent organisations to `parsed.problems`.
pub(crate) fn review(parsed: &mut Parsed) {
    let mut order: Vec<usize> = (0..parsed.rules.len()).collect();
    order.sort_by_key(|&i| order_key(&parsed.rules[i], i));
    let mut warnings = Vec::new();
    for (pos, &bi) in order.iter().enumerate() {
        let b = &parsed.rules[bi];
        let b_mask = b.mask();
        let b_mask_implied = if b_mask & Field::Address.bit() != 0 {
            b_mask | Field::Domain.bit()
        } else {
            b_mask
        };
        let shadow = order[..pos].iter().map(|&ai| &parsed.rules[ai]).find(|a| {
            // Cheap pre-check: every field of `a` must be constrained by `b`.
            a.mask() & !b_mask_implied == 0 && implies(b, a)
        });
        if let Some(a) = shadow {
            let file = parsed.files.get(a.file).map_or("?", |f| f.name.as_str());
            warnings.push((
                b.file,
                b.line,
                b.id.clone(),
                format!(
                    "Regel greift nie: „{}“ ({file}:{}, Priorität {}, Art „{}“) kommt vorher dran und trifft immer zu, wenn diese Regel zutrifft",
                    a.id,
                    a.line,
                    a.priority,
                    rank_name(rank(a.mask()))
                ),
            ));
        }
    }

    let mut orgs: HashMap<&str, &RuleDef> = HashMap::new();
    for r in &parsed.rules {
        match orgs.get(r.organisation.as_str()) {
            Some(first) if first.category != r.category || first.third_party != r.third_party => {
                warnings.push((
                    r.file,
                    r.line,
                    r.id.clone(),
                    format!(
                        "Organisation „{}“ hat hier Kategorie „{}“/third_party = {}, in Regel „{}“ aber „{}“/third_party = {}",
                        r.organisation, r.category, r.third_party, first.id, first.category, first.third_party
                    ),
                ));
            }
            Some(_) => {}
            None => {
                orgs.insert(&r.organisation, r);
            }
        }
    }

    for (file, line, id, message) in warnings {
        parsed.problem(
            file,
            Some(line),
            Some(&id),
            "Regel",
            Severity::Warning,
            message,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Category;
    use crate::rules::defs::{parse_condition, ConditionDef};

    fn rule(id: &str, priority: i64, conds: &[(Field, &[&str])]) -> RuleDef {
        RuleDef {
            id: id.into(),
            organisation: id.into(),
            category: Category::Beratungsstelle,
            third_party: true,
            priority,
            conditions: conds
                .iter()
                .map(|(f, ps)| ConditionDef {
                    field: *f,
                    patterns: ps
                        .iter()
                        .map(|p| PatternDef {
                            written: p.to_string(),
                            syntax: parse_condition(*f, p).unwrap(),
                            line: 1,
                        })
                        .collect(),
                })
                .collect(),
            file: 0,
            line: 1,
        }
    }

    use Field::*;

    #[test]
    fn same_domain_implies() {
        let a = rule("a", 0, &[(Domain, &["x.test"])]);
        let b = rule("b", 0, &[(Domain, &["x.test"])]);
        assert!(implies(&b, &a));
        let sub = rule("sub", 0, &[(Domain, &["beratung.x.test"])]);
        assert!(implies(&sub, &a));
        assert!(!implies(&a, &sub));
    }

    #[test]
    fn extra_condition_in_b_still_implies_a() {
        let a = rule("a", 0, &[(Domain, &["x.test"])]);
        let b = rule(
            "b",
            0,
            &[(Domain, &["x.test"]), (Signature, &["Schuldner"])],
        );
        assert!(implies(&b, &a));
        assert!(!implies(&a, &b));
    }

    #[test]
    fn address_implies_domain() {
        let a = rule("a", 5, &[(Domain, &["x.test"])]);
        let b = rule("b", 0, &[(Address, &["anna@x.test", "bob@sub.x.test"])]);
        assert!(implies(&b, &a));
        let c = rule("c", 0, &[(Address, &["anna@x.test", "bob@y.test"])]);
        assert!(!implies(&c, &a));
    }

    #[test]
    fn texts_and_regexes() {
        let a = rule("a", 0, &[(Signature, &["Schuldnerberatung"])]);
        let b = rule("b", 0, &[(Signature, &["Caritas Schuldnerberatung"])]);
        assert!(implies(&b, &a));
        let ra = rule("ra", 0, &[(Signature, &["re:Schuldner.*"])]);
        let rb = rule("rb", 0, &[(Signature, &["re:Schuldner.*"])]);
        let rc = rule("rc", 0, &[(Signature, &["re:Schuldnerb.*"])]);
        assert!(implies(&rb, &ra));
        assert!(!implies(&rc, &ra));
    }

    #[test]
    fn or_lists_must_all_be_covered() {
        let a = rule("a", 0, &[(Cc, &["x.test"])]);
        let b = rule("b", 0, &[(Cc, &["anna@x.test", "y.test"])]);
        assert!(!implies(&b, &a));
        let c = rule("c", 0, &[(Cc, &["anna@x.test", "sub.x.test"])]);
        assert!(implies(&c, &a));
    }
}
