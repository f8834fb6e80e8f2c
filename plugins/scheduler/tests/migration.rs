//! A database the version-1 code wrote opens and migrates to version 2.
//!
//! `tests/fixtures/scheduler-v1.sqlite` was written by the scheduler as of
//! commit 2082f4f (schema version 1): the owner's task `t1` (with its noon fire
//! recorded and still `pending`: the plugin was killed before publishing it),
//! and `t2`, `t3` made by session `s-alice-1` of a Telegram sender. Checkpointed
//! into one file, nothing else changed.
//!
//! Rule: the migration keeps every row and every pending fire; rows from
//! before it have no creator (`NULL`) and keep version 1's rule: a session
//! that is not the owner's sees the tasks that very session made, never more.

mod common;

use common::{config, Home, Plugin};
use serde_json::{json, Value};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/scheduler-v1.sqlite"
);

fn alice() -> Value {
    json!({"kind": "message", "plugin": "telegram", "sender": "alice", "trust": "unknown"})
}

fn ids(answer: &Value) -> Vec<String> {
    answer["result"]["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn a_version_1_database_migrates_and_old_rows_keep_the_session_rule() {
    // 30 s after the noon slots: on time.
    let home = Home::at("2026-12-03T12:00:30Z");
    let file = home.path().join("scheduler.sqlite");
    std::fs::copy(FIXTURE, &file).expect("copy the fixture");
    assert_eq!(home.schema_version(), 1, "the fixture is version 1");

    let mut plugin = Plugin::start(&home, config(json!({})));
    assert_eq!(home.schema_version(), 2);
    {
        let conn = rusqlite::Connection::open_with_flags(
            &file,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open");
        let without_creator: i64 = conn
            .query_row(
                "SELECT count(*) FROM tasks WHERE creator_kind IS NULL
                 AND creator_plugin IS NULL AND creator_sender IS NULL",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(without_creator, 3);
    }
    // The pending fire is published again; t2's noon slot fires on time.
    let mut fired: Vec<String> = plugin
        .wait_fires(2, common::WAIT)
        .iter()
        .map(|f| f["payload"]["fire_id"].as_str().unwrap_or("").to_owned())
        .collect();
    fired.sort();
    assert_eq!(
        fired,
        ["t1@2026-12-03T12:00:00Z", "t2@2026-12-03T12:00:00Z"]
    );

    // Old rows: the session that made them sees them, a later session of the
    // same sender does not (it was never recorded), the owner sees all.
    let listed = plugin.call_as("main", "s-alice-1", alice(), "list_tasks", json!({}));
    assert_eq!(ids(&listed), ["t2", "t3"]);
    let later = plugin.call_as("main", "s-alice-2", alice(), "list_tasks", json!({}));
    assert!(ids(&later).is_empty(), "{later}");
    let owner = plugin.call("main", "owner", "list_tasks", json!({}));
    assert_eq!(ids(&owner), ["t1", "t2", "t3"]);

    // New rows carry their sender: alice's next session finds the task.
    let made = plugin.call_as(
        "main",
        "s-alice-2",
        alice(),
        "schedule_task",
        json!({"cron": "0 18 * * *", "tz": "UTC", "prompt": "evening"}),
    );
    assert_eq!(made["result"]["task"]["id"], "t4", "{made}");
    let next = plugin.call_as("main", "s-alice-3", alice(), "list_tasks", json!({}));
    assert_eq!(ids(&next), ["t4"]);
    plugin.shutdown();
    // And it opens again as version 2 (the check of its schema objects passes).
    let plugin = Plugin::start(&home, config(json!({})));
    assert_eq!(home.schema_version(), 2);
    plugin.shutdown();
}
