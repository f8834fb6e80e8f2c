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
    assert_eq!(pending["origin"]["trust"], "unknown");
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
fn what_the_approver_reads_is_escaped_for_display() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    // A right-to-left override, a terminal escape, C1 controls (CSI, NEL), a
    // zero-width space, a line separator and a newline in what the agent sends.
    let hidden = [
        "\u{202e}", "\u{1b}", "\u{9b}", "\u{85}", "\u{200b}", "\u{2028}", "\n",
    ];
    let text = format!("pay bob{}", hidden.concat());
    let arguments = serde_json::json!({"to": "mallory\u{202e}bob", "text": text}).to_string();
    let caller = session.clone();
    let call =
        std::thread::spawn(move || caller.ipc_with(&["send_message", &arguments], None, "30"));
    let pending = core.wait_pending();

    let listed = core.cli(&["confirm", "list"]);
    assert!(listed.status.success());
    let shown = String::from_utf8(listed.stdout).expect("UTF-8");
    for raw in hidden.iter().filter(|h| **h != "\n") {
        assert!(
            !shown.contains(raw),
            "{raw:?} reached the terminal: {shown:?}"
        );
    }
    assert_eq!(shown.lines().count(), 2, "one entry, two lines: {shown:?}");
    assert!(shown.contains(" origin=open/unknown\n"), "{shown}");
    assert!(
        shown.contains(
            r#"arguments: {"text":"pay bob\u202e\u001b\u009b\u0085\u200b\u2028\n","to":"mallory\u202ebob"}"#
        ),
        "{shown}"
    );

    let json = core.cli_json(&["confirm", "list", "--json"]);
    let display = &json[0]["display"];
    let shown_args = display["arguments"].as_str().expect("display arguments");
    assert!(shown_args.is_ascii(), "{shown_args}");
    let decoded: serde_json::Value = serde_json::from_str(shown_args).expect("JSON");
    assert_eq!(
        decoded, pending["arguments"],
        "what is shown decodes to what runs"
    );

    let id = pending["id"].as_str().expect("id");
    assert!(core.cli(&["confirm", "deny", id]).status.success());
    call.join().expect("thread").error();
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
