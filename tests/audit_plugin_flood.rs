//! A hostile plugin cannot flood the audit log (issue 12, finding 2), with the
//! real binary.
//!
//! Rule: whatever a plugin sends over its JSON-RPC channel (forbidden
//! `event/publish` notifications, `services/*` requests as fast as it can
//! write them), the log grows by a small bounded number of lines from that
//! plugin per interval, so retention (`audit.max_bytes`) never has to delete
//! the history before it; accepted requests are rate limited, refusals are
//! counted into `refusals.summary` lines naming the plugin, and the core keeps
//! answering throughout.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TestCore;
use serde_json::Value;

/// Most lines one flooding plugin may add to the log in one interval.
const PLUGIN_LINES: usize = 50;

fn flood_core() -> TestCore {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flood-plugins");
    let config = format!(
        "[groups.main]\ntools = [\"*\"]\nrate_limit = {{ per_minute = 6000, burst = 1000 }}\n\
         \n[plugins]\ndirs = [\"{}\"]\n",
        plugins.display()
    );
    let mut core = TestCore::prepare(&config, false);
    for (key, value) in [("audit.rotate_bytes", "8192"), ("audit.max_bytes", "32768")] {
        let out = core.cli(&["config", "set", key, value]);
        assert!(out.status.success(), "{key}: {out:?}");
    }
    core.launch();
    core
}

fn from_flooder(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["plugin"] == "flooder").collect()
}

#[test]
fn a_flooding_plugin_adds_a_bounded_number_of_lines_and_history_survives() {
    let core = flood_core();
    let session = core.open_session("main");
    assert_eq!(
        session
            .ipc(&["flooder_echo", r#"{"text":"warm"}"#])
            .result()["text"],
        "warm"
    );

    let flooding = {
        let session = session.clone();
        std::thread::spawn(move || {
            session.ipc_with(&["flood_core", r#"{"seconds":3}"#], None, "60")
        })
    };
    // The core keeps answering while the plugin floods it.
    std::thread::sleep(Duration::from_millis(1000));
    let asked = Instant::now();
    let status = core.cli(&["status", "--json"]);
    assert!(
        status.status.success(),
        "status failed during the flood: {status:?}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "status took {:?} during the flood",
        asked.elapsed()
    );
    let echo = session.ipc(&["py_echo_missing_is_unknown", "{}"]);
    assert_eq!(echo.error()["code"], "UNKNOWN_TOOL");

    let run = flooding.join().expect("flood thread");
    let stats = run.result();
    eprintln!("flood: {stats}");
    let rounds = stats["rounds"].as_u64().unwrap_or(0);
    assert!(rounds > 200, "the plugin hardly flooded: {stats}");
    // Accepted requests are rate limited: a burst and a steady rate, not all of them.
    let ok = stats["ok"].as_u64().unwrap_or(0);
    assert!(ok > 0, "no services request was served: {stats}");
    assert!(ok < 400, "{ok} services requests served in 3 s: {stats}");
    assert!(core.cli(&["status", "--json"]).status.success());

    std::thread::sleep(Duration::from_millis(500));
    let events = core.audit_events();
    let first = events.first().expect("an audit line");
    assert_eq!(
        first["kind"], "core.started",
        "retention deleted the history behind the flood"
    );
    let lines = from_flooder(&events);
    assert!(
        lines.len() < PLUGIN_LINES,
        "{} audit lines from the plugin for {rounds} rounds: {:#?}",
        lines.len(),
        &lines[..lines.len().min(20)]
    );

    // Once the window is over, the counts are written, naming the plugin.
    let events = core.wait_for_audit_within(
        Duration::from_secs(20),
        "the plugin's refusal summaries",
        |events| {
            events.iter().any(|e| {
                e["kind"] == "refusals.summary"
                    && e["plugin"] == "flooder"
                    && e["of"] == "event.refused"
            })
        },
    );
    let summaries: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "refusals.summary" && e["plugin"] == "flooder")
        .collect();
    let refused_events: u64 = summaries
        .iter()
        .filter(|e| e["of"] == "event.refused")
        .filter_map(|e| e["count"].as_u64())
        .sum();
    assert!(refused_events > 100, "{summaries:#?}");
    let published = summaries
        .iter()
        .find(|e| e["of"] == "event.refused")
        .expect("summary");
    assert!(
        published["topics"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "task.forged")),
        "{published}"
    );
    let refused_services: u64 = summaries
        .iter()
        .filter(|e| e["of"] == "plugin.service")
        .filter_map(|e| e["count"].as_u64())
        .sum();
    assert!(refused_services > 100, "{summaries:#?}");
    assert_eq!(
        events.first().map(|e| &e["kind"]),
        Some(&Value::from("core.started"))
    );
    let out = core.cli(&["audit", "verify", "--json"]);
    assert!(out.status.success(), "{out:?}");
}
