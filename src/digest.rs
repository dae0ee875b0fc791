//! Reminder digests (placeholder until the deadlines issue): the template context.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct DigestContext {
    pub date: String,
    pub recipient_label: String,
}

pub fn sample_context() -> DigestContext {
    DigestContext {
        date: "2026-11-25".into(),
        recipient_label: "Team".into(),
    }
}

/// Digest scheduler task (filled in by the deadlines issue).
pub async fn scheduler(
    _app: std::sync::Arc<crate::daemon::App>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let _ = stop.changed().await;
}
