//! The loop that fires due tasks: record, publish, mark once the core answers.
//!
//! Exactly once, per fire id (`<task>@<UTC instant>`):
//! 1. the fire's row is written `pending`, in the transaction that moves its
//!    task to the next slot, committed and synced (`synchronous = FULL`);
//! 2. `task.triggered` is sent with the fire id as an acknowledged
//!    `event/publish`: the core answers once it has written the fire id and
//!    queued (or refused) the session;
//! 3. the row is marked by that answer (`publish::verdict`): `published`, or
//!    `skipped` with the core's code; with no answer it stays `pending`.
//!
//! A crash before 1 commits leaves the slot due: the restarted plugin fires it
//! (on time within `misfire_grace_secs`, else by the task's misfire policy).
//! A crash of the plugin or of the core anywhere between 1 and 3, or an answer
//! that never came, leaves the row `pending`: at start, and every
//! [`RETRY_EVERY`] while any are left, every pending fire is sent again, and
//! the core, which starts at most one session per fire id
//! (`state/task_fires`), answers `FIRE_TAKEN` for one it already has: then it
//! is marked published. So no crash of either side skips a fire or repeats
//! its session. Nothing fires before its instant.
//!
//! Paused groups: the core refuses a task session of a paused group in any
//! case (`GROUP_PAUSED`), and that fire is skipped, as every slot while paused
//! is. To spare the core those refusals, the plugin passes a paused group's
//! slots over itself; its view of which groups are paused (`paused`) is
//! ordered by the core's generation, taken whole at start, and asked again
//! (`scheduler/paused_groups`) before any slot is passed over for a pause, so
//! a resumed group's fire is never skipped on a stale word.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use carapace_plugin_sdk::{CoreLink, Level};
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

use crate::clock::Clock;
use crate::config::Config;
use crate::misfire;
use crate::paused::PausedView;
use crate::publish::{self, Verdict};
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
/// How soon fires the core did not answer for are sent again.
pub const RETRY_EVERY: Duration = Duration::from_secs(5);
/// The core's method that answers which served groups are paused.
const PAUSED_GROUPS: &str = "scheduler/paused_groups";

/// One group's catch-up in one tick.
#[derive(Debug, Default)]
struct CatchUp {
    /// Late slots fired.
    fired: usize,
    /// Late slots the cap passed over.
    capped_slots: usize,
    /// Tasks with a slot the cap passed over.
    capped_tasks: usize,
}

/// Whether sending fires went on, should wait, or cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Every fire sent was answered.
    Done,
    /// Some are left pending for a later round (no answer, busy, rate limited).
    Later,
    /// The core is gone.
    Gone,
}

/// What the runner and the tools share.
pub struct Scheduler {
    /// The store.
    pub store: Store,
    /// Where "now" comes from.
    pub clock: Clock,
    /// The config.
    pub config: Config,
    paused: PausedView,
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
            paused: PausedView::default(),
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

    /// Whether the core's newest word says `group` is paused.
    pub fn is_paused(&self, group: &str) -> bool {
        self.paused.is_paused(group)
    }

    /// Reads an event: `group.paused` and `group.resumed`, each with the core's
    /// generation (one without is ignored: it cannot be ordered).
    pub fn on_event(&self, link: &CoreLink, envelope: &Value) {
        let topic = envelope.get("topic").and_then(Value::as_str).unwrap_or("");
        let payload = envelope.get("payload").unwrap_or(&Value::Null);
        let paused = match topic {
            "group.paused" => true,
            "group.resumed" => false,
            _ => return,
        };
        let (Some(group), Some(generation)) = (
            payload.get("group").and_then(Value::as_str),
            payload.get("generation").and_then(Value::as_u64),
        ) else {
            link.log(
                Level::Warn,
                format!("scheduler: {topic} without a group or generation, ignored"),
            );
            return;
        };
        if self.paused.apply(group, paused, generation) {
            link.log(
                Level::Info,
                format!(
                    "scheduler: group {group:?} is {} (generation {generation})",
                    if paused {
                        "paused; its slots are passed over"
                    } else {
                        "resumed"
                    }
                ),
            );
        }
    }

    /// Asks the core which served groups are paused; false when it did not say.
    pub fn refresh_paused(&self, link: &CoreLink) -> bool {
        let answer = match link.request(PAUSED_GROUPS, json!({})) {
            Ok(answer) => answer,
            Err(e) => {
                link.log(Level::Warn, format!("scheduler: {PAUSED_GROUPS}: {e}"));
                return false;
            }
        };
        let generation = answer.get("generation").and_then(Value::as_u64);
        let groups: Option<Vec<String>> =
            answer.get("groups").and_then(Value::as_array).map(|all| {
                all.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            });
        match (generation, groups) {
            (Some(generation), Some(groups)) => {
                self.paused.replace(&groups, generation);
                true
            }
            _ => {
                link.log(
                    Level::Warn,
                    format!("scheduler: {PAUSED_GROUPS}: an answer without generation and groups"),
                );
                false
            }
        }
    }

    /// Runs until the core goes away or the plugin stops.
    pub fn run(&self, link: &CoreLink) {
        self.refresh_paused(link);
        let mut retry_at = match self.publish_pending(link) {
            Delivery::Done => None,
            Delivery::Later => Some(Instant::now() + RETRY_EVERY),
            Delivery::Gone => return,
        };
        let mut last_prune = i64::MIN;
        loop {
            if self.stopping.load(Ordering::SeqCst) || link.is_closed() {
                return;
            }
            if let Some(now) = self.now() {
                match self.tick(link, now) {
                    Delivery::Gone => return,
                    Delivery::Later if retry_at.is_none() => {
                        retry_at = Some(Instant::now() + RETRY_EVERY);
                    }
                    _ => {}
                }
                if now.as_second().saturating_sub(last_prune) >= PRUNE_EVERY_SECS {
                    last_prune = now.as_second();
                    if let Err(e) = self.store.prune(now) {
                        link.log(Level::Warn, format!("scheduler: prune: {e}"));
                    }
                }
            }
            if retry_at.is_some_and(|at| Instant::now() >= at) {
                retry_at = match self.publish_pending(link) {
                    Delivery::Done => None,
                    Delivery::Later => Some(Instant::now() + RETRY_EVERY),
                    Delivery::Gone => return,
                };
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

    /// Fires every task due at `now`; fires left unanswered stay pending. The
    /// late slots it fires (a catch-up after downtime or a sleep) are capped
    /// per group at `max_catch_up_per_group`; the rest are skipped (`CAPPED`)
    /// and each capped group gets one `scheduler.catch_up_capped` record.
    pub fn tick(&self, link: &CoreLink, now: Timestamp) -> Delivery {
        let mut catch_up = HashMap::new();
        let delivery = self.fire_due(link, now, &mut catch_up);
        for (group, spent) in catch_up {
            if spent.capped_slots == 0 {
                continue;
            }
            link.log(
                Level::Warn,
                format!(
                    "scheduler: group {group:?} caught up {} late slots; {} more of {} tasks were \
                     skipped (max_catch_up_per_group = {})",
                    spent.fired,
                    spent.capped_slots,
                    spent.capped_tasks,
                    self.config.max_catch_up_per_group
                ),
            );
            let _ = link.record(
                "catch_up_capped",
                json!({"task_group": group, "cap": self.config.max_catch_up_per_group,
                       "fired": spent.fired, "skipped_slots": spent.capped_slots,
                       "skipped_tasks": spent.capped_tasks}),
            );
        }
        delivery
    }

    /// [`Scheduler::tick`]'s work, counting each group's catch-up in `catch_up`.
    fn fire_due(
        &self,
        link: &CoreLink,
        now: Timestamp,
        catch_up: &mut HashMap<String, CatchUp>,
    ) -> Delivery {
        let mut delivery = Delivery::Done;
        // The core is asked at most once a tick, before a slot is passed over for a pause.
        let mut asked = false;
        loop {
            let due = match self.store.due(now, BATCH) {
                Ok(due) => due,
                Err(e) => {
                    link.log(Level::Error, format!("scheduler: reading due tasks: {e}"));
                    return delivery;
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
                let mut plan = misfire::plan(
                    &timing,
                    due_at,
                    now,
                    task.misfire,
                    SignedDuration::from_secs(i64::from(self.config.misfire_grace_secs)),
                    self.config.max_catch_up as usize,
                );
                if !plan.fire.is_empty() && self.is_paused(&task.group) && !asked {
                    asked = true;
                    self.refresh_paused(link);
                }
                let paused = self.is_paused(&task.group);
                if !paused && plan.late > 0 {
                    let spent = catch_up.entry(task.group.clone()).or_default();
                    let cap = self.config.max_catch_up_per_group as usize;
                    let late = plan.late;
                    let kept = plan.cap_late(cap.saturating_sub(spent.fired));
                    spent.fired += kept;
                    if kept < late {
                        spent.capped_slots += late - kept;
                        spent.capped_tasks += 1;
                    }
                }
                let fires = match self.store.record(&task, &plan, paused, now) {
                    Ok(fires) => fires,
                    Err(e) => {
                        link.log(
                            Level::Error,
                            format!("scheduler: recording task {}: {e}", task.id),
                        );
                        return delivery;
                    }
                };
                for fire in fires {
                    // Once the core stops answering, the rest wait for the next round.
                    if delivery == Delivery::Done {
                        delivery = self.deliver(link, &fire);
                    }
                }
                if delivery == Delivery::Gone {
                    return delivery;
                }
            }
            if !full {
                return delivery;
            }
        }
    }

    /// Sends every fire still pending (a crash, a lost answer), oldest first.
    pub fn publish_pending(&self, link: &CoreLink) -> Delivery {
        let fires = match self.store.pending() {
            Ok(fires) => fires,
            Err(e) => {
                link.log(
                    Level::Error,
                    format!("scheduler: reading pending fires: {e}"),
                );
                return Delivery::Later;
            }
        };
        for fire in fires {
            let delivery = self.deliver(link, &fire);
            if delivery != Delivery::Done {
                return delivery;
            }
        }
        Delivery::Done
    }

    /// Sends one recorded fire and marks it by the core's answer.
    fn deliver(&self, link: &CoreLink, fire: &Fire) -> Delivery {
        hold(self.config.test_hold_after_record_ms);
        let verdict =
            publish::verdict(link.publish_acked("task.triggered", &fire.group, payload(fire)));
        if matches!(verdict, Verdict::Published(_) | Verdict::Refused { .. }) {
            hold(self.config.test_hold_after_ack_ms);
        }
        let (state, outcome) = match verdict {
            Verdict::Published(outcome) => ("published", outcome),
            Verdict::Refused { code, generation } => {
                if code == "GROUP_PAUSED" {
                    if let Some(generation) = generation {
                        self.paused.apply(&fire.group, true, generation);
                    }
                } else {
                    link.log(
                        Level::Error,
                        format!(
                            "scheduler: the core refused {} ({code}); skipped",
                            fire.fire_id
                        ),
                    );
                    let _ = link.record(
                        "fire_refused",
                        json!({"task": fire.task_id, "task_group": fire.group,
                               "scheduled_at": utc_of(fire.scheduled_at), "code": code}),
                    );
                }
                ("skipped", code)
            }
            Verdict::Later(why) => {
                link.log(
                    Level::Warn,
                    format!("scheduler: {} stays pending: {why}", fire.fire_id),
                );
                return Delivery::Later;
            }
            Verdict::Gone => return Delivery::Gone,
        };
        let now = self.now().unwrap_or_else(Timestamp::now);
        if let Err(e) = self.store.mark(&fire.fire_id, state, outcome, now) {
            link.log(
                Level::Warn,
                format!("scheduler: marking {}: {e}", fire.fire_id),
            );
        }
        Delivery::Done
    }
}

/// Test hooks: waits `ms` (0: not at all).
fn hold(ms: u32) {
    if ms > 0 {
        std::thread::sleep(Duration::from_millis(u64::from(ms)));
    }
}

/// `seconds` as RFC 3339 UTC.
fn utc_of(seconds: i64) -> String {
    Timestamp::from_second(seconds).map(utc).unwrap_or_default()
}

/// `task.triggered`'s payload for `fire`.
fn payload(fire: &Fire) -> Value {
    let slot = Timestamp::from_second(fire.scheduled_at).unwrap_or(Timestamp::UNIX_EPOCH);
    let local = jiff::tz::db()
        .get(&fire.tz)
        .map(|zone| {
            slot.to_zoned(zone)
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .unwrap_or_else(|_| utc(slot));
    json!({
        "fire_id": fire.fire_id,
        "task": fire.task_id,
        "prompt": fire.prompt,
        "trust": fire.trust.as_str(),
        "scheduled_at": utc(slot),
        "local_time": local,
        "tz": fire.tz,
    })
}
