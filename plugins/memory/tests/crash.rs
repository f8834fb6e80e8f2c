//! `kill -9` of the handler while it stores.
//!
//! Rule: a store the handler answered OK is in the database after the process
//! was killed at any point, and the database opens and passes `quick_check`.

mod common;

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use carapace_plugin_memory::Store;
use common::process::{Process, WAIT};
use common::Who;
use serde_json::{json, Value};

const STORES: u64 = 1000;

#[test]
fn acknowledged_stores_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut process, answer) = Process::initialized(dir.path(), json!({}));
    assert_eq!(answer["result"], json!({}), "{answer}");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .subsec_nanos();
    let kill_after = 50 + u64::from(seed) % (STORES - 100);
    eprintln!("killing after {kill_after} answers (seed {seed})");

    // Pipelined from another thread: the handler has many stores in flight when killed.
    let mut stdin = process.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        for i in 1..=STORES {
            // 20 stores per session: the cap is not what this tests.
            let who = Who::owner("main", &format!("crash-{}", i / 20));
            let params = who.call_params(
                "memory_store",
                json!({"type": "fact", "content": format!("acknowledged entry {i}"), "tags": [format!("n{i}")]}),
            );
            let line = json!({"jsonrpc": "2.0", "id": i, "method": "tool/call", "params": params});
            if stdin.write_all(format!("{line}\n").as_bytes()).is_err() {
                break;
            }
        }
        // Kept open until joined, as the core keeps it: the end of input stops a handler.
        stdin
    });

    let mut acknowledged: Vec<(i64, String)> = Vec::new();
    let mut answers = 0;
    let record = |message: &Value, acknowledged: &mut Vec<(i64, String)>| {
        if let Some(entry) = message.get("result") {
            let id = entry["id"].as_i64().expect("an id");
            acknowledged.push((id, entry["content"].as_str().expect("content").to_owned()));
        } else {
            assert!(message.get("error").is_some(), "{message}");
        }
    };
    while answers < kill_after {
        let message = process.answer();
        record(&message, &mut acknowledged);
        answers += 1;
    }
    process.child.kill().expect("SIGKILL");
    process.child.wait().expect("reaped");
    // Answers already written before the kill reached the pipe: the core would have them too.
    while let Ok(line) = process.lines.recv_timeout(WAIT) {
        // A line cut by the kill is no answer: the core would not have it either.
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if message.get("method").is_none() {
            record(&message, &mut acknowledged);
        }
    }
    writer.join().expect("writer");
    eprintln!("{} stores acknowledged", acknowledged.len());
    assert!(acknowledged.len() as u64 >= kill_after / 2);

    let store =
        Store::open_existing(dir.path(), "main").expect("opens cleanly (quick_check passed)");
    for (id, content) in &acknowledged {
        let entry = store
            .get(*id)
            .expect("read")
            .unwrap_or_else(|| panic!("entry {id} lost"));
        assert_eq!(&entry.content, content);
    }
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("main.sqlite")).expect("open");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("check");
    assert_eq!(check, "ok");
    let fts: rusqlite::Result<usize> = conn.execute(
        "INSERT INTO entries_fts (entries_fts) VALUES ('integrity-check')",
        [],
    );
    assert!(fts.is_ok(), "{fts:?}");
}
