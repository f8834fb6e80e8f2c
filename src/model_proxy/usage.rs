//! Token accounting: what each answer cost, per session, and per group and
//! task for the current UTC day; the caps checked (and tokens held) before a
//! request is forwarded; extensions of a cap for the day. [`DayLedger`] keeps
//! it in memory and, given a [`Journal`], in a day file read back at start.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::Date;

use super::budget::{Caps, Exhausted, Scope};
use super::journal::{Entry, Journal, JournalError};

/// Which session (and group, and task) a proxy serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionIdentity {
    /// The session id the core generated.
    pub session_id: String,
    /// The session's group.
    pub group: String,
    /// For a task session, the task (its origin's sender), whose own cap applies too.
    pub task: Option<String>,
}

impl SessionIdentity {
    /// What this session's usage is charged to.
    pub fn scope(&self) -> Scope {
        Scope {
            group: self.group.clone(),
            task: self.task.clone(),
        }
    }
}

/// The tokens one or more responses used, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
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

/// Where usage goes and where the caps are checked.
pub trait UsageLedger: Send + Sync {
    /// Tokens `group` has used today (UTC).
    fn group_tokens_today(&self, group: &str) -> u64;
    /// Records the usage of one answer of `session`.
    fn record(&self, session: &SessionIdentity, usage: &TokenUsage);
    /// Holds `tokens` for a request of `session` about to be forwarded, if its
    /// group and its task are under their caps (plus today's extensions);
    /// otherwise says whose cap, and nothing is held. Checked and taken at once.
    fn try_reserve(
        &self,
        session: &SessionIdentity,
        tokens: u64,
        caps: Caps,
    ) -> Result<(), Exhausted>;
    /// Gives back tokens held once their request is settled (recorded or failed).
    fn release(&self, session: &SessionIdentity, tokens: u64);
    /// Allows `scope` `tokens` more today, recorded (and synced) before it
    /// counts; answers today's total extension of `scope`.
    fn extend(
        &self,
        scope: &Scope,
        tokens: u64,
        by: &str,
        plugin: Option<&str>,
    ) -> std::io::Result<u64>;
    /// Today's use of every group and task that used, holds or was extended anything.
    fn today(&self) -> Vec<ScopeDay>;
    /// The announcement of `exhausted` could not be delivered: the next
    /// refusal at the same cap announces it again.
    fn alert_lost(&self, exhausted: &Exhausted);
    /// Writes what could not be written yet (at the core's stop).
    fn flush(&self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One group's or task's day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeDay {
    /// The group, or the task.
    #[serde(flatten)]
    pub scope: Scope,
    /// Tokens used today, by kind.
    pub used: TokenUsage,
    /// Tokens held by requests in flight.
    pub reserved: u64,
    /// Tokens allowed today beyond the configured cap.
    pub extended: u64,
}

/// Tokens held for one request in flight; given back when dropped.
pub struct Reservation {
    ledger: std::sync::Arc<dyn UsageLedger>,
    session: SessionIdentity,
    tokens: u64,
}

impl Reservation {
    /// Holds `tokens` for `session` in `ledger` under `caps` (see [`UsageLedger::try_reserve`]).
    pub fn take(
        ledger: &std::sync::Arc<dyn UsageLedger>,
        session: &SessionIdentity,
        tokens: u64,
        caps: Caps,
    ) -> Result<Reservation, Exhausted> {
        ledger.try_reserve(session, tokens, caps)?;
        Ok(Reservation {
            ledger: std::sync::Arc::clone(ledger),
            session: session.clone(),
            tokens,
        })
    }

    /// The tokens held.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.ledger.release(&self.session, self.tokens);
    }
}

/// Today's date in UTC.
pub fn utc_today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

/// The ledger: totals per session, and per group and task for the current UTC
/// day, in memory and (with a [`Journal`]) in the day file.
pub struct DayLedger {
    today: Box<dyn Fn() -> Date + Send + Sync>,
    journal: Option<Journal>,
    state: Mutex<LedgerState>,
}

/// One group's or task's counts for the day.
#[derive(Debug, Default)]
struct Tally {
    used: TokenUsage,
    /// Held by requests in flight (kept across a new day).
    reserved: u64,
    extended: u64,
    /// The cap last announced as spent (one `budget.exhausted` per cap).
    announced: Option<u64>,
}

impl Tally {
    fn new_day(&mut self) {
        *self = Tally {
            reserved: self.reserved,
            ..Tally::default()
        };
    }

    fn is_idle(&self) -> bool {
        self.reserved == 0 && self.extended == 0 && self.used == TokenUsage::default()
    }

    /// Whether a request may start under `base` (0 = no cap), and if not,
    /// what it is told (`scope` is filled in by the caller).
    fn check(&mut self, base: u64) -> Result<(), Exhausted> {
        if base == 0 {
            return Ok(());
        }
        let cap = base.saturating_add(self.extended);
        let used = self.used.total();
        if used.saturating_add(self.reserved) < cap {
            return Ok(());
        }
        // Announced once per cap, and only when spent, not merely held.
        let first = used >= cap && self.announced != Some(cap);
        if first {
            self.announced = Some(cap);
        }
        Err(Exhausted {
            scope: Scope::group(""),
            used,
            reserved: self.reserved,
            cap,
            first,
        })
    }
}

#[derive(Debug, Default)]
struct GroupDay {
    tally: Tally,
    tasks: HashMap<String, Tally>,
}

#[derive(Default)]
struct LedgerState {
    day: Option<Date>,
    groups: HashMap<String, GroupDay>,
    sessions: HashMap<String, TokenUsage>,
}

impl LedgerState {
    /// Starts a new day's counts when the date changed (tokens held stay held).
    fn roll(&mut self, today: Date) {
        if self.day == Some(today) {
            return;
        }
        self.day = Some(today);
        for group in self.groups.values_mut() {
            group.tally.new_day();
            group.tasks.values_mut().for_each(Tally::new_day);
            group.tasks.retain(|_, task| !task.is_idle());
        }
        self.groups
            .retain(|_, group| !group.tally.is_idle() || !group.tasks.is_empty());
    }

    /// The tallies of `scope`: the group's, and the task's if it names one.
    fn tallies(&mut self, group: &str, task: Option<&str>) -> (&mut Tally, Option<&mut Tally>) {
        let day = self.groups.entry(group.to_owned()).or_default();
        let task = task.map(|task| day.tasks.entry(task.to_owned()).or_default());
        (&mut day.tally, task)
    }

    fn add(&mut self, session: &str, group: &str, task: Option<&str>, usage: &TokenUsage) {
        self.sessions
            .entry(session.to_owned())
            .or_default()
            .add(usage);
        let (group, task) = self.tallies(group, task);
        group.used.add(usage);
        if let Some(task) = task {
            task.used.add(usage);
        }
    }

    /// The tally of `scope` itself: its task's when it names one, else its group's.
    fn tally(&mut self, scope: &Scope) -> &mut Tally {
        match self.tallies(&scope.group, scope.task.as_deref()) {
            (_, Some(task)) => task,
            (group, None) => group,
        }
    }

    fn extend(&mut self, scope: &Scope, tokens: u64) -> u64 {
        let tally = self.tally(scope);
        tally.extended = tally.extended.saturating_add(tokens);
        tally.extended
    }
}

impl Default for DayLedger {
    fn default() -> Self {
        DayLedger::in_memory()
    }
}

impl DayLedger {
    /// A ledger on the UTC clock that keeps nothing on disk.
    pub fn in_memory() -> DayLedger {
        DayLedger::with_clock(utc_today)
    }

    /// A ledger in memory whose notion of "today" is `today` (for tests).
    pub fn with_clock(today: impl Fn() -> Date + Send + Sync + 'static) -> DayLedger {
        DayLedger {
            today: Box::new(today),
            journal: None,
            state: Mutex::new(LedgerState::default()),
        }
    }

    /// A ledger kept in `journal`, with today's file read back; also answers
    /// how many lines of it did not parse (skipped).
    pub fn open(journal: Journal) -> Result<(DayLedger, usize), JournalError> {
        DayLedger::open_with_clock(journal, utc_today)
    }

    /// [`DayLedger::open`] on the clock `today` (for tests).
    pub fn open_with_clock(
        journal: Journal,
        today: impl Fn() -> Date + Send + Sync + 'static,
    ) -> Result<(DayLedger, usize), JournalError> {
        let day = today();
        let mut state = LedgerState::default();
        state.roll(day);
        let skipped = journal.for_each(day, |entry| match entry {
            Entry::Use {
                session,
                scope,
                usage,
            } => state.add(&session, &scope.group, scope.task.as_deref(), &usage),
            Entry::Extend { scope, tokens, .. } => {
                state.extend(&scope, tokens);
            }
        })?;
        let ledger = DayLedger {
            today: Box::new(today),
            journal: Some(journal),
            state: Mutex::new(state),
        };
        Ok((ledger, skipped))
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
        self.with_state(|s| {
            s.groups
                .get(group)
                .map(|g| g.tally.used)
                .unwrap_or_default()
        })
    }
}

impl UsageLedger for DayLedger {
    fn group_tokens_today(&self, group: &str) -> u64 {
        self.group_usage_today(group).total()
    }

    fn record(&self, session: &SessionIdentity, usage: &TokenUsage) {
        let day = self.with_state(|s| {
            s.add(
                &session.session_id,
                &session.group,
                session.task.as_deref(),
                usage,
            );
            s.day
        });
        let (Some(journal), Some(day)) = (&self.journal, day) else {
            return;
        };
        let entry = Entry::Use {
            session: session.session_id.clone(),
            scope: session.scope(),
            usage: *usage,
        };
        // Written outside the lock; the order of lines does not matter.
        if let Err(e) = journal.append(day, &entry, false) {
            tracing::warn!(
                error = %e,
                file = %journal.file(day).display(),
                pending = journal.pending_lines(),
                "model usage not written to the day file yet: kept in memory and written with the next line"
            );
        }
    }

    fn try_reserve(
        &self,
        session: &SessionIdentity,
        tokens: u64,
        caps: Caps,
    ) -> Result<(), Exhausted> {
        self.with_state(|s| {
            let (group, mut task) = s.tallies(&session.group, session.task.as_deref());
            group.check(caps.group).map_err(|mut refused| {
                refused.scope = Scope::group(&session.group);
                refused
            })?;
            if let Some(task) = task.as_deref_mut() {
                task.check(caps.task).map_err(|mut refused| {
                    refused.scope = session.scope();
                    refused
                })?;
            }
            // Held exactly, never saturated: a release takes back what was
            // added, so a sum that would overflow is refused, not clamped.
            let overflow = |tally: &Tally, scope: Scope, cap: u64| Exhausted {
                scope,
                used: tally.used.total(),
                reserved: tally.reserved,
                cap,
                first: false,
            };
            let group_held = group
                .reserved
                .checked_add(tokens)
                .ok_or_else(|| overflow(group, Scope::group(&session.group), caps.group))?;
            let task_held = match task.as_deref() {
                Some(task) => Some(
                    task.reserved
                        .checked_add(tokens)
                        .ok_or_else(|| overflow(task, session.scope(), caps.task))?,
                ),
                None => None,
            };
            group.reserved = group_held;
            if let (Some(task), Some(held)) = (task, task_held) {
                task.reserved = held;
            }
            Ok(())
        })
    }

    fn release(&self, session: &SessionIdentity, tokens: u64) {
        self.with_state(|s| {
            let (group, task) = s.tallies(&session.group, session.task.as_deref());
            group.reserved = group.reserved.saturating_sub(tokens);
            if let Some(task) = task {
                task.reserved = task.reserved.saturating_sub(tokens);
            }
        });
    }

    fn extend(
        &self,
        scope: &Scope,
        tokens: u64,
        by: &str,
        plugin: Option<&str>,
    ) -> std::io::Result<u64> {
        let day = self.with_state(|s| s.day).unwrap_or_else(|| (self.today)());
        if let Some(journal) = &self.journal {
            let entry = Entry::Extend {
                scope: scope.clone(),
                tokens,
                by: by.to_owned(),
                plugin: plugin.map(str::to_owned),
                at: crate::time::now_rfc3339(),
            };
            journal.append(day, &entry, true)?;
        }
        // Counted only for the day it was written to: a UTC midnight in
        // between leaves it in the day that ended, in memory as on disk.
        self.with_state(|s| {
            if s.day == Some(day) {
                Ok(s.extend(scope, tokens))
            } else {
                Err(std::io::Error::other(
                    "the UTC day ended while the extension was recorded; it applied to the day that ended: ask again for today",
                ))
            }
        })
    }

    fn flush(&self) -> std::io::Result<()> {
        self.journal.as_ref().map_or(Ok(()), Journal::flush)
    }

    fn alert_lost(&self, exhausted: &Exhausted) {
        self.with_state(|s| {
            let tally = s.tally(&exhausted.scope);
            if tally.announced == Some(exhausted.cap) {
                tally.announced = None;
            }
        });
    }

    fn today(&self) -> Vec<ScopeDay> {
        self.with_state(|s| {
            let mut days = Vec::new();
            for (name, group) in &s.groups {
                let day = |scope: Scope, tally: &Tally| ScopeDay {
                    scope,
                    used: tally.used,
                    reserved: tally.reserved,
                    extended: tally.extended,
                };
                days.push(day(Scope::group(name), &group.tally));
                for (task, tally) in &group.tasks {
                    days.push(day(Scope::task(name, task), tally));
                }
            }
            days.sort_by(|a, b| a.scope.cmp(&b.scope));
            days
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::Arc;

    fn may(day: u8) -> Date {
        Date::from_calendar_date(2026, time::Month::May, day).unwrap_or(Date::MIN)
    }

    fn session(id: &str, group: &str, task: Option<&str>) -> SessionIdentity {
        SessionIdentity {
            session_id: id.into(),
            group: group.into(),
            task: task.map(str::to_owned),
        }
    }

    fn output(tokens: u64) -> TokenUsage {
        TokenUsage {
            output_tokens: tokens,
            ..TokenUsage::default()
        }
    }

    #[test]
    fn totals_per_session_and_group_and_a_new_day_resets_groups() {
        let day = Arc::new(AtomicU8::new(1));
        let clock = Arc::clone(&day);
        let ledger = DayLedger::with_clock(move || may(clock.load(Ordering::SeqCst)));
        let a = session("s1", "main", None);
        let b = session("s2", "main", None);
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
        let ledger: Arc<dyn UsageLedger> = Arc::new(DayLedger::in_memory());
        let main = session("s1", "main", None);
        let caps = Caps {
            group: 100,
            task: 0,
        };
        let first = Reservation::take(&ledger, &main, 80, caps).expect("room");
        // 80 held of 100: another request may still start, and holds more.
        let second = Reservation::take(&ledger, &main, 80, caps).expect("still under");
        let refused = Reservation::take(&ledger, &main, 1, caps).err();
        assert_eq!(
            refused,
            Some(Exhausted {
                scope: Scope::group("main"),
                used: 0,
                reserved: 160,
                cap: 100,
                first: false,
            }),
            "held, not spent: no announcement"
        );
        let other = session("s2", "other", None);
        assert!(
            Reservation::take(&ledger, &other, 1, caps).is_ok(),
            "per group"
        );
        drop(first);
        drop(second);
        assert!(
            Reservation::take(&ledger, &main, 1, caps).is_ok(),
            "released"
        );
    }

    #[test]
    fn a_hold_that_would_overflow_is_refused_and_never_wipes_others() {
        let ledger: Arc<dyn UsageLedger> = Arc::new(DayLedger::in_memory());
        let main = session("s1", "main", Some("t"));
        let caps = Caps {
            group: 100,
            task: 100,
        };
        let first = Reservation::take(&ledger, &main, 80, caps).expect("room");
        assert!(Reservation::take(&ledger, &main, u64::MAX, caps).is_err());
        let held = |ledger: &Arc<dyn UsageLedger>| {
            ledger
                .today()
                .iter()
                .map(|d| d.reserved)
                .collect::<Vec<_>>()
        };
        assert_eq!(held(&ledger), [80, 80], "the first hold still counts");
        drop(first);
        assert_eq!(held(&ledger), [0, 0]);
    }

    #[test]
    fn a_task_stops_at_its_own_cap_while_its_group_goes_on() {
        let ledger: Arc<dyn UsageLedger> = Arc::new(DayLedger::in_memory());
        let task = session("t1", "main", Some("digest"));
        let chat = session("c1", "main", None);
        let caps = Caps {
            group: 1000,
            task: 50,
        };
        ledger.record(&task, &output(60));
        let refused = Reservation::take(&ledger, &task, 1, caps).err();
        assert_eq!(
            refused,
            Some(Exhausted {
                scope: Scope::task("main", "digest"),
                used: 60,
                reserved: 0,
                cap: 50,
                first: true,
            })
        );
        let again = Reservation::take(&ledger, &task, 1, caps).err();
        assert_eq!(again.map(|e| e.first), Some(false), "announced once");
        assert!(Reservation::take(&ledger, &chat, 1, caps).is_ok());
        assert_eq!(ledger.group_tokens_today("main"), 60);
        // A new task session of the same task is charged to the same tally.
        let task_again = session("t2", "main", Some("digest"));
        assert!(Reservation::take(&ledger, &task_again, 1, caps).is_err());
    }

    #[test]
    fn an_extension_lifts_a_cap_for_the_day_only_and_survives_a_restart() {
        let dir = tempfile::tempdir().expect("temp");
        let day = Arc::new(AtomicU8::new(1));
        let clock = {
            let day = Arc::clone(&day);
            move || may(day.load(Ordering::SeqCst))
        };
        let open = || {
            let (ledger, skipped) =
                DayLedger::open_with_clock(Journal::new(dir.path()), clock.clone()).expect("open");
            assert_eq!(skipped, 0);
            Arc::new(ledger) as Arc<dyn UsageLedger>
        };
        let main = session("s1", "main", None);
        let caps = Caps {
            group: 100,
            task: 0,
        };
        let ledger = open();
        ledger.record(&main, &output(100));
        assert!(Reservation::take(&ledger, &main, 1, caps).is_err());
        drop(ledger);
        let ledger = open();
        let refused = Reservation::take(&ledger, &main, 1, caps).err();
        assert_eq!(
            refused.map(|e| (e.used, e.cap)),
            Some((100, 100)),
            "after a restart"
        );
        assert_eq!(
            ledger
                .extend(&Scope::group("main"), 50, "owner", Some("telegram"))
                .expect("extend"),
            50
        );
        assert!(Reservation::take(&ledger, &main, 1, caps).is_ok());
        drop(ledger);
        let ledger = open();
        assert!(
            Reservation::take(&ledger, &main, 1, caps).is_ok(),
            "the extension is read back"
        );
        ledger.record(&main, &output(50));
        let refused = Reservation::take(&ledger, &main, 1, caps).err();
        assert_eq!(refused.map(|e| (e.cap, e.first)), Some((150, true)));
        day.store(2, Ordering::SeqCst);
        let ledger = open();
        let today = ledger.today();
        assert!(today.is_empty(), "{today:?}");
        ledger.record(&main, &output(100));
        let refused = Reservation::take(&ledger, &main, 1, caps).err();
        assert_eq!(
            refused.map(|e| e.cap),
            Some(100),
            "the extension was for one day"
        );
    }

    #[test]
    fn an_extension_that_crosses_midnight_counts_for_no_other_day() {
        let dir = tempfile::tempdir().expect("temp");
        // Every reading of the clock is a day later: the extension is
        // written to one day and the day has ended before it is counted.
        let calls = Arc::new(AtomicU8::new(1));
        let clock = {
            let calls = Arc::clone(&calls);
            move || may(calls.fetch_add(1, Ordering::SeqCst).min(28))
        };
        let (ledger, _) =
            DayLedger::open_with_clock(Journal::new(dir.path()), clock).expect("open");
        let refused = ledger.extend(&Scope::group("main"), 50, "owner", None);
        assert!(refused.is_err(), "{refused:?}");
        assert!(
            ledger.today().iter().all(|day| day.extended == 0),
            "{:?}",
            ledger.today()
        );
    }

    #[test]
    fn an_alert_that_could_not_be_delivered_is_announced_again() {
        let ledger: Arc<dyn UsageLedger> = Arc::new(DayLedger::in_memory());
        let main = session("s1", "main", None);
        let caps = Caps {
            group: 100,
            task: 0,
        };
        ledger.record(&main, &output(100));
        let first = Reservation::take(&ledger, &main, 1, caps)
            .err()
            .expect("spent");
        assert!(first.first);
        ledger.alert_lost(&first);
        let again = Reservation::take(&ledger, &main, 1, caps)
            .err()
            .expect("spent");
        assert!(again.first, "announced again after the first was lost");
        let after = Reservation::take(&ledger, &main, 1, caps)
            .err()
            .expect("spent");
        assert!(!after.first, "once delivered, not again");
    }
}
