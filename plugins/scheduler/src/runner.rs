//! The loop that fires due tasks: record, publish, mark.
//!
//! Exactly once, per fire id (`<task>@<UTC instant>`):
//! 1. the fire's row is written `pending`, in the transaction that moves its
//!    task to the next slot, committed and synced (`synchronous = FULL`);
//! 2. `task.triggered` is published with the fire id;
//! 3. the row is marked `published`.
//!
//! A crash before 1 commits leaves the slot due: the restarted plugin fires it
//! (on time within `misfire_grace_secs`, else by the task's misfire policy).
//! A crash between 1 and 3 leaves the row `pending`: at start every pending
//! fire is published again, and the core, which starts at most one session per
//! fire id (`state/task_fires`), refuses the copy it has already taken
//! (`FIRE_TAKEN`). So no crash skips a fire or repeats its session. Nothing
//! fires before its instant: a slot is due only once the clock has reached it.
//!
//! A group the core says is paused (`group.paused`, or `agent.refused` with
//! `GROUP_PAUSED` for one of our fires) has its due slots recorded as skipped
//! until `group.resumed`; the core refuses its task sessions in any case.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use carapace_plugin_sdk::{CoreLink, Level};
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

use crate::clock::Clock;
use crate::config::Config;
use crate::misfire;
use crate::store::Store;
use crate::task::{Fire, State};
use crate::timing::utc;

/// Most due tasks handled in one batch.
const BATCH: u32 = 256;
/// Longest sleep with the system clock (a changed wall clock is seen this soon).
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// How often the test clock's file is read.
const FILE_CLOCK_POLL: Duration = Duration::from_millis(50);
/// How often old fires are pruned, in seconds.
const PRUNE_EVERY_SECS: i64 = 3600;

/// What the runner and the tools share.
pub struct Scheduler {
    /// The store.
    pub store: Store,
    /// Where "now" comes from.
    pub clock: Clock,
    /// The config.
    pub config: Config,
    paused: Mutex<HashSet<String>>,
    wake: Condvar,
    woken: Mutex<bool>,
    stopping: AtomicBool,
}

impl Scheduler {
    /// A scheduler on `store`.
    pub fn new(store: Store, clock: Clock, config: Config) -> Scheduler {
        Scheduler {
            store,
            clock,
            config,
            paused: Mutex::new(HashSet::new()),
            wake: Condvar::new(),
            woken: Mutex::new(false),
            stopping: AtomicBool::new(false),
        }
    }

    /// Now by the plugin's clock, or an error for the agent when the test clock is unreadable.
    pub fn now(&self) -> Option<Timestamp> {
        self.clock.now()
    }

    /// Wakes the loop (a task was added or resumed).
    pub fn wake(&self) {
        *self.woken.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
    }

    /// Ends the loop at its next turn.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Whether the core said `group` is paused.
    pub fn is_paused(&self, group: &str) -> bool {
        self.paused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(group)
    }

    /// Reads an event: `group.paused`, `group.resumed`, and `agent.refused` of our fires.
    pub fn on_event(&self, link: &CoreLink, envelope: &Value) {
        let topic = envelope.get("topic").and_then(Value::as_str).unwrap_or("");
        let payload = envelope.get("payload").unwrap_or(&Value::Null);
        let Some(group) = payload.get("group").and_then(Value::as_str) else {
            return;
        };
        let mut paused = self.paused.lock().unwrap_or_else(PoisonError::into_inner);
        match topic {
            "group.paused" => {
                paused.insert(group.to_owned());
            }
            "group.resumed" => {
                paused.remove(group);
            }
            "agent.refused"
                if payload.get("code").and_then(Value::as_str) == Some("GROUP_PAUSED")
                    && payload.pointer("/origin/topic").and_then(Value::as_str)
                        == Some("task.triggered")
                    && paused.insert(group.to_owned()) =>
            {
                link.log(
                    Level::Info,
                    format!("scheduler: group {group:?} is paused; its tasks wait"),
                );
            }
            _ => {}
        }
    }

    /// Runs until the core goes away or the plugin stops.
    pub fn run(&self, link: &CoreLink) {
        self.publish_pending(link);
        let mut last_prune = i64::MIN;
        loop {
            if self.stopping.load(Ordering::SeqCst) || link.is_closed() {
                return;
            }
            if let Some(now) = self.now() {
                self.tick(link, now);
                if now.as_second().saturating_sub(last_prune) >= PRUNE_EVERY_SECS {
                    last_prune = now.as_second();
                    if let Err(e) = self.store.prune(now) {
                        link.log(Level::Warn, format!("scheduler: prune: {e}"));
                    }
                }
            }
            self.sleep();
        }
    }

    /// Sleeps until the next slot (at most [`MAX_SLEEP`]), or until woken.
    fn sleep(&self) {
        let wait = if self.clock.is_file() {
            FILE_CLOCK_POLL
        } else {
            match self.store.next_due() {
                Ok(Some(next)) => {
                    let left = next.duration_since(Timestamp::now());
                    Duration::try_from(left.max(SignedDuration::ZERO))
                        .unwrap_or(MAX_SLEEP)
                        .min(MAX_SLEEP)
                }
                _ => MAX_SLEEP,
            }
        };
        if wait.is_zero() {
            return;
        }
        let woken = self.woken.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut woken, _) = self
            .wake
            .wait_timeout_while(woken, wait, |woken| !*woken)
            .unwrap_or_else(PoisonError::into_inner);
        *woken = false;
    }

    /// Fires every task due at `now`.
    pub fn tick(&self, link: &CoreLink, now: Timestamp) {
        loop {
            let due = match self.store.due(now, BATCH) {
                Ok(due) => due,
                Err(e) => {
                    link.log(Level::Error, format!("scheduler: reading due tasks: {e}"));
                    return;
                }
            };
            let full = due.len() >= BATCH as usize;
            for task in due {
                let (Ok(timing), Some(next_at)) = (task.timing(), task.next_at) else {
                    // A row this code cannot schedule (hand-edited): held, said loudly.
                    link.log(
                        Level::Error,
                        format!("scheduler: task {} cannot be scheduled; paused", task.id),
                    );
                    let _ = self.store.set_state(&task.id, State::Paused, None);
                    continue;
                };
                let Ok(due_at) = Timestamp::from_second(next_at) else {
                    continue;
                };
                let plan = misfire::plan(
                    &timing,
                    due_at,
                    now,
                    task.misfire,
                    SignedDuration::from_secs(i64::from(self.config.misfire_grace_secs)),
                    self.config.max_catch_up as usize,
                );
                let paused = self.is_paused(&task.group);
                match self.store.record(&task, &plan, paused, now) {
                    Ok(fires) => {
                        for fire in fires {
                            self.publish(link, &fire);
                        }
                    }
                    Err(e) => {
                        link.log(
                            Level::Error,
                            format!("scheduler: recording task {}: {e}", task.id),
                        );
                        return;
                    }
                }
            }
            if !full {
                return;
            }
        }
    }

    /// Publishes the fires a crash left pending (the core refuses any it has taken).
    pub fn publish_pending(&self, link: &CoreLink) {
        match self.store.pending() {
            Ok(fires) => {
                for fire in fires {
                    self.publish(link, &fire);
                }
            }
            Err(e) => link.log(
                Level::Error,
                format!("scheduler: reading pending fires: {e}"),
            ),
        }
    }

    /// Publishes one recorded fire, then marks it.
    fn publish(&self, link: &CoreLink, fire: &Fire) {
        if self.config.test_hold_after_record_ms > 0 {
            std::thread::sleep(Duration::from_millis(u64::from(
                self.config.test_hold_after_record_ms,
            )));
        }
        let Ok(slot) = Timestamp::from_second(fire.scheduled_at) else {
            return;
        };
        let local = jiff::tz::db()
            .get(&fire.tz)
            .map(|zone| {
                slot.to_zoned(zone)
                    .strftime("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string()
            })
            .unwrap_or_else(|_| utc(slot));
        let payload = json!({
            "fire_id": fire.fire_id,
            "task": fire.task_id,
            "prompt": fire.prompt,
            "trust": fire.trust.as_str(),
            "scheduled_at": utc(slot),
            "local_time": local,
            "tz": fire.tz,
        });
        if link
            .publish("task.triggered", &fire.group, payload)
            .is_err()
        {
            // The core is gone: the fire stays pending and is published at the next start.
            return;
        }
        let now = self.now().unwrap_or_else(Timestamp::now);
        if let Err(e) = self.store.mark(&fire.fire_id, true, now) {
            link.log(
                Level::Warn,
                format!("scheduler: marking {}: {e}", fire.fire_id),
            );
        }
    }
}
