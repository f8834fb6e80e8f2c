//! `task.triggered` through the real core (issue 16): who may publish it, and
//! the fire ids that make a scheduler's re-publishing safe.
//!
//! Rule: only a plugin whose manifest declares the capability `scheduler` may
//! publish `task.*` (a plugin merely named `scheduler` may not, nor any other);
//! the refusal is audited.

mod common;

use std::path::Path;

use common::TestCore;
use serde_json::json;

/// Group `main` with every tool, and the two task-publishing fixture plugins.
fn config() -> String {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/task-plugins");
    format!(
        "[groups.main]\ntools = [\"*\"]\n[plugins]\ndirs = [\"{}\"]\n",
        plugins.display()
    )
}

#[test]
fn only_the_scheduler_capability_publishes_task_events_not_the_name() {
    let core = TestCore::start(&config());
    let session = core.open_session("main");
    let fire = json!({"prompt": "daily", "fire_id": "t1@2026-12-03T10:00:00Z", "trust": "owner"});
    session.ipc(&["named_publish", &fire.to_string()]).result();
    let events = core.wait_for_audit("the named plugin's refusal", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "event.refused" && e["plugin"] == "scheduler")
    });
    let refused = events
        .iter()
        .find(|e| e["kind"] == "event.refused")
        .expect("refused");
    assert_eq!(refused["topic"], "task.triggered", "{refused}");
    assert!(
        !events.iter().any(|e| e["kind"] == "event.published"),
        "a plugin named scheduler without the capability published"
    );
    session.ipc(&["cap_publish", &fire.to_string()]).result();
    let events = core.wait_for_audit("the capable plugin's event", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "event.published" && e["plugin"] == "pysched")
    });
    let published = events
        .iter()
        .find(|e| e["kind"] == "event.published")
        .expect("published");
    assert_eq!(published["topic"], "task.triggered", "{published}");
}
