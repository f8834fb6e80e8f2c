//! The audit log fails closed and cannot be used to fill the disk (issue 12,
//! finding 2), with the real binary.
//!
//! Rules: with the audit file system full, a tool call is refused with
//! `AUDIT_UNAVAILABLE` before its plugin sees it, `status` and `doctor` say
//! so, and calls work again on their own once there is space, with a chain
//! that verifies; a session flooding the socket with refusals grows the log
//! by a bounded number of lines per interval; retention keeps the log within
//! `audit.max_bytes` and what is left verifies.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestCore, TestSession};
use serde_json::Value;

/// Group `main` may call everything, far more often than these tests do.
const CONFIG: &str =
    "[groups.main]\ntools = [\"*\"]\nrate_limit = { per_minute = 6000, burst = 1000 }\n";

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Mounts a `size` tmpfs on `dir`; `None` (with a message) where that is not allowed.
fn mount_tmpfs(dir: &Path, size: &str) -> Option<Mounted> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: a real full disk needs root to mount a tmpfs");
        return None;
    }
    std::fs::create_dir_all(dir).expect("audit dir");
    let status = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ])
        .arg(dir)
        .status();
    match status {
        Ok(s) if s.success() => Some(Mounted(dir.to_owned())),
        other => {
            eprintln!("SKIPPED: cannot mount a tmpfs here ({other:?})");
            None
        }
    }
}

/// Writes `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("filler");
    let chunk = vec![0x5a_u8; 64 << 10];
    loop {
        if let Err(e) = file.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(28), "expected ENOSPC: {e}");
            break;
        }
    }
    // Fill the last partial block too.
    while file.write_all(b"z").is_ok() {}
}

fn verify_ok(core: &TestCore) -> Value {
    let out = core.cli(&["audit", "verify", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("verify JSON");
    assert!(out.status.success(), "the chain must verify: {report}");
    report
}

#[test]
fn a_full_disk_refuses_calls_before_the_plugin_and_recovers_without_a_restart() {
    let mut core = TestCore::prepare(CONFIG, true);
    let audit = core.home.path().join("logs/audit");
    let Some(_mounted) = mount_tmpfs(&audit, "1m") else {
        return;
    };
    core.launch();
    let session = core.open_session("main");
    let before = session.ipc(&["py_echo", r#"{"text":"before"}"#]).result();
    assert_eq!(before["text"], "before");
    let filler = audit.join("filler");
    fill(&filler);

    // Lines may still fit in the last page of the file; soon nothing does.
    let mut refused = Vec::new();
    for i in 0..200 {
        let text = format!("while-full-{i}");
        let run = session.ipc(&["py_echo", &format!(r#"{{"text":"{text}"}}"#)]);
        if run.code == 0 {
            continue;
        }
        let error = run.error();
        assert_eq!(error["code"], "AUDIT_UNAVAILABLE", "{error}");
        assert_eq!(error["retriable"], true, "{error}");
        refused.push(text);
        if refused.len() == 3 {
            break;
        }
    }
    assert_eq!(
        refused.len(),
        3,
        "calls still ran with the audit disk full: {}",
        core.log()
    );
    assert!(core.alive(), "the core must keep running: {}", core.log());
    // An intrinsic tool does not wait for its line, but is refused all the same
    // once the log is known to be unwritable.
    let intrinsic = session.ipc(&["get_session_info"]);
    assert_eq!(
        intrinsic.code, 1,
        "an intrinsic ran with the audit disk full"
    );
    assert_eq!(intrinsic.error()["code"], "AUDIT_UNAVAILABLE");

    let status = core.cli_json(&["status", "--json"]);
    assert_eq!(status["audit"]["available"], false, "{status}");
    let reason = status["audit"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("No space left"), "{status}");
    let shown = String::from_utf8_lossy(&core.cli(&["status"]).stdout).into_owned();
    assert!(
        shown.contains("UNAVAILABLE") && shown.contains("AUDIT_UNAVAILABLE"),
        "{shown}"
    );
    let doctor: Value =
        serde_json::from_slice(&core.cli(&["doctor", "--json"]).stdout).expect("doctor JSON");
    let check = doctor["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "audit log"))
        .cloned()
        .expect("doctor checks the audit log");
    assert_eq!(check["status"], "fail", "{doctor}");
    assert!(
        check["detail"]
            .as_str()
            .is_some_and(|d| d.contains("UNAVAILABLE")),
        "{check}"
    );

    std::fs::remove_file(&filler).expect("free the space");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let run = session.ipc(&["py_echo", r#"{"text":"after"}"#]);
        if run.code == 0 {
            break;
        }
        assert_eq!(run.error()["code"], "AUDIT_UNAVAILABLE");
        assert!(Instant::now() < deadline, "calls never worked again");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        core.cli_json(&["status", "--json"])["audit"]["available"],
        true
    );

    let seen = session.ipc(&["calls_seen"]).result();
    let seen: Vec<String> = serde_json::from_value(seen["texts"].clone()).expect("texts");
    let seen: Vec<&str> = seen.iter().map(String::as_str).collect();
    assert!(
        seen.contains(&"before") && seen.contains(&"after"),
        "{seen:?}"
    );
    for text in &refused {
        assert!(
            !seen.contains(&text.as_str()),
            "the plugin saw a refused call: {text}"
        );
    }
    core.stop();
    verify_ok(&core);
    let events = core.audit_events();
    assert!(
        events.iter().any(|e| e["kind"] == "audit.available"),
        "the outage is recorded once the log is back"
    );
    // Every call the plugin ran has its `request.routed` line.
    let refused_calls: HashSet<&str> = events
        .iter()
        .filter(|e| e["kind"] == "request.rejected" && e["code"] == "AUDIT_UNAVAILABLE")
        .filter_map(|e| e["correlation"].as_str())
        .collect();
    let ran = events
        .iter()
        .filter(|e| e["kind"] == "request.routed" && e["tool"] == "py_echo")
        .filter(|e| {
            e["correlation"]
                .as_str()
                .is_some_and(|c| !refused_calls.contains(c))
        })
        .count();
    assert_eq!(ran, seen.len(), "a call ran without its audit line");
}

/// Sends `body` `n` times on `socket` and reads every answer, 100 at a time
/// (the core drops answers a peer leaves unread for too long).
fn pump(socket: &zmq::Socket, body: &[u8], n: usize) {
    let mut done = 0;
    while done < n {
        let window = (n - done).min(100);
        for _ in 0..window {
            socket.send(body, 0).expect("send");
        }
        for i in 0..window {
            socket
                .recv_bytes(0)
                .unwrap_or_else(|e| panic!("answer {} of {n}: {e}", done + i));
        }
        done += window;
    }
}

fn lines_of(core: &TestCore, session: &TestSession) -> Vec<Value> {
    core.audit_events()
        .into_iter()
        .filter(|e| e["session"] == session.id.as_str())
        .collect()
}

#[test]
fn a_flood_of_refusals_grows_the_log_by_a_bounded_number_of_lines() {
    const FLOOD: usize = 3_000;
    let config = r#"
[groups.main]
tools = ["*"]
rate_limit = { per_minute = 1, burst = 2 }
"#;
    let core = TestCore::start(config);
    let session = core.open_session("main");
    let started = Instant::now();
    let ctx = zmq::Context::new();
    let socket = session.dealer(&ctx, 30_000);
    pump(&socket, b"{not json", FLOOD);
    let call = br#"{"topic":"tool.invoke.get_session_info","correlation":"c","arguments":{}}"#;
    pump(&socket, call, FLOOD);
    pump(
        &socket,
        br#"{"topic":"tool.invoke.nope","correlation":"c","arguments":{}}"#,
        FLOOD,
    );
    // Connections come and go as fast as the peer likes.
    for _ in 0..100 {
        let extra = session.dealer(&ctx, 30_000);
        pump(&extra, b"[]", 1);
    }
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let lines = lines_of(&core, &session).len();
    // Per interval: a few full records per kind, the calls the rate limit let
    // through, and one summary per kind.
    let intervals = elapsed.as_secs() / 10 + 1;
    eprintln!(
        "{lines} audit lines for {} refusals in {elapsed:?}",
        3 * FLOOD
    );
    assert!(
        lines as u64 <= 40 * intervals,
        "{lines} audit lines for {} refusals in {elapsed:?}",
        3 * FLOOD
    );

    // Closing the session writes what was counted.
    let events = core.close_session(&session.id);
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| e["session"] == session.id.as_str())
        .collect();
    let total = |code: &str| -> u64 {
        let full = mine
            .iter()
            .filter(|e| e["kind"] == "request.rejected" && e["code"] == code)
            .count() as u64;
        let counted: u64 = mine
            .iter()
            .filter(|e| e["kind"] == "refusals.summary" && e["code"] == code)
            .filter_map(|e| e["count"].as_u64())
            .sum();
        full + counted
    };
    // 3000 garbage messages, plus one "[]" per extra connection.
    assert_eq!(total("MALFORMED_MESSAGE"), FLOOD as u64 + 100);
    assert_eq!(total("UNKNOWN_TOOL"), FLOOD as u64);
    let allowed = mine
        .iter()
        .filter(|e| e["kind"] == "request.routed")
        .count() as u64;
    assert!(allowed <= 5, "{allowed} calls passed the rate limit");
    assert_eq!(total("RATE_LIMITED") + allowed, FLOOD as u64);
    let summary = mine
        .iter()
        .find(|e| e["kind"] == "refusals.summary")
        .expect("a summary");
    for field in ["of", "count", "first", "last"] {
        assert!(!summary[field].is_null(), "{summary}");
    }
    let accepted = mine
        .iter()
        .filter(|e| e["kind"] == "connection.accepted")
        .count();
    assert!(
        accepted <= 2 * intervals as usize,
        "{accepted} connection lines"
    );
}

#[test]
fn a_summary_names_the_tools_it_counted() {
    // `main` may call only `py_echo`: every other tool is UNAUTHORIZED.
    let config = "[groups.main]\ntools = [\"py_echo\"]\n";
    let core = TestCore::start_with_plugins(config);
    let session = core.open_session("main");
    let harmless = session.ipc(&["calls_seen"]);
    assert_eq!(harmless.error()["code"], "UNAUTHORIZED");
    // The same code in the same window: counted, not recorded in full.
    let forbidden = session.ipc(&["send_message", r#"{"to":"boss","text":"hi"}"#]);
    assert_eq!(forbidden.error()["code"], "UNAUTHORIZED");
    let events = core.close_session(&session.id);
    let summary = events
        .iter()
        .find(|e| {
            e["kind"] == "refusals.summary"
                && e["session"] == session.id.as_str()
                && e["code"] == "UNAUTHORIZED"
        })
        .expect("an UNAUTHORIZED summary");
    assert_eq!(summary["count"], 1, "{summary}");
    let topics = summary["topics"].as_array().expect("topics");
    assert!(
        topics
            .iter()
            .any(|t| t.as_str().is_some_and(|t| t.contains("send_message"))),
        "the probed tool is not named: {summary}"
    );
}

#[test]
fn retention_keeps_the_log_within_max_bytes_and_it_still_verifies() {
    let mut core = TestCore::prepare(CONFIG, false);
    for (key, value) in [
        ("audit.rotate_bytes", "8192"),
        ("audit.max_bytes", "32768"),
        ("audit.max_age_days", "30"),
    ] {
        let out = core.cli(&["config", "set", key, value]);
        assert!(out.status.success(), "{key}: {out:?}");
    }
    let refused = core.cli(&["config", "set", "audit.max_bytes", "100"]);
    assert!(!refused.status.success(), "max_bytes below rotate_bytes");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("audit.max_bytes"),
        "{refused:?}"
    );
    let refused = core.cli(&["config", "set", "audit.max_age_days", "0"]);
    assert!(!refused.status.success(), "max_age_days 0");
    core.launch();
    let session = core.open_session("main");
    let ctx = zmq::Context::new();
    let socket = session.dealer(&ctx, 30_000);
    let call = br#"{"topic":"tool.invoke.get_session_info","correlation":"c","arguments":{}}"#;
    pump(&socket, call, 400);
    core.stop();
    let dir = core.home.path().join("logs/audit");
    let mut total = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("audit dir") {
        total += entry.expect("entry").metadata().expect("meta").len();
        files += 1;
    }
    assert!(total <= 32_768 + 2 * 8192, "{total} bytes in {files} files");
    assert!(!dir.join("audit-00000000000000000001.jsonl").exists());
    let report = verify_ok(&core);
    assert!(report["lines"].as_u64() > Some(10), "{report}");
    let events = core.audit_events();
    assert!(events.iter().any(|e| e["kind"] == "audit.checkpoint"));

    // A checkpoint is bound to the chain: editing it breaks verification.
    let holder = std::fs::read_dir(&dir)
        .expect("audit dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            std::fs::read_to_string(p).is_ok_and(|t| t.contains("\"kind\":\"audit.checkpoint\""))
        })
        .expect("a file with a checkpoint");
    let text = std::fs::read_to_string(&holder).expect("read");
    std::fs::write(
        &holder,
        text.replacen("\"removed_files\":", "\"removed_files\":1", 1),
    )
    .expect("write");
    let out = core.cli(&["audit", "verify", "--json"]);
    assert!(!out.status.success(), "an edited checkpoint verified");
}
