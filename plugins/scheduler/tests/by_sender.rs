//! Who sees and changes which task, by the sender that made it (schema v2).
//!
//! Rule: the owner's sessions see and change every task of the group. Any
//! other session sees and changes only the tasks its own sender made: the same
//! origin kind, plugin and sender, in this or any earlier session of the same
//! group. A session without a sender (an opened one) sees only the tasks that
//! very session made. Never the owner's tasks, never another sender's, never
//! those of the same sender string from another plugin, never another group's:
//! a task it may not see is answered as if it did not exist.

mod common;

use common::{config, Home, Plugin};
use serde_json::{json, Value};

fn by(plugin: &str, sender: &str, trust: &str) -> Value {
    json!({"kind": "message", "plugin": plugin, "sender": sender, "trust": trust})
}

fn opened(trust: &str) -> Value {
    json!({"kind": "open", "plugin": null, "sender": null, "trust": trust})
}

fn make(plugin: &mut Plugin, session: &str, origin: Value, prompt: &str) -> String {
    let made = plugin.call_as(
        "main",
        session,
        origin,
        "schedule_task",
        json!({"cron": "0 12 * * *", "tz": "UTC", "prompt": prompt}),
    );
    made["result"]["task"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("schedule_task: {made}"))
        .to_owned()
}

/// The ids `list_tasks` shows `origin` in `session` of `group`.
fn seen(plugin: &mut Plugin, group: &str, session: &str, origin: Value) -> Vec<String> {
    let listed = plugin.call_as(group, session, origin.clone(), "list_tasks", json!({}));
    let upcoming = plugin.call_as(
        group,
        session,
        origin,
        "upcoming_tasks",
        json!({"hours": 48}),
    );
    let mut ids: Vec<String> = listed["result"]["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("list_tasks: {listed}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap_or("").to_owned())
        .collect();
    let mut upcoming_ids: Vec<String> = upcoming["result"]["fires"]
        .as_array()
        .unwrap_or_else(|| panic!("upcoming_tasks: {upcoming}"))
        .iter()
        .map(|f| f["task"].as_str().unwrap_or("").to_owned())
        .collect();
    ids.sort();
    upcoming_ids.sort();
    upcoming_ids.dedup();
    assert_eq!(ids, upcoming_ids, "list and upcoming agree");
    ids
}

fn refused_as_unknown(answer: &Value) -> bool {
    answer["error"]["data"]["code"] == "VALIDATION_FAILED"
        && answer["error"]["data"]["field"] == "id"
        && answer["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("no task")
}

#[test]
fn a_sender_finds_its_own_tasks_in_a_later_session_and_nobody_elses() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    let owners = make(&mut plugin, "s-owner", opened("owner"), "owner's");
    let alices = make(
        &mut plugin,
        "s-alice-1",
        by("telegram", "alice", "unknown"),
        "alice's",
    );
    let bobs = make(
        &mut plugin,
        "s-bob-1",
        by("telegram", "bob", "unknown"),
        "bob's",
    );
    // The same sender string through another plugin is another person.
    let mail_alices = make(
        &mut plugin,
        "s-mail-1",
        by("email", "alice", "unknown"),
        "mail alice's",
    );
    let carols = make(
        &mut plugin,
        "s-carol-1",
        by("telegram", "carol", "contact"),
        "carol's",
    );

    // Alice, in a later session: her task, and only hers.
    let alice = by("telegram", "alice", "unknown");
    assert_eq!(
        seen(&mut plugin, "main", "s-alice-2", alice.clone()),
        [alices.as_str()]
    );
    assert_eq!(
        seen(
            &mut plugin,
            "main",
            "s-bob-2",
            by("telegram", "bob", "unknown")
        ),
        [bobs.as_str()]
    );
    assert_eq!(
        seen(
            &mut plugin,
            "main",
            "s-mail-2",
            by("email", "alice", "unknown")
        ),
        [mail_alices.as_str()]
    );
    assert_eq!(
        seen(
            &mut plugin,
            "main",
            "s-carol-2",
            by("telegram", "carol", "contact")
        ),
        [carols.as_str()]
    );
    // Another group is another place: nothing there.
    assert!(seen(&mut plugin, "other", "s-alice-3", alice.clone()).is_empty());
    // The owner sees them all.
    let mut all = vec![
        owners.clone(),
        alices.clone(),
        bobs.clone(),
        mail_alices.clone(),
        carols.clone(),
    ];
    all.sort();
    assert_eq!(seen(&mut plugin, "main", "s-owner-2", opened("owner")), all);

    // Alice changes her own task from the later session.
    for tool in ["pause_task", "resume_task"] {
        let answer = plugin.call_as(
            "main",
            "s-alice-2",
            alice.clone(),
            tool,
            json!({"id": alices}),
        );
        assert!(answer.get("result").is_some(), "{tool}: {answer}");
    }
    // ... and nobody else's: as if they did not exist.
    let strangers = [
        (
            "s-alice-2",
            alice.clone(),
            vec![&owners, &bobs, &mail_alices, &carols],
        ),
        (
            "s-bob-2",
            by("telegram", "bob", "unknown"),
            vec![&owners, &alices, &mail_alices, &carols],
        ),
        (
            "s-mail-2",
            by("email", "alice", "unknown"),
            vec![&owners, &alices, &bobs, &carols],
        ),
        (
            "s-carol-2",
            by("telegram", "carol", "contact"),
            vec![&owners, &alices, &bobs, &mail_alices],
        ),
    ];
    for (session, origin, others) in &strangers {
        for id in others {
            for tool in ["cancel_task", "pause_task", "resume_task"] {
                let answer =
                    plugin.call_as("main", session, origin.clone(), tool, json!({"id": id}));
                assert!(
                    refused_as_unknown(&answer),
                    "{session} {tool} {id}: {answer}"
                );
            }
        }
    }
    // A sender in another group cannot reach its own group's task from there.
    let answer = plugin.call_as(
        "other",
        "s-alice-3",
        alice.clone(),
        "cancel_task",
        json!({"id": alices}),
    );
    assert!(refused_as_unknown(&answer), "{answer}");
    // Nothing above changed anyone's task.
    let states: Vec<(String, String)> = plugin.ok("main", "owner", "list_tasks", json!({}))
        ["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap_or("").to_owned(),
                t["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        states.iter().all(|(_, state)| state == "active"),
        "{states:?}"
    );
    // Alice cancels hers; it is gone for her and for the owner's list of active tasks.
    let answer = plugin.call_as(
        "main",
        "s-alice-4",
        alice.clone(),
        "cancel_task",
        json!({"id": alices}),
    );
    assert!(answer.get("result").is_some(), "{answer}");
    assert!(seen(&mut plugin, "main", "s-alice-5", alice).is_empty());
}

#[test]
fn a_session_without_a_sender_sees_only_what_it_made_itself() {
    let home = Home::at("2026-12-03T10:00:00Z");
    let mut plugin = Plugin::start(&home, config(json!({})));
    let first = make(&mut plugin, "s-x", opened("unknown"), "x's");
    assert_eq!(
        seen(&mut plugin, "main", "s-x", opened("unknown")),
        [first.as_str()]
    );
    // Another opened session has no sender either: none in common.
    assert!(seen(&mut plugin, "main", "s-y", opened("unknown")).is_empty());
    let answer = plugin.call_as(
        "main",
        "s-y",
        opened("unknown"),
        "cancel_task",
        json!({"id": first}),
    );
    assert!(refused_as_unknown(&answer), "{answer}");
    // A sender with an empty name is no sender.
    let blank = json!({"kind": "message", "plugin": "telegram", "sender": "", "trust": "unknown"});
    let blanks = make(&mut plugin, "s-b1", blank.clone(), "blank's");
    assert!(
        seen(&mut plugin, "main", "s-b2", blank).is_empty(),
        "{blanks}"
    );
}
