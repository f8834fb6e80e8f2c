//! `carapace prompt` end to end: a real core, real podman, the busybox test
//! rootfs with the static `ipc`, and scripted agents that speak Claude Code's
//! stream-json. Without podman: SKIPPED loudly (a failure with
//! `CARAPACE_REQUIRE_PODMAN=1`), as in `tests/containers.rs`.

mod common;

#[allow(dead_code)]
#[path = "fixtures/containers/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;

use common::TestCore;
use harness::{build_rootfs, podman_or_skip};
use serde_json::Value;

/// The busybox rootfs plus the scripted agents of `tests/fixtures/agent/`.
fn agent_rootfs() -> tempfile::TempDir {
    let rootfs = build_rootfs();
    for script in ["stream_agent.sh", "hang_agent.sh"] {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/agent")
            .join(script);
        std::fs::copy(source, rootfs.path().join("bin").join(script)).expect("copy agent");
    }
    rootfs
}

/// A core whose agent is `script` in `rootfs`, with a 2 s idle timeout.
fn core_with(rootfs: &Path, script: &str) -> TestCore {
    TestCore::start(&format!(
        "[groups.main]\ntools = [\"*\"]\n\
         [runtime]\nengine = \"podman\"\noci_runtime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n\
         rootfs = \"{}\"\n\
         [agent]\ncommand = [\"/bin/{script}\", \"{{prompt}}\"]\nidle_timeout_secs = 2\n",
        rootfs.display()
    ))
}

/// The audit event of `kind`, once the asynchronous writer has it.
fn audited(core: &TestCore, kind: &str) -> Value {
    let events = core.wait_for_audit(kind, |events| events.iter().any(|e| e["kind"] == kind));
    events
        .into_iter()
        .find(|e| e["kind"] == kind)
        .expect("found")
}

/// Containers of `session` podman still knows, running or not.
fn containers_of(session: &str) -> String {
    let out = Command::new("podman")
        .args(["ps", "-a", "--filter", "label=carapace.managed=1"])
        .args(["--filter", &format!("label=carapace.session={session}")])
        .args(["--format", "{{.Names}}"])
        .output()
        .expect("podman ps");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn prompt_runs_one_session_end_to_end() {
    if !podman_or_skip("agent session") {
        return;
    }
    let rootfs = agent_rootfs();
    let core = core_with(rootfs.path(), "stream_agent.sh");
    let out = core.cli(&["prompt", "--group", "main", "list my tools"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "prompt failed: {}\ncore log: {}",
        String::from_utf8_lossy(&out.stderr),
        core.log()
    );
    let completed = audited(&core, "agent.completed");
    let session = completed["session"].as_str().expect("session").to_owned();
    assert_eq!(completed["group"], "main");
    assert_eq!(completed["exit_code"], 0);
    let started = audited(&core, "agent.started");
    assert_eq!(started["session"], session.as_str());

    let transcript = core
        .home
        .path()
        .join(format!("data/agent/main/{session}.jsonl"));
    let text = std::fs::read_to_string(&transcript).expect("transcript written");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("verbatim JSON lines"))
        .collect();
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["type"].as_str()).collect();
    assert_eq!(kinds, ["system", "assistant", "result"], "{text}");
    let turn = &lines[1];
    assert_eq!(turn["argc"], 1, "the prompt is one argument");
    assert_eq!(turn["base_url"], "http://127.0.0.1:8377");
    assert_eq!(turn["info"]["session"], session.as_str());
    assert_eq!(turn["info"]["group"], "main");
    let tools = turn["tools"]["tools"].as_array().expect("tools").len();
    assert!(tools >= 2, "{turn}");
    assert_eq!(stdout.trim(), format!("done: {tools} tools"));

    assert!(
        !core
            .home
            .path()
            .join("run/sessions")
            .join(&session)
            .exists(),
        "session dir removed"
    );
    let sessions = core.cli_json(&["sessions", "--json"]);
    assert_eq!(sessions, Value::Array(vec![]), "no session left open");
    assert_eq!(containers_of(&session), "", "the container is gone");
}

#[test]
fn a_silent_agent_is_killed_at_the_idle_timeout() {
    if !podman_or_skip("agent idle timeout") {
        return;
    }
    let rootfs = agent_rootfs();
    let core = core_with(rootfs.path(), "hang_agent.sh");
    let started = std::time::Instant::now();
    let out = core.cli(&["prompt", "--group", "main", "hang"]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a hung agent is an error");
    assert!(stderr.contains("printed nothing for 2 s"), "{stderr}");
    assert!(took.as_secs() < 30, "killed promptly: {took:?}");
    let error = audited(&core, "agent.error");
    let session = error["session"].as_str().expect("session").to_owned();
    assert!(
        error["error"].as_str().unwrap_or_default().contains("idle"),
        "{error}"
    );
    assert_eq!(containers_of(&session), "", "the container is gone");
    assert!(!core
        .home
        .path()
        .join("run/sessions")
        .join(&session)
        .exists());
    let transcript = core
        .home
        .path()
        .join(format!("data/agent/main/{session}.jsonl"));
    let text = std::fs::read_to_string(transcript).expect("transcript kept");
    assert!(text.starts_with("{\"type\":\"system\""), "{text}");
}
