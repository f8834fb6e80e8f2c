//! Supervision: a handler that stops is killed and launched again, with a
//! back-off that doubles after each quick failure and resets after a stable run.
//!
//! Must never restart a retired slot (shut down or replaced by a reload).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::launch::launch;
use super::slot::{Slot, State};
use super::Shared;
use crate::plugins::process::HandlerProcess;

/// Longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A handler that stayed up this long starts its back-off afresh when it dies.
const STABLE_UPTIME: Duration = Duration::from_secs(60);

/// Restarts a handler each time it stops, waiting longer after each quick failure.
pub(super) async fn supervise(shared: Arc<Shared>, slot: Arc<Slot>, first: Arc<HandlerProcess>) {
    let mut current = first;
    let mut attempt: u32 = 0;
    loop {
        let up_since = Instant::now();
        current.stopped().await;
        if slot.retired.load(Ordering::SeqCst) {
            return;
        }
        // It may have stopped answering without exiting (a refused line, a protocol break).
        current.kill().await;
        if up_since.elapsed() >= STABLE_UPTIME {
            attempt = 0;
        }
        loop {
            attempt = attempt.saturating_add(1);
            slot.set(State::Restarting { attempt });
            let delay = backoff(attempt);
            tracing::warn!(plugin = %slot.plugin.name, attempt, delay_ms = delay.as_millis() as u64, "handler stopped; restarting");
            tokio::time::sleep(delay).await;
            if slot.retired.load(Ordering::SeqCst) {
                return;
            }
            match launch(&shared, &slot).await {
                Ok(process) => {
                    tracing::info!(plugin = %slot.plugin.name, attempt, "plugin restarted");
                    slot.set(State::Running(Arc::clone(&process)));
                    current = process;
                    break;
                }
                Err(failure) => {
                    tracing::warn!(plugin = %slot.plugin.name, category = %failure.category, "restart failed");
                }
            }
        }
    }
}

/// 0.5 s, 1 s, 2 s, ... up to a minute.
fn backoff(attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(10);
    (Duration::from_millis(500) * 2u32.pow(exponent)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
