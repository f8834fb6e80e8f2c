//! A fire is done only once the core has answered for it, and the scheduler's
//! word on paused groups is the core's newest (issue 16, security review).
//!
//! Rule: a fire stays `pending` until the core acknowledges it (taken now, or
//! `FIRE_TAKEN` before); one the core never answered, because the link broke
//! or the core was busy, is sent again with the same fire id, after a restart
//! or a few seconds later. A refusal for a paused group skips the fire; any
//! other final refusal skips it loudly. `group.paused`/`group.resumed` that
//! arrive out of order never hide a resume: the generation orders them, and
//! the core is asked before a slot is passed over for a pause.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{config, Home, Plugin};
use serde_json::json;

const QUIET: Duration = Duration::from_millis(600);
const FIRE: Duration = Duration::from_secs(10);

fn one_shot(plugin: &mut Plugin, at: &str) {
    plugin.ok(
        "main",
        "owner",
        "schedule_task",
        json!({"at": at, "tz": "UTC", "prompt": "water the plants"}),
    );
}

fn state(home: &Home, task: &str) -> Vec<(String, Option<String>)> {
    home.outcomes(task)
        .into_iter()
        .map(|(_, state, outcome)| (state, outcome))
        .collect()
}

#[test]
fn a_fire_the_core_never_answered_stays_pending_and_is_sent_again_after_a_restart() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    one_shot(&mut plugin, "2026-12-03T10:01:00Z");
    // The core takes the line and never answers (it died, or the link broke).
    plugin.on_publish(|_| None);
    home.set_clock("2026-12-03T10:01:00Z");
    let sent = plugin.wait_fires(1, FIRE);
    assert_eq!(sent.len(), 1);
    assert!(plugin.fires_within(QUIET).is_empty());
    assert_eq!(
        state(&home, "t1"),
        [("pending".to_owned(), None)],
        "marked before the core answered"
    );
    plugin.kill9();
    let mut plugin = Plugin::start(&home, config(json!({})));
    let again = plugin.wait_fires(1, FIRE);
    assert_eq!(again.len(), 1, "not sent again after the restart");
    assert_eq!(
        again[0]["payload"]["fire_id"],
        sent[0]["payload"]["fire_id"]
    );
    assert!(plugin.fires_within(QUIET).is_empty(), "sent a third time");
    assert_eq!(
        state(&home, "t1"),
        [("published".to_owned(), Some("started".to_owned()))]
    );
}

#[test]
fn a_fire_the_core_was_too_busy_for_is_sent_again_without_a_restart() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    one_shot(&mut plugin, "2026-12-03T10:01:00Z");
    let refusals = Rc::new(Cell::new(0));
    let counted = Rc::clone(&refusals);
    plugin.on_publish(move |_| {
        counted.set(counted.get() + 1);
        Some(if counted.get() == 1 {
            Err(json!({"code": "RATE_LIMITED"}))
        } else {
            Ok(())
        })
    });
    home.set_clock("2026-12-03T10:01:00Z");
    let first = plugin.wait_fires(1, FIRE);
    assert_eq!(first.len(), 1);
    assert_eq!(state(&home, "t1"), [("pending".to_owned(), None)]);
    // Sent again within a retry period (and some).
    let again = plugin.wait_fires(1, carapace_plugin_scheduler::RETRY_EVERY * 3);
    assert_eq!(again.len(), 1, "not sent again");
    assert_eq!(
        again[0]["payload"]["fire_id"],
        first[0]["payload"]["fire_id"]
    );
    assert!(plugin.fires_within(QUIET).is_empty());
    assert_eq!(refusals.get(), 2);
    assert_eq!(
        state(&home, "t1"),
        [("published".to_owned(), Some("started".to_owned()))]
    );
}

#[test]
fn a_fire_the_core_took_before_is_published_and_a_final_refusal_is_skipped() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    one_shot(&mut plugin, "2026-12-03T10:01:00Z");
    one_shot(&mut plugin, "2026-12-03T10:02:00Z");
    plugin.on_publish(|params| {
        Some(Err(if params["payload"]["task"] == "t1" {
            json!({"code": "FIRE_TAKEN"})
        } else {
            json!({"code": "NOT_ALLOWED"})
        }))
    });
    home.set_clock("2026-12-03T10:01:00Z");
    assert_eq!(plugin.wait_fires(1, FIRE).len(), 1);
    home.set_clock("2026-12-03T10:02:00Z");
    assert_eq!(plugin.wait_fires(1, FIRE).len(), 1);
    assert!(
        plugin.fires_within(QUIET).is_empty(),
        "a final answer was retried"
    );
    assert_eq!(
        state(&home, "t1"),
        [("published".to_owned(), Some("FIRE_TAKEN".to_owned()))]
    );
    assert_eq!(
        state(&home, "t2"),
        [("skipped".to_owned(), Some("NOT_ALLOWED".to_owned()))]
    );
}

/// Rule: the newest word wins, whatever order it arrives in; and a slot is
/// passed over for a pause only after the core confirmed it.
#[test]
fn a_late_pause_never_hides_a_resume() {
    let home = Home::at("2026-12-03T10:00:30Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    plugin.every_minute("tick");
    // Paused at generation 1, resumed at 2: the resume arrives first.
    plugin.set_paused(&[], 2);
    plugin.group_word("main", false, Some(2));
    plugin.group_word("main", true, Some(1));
    assert!(plugin.fires_within(Duration::from_millis(200)).is_empty());
    home.set_clock("2026-12-03T10:01:00Z");
    assert_eq!(
        plugin.wait_fires(1, FIRE).len(),
        1,
        "the resumed group's fire was skipped"
    );
    // A pause whose resume the plugin has not heard yet: the core is asked
    // before the slot is passed over, and it says the group runs.
    plugin.group_word("main", true, Some(3));
    plugin.set_paused(&[], 4);
    assert!(plugin.fires_within(Duration::from_millis(200)).is_empty());
    let asked = plugin.paused_asked;
    home.set_clock("2026-12-03T10:02:00Z");
    assert_eq!(
        plugin.wait_fires(1, FIRE).len(),
        1,
        "skipped on a stale pause"
    );
    assert_eq!(plugin.paused_asked, asked + 1, "the core was not asked");
    // Without a generation a word cannot be ordered: ignored.
    plugin.group_word("main", true, None);
    assert!(plugin.fires_within(Duration::from_millis(200)).is_empty());
    home.set_clock("2026-12-03T10:03:00Z");
    assert_eq!(plugin.wait_fires(1, FIRE).len(), 1);
    // The answer is marked a moment after it is sent.
    assert!(plugin.fires_within(QUIET).is_empty());
    let outcomes = home.outcomes("t1");
    assert!(
        outcomes.iter().all(|(_, state, _)| state == "published"),
        "{outcomes:?}"
    );
}
