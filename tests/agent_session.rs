//! `carapace prompt` end to end: a real core, real podman, the busybox test
//! rootfs with the static `ipc`, and scripted agents that speak Claude Code's
//! stream-json. Without podman: SKIPPED loudly (a failure with
//! `CARAPACE_REQUIRE_PODMAN=1`), as in `tests/containers.rs`.

mod common;

#[allow(dead_code)]
#[path = "fixtures/containers/harness.rs"]
mod harness;

#[allow(dead_code)]
#[path = "fixtures/scripted_provider.rs"]
mod scripted_provider;

use std::path::Path;
use std::process::Command;

use common::TestCore;
use harness::{agent_rootfs, config_with, containers_of, podman_or_skip, wait_for_container};
use serde_json::Value;

/// A core whose agent is `script` in `rootfs`; an agent silent for 30 s is
/// killed (a loaded machine can hold a container's start past a few seconds).
fn core_with(rootfs: &Path, script: &str) -> TestCore {
    core_with_idle(rootfs, script, 30)
}

/// Like [`core_with`], with an idle timeout of `secs`.
fn core_with_idle(rootfs: &Path, script: &str, secs: u64) -> TestCore {
    TestCore::start(&config_with(rootfs, script, secs, ""))
}

/// A core running `mounts_agent.sh` with the test channel plugin, and a
/// session (without a container) to drive the plugin from.
fn core_with_channel(rootfs: &Path) -> (TestCore, common::TestSession) {
    let channel = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/channel-plugins");
    let config = format!(
        "{}\n[plugins]\ndirs = [\"{}\"]\n",
        config_with(rootfs, "mounts_agent.sh", 30, ""),
        channel.display()
    );
    let core = TestCore::start(&config);
    let chat = core.open_session("main");
    chat.wait_plugin_running();
    (core, chat)
}

/// Runs `carapace prompt --group GROUP TEXT` on a thread of its own.
fn prompt_in_background(
    core: &std::sync::Arc<TestCore>,
    group: &str,
    text: &str,
) -> std::thread::JoinHandle<std::process::Output> {
    let (core, group, text) = (
        std::sync::Arc::clone(core),
        group.to_owned(),
        text.to_owned(),
    );
    std::thread::spawn(move || core.cli(&["prompt", "--group", &group, &text]))
}

/// Stops `session` with `carapace stop-session`, then expects the `prompt` that ran it
/// to end within 20 s, failing, saying the session was stopped.
fn stop_and_expect_stopped(
    core: &TestCore,
    session: &str,
    prompt: std::thread::JoinHandle<std::process::Output>,
) {
    let out = core.cli(&["stop-session", session]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !prompt.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent still runs after stop-session; containers: {:?}",
            containers_of(session)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = prompt.join().expect("prompt");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the session was stopped"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
}

#[test]
fn prompt_runs_one_session_end_to_end() {
    if !podman_or_skip("agent session") {
        return;
    }
    let rootfs = agent_rootfs();
    let core = core_with(rootfs.path(), "stream_agent.sh");
    let out = core.prompt(&["--group", "main", "list my tools"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let completed = core.wait_for_event("agent.completed");
    let session = completed["session"].as_str().expect("session").to_owned();
    assert_eq!(completed["group"], "main");
    assert_eq!(completed["exit_code"], 0);
    let started = core.wait_for_event("agent.started");
    assert_eq!(started["session"], session.as_str());

    let text = core.transcript(&session);
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
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "calling tools",
        "the agent's text streams to stderr; stdout holds the answer alone"
    );

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
    let core = core_with_idle(rootfs.path(), "hang_agent.sh", 2);
    let started = std::time::Instant::now();
    let out = core.cli(&["prompt", "--group", "main", "hang"]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a hung agent is an error");
    assert!(stderr.contains("printed nothing for 2 s"), "{stderr}");
    assert!(took.as_secs() < 30, "killed promptly: {took:?}");
    let error = core.wait_for_event("agent.error");
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
    let text = core.transcript(&session);
    assert!(text.starts_with("{\"type\":\"system\""), "{text}");
}

#[test]
fn an_inbound_message_runs_the_agent_and_the_answer_reaches_its_channel() {
    if !podman_or_skip("message.inbound") {
        return;
    }
    let rootfs = agent_rootfs();
    let (core, chat) = core_with_channel(rootfs.path());
    chat.ipc(&["inbound", r#"{"text":"hello there","chat":"c42"}"#])
        .result();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let delivered = loop {
        let events = chat.ipc(&["delivered"]).result();
        let done = events["events"].as_array().and_then(|all| {
            all.iter()
                .find(|e| e["topic"] == "agent.completed")
                .cloned()
        });
        if let Some(done) = done {
            break done;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no answer delivered: {events}\ncore log: {}",
            core.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let payload = &delivered["payload"];
    assert_eq!(payload["group"], "main");
    assert_eq!(payload["origin"]["topic"], "message.inbound");
    assert_eq!(payload["origin"]["plugin"], "pychannel");
    assert_eq!(payload["origin"]["payload"]["chat"], "c42", "{payload}");
    // What the agent found: the prompt, its own workspace and state to write,
    // a read-only managed overlay with the settings, the brief and the skills.
    assert_eq!(
        payload["answer"],
        "prompt=hello there;workspace=rw;state=rw;managed=ro;\
         brief=the cat is called Miso;allow=Bash(ipc:*);skill=1"
    );
    let brief = core.wait_for_event("agent.memory_brief");
    assert_eq!(brief["plugin"], "pychannel");
    // The workspace outlives the session, on the host, for the group.
    assert!(core.home.path().join("groups/main/probe").is_file());
}

#[test]
fn an_event_without_a_prompt_starts_nothing() {
    if !podman_or_skip("message.inbound refused") {
        return;
    }
    let rootfs = agent_rootfs();
    let (core, chat) = core_with_channel(rootfs.path());
    chat.ipc(&["inbound", r#"{"text":"   "}"#]).result();
    let refused = core.wait_for_event("agent.refused");
    assert_eq!(refused["reason"], "the prompt is empty");
    assert!(!core
        .audit_events()
        .iter()
        .any(|e| e["kind"] == "agent.started"));
}

#[test]
fn a_group_runs_one_agent_at_a_time_and_the_next_waits_its_turn() {
    if !podman_or_skip("agent queue") {
        return;
    }
    let rootfs = agent_rootfs();
    let core = std::sync::Arc::new(TestCore::start(&config_with(
        rootfs.path(),
        "mounts_agent.sh",
        20,
        "max_concurrent_per_group = 1",
    )));
    let prompts: Vec<_> = ["slow one", "slow two"]
        .into_iter()
        .map(|prompt| prompt_in_background(&core, "main", prompt))
        .collect();
    for prompt in prompts {
        let out = prompt.join().expect("prompt");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Neither was dropped, and the second started only after the first ended.
    let kinds: Vec<String> = core
        .audit_events()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| *k == "agent.started" || *k == "agent.completed")
        .map(str::to_owned)
        .collect();
    assert_eq!(
        kinds,
        [
            "agent.started",
            "agent.completed",
            "agent.started",
            "agent.completed"
        ]
    );
}

#[test]
fn stop_session_ends_a_running_agent_and_removes_its_container() {
    if !podman_or_skip("stop-session") {
        return;
    }
    let rootfs = agent_rootfs();
    let core = std::sync::Arc::new(TestCore::start(&config_with(
        rootfs.path(),
        "hang_agent.sh",
        120,
        "",
    )));
    let prompt = prompt_in_background(&core, "main", "hang");
    let started = core.wait_for_event("agent.started");
    let session = started["session"].as_str().expect("session").to_owned();
    wait_for_container(&session);
    let listed = core.cli_json(&["sessions", "--json"]);
    assert_eq!(listed[0]["container"], format!("carapace-{session}"));
    stop_and_expect_stopped(&core, &session, prompt);
    assert_eq!(containers_of(&session), "", "the container is gone");
    assert_eq!(core.cli_json(&["sessions", "--json"]), Value::Array(vec![]));
    let unknown = core.cli(&["stop-session", "0000000000000000"]);
    assert!(!unknown.status.success(), "an unknown session is an error");
}

/// A stop asked for before the container exists (here, while the memory brief takes
/// 3 s) must still stop the agent: no container may start afterwards.
#[test]
fn stop_session_before_the_container_starts_starts_none() {
    if !podman_or_skip("stop-session before start") {
        return;
    }
    let rootfs = agent_rootfs();
    let channel = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/channel-plugins");
    let config = format!(
        "{}\n[groups.slowbrief]\ntools = [\"*\"]\n[plugins]\ndirs = [\"{}\"]\n",
        config_with(rootfs.path(), "hang_agent.sh", 30, ""),
        channel.display()
    );
    let core = std::sync::Arc::new(TestCore::start(&config));
    core.open_session("main").wait_plugin_running();
    let prompt = prompt_in_background(&core, "slowbrief", "hang");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let session = loop {
        let listed = core.cli_json(&["sessions", "--json"]);
        let found = listed.as_array().and_then(|all| {
            all.iter()
                .find(|s| s["group"] == "slowbrief")
                .and_then(|s| s["id"].as_str().map(str::to_owned))
        });
        if let Some(id) = found {
            break id;
        }
        assert!(std::time::Instant::now() < deadline, "no session: {listed}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    stop_and_expect_stopped(&core, &session, prompt);
    let started = core
        .audit_events()
        .into_iter()
        .filter(|e| e["kind"] == "agent.started")
        .count();
    assert_eq!(started, 0, "a container started after the stop");
    assert_eq!(containers_of(&session), "", "no container is left");
}

/// A stop that lands while the engine is still creating the container (here podman
/// behind a wrapper that waits a second before `run`) finds nothing to remove; the
/// runner must still end the agent, and no container may appear afterwards.
/// Without that, the agent ran on until its idle timeout (60 s here).
#[test]
fn stop_session_as_the_container_is_created_ends_the_agent() {
    if !podman_or_skip("stop-session during creation") {
        return;
    }
    let rootfs = agent_rootfs();
    let engine =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/engines/slow_create_podman.sh");
    let config = config_with(rootfs.path(), "hang_agent.sh", 60, "").replace(
        "engine = \"podman\"\n",
        &format!("engine = \"podman\"\nprogram = \"{}\"\n", engine.display()),
    );
    let core = std::sync::Arc::new(TestCore::start(&config));
    let prompt = prompt_in_background(&core, "main", "hang");
    let started = core.wait_for_event("agent.started");
    let session = started["session"].as_str().expect("session").to_owned();
    stop_and_expect_stopped(&core, &session, prompt);
    assert_eq!(containers_of(&session), "", "no container is left");
}

#[test]
fn a_killed_core_leaves_no_agent_container_behind_once_restarted() {
    if !podman_or_skip("orphan cleanup") {
        return;
    }
    let rootfs = agent_rootfs();
    let mut core = TestCore::start(&config_with(rootfs.path(), "hang_agent.sh", 120, ""));
    let prompt = {
        let (socket_home, bin) = (core.home.path().to_owned(), common::carapace_bin());
        std::thread::spawn(move || {
            Command::new(bin)
                .arg("--home")
                .arg(socket_home)
                .args(["prompt", "--group", "main", "hang"])
                .output()
        })
    };
    let started = core.wait_for_event("agent.started");
    let session = started["session"].as_str().expect("session").to_owned();
    wait_for_container(&session);
    core.kill9();
    let _ = prompt.join();
    assert!(
        !containers_of(&session).is_empty(),
        "the container outlived its core"
    );
    core.launch();
    let removed = core.wait_for_event("agent.orphan_removed");
    assert_eq!(removed["session"], session.as_str());
    assert_eq!(removed["ok"], true);
    assert_eq!(containers_of(&session), "", "the orphan is gone");
    assert_eq!(
        core.cli_json(&["sessions", "--json"]),
        Value::Array(vec![]),
        "an agent session is not restored without its agent"
    );
}

#[test]
fn no_stored_secret_is_anywhere_the_agent_can_look() {
    if !podman_or_skip("secret scan") {
        return;
    }
    let rootfs = agent_rootfs();
    let core = core_with(rootfs.path(), "scan_agent.sh");
    // A model key made now; the core also holds its audit key and an env secret.
    let key = common::generated_model_key();
    core.auth_set("model", "anthropic_api_key", &key);
    core.prompt(&["--group", "main", "scan"]);
    let scan = std::fs::read_to_string(core.home.path().join("groups/main/scan.txt"))
        .expect("the scan was written to the workspace");
    // The scan saw the agent and the relay, and the relay's placeholder.
    assert!(scan.matches("== process").count() >= 2, "{scan}");
    assert!(scan.contains("ANTHROPIC_API_KEY=placeholder"), "{scan}");
    assert!(
        scan.contains("== file /etc/claude-code/CLAUDE.md"),
        "{scan}"
    );
    let audit_key = std::fs::read(core.home.path().join("keys/audit.key")).expect("audit key");
    let audit_hex: String = audit_key.iter().map(|b| format!("{b:02x}")).collect();
    for (what, secret) in [
        ("the model key", key.as_str()),
        ("the core's environment", "must-not-reach-plugins"),
        ("the audit key", audit_hex.as_str()),
        ("the audit key", String::from_utf8_lossy(&audit_key).trim()),
    ] {
        assert!(
            !secret.is_empty() && !scan.contains(secret),
            "{what} is inside the container"
        );
    }
}

/// Issue 12, finding 1: a plugin whose skill links to the model key is refused, and
/// nothing of the key is in the skills the container is given.
#[test]
fn a_skill_linked_to_the_model_key_never_reaches_the_container() {
    if !podman_or_skip("linked skill") {
        return;
    }
    let rootfs = agent_rootfs();
    let plugins = common::plugins_dir();
    let config = format!(
        "{}\n[plugins]\ndirs = [\"{}\"]\n",
        // The scan reads every file it can and prints nothing meanwhile: on a loaded
        // machine that takes seconds, so its silence is allowed longer than 2 s.
        config_with(rootfs.path(), "scan_agent.sh", 30, ""),
        plugins.path().display()
    );
    let core = TestCore::start(&config);
    let key = common::generated_model_key();
    core.auth_set("model", "anthropic_api_key", &key);
    let evil = common::secret_plugin(plugins.path(), "evil-link", false);
    std::fs::remove_file(evil.join("skills/hello.md")).expect("rm");
    std::os::unix::fs::symlink(
        core.home.path().join("keys/model/anthropic_api_key"),
        evil.join("skills/hello.md"),
    )
    .expect("symlink");
    let reloaded = core.cli(&["reload"]);
    assert!(
        reloaded.status.success(),
        "{}",
        String::from_utf8_lossy(&reloaded.stderr)
    );
    core.prompt(&["--group", "main", "scan"]);
    let scan = std::fs::read_to_string(core.home.path().join("groups/main/scan.txt"))
        .expect("the scan was written to the workspace");
    assert!(
        scan.contains("== file /etc/claude-code/.claude/skills/carapace-core/SKILL.md"),
        "the scan saw the skills: {scan}"
    );
    assert!(
        !scan.contains("evil-link-hello"),
        "the refused plugin's skill is mounted"
    );
    assert!(
        !scan.contains(&key),
        "the model key is inside the container"
    );
}

#[test]
fn nothing_the_agent_writes_can_run_or_gain_privileges() {
    if !podman_or_skip("mount flags") {
        return;
    }
    let rootfs = agent_rootfs();
    let core = core_with(rootfs.path(), "exec_agent.sh");
    let out = core.prompt(&["--quiet", "--group", "main", "exec"]);
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let (report, managed) = answer.split_once('|').expect("report|managed");
    // The socket directory, mounted read-write, holds no managed settings: they
    // live where the container can only read them.
    assert_eq!(managed, "none", "{answer}");
    // `<mount>=<options joined by +>:<ran|denied|unwritable>;` for each mount from the host.
    let mut seen = 0;
    for entry in report.split(';').filter(|e| !e.is_empty()) {
        let (mount, rest) = entry.split_once('=').expect("mount=options:outcome");
        let (options, outcome) = rest.rsplit_once(':').expect("options:outcome");
        let options: Vec<&str> = options.split('+').collect();
        for flag in ["noexec", "nosuid", "nodev"] {
            assert!(options.contains(&flag), "{mount} lacks {flag}: {report}");
        }
        assert_ne!(
            outcome, "ran",
            "{mount}: a program the agent wrote ran: {report}"
        );
        seen += 1;
    }
    assert_eq!(seen, 4, "{report}");
    assert!(
        report.contains("/workspace=") && report.contains(":denied;"),
        "the workspace is writable, and what is written there does not run: {report}"
    );
    assert!(
        report.contains("/home/agent/.claude=") && !report.contains("/home/agent/.claude=:"),
        "{report}"
    );
}

#[test]
fn image_build_makes_a_pinned_image_the_agent_runs_from() {
    if !podman_or_skip("image build") {
        return;
    }
    let core = TestCore::start(
        "[groups.main]\ntools = [\"*\"]\n\
         [runtime]\nengine = \"podman\"\noci_runtime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n\
         [agent]\ncommand = [\"stream_agent.sh\", \"{prompt}\"]\nidle_timeout_secs = 20\n",
    );
    let agent = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agent/stream_agent.sh");
    let tag = format!("localhost/carapace-test-{}:t", common::random_hex(6));
    let out = core.cli(&[
        "image",
        "build",
        "--agent",
        agent.to_str().expect("utf-8"),
        "--ipc",
        harness::static_ipc().to_str().expect("utf-8"),
        "--tag",
        &tag,
    ]);
    let _cleanup = RemoveImage(tag.clone());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recorded = core.cli(&["config", "get", "runtime.image"]);
    let image = String::from_utf8_lossy(&recorded.stdout).trim().to_owned();
    assert!(image.starts_with("sha256:") && image.len() == 71, "{image}");
    assert!(core.cli(&["reload"]).status.success());
    let image_check = |core: &TestCore| {
        let out = core.cli(&["doctor", "--json"]);
        let report: Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
        report["checks"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["name"] == "agent image").cloned())
            .expect("an agent image check")
    };
    assert_eq!(
        image_check(&core)["status"],
        "ok",
        "doctor verifies the built image"
    );
    let out = core.prompt(&["--group", "main", "from the image"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("done: "));
    // A different image under the same config is refused before it runs.
    let text = std::fs::read_to_string(core.home.path().join("config.toml")).expect("config");
    let other = format!("sha256:{}", "0".repeat(64));
    std::fs::write(
        core.home.path().join("config.toml"),
        text.replace(&image, &other),
    )
    .expect("config");
    assert!(core.cli(&["reload"]).status.success());
    let out = core.cli(&["prompt", "--group", "main", "nope"]);
    assert!(
        !out.status.success(),
        "an image that is not the pinned one never runs"
    );
}

/// Removes a test image when dropped.
struct RemoveImage(String);

impl Drop for RemoveImage {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rmi", "--force", &self.0])
            .output();
    }
}

#[test]
fn the_daily_token_budget_holds_across_sessions_of_a_group() {
    if !podman_or_skip("token budget") {
        return;
    }
    let rootfs = agent_rootfs();
    let provider = scripted_provider::ScriptedProvider::start(Vec::new());
    // Each answer of the fake counts 120 tokens; the group may use 100 a day.
    let config = config_with(rootfs.path(), "model_agent.sh", 20, "").replace(
        "[agent]",
        &format!(
            "[model]\nupstream = \"{}\"\ndaily_token_budget = 100\n\n[agent]",
            provider.upstream()
        ),
    );
    let core = TestCore::start(&config);
    let key = common::generated_model_key();
    core.auth_set("model", "anthropic_api_key", &key);
    let answer = |prompt: &str| {
        let out = core.prompt(&["--quiet", "--group", "main", prompt]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(answer("first"), "model answered");
    // A new session of the same group finds the budget spent by the first.
    assert!(answer("second").starts_with("model refused"));
    let seen = provider.seen();
    assert_eq!(
        seen.len(),
        1,
        "the refused request never reached the provider"
    );
    assert_eq!(seen[0].api_key.as_deref(), Some(key.as_str()));
}
