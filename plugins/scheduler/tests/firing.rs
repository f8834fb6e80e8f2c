//! The real plugin process, its real SQLite file, and the test clock: when a
//! task fires, how often, and what a crash or downtime does.
//!
//! Rule: a slot fires once, never before its instant; a fire recorded before a
//! crash is published again after it with the same fire id (the core takes
//! each fire id once: tests/task_fires.rs at the workspace root); slots missed
//! while down follow the task's misfire policy; a paused task or group fires
//! nothing; a task fires with the trust of the session that made it.

mod common;

use std::time::Duration;

use common::{config, slot, Home, Plugin};
use serde_json::json;

const QUIET: Duration = Duration::from_millis(600);
const FIRE: Duration = Duration::from_secs(10);

#[test]
fn a_task_a_few_seconds_ahead_fires_once_and_not_early() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    let made = plugin.ok(
        "main",
        "owner",
        "schedule_task",
        json!({"at": "2026-12-03T10:00:05Z", "tz": "Europe/Berlin", "prompt": "check the oven"}),
    );
    assert_eq!(made["task"]["id"], "t1");
    assert_eq!(made["next"][0]["local"], "2026-12-03T11:00:05+01:00");
    home.set_clock("2026-12-03T10:00:04Z");
    assert!(plugin.fires_within(QUIET).is_empty(), "fired early");
    home.set_clock("2026-12-03T10:00:05Z");
    let fires = plugin.wait_fires(1, FIRE);
    assert_eq!(fires.len(), 1, "{fires:?}");
    let fire = &fires[0];
    assert_eq!(fire["topic"], "task.triggered");
    assert_eq!(fire["group"], "main");
    assert_eq!(
        fire["payload"],
        json!({"fire_id": "t1@2026-12-03T10:00:05Z", "task": "t1", "prompt": "check the oven",
               "trust": "owner", "scheduled_at": "2026-12-03T10:00:05Z",
               "local_time": "2026-12-03T11:00:05+01:00", "tz": "Europe/Berlin"})
    );
    home.set_clock("2026-12-03T12:00:00Z");
    assert!(plugin.fires_within(QUIET).is_empty(), "fired twice");
    assert_eq!(
        home.fires("t1"),
        [("t1@2026-12-03T10:00:05Z".to_owned(), "published".to_owned())]
    );
}

#[test]
fn a_restart_does_not_fire_early() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    plugin.ok(
        "main",
        "owner",
        "schedule_task",
        json!({"cron": "30 10 * * *", "tz": "UTC", "prompt": "stand-up notes"}),
    );
    plugin.kill9();
    home.set_clock("2026-12-03T10:29:59Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    assert!(
        plugin.fires_within(QUIET).is_empty(),
        "a restart fired early"
    );
    home.set_clock("2026-12-03T10:30:00Z");
    let fires = plugin.wait_fires(1, FIRE);
    assert_eq!(fires.len(), 1);
    assert_eq!(
        slot(&fires[0]),
        ("t1".into(), "2026-12-03T10:30:00Z".into())
    );
}

#[test]
fn killed_between_recording_and_publishing_the_fire_is_published_again_with_its_id() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let hold = config(json!({"test_hold_after_record_ms": 5000}));
    let mut plugin = Plugin::start(&home, hold);
    plugin.ok(
        "main",
        "owner",
        "schedule_task",
        json!({"at": "2026-12-03T10:01:00Z", "tz": "UTC", "prompt": "water the plants"}),
    );
    home.set_clock("2026-12-03T10:01:00Z");
    // Recorded (committed), not yet published: now the kill.
    let deadline = std::time::Instant::now() + FIRE;
    while home.fires("t1").is_empty() {
        assert!(std::time::Instant::now() < deadline, "never recorded");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        home.fires("t1"),
        [("t1@2026-12-03T10:01:00Z".to_owned(), "pending".to_owned())]
    );
    assert!(plugin.fires_within(Duration::from_millis(100)).is_empty());
    plugin.kill9();
    let mut plugin = Plugin::start(&home, config(json!({})));
    let fires = plugin.wait_fires(1, FIRE);
    assert_eq!(fires.len(), 1, "{fires:?}");
    assert_eq!(fires[0]["payload"]["fire_id"], "t1@2026-12-03T10:01:00Z");
    home.set_clock("2026-12-03T11:00:00Z");
    assert!(
        plugin.fires_within(QUIET).is_empty(),
        "published a third time"
    );
    assert_eq!(
        home.fires("t1"),
        [("t1@2026-12-03T10:01:00Z".to_owned(), "published".to_owned())]
    );
}

/// Starts the plugin with the config `tasks` and `max_catch_up`; it and the
/// slots it fired in its first two seconds, sorted.
fn restart_after_downtime(
    home: &Home,
    tasks: &serde_json::Value,
    max_catch_up: u32,
) -> (Plugin, Vec<(String, String)>) {
    let mut plugin = Plugin::start(
        home,
        config(json!({"tasks": tasks, "max_catch_up": max_catch_up})),
    );
    let mut fires: Vec<(String, String)> = plugin
        .fires_within(Duration::from_secs(2))
        .iter()
        .map(slot)
        .collect();
    fires.sort();
    (plugin, fires)
}

#[test]
fn downtime_over_three_slots_under_each_misfire_policy() {
    let tasks = json!([
        {"name": "skip", "group": "main", "cron": "0 * * * *", "tz": "UTC", "prompt": "p", "misfire": "skip"},
        {"name": "once", "group": "main", "cron": "0 * * * *", "tz": "UTC", "prompt": "p", "misfire": "run_once"},
        {"name": "all", "group": "main", "cron": "0 * * * *", "tz": "UTC", "prompt": "p", "misfire": "run_all"},
        {"name": "capped", "group": "main", "cron": "0 * * * *", "tz": "UTC", "prompt": "p", "misfire": "run_all"}
    ]);
    let home = Home::at("2026-12-03T09:30:00Z");
    let plugin = Plugin::start(&home, config(json!({"tasks": tasks})));
    plugin.kill9();
    // Down from 09:30 to 12:10: the slots 10:00, 11:00 and 12:00 were missed.
    home.set_clock("2026-12-03T12:10:00Z");
    let (plugin, fires) = restart_after_downtime(&home, &tasks, 10);
    let at = |task: &str, hour: u32| {
        (
            format!("config:{task}"),
            format!("2026-12-03T{hour}:00:00Z"),
        )
    };
    assert_eq!(
        fires,
        [
            at("all", 10),
            at("all", 11),
            at("all", 12),
            at("capped", 10),
            at("capped", 11),
            at("capped", 12),
            at("once", 12)
        ]
    );
    assert_eq!(
        home.fires("config:skip")
            .iter()
            .filter(|(_, s)| s == "published")
            .count(),
        0
    );
    plugin.kill9();
    // Down again over three slots, with a catch-up limit of 2.
    home.set_clock("2026-12-03T15:05:00Z");
    let (mut plugin, fires) = restart_after_downtime(&home, &tasks, 2);
    assert_eq!(
        fires,
        [
            at("all", 14),
            at("all", 15),
            at("capped", 14),
            at("capped", 15),
            at("once", 15)
        ]
    );
    // Back on time: each fires its next slot, whatever its policy.
    home.set_clock("2026-12-03T16:00:00Z");
    let fires = plugin.wait_fires(4, FIRE);
    assert_eq!(fires.len(), 4, "{fires:?}");
}

#[test]
fn config_tasks_fire_as_the_owners_and_are_read_only() {
    let tasks = json!([{"name": "digest", "group": "main", "cron": "0 8 * * *",
                        "tz": "Europe/Berlin", "prompt": "morning digest"}]);
    let home = Home::at("2026-12-03T06:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({"tasks": tasks})));
    let listed = plugin.ok("main", "owner", "list_tasks", json!({}));
    assert_eq!(listed["tasks"][0]["id"], "config:digest");
    assert_eq!(listed["tasks"][0]["source"], "config");
    assert_eq!(
        listed["tasks"][0]["next"]["local"],
        "2026-12-03T08:00:00+01:00"
    );
    for tool in ["cancel_task", "pause_task", "resume_task"] {
        let error = plugin.call("main", "owner", tool, json!({"id": "config:digest"}));
        assert_eq!(
            error["error"]["data"]["code"], "VALIDATION_FAILED",
            "{error}"
        );
        assert_eq!(error["error"]["data"]["field"], "id", "{error}");
    }
    assert!(
        plugin.ok("other", "owner", "list_tasks", json!({}))["tasks"]
            .as_array()
            .expect("tasks")
            .is_empty()
    );
    home.set_clock("2026-12-03T07:00:00Z");
    let fires = plugin.wait_fires(1, FIRE);
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0]["payload"]["task"], "config:digest");
    assert_eq!(fires[0]["payload"]["trust"], "owner");
    // Removed from the config: cancelled, fires no more.
    plugin.shutdown();
    let mut plugin = Plugin::start(&home, config(json!({})));
    home.set_clock("2026-12-04T07:00:00Z");
    assert!(plugin.fires_within(QUIET).is_empty());
    assert!(plugin.ok("main", "owner", "list_tasks", json!({}))["tasks"]
        .as_array()
        .expect("tasks")
        .is_empty());
}

#[test]
fn cancel_and_pause_stop_firing_and_resume_starts_from_now() {
    let home = Home::at("2026-12-03T10:00:30Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    plugin.every_minute("tick");
    plugin.every_minute("tock");
    plugin.ok("main", "owner", "pause_task", json!({"id": "t1"}));
    plugin.ok("main", "owner", "cancel_task", json!({"id": "t2"}));
    home.set_clock("2026-12-03T10:05:00Z");
    assert!(
        plugin.fires_within(QUIET).is_empty(),
        "a paused or cancelled task fired"
    );
    let resumed = plugin.ok("main", "owner", "resume_task", json!({"id": "t1"}));
    assert_eq!(
        resumed["task"]["next"]["utc"], "2026-12-03T10:06:00Z",
        "{resumed}"
    );
    home.set_clock("2026-12-03T10:06:00Z");
    let fires = plugin.wait_fires(1, FIRE);
    assert_eq!(
        fires.iter().map(slot).collect::<Vec<_>>(),
        [("t1".into(), "2026-12-03T10:06:00Z".into())]
    );
    let error = plugin.call("main", "owner", "resume_task", json!({"id": "t2"}));
    assert_eq!(
        error["error"]["data"]["field"], "id",
        "a cancelled task stays cancelled"
    );
    let error = plugin.call("other", "owner", "cancel_task", json!({"id": "t1"}));
    assert_eq!(
        error["error"]["data"]["field"], "id",
        "another group's task is not found"
    );
}

#[test]
fn a_paused_group_fires_nothing_until_resumed() {
    let home = Home::at("2026-12-03T10:00:30Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    plugin.every_minute("tick");
    plugin.set_paused(&["main"], 1);
    plugin.group_word("main", true, Some(1));
    assert!(plugin.fires_within(Duration::from_millis(200)).is_empty());
    home.set_clock("2026-12-03T10:01:00Z");
    assert!(
        plugin.fires_within(QUIET).is_empty(),
        "a paused group's task fired"
    );
    assert_eq!(
        home.outcomes("t1"),
        [(
            "t1@2026-12-03T10:01:00Z".to_owned(),
            "skipped".to_owned(),
            Some("PAUSED".to_owned())
        )]
    );
    plugin.set_paused(&[], 2);
    plugin.group_word("main", false, Some(2));
    assert!(plugin.fires_within(Duration::from_millis(200)).is_empty());
    home.set_clock("2026-12-03T10:02:00Z");
    assert_eq!(plugin.wait_fires(1, FIRE).len(), 1);
    // A pause the plugin did not hear of: the core refuses the fire; it is
    // skipped (never marked published), and the group is paused here too.
    plugin.set_paused(&["main"], 3);
    plugin.on_publish(|_| Some(Err(json!({"code": "GROUP_PAUSED", "generation": 3}))));
    home.set_clock("2026-12-03T10:03:00Z");
    assert_eq!(plugin.wait_fires(1, FIRE).len(), 1, "sent, and refused");
    home.set_clock("2026-12-03T10:04:00Z");
    assert!(
        plugin.fires_within(QUIET).is_empty(),
        "a group the core said is paused was sent to again"
    );
    let outcomes = home.outcomes("t1");
    assert_eq!(
        outcomes[2..],
        [
            (
                "t1@2026-12-03T10:03:00Z".to_owned(),
                "skipped".to_owned(),
                Some("GROUP_PAUSED".to_owned())
            ),
            (
                "t1@2026-12-03T10:04:00Z".to_owned(),
                "skipped".to_owned(),
                Some("PAUSED".to_owned())
            )
        ],
        "{outcomes:?}"
    );
}

#[test]
fn a_task_made_by_an_unknown_session_fires_as_unknown_and_the_owners_are_safe_from_it() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    plugin.ok(
        "main",
        "owner",
        "schedule_task",
        json!({"cron": "0 12 * * *", "tz": "UTC", "prompt": "owner's"}),
    );
    let made = plugin.ok(
        "main",
        "unknown",
        "schedule_task",
        json!({"at": "2026-12-03T10:00:10Z", "tz": "UTC", "prompt": "stranger's"}),
    );
    assert_eq!(made["task"]["trust"], "unknown");
    home.set_clock("2026-12-03T10:00:10Z");
    let fires = plugin.wait_fires(1, FIRE);
    assert_eq!(fires[0]["payload"]["trust"], "unknown");
    assert_eq!(fires[0]["payload"]["task"], "t2");
    for tool in ["cancel_task", "pause_task"] {
        let error = plugin.call("main", "unknown", tool, json!({"id": "t1"}));
        assert_eq!(error["error"]["data"]["field"], "id", "{error}");
        let error = plugin.call("main", "contact", tool, json!({"id": "t1"}));
        assert_eq!(error["error"]["data"]["field"], "id", "{error}");
    }
    // Trust comes from the envelope, never from arguments.
    let error = plugin.call(
        "main",
        "unknown",
        "schedule_task",
        json!({"at": "2026-12-03T11:00:00Z", "tz": "UTC", "prompt": "x", "trust": "owner"}),
    );
    assert!(error.get("error").is_some(), "{error}");
}

#[test]
fn bad_inputs_are_refused_naming_the_field() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    for (arguments, field) in [
        (
            json!({"cron": "* * * * * *", "tz": "UTC", "prompt": "p"}),
            "cron",
        ),
        (
            json!({"cron": "not cron", "tz": "UTC", "prompt": "p"}),
            "cron",
        ),
        (
            json!({"cron": "0 0 30 2 *", "tz": "UTC", "prompt": "p"}),
            "cron",
        ),
        (
            json!({"cron": "* * * * *", "tz": "Mars/Olympus", "prompt": "p"}),
            "tz",
        ),
        (
            json!({"at": "2026-12-03T09:59:59Z", "tz": "UTC", "prompt": "p"}),
            "at",
        ),
        (
            json!({"at": "next tuesday", "tz": "UTC", "prompt": "p"}),
            "at",
        ),
        (
            json!({"cron": "* * * * *", "at": "2026-12-04T10:00:00Z", "tz": "UTC", "prompt": "p"}),
            "cron",
        ),
        (json!({"tz": "UTC", "prompt": "p"}), "cron"),
        (
            json!({"cron": "* * * * *", "tz": "UTC", "prompt": "   "}),
            "prompt",
        ),
    ] {
        let answer = plugin.call("main", "owner", "schedule_task", arguments.clone());
        assert_eq!(
            answer["error"]["data"]["code"], "VALIDATION_FAILED",
            "{arguments}: {answer}"
        );
        assert_eq!(
            answer["error"]["data"]["field"], field,
            "{arguments}: {answer}"
        );
    }
    let answer = plugin.call("main", "owner", "upcoming_tasks", json!({"hours": 0}));
    assert_eq!(answer["error"]["data"]["field"], "hours", "{answer}");
}

#[test]
fn upcoming_tasks_lists_the_next_fires_with_local_times() {
    let home = Home::at("2026-03-28T12:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    plugin.ok(
        "main",
        "owner",
        "schedule_task",
        json!({"cron": "30 2 * * *", "tz": "Europe/Berlin", "prompt": "night job"}),
    );
    let upcoming = plugin.ok("main", "owner", "upcoming_tasks", json!({"hours": 48}));
    let fires: Vec<(String, String)> = upcoming["fires"]
        .as_array()
        .expect("fires")
        .iter()
        .map(|f| {
            (
                f["utc"].as_str().unwrap_or("").to_owned(),
                f["local"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    // 02:30 does not exist on 29 March in Berlin: it runs at 03:00 (+02:00).
    assert_eq!(
        fires,
        [
            (
                "2026-03-29T01:00:00Z".to_owned(),
                "2026-03-29T03:00:00+02:00".to_owned()
            ),
            (
                "2026-03-30T00:30:00Z".to_owned(),
                "2026-03-30T02:30:00+02:00".to_owned()
            ),
        ]
    );
}

#[test]
fn a_database_from_a_newer_plugin_or_another_program_is_refused_untouched() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let plugin = Plugin::start(&home, config(json!({})));
    plugin.shutdown();
    let file = home.path().join("scheduler.sqlite");
    {
        let conn = rusqlite::Connection::open(&file).expect("open");
        conn.pragma_update(None, "user_version", 99)
            .expect("version");
    }
    let before = std::fs::read(&file).expect("read");
    let (_plugin, answer) = Plugin::try_start(&home, config(json!({})));
    assert_eq!(
        answer["error"]["data"]["category"], "CONFIG_ERROR",
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("newer"),
        "{answer}"
    );
    assert_eq!(
        std::fs::read(&file).expect("read"),
        before,
        "the file was changed"
    );
    let other = Home::at("2026-12-03T10:00:00Z");
    {
        let conn = rusqlite::Connection::open(other.path().join("scheduler.sqlite")).expect("open");
        conn.execute_batch("CREATE TABLE notes (x TEXT)")
            .expect("table");
    }
    let (_plugin, answer) = Plugin::try_start(&other, config(json!({})));
    assert_eq!(
        answer["error"]["data"]["category"], "CONFIG_ERROR",
        "{answer}"
    );
}

/// Rule: a session that is not the owner's sees and changes only the tasks it
/// made itself: never the owner's prompts, never another sender's tasks.
#[test]
fn an_untrusted_session_sees_only_its_own_tasks() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    let secret = "forward my unread mail to the accountant";
    plugin.ok(
        "main",
        "owner",
        "schedule_task",
        json!({"cron": "0 12 * * *", "tz": "UTC", "prompt": secret}),
    );
    plugin.ok(
        "main",
        "unknown",
        "schedule_task",
        json!({"cron": "0 13 * * *", "tz": "UTC", "prompt": "stranger's own"}),
    );
    let theirs = plugin.ok("main", "unknown", "list_tasks", json!({}));
    let shown = theirs.to_string();
    assert!(
        !shown.contains(secret),
        "the owner's prompt leaked: {shown}"
    );
    assert_eq!(theirs["tasks"].as_array().map(Vec::len), Some(1), "{shown}");
    let upcoming = plugin.ok("main", "unknown", "upcoming_tasks", json!({"hours": 24}));
    assert!(!upcoming.to_string().contains(secret), "{upcoming}");
    // Another untrusted sender sees neither, and cannot touch the stranger's task.
    let other = plugin.ok("main", "contact", "list_tasks", json!({}));
    assert_eq!(other["tasks"].as_array().map(Vec::len), Some(0), "{other}");
    let error = plugin.call("main", "contact", "pause_task", json!({"id": "t2"}));
    assert_eq!(error["error"]["data"]["field"], "id", "{error}");
    // The owner sees both.
    let all = plugin.ok("main", "owner", "list_tasks", json!({}));
    assert_eq!(all["tasks"].as_array().map(Vec::len), Some(2));
}
