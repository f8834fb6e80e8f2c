//! `telegram.refused`: the line logged for each refused update, with the reason and the
//! chat and user ids, never the text (the ids let the person add a chat or user they
//! meant to allow).
//!
//! It goes to the core as a `log` notification at `warn` (the core writes it to its
//! log, redacted, with the plugin's name), and as an `audit/record` into the audit
//! log (`telegram.refused {reason, chat, user}`, which the core bounds per 10 s
//! window). Anyone can write to a bot, so the lines are rate limited:
//! [`MAX_PER_WINDOW`] a minute, the rest counted into the next line's
//! `suppressed_before`.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::inbound::Refusal;

/// Refusal lines per window.
pub const MAX_PER_WINDOW: u32 = 30;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(60);

struct Window {
    start: Instant,
    logged: u32,
    suppressed: u64,
}

/// The refusal lines' rate limit.
pub struct RefusalLog {
    window: Mutex<Window>,
}

impl RefusalLog {
    /// A fresh limit, its window starting at `now`.
    pub fn new(now: Instant) -> RefusalLog {
        RefusalLog {
            window: Mutex::new(Window {
                start: now,
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    /// The line to log for `refusal` at `now`, or `None` if it is counted instead.
    pub fn line(&self, refusal: &Refusal, now: Instant) -> Option<String> {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if now.saturating_duration_since(window.start) >= WINDOW {
            window.start = now;
            window.logged = 0;
        }
        if window.logged >= MAX_PER_WINDOW {
            window.suppressed += 1;
            return None;
        }
        window.logged += 1;
        let mut line = format!("telegram.refused reason={}", refusal.reason);
        if let Some(chat) = refusal.chat {
            line.push_str(&format!(" chat={chat}"));
        }
        if let Some(user) = refusal.user {
            line.push_str(&format!(" user={user}"));
        }
        if window.suppressed > 0 {
            line.push_str(&format!(" suppressed_before={}", window.suppressed));
            window.suppressed = 0;
        }
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ChatId, UserId};

    #[test]
    fn lines_name_ids_only_and_a_flood_is_counted() {
        let t0 = Instant::now();
        let log = RefusalLog::new(t0);
        let refusal = Refusal {
            reason: "unknown_user",
            chat: Some(ChatId(-5)),
            user: Some(UserId(9)),
            tell: None,
        };
        assert_eq!(
            log.line(&refusal, t0).as_deref(),
            Some("telegram.refused reason=unknown_user chat=-5 user=9")
        );
        let logged = (0..100)
            .filter(|_| log.line(&refusal, t0).is_some())
            .count();
        assert_eq!(logged, MAX_PER_WINDOW as usize - 1);
        let next = log.line(&refusal, t0 + WINDOW).expect("a new window");
        assert!(next.ends_with("suppressed_before=71"), "{next}");
    }
}
