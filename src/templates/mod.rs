//! Operator-editable mail templates (minijinja), loaded from the templates directory at start
//! and checked by `check`. A rendered template's first line is `Betreff: …`, then a blank line,
//! then the body; nothing from an incoming mail's content is ever passed in.

pub mod digest_context;

use minijinja::value::{Serde, Value};
use serde::Serialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const ACK: &str = "ack.txt.j2";
pub const DIGEST: &str = "digest.txt.j2";
const ALL: [&str; 2] = [ACK, DIGEST];

#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Render { path: PathBuf, message: String },
}

impl TemplateError {
    /// In German, naming the file and line (what `check` and the desk show).
    pub fn german(&self) -> String {
        match self {
            TemplateError::Read { path, source } => {
                format!("Vorlage {}: nicht lesbar ({source})", path.display())
            }
            TemplateError::Syntax {
                path,
                line,
                message,
            } => format!("Vorlage {}, Zeile {line}: {message}", path.display()),
            TemplateError::Render { path, message } => format!(
                "Vorlage {}: lässt sich nicht darstellen: {message}",
                path.display()
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

pub struct Templates {
    env: minijinja::Environment<'static>,
    dir: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct AckContext {
    pub case_number: String,
    pub received_date: String,
    pub received_date_de: String,
    pub due_date: String,
    pub due_date_de: String,
    pub processing_days: u32,
    pub office_name: String,
}

impl Templates {
    pub fn load(dir: &Path) -> Result<Templates, TemplateError> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for name in ALL {
            let path = dir.join(name);
            let source = std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                path: path.clone(),
                source,
            })?;
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| TemplateError::Syntax {
                    path: path.clone(),
                    line: e.line().unwrap_or(0),
                    message: e.detail().unwrap_or("syntax error").to_string(),
                })?;
        }
        let t = Templates {
            env,
            dir: dir.to_path_buf(),
        };
        // Render once with sample values so a typo in a variable name fails at `check`.
        t.render_ack(&AckContext::sample())?;
        t.render(DIGEST, digest_context::sample_context())?;
        Ok(t)
    }

    pub fn render_ack(&self, ctx: &AckContext) -> Result<Rendered, TemplateError> {
        self.render(ACK, ctx)
    }

    pub fn render<T: Serialize>(&self, name: &str, ctx: T) -> Result<Rendered, TemplateError> {
        let path = self.dir.join(name);
        let err = |message: String| TemplateError::Render {
            path: path.clone(),
            message,
        };
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| err(e.to_string()))?;
        let text = tmpl
            .render(Value::from(Serde(&ctx)))
            .map_err(|e| err(format!("Zeile {}: {}", e.line().unwrap_or(0), e)))?;
        split_subject(&text).ok_or_else(|| {
            err("die erste Zeile muss „Betreff: …“ sein, danach eine Leerzeile".to_string())
        })
    }
}

fn split_subject(text: &str) -> Option<Rendered> {
    let text = text.trim_start_matches(['\n', '\r']);
    let (first, rest) = text.split_once('\n')?;
    let subject = first
        .trim_end_matches('\r')
        .strip_prefix("Betreff:")?
        .trim();
    if subject.is_empty() {
        return None;
    }
    let body = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'))?;
    Some(Rendered {
        subject: crate::message::sanitize_header_value(subject),
        body: body.to_string(),
    })
}

impl AckContext {
    pub fn sample() -> AckContext {
        AckContext {
            case_number: "KRM-2026-00042".into(),
            received_date: "2026-11-25".into(),
            received_date_de: "25.11.2026".into(),
            due_date: "2026-12-09".into(),
            due_date_de: "09.12.2026".into(),
            processing_days: 14,
            office_name: "Ombudsstelle des Jobcenters".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Templates {
        Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")).unwrap()
    }

    #[test]
    fn ack_has_case_number_dates_and_privacy_notice() {
        let r = shipped().render_ack(&AckContext::sample()).unwrap();
        assert_eq!(
            r.subject,
            "[KRM-2026-00042] Eingangsbestätigung Ihrer Nachricht an die Ombudsstelle"
        );
        assert!(r.body.contains("2026-12-09"));
        assert!(r.body.contains("25.11.2026"));
        assert!(r.body.contains("Art. 13 DSGVO"));
        assert!(r.body.contains("Aufsichtsbehörde"));
    }

    #[test]
    fn broken_template_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for n in ALL {
            std::fs::copy(src.join(n), dir.path().join(n)).unwrap();
        }
        std::fs::write(dir.path().join(ACK), "Betreff: x\n\n{{ case_number\n").unwrap();
        let e = Templates::load(dir.path()).err().unwrap().to_string();
        assert!(e.contains("ack.txt.j2") && e.contains("line"), "{e}");
        std::fs::write(dir.path().join(ACK), "Betreff: x\n\n{{ no_such_value }}\n").unwrap();
        let e = Templates::load(dir.path()).err().unwrap().to_string();
        assert!(e.contains("ack.txt.j2"), "{e}");
    }

    #[test]
    fn subject_line_is_required() {
        assert!(split_subject("Hallo\n\nText").is_none());
        let r = split_subject("Betreff: A\n\nText\n").unwrap();
        assert_eq!(r.subject, "A");
        assert_eq!(r.body, "Text\n");
    }
}
