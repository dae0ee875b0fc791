//! `GET /quarantaene` (admin): the mails in quarantine as `quarantine list` shows them, and the
//! retries queued here with their outcome. `POST /quarantaene/{id}/retry` only queues a retry:
//! the desk holds no IMAP secret; the daemon carries it out on its next pass
//! (`crate::quarantine::carry_out_queued`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::{require, unavailable};
use crate::accounts::Role;
use crate::store::quarantine::{self as q, QueueRefusal};
use crate::web::auth::{self, check_csrf, Signed};
use crate::web::WebState;

/// Retries shown on the page (newest first).
const RECENT_RETRIES: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct RetryForm {
    #[serde(default)]
    csrf: String,
}

fn berlin(t: chrono::DateTime<chrono::Utc>) -> String {
    crate::staff::berlin_minute(t)
}

async fn render(
    s: &WebState,
    who: &Signed,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let (rows, retries) = match (
        q::list(&s.pool, false).await,
        q::recent_retries(&s.pool, RECENT_RETRIES).await,
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("web: reading the quarantine failed: {e}");
            return unavailable(s, who, "Die Quarantäne lässt sich nicht lesen.");
        }
    };
    let queued: Vec<i64> = retries
        .iter()
        .filter(|r| r.state == "queued")
        .map(|r| r.quarantine_id)
        .collect();
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "at": berlin(r.created_at),
                "uid": r.uid.map(|u| u.to_string()).unwrap_or_default(),
                "size": r.size.map(crate::staff::views::size_text).unwrap_or_default(),
                "reason": r.reason,
                "queued": queued.contains(&r.id),
            })
        })
        .collect();
    let retries: Vec<serde_json::Value> = retries
        .iter()
        .map(|r| {
            serde_json::json!({
                "quarantine_id": r.quarantine_id,
                "requested_by": r.requested_by,
                "requested_at": berlin(r.requested_at),
                "state": r.state,
                "state_label": match r.state.as_str() {
                    "queued" => "vorgemerkt",
                    "done" => "erledigt",
                    _ => "fehlgeschlagen",
                },
                "done_at": r.done_at.map(berlin).unwrap_or_default(),
                "reason": r.reason.clone().unwrap_or_default(),
            })
        })
        .collect();
    s.templates.page(
        status,
        "quarantaene.html",
        serde_json::json!({
            "title": "Quarantäne",
            "who": auth::who(who),
            "nav": "quarantaene",
            "rows": rows,
            "retries": retries,
            "notice": notice,
            "error": error,
        }),
    )
}

/// `GET /quarantaene`
pub async fn page(who: Signed, State(s): State<WebState>) -> Response {
    if let Err(r) = require(&s, &who, &[Role::Admin]) {
        return r;
    }
    render(&s, &who, StatusCode::OK, None, None).await
}

/// `POST /quarantaene/{id}/retry`: field `csrf`. Queues the retry for the daemon.
pub async fn retry(
    who: Signed,
    State(s): State<WebState>,
    Path(id): Path<String>,
    Form(f): Form<RetryForm>,
) -> Response {
    if let Err(r) = require(&s, &who, &[Role::Admin]) {
        return r;
    }
    if let Err(r) = check_csrf(&s, &who.account, &f.csrf) {
        return r;
    }
    let Ok(id) = id.parse::<i64>() else {
        let m = format!("„{id}“ ist keine Nummer eines Quarantäne-Eintrags.");
        return render(&s, &who, StatusCode::NOT_FOUND, None, Some(m)).await;
    };
    let actor = format!("web:{}", who.account.name);
    match q::queue_retry(&s.pool, id, &actor).await {
        Ok(Ok(_)) => {
            let m = format!(
                "Eintrag {id}: erneuter Versuch vorgemerkt. Der Dienst führt ihn beim nächsten \
                 Durchgang aus."
            );
            render(&s, &who, StatusCode::OK, Some(m), None).await
        }
        Ok(Err(refusal)) => {
            let (status, m) = match refusal {
                QueueRefusal::Unknown => (
                    StatusCode::NOT_FOUND,
                    format!("Unbekannter Quarantäne-Eintrag {id}."),
                ),
                QueueRefusal::AlreadyRetried => (
                    StatusCode::CONFLICT,
                    format!("Quarantäne-Eintrag {id} wurde bereits erneut versucht."),
                ),
                QueueRefusal::AlreadyQueued => (
                    StatusCode::CONFLICT,
                    format!("Für Eintrag {id} ist bereits ein Versuch vorgemerkt."),
                ),
            };
            render(&s, &who, status, None, Some(m)).await
        }
        Err(e) => {
            tracing::error!("web: queueing a retry failed: {e}");
            unavailable(&s, &who, "Der Versuch lässt sich gerade nicht vormerken.")
        }
    }
}
