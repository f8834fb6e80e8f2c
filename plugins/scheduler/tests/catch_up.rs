//! A group's catch-up after downtime is capped, across its tasks.
//!
//! Rule: after downtime (or a sleep of the host) the late slots the tasks of
//! one group fire together are at most `max_catch_up_per_group` (run_once's one
//! and run_all's up to `max_catch_up` alike), oldest-slot tasks first and each
//! task's newest slots first; the rest are recorded skipped (`CAPPED`), as the
//! `skip` policy would, and one `scheduler.catch_up_capped` audit record per
//! group says how many. On-time slots are never capped; each group has a cap
//! of its own.

mod common;

use std::time::Duration;

use common::{config, Home, Plugin};
use serde_json::{json, Value};

fn hourly(name: &str, group: &str, misfire: &str) -> Value {
    json!({"name": name, "group": group, "cron": "0 * * * *", "tz": "UTC",
           "prompt": "p", "misfire": misfire})
}

#[test]
fn a_groups_catch_up_is_capped_and_the_rest_skipped_with_a_record() {
    let mut tasks = vec![hourly("all", "main", "run_all")];
    for n in 0..20 {
        tasks.push(hourly(&format!("once-{n}"), "main", "run_once"));
    }
    // On time at the restart: fires whatever the cap.
    tasks.push(
        json!({"name": "ontime", "group": "main", "cron": "10 12 * * *", "tz": "UTC",
                      "prompt": "p"}),
    );
    tasks.push(hourly("elsewhere", "other", "run_all"));
    let tasks = Value::Array(tasks);
    let settings = json!({"tasks": tasks, "max_catch_up_per_group": 5});
    let home = Home::at("2026-12-03T09:30:00Z");
    let plugin = Plugin::start(&home, config(settings.clone()));
    plugin.kill9();
    // Down from 09:30 to 12:10: 10:00, 11:00 and 12:00 were missed.
    home.set_clock("2026-12-03T12:10:00Z");
    let mut plugin = Plugin::start(&home, config(settings));
    let fires = plugin.fires_within(Duration::from_secs(3));
    let of_group = |group: &str| {
        fires
            .iter()
            .filter(|f| f["group"] == group)
            .map(|f| f["payload"]["fire_id"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    let main = of_group("main");
    assert!(
        main.contains(&"config:ontime@2026-12-03T12:10:00Z".to_owned()),
        "{main:?}"
    );
    assert_eq!(
        main.len(),
        5 + 1,
        "5 late slots and the on-time one: {main:?}"
    );
    // The other group has a cap of its own.
    assert_eq!(of_group("other").len(), 3);
    // Every late slot of main is accounted for: 5 fired, the rest capped.
    let mut outcomes = Vec::new();
    for task in
        std::iter::once("config:all".to_owned()).chain((0..20).map(|n| format!("config:once-{n}")))
    {
        outcomes.extend(home.outcomes(&task));
    }
    let capped = outcomes
        .iter()
        .filter(|(_, state, outcome)| state == "skipped" && outcome.as_deref() == Some("CAPPED"))
        .count();
    let fired = outcomes
        .iter()
        .filter(|(_, state, _)| state == "published")
        .count();
    assert_eq!((fired, capped), (5, 3 + 20 - 5), "{outcomes:?}");
    // One record for the capped group, none for the other.
    let records: Vec<&Value> = plugin
        .records
        .iter()
        .filter(|r| r["kind"] == "catch_up_capped")
        .collect();
    assert_eq!(records.len(), 1, "{:?}", plugin.records);
    let fields = &records[0]["fields"];
    assert_eq!(
        (
            &fields["task_group"],
            &fields["cap"],
            &fields["fired"],
            &fields["skipped_slots"]
        ),
        (&json!("main"), &json!(5), &json!(5), &json!(18)),
        "{fields}"
    );
    // 18 slots of 16 to 18 tasks (which tasks came first is the due order).
    let tasks = fields["skipped_tasks"].as_u64().unwrap_or(0);
    assert!((16..=18).contains(&tasks), "{fields}");
    // Back on time: every task fires its next slot, uncapped.
    home.set_clock("2026-12-03T13:00:00Z");
    let next = plugin.wait_fires(22, Duration::from_secs(10));
    assert_eq!(next.len(), 22, "{next:?}");
}
