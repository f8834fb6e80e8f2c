//! The six stages seen from outside: the real core, the real `ipc`, real sockets.
//!
//! Rule: every call gets either its result or a structured error with the code
//! DESIGN.md §2 names for that stage, and every outcome is in the audit log.

mod common;

use common::{TestCore, BASIC_CONFIG};
use serde_json::{json, Value};

#[test]
fn an_allowed_call_returns_its_result_and_is_audited() {
    let core = TestCore::start(BASIC_CONFIG);
    let session = core.open_session("main");
    let info = session.ipc(&["get_session_info"]).result();
    assert_eq!(info["group"], "main");
    assert_eq!(info["session"], session.id.as_str());
    let tools = session.ipc(&["tool.invoke.list_tools", "{}"]).result();
    let names = common::names(&tools["tools"]);
    assert_eq!(names, ["get_diagnostics", "get_session_info", "list_tools"]);
    core.wait_for_audit("routed and sent", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "request.routed" && e["tool"] == "get_session_info")
            && events
                .iter()
                .filter(|e| e["kind"] == "response.sent")
                .count()
                >= 2
    });
}

#[test]
fn identity_comes_from_the_socket_not_the_message() {
    let core = TestCore::start(BASIC_CONFIG);
    let limited = core.open_session("limited");
    // A message claiming another group is refused outright, never believed.
    let claim = json!({"topic": "tool.invoke.get_session_info", "correlation": "c", "arguments": {}, "group": "main"});
    let answer = limited.raw(claim.to_string().as_bytes()).expect("answer");
    assert_eq!(answer["payload"]["error"]["code"], "MALFORMED_MESSAGE");
    assert_eq!(answer["payload"]["error"]["field"], "group");
    assert_eq!(answer["group"], "limited");
    let refused = limited.ipc(&["get_session_info"]).error();
    assert_eq!(refused["code"], "UNAUTHORIZED");
    assert_eq!(refused["stage"], 4);
}

#[test]
fn unknown_tools_are_refused_at_stage_2() {
    let core = TestCore::start(BASIC_CONFIG);
    let session = core.open_session("main");
    let error = session.ipc(&["no_such_tool"]).error();
    assert_eq!(error["code"], "UNKNOWN_TOOL");
    assert_eq!(error["stage"], 2);
    assert_eq!(error["retriable"], false);
    let odd_topic = json!({"topic": "event.publish", "correlation": "x", "arguments": {}});
    let answer = session
        .raw(odd_topic.to_string().as_bytes())
        .expect("answer");
    assert_eq!(answer["payload"]["error"]["code"], "UNKNOWN_TOOL");
    assert_eq!(answer["correlation"], "x");
}

#[test]
fn validation_names_the_offending_field() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let extra = session
        .ipc(&["py_echo", r#"{"text":"hi","admin":true}"#])
        .error();
    assert_eq!(extra["code"], "VALIDATION_FAILED");
    assert_eq!(extra["stage"], 3);
    assert_eq!(extra["field"], "admin");
    let missing = session.ipc(&["py_echo", "{}"]).error();
    assert_eq!(missing["field"], "text");
    let wrong_type = session
        .ipc(&["py_echo", r#"{"text":"hi","count":"many"}"#])
        .error();
    assert_eq!(wrong_type["field"], "count");
    let proto = session
        .ipc(&["py_echo", r#"{"text":"hi","__proto__":{"x":1}}"#])
        .error();
    assert_eq!(proto["field"], "__proto__");
    let intrinsic_extra = session.ipc(&["list_tools", r#"{"verbose":true}"#]).error();
    assert_eq!(intrinsic_extra["field"], "verbose");
}

#[test]
fn group_refusal_and_rate_limit_are_stage_4() {
    let core = TestCore::start(BASIC_CONFIG);
    let session = core.open_session("limited");
    let refused = session.ipc(&["get_diagnostics"]).error();
    assert_eq!(refused["code"], "UNAUTHORIZED");
    session.ipc(&["list_tools"]).result();
    session.ipc(&["list_tools"]).result();
    let limited = session.ipc(&["list_tools"]).error();
    assert_eq!(limited["code"], "RATE_LIMITED");
    assert_eq!(limited["stage"], 4);
    assert_eq!(limited["retriable"], true);
    assert!(
        limited["retry_after"].as_u64().is_some_and(|s| s >= 1),
        "{limited}"
    );
    // The limit is per session: a new session of the same group starts full.
    let other = core.open_session("limited");
    other.ipc(&["list_tools"]).result();
    let events = core.wait_for_audit("rate limit rejection", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "request.rejected" && e["code"] == "RATE_LIMITED")
    });
    assert!(events
        .iter()
        .any(|e| e["kind"] == "request.rejected" && e["code"] == "UNAUTHORIZED"));
}

#[test]
fn a_group_not_in_config_cannot_open_a_session() {
    let core = TestCore::start(BASIC_CONFIG);
    let out = core.cli(&["session", "open", "--group", "strangers"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not configured"));
    let out = core.cli(&["session", "open", "--group", "../../etc"]);
    assert!(!out.status.success());
}

#[test]
fn plugin_calls_cross_a_process_with_a_clean_environment() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let echoed = session
        .ipc(&["py_echo", r#"{"text":"hello","count":2}"#])
        .result();
    assert_eq!(echoed["text"], "hello");
    assert_eq!(echoed["count"], 2);
    let data_dir = core.home.path().join("data/pytools");
    assert_eq!(echoed["cwd"], data_dir.display().to_string());
    let env: Vec<&str> = echoed["env_keys"]
        .as_array()
        .expect("env keys")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        !env.contains(&"SENTINEL_SECRET"),
        "the core's environment leaked: {env:?}"
    );
    // Only what the core sets, plus what an interpreter launcher (a pyenv shim, a shell) adds itself.
    let launcher_made = |k: &str| ["PWD", "SHLVL", "_"].contains(&k) || k.contains("PYENV");
    assert!(
        env.iter()
            .all(|k| ["PATH", "LANG", "HOME", "TMPDIR"].contains(k)
                || k.starts_with("CARAPACE_")
                || launcher_made(k)),
        "unexpected variables reached the plugin: {env:?}"
    );
    let info = session.ipc(&["get_session_info"]).result();
    let confinement = info["plugins"][0]["confinement"].as_str().unwrap_or("");
    assert!(confinement.starts_with("confined (landlock ABI"), "{info}");
    let from_stdin = session
        .ipc_with(&["py_echo", "-"], Some(br#"{"text":"piped"}"#), "10")
        .result();
    assert_eq!(from_stdin["text"], "piped");
}

#[test]
fn plugin_errors_are_normalised_and_credentials_redacted() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let own = session.ipc(&["fail"]).error();
    assert_eq!(own["code"], "HANDLER_ERROR");
    assert_eq!(own["message"], "the mailbox is full");
    let reserved = session.ipc(&["fail", r#"{"code":"UNAUTHORIZED"}"#]).error();
    assert_eq!(
        reserved["code"], "HANDLER_ERROR",
        "a plugin may not claim a core code"
    );
    let leaked = session.ipc(&["leak"]).result();
    let text = leaked.to_string();
    assert!(!text.contains("ghp_Ab1"), "{text}");
    assert!(!text.contains("pwpwpw"), "{text}");
    assert!(!text.contains("toktok"), "{text}");
    assert!(text.contains("REDACTED"), "{text}");
    assert!(
        text.contains("db.internal"),
        "the host survives redaction: {text}"
    );
    let events = core.wait_for_audit("redaction", |events| {
        events.iter().any(|e| e["kind"] == "response.redacted")
    });
    let audit_text = serde_json::to_string(&events).expect("json");
    assert!(
        !audit_text.contains("ghp_Ab1"),
        "the audit log must not hold the secret"
    );
}

#[test]
fn a_credential_in_a_plugin_error_is_redacted_in_the_answer_and_the_audit_log() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let error = session.ipc(&["fail", r#"{"leak":true}"#]).error();
    let message = error["message"].as_str().expect("message");
    assert!(message.starts_with("cannot log in to "), "{message}");
    assert!(!message.contains("pwpwpw"), "{message}");
    assert!(message.contains("db.internal"), "{message}");
    let events = core.wait_for_audit("the failed call", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "handler.result" && e["ok"] == false)
    });
    let result = events
        .iter()
        .find(|e| e["kind"] == "handler.result" && e["ok"] == false)
        .expect("handler.result");
    let logged = result["message"].as_str().expect("logged message");
    assert!(logged.starts_with("cannot log in to "), "{logged}");
    assert!(
        !serde_json::to_string(&events)
            .expect("json")
            .contains("pwpwpw"),
        "the audit log must not hold the password: {logged}"
    );
}

#[test]
fn a_credential_cut_by_the_message_limit_leaves_no_fragment() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    // Messages are cut at 1000 characters: these pads cut the token at several lengths.
    let before_token =
        "cannot log in to postgres://admin:pwpwpwpwpwpw@db.internal:5432/app with ".len();
    for cut_at in [4, 10, 20, 30, 39] {
        let pad = 1000 - before_token - cut_at;
        let arguments = format!(r#"{{"leak":true,"pad":{pad}}}"#);
        let error = session.ipc(&["fail", &arguments]).error();
        let message = error["message"].as_str().expect("message");
        assert!(
            !message.contains("Ab1Ab1") && !message.contains("pwpw"),
            "a fragment of a credential survived a cut at {cut_at}: …{}",
            &message[message.len().saturating_sub(120)..]
        );
    }
    let events = core.wait_for_audit("the failed calls", |events| {
        events
            .iter()
            .filter(|e| e["kind"] == "handler.result")
            .count()
            >= 5
    });
    let audit_text = serde_json::to_string(&events).expect("json");
    assert!(!audit_text.contains("Ab1Ab1") && !audit_text.contains("pwpw"));
}

#[test]
fn oversize_answers_become_handler_errors() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let fits = session.ipc(&["big", r#"{"bytes":1000}"#]).result();
    assert_eq!(fits["blob"].as_str().map(str::len), Some(1000));
    let capped = session.ipc(&["big", r#"{"bytes":1048400}"#]).error();
    assert_eq!(capped["code"], "HANDLER_ERROR");
    let over_line = session.ipc(&["big", r#"{"bytes":2000000}"#]).error();
    assert_eq!(over_line["code"], "PLUGIN_ERROR");
}

#[test]
fn slow_plugins_time_out_and_broken_ones_become_unavailable() {
    let config = format!("{BASIC_CONFIG}\n");
    let config = config.replace("[core]\n", "[core]\ntool_deadline_secs = 1\n");
    let core = TestCore::start_with_plugins(&config);
    let session = core.open_session("main");
    let timeout = session.ipc(&["slow", r#"{"seconds":3}"#]).error();
    assert_eq!(timeout["code"], "PLUGIN_TIMEOUT");
    assert_eq!(timeout["stage"], 6);
    assert_eq!(timeout["retriable"], true);
    // The late answer is dropped; the plugin keeps serving.
    session
        .ipc(&["py_echo", r#"{"text":"still here"}"#])
        .result();
    let garbled = session.ipc(&["garble"]).error();
    assert_eq!(garbled["code"], "PLUGIN_ERROR");
    assert!(
        !garbled["message"].as_str().unwrap_or("").contains("json"),
        "generic message"
    );
    let down = session.ipc(&["py_echo", r#"{"text":"anyone?"}"#]).error();
    assert_eq!(down["code"], "PLUGIN_UNAVAILABLE");
    // The core itself still answers.
    session.ipc(&["list_tools"]).result();
}

/// A tool that may write and does not answer within the deadline may still
/// have acted: the agent must not be told to simply try again, or it could
/// send the same mail twice. Risk does not decide it (a low-risk tool may
/// write, as `memory_store` does): only a tool its manifest declares
/// `read_only` keeps a retriable timeout.
#[test]
fn a_timed_out_tool_that_may_have_acted_is_not_retriable() {
    let config = BASIC_CONFIG.replace("[core]\n", "[core]\ntool_deadline_secs = 1\n");
    let core = TestCore::start_with_plugins(&config);
    let session = core.open_session("main");
    let may_have_acted = |error: &Value| {
        assert_eq!(error["code"], "PLUGIN_TIMEOUT", "{error}");
        assert_eq!(error["stage"], 6, "{error}");
        assert_eq!(error["retriable"], false, "{error}");
        let message = error["message"].as_str().expect("message");
        assert!(
            message.contains("may still have acted") && message.contains("do not repeat"),
            "{message}"
        );
    };
    // Medium risk: runs at once.
    may_have_acted(&session.ipc(&["slow_write", r#"{"seconds":3}"#]).error());
    // High risk: approved first; the deadline counts from the hand-over to the plugin.
    let caller = session.clone();
    let call = std::thread::spawn(move || {
        caller.ipc_with(
            &["send_message", r#"{"to":"alice","text":"hi","seconds":3}"#],
            None,
            "30",
        )
    });
    let pending = core.wait_pending();
    let id = pending["id"].as_str().expect("id");
    assert!(core.cli(&["confirm", "approve", id]).status.success());
    may_have_acted(&call.join().expect("thread").error());
    // Low risk, but it may write: not retriable either.
    may_have_acted(&session.ipc(&["slow_note", r#"{"seconds":3}"#]).error());
    // Declared read-only: trying again is safe.
    let read = session.ipc(&["slow", r#"{"seconds":3}"#]).error();
    assert_eq!(read["code"], "PLUGIN_TIMEOUT");
    assert_eq!(read["retriable"], true, "{read}");
    assert!(
        !read["message"]
            .as_str()
            .unwrap_or("")
            .contains("may still have acted"),
        "{read}"
    );
    // The audit log says the same as the agent was told.
    let events = core.wait_for_audit("the timed-out calls", |events| {
        events
            .iter()
            .filter(|e| e["kind"] == "handler.result" && e["code"] == "PLUGIN_TIMEOUT")
            .count()
            >= 4
    });
    let retriable: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "handler.result" && e["code"] == "PLUGIN_TIMEOUT")
        .map(|e| &e["retriable"])
        .collect();
    assert_eq!(retriable, [false, false, false, true], "{events:?}");
}

/// A handler that stops reading its input cannot hold a call past the
/// deadline: `stall` keeps the fixture's only reading loop asleep, so the next
/// request (more than the 64 KiB a pipe holds) waits to be written, and that
/// wait is on the call's clock too. The request was cut part-way, the plugin
/// may still read what reached it: `PLUGIN_TIMEOUT`, not to be repeated as it
/// is a medium-risk tool. The cut line would corrupt the next one, so the core
/// closes the handler's input and restarts it; it serves again afterwards.
#[test]
fn a_plugin_that_stops_reading_cannot_hold_a_call_past_the_deadline() {
    let config = BASIC_CONFIG.replace("[core]\n", "[core]\ntool_deadline_secs = 1\n");
    let core = TestCore::start_with_plugins(&config);
    let session = core.open_session("main");
    let before = session.ipc(&["py_echo", r#"{"text":"before"}"#]).result()["pid"].clone();
    let stalled = session.ipc(&["stall", r#"{"seconds":20}"#]).error();
    assert_eq!(stalled["code"], "PLUGIN_TIMEOUT", "{stalled}");
    // Two arguments under the 100 KiB bound each, together over the pipe's 64 KiB
    // and what the handler may have buffered; the message is under 1 MiB.
    let pad = "x".repeat(90_000);
    let arguments = json!({"seconds": 0, "pad": pad, "more": pad}).to_string();
    let started = std::time::Instant::now();
    let blocked = session
        .ipc_with(&["stall", "-"], Some(arguments.as_bytes()), "8")
        .error();
    let took = started.elapsed();
    assert_eq!(blocked["code"], "PLUGIN_TIMEOUT", "{blocked}");
    assert_eq!(blocked["retriable"], false, "{blocked}");
    assert!(
        blocked["message"]
            .as_str()
            .unwrap_or("")
            .contains("may still have acted"),
        "{blocked}"
    );
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    // Restarted (a new process), and serving again.
    core.wait_plugin("pytools", "running");
    let after = session.ipc(&["py_echo", r#"{"text":"after"}"#]).result();
    assert_eq!(after["text"], "after");
    assert_ne!(after["pid"], before, "the handler was restarted");
}

/// The plugin is told what is left of the core's deadline (`deadline_ms`), so
/// that a tool of several steps can plan to finish inside it.
#[test]
fn a_plugin_is_told_what_is_left_of_the_deadline() {
    let config = BASIC_CONFIG.replace("[core]\n", "[core]\ntool_deadline_secs = 20\n");
    let core = TestCore::start_with_plugins(&config);
    let session = core.open_session("main");
    let answer = session.ipc(&["slow", r#"{"seconds":0}"#]).result();
    let left = answer["deadline_ms"].as_u64().expect("deadline_ms");
    assert!((10_000..=20_000).contains(&left), "{left} ms left of 20 s");
}

#[test]
fn an_overlong_stderr_line_is_dropped_and_the_plugin_goes_on_logging() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let shouted = session.ipc(&["shout", r#"{"bytes":2000000}"#]).result();
    assert_eq!(shouted["shouted"], 2_000_000);
    let echoed = session
        .ipc(&["py_echo", r#"{"text":"still here"}"#])
        .result();
    assert_eq!(echoed["text"], "still here");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !core.log().contains("after the long line 1999") {
        assert!(
            std::time::Instant::now() < deadline,
            "stderr after the long line was not forwarded"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        core.log().contains("dropped"),
        "the dropped line is reported"
    );
}

#[test]
fn a_crashing_plugin_fails_its_call_and_nothing_else() {
    let core = TestCore::start_with_plugins(BASIC_CONFIG);
    let session = core.open_session("main");
    let crashed = session.ipc(&["crash"]).error();
    assert_eq!(crashed["code"], "PLUGIN_ERROR");
    // The supervisor notes the attempt a moment after the process is seen
    // dead (until then: "restarting", no attempt yet); a loaded machine
    // stretches that moment.
    let started = std::time::Instant::now();
    let info = loop {
        let info = session.ipc(&["get_session_info"]).result();
        if !info["plugins"][0]["restart_attempt"].is_null()
            || started.elapsed() > std::time::Duration::from_secs(5)
        {
            break info;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let plugin = &info["plugins"][0];
    assert_eq!(plugin["name"], "pytools");
    assert_eq!(plugin["state"], "restarting", "{info}");
    assert_eq!(plugin["restart_attempt"], 1, "{info}");
    // The supervisor brings it back after its back-off; the same tools answer again.
    session.wait_plugin_running();
    let echoed = session.ipc(&["py_echo", r#"{"text":"back"}"#]).result();
    assert_eq!(echoed["text"], "back");
    core.wait_for_audit("routing after restart", |events| {
        events
            .iter()
            .filter(|e| e["kind"] == "request.routed" && e["tool"] == "py_echo")
            .count()
            == 1
    });
    assert!(core.log().contains("restarting"), "the restart is logged");
}
