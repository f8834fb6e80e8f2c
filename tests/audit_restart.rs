//! The audit chain and crash recovery, with the real binary.
//!
//! Rule: any edit to a written audit line is found by `carapace audit verify`,
//! which names the line; a core killed with SIGKILL restarts on the same home,
//! rebinds its sockets, and continues a chain that still verifies.

mod common;

use common::{TestCore, BASIC_CONFIG};

fn verify(core: &TestCore) -> (bool, serde_json::Value) {
    let out = core.cli(&["audit", "verify", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verify JSON");
    (out.status.success(), report)
}

#[test]
fn tampering_with_one_line_is_named_by_verify() {
    let mut core = TestCore::start(BASIC_CONFIG);
    let session = core.open_session("main");
    for _ in 0..3 {
        session.ipc(&["list_tools"]).result();
    }
    core.stop();
    let (ok, report) = verify(&core);
    assert!(ok, "an untouched log verifies: {report}");
    let path = core.home.path().join("logs/audit/audit.jsonl");
    let text = std::fs::read_to_string(&path).expect("audit file");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 6);
    let target = 5; // 1-based line number we will alter
    let altered = lines[target - 1].replacen("\"main\"", "\"admin\"", 1);
    assert_ne!(
        altered,
        lines[target - 1],
        "line {target} mentions the group"
    );
    let mut rewritten: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    rewritten[target - 1] = altered;
    std::fs::write(&path, rewritten.join("\n") + "\n").expect("rewrite");
    let (ok, report) = verify(&core);
    assert!(!ok, "a tampered log must fail verification");
    assert_eq!(report["first_break"]["line"], target as u64, "{report}");
    assert!(report["first_break"]["file"]
        .as_str()
        .unwrap_or("")
        .ends_with("audit.jsonl"));
}

#[test]
fn a_killed_core_restarts_rebinds_and_continues_the_chain() {
    let mut core = TestCore::start(BASIC_CONFIG);
    let session = core.open_session("main");
    session.ipc(&["get_session_info"]).result();
    core.wait_for_audit("the call on disk", |events| {
        events.iter().any(|e| e["kind"] == "response.sent")
    });
    core.kill9();
    assert!(
        session.socket.exists(),
        "SIGKILL leaves the socket file behind"
    );
    core.launch();
    // The same session socket answers again, for the same group.
    let info = session.ipc(&["get_session_info"]).result();
    assert_eq!(info["session"], session.id.as_str());
    assert_eq!(info["group"], "main");
    let sessions = core.cli_json(&["sessions", "--json"]);
    assert_eq!(sessions.as_array().map(Vec::len), Some(1));
    core.wait_for_audit("restore", |events| {
        events.iter().any(|e| e["kind"] == "session.restored")
            && events
                .iter()
                .filter(|e| e["kind"] == "core.started")
                .count()
                == 2
    });
    core.stop();
    let (ok, report) = verify(&core);
    assert!(ok, "the chain continues across a SIGKILL: {report}");
}

#[test]
fn a_clean_stop_closes_sessions_and_removes_their_sockets() {
    let mut core = TestCore::start(BASIC_CONFIG);
    let session = core.open_session("main");
    assert!(session.socket.exists());
    core.stop();
    assert!(!session.socket.exists());
    assert!(!core.home.path().join("run/control.sock").exists());
    let out = core.cli(&["status"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not running"));
}

#[test]
fn closing_a_session_stops_its_socket_answering() {
    let core = TestCore::start(BASIC_CONFIG);
    let session = core.open_session("main");
    let other = core.open_session("main");
    assert!(core
        .cli(&["session", "close", &session.id])
        .status
        .success());
    let gone = session.ipc_with(&["list_tools"], None, "2").error();
    assert_eq!(gone["code"], "CONNECTION_FAILED");
    other.ipc(&["list_tools"]).result();
    assert!(!core
        .cli(&["session", "close", &session.id])
        .status
        .success());
}

#[test]
fn a_second_core_on_the_same_home_is_refused() {
    let core = TestCore::start(BASIC_CONFIG);
    let out = core.cli(&["start"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
    core.open_session("main").ipc(&["list_tools"]).result();
}
