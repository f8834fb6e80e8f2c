//! The plugin host under stress: oversize output, restarts, drain on stop.
//!
//! Rule: no handler output, however large or broken, makes the core buffer it
//! whole or stop answering; a stop lets calls in flight finish first.

mod common;

use std::time::{Duration, Instant};

use common::{TestCore, BASIC_CONFIG};
use serde_json::Value;

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_100_mb_line_is_refused_without_being_held() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let before = rss_kb(core.pid());
    let error = session.ipc_with(&["flood"], None, "30").error();
    assert_eq!(error["code"], "PLUGIN_ERROR");
    let after = rss_kb(core.pid());
    assert!(
        after < before + 20 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
    // The stuck writer is killed and a fresh handler takes over.
    session.wait_plugin_running();
    assert_eq!(
        session.ipc(&["py_echo", r#"{"text":"fresh"}"#]).result()["text"],
        "fresh"
    );
}

#[test]
fn stopping_the_core_lets_calls_in_flight_finish() {
    let mut core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let caller = session.clone();
    let call =
        std::thread::spawn(move || caller.ipc_with(&["slow", r#"{"seconds":2}"#], None, "30"));
    core.wait_for_audit("the slow call routed", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "request.routed" && e["tool"] == "slow")
    });
    core.stop();
    let result = call.join().expect("caller").result();
    assert_eq!(
        result["slept"], 2,
        "the call in flight was answered before the core exited"
    );
}

#[test]
fn reload_keeps_sessions_and_unchanged_plugins_and_refuses_a_bad_config() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let pid =
        |s: &common::TestSession| s.ipc(&["py_echo", r#"{"text":"pid"}"#]).result()["pid"].clone();
    let first = pid(&session);
    assert!(core.cli(&["reload"]).status.success());
    assert_eq!(
        pid(&session),
        first,
        "an unchanged plugin keeps its process; the session its socket"
    );
    assert!(core.cli(&["reload", "pytools"]).status.success());
    let second = pid(&session);
    assert_ne!(second, first, "a named plugin is restarted");

    let config_path = core.home.path().join("config.toml");
    let good = std::fs::read_to_string(&config_path).expect("config");
    std::fs::write(&config_path, format!("{good}\n[core]\nbogus = 1\n")).expect("write");
    let refused = core.cli(&["reload"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nothing changed"));
    assert_eq!(pid(&session), second, "a refused reload changes nothing");

    let with_group = good.replace("[groups.limited]", "[groups.ops]\ntools = [\"list_tools\"]\n[plugins.pytools]\nenabled = false\n[groups.limited]");
    std::fs::write(&config_path, with_group).expect("write");
    assert!(core.cli(&["reload"]).status.success(), "{}", core.log());
    core.open_session("ops").ipc(&["list_tools"]).result();
    let gone = session.ipc(&["py_echo", r#"{"text":"x"}"#]).error();
    assert_eq!(gone["code"], "UNKNOWN_TOOL");
    let info = session.ipc(&["get_session_info"]).result();
    assert_eq!(info["plugins"][0]["state"], "disabled");
}

#[test]
fn services_are_scoped_to_a_call_in_flight_and_publishing_is_allowlisted() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let info = session
        .ipc(&["ask_core", r#"{"method":"services/session_info"}"#])
        .result();
    assert_eq!(info["result"]["group"], "main", "{info}");
    assert_eq!(info["result"]["session"], session.id.as_str());
    let catalog = session
        .ipc(&["ask_core", r#"{"method":"services/tool_catalog"}"#])
        .result();
    let names = common::names(&catalog["result"]);
    assert!(
        names.contains(&"py_echo") && names.contains(&"list_tools"),
        "{names:?}"
    );
    let audit = session
        .ipc(&["ask_core", r#"{"method":"services/audit_log"}"#])
        .result();
    let entries = audit["result"].as_array().expect("entries");
    assert!(!entries.is_empty());
    assert!(
        entries.iter().all(|e| e["event"]["group"] == "main"),
        "only the call's group"
    );
    // A call id that is not in flight gets nothing.
    let stranger = session
        .ipc(&[
            "ask_core",
            r#"{"method":"services/session_info","own_call":false}"#,
        ])
        .result();
    assert!(
        stranger["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("not in flight"),
        "{stranger}"
    );
    // pytools declares no channel: it may not inject inbound messages, nor scheduler tasks.
    for topic in ["message.inbound", "task.triggered", "confirmation.resolved"] {
        session
            .ipc(&["publish", &format!(r#"{{"topic":"{topic}"}}"#)])
            .result();
    }
    // The first refusal in full, the others counted (a plugin can refuse itself
    // at will) into a summary that names their topics once the window is over.
    let events = core.wait_for_audit_within(Duration::from_secs(20), "refusals", |events| {
        events.iter().any(|e| {
            e["kind"] == "refusals.summary"
                && e["plugin"] == "pytools"
                && e["of"] == "event.refused"
        })
    });
    let full: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "event.refused")
        .collect();
    assert_eq!(full.len(), 1, "{full:?}");
    assert_eq!(full[0]["topic"], "message.inbound");
    let summary = events
        .iter()
        .find(|e| e["kind"] == "refusals.summary" && e["plugin"] == "pytools")
        .expect("summary");
    assert_eq!(summary["count"], 2, "{summary}");
    assert_eq!(
        summary["topics"],
        serde_json::json!(["task.triggered", "confirmation.resolved"]),
        "{summary}"
    );
    assert!(!events.iter().any(|e| e["kind"] == "event.published"));
}

#[test]
fn subscribed_plugins_receive_events() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let caller = session.clone();
    let call = std::thread::spawn(move || {
        caller.ipc_with(&["send_message", r#"{"to":"dan","text":"x"}"#], None, "30")
    });
    let pending = core.wait_pending();
    let id = pending["id"].as_str().expect("id").to_owned();
    assert!(core.cli(&["confirm", "deny", &id]).status.success());
    assert_eq!(
        call.join().expect("call").error()["code"],
        "CONFIRMATION_DENIED"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = session.ipc(&["events_seen"]).result();
        let topics: Vec<&str> = seen["topics"]
            .as_array()
            .expect("topics")
            .iter()
            .filter_map(|t| t.as_str())
            .collect();
        if topics == ["confirmation.requested", "confirmation.resolved"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events not delivered: {topics:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn plugins_that_fail_initialize_are_left_out_and_everything_else_runs() {
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slow-plugins");
    let config = format!(
        "{}\n[plugins]\ndirs = [\"{}\", \"{}\"]\n",
        BASIC_CONFIG.replace("[core]\n", "[core]\nplugin_initialize_secs = 1\n"),
        fixtures.display(),
        common::fixture_plugins().display()
    );
    let core = TestCore::start(&config);
    let session = core.open_session("main");
    let info = session.ipc(&["get_session_info"]).result();
    let state = |name: &str| {
        info["plugins"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_default()
    };
    assert_eq!(state("slowinit")["state"], "failed", "{info}");
    assert_eq!(state("slowinit")["category"], "INTERNAL_ERROR");
    assert_eq!(state("badinit")["category"], "AUTH_ERROR");
    assert_eq!(state("pytools")["state"], "running");
    assert_eq!(
        session.ipc(&["never_ready"]).error()["code"],
        "UNKNOWN_TOOL"
    );
    session.ipc(&["py_echo", r#"{"text":"fine"}"#]).result();
    let status = core.cli_json(&["status", "--json"]);
    assert!(status["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .any(|p| p["category"] == "AUTH_ERROR"));
}

#[test]
fn a_refused_topic_is_redacted_before_it_is_cut_for_the_log() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    // 80 characters; the log keeps 64, which would cut the token to a shape no pattern knows.
    let token = format!("ghp_{}", common::random_hex(18));
    let topic = format!("{}.{token}", "p".repeat(39));
    session
        .ipc(&["publish", &format!(r#"{{"topic":"{topic}"}}"#)])
        .result();
    let refused = core.wait_for_event("event.refused");
    let logged = refused["topic"].as_str().expect("topic");
    assert!(logged.starts_with("pppp"), "{logged}");
    let fragment = &token[4..16];
    assert!(
        !logged.contains(fragment),
        "the audit log kept part of the token: {logged}"
    );
    assert!(
        !core.log().contains(fragment),
        "the core's log kept part of the token"
    );
}

/// Four sessions flood the shared plugin with slow calls (256 at once, far more
/// than its 32 slots), then a fifth, quiet session makes one call. Served first
/// come first served, that call would wait behind the whole flood and run out
/// its deadline; with a cap per session and freed slots handed round-robin
/// across sessions, it is answered while the flood goes on.
#[test]
fn flooding_sessions_cannot_starve_a_quiet_session_of_a_shared_plugin() {
    const DEADLINE_SECS: u64 = 10;
    let config = format!(
        r#"
[core]
tool_deadline_secs = {DEADLINE_SECS}
[groups.main]
tools = ["*"]
rate_limit = {{ per_minute = 100000, burst = 100000 }}
"#
    );
    let core = TestCore::start_with_plugins(&config);
    let flooders: Vec<_> = (0..4).map(|_| core.open_session("main")).collect();
    let quiet = core.open_session("main");
    quiet.wait_plugin_running();
    // Each flooder sends 64 slow calls on one DEALER and does not wait for them.
    let ctx = zmq::Context::new();
    let sockets: Vec<zmq::Socket> = flooders
        .iter()
        .map(|session| {
            let socket = ctx.socket(zmq::DEALER).expect("dealer");
            socket.set_linger(0).expect("linger");
            socket
                .connect(&format!("ipc://{}", session.socket.display()))
                .expect("connect");
            for i in 0..64 {
                let call = serde_json::json!({"topic": "tool.invoke.slow",
                    "correlation": format!("flood-{i}"), "arguments": {"seconds": 3}});
                socket.send(call.to_string().as_bytes(), 0).expect("send");
            }
            socket
        })
        .collect();
    // Every plugin slot is taken by the flood and the rest of it is queued.
    core.wait_for_audit("the flood routed", |events| {
        let routed = events
            .iter()
            .filter(|e| e["kind"] == "request.routed" && e["tool"] == "slow")
            .count();
        routed >= 4 * 64
    });
    let started = Instant::now();
    let run = quiet.ipc_with(&["slow", r#"{"seconds":1}"#], None, "60");
    let took = started.elapsed();
    assert_eq!(
        run.code, 0,
        "the quiet session's call was refused after {took:?} (PLUGIN_TIMEOUT: it waited \
         behind the flood): {}",
        run.stderr
    );
    assert_eq!(run.result()["slept"], 1);
    assert!(
        took < Duration::from_secs(DEADLINE_SECS),
        "answered only after {took:?}"
    );
    drop(sockets);
}
