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
    /// Reserves `tokens` for a request of `group` about to be forwarded, if the
    /// tokens used today plus those already reserved are under `budget`;
    /// otherwise returns both, and nothing is reserved. Checked and taken at once.
    fn try_reserve(&self, group: &str, tokens: u64, budget: u64) -> Result<(), Spent>;
    /// Gives back a reservation once its request is settled (recorded or failed).
    fn release(&self, group: &str, tokens: u64);
}

/// Why a request may not start: what the group used today and what requests in flight hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    /// Tokens used today (UTC).
    pub used: u64,
    /// Tokens reserved by requests still in flight.
    pub reserved: u64,
}

/// Tokens held for one request in flight; given back when dropped.
pub struct Reservation {
    ledger: std::sync::Arc<dyn UsageLedger>,
    group: String,
    tokens: u64,
}

impl Reservation {
    /// Reserves `tokens` for `group` in `ledger` under `budget` (see [`UsageLedger::try_reserve`]).
    pub fn take(
        ledger: &std::sync::Arc<dyn UsageLedger>,
        group: &str,
        tokens: u64,
        budget: u64,
    ) -> Result<Reservation, Spent> {
        ledger.try_reserve(group, tokens, budget)?;
        Ok(Reservation {
            ledger: std::sync::Arc::clone(ledger),
            group: group.to_owned(),
            tokens,
        })
    }
}

impl Reservation {
    /// The tokens held.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.ledger.release(&self.group, self.tokens);
    }
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
    /// Tokens held by requests in flight, per group (kept across a new day).
    reserved: HashMap<String, u64>,
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

    fn try_reserve(&self, group: &str, tokens: u64, budget: u64) -> Result<(), Spent> {
        self.with_state(|s| {
            let used = s
                .groups_today
                .get(group)
                .map(TokenUsage::total)
                .unwrap_or(0);
            let reserved = s.reserved.get(group).copied().unwrap_or(0);
            if used.saturating_add(reserved) >= budget {
                return Err(Spent { used, reserved });
            }
            let held = s.reserved.entry(group.to_owned()).or_default();
            *held = held.saturating_add(tokens);
            Ok(())
        })
    }

    fn release(&self, group: &str, tokens: u64) {
        self.with_state(|s| {
            if let Some(held) = s.reserved.get_mut(group) {
                *held = held.saturating_sub(tokens);
                if *held == 0 {
                    s.reserved.remove(group);
                }
            }
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

    #[test]
    fn reservations_count_against_the_budget_until_released() {
        let ledger: Arc<dyn UsageLedger> = Arc::new(MemoryLedger::new());
        let first = Reservation::take(&ledger, "main", 80, 100).expect("room");
        // 80 held of 100: another request may still start, and holds more.
        let second = Reservation::take(&ledger, "main", 80, 100).expect("still under");
        let refused = Reservation::take(&ledger, "main", 1, 100).err();
        assert_eq!(
            refused,
            Some(Spent {
                used: 0,
                reserved: 160
            })
        );
        assert!(
            Reservation::take(&ledger, "other", 1, 100).is_ok(),
            "per group"
        );
        drop(first);
        drop(second);
        assert!(
            Reservation::take(&ledger, "main", 1, 100).is_ok(),
            "released"
        );
    }
}
