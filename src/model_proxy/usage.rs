//! Token accounting: what each response cost, per session and per group and
//! UTC day, behind a trait so the core can persist it.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use time::Date;

/// Which session (and group) a proxy serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionIdentity {
    /// The session id the core generated.
    pub session_id: String,
    /// The session's group.
    pub group: String,
}

/// The tokens one or more responses used, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TokenUsage {
    /// Input tokens not read from or written to the cache.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation_input_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_input_tokens: u64,
}

impl TokenUsage {
    /// Every token counted against the budget: all input kinds plus output.
    pub fn total(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_creation_input_tokens)
            .saturating_add(self.cache_read_input_tokens)
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &TokenUsage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_creation_input_tokens = self
            .cache_creation_input_tokens
            .saturating_add(other.cache_creation_input_tokens);
        self.cache_read_input_tokens = self
            .cache_read_input_tokens
            .saturating_add(other.cache_read_input_tokens);
    }
}

/// Where usage goes and where the budget check reads from.
pub trait UsageLedger: Send + Sync {
    /// Tokens `group` has used today (UTC), for the daily budget.
    fn group_tokens_today(&self, group: &str) -> u64;
    /// Records the usage of one response.
    fn record(&self, session: &SessionIdentity, usage: &TokenUsage);
}

/// Today's date in UTC.
pub fn utc_today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

/// An in-memory ledger: totals per session, and per group for the current UTC day.
pub struct MemoryLedger {
    today: Box<dyn Fn() -> Date + Send + Sync>,
    state: Mutex<LedgerState>,
}

#[derive(Default)]
struct LedgerState {
    day: Option<Date>,
    groups_today: HashMap<String, TokenUsage>,
    sessions: HashMap<String, TokenUsage>,
}

impl LedgerState {
    /// Starts a new day's group totals when the date changed.
    fn roll(&mut self, today: Date) {
        if self.day != Some(today) {
            self.day = Some(today);
            self.groups_today.clear();
        }
    }
}

impl Default for MemoryLedger {
    fn default() -> Self {
        MemoryLedger::new()
    }
}

impl MemoryLedger {
    /// A ledger on the UTC clock.
    pub fn new() -> MemoryLedger {
        MemoryLedger::with_clock(utc_today)
    }

    /// A ledger whose notion of "today" is `today` (for tests).
    pub fn with_clock(today: impl Fn() -> Date + Send + Sync + 'static) -> MemoryLedger {
        MemoryLedger {
            today: Box::new(today),
            state: Mutex::new(LedgerState::default()),
        }
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut LedgerState) -> T) -> T {
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        state.roll((self.today)());
        f(&mut state)
    }

    /// Everything `session_id` used so far.
    pub fn session_usage(&self, session_id: &str) -> TokenUsage {
        self.with_state(|s| s.sessions.get(session_id).copied().unwrap_or_default())
    }

    /// Everything `group` used today.
    pub fn group_usage_today(&self, group: &str) -> TokenUsage {
        self.with_state(|s| s.groups_today.get(group).copied().unwrap_or_default())
    }
}

impl UsageLedger for MemoryLedger {
    fn group_tokens_today(&self, group: &str) -> u64 {
        self.group_usage_today(group).total()
    }

    fn record(&self, session: &SessionIdentity, usage: &TokenUsage) {
        self.with_state(|s| {
            s.sessions
                .entry(session.session_id.clone())
                .or_default()
                .add(usage);
            s.groups_today
                .entry(session.group.clone())
                .or_default()
                .add(usage);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::Arc;

    #[test]
    fn totals_per_session_and_group_and_a_new_day_resets_groups() {
        let day = Arc::new(AtomicU8::new(1));
        let clock = Arc::clone(&day);
        let ledger = MemoryLedger::with_clock(move || {
            Date::from_calendar_date(2026, time::Month::May, clock.load(Ordering::SeqCst))
                .unwrap_or(Date::MIN)
        });
        let a = SessionIdentity {
            session_id: "s1".into(),
            group: "main".into(),
        };
        let b = SessionIdentity {
            session_id: "s2".into(),
            group: "main".into(),
        };
        let used = TokenUsage {
            input_tokens: 10,
            output_tokens: 5,
            cache_creation_input_tokens: 2,
            cache_read_input_tokens: 3,
        };
        ledger.record(&a, &used);
        ledger.record(&b, &used);
        assert_eq!(ledger.group_tokens_today("main"), 40);
        assert_eq!(ledger.session_usage("s1").total(), 20);
        assert_eq!(ledger.group_tokens_today("other"), 0);
        day.store(2, Ordering::SeqCst);
        assert_eq!(ledger.group_tokens_today("main"), 0);
        assert_eq!(ledger.session_usage("s2").output_tokens, 5);
    }
}
