//! Many calls at once, and the host's `carapace memory` on the same file.
//!
//! Rule: concurrent stores from many sessions all land, each once; the host
//! CLI, opening the same database through the library while the plugin runs,
//! reads and changes it without a busy error, and the plugin sees its changes.

mod common;

use carapace_plugin_memory::{Actor, Search, Store, Trust};
use common::{call, start, store, Who};
use serde_json::json;

#[test]
fn sessions_in_parallel_and_the_host_cli_share_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = start(dir.path());
    store(
        &memory,
        &Who::stranger("main", "s-first"),
        "fact",
        "the file exists now",
    );
    let host = Store::open_existing(dir.path(), "main").expect("the CLI opens it");

    let mut promoted = Vec::new();
    let stored: Vec<i64> = std::thread::scope(|scope| {
        let workers: Vec<_> =
            (0..8)
                .map(|t| {
                    let memory = &memory;
                    scope.spawn(move || {
                        // A sender each: one sender's entries are bounded (100).
                        let who = Who::with_origin(
                            "main",
                            &format!("s-{t}"),
                            Some(json!({"kind": "message", "plugin": "mail",
                                        "sender": format!("sender-{t}"), "trust": "unknown"})),
                        );
                        (0..20)
                            .map(|i| {
                                let entry = call(memory, &who, "memory_store",
                                json!({"type": "fact", "content": format!("thread {t} fact {i}")}))
                                .unwrap_or_else(|e| panic!("store: {e:?}"));
                                entry["id"].as_i64().expect("an id")
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
        // Meanwhile the person works on the same file from the host.
        let person = Actor::Person {
            name: "host:test".into(),
        };
        while promoted.len() < 10 {
            let newest = host.search(&Search::newest(100)).expect("the CLI reads");
            for entry in newest.iter().filter(|e| e.trust == Trust::Untrusted) {
                host.promote(entry.id, person.name())
                    .expect("the CLI promotes");
                promoted.push(entry.id);
            }
        }
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let mut unique = stored.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        160,
        "every store landed once, with its own id"
    );

    let owner = Who::owner("main", "s-owner");
    for id in &promoted {
        let content = host.get(*id).expect("read").expect("there").content;
        let seen = call(
            &memory,
            &owner,
            "memory_promote",
            json!({"id": id, "content": content}),
        )
        .expect("promote");
        assert_eq!(
            seen["promoted_by"], "host:test",
            "the plugin sees what the CLI changed"
        );
    }
    let deleted = host
        .delete(
            &Actor::Person {
                name: "host:test".into(),
            },
            stored[0],
        )
        .expect("the CLI deletes");
    assert_eq!(deleted.id, stored[0]);
    let gone = call(&memory, &owner, "memory_delete", json!({"id": stored[0]})).expect_err("gone");
    assert_eq!(gone.data_str("field"), Some("id"));
    assert_eq!(
        host.current_count().expect("count"),
        160,
        "161 stored, one deleted"
    );
}
