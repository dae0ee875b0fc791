//! Environment-gated fail points for crash tests: `KRM_FAILPOINT=name[,name…]` makes the
//! process abort at that point, as a power cut or SIGKILL would. Unset in production.
//! Also the test clock of the digest scheduler (`KRM_TEST_NOW`), so a test can run the daemon
//! on a working day whatever day the suite runs on.

use std::sync::OnceLock;

fn armed() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var("KRM_FAILPOINT")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Aborts the process immediately when `name` is armed.
pub fn hit(name: &str) {
    if armed().iter().any(|a| a == name) {
        eprintln!("fail point {name} hit: aborting");
        std::process::abort();
    }
}

/// The time the daemon's digest scheduler goes by: `KRM_TEST_NOW` (RFC 3339) when set and
/// valid, else the system clock. Unset in production (the config ignores `KRM_TEST_…`).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    static FIXED: OnceLock<Option<chrono::DateTime<chrono::Utc>>> = OnceLock::new();
    FIXED
        .get_or_init(|| {
            std::env::var("KRM_TEST_NOW")
                .ok()
                .and_then(|v| chrono::DateTime::parse_from_rfc3339(v.trim()).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
        })
        .unwrap_or_else(chrono::Utc::now)
}

/// Test hook: `KRM_TEST_HOLD_COMMIT_MS` holds each batch recorded ahead that long between
/// writing its rows and its COMMIT, so the batch after it is recorded ahead from memory (and a
/// test can act meanwhile). Unset in production.
pub async fn hold_commit() {
    static HOLD: OnceLock<Option<u64>> = OnceLock::new();
    let hold = HOLD.get_or_init(|| {
        std::env::var("KRM_TEST_HOLD_COMMIT_MS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
    });
    if let Some(ms) = hold {
        tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
    }
}

/// Test hook: `KRM_TEST_MOVE_GROUP` sets the mails moved together (normally
/// `scan::MOVE_GROUP`, 2,000), so a test of a few dozen mails moves groups while it still
/// fetches. Unset in production.
pub fn move_group() -> Option<usize> {
    static GROUP: OnceLock<Option<usize>> = OnceLock::new();
    *GROUP.get_or_init(|| {
        std::env::var("KRM_TEST_MOVE_GROUP")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n| n > 0)
    })
}

/// Fail points used by the crash tests.
pub const AFTER_COMMIT_BEFORE_MOVE: &str = "after_commit_before_move";
pub const AFTER_SMTP_BEFORE_MARK: &str = "after_smtp_before_mark";
/// Between `UID COPY` and `UID EXPUNGE` on a server without MOVE.
pub const AFTER_COPY_BEFORE_EXPUNGE: &str = "after_copy_before_expunge";
