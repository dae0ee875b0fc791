//! The rule model behind the TOML: condition fields, value syntax (`re:`, `glob:`, plain) and the
//! definitions of rules, hints, topics and settings. Plain data and value validation; reading
//! files is `file`'s job, compiling patterns `matcher`'s.

use crate::domain::{Category, Kind};

/// Where a mail value is looked for; the key names are the TOML keys of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Field {
    Address,
    Domain,
    DisplayName,
    ReplyTo,
    Cc,
    Signature,
    ForwardedFrom,
    /// The writer's own text (quoted and forwarded parts excluded); only together with another
    /// condition.
    Text,
}

/// What a plain (unprefixed) value of a field means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    Address,
    Domain,
    AddressOrDomain,
    Text,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::Address,
        Field::Domain,
        Field::DisplayName,
        Field::ReplyTo,
        Field::Cc,
        Field::Signature,
        Field::ForwardedFrom,
        Field::Text,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Field::Address => "address",
            Field::Domain => "domain",
            Field::DisplayName => "display_name",
            Field::ReplyTo => "reply_to",
            Field::Cc => "cc",
            Field::Signature => "signature",
            Field::ForwardedFrom => "forwarded_from",
            Field::Text => "text",
        }
    }

    /// Name used in [`super::Evidence::field`].
    pub fn evidence_name(self) -> &'static str {
        match self {
            Field::Address => "from_address",
            Field::Domain => "from_domain",
            other => other.key(),
        }
    }

    pub fn from_key(key: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.key() == key)
    }

    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }

    pub fn value_kind(self) -> ValueKind {
        match self {
            Field::Address => ValueKind::Address,
            Field::Domain => ValueKind::Domain,
            Field::ReplyTo | Field::Cc | Field::ForwardedFrom => ValueKind::AddressOrDomain,
            Field::DisplayName | Field::Signature | Field::Text => ValueKind::Text,
        }
    }
}

/// A condition value after its prefix was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// Exact address, lower-cased.
    Address(String),
    /// Domain including its subdomains, lower-cased.
    Domain(String),
    /// Text found anywhere, ignoring case; whitespace runs collapsed to one space.
    Text(String),
    Glob(String),
    Regex(String),
}

#[derive(Debug, Clone)]
pub(crate) struct PatternDef {
    /// The value exactly as written in the file (for evidence and messages).
    pub written: String,
    pub syntax: Syntax,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct ConditionDef {
    pub field: Field,
    pub patterns: Vec<PatternDef>,
}

#[derive(Debug, Clone)]
pub(crate) struct RuleDef {
    pub id: String,
    pub organisation: String,
    pub category: Category,
    pub third_party: bool,
    pub priority: i64,
    pub conditions: Vec<ConditionDef>,
    pub file: usize,
    pub line: usize,
}

impl RuleDef {
    pub fn mask(&self) -> u8 {
        self.conditions.iter().fold(0, |m, c| m | c.field.bit())
    }

    pub fn condition(&self, field: Field) -> Option<&ConditionDef> {
        self.conditions.iter().find(|c| c.field == field)
    }
}

/// Which text a hint searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Subject,
    Text,
    Both,
}

#[derive(Debug, Clone)]
pub(crate) struct HintDef {
    pub id: String,
    pub kind: Option<Kind>,
    /// Topic names with the line they are written on.
    pub topics: Vec<(String, usize)>,
    pub scope: Scope,
    pub patterns: Vec<PatternDef>,
    pub file: usize,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct TopicDef {
    pub name: String,
    pub area: Option<String>,
    pub retired: bool,
    pub file: usize,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct SettingsDef {
    pub internal_domains: Vec<String>,
    pub file: usize,
    pub line: usize,
}

pub(crate) fn plain_domain(s: &str) -> Result<String, String> {
    let d = s.trim().trim_end_matches('.').to_lowercase();
    if d.is_empty() {
        return Err("leere Domain".into());
    }
    if d.contains('@') {
        return Err(format!("„{s}“ ist keine Domain (enthält @)"));
    }
    if d.contains('*') || d.contains('?') {
        return Err(format!(
            "„{s}“: Platzhalter nur mit glob: – eine Domain schließt ihre Subdomains ohnehin ein"
        ));
    }
    if d.starts_with('.')
        || d.contains("..")
        || d.chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '<' || c == '>')
    {
        return Err(format!("„{s}“ ist keine gültige Domain"));
    }
    Ok(d)
}

fn plain_address(s: &str) -> Result<String, String> {
    let a = s.trim().to_lowercase();
    let Some((local, domain)) = a.rsplit_once('@') else {
        return Err(format!(
            "„{s}“ ist keine Adresse (ohne @) – für Domains „domain“ verwenden"
        ));
    };
    if local.is_empty() || a.chars().any(|c| c.is_whitespace() || c == '<' || c == '>') {
        return Err(format!("„{s}“ ist keine gültige Adresse"));
    }
    plain_domain(domain).map_err(|_| format!("„{s}“ ist keine gültige Adresse"))?;
    Ok(a)
}

/// Collapses whitespace runs and trims: the form texts are compared in.
pub(crate) fn normalize_text(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads one condition value: `re:` regex, `glob:` glob, otherwise a plain value whose meaning
/// depends on the field.
pub(crate) fn parse_condition(field: Field, raw: &str) -> Result<Syntax, String> {
    if let Some(r) = raw.strip_prefix("re:") {
        if r.trim().is_empty() {
            return Err("leerer regulärer Ausdruck".into());
        }
        return Ok(Syntax::Regex(r.to_string()));
    }
    if let Some(g) = raw.strip_prefix("glob:") {
        if field == Field::Signature {
            return Err("glob: passt nicht zu einem mehrzeiligen Signaturblock – Klartext oder re: verwenden".into());
        }
        if field == Field::Text {
            return Err(
                "glob: passt nicht zu einem mehrzeiligen Text – Klartext oder re: verwenden".into(),
            );
        }
        if g.trim().is_empty() {
            return Err("leeres glob-Muster".into());
        }
        return Ok(Syntax::Glob(g.trim().to_string()));
    }
    match field.value_kind() {
        ValueKind::Address => plain_address(raw).map(Syntax::Address),
        ValueKind::Domain => {
            if raw.contains('@') {
                return Err(format!(
                    "„{raw}“ ist eine Adresse – für Adressen „address“ verwenden"
                ));
            }
            plain_domain(raw).map(Syntax::Domain)
        }
        ValueKind::AddressOrDomain => {
            if raw.trim().starts_with('@') {
                Err(format!("„{raw}“: eine Domain ohne @ schreiben"))
            } else if raw.contains('@') {
                plain_address(raw).map(Syntax::Address)
            } else {
                plain_domain(raw).map(Syntax::Domain)
            }
        }
        ValueKind::Text => {
            let t = normalize_text(raw);
            if t.is_empty() {
                Err("leerer Text".into())
            } else {
                Ok(Syntax::Text(t))
            }
        }
    }
}

/// A hint value: `re:` regex or words (see `hints`).
pub(crate) fn parse_hint_pattern(raw: &str) -> Result<Syntax, String> {
    if let Some(r) = raw.strip_prefix("re:") {
        if r.trim().is_empty() {
            return Err("leerer regulärer Ausdruck".into());
        }
        return Ok(Syntax::Regex(r.to_string()));
    }
    if raw.starts_with("glob:") {
        return Err("glob: gibt es in Hinweisen nicht – Wörter mit * oder re: verwenden".into());
    }
    let t = normalize_text(raw);
    if t.trim_matches('*').trim().is_empty() {
        return Err("leeres Suchwort".into());
    }
    Ok(Syntax::Text(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_syntax() {
        use Field::*;
        assert_eq!(
            parse_condition(Address, "Beratung@X.test"),
            Ok(Syntax::Address("beratung@x.test".into()))
        );
        assert!(parse_condition(Address, "x.test").is_err());
        assert!(parse_condition(Domain, "a@x.test").is_err());
        assert!(parse_condition(Domain, "*.x.test").is_err());
        assert_eq!(
            parse_condition(Cc, "x.test"),
            Ok(Syntax::Domain("x.test".into()))
        );
        assert_eq!(
            parse_condition(Cc, "a@x.test"),
            Ok(Syntax::Address("a@x.test".into()))
        );
        assert!(parse_condition(Cc, "@x.test").is_err());
        assert_eq!(
            parse_condition(Signature, " Caritas\n  Dresden "),
            Ok(Syntax::Text("Caritas Dresden".into()))
        );
        assert!(parse_condition(Signature, "glob:*x*").is_err());
        assert_eq!(
            parse_condition(DisplayName, "glob:*Caritas*"),
            Ok(Syntax::Glob("*Caritas*".into()))
        );
        assert!(parse_condition(Signature, "re:").is_err());
    }
}
