//! The test hooks (`test_clock`, `test_hold_after_record_ms`,
//! `test_hold_after_ack_ms`) are the person's config only, and loud.
//!
//! Rule: a plugin started with any hook on says so at start, in the core's
//! log (a warning naming the hooks) and as a `scheduler.test_hooks` audit
//! record; one without says nothing. No tool argument reaches a hook: every
//! argument schema is closed and names none, and a call that tries is refused
//! without effect. (The clock file lives in the plugin's data dir, which no
//! container mounts: `agent::mounts::tests::no_mount_reaches_a_plugins_data_dir`.)

mod common;

use std::time::Duration;

use common::{config, Home, Plugin};
use serde_json::{json, Value};

#[test]
fn hooks_set_in_the_config_are_announced_at_start() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({"test_hold_after_ack_ms": 5})));
    plugin.fires_within(Duration::from_millis(500));
    let warned: Vec<&(String, String)> = plugin
        .logs
        .iter()
        .filter(|(level, message)| level == "warn" && message.contains("TEST HOOKS ARE ON"))
        .collect();
    assert_eq!(warned.len(), 1, "{:?}", plugin.logs);
    assert!(
        warned[0].1.contains("test_clock") && warned[0].1.contains("test_hold_after_ack_ms"),
        "{warned:?}"
    );
    let records: Vec<&Value> = plugin
        .records
        .iter()
        .filter(|r| r["kind"] == "test_hooks")
        .collect();
    assert_eq!(records.len(), 1, "{:?}", plugin.records);
    assert_eq!(
        records[0]["fields"],
        json!({"test_clock": true, "test_hold_after_record_ms": 0, "test_hold_after_ack_ms": 5})
    );
}

#[test]
fn a_plugin_without_hooks_says_nothing_of_them() {
    let home = Home::at("2026-12-03T10:00:00Z");
    // The system clock: no hook at all.
    let mut plugin = Plugin::start(&home, json!({}));
    plugin.fires_within(Duration::from_millis(500));
    assert!(
        !plugin.logs.iter().any(|(_, m)| m.contains("TEST HOOKS")),
        "{:?}",
        plugin.logs
    );
    assert!(plugin.records.iter().all(|r| r["kind"] != "test_hooks"));
}

#[test]
fn no_tool_argument_reaches_a_hook() {
    let manifest: Value = serde_json::from_str(include_str!("../manifest.json")).expect("manifest");
    for tool in manifest["provides"]["tools"].as_array().expect("tools") {
        let schema = &tool["arguments_schema"];
        assert_eq!(schema["additionalProperties"], false, "{}", tool["name"]);
        let names: Vec<&String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        assert!(
            names.iter().all(|name| !name.starts_with("test_")),
            "{}: {names:?}",
            tool["name"]
        );
    }
    // Past the core's schema check, the plugin refuses them too, and nothing changes.
    let home = Home::at("2026-12-03T10:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    for (tool, arguments) in [
        (
            "schedule_task",
            json!({"at": "2026-12-03T10:00:05Z", "tz": "UTC", "prompt": "p", "test_clock": false}),
        ),
        ("list_tasks", json!({"test_hold_after_record_ms": 60000})),
        (
            "upcoming_tasks",
            json!({"hours": 1, "test_hold_after_ack_ms": 1}),
        ),
        ("cancel_task", json!({"id": "t1", "test_clock": true})),
    ] {
        let answer = plugin.call("main", "owner", tool, arguments.clone());
        assert!(
            answer.get("error").is_some(),
            "{tool} {arguments}: {answer}"
        );
    }
    assert!(plugin.ok("main", "owner", "list_tasks", json!({}))["tasks"]
        .as_array()
        .expect("tasks")
        .is_empty());
}
