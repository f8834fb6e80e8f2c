//! What a restarted core trusts when it restores sessions (issue 12, finding 4), with the
//! real binary and a real SIGKILL.
//!
//! Rule: a session's identity comes back from the core's own record (`state/sessions/`,
//! never mounted), not from anything in the session directory a container can see; a
//! session whose record is missing, corrupt or mismatched is not restored, its directory
//! is removed, and the log and the audit log say so.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{TestCore, TestSession};

/// `guest` may list tools only; `admin` may do everything.
const CONFIG: &str = r#"
[core]
log_level = "info"
[groups.admin]
tools = ["*"]
[groups.guest]
tools = ["list_tools"]
"#;

/// The group the core's table gives `session` (from `carapace sessions`).
fn table_group(core: &TestCore, session: &TestSession) -> Option<String> {
    core.cli_json(&["sessions", "--json"])
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["id"] == session.id.as_str())
        .and_then(|s| s["group"].as_str().map(str::to_owned))
}

/// Writes what an agent that can write its session directory would: a record naming
/// another group, in the place an older core kept it, and beside it every name it could guess.
fn forge_session_dir(core: &TestCore, session: &TestSession, group: &str) {
    let dir = core.home.path().join("run/sessions").join(&session.id);
    let forged = serde_json::json!({
        "id": session.id,
        "group": group,
        "started_at": "2026-01-01T00:00:00Z",
        "agent": false,
    })
    .to_string();
    for name in [
        "session.json",
        "record.json",
        &format!("{}.json", session.id),
    ] {
        std::fs::write(dir.join(name), &forged).expect("forge");
    }
}

#[test]
fn a_session_file_rewritten_in_the_mounted_dir_does_not_change_the_restored_group() {
    let mut core = TestCore::start(CONFIG);
    let session = core.open_session("guest");
    session.ipc(&["list_tools"]).result();
    let denied = session.ipc(&["get_session_info"]).error();
    assert_eq!(denied["code"], "UNAUTHORIZED");
    core.kill9();
    forge_session_dir(&core, &session, "admin");
    core.launch();

    assert_eq!(table_group(&core, &session).as_deref(), Some("guest"));
    let still_denied = session.ipc(&["get_session_info"]).error();
    assert_eq!(
        still_denied["code"], "UNAUTHORIZED",
        "the forged group gave the session admin's tools"
    );
    let events = core.wait_for_audit("the restore", |events| {
        events.iter().any(|e| e["kind"] == "session.restored")
    });
    let restored = events
        .iter()
        .find(|e| e["kind"] == "session.restored")
        .expect("restored");
    assert_eq!(restored["group"], "guest", "{restored}");
    assert!(
        !core
            .home
            .path()
            .join("run/sessions")
            .join(&session.id)
            .join("session.json")
            .exists(),
        "what sat in the mounted dir is dropped, never read"
    );
}

#[test]
fn a_session_without_a_sound_record_is_not_restored_and_says_so() {
    let mut core = TestCore::start(CONFIG);
    let kept = core.open_session("guest");
    let missing = core.open_session("guest");
    let corrupt = core.open_session("guest");
    let mismatched = core.open_session("guest");
    let loose = core.open_session("guest");
    core.kill9();
    let records = core.home.path().join("state/sessions");
    let record = |s: &TestSession| records.join(format!("{}.json", s.id));
    // Each session dir still holds what an older core wrote there, pointing at `guest`.
    for s in [&missing, &corrupt, &mismatched, &loose] {
        forge_session_dir(&core, s, "guest");
    }
    let _ = std::fs::remove_file(record(&missing));
    std::fs::write(record(&corrupt), b"{\"id\": \"trunc").expect("corrupt");
    let other = std::fs::read(record(&kept)).expect("kept's record");
    std::fs::write(record(&mismatched), other).expect("mismatch");
    std::fs::set_permissions(record(&loose), std::fs::Permissions::from_mode(0o666))
        .expect("loosen");
    core.launch();

    assert_eq!(table_group(&core, &kept).as_deref(), Some("guest"));
    kept.ipc(&["list_tools"]).result();
    let events = core.wait_for_audit("four refusals", |events| {
        events
            .iter()
            .filter(|e| e["kind"] == "session.restore_refused")
            .count()
            == 4
    });
    for s in [&missing, &corrupt, &mismatched, &loose] {
        assert_eq!(table_group(&core, s), None, "{} was restored", s.id);
        let gone = s.ipc_with(&["list_tools"], None, "2").error();
        assert_eq!(gone["code"], "CONNECTION_FAILED");
        assert!(
            !core.home.path().join("run/sessions").join(&s.id).exists(),
            "its directory is cleaned up"
        );
        assert!(!record(s).exists(), "its record is removed");
        assert!(
            events.iter().any(|e| e["kind"] == "session.restore_refused"
                && e["session"] == s.id.as_str()
                && e["reason"].as_str().is_some_and(|r| !r.is_empty())),
            "{} has an audit line: {events:#?}",
            s.id
        );
    }
    let log = core.log();
    assert_eq!(
        log.matches("not restoring a session").count(),
        4,
        "one log line each: {log}"
    );
}
