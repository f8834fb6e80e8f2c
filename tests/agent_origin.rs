//! The origin of an agent session (issue 14, part 1), end to end: a real core,
//! real podman, the busybox test rootfs, and `origin_agent.sh`, which calls the
//! `envelope` tool of the Python fixture plugin through the real `ipc` and
//! answers with the envelope that plugin received. Without podman: SKIPPED
//! loudly (a failure with `CARAPACE_REQUIRE_PODMAN=1`), as in
//! `tests/agent_session.rs`.
//!
//! Rule: a session started by `carapace prompt` is the owner's; one started by
//! a channel's `message.inbound` names that channel as the core knows it, the
//! sender it reported (plain, bounded), and `owner` or `contact` only when the
//! channel said exactly that: any other trust, or none, is `unknown`.

mod common;

#[allow(dead_code)]
#[path = "fixtures/containers/harness.rs"]
mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{fixture_plugins, TestCore};
use harness::{agent_rootfs, config_with, podman_or_skip};
use serde_json::{json, Value};

/// A core whose agent is `origin_agent.sh`, with the test channel and `pytools`,
/// once both plugins run.
fn core_with_plugins(rootfs: &Path) -> TestCore {
    let channel = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/channel-plugins");
    let config = format!(
        "{}\n[plugins]\ndirs = [\"{}\", \"{}\"]\n",
        config_with(rootfs, "origin_agent.sh", 10, ""),
        channel.display(),
        fixture_plugins().display()
    );
    let core = TestCore::start(&config);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = core.cli_json(&["status", "--json"]);
        let plugins = status["plugins"].as_array().cloned().unwrap_or_default();
        if plugins.len() == 2 && plugins.iter().all(|p| p["state"] == "running") {
            return core;
        }
        assert!(Instant::now() < deadline, "plugins not running: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The envelope the agent's answer holds.
fn envelope_in(answer: &str) -> Value {
    serde_json::from_str(answer.trim())
        .unwrap_or_else(|e| panic!("the agent's answer is not an envelope ({e}): {answer}"))
}

#[test]
fn a_prompt_session_is_the_owners() {
    if !podman_or_skip("origin of a prompt") {
        return;
    }
    let rootfs = agent_rootfs();
    let core = core_with_plugins(rootfs.path());
    let out = core.prompt(&["--group", "main", "who do you work for?"]);
    let envelope = envelope_in(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        envelope["origin"],
        json!({"kind": "prompt", "plugin": null, "sender": null, "trust": "owner"}),
        "{envelope}"
    );
    let started = core.wait_for_event("agent.started");
    assert_eq!(started["origin"], envelope["origin"], "{started}");
}

#[test]
fn a_message_session_has_the_trust_its_channel_gave_exactly_else_unknown() {
    if !podman_or_skip("origin of a message") {
        return;
    }
    let rootfs = agent_rootfs();
    let core = core_with_plugins(rootfs.path());
    let chat = core.open_session("main");
    // (chat, trust the channel claims, what the session must say)
    let cases = [
        ("c-owner", Some(json!("owner")), "owner"),
        ("c-contact", Some(json!("contact")), "contact"),
        ("c-admin", Some(json!("admin")), "unknown"),
        ("c-capital", Some(json!("Owner")), "unknown"),
        ("c-object", Some(json!({"trust": "owner"})), "unknown"),
        ("c-missing", None, "unknown"),
    ];
    for (chat_id, trust, _) in &cases {
        let mut arguments = json!({"text": "hello", "chat": chat_id,
                                   "sender": "alice\u{202e}\n <alice@example.org>"});
        if let Some(trust) = trust {
            arguments["trust"] = trust.clone();
        }
        chat.ipc(&["inbound", &arguments.to_string()]).result();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let delivered = loop {
        let events = chat.ipc(&["delivered"]).result();
        let done: Vec<Value> = events["events"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|e| e["topic"] == "agent.completed" || e["topic"] == "agent.error")
                    .map(|e| e["payload"].clone())
                    .collect()
            })
            .unwrap_or_default();
        if done.len() == cases.len() {
            break done;
        }
        assert!(
            Instant::now() < deadline,
            "not every message was answered: {events}\ncore log: {}",
            core.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for (chat_id, claimed, trust) in cases {
        let payload = delivered
            .iter()
            .find(|p| p["origin"]["payload"]["chat"] == chat_id)
            .unwrap_or_else(|| panic!("no answer for {chat_id}: {delivered:#?}"));
        let answer = payload["answer"]
            .as_str()
            .unwrap_or_else(|| panic!("{chat_id} failed: {payload}\ncore log: {}", core.log()));
        let expected = json!({"kind": "message", "plugin": "pychannel",
                              "sender": "alice <alice@example.org>", "trust": trust,
                              "chat": chat_id});
        assert_eq!(
            envelope_in(answer)["origin"],
            expected,
            "{chat_id} (claimed {claimed:?})"
        );
        assert_eq!(payload["session_origin"], expected, "{payload}");
    }
}
