//! A plugin's own audit lines (`audit/record`), from outside: a real core,
//! the Python fixture plugin over its real JSON-RPC pipe.
//!
//! Rule: the line's kind is always `<plugin>.<kind>`; its fields are few,
//! flat, plain, redacted and cut; a flood adds a bounded number of lines (the
//! first of a kind in a window in full, the rest counted); a malformed record
//! is refused and tallied, never written.

mod common;

#[allow(dead_code)]
#[path = "fixtures/approver-plugin/rig.rs"]
mod rig;

use rig::Rig;
use serde_json::{json, Value};

/// `approver` sends `audit/record` with `params`, `repeat` times.
fn record(rig: &Rig, params: Value, repeat: u32) {
    let arguments =
        json!({"method": "audit/record", "params": params.to_string(), "repeat": repeat})
            .to_string();
    rig.ops.ipc(&["approver_notify", &arguments]).result();
}

fn lines<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

#[test]
fn a_plugins_record_is_its_own_kind_plain_redacted_and_bounded() {
    let rig = Rig::start("");
    let token = common::generated_model_key();
    record(
        &rig,
        json!({"kind": "refused", "fields": {"reason": "unknown_user", "chat": -5, "user": 9,
               "note": format!("from \u{1b}[2J {token} {}", "x".repeat(400)), "ok": false}}),
        1,
    );
    // A flood of the same kind: one line in full, the rest counted.
    record(&rig, json!({"kind": "flood", "fields": {"n": 1}}), 300);
    // What a plugin must not write.
    for bad in [
        json!({"kind": "Refused"}),
        json!({"kind": "a.b"}),
        json!({"kind": ""}),
        json!({"kind": "x", "fields": {"kind": "core.started"}}),
        json!({"kind": "x", "fields": {"plugin": "other"}}),
        json!({"kind": "x", "fields": {"nested": {"a": 1}}}),
        json!({"kind": "x", "fields": {"list": [1]}}),
        json!({"kind": "x", "fields": {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9}}),
        json!({"kind": "x", "extra": 1}),
        json!([1, 2]),
    ] {
        record(&rig, bad, 1);
    }
    // A window's summary is written once it is over (10 s).
    let events = rig.core.wait_for_audit_within(
        std::time::Duration::from_secs(20),
        "the flood's summary",
        |events| {
            lines(events, "plugin.record.summary")
                .iter()
                .any(|s| s["topics"] == json!(["approver.flood"]))
        },
    );

    let refused = lines(&events, "approver.refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    let line = refused[0];
    assert_eq!(line["plugin"], "approver");
    assert_eq!(
        (&line["reason"], &line["chat"], &line["user"], &line["ok"]),
        (&json!("unknown_user"), &json!(-5), &json!(9), &json!(false))
    );
    let note = line["note"].as_str().expect("note");
    assert!(!note.contains(&token), "redacted: {note}");
    assert!(!note.contains('\u{1b}'), "plain: {note:?}");
    assert!(note.chars().count() <= 128, "cut: {}", note.chars().count());

    assert_eq!(
        lines(&events, "approver.flood").len(),
        1,
        "a flood is counted, not written"
    );
    let counted: u64 = lines(&events, "plugin.record.summary")
        .iter()
        .filter(|s| s["plugin"] == "approver")
        .filter(|s| s["topics"] == json!(["approver.flood"]))
        .map(|s| s["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, 299, "the flood's other lines are counted");

    // Nothing a malformed record named was written as a line of its own.
    for kind in [
        "approver.Refused",
        "approver.a.b",
        "approver.",
        "approver.x",
    ] {
        assert!(lines(&events, kind).is_empty(), "{kind}");
    }
    assert_eq!(
        lines(&events, "core.started").len(),
        1,
        "only the core's own"
    );
    let refusals = lines(&events, "plugin.record");
    assert!(
        !refusals.is_empty() && refusals.iter().all(|r| r["ok"] == false),
        "{refusals:?}"
    );
}
