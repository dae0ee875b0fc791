//! Waiting that gives way to shutdown: every background loop sleeps through this, so a stop
//! request never waits for a timer.

use std::time::Duration;
use tokio::sync::watch;

/// Sleeps for `d` unless the stop flag is or becomes set; true when stopping.
pub async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
