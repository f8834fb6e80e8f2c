//! The SDK's side of the line protocol, driven through the in-process harness.
//!
//! Rule: whatever the core sends, the plugin answers with well-formed JSON-RPC
//! lines only, and malformed input is logged and skipped, never fatal.

mod common;

use std::time::Duration;

use carapace_plugin_sdk::testing::Harness;
use carapace_plugin_sdk::{
    Stopped, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, NOT_INITIALIZED,
};
use common::Tools;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

fn ready() -> Harness {
    let harness = Harness::start(Tools);
    assert_eq!(harness.initialize(json!({})), Ok(json!({})));
    harness
}

#[test]
fn a_call_sees_its_arguments_and_envelope() {
    let harness = ready();
    assert_eq!(
        harness.call("echo", json!({"text": "hi", "n": [1, 2]})),
        Ok(json!({"text": "hi", "n": [1, 2]}))
    );
    let me = harness
        .call_in("family", "whoami", json!({}))
        .expect("answered");
    assert_eq!(me["group"], "family");
    assert_eq!(me["correlation"], "test-correlation");
    assert_eq!(me["session"], "test-session");
    assert_eq!(me["topic"], "tool.invoke.whoami");
    assert!(me["call"].is_u64(), "{me}");
    let again = harness.initialize(json!({})).expect_err("initialized once");
    assert_eq!(again.code, INVALID_REQUEST);
    assert!(harness.stray_lines().is_empty());
}

#[test]
fn a_call_knows_the_deadline_the_core_sent() {
    let harness = ready();
    let left = harness
        .call_with_deadline("deadline", json!({}), json!(5_000))
        .expect("answered");
    let left = left.as_u64().expect("a deadline");
    assert!((4_000..=5_000).contains(&left), "{left} ms left");
    // An older core, or a plugin harness that says nothing: no deadline.
    assert_eq!(harness.call("deadline", json!({})), Ok(json!(null)));
    // Garbage is no deadline, and the call still runs.
    for garbage in [json!("soon"), json!(-5), json!(2.5), json!(null), json!({})] {
        assert_eq!(
            harness.call_with_deadline("deadline", json!({}), garbage.clone()),
            Ok(json!(null)),
            "{garbage}"
        );
    }
    // An absurd one is cut to a day, and nothing overflows.
    let far = harness
        .call_with_deadline("deadline", json!({}), json!(u64::MAX))
        .expect("answered");
    assert!(
        far.as_u64().is_some_and(|ms| ms <= 24 * 60 * 60 * 1000),
        "{far}"
    );
}

#[test]
fn an_init_error_carries_its_category() {
    let harness = Harness::start(Tools);
    let error = harness
        .initialize(json!({"fail_with": "AUTH_ERROR"}))
        .expect_err("asked to fail");
    assert_eq!(error.code, -32000);
    assert_eq!(error.data_str("category"), Some("AUTH_ERROR"));
    let error = harness
        .initialize(json!({"unknown_key": 1}))
        .expect_err("bad config");
    assert_eq!(error.data_str("category"), Some("CONFIG_ERROR"));
    let error = harness
        .initialize_with(json!({"plugin": "t"}))
        .expect_err("no data_dir");
    assert_eq!(error.code, INVALID_PARAMS);
}

#[test]
fn calls_before_a_successful_initialize_are_refused() {
    let harness = Harness::start(Tools);
    let error = harness.call("echo", json!({})).expect_err("too early");
    assert_eq!(error.code, NOT_INITIALIZED);
    assert!(harness
        .initialize(json!({"fail_with": "CONFIG_ERROR"}))
        .is_err());
    let error = harness.call("echo", json!({})).expect_err("init failed");
    assert_eq!(error.code, NOT_INITIALIZED);
}

#[test]
fn a_tool_error_has_the_wire_shape() {
    let harness = ready();
    let error = harness.call("fail", json!({})).expect_err("fails");
    let wire = serde_json::to_value(&error).expect("serializable");
    assert_eq!(
        wire,
        json!({"code": -32000, "message": "the mailbox is busy",
               "data": {"code": "HANDLER_ERROR", "retriable": true}})
    );
}

#[test]
fn a_panicking_tool_is_an_error_and_the_plugin_lives_on() {
    let harness = ready();
    let error = harness.call("panic", json!({})).expect_err("panicked");
    assert_eq!(error.code, INTERNAL_ERROR);
    assert_eq!(error.data_str("code"), Some("HANDLER_ERROR"));
    assert!(
        !error.message.contains("broke"),
        "panic text leaked: {error}"
    );
    assert_eq!(harness.call("echo", json!({"a": 1})), Ok(json!({"a": 1})));
}

#[test]
fn unknown_methods_get_32601_and_unknown_notifications_nothing() {
    let harness = ready();
    let error = harness
        .request("hook/memory_brief", json!({"group": "main"}))
        .expect_err("not served");
    assert_eq!(error.code, METHOD_NOT_FOUND);
    harness.notify("something/else", json!({}));
    assert_eq!(harness.call("echo", json!({})), Ok(json!({})));
    assert!(harness.stray_lines().is_empty());
}

#[test]
fn malformed_lines_are_logged_and_ignored() {
    let harness = ready();
    for line in [
        "this is not json",
        "[1, 2, 3]",
        r#"{"id": 1, "method": "tool/call"}"#,
        r#"{"jsonrpc": "2.0", "id": [1], "method": "x"}"#,
        r#"{"jsonrpc": "2.0", "id": 99, "result": {}}"#,
        "{\"jsonrpc\": \"2.0\", \"method\": \"x\"",
        "   ",
    ] {
        harness.send_line(line);
    }
    let logged = harness.wait_for_notification(
        "log",
        |p| {
            p["message"]
                .as_str()
                .is_some_and(|m| m.contains("malformed"))
        },
        WAIT,
    );
    let logged = logged.expect("a log notification");
    assert_eq!(logged["level"], "warn");
    assert!(!logged["message"]
        .as_str()
        .unwrap_or("")
        .contains("not json"));
    assert_eq!(
        harness.call("echo", json!({"ok": true})),
        Ok(json!({"ok": true}))
    );
    assert!(
        harness.stray_lines().is_empty(),
        "{:?}",
        harness.stray_lines()
    );
}

#[test]
fn bad_tool_call_params_are_invalid_params() {
    let harness = ready();
    let error = harness
        .request("tool/call", json!({"tool": "echo"}))
        .expect_err("no envelope");
    assert_eq!(error.code, INVALID_PARAMS);
    let error = harness
        .request(
            "tool/call",
            json!({"tool": "echo", "envelope": {"payload": {}}}),
        )
        .expect_err("no arguments");
    assert_eq!(error.code, INVALID_PARAMS);
}

#[test]
fn a_result_over_the_line_limit_becomes_a_tool_error() {
    let harness = ready();
    let error = harness.call("big", json!({})).expect_err("too large");
    assert_eq!(error.data_str("code"), Some("HANDLER_ERROR"));
    assert!(error.message.contains("bytes"), "{error}");
    assert!(harness.stray_lines().is_empty());
}

#[test]
fn log_publish_and_events_are_notifications() {
    let harness = ready();
    assert_eq!(
        harness.call_in("family", "announce", json!({})),
        Ok(json!({}))
    );
    let published = harness
        .wait_for_notification("event/publish", |_| true, WAIT)
        .expect("published");
    assert_eq!(
        published,
        json!({"topic": "message.inbound", "group": "family", "payload": {"text": "hi"}})
    );
    assert!(harness
        .wait_for_notification("log", |p| p["message"] == "announcing", WAIT)
        .is_some());
    harness.notify("event", json!({"envelope": {"topic": "session.started"}}));
    let seen =
        harness.wait_for_notification("log", |p| p["message"] == "event \"session.started\"", WAIT);
    assert!(seen.is_some(), "{:?}", harness.notifications());
}

#[test]
fn shutdown_is_answered_then_the_loop_stops() {
    let harness = ready();
    assert_eq!(harness.shutdown(), Ok(json!({})));
    assert_eq!(harness.wait_stopped(WAIT), Some(Stopped::Shutdown));
}

#[test]
fn the_end_of_input_stops_the_loop() {
    let harness = ready();
    harness.close_input();
    assert_eq!(harness.wait_stopped(WAIT), Some(Stopped::InputClosed));
}
