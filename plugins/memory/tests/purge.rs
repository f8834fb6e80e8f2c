//! Superseded entries are purged at `initialize` once older than
//! `purge_superseded_days` (default 90); current ones never are.

mod common;

use carapace_plugin_memory::MemoryHandler;
use carapace_plugin_sdk::testing::Harness;
use common::{call, init_params, start, store, Who};
use serde_json::{json, Value};

fn id(entry: &Value) -> i64 {
    entry["id"].as_i64().expect("an id")
}

/// Moves `id`'s `superseded_at` `days` days into the past, through SQLite directly.
fn age_supersession(path: &std::path::Path, id: i64, days: u32) {
    let conn = rusqlite::Connection::open(path).expect("open");
    let changed = conn
        .execute(
            "UPDATE entries SET superseded_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1) WHERE id = ?2",
            rusqlite::params![format!("-{days} days"), id],
        )
        .expect("update");
    assert_eq!(changed, 1);
}

fn ids_kept(harness: &Harness, who: &Who) -> Vec<i64> {
    let all = call(
        harness,
        who,
        "memory_search",
        json!({"include_superseded": true, "limit": 100}),
    )
    .expect("search");
    let mut ids: Vec<i64> = all["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(id)
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn old_superseded_entries_are_purged_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let owner = Who::owner("main", "s1");
    let (old, recent, current) = {
        let memory = start(dir.path());
        let old = id(&store(&memory, &owner, "fact", "Lives in Lyon."));
        call(
            &memory,
            &owner,
            "memory_store",
            json!({"type": "fact", "content": "Lives in Nantes.", "supersedes": old}),
        )
        .expect("superseded");
        let recent = id(&store(&memory, &owner, "fact", "Drives a red car."));
        call(
            &memory,
            &owner,
            "memory_store",
            json!({"type": "fact", "content": "Drives a blue car.", "supersedes": recent}),
        )
        .expect("superseded");
        let current = id(&store(&memory, &owner, "preference", "Likes tea."));
        (old, recent, current)
    };
    let path = dir.path().join("main.sqlite");
    age_supersession(&path, old, 100);
    age_supersession(&path, recent, 40);

    // Default: 90 days.
    let memory = start(dir.path());
    let kept = ids_kept(&memory, &owner);
    assert!(!kept.contains(&old), "superseded 100 days ago: purged");
    assert!(
        kept.contains(&recent) && kept.contains(&current),
        "{kept:?}"
    );
    assert_eq!(kept.len(), 4);
    drop(memory);

    let memory = Harness::start(MemoryHandler::default());
    memory
        .initialize_with(init_params(
            dir.path(),
            json!({"purge_superseded_days": 30}),
        ))
        .expect("initialize");
    let kept = ids_kept(&memory, &owner);
    assert!(
        !kept.contains(&recent),
        "superseded 40 days ago, 30 configured: purged"
    );
    assert!(kept.contains(&current));
    assert_eq!(kept.len(), 3);
}

#[test]
fn a_purge_setting_below_one_day_is_a_config_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    for config in [
        json!({"purge_superseded_days": 0}),
        json!({"purge_superseded_days": "x"}),
        json!({"other": 1}),
    ] {
        let memory = Harness::start(MemoryHandler::default());
        let error = memory
            .initialize_with(init_params(dir.path(), config.clone()))
            .expect_err("refused");
        assert_eq!(error.data_str("category"), Some("CONFIG_ERROR"), "{config}");
    }
}
