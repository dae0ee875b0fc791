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

/// Registers every metric with its help text and a zero value, so a scrape shows the full set
/// from the start (the exporter only lists what has been touched). Called once the Prometheus
/// recorder is installed.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    let counters: [(&'static str, &'static str); 10] = [
        (
            INGESTED,
            "Mails recorded (new cases, follow-ups, seen again, bounces)",
        ),
        (CASES_CREATED, "New cases created from mail"),
        (FOLLOWUPS, "Follow-up mails joined to their case"),
        (SEEN_AGAIN, "Mails found again that were already recorded"),
        (
            BOUNCES,
            "Bounces of our acknowledgements recorded on their case",
        ),
        (QUARANTINED, "Mails moved to quarantine"),
        (ACKS_SENT, "Acknowledgements accepted by the SMTP server"),
        (ACKS_FAILED, "Acknowledgements that failed for good"),
        (DIGESTS_SENT, "Reminder digests and escalations sent"),
        (
            IMAP_RECONNECTS,
            "IMAP sessions lost or refused, followed by a reconnect",
        ),
    ];
    for (name, help) in counters {
        describe_counter!(name, help);
        metrics::counter!(name).increment(0);
    }
    describe_gauge!(OUTBOX_PENDING, "Outbox rows waiting to be sent");
    metrics::gauge!(OUTBOX_PENDING).increment(0.0);
    describe_gauge!(
        RULESET_VERSION,
        "Version of the sender rules in force (label version)"
    );
    describe_histogram!(
        INGEST_SECONDS,
        Unit::Seconds,
        "Time to record one mail, averaged over its batch"
    );
    // Registering the handle is enough for the exporter to list it (count 0) before any batch.
    let _ = metrics::histogram!(INGEST_SECONDS);
}

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
