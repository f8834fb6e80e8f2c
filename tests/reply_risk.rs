//! A channel's reply where the message came from needs no approval; any other
//! chat does (issue 15: `send_telegram` is high risk "unless it is the chat the
//! session came from"). A real core, real podman, the busybox test rootfs and
//! `reply_agent.sh`, which calls the test channel's high-risk `reply` tool
//! (`reply_argument: "chat"`) with the arguments it was sent as its prompt.
//! Without podman the container cases are SKIPPED loudly (a failure with
//! `CARAPACE_REQUIRE_PODMAN=1`).
//!
//! Rule: the exemption holds only when the session's origin (the core's record)
//! is a message that the tool's own plugin published for exactly that chat.

mod common;

#[allow(dead_code)]
#[path = "fixtures/containers/harness.rs"]
mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestCore, TestSession};
use harness::{agent_rootfs, config_with, podman_or_skip};
use serde_json::{json, Value};

/// A core with the test channel, whose agent is `reply_agent.sh`, and
/// confirmations that expire after 2 s.
fn core(rootfs: &Path) -> (TestCore, TestSession) {
    let channel = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/channel-plugins");
    let config = format!(
        "{}\n[core]\nconfirmation_timeout_secs = 2\n[plugins]\ndirs = [\"{}\"]\n",
        config_with(rootfs, "reply_agent.sh", 30, ""),
        channel.display()
    );
    let core = TestCore::start(&config);
    let chat = core.open_session("main");
    chat.wait_plugin_running();
    (core, chat)
}

/// The answers of the agent sessions the channel was told about, by the chat they came from.
fn answers(chat: &TestSession, core: &TestCore, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let events = chat.ipc(&["delivered"]).result();
        let done: Vec<Value> = events["events"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|e| e["topic"] == "agent.completed")
                    .map(|e| e["payload"].clone())
                    .collect()
            })
            .unwrap_or_default();
        if done.len() >= count {
            return done;
        }
        assert!(
            Instant::now() < deadline,
            "not answered: {events}\ncore log: {}",
            core.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn requested_for(core: &TestCore) -> Vec<Value> {
    core.audit_events()
        .into_iter()
        .filter(|e| e["kind"] == "confirmation.requested")
        .collect()
}

#[test]
fn a_reply_to_the_origin_chat_runs_and_any_other_chat_waits_for_the_person() {
    if !podman_or_skip("reply risk") {
        return;
    }
    let rootfs = agent_rootfs();
    let (core, chat) = core(rootfs.path());
    // (the chat the message comes from, the arguments the agent sends)
    let cases = [
        ("c42", json!({"chat": "c42", "text": "hi"})),
        ("c43", json!({"chat": "c99", "text": "elsewhere"})),
        ("c44", json!({"chat": "c44 ", "text": "almost"})),
    ];
    for (from, arguments) in &cases {
        let inbound = json!({"text": arguments.to_string(), "chat": from, "trust": "owner"});
        chat.ipc(&["inbound", &inbound.to_string()]).result();
    }
    let done = answers(&chat, &core, cases.len());
    let answer_of = |from: &str| -> String {
        done.iter()
            .find(|p| p["origin"]["payload"]["chat"] == from)
            .and_then(|p| p["answer"].as_str())
            .unwrap_or_else(|| panic!("no answer for {from}: {done:#?}"))
            .to_owned()
    };
    let replied = answer_of("c42");
    assert!(replied.contains(r#""replied":"c42""#), "{replied}");
    for from in ["c43", "c44"] {
        let held = answer_of(from);
        assert!(
            !held.contains("replied"),
            "{from} ran without approval: {held}"
        );
    }
    let events = core.audit_events();
    let exempt: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "confirmation.not_needed")
        .collect();
    assert_eq!(exempt.len(), 1, "{exempt:#?}");
    assert_eq!(exempt[0]["tool"], "reply");
    assert_eq!(
        requested_for(&core).len(),
        2,
        "the other chats waited for the person"
    );
}

#[test]
fn a_session_that_did_not_come_from_the_channel_always_asks() {
    let rootfs = tempfile::tempdir().expect("temp");
    // No agent runs here: the call comes from a session opened at the host.
    let (core, chat) = core(rootfs.path());
    let run = chat.ipc_with(&["reply", r#"{"chat":"c1","text":"x"}"#], None, "10");
    assert_ne!(run.code, 0, "held, then expired: {}", run.stdout);
    assert_eq!(requested_for(&core).len(), 1);
    assert!(core
        .audit_events()
        .iter()
        .all(|e| e["kind"] != "confirmation.not_needed"));
}
