//! Stage 5 from outside: a high-risk call waits for `carapace confirm`.
//!
//! Rule: a high-risk call runs only after an approval bound to that one call;
//! a denial, a timeout or a reused decision never lets it through.

mod common;

use common::{TestCore, TestSession, BASIC_CONFIG};

fn call_in_background(session: &TestSession) -> std::thread::JoinHandle<common::IpcRun> {
    let session = session.clone();
    std::thread::spawn(move || {
        session.ipc_with(
            &["send_message", r#"{"to":"alice","text":"hi"}"#],
            None,
            "30",
        )
    })
}

#[test]
fn approval_runs_the_call_once() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let call = call_in_background(&session);
    let pending = core.wait_pending();
    assert_eq!(pending["tool"], "send_message");
    assert_eq!(pending["group"], "main");
    assert_eq!(pending["session"], session.id.as_str());
    assert_eq!(pending["arguments"]["to"], "alice");
    let id = pending["id"].as_str().expect("id");
    assert!(core.cli(&["confirm", "approve", id]).status.success());
    let result = call.join().expect("thread").result();
    assert_eq!(result["sent"], true);
    // Single use: the same decision cannot be replayed.
    let again = core.cli(&["confirm", "approve", id]);
    assert!(!again.status.success());
    core.wait_for_audit("confirmation outcome", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "confirmation.resolved" && e["outcome"] == "approved")
            && events
                .iter()
                .any(|e| e["kind"] == "confirmation.decided" && e["approved"] == true)
    });
}

#[test]
fn denial_refuses_the_call() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let call = call_in_background(&session);
    let pending = core.wait_pending();
    let id = pending["id"].as_str().expect("id");
    assert!(core.cli(&["confirm", "deny", id]).status.success());
    let error = call.join().expect("thread").error();
    assert_eq!(error["code"], "CONFIRMATION_DENIED");
    assert_eq!(error["stage"], 5);
    assert_eq!(error["retriable"], false);
}

#[test]
fn no_decision_times_out() {
    let config = BASIC_CONFIG.replace("[core]\n", "[core]\nconfirmation_timeout_secs = 1\n");
    let core = TestCore::start_with_plugins(&config);
    let session = core.open_session("main");
    let error = session
        .ipc_with(&["send_message", r#"{"to":"bob","text":"x"}"#], None, "20")
        .error();
    assert_eq!(error["code"], "CONFIRMATION_TIMEOUT");
    assert_eq!(error["stage"], 5);
    let pending = core.cli_json(&["confirm", "list", "--json"]);
    assert_eq!(
        pending,
        serde_json::json!([]),
        "an expired call is withdrawn"
    );
}

#[test]
fn a_decision_for_an_unknown_id_is_refused() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let out = core.cli(&["confirm", "approve", "00000000-0000-0000-0000-000000000000"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no pending confirmation"));
}
