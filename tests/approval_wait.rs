//! A late approval still reaches the agent: the real Claude Code in a real
//! podman container calls a high-risk tool through `ipc`, the person approves
//! it after `ipc`'s own default wait (35 s) has passed, and the agent gets the
//! tool's answer, not a `TIMEOUT` that would tell it to try again while the
//! call runs anyway. The core gives the container a wait that covers the
//! approval and the tool's deadline (`CARAPACE_IPC_TIMEOUT`), and Claude
//! Code's Bash tool a longer one still; and the agent's idle timeout, shorter
//! here than the wait, does not run while the call is in the core's hands.
//!
//! Without podman or Claude Code: SKIPPED loudly (a failure under `.ci/run`).

mod common;

#[allow(dead_code)]
#[path = "fixtures/containers/harness.rs"]
mod harness;

#[allow(dead_code)]
#[path = "fixtures/scripted_provider.rs"]
mod scripted_provider;

use std::time::{Duration, Instant};

use common::TestCore;

/// Longer than `ipc`'s default wait of 35 s.
const APPROVED_AFTER: Duration = Duration::from_secs(40);
/// The agent's idle timeout, shorter than the wait for the approval: an agent
/// waiting on a call prints nothing, and is not idle for that.
const IDLE_SECS: u64 = 30;

#[test]
fn the_real_claude_code_waits_out_a_late_approval() {
    if !harness::podman_or_skip("a late approval with the real Claude Code") {
        return;
    }
    let Some(claude) = harness::claude_code_or_skip("a late approval with the real Claude Code")
    else {
        return;
    };
    let rootfs = harness::build_claude_rootfs(&claude);
    let provider = scripted_provider::ScriptedProvider::start(vec![
        r#"ipc send_message '{"to":"alice","text":"see you at noon"}'"#.into(),
    ]);
    let config = format!(
        "[core]\nconfirmation_timeout_secs = 120\n\
         [groups.main]\ntools = [\"*\"]\n\
         [runtime]\nengine = \"podman\"\noci_runtime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n\
         rootfs = \"{}\"\n[model]\nupstream = \"{}\"\n[agent]\nidle_timeout_secs = {IDLE_SECS}\n",
        rootfs.path().display(),
        provider.upstream(),
    );
    common::ipc_bin();
    let mut core = TestCore::prepare(&config, true);
    let model_key = common::generated_model_key();
    let stored = common::auth_set_at(core.home.path(), "model", "anthropic_api_key", &model_key);
    assert!(stored.status.success(), "{stored:?}");
    core.launch();
    let (core, out) = prompt_approved_late(core, "Tell Alice I'll see her at noon.");
    ran_once_and_answered(&core, &out, r#""sent":true"#);
    assert!(String::from_utf8_lossy(&out.stdout).contains(scripted_provider::FINAL_PREFIX));
    assert!(!core.log().contains(&model_key));
}

/// An agent prints nothing while its call waits for the person: with an idle
/// timeout of 3 s and the approval 40 s later, it is not killed as idle, and
/// gets the answer. (Claude Code happens to print while its Bash tool runs; a
/// quieter agent must not lose its call for its silence.)
#[test]
fn an_agent_silent_while_its_call_waits_is_not_idle() {
    if !harness::podman_or_skip("a silent agent waiting for an approval") {
        return;
    }
    let rootfs = harness::agent_rootfs();
    let config = format!(
        "[core]\nconfirmation_timeout_secs = 120\n{}",
        harness::config_with(rootfs.path(), "approval_agent.sh", 3, "")
    );
    let mut core = TestCore::prepare(&config, true);
    core.launch();
    let (core, out) = prompt_approved_late(core, "send it");
    ran_once_and_answered(&core, &out, "sent:true");
}

/// Runs `carapace prompt TEXT` for group `main`, waits for its call to ask
/// for approval, approves it [`APPROVED_AFTER`] later, and returns the core
/// and what the prompt printed.
fn prompt_approved_late(
    core: TestCore,
    text: &str,
) -> (std::sync::Arc<TestCore>, std::process::Output) {
    let core = std::sync::Arc::new(core);
    let prompting = std::sync::Arc::clone(&core);
    let text = text.to_owned();
    let prompt = std::thread::spawn(move || prompting.cli(&["prompt", "--group", "main", &text]));
    // The container and the agent take a while to start on a loaded machine.
    let asked = Instant::now() + Duration::from_secs(120);
    let pending = loop {
        let listed = core.cli_json(&["confirm", "list", "--json"]);
        if let Some(first) = listed.as_array().and_then(|a| a.first()) {
            break first.clone();
        }
        assert!(
            Instant::now() < asked && !prompt.is_finished(),
            "no call asked for approval: {}",
            core.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(pending["tool"], "send_message", "{pending}");
    std::thread::sleep(APPROVED_AFTER);
    let id = pending["id"].as_str().expect("id");
    let approved = core.cli(&["confirm", "approve", id]);
    // An agent that gave up on the call first (or was killed as idle) ended
    // its session, and the pending call with it: then nothing is left to approve.
    assert!(approved.status.success(), "{approved:?}");
    let out = prompt.join().expect("prompt thread");
    (core, out)
}

/// The call ran once, and the agent was told its answer.
fn ran_once_and_answered(core: &TestCore, out: &std::process::Output, answer: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\ncore log: {}",
        String::from_utf8_lossy(&out.stderr),
        core.log()
    );
    assert!(
        stdout.contains(answer) && !stdout.contains("TIMEOUT"),
        "the agent got the tool's answer: {stdout}"
    );
    let sent = core
        .audit_events()
        .iter()
        .filter(|e| e["kind"] == "request.routed" && e["tool"] == "send_message")
        .count();
    assert_eq!(sent, 1, "the call ran once");
}
