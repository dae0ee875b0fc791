//! Metric names and small helpers; the Prometheus recorder is installed by `http` when the
//! listener is enabled (without it, the `metrics` macros are no-ops).

use std::time::Duration;

pub const INGESTED: &str = "krm_mails_ingested_total";
pub const CASES_CREATED: &str = "krm_cases_created_total";
pub const FOLLOWUPS: &str = "krm_followups_total";
pub const SEEN_AGAIN: &str = "krm_mails_seen_again_total";
pub const BOUNCES: &str = "krm_ack_bounces_total";
pub const QUARANTINED: &str = "krm_mails_quarantined_total";
pub const ACKS_SENT: &str = "krm_acks_sent_total";
pub const ACKS_FAILED: &str = "krm_acks_failed_total";
pub const DIGESTS_SENT: &str = "krm_digests_sent_total";
pub const OUTBOX_PENDING: &str = "krm_outbox_pending";
pub const IMAP_RECONNECTS: &str = "krm_imap_reconnects_total";
pub const RULESET_VERSION: &str = "krm_ruleset_info";
pub const INGEST_SECONDS: &str = "krm_ingest_batch_seconds_per_mail";

pub fn counter(name: &'static str, n: u64) {
    metrics::counter!(name).increment(n);
}

pub fn ingested(ok: usize, quarantined: usize, took: Duration) {
    metrics::counter!(INGESTED).increment(ok as u64);
    metrics::counter!(QUARANTINED).increment(quarantined as u64);
    if ok > 0 {
        metrics::histogram!(INGEST_SECONDS).record(took.as_secs_f64() / ok as f64);
    }
}

pub fn outbox_pending(n: i64) {
    metrics::gauge!(OUTBOX_PENDING).set(n as f64);
}

pub fn ruleset(version: &str) {
    metrics::gauge!(RULESET_VERSION, "version" => version.to_string()).set(1.0);
}
