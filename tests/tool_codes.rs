//! The codes a tool may choose (issue 14), through a real plugin process (the
//! Python fixture's `fail` tool, which claims whatever code, field and
//! retriability it is told to).
//!
//! Rule: a handler's error reaches the agent as `HANDLER_ERROR`, unless it
//! names exactly `RATE_LIMITED` (always retriable) or `VALIDATION_FAILED`
//! (never retriable, with its field plain and cut to 128 characters). No code
//! of the core's passes, whatever the handler claims, and a tool's code carries
//! no stage: no stage of the core refused the call.

mod common;

use common::{TestCore, BASIC_CONFIG};
use serde_json::{json, Value};

/// `BASIC_CONFIG` with room for many calls of one tool.
fn config() -> String {
    format!("{BASIC_CONFIG}\n[rate_limit]\nper_minute = 6000\nburst = 100\n")
}

#[test]
fn a_tool_that_claims_a_core_code_gets_handler_error() {
    let core = TestCore::start_with_plugins(&config());
    let session = core.open_session("main");
    let claims = [
        json!("MALFORMED_MESSAGE"),
        json!("PAYLOAD_TOO_LARGE"),
        json!("UNKNOWN_TOOL"),
        json!("UNAUTHORIZED"),
        json!("CONFIRMATION_TIMEOUT"),
        json!("CONFIRMATION_DENIED"),
        json!("PLUGIN_TIMEOUT"),
        json!("PLUGIN_UNAVAILABLE"),
        json!("PLUGIN_ERROR"),
        json!("AUDIT_UNAVAILABLE"),
        json!("TIMEOUT"),
        json!("CONNECTION_FAILED"),
        json!("rate_limited"),
        json!("RATE_LIMITED "),
        json!("VALIDATION_FAILED\u{200b}"),
        json!(""),
        json!(429),
        json!(["RATE_LIMITED"]),
        json!({"code": "VALIDATION_FAILED"}),
        Value::Null,
    ];
    for code in claims {
        for retriable in [true, false] {
            let arguments = json!({"code": code, "field": "to", "retriable": retriable});
            let error = session.ipc(&["fail", &arguments.to_string()]).error();
            assert_eq!(error["code"], "HANDLER_ERROR", "claimed {code}: {error}");
            assert_eq!(error["retriable"], retriable, "{error}");
            assert_eq!(error["message"], "the mailbox is full");
            assert_eq!(error.get("stage"), None, "{error}");
            assert_eq!(error.get("field"), None, "{error}");
            assert_eq!(error.get("retry_after"), None, "{error}");
        }
    }
}

#[test]
fn a_tool_may_answer_rate_limited_or_validation_failed_with_its_field() {
    let core = TestCore::start_with_plugins(&config());
    let session = core.open_session("main");
    let limited = session
        .ipc(&[
            "fail",
            r#"{"code":"RATE_LIMITED","retriable":false,"field":"to"}"#,
        ])
        .error();
    assert_eq!(
        limited,
        json!({"code": "RATE_LIMITED", "message": "the mailbox is full", "retriable": true})
    );

    let invalid = session
        .ipc(&[
            "fail",
            r#"{"code":"VALIDATION_FAILED","retriable":true,"field":"when.tz"}"#,
        ])
        .error();
    assert_eq!(
        invalid,
        json!({"code": "VALIDATION_FAILED", "message": "the mailbox is full",
               "retriable": false, "field": "when.tz"})
    );

    // The field is the tool's words: plain, and cut to 128 characters.
    let long = format!("to\u{202e}\u{1b}[2J\n{}", "f".repeat(500));
    let arguments = json!({"code": "VALIDATION_FAILED", "field": long});
    let cut = session.ipc(&["fail", &arguments.to_string()]).error();
    let field = cut["field"].as_str().expect("a field");
    assert_eq!(field, format!("to[2J{}", "f".repeat(123)), "{cut}");
    let nameless = session
        .ipc(&["fail", r#"{"code":"VALIDATION_FAILED","field":7}"#])
        .error();
    assert_eq!(nameless["code"], "VALIDATION_FAILED");
    assert_eq!(nameless.get("field"), None, "{nameless}");

    let events = core.wait_for_audit("the tool's codes", |events| {
        events
            .iter()
            .filter(|e| e["kind"] == "handler.result" && e["ok"] == false)
            .count()
            >= 4
    });
    let results: Vec<(&Value, &Value)> = events
        .iter()
        .filter(|e| e["kind"] == "handler.result")
        .map(|e| (&e["code"], &e["field"]))
        .collect();
    assert_eq!(
        results[..2],
        [
            (&json!("RATE_LIMITED"), &Value::Null),
            (&json!("VALIDATION_FAILED"), &json!("when.tz"))
        ],
        "the audit log says what the agent was told"
    );
}
