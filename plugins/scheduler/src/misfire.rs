//! Which due slots of a task fire, after the plugin was down (or busy) past them.
//!
//! A slot is on time while `now - slot <= grace` and fires as usual; older ones
//! are late (missed) and the task's policy decides: `skip` fires none of them,
//! `run_once` (the default) fires the newest one once for all, `run_all` fires
//! each, the newest `max_catch_up` of them, oldest first. Pure: no clock, no
//! database. Must never fire a slot later than `now` (nothing early), nor more
//! than `max_catch_up` late ones.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::timing::Timing;

/// Most slots handed back as fired or skipped at once (on-time ones included).
const MAX_ON_TIME: usize = 16;

/// What to do with slots missed while the plugin was down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Misfire {
    /// Fire none of them.
    Skip,
    /// Fire the newest once, for all.
    #[default]
    RunOnce,
    /// Fire each, up to `max_catch_up`.
    RunAll,
}

impl Misfire {
    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Misfire::Skip => "skip",
            Misfire::RunOnce => "run_once",
            Misfire::RunAll => "run_all",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Misfire> {
        match text {
            "skip" => Some(Misfire::Skip),
            "run_once" => Some(Misfire::RunOnce),
            "run_all" => Some(Misfire::RunAll),
            _ => None,
        }
    }
}

/// What happens to a task's due slots now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Slots to fire, oldest first: the late ones (`late` of them) before the on-time ones.
    pub fire: Vec<Timestamp>,
    /// How many of `fire`, from the front, are late (a catch-up).
    pub late: usize,
    /// Late slots the group's catch-up cap passed over ([`Plan::cap_late`]).
    pub capped: Vec<Timestamp>,
    /// Late slots not fired (at most a few are listed; `skipped_more` counts the rest).
    pub skipped: Vec<Timestamp>,
    /// Whether more late slots were skipped than `skipped` lists.
    pub skipped_more: bool,
    /// The next slot after `now`, if any.
    pub next: Option<Timestamp>,
}

/// The plan for a task whose first unhandled slot is `due` (`due <= now`).
pub fn plan(
    timing: &Timing,
    due: Timestamp,
    now: Timestamp,
    policy: Misfire,
    grace: SignedDuration,
    max_catch_up: usize,
) -> Plan {
    // Whole seconds, as the cron crate searches: with a fraction, a slot
    // falling exactly on the grace boundary was neither late nor on time.
    let now = crate::clock::whole_seconds(now).unwrap_or(now);
    let mut plan = Plan {
        next: timing.next_after(now),
        ..Plan::default()
    };
    if due > now {
        plan.next = Some(due);
        return plan;
    }
    let late_before = now.checked_sub(grace).unwrap_or(now);
    // On time: in [max(due, late_before), now].
    let first_on_time = if due >= late_before {
        Some(due)
    } else {
        timing
            .next_after(
                late_before
                    .checked_sub(SignedDuration::from_secs(1))
                    .unwrap_or(late_before),
            )
            .filter(|slot| *slot >= late_before)
    };
    let on_time: Vec<Timestamp> = match first_on_time {
        Some(first) if first <= now => {
            let mut slots = vec![first];
            slots.extend(timing.slots(first, now, MAX_ON_TIME - 1));
            slots
        }
        _ => Vec::new(),
    };
    // Late: in [due, late_before), newest first, as many as the policy could use.
    let wanted = match policy {
        Misfire::Skip | Misfire::RunOnce => 1,
        Misfire::RunAll => max_catch_up,
    };
    let mut late = Vec::new();
    if due < late_before {
        let mut cursor = late_before;
        while late.len() < wanted + 1 {
            match timing.previous_before(cursor) {
                Some(slot) if slot >= due => {
                    late.push(slot);
                    cursor = slot;
                }
                _ => break,
            }
        }
    }
    let more_late = late.len() > wanted;
    late.truncate(wanted);
    late.reverse();
    match policy {
        Misfire::Skip => {
            plan.skipped = late;
            plan.skipped_more = more_late;
        }
        Misfire::RunOnce => {
            plan.fire.extend(late.last().copied());
            plan.skipped_more = more_late;
        }
        Misfire::RunAll => {
            plan.fire.extend(late);
            plan.skipped_more = more_late;
        }
    }
    plan.late = plan.fire.len();
    plan.fire.extend(on_time);
    plan
}

impl Plan {
    /// Keeps at most `left` of the late slots to fire (the newest), moving the
    /// older rest to `capped`; on-time slots are never capped. Answers how many
    /// late slots still fire.
    pub fn cap_late(&mut self, left: usize) -> usize {
        let over = self.late.saturating_sub(left);
        self.capped.extend(self.fire.drain(..over));
        self.late -= over;
        self.late
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn hourly() -> Timing {
        Timing::parse(Some("0 * * * *"), None, "UTC").expect("timing")
    }

    const GRACE: SignedDuration = SignedDuration::from_secs(60);

    #[test]
    fn a_fraction_of_a_second_never_drops_a_slot() {
        for policy in [Misfire::Skip, Misfire::RunOnce, Misfire::RunAll] {
            let plan = plan(
                &hourly(),
                ts("2026-12-03T10:00:00Z"),
                ts("2026-12-03T10:00:00.5Z"),
                policy,
                SignedDuration::ZERO,
                10,
            );
            assert_eq!(plan.fire, [ts("2026-12-03T10:00:00Z")], "{policy:?}");
            let minutely = Timing::parse(Some("* * * * *"), None, "UTC").expect("timing");
            let plan = plan_of(&minutely, policy);
            assert!(
                plan.fire.contains(&ts("2026-12-03T10:05:00Z")),
                "{policy:?}: {:?}",
                plan.fire
            );
        }
    }

    fn plan_of(timing: &Timing, policy: Misfire) -> Plan {
        plan(
            timing,
            ts("2026-12-03T10:00:00Z"),
            ts("2026-12-03T10:05:00.3Z"),
            policy,
            GRACE,
            10,
        )
    }

    #[test]
    fn three_missed_slots_under_each_policy() {
        // Down from 09:30 to 12:10: 10:00, 11:00 and 12:00 were missed.
        let (due, now) = (ts("2026-12-03T10:00:00Z"), ts("2026-12-03T12:10:00Z"));
        let skip = plan(&hourly(), due, now, Misfire::Skip, GRACE, 10);
        assert!(skip.fire.is_empty());
        assert_eq!(skip.next, Some(ts("2026-12-03T13:00:00Z")));
        let once = plan(&hourly(), due, now, Misfire::RunOnce, GRACE, 10);
        assert_eq!(once.fire, [ts("2026-12-03T12:00:00Z")]);
        let all = plan(&hourly(), due, now, Misfire::RunAll, GRACE, 10);
        assert_eq!(
            all.fire,
            [
                ts("2026-12-03T10:00:00Z"),
                ts("2026-12-03T11:00:00Z"),
                ts("2026-12-03T12:00:00Z")
            ]
        );
        let capped = plan(&hourly(), due, now, Misfire::RunAll, GRACE, 2);
        assert_eq!(
            capped.fire,
            [ts("2026-12-03T11:00:00Z"), ts("2026-12-03T12:00:00Z")]
        );
        assert!(capped.skipped_more);
        assert_eq!(all.next, Some(ts("2026-12-03T13:00:00Z")));
    }

    #[test]
    fn a_cap_keeps_the_newest_late_slots_and_every_on_time_one() {
        // Late: 10:00, 11:00, 12:00 (run_all); on time: 12:05 and 12:06 (minutely task).
        let minutely = Timing::parse(Some("0 10-12 * * *"), None, "UTC").expect("timing");
        let mut all = plan(
            &minutely,
            ts("2026-12-03T10:00:00Z"),
            ts("2026-12-03T12:10:00Z"),
            Misfire::RunAll,
            GRACE,
            10,
        );
        assert_eq!(all.late, 3);
        assert_eq!(all.cap_late(2), 2);
        assert_eq!(
            all.fire,
            [ts("2026-12-03T11:00:00Z"), ts("2026-12-03T12:00:00Z")]
        );
        assert_eq!(all.capped, [ts("2026-12-03T10:00:00Z")]);
        let mut on_time = plan(
            &hourly(),
            ts("2026-12-03T12:00:00Z"),
            ts("2026-12-03T12:00:30Z"),
            Misfire::RunAll,
            GRACE,
            10,
        );
        assert_eq!(on_time.cap_late(0), 0);
        assert_eq!(on_time.fire, [ts("2026-12-03T12:00:00Z")]);
        assert!(on_time.capped.is_empty());
    }

    #[test]
    fn an_on_time_slot_fires_whatever_the_policy_and_nothing_fires_early() {
        let due = ts("2026-12-03T10:00:00Z");
        for policy in [Misfire::Skip, Misfire::RunOnce, Misfire::RunAll] {
            let on_time = plan(
                &hourly(),
                due,
                ts("2026-12-03T10:00:30Z"),
                policy,
                GRACE,
                10,
            );
            assert_eq!(on_time.fire, [due], "{policy:?}");
            let early = plan(
                &hourly(),
                due,
                ts("2026-12-03T09:59:59Z"),
                policy,
                GRACE,
                10,
            );
            assert!(early.fire.is_empty(), "{policy:?}");
            assert_eq!(early.next, Some(due));
        }
    }
}
