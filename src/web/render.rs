//! The desk's templates (`src/web/templates/*.html`, compiled into the binary, so a deployment
//! cannot run with pages that do not match the code). minijinja escapes every value in
//! `.html` templates; nothing is marked safe except the report document on `/bericht`, which
//! the report template (itself escaping every value) has rendered.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::value::{Serde, Value};
use minijinja::Environment;
use serde::Serialize;

use crate::accounts::SessionAccount;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("bericht.html", include_str!("templates/bericht.html")),
    ("message.html", include_str!("templates/message.html")),
    ("neu.html", include_str!("templates/neu.html")),
    ("vorgang.html", include_str!("templates/vorgang.html")),
    ("vorgaenge.html", include_str!("templates/vorgaenge.html")),
    // Admin and data protection pages (web/admin).
    ("zugriffe.html", include_str!("templates/zugriffe.html")),
    ("benutzer.html", include_str!("templates/benutzer.html")),
    ("passwort.html", include_str!("templates/passwort.html")),
    (
        "quarantaene.html",
        include_str!("templates/quarantaene.html"),
    ),
    ("regeln.html", include_str!("templates/regeln.html")),
];

pub struct Templates {
    env: Environment<'static>,
}

/// The signed-in account as the layout shows it.
#[derive(Debug, Serialize)]
pub struct Who<'a> {
    pub name: &'a str,
    pub role: &'static str,
    /// The role's database spelling (which navigation entries to show).
    pub role_key: &'static str,
    pub csrf: &'a str,
    /// The role changes cases (the navigation offers "Neue Reaktion").
    pub works_cases: bool,
    /// The navigation offers the report.
    pub reads_report: bool,
}

impl<'a> Who<'a> {
    pub fn of(a: &'a SessionAccount) -> Who<'a> {
        Who {
            name: &a.name,
            role: a.role.label(),
            role_key: a.role.as_str(),
            csrf: &a.csrf,
            works_cases: a.role.works_cases(),
            reads_report: super::report::may_read(a.role),
        }
    }
}

impl Templates {
    pub fn new() -> anyhow::Result<Templates> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| anyhow::anyhow!("web template {name}: {e}"))?;
        }
        Ok(Templates { env })
    }

    /// Renders `name` with `ctx`; a template error is logged and answered with a plain 500.
    pub fn page<S: Serialize>(&self, status: StatusCode, name: &str, ctx: S) -> Response {
        match self
            .env
            .get_template(name)
            .and_then(|t| t.render(Value::from(Serde(&ctx))))
        {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!("web: template {name} failed: {e:#}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Interner Fehler beim Darstellen der Seite.",
                )
                    .into_response()
            }
        }
    }
}

/// A page with a heading and one message (errors, refusals).
pub fn message(
    t: &Templates,
    status: StatusCode,
    title: &str,
    text: &str,
    who: Option<&SessionAccount>,
) -> Response {
    t.page(
        status,
        "message.html",
        serde_json::json!({
            "title": title,
            "text": text,
            "who": who.map(Who::of),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compile_and_escape() {
        let t = Templates::new().unwrap();
        let r = t
            .env
            .get_template("message.html")
            .unwrap()
            .render(Value::from(Serde(
                serde_json::json!({ "title": "<script>x</script>", "text": "a & b" }),
            )))
            .unwrap();
        assert!(r.contains("&lt;script&gt;x"), "{r}");
        assert!(!r.contains("<script>x"), "{r}");
        assert!(r.contains("lang=\"de\""));
    }
}
