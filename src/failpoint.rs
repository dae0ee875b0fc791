//! Environment-gated fail points for crash tests: `KRM_FAILPOINT=name[,name…]` makes the
//! process abort at that point, as a power cut or SIGKILL would. Unset in production.

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

/// Fail points used by the crash tests.
pub const AFTER_COMMIT_BEFORE_MOVE: &str = "after_commit_before_move";
pub const AFTER_SMTP_BEFORE_MARK: &str = "after_smtp_before_mark";
